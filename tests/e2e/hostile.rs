//! Hostile and broken streams: each is refused or closed and logged, never a panic, and
//! a healthy call running beside them does not notice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hotline_core::model::{EndReason, Outcome};
use hotline_e2e::{ACCOUNT, Answered, TOKEN, World};
use hotline_realtime::openai::{ServerEvent, Session, SessionEvent};
use hotline_sim::phone::{AudioSource, HangupSide, Phone};
use hotline_sim::realtime::Script;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open(url: &str, signature: Option<String>) -> Result<Ws, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    if let Some(sig) = signature {
        request.headers_mut().insert(
            "x-twilio-signature",
            HeaderValue::from_str(&sig).expect("header"),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

async fn open_signed(url: &str) -> Ws {
    open(url, Some(hotline_sim::phone::sign(TOKEN, url, &[])))
        .await
        .expect("signed upgrade accepted")
}

fn refused_status(result: Result<Ws, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            if status == 403 {
                // The same answer whatever was wrong with the signature.
                assert_eq!(resp.body().as_deref(), Some(&b"Forbidden\n"[..]));
            }
            status
        }
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("upgrade accepted"),
    }
}

fn start_frame(a: &Answered, token: &str) -> String {
    format!(
        r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"{ACCOUNT}","streamSid":"MZ00000000000000000000000000000001","callSid":"{}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{"stream_token":"{token}"}}}},"streamSid":"MZ00000000000000000000000000000001"}}"#,
        a.call_sid
    )
}

const MEDIA: &str = r#"{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"20","payload":"//////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////8="},"streamSid":"MZ00000000000000000000000000000001"}"#;

