//! Lean fakes of the pipeline's three services, enough for its steady audio path both
//! ways at N calls:
//!
//! - Deepgram live transcription (`/v1/listen` over WebSocket): binary µ-law frames in,
//!   each timed by the id the caller wrote in quiet samples (the node forwards them
//!   untouched). After the call's first frame, one final `Results` with `speech_final`
//!   ("Hello from bench call N.") ends the caller's turn, so the node asks the LLM; then
//!   an empty final `Results` every second (what Deepgram says over silence), which
//!   starts no speech and so no barge-in.
//! - Chat completions (`POST /v1/chat/completions`, SSE): one reply streamed as one
//!   delta per sentence, "Bench call N part S is spoken here. " (a sentence must not end in a lone digit, which the node takes for an initial), as many sentences as cover the rest of
//!   the run at [`SENTENCE_FRAMES`] frames each, then `finish_reason`, a usage chunk
//!   and `[DONE]`.
//! - ElevenLabs streaming speech (`POST /v1/text-to-speech/{voice}/stream`, chunked
//!   HTTP): sentence S of call N is [`SENTENCE_FRAMES`] 160-byte µ-law chunks, one HTTP
//!   chunk each, carrying frame ids `S · SENTENCE_FRAMES + i` and sent on one absolute
//!   real-time schedule per call (from sentence 0's request), so that the node's
//!   prefetch of the next sentence gets its answer's head at once but its audio only
//!   when it is due: the caller hears one continuous 20 ms stream for as long as the
//!   call lasts. The node forwards each HTTP chunk as one Twilio `media` as it comes.
//!
//! A hand-rolled HTTP/1.1 server (keep-alive, `Content-Length` request bodies, chunked
//! answers): reqwest needs no more, and the generator stays cheap.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::frame::{self, FrameId};
use super::provider::{Fake, Tally, call_named, raw_frame, read_quiet};
use super::stats::{Dir, Live, Receiver};
use super::ws_config;

/// Frames in one spoken sentence: 4 s.
pub const SENTENCE_FRAMES: u32 = 200;
/// An empty `Results` every this many caller frames.
const SILENCE_RESULTS_EVERY: u32 = 50;

/// The pipeline's fakes, and when each call's voice started (generator µs + 1, 0 while
/// it has not).
pub struct Pipeline {
    pub fake: Arc<Fake>,
    voice_start: Vec<AtomicU32>,
}

