//! The phone simulator against a tiny fake hotline: a hyper server answering the voice
//! webhook and a WebSocket endpoint, both checking Twilio's signatures as hotline does.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hotline_core::{AccountSid, CallSid};
use hotline_sim::phone::{
    AudioSource, CallSpec, HangupSide, Phone, PhoneError, PhoneEvent, Progress,
    hangup_on_api_update, new_call_sid,
};
use hotline_sim::twilio_rest::FakeTwilio;
use hotline_twilio::media::{clear_json, mark_json, media_json_from_audio};
use hotline_twilio::signature;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as WsRequest, Response as WsResponse,
};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "12345";
/// What the TwiML says; the phone connects to the local server instead and signs this.
const STREAM_URL: &str = "wss://hotline.example/twilio/stream";

type Ws = WebSocketStream<TcpStream>;

/// One webhook request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    params: Vec<(String, String)>,
    signature_ok: bool,
    content_type: Option<String>,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Answers `POST /twilio/voice?…` with `twiml`, or 403 when the signature (checked
/// with `token`) is wrong. Returns the URL and what it saw.
async fn webhook(token: &'static str, twiml: String) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/twilio/voice?agent=a1&note=a%20b",
        listener.local_addr().expect("addr")
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (signed_url, log) = (url.clone(), Arc::clone(&seen));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (signed_url, log, twiml) = (signed_url.clone(), Arc::clone(&log), twiml.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let (signed_url, log, twiml) =
                    (signed_url.clone(), Arc::clone(&log), twiml.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let sig = header("x-twilio-signature").unwrap_or_default();
                    let content_type = header("content-type");
                    let body = req.into_body().collect().await.expect("body").to_bytes();
                    let params: Vec<(String, String)> = form_urlencoded::parse(&body)
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    let signature_ok = signature::validate(token, &signed_url, &params, &sig);
                    log.lock().expect("log").push(Seen {
                        params,
                        signature_ok,
                        content_type,
                    });
                    let response = if signature_ok {
                        Response::builder()
                            .header("content-type", "text/xml")
                            .body(Full::new(Bytes::from(twiml)))
                    } else {
                        Response::builder()
                            .status(403)
                            .body(Full::new(Bytes::from_static(b"bad signature")))
                    };
                    Ok::<_, Infallible>(response.expect("response"))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(tcp), service));
        }
    });
    (url, seen)
}

/// Accepts one WebSocket upgrade signed (with `token`) over [`STREAM_URL`] and runs
/// `script` on it; an unsigned or badly signed upgrade gets 403 and `None`.
async fn stream_server<F, Fut, T>(token: &'static str, script: F) -> (String, JoinHandle<Option<T>>)
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "ws://{}/twilio/stream",
        listener.local_addr().expect("addr")
    );
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        #[allow(clippy::result_large_err, reason = "tungstenite's callback signature")]
        let check = |req: &WsRequest, resp: WsResponse| check_upgrade(token, req, resp);
        let ws = tokio_tungstenite::accept_hdr_async(tcp, check).await.ok()?;
        Some(script(ws).await)
    });
    (url, task)
}

/// Accepts an upgrade signed with `token` over [`STREAM_URL`], else answers 403.
#[allow(clippy::result_large_err, reason = "tungstenite's callback signature")]
fn check_upgrade(
    token: &str,
    req: &WsRequest,
    resp: WsResponse,
) -> Result<WsResponse, ErrorResponse> {
    let sig = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if signature::validate(token, STREAM_URL, &[], sig) {
        Ok(resp)
    } else {
        let mut refused = ErrorResponse::new(Some("bad signature".to_owned()));
        *refused.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::FORBIDDEN;
        Err(refused)
    }
}

