//! A lean fake of the OpenAI Realtime WebSocket: `session.created` on connect,
//! `session.updated` for each `session.update`, every `input_audio_buffer.append` timed
//! by the id in its audio, and one endless response whose 20 ms audio deltas go out on
//! an absolute real-time schedule from the first append on (which names the call).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::frame::{self, FrameId};
use super::stats::{Collector, Dir, Live, Receiver};
use super::turn::{self, TurnStats, Turns};
use super::ws_config;

pub struct Ai {
    pub tail: String,
    pub collector: Arc<Collector>,
    /// When callers hang up: the node then closes sessions, and a send may meet a
    /// closed socket.
    pub calls_end_at: Instant,
    /// Sessions the node has not closed by then end on their own.
    pub give_up_at: Instant,
    /// Turns mode: the agent answers the caller's turns instead of talking on and on.
    pub turns: Option<Turns>,
    /// The endless response's audio goes out this many 20 ms deltas at a time (1: real
    /// time; more: bursts, as a real provider generates faster than real time).
    pub burst: u32,
}

pub async fn serve(listener: TcpListener, ai: Arc<Ai>) {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(session(tcp, Arc::clone(&ai)));
            }
            Err(e) => {
                ai.collector.error(format!("fake AI accept: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn session(tcp: TcpStream, ai: Arc<Ai>) {
    let c = &ai.collector;
    Live::inc(&c.live.ai_sessions);
    Live::inc(&c.live.ai_active);
    let mut up = Receiver::new(None);
    let mut down = Dir::default();
    let mut other = BTreeMap::new();
    let mut turns = TurnStats::default();
    if let Err(e) = talk(tcp, &ai, &mut up, &mut down, &mut other, &mut turns).await
        && Instant::now() < ai.calls_end_at
    {
        c.error(format!("fake AI: {e:#}"));
    }
    c.with(|t| {
        t.up.merge(up.dir);
        t.down.merge(down);
        t.turns.merge(turns);
        for (k, n) in other {
            *t.other_events.entry(format!("to AI: {k}")).or_default() += n;
        }
    });
    Live::dec(&c.live.ai_active);
}

/// The node's next text message; `None` once it hung up.
pub async fn next_text<S>(ws: &mut WebSocketStream<S>) -> anyhow::Result<Option<Utf8Bytes>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(Some(t)),
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("reading"),
        }
    }
}

// The shape tungstenite's handshake callback must have.
#[allow(clippy::result_large_err)]
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() == "/v1/realtime" {
        Ok(resp)
    } else {
        let mut refusal = ErrorResponse::new(Some("not found".into()));
        *refusal.status_mut() = StatusCode::NOT_FOUND;
        Err(refusal)
    }
}

async fn talk(
    tcp: TcpStream,
    ai: &Ai,
    up: &mut Receiver,
    down: &mut Dir,
    other: &mut BTreeMap<String, u64>,
    turns: &mut TurnStats,
) -> anyhow::Result<()> {
    let c = &ai.collector;
    tcp.set_nodelay(true).context("TCP_NODELAY")?;
    let mut ws =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, check_path, Some(ws_config()))
            .await
            .context("fake AI handshake")?;
    let model = "gpt-realtime";
    ws.send(Message::text(frame::session_event(
        "session.created",
        model,
    )))
    .await?;
    if let Some(config) = ai.turns {
        return turn::talk(&mut ws, ai, config, up, down, other, turns).await;
    }
    let window = c.window;
    let burst = ai.burst.max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(frame::FRAME_MS * u64::from(burst)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut seq = 0u32;
    loop {
        tokio::select! {
            biased;
            msg = next_text(&mut ws) => {
                // The node hung up: the call is over.
                let Some(text) = msg? else { return Ok(()) };
                let now = frame::now_us();
                let text = text.as_str();
                if text.starts_with(r#"{"type":"input_audio_buffer.append""#) {
                    let Some(id) = frame::str_after(text, r#""audio":""#).and_then(frame::read_id) else {
                        *other.entry("append without a frame id".into()).or_default() += 1;
                        continue;
                    };
                    if up.call().is_none() {
                        // The call is known: the agent starts talking, and never stops.
                        ws.send(Message::text(frame::response_created())).await?;
                        tick.reset_immediately();
                    }
                    Live::inc(&c.live.frames_up);
                    up.received(id, now, &window);
                } else if text.starts_with(r#"{"type":"session.update""#) {
                    ws.send(Message::text(frame::session_event("session.updated", model))).await?;
                } else {
                    let kind = frame::str_after(text, r#""type":""#).unwrap_or("untyped").to_owned();
                    *other.entry(kind).or_default() += 1;
                }
            }
            _ = tick.tick(), if up.call().is_some() => {
                if Instant::now() >= ai.give_up_at {
                    bail!("the node kept the AI session open after the call ended");
                }
                let Some(call) = up.call() else { continue };
                for _ in 0..burst {
                    let id = FrameId { call, seq, sent_us: frame::now_us() };
                    ws.feed(Message::text(frame::audio_delta(seq, id, &ai.tail)))
                        .await
                        .context("sending audio")?;
                    down.sent(id, &window);
                    seq += 1;
                }
                ws.flush().await.context("sending audio")?;
            }
        }
    }
}
