//! One simulated caller, as Twilio drives a bidirectional Media Stream: a signed upgrade,
//! `connected` and `start`, then a 20 ms `media` frame on an absolute schedule. Agent
//! audio plays from a buffer as at Twilio: each frame received queues 20 ms behind what
//! is queued, and a mark is echoed once the audio before it has played (in a write of
//! its own, not in step with the caller's frames), so audio that comes faster than real
//! time gets its echoes late and in bursts; a `clear` empties the buffer and echoes
//! every pending mark at once. With `--call-secs` the caller hangs up
//! after that long and dials again (the next seeded call).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use hotline_twilio::media::{
    Connected, Inbound, MediaFormat, Outbound, Start, Stop, Track, parse_outbound,
};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::frame::{self, FrameId};
use super::provider::{Mode, base64_len};
use super::stats::{Collector, Dir, Live, Receiver};
use super::turn::{Caller, TurnStats, Turns};
use super::ws_config;

/// When the first pending echo is due, as an instant (far off if none is).
fn echo_at(echoes: &VecDeque<(u64, String)>) -> Instant {
    let now_us = u64::from(frame::now_us());
    let now = Instant::now();
    match echoes.front() {
        Some(&(due, _)) => now + Duration::from_micros(due.saturating_sub(now_us)),
        None => now + Duration::from_secs(3600),
    }
}

/// What every caller shares.
pub struct Phones {
    pub node: SocketAddr,
    /// `ws://…/twilio/stream`, as signed.
    pub url: String,
    pub signature: String,
    pub account_sid: String,
    pub tail: String,
    /// The caller's voice in turns mode.
    pub speech: String,
    pub collector: Arc<Collector>,
    /// When callers send `stop`.
    pub stop_at: Instant,
    /// The provider's audio, as a caller sends and times it.
    pub mode: Mode,
    /// Each call lasts this long, then the caller dials again (churn); `None`: one call
    /// until `stop_at`.
    pub call_length: Option<Duration>,
    pub turns: Option<Turns>,
    /// Echo every mark on the caller's next frame, in the same write (the bench's
    /// former pattern: cheaper for both sides, and not what Twilio does).
    pub echo_in_step: bool,
}

/// A call counted in `calls_live` until it ends, however it ends.
struct LiveCall<'a>(&'a Live);

impl Drop for LiveCall<'_> {
    fn drop(&mut self) {
        Live::dec(&self.0.calls_live);
    }
}

/// One call as seeded in the store.
pub struct CallSpec {
    pub index: u32,
    pub call_sid: String,
    pub stream_token: String,
}

/// One caller: its calls one after the other (one unless `--call-secs`), until `stop_at`.
pub async fn run(phones: Arc<Phones>, calls: Vec<CallSpec>) {
    let c = &phones.collector;
    let mut calls = calls.into_iter().peekable();
    while let Some(call) = calls.next() {
        let last = calls.peek().is_none();
        let until = match phones.call_length {
            Some(length) if !last => (Instant::now() + length).min(phones.stop_at),
            _ => phones.stop_at,
        };
        Live::inc(&c.live.calls_started);
        let mut up = Dir::default();
        let mut down = Receiver::new(Some(call.index));
        let mut other = BTreeMap::new();
        let mut turns = phones.turns.map(|t| Caller::new(frame::now_us(), t));
        let talked = talk(
            &phones,
            &call,
            until,
            &mut up,
            &mut down,
            &mut other,
            turns.as_mut(),
        )
        .await;
        if let Err(e) = talked {
            c.error(format!("caller: {e:#}"));
        }
        Live::inc(&c.live.calls_ended);
        c.with(|t| {
            t.up.merge(up);
            t.down.merge(down.dir);
            t.turns
                .merge(turns.map_or_else(TurnStats::default, |t| t.stats));
            for (k, n) in other {
                *t.other_events.entry(format!("to caller: {k}")).or_default() += n;
            }
        });
        if Instant::now() >= phones.stop_at {
            break;
        }
    }
}