impl Pipeline {
    pub fn new(fake: Arc<Fake>, calls: u32) -> Self {
        Self {
            fake,
            voice_start: (0..calls).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

/// The speech-to-text the pipeline's agent uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stt {
    Deepgram,
    Elevenlabs,
}

impl Stt {
    pub fn vendor(self) -> hotline_core::model::SttVendor {
        match self {
            Self::Deepgram => hotline_core::model::SttVendor::Deepgram,
            Self::Elevenlabs => hotline_core::model::SttVendor::Elevenlabs,
        }
    }
}

#[allow(clippy::result_large_err)]
fn check_path(req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
    let query = req.uri().query().unwrap_or("");
    let deepgram = req.uri().path() == "/v1/listen" && query.contains("encoding=mulaw");
    let scribe = req.uri().path() == "/v1/speech-to-text/realtime"
        && query.contains("audio_format=ulaw_8000");
    if deepgram || scribe {
        Ok(resp)
    } else {
        let mut refusal = ErrorResponse::new(Some("not found".into()));
        *refusal.status_mut() = StatusCode::NOT_FOUND;
        Err(refusal)
    }
}

fn results(transcript: &str, start: f64, speech_final: bool) -> String {
    format!(
        r#"{{"type":"Results","channel_index":[0,1],"duration":1.0,"start":{start:.2},"is_final":true,"speech_final":{speech_final},"from_finalize":false,"channel":{{"alternatives":[{{"transcript":"{transcript}","confidence":0.99,"words":[]}}]}},"metadata":{{"request_id":"bench","model_info":{{"name":"nova-3","version":"bench","arch":"nova-3"}},"model_uuid":"bench"}}}}"#
    )
}

/// One speech-to-text socket, Deepgram's or ElevenLabs' (Scribe).
pub async fn stt(tcp: TcpStream, fake: Arc<Fake>) {
    let mut tally = Tally::session(&fake);
    let result = listen(tcp, &fake, &mut tally).await;
    tally.close(&fake, "fake speech-to-text", result);
}

async fn listen(tcp: TcpStream, fake: &Fake, tally: &mut Tally) -> anyhow::Result<()> {
    let c = &fake.collector;
    let mut ws =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, check_path, Some(ws_config()))
            .await
            .context("fake speech-to-text handshake")?;
    let window = c.window;
    let mut frames = 0u32;
    // Scribe is known by its first audio (Deepgram's comes as binary).
    let mut scribe = false;
    let mut decoded = Vec::with_capacity(64);
    loop {
        let msg = match ws.next().await {
            Some(Ok(Message::Close(_))) | None => return Ok(()),
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(e).context("reading"),
        };
        let now = frame::now_us();
        let id = match &msg {
            Message::Binary(audio) => read_quiet(audio),
            Message::Text(t) if t.starts_with(r#"{"message_type":"input_audio_chunk""#) => {
                if !scribe {
                    scribe = true;
                    ws.send(Message::text(SCRIBE_STARTED)).await?;
                }
                // The id is in the first 48 bytes: 64 base64 characters.
                decoded.clear();
                frame::str_after(t.as_str(), r#""audio_base_64":""#)
                    .and_then(|b64| b64.get(..64))
                    .and_then(|head| BASE64.decode_vec(head, &mut decoded).ok())
                    .and_then(|()| read_quiet(&decoded))
            }
            Message::Text(t) => {
                let kind = frame::str_after(t.as_str(), r#""type":""#).unwrap_or("untyped");
                if kind == "CloseStream" {
                    let _ = ws.close(None).await;
                    return Ok(());
                }
                if kind != "KeepAlive" {
                    tally.other(kind);
                }
                continue;
            }
            _ => continue,
        };
        let Some(id) = id else {
            tally.other("audio without a frame id");
            continue;
        };
        if tally.up.call().is_none() {
            tally.up = Receiver::new(Some(id.call));
        }
        Live::inc(&c.live.frames_up);
        tally.up.received(id, now, &window);
        frames += 1;
        let at = f64::from(frames) * 0.02;
        let hello = || format!("Hello from bench call {}.", id.call);
        let said = match (frames, scribe) {
            (1, false) => results(&hello(), 0.0, true),
            (1, true) => format!(
                r#"{{"message_type":"committed_transcript","text":"{}"}}"#,
                hello()
            ),
            (n, false) if n.is_multiple_of(SILENCE_RESULTS_EVERY) => results("", at - 1.0, false),
            (n, true) if n.is_multiple_of(SILENCE_RESULTS_EVERY) => {
                r#"{"message_type":"partial_transcript","text":""}"#.to_owned()
            }
            _ => continue,
        };
        ws.send(Message::text(said)).await?;
    }
}

const SCRIBE_STARTED: &str = r#"{"message_type":"session_started","session_id":"bench","config":{"sample_rate":8000,"audio_format":"ulaw_8000","model_id":"scribe_v2_realtime"}}"#;

/// One HTTP connection: chat completions and speech requests, one after another; or
/// ElevenLabs' speech-to-text socket, which shares the voice's base URL.
pub async fn http(tcp: TcpStream, pipeline: Arc<Pipeline>) {
    let upgrade = b"GET /v1/speech-to-text/realtime";
    let mut head = [0u8; 32];
    // The request line may come in pieces: peek until it tells.
    for _ in 0..100 {
        let seen = tcp.peek(&mut head).await.unwrap_or(0);
        if seen == 0 || !upgrade.starts_with(&head[..seen.min(upgrade.len())]) {
            break;
        }
        if seen >= upgrade.len() {
            return stt(tcp, Arc::clone(&pipeline.fake)).await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut tally = Tally::new();
    let result = serve_http(tcp, &pipeline, &mut tally).await;
    tally.close(&pipeline.fake, "fake chat/voice", result);
}

async fn serve_http(tcp: TcpStream, p: &Pipeline, tally: &mut Tally) -> anyhow::Result<()> {
    let mut io = BufReader::new(tcp);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut length = 0usize;
        loop {
            line.clear();
            if io.read_line(&mut line).await? == 0 {
                bail!("connection closed inside a request head");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().context("content-length")?;
            }
        }
        body.resize(length, 0);
        io.read_exact(&mut body).await?;
        let text = std::str::from_utf8(&body).unwrap_or("");
        let tcp = io.get_mut();
        if method == "POST" && target == "/v1/chat/completions" {
            chat(tcp, p, text).await?;
        } else if method == "POST"
            && target.starts_with("/v1/text-to-speech/")
            && target.contains("/stream?output_format=ulaw_8000")
        {
            // Counted per request: the node keeps its connections open past the report.
            let mut down = Dir::default();
            let spoken = speak(tcp, p, text, &mut down).await;
            p.fake.collector.with(|t| t.down.merge(down));
            spoken?;
        } else {
            tally.other(&format!(
                "{method} {}",
                target.split('?').next().unwrap_or("")
            ));
            tcp.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await?;
        }
    }
}

const CHUNKED: &str = "transfer-encoding: chunked\r\n\r\n";

async fn write_chunk(tcp: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    tcp.write_all(&out).await
}

async fn chat(tcp: &mut TcpStream, p: &Pipeline, request: &str) -> anyhow::Result<()> {
    let call = call_named(request).context("the chat request names no bench call")?;
    let left = p
        .fake
        .give_up_at
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    let sentences = (left / (f64::from(SENTENCE_FRAMES) * 0.02)).ceil() as u32 + 1;
    tcp.write_all(
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{CHUNKED}").as_bytes(),
    )
    .await?;
    let event = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    write_chunk(
        tcp,
        event(r#"{"role":"assistant","content":""}"#, "null").as_bytes(),
    )
    .await?;
    for s in 0..sentences {
        let delta = format!(r#"{{"content":"Bench call {call} part {s} is spoken here. "}}"#);
        write_chunk(tcp, event(&delta, "null").as_bytes()).await?;
    }
    write_chunk(tcp, event("{}", r#""stop""#).as_bytes()).await?;
    write_chunk(
        tcp,
        b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":40,\"total_tokens\":60}}\n\ndata: [DONE]\n\n",
    )
    .await?;
    tcp.write_all(b"0\r\n\r\n").await?;
    Ok(())
}

/// Streams sentence S of call N on the call's schedule.
async fn speak(
    tcp: &mut TcpStream,
    p: &Pipeline,
    request: &str,
    down: &mut Dir,
) -> anyhow::Result<()> {
    let text = request
        .find(r#""text":"Bench call "#)
        .map(|at| &request[at..])
        .context("the speech request has no bench sentence")?;
    let call = call_named(&text.to_ascii_lowercase()).context("no call in the sentence")?;
    let part: u32 = frame::str_after(text, "part ")
        .or_else(|| text.split("part ").nth(1))
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .context("no part in the sentence")?;
    let slot = p
        .voice_start
        .get(call as usize)
        .context("call index out of range")?;
    let now = frame::now_us();
    let start_us =
        match slot.compare_exchange(0, now.wrapping_add(1), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => now,
            Err(set) => set.wrapping_sub(1),
        };
    tcp.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: audio/basic\r\n{CHUNKED}").as_bytes())
        .await?;
    let first = part * SENTENCE_FRAMES;
    let at = frame::start_clock()
        + Duration::from_micros(u64::from(start_us) + u64::from(first) * frame::FRAME_MS * 1000);
    let mut tick = tokio::time::interval_at(
        Instant::from_std(at),
        Duration::from_millis(frame::FRAME_MS),
    );
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let window = p.fake.collector.window;
    for seq in first..first + SENTENCE_FRAMES {
        tick.tick().await;
        if Instant::now() >= p.fake.calls_end_at {
            break;
        }
        let id = FrameId {
            call,
            seq,
            sent_us: frame::now_us(),
        };
        write_chunk(tcp, &raw_frame(id))
            .await
            .context("sending audio")?;
        down.sent(id, &window);
    }
    tcp.write_all(b"0\r\n\r\n").await?;
    Ok(())
}
