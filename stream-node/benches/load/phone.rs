//! One simulated caller, as Twilio drives a bidirectional Media Stream: a signed upgrade,
//! `connected` and `start`, then a 20 ms `media` frame on an absolute schedule; marks are
//! echoed on the next tick (once the 20 ms of audio before them has "played"), written
//! in the same socket write as that tick's frame.

use std::collections::BTreeMap;
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
use super::provider::Mode;
use super::stats::{Collector, Dir, Live, Receiver};
use super::ws_config;

/// What every caller shares.
pub struct Phones {
    pub node: SocketAddr,
    /// `ws://…/twilio/stream`, as signed.
    pub url: String,
    pub signature: String,
    pub account_sid: String,
    pub tail: String,
    pub collector: Arc<Collector>,
    /// When callers send `stop`.
    pub stop_at: Instant,
    /// The provider's audio, as a caller sends and times it.
    pub mode: Mode,
}

/// One call as seeded in the store.
pub struct CallSpec {
    pub index: u32,
    pub call_sid: String,
    pub stream_token: String,
}

pub async fn run(phones: Arc<Phones>, call: CallSpec) {
    let c = &phones.collector;
    Live::inc(&c.live.calls_started);
    let mut up = Dir::default();
    let mut down = Receiver::new(Some(call.index));
    let mut other = BTreeMap::new();
    if let Err(e) = talk(&phones, &call, &mut up, &mut down, &mut other).await {
        c.error(format!("caller: {e:#}"));
    }
    Live::inc(&c.live.calls_ended);
    c.with(|t| {
        t.up.merge(up);
        t.down.merge(down.dir);
        for (k, n) in other {
            *t.other_events.entry(format!("to caller: {k}")).or_default() += n;
        }
    });
}

async fn talk(
    phones: &Phones,
    call: &CallSpec,
    up: &mut Dir,
    down: &mut Receiver,
    other: &mut BTreeMap<String, u64>,
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
    let mut echoes: Vec<String> = Vec::with_capacity(4);
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
                    let heard = frame::str_after(text, r#""payload":""#)
                        .is_some_and(|p| caller.heard(p, now, &window, down));
                    if !heard {
                        *other.entry("media without a frame id".into()).or_default() += 1;
                        continue;
                    }
                    if !established {
                        established = true;
                        Live::inc(&c.live.calls_established);
                    }
                    Live::inc(&c.live.frames_down);
                } else if text.starts_with(r#"{"event":"mark""#)
                    && let Some(name) = frame::str_after(text, r#""name":""#)
                {
                    sequence_number += 1;
                    echoes.push(frame::twilio_mark(sequence_number, &stream_sid, name));
                } else {
                    let kind = match parse_outbound(text) {
                        Ok(Outbound::Clear { .. }) => "clear".to_owned(),
                        Ok(o) => format!("{o:?}").chars().take(40).collect(),
                        Err(e) => format!("unparsable: {e}"),
                    };
                    *other.entry(kind).or_default() += 1;
                }
            }
            _ = tick.tick() => {
                if Instant::now() >= phones.stop_at {
                    break;
                }
                let id = FrameId { call: call.index, seq, sent_us: frame::now_us() };
                sequence_number += 1;
                let media = caller.media(sequence_number, &stream_sid, id, &phones.tail);
                ws.feed(Message::text(media)).await.context("sending media")?;
                for echo in echoes.drain(..) {
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
