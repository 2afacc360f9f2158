//! Hostile and broken streams: each is refused or closed and logged, never a panic, and
//! a healthy call running beside them does not notice.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hotline_core::model::EndReason;
use hotline_e2e::{ACCOUNT, Answered, TOKEN, World};
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

    // Malformed JSON after start.
    let a = world.answered_call().await;
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, &a.stream_token)))
        .await
        .expect("start");
    ws.send(Message::text(MEDIA)).await.expect("media");
    ws.send(Message::text("{\"event\":\"media\","))
        .await
        .expect("garbage");
    assert!(
        closed_by_server(&mut ws, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert_eq!(outcome(&world, &a).await, EndReason::StreamFailed);

    // Bad base64 in a media payload.
    let a = world.answered_call().await;
    let mut ws = open_signed(&a.stream_url).await;
    ws.send(Message::text(start_frame(&a, &a.stream_token)))
        .await
        .expect("start");
    ws.send(Message::text(MEDIA.replace("//8=", "!!!!")))
        .await
        .expect("bad media");
    assert!(
        closed_by_server(&mut ws, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert_eq!(outcome(&world, &a).await, EndReason::StreamFailed);

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