async fn talk(
    phones: &Phones,
    call: &CallSpec,
    until: Instant,
    up: &mut Dir,
    down: &mut Receiver,
    other: &mut BTreeMap<String, u64>,
    mut turns: Option<&mut Caller>,
) -> anyhow::Result<()> {
    let c = &phones.collector;
    let tcp = TcpStream::connect(phones.node).await.context("connect")?;
    tcp.set_nodelay(true).context("TCP_NODELAY")?;
    let mut request = phones.url.as_str().into_client_request()?;
    request.headers_mut().insert(
        "x-twilio-signature",
        HeaderValue::from_str(&phones.signature)?,
    );
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(ws_config()))
        .await
        .context("upgrade")?;
    Live::inc(&c.live.calls_upgraded);
    Live::inc(&c.live.calls_live);
    let _live = LiveCall(&c.live);

    let stream_sid = format!("MZ{}", uuid::Uuid::new_v4().simple());
    let connected = Inbound::Connected(Connected {
        protocol: Some("Call".into()),
        version: Some("1.0.0".into()),
    });
    let start = Inbound::Start(Start {
        sequence_number: Some(1),
        stream_sid: stream_sid.clone(),
        account_sid: phones.account_sid.clone(),
        call_sid: call.call_sid.clone(),
        tracks: vec![Track::Inbound],
        custom_parameters: BTreeMap::from([("stream_token".into(), call.stream_token.clone())]),
        media_format: MediaFormat {
            encoding: "audio/x-mulaw".into(),
            sample_rate: 8000,
            channels: 1,
        },
    });
    ws.feed(Message::text(connected.to_json())).await?;
    ws.feed(Message::text(start.to_json())).await?;
    ws.flush().await?;

    let window = c.window;
    let started = Instant::now();
    let mut tick = tokio::time::interval_at(started, Duration::from_millis(frame::FRAME_MS));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut sequence_number = 1u64;
    let mut seq = 0u32;
    // Marks to echo once the audio before them has played: (when, echo).
    let mut echoes: VecDeque<(u64, String)> = VecDeque::with_capacity(8);
    // Set to the first echo's time whenever the first echo changes.
    let echo_timer = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(echo_timer);
    // When the agent audio received so far will have played (µs, generator clock).
    let mut play_end = 0u64;
    let mut established = false;
    let mut caller = phones.mode.caller(call.index);
    loop {
        tokio::select! {
            // Reads first: their arrival time is what is measured.
            biased;
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(f))) => {
                        bail!("node closed the stream: {}", f.map_or_else(String::new, |f| format!("{} {}", f.code, f.reason)));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e).context("reading"),
                    None => bail!("node dropped the stream"),
                };
                let now = frame::now_us();
                let text = text.as_str();
                if text.starts_with(r#"{"event":"media""#) {
                    let payload = frame::str_after(text, r#""payload":""#).unwrap_or_default();
                    if !caller.heard(payload, now, &window, down) {
                        *other.entry("media without a frame id".into()).or_default() += 1;
                        continue;
                    }
                    if !established {
                        established = true;
                        Live::inc(&c.live.calls_established);
                    }
                    Live::inc(&c.live.frames_down);
                    // µ-law at 8 kHz: 125 µs a byte.
                    play_end = play_end.max(u64::from(now)) + base64_len(payload) * 125;
                    if let Some(turns) = turns.as_deref_mut() {
                        turns.heard(payload, now, window.contains(now));
                    }
                } else if text.starts_with(r#"{"event":"mark""#)
                    && let Some(name) = frame::str_after(text, r#""name":""#)
                {
                    echoes.push_back((play_end, name.to_owned()));
                    if echoes.len() == 1 && !phones.echo_in_step {
                        echo_timer.as_mut().reset(echo_at(&echoes));
                    }
                } else if turns.is_some() && text.starts_with(r#"{"event":"clear""#) {
                    // Twilio drops what it has not played and echoes every pending mark.
                    if let Some(turns) = turns.as_deref_mut() {
                        turns.stats.clears += 1;
                    }
                    play_end = u64::from(now);
                    for echo in &mut echoes {
                        echo.0 = play_end;
                    }
                    echo_timer.as_mut().reset(echo_at(&echoes));
                } else {
                    let kind = match parse_outbound(text) {
                        Ok(Outbound::Clear { .. }) => "clear".to_owned(),
                        Ok(o) => format!("{o:?}").chars().take(40).collect(),
                        Err(e) => format!("unparsable: {e}"),
                    };
                    *other.entry(kind).or_default() += 1;
                }
            }
            // Twilio echoes a mark when its audio has played, on its own: not in step
            // with the caller's frames.
            () = &mut echo_timer, if !echoes.is_empty() && !phones.echo_in_step => {
                let now = u64::from(frame::now_us());
                while echoes.front().is_some_and(|(due, _)| *due <= now) {
                    let Some((_, name)) = echoes.pop_front() else { break };
                    sequence_number += 1;
                    let echo = frame::twilio_mark(sequence_number, &stream_sid, &name);
                    ws.feed(Message::text(echo)).await.context("echoing a mark")?;
                }
                ws.flush().await.context("echoing a mark")?;
                echo_timer.as_mut().reset(echo_at(&echoes));
            }
            _ = tick.tick() => {
                if Instant::now() >= until {
                    break;
                }
                let id = FrameId { call: call.index, seq, sent_us: frame::now_us() };
                let speaks = turns.as_deref_mut().is_some_and(|t| t.speaks(id.sent_us, play_end));
                sequence_number += 1;
                let media = caller.media(
                    sequence_number,
                    &stream_sid,
                    id,
                    if speaks { &phones.speech } else { &phones.tail },
                );
                ws.feed(Message::text(media)).await.context("sending media")?;
                if speaks && let Some(turns) = turns.as_deref_mut() {
                    turns.spoke(id.sent_us);
                }
                while phones.echo_in_step && let Some((_, name)) = echoes.pop_front() {
                    sequence_number += 1;
                    let echo = frame::twilio_mark(sequence_number, &stream_sid, &name);
                    ws.feed(Message::text(echo)).await.context("echoing a mark")?;
                }
                ws.flush().await.context("sending media")?;
                up.sent(id, &window);
                seq += 1;
            }
        }
    }

    // Hang up as Twilio does: `stop`, then the node closes the socket.
    sequence_number += 1;
    let stop = Inbound::Stop(Stop {
        sequence_number: Some(sequence_number),
        stream_sid,
        account_sid: phones.account_sid.clone(),
        call_sid: call.call_sid.clone(),
    });
    ws.send(Message::text(stop.to_json()))
        .await
        .context("sending stop")?;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    if closed.is_err() {
        bail!("node did not close the stream within 10 s of stop");
    }
    Ok(())
}