/// Reads until the server closes; returns the close code (None: no close frame).
async fn closed_by_server(ws: &mut Ws, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the server should have closed the stream");
        match msg {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

async fn outcome(world: &World, a: &Answered) -> EndReason {
    world
        .finished_call(&a.call_sid)
        .await
        .outcome
        .expect("outcome")
        .reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_streams_are_closed_and_a_healthy_call_is_unaffected() {
    let world = World::start(Script::default()).await;
    let healthy = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(12)),
        None,
    ));

    // Unsigned and badly signed upgrades never become streams.
    let a = world.answered_call().await;
    assert_eq!(refused_status(open(&a.stream_url, None).await), 403);
    assert_eq!(
        refused_status(open(&a.stream_url, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into())).await),
        403
    );
    let other_token = hotline_sim::phone::sign("not-the-token", &a.stream_url, &[]);
    assert_eq!(
        refused_status(open(&a.stream_url, Some(other_token)).await),
        403
    );

    // A stream of malformed JSON and bad base64: one such frame is skipped, this many
    // is a broken stream.
    let a = world.answered_call().await;
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, &a.stream_token)))
        .await
        .expect("start");
    ws.send(Message::text(MEDIA)).await.expect("media");
    for _ in 0..30 {
        ws.send(Message::text("{\"event\":\"media\","))
            .await
            .expect("garbage");
        ws.send(Message::text(MEDIA.replace("//8=", "!!!!")))
            .await
            .expect("bad media");
    }
    assert!(
        closed_by_server(&mut ws, Duration::from_secs(5))
            .await
            .is_some()
    );
    let ended = world
        .finished_call(&a.call_sid)
        .await
        .outcome
        .expect("outcome");
    assert_eq!(ended.reason, EndReason::StreamFailed);
    assert_eq!(ended.detail.as_deref(), Some("too many malformed messages"));

    // An oversized frame.
    let a = world.answered_call().await;
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, &a.stream_token)))
        .await
        .expect("start");
    let _ = ws.send(Message::text("x".repeat(200 * 1024))).await;
    closed_by_server(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(outcome(&world, &a).await, EndReason::StreamFailed);

    // A flood of frames.
    let a = world.answered_call().await;
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, &a.stream_token)))
        .await
        .expect("start");
    for _ in 0..2000 {
        if ws.feed(Message::text(MEDIA)).await.is_err() {
            break;
        }
    }
    let _ = ws.flush().await;
    closed_by_server(&mut ws, Duration::from_secs(5)).await;
    let reason = world
        .finished_call(&a.call_sid)
        .await
        .outcome
        .expect("outcome");
    assert_eq!(reason.reason, EndReason::StreamFailed);
    assert_eq!(reason.detail.as_deref(), Some("message flood"));

    // Unknown events are ignored; the stream lives until `stop`.
    let a = world.answered_call().await;
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, &a.stream_token)))
        .await
        .expect("start");
    ws.send(Message::text(
        r#"{"event":"something-new","streamSid":"MZ00000000000000000000000000000001","x":{"y":1}}"#,
    ))
    .await
    .expect("unknown");
    ws.send(Message::text(MEDIA)).await.expect("media");
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.send(Message::text(format!(
        r#"{{"event":"stop","sequenceNumber":"9","stop":{{"accountSid":"{ACCOUNT}","callSid":"{}"}},"streamSid":"MZ00000000000000000000000000000001"}}"#,
        a.call_sid
    )))
    .await
    .expect("stop");
    closed_by_server(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(outcome(&world, &a).await, EndReason::CallerHungUp);

    // A start for a call hotline never answered, and one with the wrong token.
    let a = world.answered_call().await;
    let mut ws = open_signed(&a.stream_url).await;
    let unknown = Answered {
        call_sid: hotline_sim::phone::new_call_sid(),
        stream_url: a.stream_url.clone(),
        stream_token: a.stream_token.clone(),
    };
    ws.send(Message::text(start_frame(&unknown, &a.stream_token)))
        .await
        .expect("start");
    assert_eq!(
        closed_by_server(&mut ws, Duration::from_secs(5)).await,
        Some(1008)
    );
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, "0000")))
        .await
        .expect("start");
    assert_eq!(
        closed_by_server(&mut ws, Duration::from_secs(5)).await,
        Some(1008)
    );

    // No start at all: closed after the start timeout.
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(
        r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
    ))
    .await
    .expect("connected");
    assert_eq!(
        closed_by_server(&mut ws, Duration::from_secs(8)).await,
        Some(1008)
    );

    let report = healthy.await.expect("task").expect("healthy call");
    assert_eq!(report.hung_up_by, HangupSide::Caller, "{report:?}");
    assert!(
        hotline_e2e::violations(&report).is_empty(),
        "{:?}",
        report.violations
    );
    assert!(
        report.bytes_heard >= 2000 * 8,
        "the greeting played: {report:?}"
    );
    assert!(report.frames_sent >= 550, "{report:?}");
    assert_eq!(
        world
            .finished_call(&report.call_sid)
            .await
            .outcome
            .map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_twilio_frame_is_skipped_and_the_call_goes_on() {
    let world = World::start(Script::default()).await;
    let a = world.answered_call().await;
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, &a.stream_token)))
        .await
        .expect("start");
    ws.send(Message::text(MEDIA)).await.expect("media");
    let skipped = [
        "{\"event\":\"media\",".to_owned(),
        MEDIA.replace("//8=", "!!!!"),
        r#"{"event":"mark","sequenceNumber":"3","streamSid":"MZ00000000000000000000000000000001"}"#
            .to_owned(),
        r#"{"event":"dtmf","streamSid":"MZ00000000000000000000000000000001","dtmf":7}"#.to_owned(),
    ];
    for frame in skipped {
        ws.send(Message::text(frame))
            .await
            .expect("malformed frame");
    }
    ws.send(Message::text(MEDIA)).await.expect("media");
    ws.send(Message::text(MEDIA)).await.expect("media");
    // The good frames around the bad ones all reached the AI.
    world
        .ai
        .wait_for_session(|s| s.appends >= 3, Duration::from_secs(5))
        .await
        .expect("three frames of audio reached the AI");
    ws.send(Message::text(format!(
        r#"{{"event":"stop","sequenceNumber":"9","stop":{{"accountSid":"{ACCOUNT}","callSid":"{}"}},"streamSid":"MZ00000000000000000000000000000001"}}"#,
        a.call_sid
    )))
    .await
    .expect("stop");
    closed_by_server(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(outcome(&world, &a).await, EndReason::CallerHungUp);
    let session = world.ai.session(0).expect("session");
    assert_eq!(session.appends, 3);
    assert!(session.errors.is_empty(), "{:?}", session.errors);
}

/// A stand-in for OpenAI in front of the simulator: it passes connections through,
/// except one it is told to stall, which it upgrades, configures and then never reads
/// again (a tiny receive buffer makes the node's writes back up within seconds).
struct StallingFront {
    addr: std::net::SocketAddr,
    backend: Arc<OnceLock<std::net::SocketAddr>>,
    stall_next: Arc<AtomicBool>,
    stalled: Arc<tokio::sync::Notify>,
}

