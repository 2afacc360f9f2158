//! The webhook receiver against hand-built deliveries, signed here with `hmac` + `sha2`
//! exactly as the scheme says.

use std::time::Duration;

use hmac::{Hmac, Mac};
use hotline_sim::webhook::{Delivery, WebhookReceiver};
use sha2::Sha256;

const SECRET: &str = "whsec-test";
const WAIT: Duration = Duration::from_secs(5);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Lowercase hex HMAC-SHA256 of `"{t}.{body}"`.
fn v1(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", v1(secret, t, body))
}

const BODY: &[u8] =
    br#"{"event":"call.completed","call_sid":"CA0123456789abcdef0123456789abcdef"}"#;

/// POSTs `body` with these headers (`None` leaves one out); answers the status.
async fn post(
    url: &str,
    signature: Option<&str>,
    event_id: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> u16 {
    let mut request = reqwest::Client::new().post(url).body(body.to_vec());
    if let Some(s) = signature {
        request = request.header("Hotline-Signature", s);
    }
    if let Some(id) = event_id {
        request = request.header("Hotline-Event-Id", id);
    }
    if let Some(ct) = content_type {
        request = request.header("Content-Type", ct);
    }
    request.send().await.expect("delivered").status().as_u16()
}

async fn deliver(receiver: &WebhookReceiver, signature: &str, body: &[u8]) -> u16 {
    post(
        receiver.url(),
        Some(signature),
        Some("evt_1"),
        Some("application/json"),
        body,
    )
    .await
}

fn only_delivery(receiver: &WebhookReceiver) -> Delivery {
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    deliveries.into_iter().next().expect("one")
}

#[tokio::test]
async fn a_validly_signed_delivery_is_accepted_and_recorded() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    assert!(
        receiver.url().ends_with("/hooks/calls"),
        "{}",
        receiver.url()
    );
    let status = deliver(&receiver, &signature(SECRET, now(), BODY), BODY).await;
    assert_eq!(status, 200);

    let d = only_delivery(&receiver);
    assert_eq!(d.verified, Ok(()));
    assert_eq!(d.status, 200);
    assert_eq!(d.method, "POST");
    assert_eq!(d.path, "/hooks/calls");
    assert_eq!(d.event_id.as_deref(), Some("evt_1"));
    assert_eq!(d.content_type.as_deref(), Some("application/json"));
    assert_eq!(d.body, BODY);
    assert_eq!(
        d.json.as_ref().and_then(|j| j["event"].as_str()),
        Some("call.completed")
    );
}

#[tokio::test]
async fn a_signature_made_with_another_secret_is_refused() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    let status = deliver(&receiver, &signature("whsec-other", now(), BODY), BODY).await;
    assert_eq!(status, 401);
    let d = only_delivery(&receiver);
    assert_eq!(d.status, 401);
    let why = d.verified.expect_err("refused");
    assert!(why.contains("no v1 signature matches"), "{why}");
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_refused_even_when_correctly_signed() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    let stale = now() - 301;
    let future = now() + 400;
    assert_eq!(
        deliver(&receiver, &signature(SECRET, stale, BODY), BODY).await,
        401
    );
    assert_eq!(
        deliver(&receiver, &signature(SECRET, future, BODY), BODY).await,
        401
    );
    // Just inside the window is fine.
    let recent = now() - 240;
    assert_eq!(
        deliver(&receiver, &signature(SECRET, recent, BODY), BODY).await,
        200
    );
    let deliveries = receiver.deliveries();
    for d in &deliveries[..2] {
        let why = d.verified.clone().expect_err("stale");
        assert!(why.contains("from now"), "{why}");
    }
    assert_eq!(deliveries[2].verified, Ok(()));
}

#[tokio::test]
async fn a_tampered_body_is_refused() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    let tampered = br#"{"event":"call.completed","call_sid":"CAffffffffffffffffffffffffffffffff"}"#;
    let status = deliver(&receiver, &signature(SECRET, now(), BODY), tampered).await;
    assert_eq!(status, 401);
    assert!(only_delivery(&receiver).verified.is_err());
}

#[tokio::test]
async fn a_tampered_timestamp_is_refused() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    let t = now();
    let header = format!("t={},v1={}", t - 1, v1(SECRET, t, BODY));
    assert_eq!(deliver(&receiver, &header, BODY).await, 401);
}

