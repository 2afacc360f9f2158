//! A lean fake of Gemini Live (`BidiGenerateContent` over WebSocket): `setupComplete`
//! for the `setup` (whose instructions name the call: one agent is seeded per call),
//! then one endless model turn, `serverContent.modelTurn.parts[].inlineData` of PCM16 at
//! 24 kHz in 20 ms chunks (a 400 Hz tone, the same pre-encoded message every time) on an
//! absolute real-time schedule. Each chunk's send time goes to the shared [`Clocks`],
//! where the phone finds it once the chunk's sound, resampled to 8 kHz, arrives.
//! `realtimeInput.audio` (PCM16 16 kHz) is only counted: frame `k` of the caller is in
//! once its sound has come (`SampleClock`), and timed against the phone's send time.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::frame::{self, FrameId};
use super::provider::{Fake, Provider, SampleClock, Tally, base64_len, call_named, real_time_tick};
use super::stats::{Live, Receiver};
use super::ws_config;

/// 20 ms at 24 kHz, and at 16 kHz.
const CHUNK_24K: usize = 480;
const FRAME_16K: u64 = 320;

/// The model's 20 ms of voice: a 400 Hz tone (8 whole periods, so every chunk is the
/// same), in the message Gemini sends it in.
pub fn chunk_message() -> Utf8Bytes {
    let mut pcm = Vec::with_capacity(CHUNK_24K * 2);
    for i in 0..CHUNK_24K {
        let phase = i as f64 * 400.0 / 24_000.0 * std::f64::consts::TAU;
        #[allow(clippy::cast_possible_truncation)]
        let s = (phase.sin() * 8_000.0) as i16;
        pcm.extend(s.to_le_bytes());
    }
    format!(
        r#"{{"serverContent":{{"modelTurn":{{"role":"model","parts":[{{"inlineData":{{"mimeType":"audio/pcm;rate=24000","data":"{}"}}}}]}}}}}}"#,
        BASE64.encode(pcm)
    )
    .into()
}

pub async fn session(tcp: TcpStream, fake: Arc<Fake>) {
    let mut tally = Tally::session(&fake);
    let result = talk(tcp, &fake, &mut tally).await;
    tally.close(&fake, "fake Gemini", result);
}

#[allow(clippy::result_large_err)]
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() == hotline_realtime::gemini::LIVE_PATH {
        Ok(resp)
    } else {
        let mut refusal = ErrorResponse::new(Some("not found".into()));
        *refusal.status_mut() = StatusCode::NOT_FOUND;
        Err(refusal)
    }
}

/// A frame's text, whether it came as text or binary.
fn text_of(msg: &Message) -> Option<&str> {
    match msg {
        Message::Text(t) => Some(t.as_str()),
        Message::Binary(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

async fn talk(tcp: TcpStream, fake: &Fake, tally: &mut Tally) -> anyhow::Result<()> {
    let c = &fake.collector;
    let mut ws =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, check_path, Some(ws_config()))
            .await
            .context("fake Gemini handshake")?;
    let call = loop {
        let msg = ws
            .next()
            .await
            .context("closed before setup")?
            .context("reading setup")?;
        let Some(text) = text_of(&msg) else { continue };
        if !text.starts_with(r#"{"setup""#) {
            bail!("the first message was not setup");
        }
        break call_named(text).context("setup names no bench call")?;
    };
    ws.send(Message::text(r#"{"setupComplete":{}}"#)).await?;
    tally.up = Receiver::new(Some(call));
    let chunk = chunk_message();
    let window = c.window;
    let mut heard = SampleClock::new(FRAME_16K, Provider::gemini_delay().0, 16_000);
    let mut tick = real_time_tick();
    let mut seq = 0u32;
    loop {
        tokio::select! {
            biased;
            msg = ws.next() => {
                let msg = match msg {
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return Err(e).context("reading"),
                };
                let now = frame::now_us();
                let Some(text) = text_of(&msg) else { continue };
                if text.starts_with(r#"{"realtimeInput":{"audio""#) {
                    let Some(data) = frame::str_after(text, r#""data":""#) else {
                        tally.other("audio without data");
                        continue;
                    };
                    Live::inc(&c.live.frames_up);
                    for k in heard.arrived(base64_len(data) / 2) {
                        match fake.clocks.caller_frame(call, k) {
                            Some(id) => tally.up.received(id, heard.timed_at(now), &window),
                            None => tally.up.dir.misrouted += 1,
                        }
                    }
                } else {
                    let kind = text.get(2..).and_then(|t| t.split('"').next()).unwrap_or("?");
                    tally.other(kind);
                }
            }
            _ = tick.tick() => {
                if Instant::now() >= fake.give_up_at {
                    bail!("the node kept the Gemini session open after the call ended");
                }
                let id = FrameId { call, seq, sent_us: frame::now_us() };
                fake.clocks.agent_sent(id);
                ws.send(Message::Text(chunk.clone())).await.context("sending audio")?;
                tally.down.sent(id, &window);
                seq += 1;
            }
        }
    }
}