impl StallingFront {
    async fn start() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket.bind(([127, 0, 0, 1], 0).into()).expect("bind");
        let listener = socket.listen(64).expect("listen");
        let front = Self {
            addr: listener.local_addr().expect("addr"),
            backend: Arc::new(OnceLock::new()),
            stall_next: Arc::new(AtomicBool::new(false)),
            stalled: Arc::new(tokio::sync::Notify::new()),
        };
        let (backend, stall_next, stalled) = (
            Arc::clone(&front.backend),
            Arc::clone(&front.stall_next),
            Arc::clone(&front.stalled),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if stall_next.swap(false, Ordering::SeqCst) {
                    tokio::spawn(stall(stream, Arc::clone(&stalled)));
                } else if let Some(&to) = backend.get() {
                    tokio::spawn(async move {
                        let mut stream = stream;
                        if let Ok(mut upstream) = TcpStream::connect(to).await {
                            let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
                        }
                    });
                }
            }
        });
        front
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// Accepts the upgrade, says the session is configured, and never reads again.
async fn stall(stream: TcpStream, stalled: Arc<tokio::sync::Notify>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let updated = ServerEvent::SessionUpdated(Box::new(SessionEvent {
        event_id: "event_stall".into(),
        session: Session::realtime(),
    }));
    let json = serde_json::to_string(&updated).expect("event serializes");
    if ws.send(Message::text(json)).await.is_ok() {
        stalled.notify_one();
        // Holds the socket open, unread, until the test ends.
        std::future::pending::<()>().await;
    }
}

/// Opens a signed stream from a socket with a tiny receive buffer, so that once this
/// side stops reading, the node's writes back up within seconds.
async fn open_small(url: &str) -> WebSocketStream<TcpStream> {
    let host = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .expect("ws:// URL");
    let addr: std::net::SocketAddr = host.parse().expect("loopback address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(addr).await.expect("connect");
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "x-twilio-signature",
        HeaderValue::from_str(&hotline_sim::phone::sign(TOKEN, url, &[])).expect("header"),
    );
    tokio_tungstenite::client_async(request, stream)
        .await
        .expect("signed upgrade accepted")
        .0
}

/// The call's outcome once written, waiting up to `within`.
async fn outcome_within(world: &World, a: &Answered, within: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let call = world.stores.calls.get_call(&a.call_sid).await.expect("get");
        if let Some(outcome) = call.and_then(|c| c.outcome) {
            return outcome;
        }
        assert!(tokio::time::Instant::now() < deadline, "never finalized");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_ends_its_call_only() {
    let front = StallingFront::start().await;
    let world = World::start_via(Script::default(), front.base_url()).await;
    front
        .backend
        .set(world.ai.addr())
        .expect("backend set once");
    let healthy = tokio::spawn(Phone::call(
        world.call(AudioSource::Silence, Duration::from_secs(30)),
        None,
    ));
    world
        .ai
        .wait_for_session(|_| true, Duration::from_secs(5))
        .await
        .expect("the healthy call reached the AI");

    // The AI stops reading: its call ends with an apology.
    front.stall_next.store(true, Ordering::SeqCst);
    let phone_limit = Duration::from_secs(60);
    let report = Phone::call(world.call(AudioSource::Silence, phone_limit), None)
        .await
        .expect("call placed");
    tokio::time::timeout(Duration::from_secs(1), front.stalled.notified())
        .await
        .expect("that call's AI session was the stalled one");
    // Ended by hotline (the apology), not by the caller running out of patience.
    assert_ne!(report.hung_up_by, HangupSide::Caller, "{report:?}");
    assert!(report.stream_duration < phone_limit / 2, "{report:?}");
    let ended = world
        .finished_call(&report.call_sid)
        .await
        .outcome
        .expect("outcome");
    assert_eq!(ended.reason, EndReason::ProviderFailed);
    let detail = ended.detail.unwrap_or_default();
    assert!(detail.contains("stopped reading"), "{detail}");
    assert!(
        world
            .twilio
            .requests()
            .iter()
            .any(|r| r.param("Twiml").is_some_and(|t| t.contains("Sorry"))),
        "the caller heard the apology"
    );

    // Twilio's side stops reading while the AI speaks ten minutes at once.
    world.ai.set_script(Script {
        api_key: Some(hotline_e2e::API_KEY.to_owned()),
        reply_ms: 600_000,
        ..Script::default()
    });
    let a = world.answered_call().await;
    let mut ws = open_small(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, &a.stream_token)))
        .await
        .expect("start");
    ws.send(Message::text(MEDIA)).await.expect("media");
    let ended = outcome_within(&world, &a, Duration::from_secs(30)).await;
    assert_eq!(ended.reason, EndReason::StreamFailed);
    let detail = ended.detail.unwrap_or_default();
    assert!(detail.contains("stopped reading"), "{detail}");
    drop(ws);

    let report = healthy.await.expect("task").expect("healthy call");
    assert_eq!(report.hung_up_by, HangupSide::Caller, "{report:?}");
    assert!(report.frames_sent >= 1450, "{report:?}");
    assert!(report.bytes_heard >= 2000 * 8, "{report:?}");
    assert_eq!(
        world
            .finished_call(&report.call_sid)
            .await
            .outcome
            .map(|o| o.reason),
        Some(EndReason::CallerHungUp)
    );
}