/// The next JSON frame from the phone, with its arrival time; `None` once it closed.
async fn next_frame(ws: &mut Ws) -> Option<(Instant, Value)> {
    loop {
        let message = timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the phone went quiet");
        match message {
            Some(Ok(Message::Text(text))) => {
                let json = serde_json::from_str(text.as_str()).expect("phone frames are JSON");
                return Some((Instant::now(), json));
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Skips frames up to the next one whose `event` is `event`.
async fn next_event(ws: &mut Ws, event: &str) -> (Instant, Value) {
    loop {
        let (at, frame) = next_frame(ws)
            .await
            .unwrap_or_else(|| panic!("closed before {event}"));
        if frame["event"] == event {
            return (at, frame);
        }
    }
}

/// Reads `connected` and `start`; returns the stream SID.
async fn handshake(ws: &mut Ws) -> String {
    let (_, connected) = next_frame(ws).await.expect("connected");
    assert_eq!(connected["event"], "connected");
    let (_, start) = next_frame(ws).await.expect("start");
    assert_eq!(start["event"], "start");
    start["streamSid"].as_str().expect("streamSid").to_owned()
}

async fn send(ws: &mut Ws, text: String) {
    ws.send(Message::text(text))
        .await
        .expect("send to the phone");
}

async fn close(ws: &mut Ws, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: reason.into(),
    };
    let _ = ws.send(Message::Close(Some(frame))).await;
    while let Some(Ok(_)) = ws.next().await {}
}

fn connect_twiml(after: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Start><Recording recordingStatusCallback="https://api.example/twilio/recording" recordingStatusCallbackEvent="completed absent"/></Start><Say>Hi &amp; welcome.</Say><Connect><Stream url="{STREAM_URL}"><Parameter name="callId" value="c_1"/><Parameter name="token" value="t0k"/></Stream></Connect>{after}</Response>"#
    )
}

fn spec(voice_url: &str, stream_url: &str) -> CallSpec {
    let mut spec = CallSpec::new(
        voice_url,
        AccountSid::parse(ACCOUNT).expect("account"),
        TOKEN,
    );
    spec.stream_url_override = Some(stream_url.to_owned());
    spec
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn a_hangup_twiml_ends_the_call_without_a_stream() {
    let twiml = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>We are closed.</Say><Hangup/><Say>never</Say></Response>"#;
    let (voice_url, seen) = webhook(TOKEN, twiml.to_owned()).await;
    let mut spec = CallSpec::new(
        &voice_url,
        AccountSid::parse(ACCOUNT).expect("account"),
        TOKEN,
    );
    spec.stream_url_override = Some("ws://127.0.0.1:9/never".to_owned());

    let report = Phone::call(spec, None).await.expect("call");

    assert_eq!(report.http_status, 200);
    assert_eq!(report.said, ["We are closed."]);
    assert_eq!(report.hung_up_by, HangupSide::Twiml);
    assert_eq!(report.stream_sid, None);
    assert_eq!(report.frames_sent, 0);
    assert!(report.violations.is_empty(), "{:?}", report.violations);

    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 1);
    let hook = &seen[0];
    assert!(
        hook.signature_ok,
        "signed over the full URL, query included"
    );
    assert!(
        hook.content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
    );
    assert_eq!(hook.param("AccountSid"), Some(ACCOUNT));
    assert_eq!(hook.param("ApiVersion"), Some("2010-04-01"));
    assert_eq!(hook.param("CallSid"), Some(report.call_sid.as_str()));
    assert!(CallSid::parse(report.call_sid.as_str()).is_ok());
    assert_eq!(hook.param("CallStatus"), Some("ringing"));
    assert_eq!(hook.param("Direction"), Some("inbound"));
    assert_eq!(hook.param("From"), Some("+14155550100"));
    assert_eq!(hook.param("Caller"), Some("+14155550100"));
    assert_eq!(hook.param("To"), Some("+14155550199"));
    assert_eq!(hook.param("Called"), Some("+14155550199"));
    assert_eq!(hook.param("FromCountry"), Some("US"));
    assert!(hook.param("CallToken").is_some());
}

#[tokio::test]
async fn a_forbidden_webhook_is_reported() {
    let (voice_url, seen) = webhook("another token", connect_twiml("")).await;
    let report = Phone::call(spec(&voice_url, "ws://127.0.0.1:9/never"), None)
        .await
        .expect("call");
    assert_eq!(report.http_status, 403);
    assert_eq!(report.hung_up_by, HangupSide::ApplicationError);
    assert!(report.said.is_empty());
    assert_eq!(report.stream_url, None);
    assert_eq!(seen.lock().expect("log").len(), 1);
}

#[tokio::test]
async fn an_outbound_call_is_in_progress_when_its_url_is_fetched() {
    let (voice_url, seen) = webhook(TOKEN, "<Response><Hangup/></Response>".to_owned()).await;
    let mut spec = spec(&voice_url, "ws://127.0.0.1:9/never");
    spec.direction = hotline_sim::phone::Direction::OutboundApi;
    spec.extra_params = vec![("AnsweredBy".to_owned(), "human".to_owned())];
    Phone::call(spec, None).await.expect("call");
    let hook = seen.lock().expect("log")[0].clone();
    assert!(hook.signature_ok);
    assert_eq!(hook.param("Direction"), Some("outbound-api"));
    assert_eq!(hook.param("CallStatus"), Some("in-progress"));
    assert_eq!(hook.param("AnsweredBy"), Some("human"));
    assert_eq!(hook.param("CallToken"), None);
}

#[tokio::test]
async fn the_stream_is_signed_paced_numbered_and_stopped() {
    let (voice_url, _) = webhook(TOKEN, connect_twiml("<Say>never reached</Say>")).await;
    let (ws_url, server) = stream_server(TOKEN, |mut ws| async move {
        let mut frames = Vec::new();
        while let Some(frame) = next_frame(&mut ws).await {
            frames.push(frame);
        }
        frames
    })
    .await;
    let audio: Vec<u8> = (0..800u32).map(|i| (i % 251) as u8).collect();
    let mut spec = spec(&voice_url, &ws_url);
    spec.audio = AudioSource::Mulaw(audio.clone());
    spec.duration = Duration::from_secs(1);
    spec.dtmf = vec![(ms(300), '5')];
    let (progress_tx, mut progress_rx) = mpsc::channel::<Progress>(64);

    let report = Phone::call(spec, Some(progress_tx)).await.expect("call");
    let frames = server.await.expect("server").expect("upgrade accepted");

    // connected, then start with sequence number 1.
    let connected = &frames[0].1;
    assert_eq!(connected["event"], "connected");
    assert_eq!(connected["protocol"], "Call");
    assert_eq!(connected["version"], "1.0.0");
    assert!(connected.get("sequenceNumber").is_none());
    let start = &frames[1].1;
    let sid = report.stream_sid.clone().expect("stream sid");
    assert!(sid.starts_with("MZ") && sid.len() == 34);
    assert_eq!(start["event"], "start");
    assert_eq!(start["sequenceNumber"], "1");
    assert_eq!(start["streamSid"], sid.as_str());
    assert_eq!(start["start"]["streamSid"], sid.as_str());
    assert_eq!(start["start"]["accountSid"], ACCOUNT);
    assert_eq!(start["start"]["callSid"], report.call_sid.as_str());
    assert_eq!(start["start"]["tracks"], serde_json::json!(["inbound"]));
    assert_eq!(
        start["start"]["mediaFormat"],
        serde_json::json!({"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1})
    );
    assert_eq!(
        start["start"]["customParameters"],
        serde_json::json!({"callId": "c_1", "token": "t0k"})
    );

    // Every later frame: the next sequence number, as a string, and our stream SID.
    for (i, (_, frame)) in frames[1..].iter().enumerate() {
        assert_eq!(frame["sequenceNumber"], (i + 1).to_string(), "{frame}");
        assert_eq!(frame["streamSid"], sid.as_str());
    }

    // 50 media frames a second on an absolute schedule.
    let media: Vec<&(Instant, Value)> = frames
        .iter()
        .filter(|(_, f)| f["event"] == "media")
        .collect();
    assert!(
        (49..=51).contains(&media.len()),
        "{} frames in 1 s",
        media.len()
    );
    assert_eq!(report.frames_sent, media.len() as u64);
    for (i, (_, frame)) in media.iter().enumerate() {
        assert_eq!(frame["media"]["track"], "inbound");
        assert_eq!(frame["media"]["chunk"], (i + 1).to_string());
        assert_eq!(frame["media"]["timestamp"], (i * 20).to_string());
    }
    let span = media[media.len() - 1].0 - media[0].0;
    let expected = ms(20) * (media.len() as u32 - 1);
    assert!(
        span + ms(150) > expected && span < expected + ms(150),
        "{} frames over {span:?}",
        media.len()
    );
    let payload = |i: usize| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(media[i].1["media"]["payload"].as_str().expect("payload"))
            .expect("base64")
    };
    for i in 0..5 {
        assert_eq!(payload(i), audio[i * 160..(i + 1) * 160], "frame {i}");
    }
    assert_eq!(payload(5), [0xFF; 160], "silence after the source ends");

    // DTMF at its time, between the frames around 300 ms.
    let dtmf_at = frames
        .iter()
        .position(|(_, f)| f["event"] == "dtmf")
        .expect("dtmf sent");
    let dtmf = &frames[dtmf_at].1;
    assert_eq!(
        dtmf["dtmf"],
        serde_json::json!({"track": "inbound_track", "digit": "5"})
    );
    let before = frames[..dtmf_at]
        .iter()
        .rev()
        .find(|(_, f)| f["event"] == "media")
        .expect("media before the dtmf");
    let before_ms: u64 = before.1["media"]["timestamp"]
        .as_str()
        .expect("ts")
        .parse()
        .expect("number");
    assert!(
        (260..=300).contains(&before_ms),
        "dtmf after the frame at {before_ms} ms"
    );
    assert_eq!(report.dtmf_sent, ['5']);

    // stop last, then the socket closed.
    let stop = &frames[frames.len() - 1].1;
    assert_eq!(stop["event"], "stop");
    assert_eq!(
        stop["stop"],
        serde_json::json!({"accountSid": ACCOUNT, "callSid": report.call_sid.as_str()})
    );

    assert_eq!(report.hung_up_by, HangupSide::Caller);
    assert_eq!(
        report.said,
        ["Hi & welcome."],
        "nothing after </Connect> once the caller hung up"
    );
    assert!(report.recording);
    assert_eq!(
        report.recording_callback.as_deref(),
        Some("https://api.example/twilio/recording")
    );
    assert_eq!(report.stream_url.as_deref(), Some(STREAM_URL));
    assert_eq!(
        report.parameters.get("callId").map(String::as_str),
        Some("c_1")
    );
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(
        report
            .events
            .iter()
            .any(|(_, e)| *e == PhoneEvent::StopSent)
    );

    let mut updates = Vec::new();
    while let Ok(p) = progress_rx.try_recv() {
        updates.push(p);
    }
    assert!(
        (3..=4).contains(&updates.len()),
        "{} progress updates in 1 s",
        updates.len()
    );
    assert!(
        updates
            .windows(2)
            .all(|w| w[0].frames_sent <= w[1].frames_sent)
    );
    assert!(updates[0].frames_sent >= 10);
}

#[tokio::test]
async fn marks_come_back_after_their_audio_has_played() {
    let (voice_url, _) = webhook(TOKEN, connect_twiml("<Say>Goodbye.</Say>")).await;
    let (ws_url, server) = stream_server(TOKEN, |mut ws| async move {
        let sid = handshake(&mut ws).await;
        // 400 ms of audio in two chunks, then a mark.
        let audio = vec![0x2A; 3200];
        send(&mut ws, media_json_from_audio(&sid, &audio[..1000])).await;
        send(&mut ws, media_json_from_audio(&sid, &audio[1000..])).await;
        send(&mut ws, mark_json(&sid, "after-400ms")).await;
        let sent = Instant::now();
        let (echoed, mark) = next_event(&mut ws, "mark").await;
        let played = echoed - sent;
        assert_eq!(mark["mark"]["name"], "after-400ms");
        assert_eq!(mark["streamSid"], sid.as_str());
        assert!(mark["sequenceNumber"].is_string());
        // Nothing buffered now: the next mark comes straight back.
        send(&mut ws, mark_json(&sid, "empty")).await;
        let sent = Instant::now();
        let (echoed, mark) = next_event(&mut ws, "mark").await;
        assert_eq!(mark["mark"]["name"], "empty");
        let immediate = echoed - sent;
        close(&mut ws, "done").await;
        (played, immediate)
    })
    .await;
    let record = std::env::temp_dir().join(format!("hotline-phone-{}.wav", uuid::Uuid::new_v4()));
    let mut spec = spec(&voice_url, &ws_url);
    spec.duration = Duration::from_secs(10);
    spec.record_to = Some(record.clone());

    let report = Phone::call(spec, None).await.expect("call");
    let (played, immediate) = server.await.expect("server").expect("upgrade accepted");

    assert!(
        played >= ms(399),
        "echoed after {played:?}, before its audio played"
    );
    assert!(played < ms(1500), "echoed after {played:?}");
    assert!(
        immediate < ms(200),
        "empty-buffer mark echoed after {immediate:?}"
    );

    assert_eq!(
        report.hung_up_by,
        HangupSide::Remote {
            code: Some(1000),
            reason: "done".to_owned()
        }
    );
    assert!(
        !report
            .events
            .iter()
            .any(|(_, e)| *e == PhoneEvent::StopSent),
        "no stop after the server closed"
    );
    assert_eq!(
        report.said,
        ["Hi & welcome.", "Goodbye."],
        "TwiML goes on after </Connect>"
    );
    assert_eq!(report.frames_received, 2);
    assert_eq!(report.bytes_received, 3200);
    assert_eq!(report.bytes_heard, 3200);
    assert_eq!(report.bytes_discarded, 0);
    assert_eq!(report.marks_sent_back, 2);
    let first = &report.marks[0];
    assert!(!first.cleared);
    assert!(first.echoed_at.expect("echoed") > first.received_at);
    assert!(
        report
            .heard
            .windows(3200)
            .any(|w| w.iter().all(|&b| b == 0x2A))
    );
    assert_eq!(report.heard.iter().filter(|&&b| b == 0x2A).count(), 3200);
    let started = report
        .first_event(|e| *e == PhoneEvent::AudioStarted)
        .expect("started");
    let stopped = report
        .first_event(|e| *e == PhoneEvent::AudioStopped)
        .expect("stopped");
    let echoed = report
        .first_event(|e| matches!(e, PhoneEvent::MarkEchoed { .. }))
        .expect("echoed");
    assert!(
        stopped - started >= ms(399),
        "played for {:?}",
        stopped - started
    );
    let waited = echoed - started;
    assert!(
        waited >= ms(399) && waited < ms(500),
        "echoed {waited:?} after playback began"
    );

    let wav = hotline_audio::read_wav(&record).expect("recording written");
    assert_eq!(wav.len(), report.heard.len());
    let _ = std::fs::remove_file(&record);
}

#[tokio::test]
async fn clear_discards_audio_and_echoes_pending_marks_at_once() {
    let (voice_url, _) = webhook(TOKEN, connect_twiml("")).await;
    let (ws_url, server) = stream_server(TOKEN, |mut ws| async move {
        let sid = handshake(&mut ws).await;
        send(&mut ws, media_json_from_audio(&sid, &[1; 16_000])).await; // 2 s
        send(&mut ws, mark_json(&sid, "m1")).await;
        send(&mut ws, media_json_from_audio(&sid, &[2; 8_000])).await; // 1 s
        send(&mut ws, mark_json(&sid, "m2")).await;
        tokio::time::sleep(ms(250)).await;
        send(&mut ws, clear_json(&sid)).await;
        let cleared = Instant::now();
        let (_, m1) = next_event(&mut ws, "mark").await;
        let (at, m2) = next_event(&mut ws, "mark").await;
        assert_eq!(
            (m1["mark"]["name"].as_str(), m2["mark"]["name"].as_str()),
            (Some("m1"), Some("m2"))
        );
        let echoed_within = at - cleared;
        // Nothing plays after the clear.
        tokio::time::sleep(ms(200)).await;
        close(&mut ws, "").await;
        echoed_within
    })
    .await;
    let report = Phone::call(spec(&voice_url, &ws_url), None)
        .await
        .expect("call");
    let echoed_within = server.await.expect("server").expect("upgrade accepted");

    assert!(
        echoed_within < ms(200),
        "cleared marks echoed after {echoed_within:?}"
    );
    assert_eq!(report.clears.len(), 1);
    assert!(
        report
            .marks
            .iter()
            .all(|m| m.cleared && m.echoed_at.is_some())
    );
    // About 250 ms (2000 bytes) played before the clear; the rest was discarded.
    assert!(
        (1600..=3200).contains(&report.bytes_heard),
        "heard {} bytes",
        report.bytes_heard
    );
    assert_eq!(report.bytes_heard + report.bytes_discarded, 24_000);
    assert_eq!(report.heard.iter().filter(|&&b| b == 2).count(), 0);
    assert!(report.events.iter().any(|(_, e)| matches!(
        e,
        PhoneEvent::Clear {
            marks_echoed: 2,
            ..
        }
    )));
    assert_eq!(
        report.hung_up_by,
        HangupSide::Remote {
            code: Some(1000),
            reason: String::new()
        }
    );
}

#[tokio::test]
async fn protocol_violations_are_reported_and_the_call_goes_on() {
    let (voice_url, _) = webhook(TOKEN, connect_twiml("")).await;
    let (ws_url, server) = stream_server(TOKEN, |mut ws| async move {
        let sid = handshake(&mut ws).await;
        send(&mut ws, "{not json".to_owned()).await;
        send(
            &mut ws,
            media_json_from_audio("MZffffffffffffffffffffffffffffffff", &[1; 160]),
        )
        .await;
        send(
            &mut ws,
            r#"{"event":"mark","streamSid":"x"}"#.replace('x', &sid),
        )
        .await;
        ws.send(Message::binary(vec![0u8; 10]))
            .await
            .expect("binary");
        send(&mut ws, mark_json(&sid, "still here")).await;
        let (_, mark) = next_event(&mut ws, "mark").await;
        assert_eq!(mark["mark"]["name"], "still here");
        close(&mut ws, "").await;
    })
    .await;
    let report = Phone::call(spec(&voice_url, &ws_url), None)
        .await
        .expect("call");
    server.await.expect("server").expect("upgrade accepted");

    assert_eq!(report.violations.len(), 4, "{:#?}", report.violations);
    assert!(report.violations[1].contains("streamSid"));
    assert!(report.violations[3].contains("binary"));
    assert_eq!(report.frames_received, 0, "misaddressed audio is ignored");
    assert_eq!(report.marks_sent_back, 1);
}

#[tokio::test]
async fn a_refused_upgrade_goes_on_after_connect_like_twilio() {
    let (voice_url, _) = webhook(TOKEN, connect_twiml("<Say>Sorry.</Say><Hangup/>")).await;
    let (ws_url, server) = stream_server("not the token", |_ws| async {}).await;
    let report = Phone::call(spec(&voice_url, &ws_url), None)
        .await
        .expect("the call goes on");
    assert_eq!(report.stream_refused.as_ref().map(|r| r.0), Some(403));
    assert!(report.stream_sid.is_none());
    assert_eq!(report.said, ["Hi & welcome.", "Sorry."]);
    assert_eq!(report.hung_up_by, HangupSide::Twiml);
    assert!(
        report
            .events
            .iter()
            .any(|(_, e)| *e == PhoneEvent::StreamRefused { status: 403 })
    );
    assert!(server.await.expect("server").is_none());

    // Nothing after </Connect>: Twilio hangs up.
    let (voice_url, _) = webhook(TOKEN, connect_twiml("")).await;
    let (ws_url, _server) = stream_server("not the token", |_ws| async {}).await;
    let report = Phone::call(spec(&voice_url, &ws_url), None)
        .await
        .expect("the call ends");
    assert_eq!(report.said, ["Hi & welcome."]);
    assert_eq!(report.hung_up_by, HangupSide::Twiml);
}

#[tokio::test]
async fn a_rest_hangup_sends_stop_and_closes() {
    let twilio = FakeTwilio::start().await.expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    let call_sid = new_call_sid();
    twilio.add_call(call_sid.as_str());
    let hangup_url = format!(
        "{}/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}.json",
        twilio.base_url()
    );

    let (voice_url, _) = webhook(TOKEN, connect_twiml("<Say>never</Say>")).await;
    let expected_sid = call_sid.clone();
    let (ws_url, server) = stream_server(TOKEN, move |mut ws| async move {
        handshake(&mut ws).await;
        tokio::time::sleep(ms(200)).await;
        let response = reqwest::Client::new()
            .post(&hangup_url)
            .basic_auth(ACCOUNT, Some(TOKEN))
            .form(&[("Status", "completed")])
            .send()
            .await
            .expect("hang up through the API");
        assert_eq!(response.status(), 200);
        let asked = Instant::now();
        let (at, stop) = next_event(&mut ws, "stop").await;
        assert_eq!(stop["stop"]["callSid"], expected_sid.as_str());
        assert!(next_frame(&mut ws).await.is_none(), "closed after stop");
        at - asked
    })
    .await;
    let mut spec = spec(&voice_url, &ws_url);
    spec.call_sid = Some(call_sid.clone());
    spec.duration = Duration::from_secs(10);
    spec.hangup = Some(hangup_on_api_update(twilio.subscribe(), &call_sid));

    let report = Phone::call(spec, None).await.expect("call");
    let stopped_within = server.await.expect("server").expect("upgrade accepted");

    assert!(
        stopped_within < ms(500),
        "stop came {stopped_within:?} after the hang-up"
    );
    assert_eq!(report.hung_up_by, HangupSide::Api);
    assert!(report.stream_duration < Duration::from_secs(3));
    assert_eq!(report.said, ["Hi & welcome."]);
}

#[tokio::test]
async fn a_hangup_signal_before_the_stream_ends_the_call_at_once() {
    let twiml = format!(
        r#"<Response><Pause length="5"/><Connect><Stream url="{STREAM_URL}"/></Connect></Response>"#
    );
    let (voice_url, _) = webhook(TOKEN, twiml).await;
    let (tx, rx) = watch::channel(false);
    let mut spec = spec(&voice_url, "ws://127.0.0.1:9/never");
    spec.hangup = Some(rx);
    let hang_up = tokio::spawn(async move {
        tokio::time::sleep(ms(100)).await;
        tx.send(true).expect("phone listening");
        tx
    });
    let began = Instant::now();
    let report = Phone::call(spec, None).await.expect("call");
    drop(hang_up.await);
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "the pause was cut short"
    );
    assert_eq!(report.hung_up_by, HangupSide::Api);
    assert_eq!(report.stream_sid, None);
}

#[tokio::test]
async fn invalid_dtmf_is_refused_before_dialing() {
    let mut spec = spec("http://127.0.0.1:9/voice", "ws://127.0.0.1:9/never");
    spec.dtmf = vec![(ms(10), 'x')];
    assert!(matches!(
        Phone::call(spec, None).await,
        Err(PhoneError::Spec(_))
    ));
}