#[tokio::test]
async fn a_delivery_without_a_signature_is_refused() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    let status = post(
        receiver.url(),
        None,
        Some("evt_1"),
        Some("application/json"),
        BODY,
    )
    .await;
    assert_eq!(status, 401);
    let d = only_delivery(&receiver);
    let why = d.verified.expect_err("refused");
    assert!(why.contains("no Hotline-Signature"), "{why}");
    assert_eq!(d.signature, None);
}

#[tokio::test]
async fn during_rotation_any_matching_v1_is_enough() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    let t = now();
    // Old secret first, then the current one; and the other way round.
    let rotating = format!(
        "t={t},v1={},v1={}",
        v1("whsec-old", t, BODY),
        v1(SECRET, t, BODY)
    );
    assert_eq!(deliver(&receiver, &rotating, BODY).await, 200);
    let reversed = format!(
        "t={t},v1={},v1={}",
        v1(SECRET, t, BODY),
        v1("whsec-old", t, BODY)
    );
    assert_eq!(deliver(&receiver, &reversed, BODY).await, 200);
    // Two signatures, neither with the receiver's secret.
    let neither = format!(
        "t={t},v1={},v1={}",
        v1("whsec-old", t, BODY),
        v1("whsec-older", t, BODY)
    );
    assert_eq!(deliver(&receiver, &neither, BODY).await, 401);
}

#[tokio::test]
async fn the_event_id_and_a_json_content_type_are_required() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    let signed = signature(SECRET, now(), BODY);
    let no_id = post(
        receiver.url(),
        Some(&signed),
        None,
        Some("application/json"),
        BODY,
    )
    .await;
    assert_eq!(no_id, 400);
    let form = post(
        receiver.url(),
        Some(&signed),
        Some("evt_1"),
        Some("application/x-www-form-urlencoded"),
        BODY,
    )
    .await;
    assert_eq!(form, 415);
    let with_charset = post(
        receiver.url(),
        Some(&signed),
        Some("evt_1"),
        Some("application/json; charset=utf-8"),
        BODY,
    )
    .await;
    assert_eq!(with_charset, 200);
}

#[tokio::test]
async fn queued_statuses_answer_accepted_deliveries_then_200() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    receiver.respond_with(vec![500, 503]);
    // A refused delivery does not use up a queued status.
    assert_eq!(
        deliver(&receiver, &signature("wrong", now(), BODY), BODY).await,
        401
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(deliver(&receiver, &signature(SECRET, now(), BODY), BODY).await);
    }
    assert_eq!(statuses, [500, 503, 200]);
    let recorded: Vec<u16> = receiver.deliveries().iter().map(|d| d.status).collect();
    assert_eq!(recorded, [401, 500, 503, 200]);
    // Retries carry the same event id: one event, three tries.
    let ids: std::collections::BTreeSet<_> = receiver
        .deliveries()
        .into_iter()
        .filter_map(|d| d.event_id)
        .collect();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn waiting_sees_earlier_and_later_deliveries_and_gives_up_at_the_timeout() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    deliver(&receiver, &signature(SECRET, now(), BODY), BODY).await;
    assert_eq!(receiver.wait_for_deliveries(1, WAIT).await.len(), 1);

    let url = receiver.url().to_owned();
    let later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post(
            &url,
            Some(&signature(SECRET, now(), BODY)),
            Some("evt_2"),
            Some("application/json"),
            BODY,
        )
        .await
    });
    assert_eq!(receiver.wait_for_deliveries(2, WAIT).await.len(), 2);
    assert_eq!(later.await.expect("task"), 200);

    let short = receiver
        .wait_for_deliveries(3, Duration::from_millis(50))
        .await;
    assert_eq!(short.len(), 2);
}

#[tokio::test]
async fn a_rotated_receiver_secret_takes_effect() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    receiver.set_secret("whsec-new");
    assert_eq!(
        deliver(&receiver, &signature(SECRET, now(), BODY), BODY).await,
        401
    );
    assert_eq!(
        deliver(&receiver, &signature("whsec-new", now(), BODY), BODY).await,
        200
    );
}

#[tokio::test]
async fn anything_but_post_is_refused() {
    let receiver = WebhookReceiver::start(SECRET).await.expect("start");
    let status = reqwest::get(receiver.url())
        .await
        .expect("get")
        .status()
        .as_u16();
    assert_eq!(status, 405);
}
