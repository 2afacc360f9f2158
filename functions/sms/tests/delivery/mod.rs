//! Texts hotline sends: the delivery reports at `POST /twilio/sms/status` move each one
//! forward only, and a person who texted STOP is not texted until START.

use chrono::Utc;
use hotline_core::model::{DeliveryState, Message, Organization};
use hotline_core::outbox::{Outbox, OutboxError};
use hotline_sim::twilio_rest::FakeTwilio;
use hotline_twilio::messages::TwilioTexts;
use hotline_twilio::rest::TwilioClient;

use super::*;

/// The simulator of Twilio's REST API, and a sender through it.
async fn twilio() -> (FakeTwilio, TwilioTexts) {
    let fake = FakeTwilio::start().await.expect("fake twilio");
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER_ACCOUNT, OTHER_TOKEN);
    // The reports are posted by the tests themselves, in the order they need.
    fake.set_message_statuses(&[]);
    let texts = TwilioTexts(TwilioClient::new(fake.base_url(), reqwest::Client::new()));
    (fake, texts)
}

async fn org(app: &App, id: &str) -> Organization {
    app.stores
        .directory
        .get_org(&OrgId::parse(id).expect("org"))
        .await
        .expect("get org")
        .expect("org")
}

async fn send_text(
    app: &App,
    texts: &TwilioTexts,
    org_id: &str,
    body: &str,
) -> Result<Vec<Message>, OutboxError> {
    let outbox = Outbox {
        directory: app.stores.directory.as_ref(),
        contacts: app.stores.contacts.as_ref(),
        messages: app.stores.messages.as_ref(),
        sender: texts,
        status_callback: Some(url(routes::SMS_STATUS, "")),
    };
    outbox
        .send(
            &org(app, org_id).await,
            None,
            &phone(DANA),
            body,
            Utc::now(),
        )
        .await
}

/// A delivery report as Twilio posts it.
fn report(account: &str, sid: &str, status: &str) -> Vec<(String, String)> {
    webhook::form(&[
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", DANA),
        ("MessageSid", sid),
        ("AccountSid", account),
        ("From", ACME),
        ("ApiVersion", "2010-04-01"),
    ])
}

async fn post_report(app: &App, params: &[(String, String)], token: &str) -> StatusCode {
    let req = signed_post(&url(routes::SMS_STATUS, ""), params, token);
    hotline_sms::route(&app.deps, req).await.status()
}

async fn state(app: &App, org_id: &str, sid: &MessageSid) -> Option<DeliveryState> {
    app.stores
        .messages
        .get_message(&OrgId::parse(org_id).expect("org"), sid)
        .await
        .expect("get")
        .expect("message")
        .delivery
}

hotline_testkit::on_both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    local: local_app, aws: aws_app;
    delivery_reports_move_a_text_forward_only_whatever_their_order,
    stop_then_a_send_is_refused_and_start_allows_it_again,
}

async fn delivery_reports_move_a_text_forward_only_whatever_their_order(app: App) {
    let (fake, texts) = twilio().await;
    let sent = send_text(&app, &texts, "acme", "Your crown is ready")
        .await
        .expect("sent");
    let sid = sent[0].sid.clone();
    assert_eq!(
        fake.messages()[0].status_callback.as_deref(),
        Some(url(routes::SMS_STATUS, "").as_str())
    );
    assert_eq!(state(&app, "acme", &sid).await, Some(DeliveryState::Queued));

    // Unsigned, or signed by another organization: refused, nothing changes.
    let params = report(ACCOUNT, sid.as_str(), "delivered");
    let unsigned = webhook::post(&url(routes::SMS_STATUS, ""), &params, None);
    assert_eq!(
        hotline_sms::route(&app.deps, unsigned).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_report(&app, &params, OTHER_TOKEN).await,
        StatusCode::FORBIDDEN
    );
    // Another organization's account naming acme's text: not its text, untouched.
    let theirs = report(OTHER_ACCOUNT, sid.as_str(), "failed");
    assert_eq!(
        post_report(&app, &theirs, OTHER_TOKEN).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(state(&app, "acme", &sid).await, Some(DeliveryState::Queued));

    // delivered arrives before sent; then sent, queued and delivered again arrive late.
    for (status, expected) in [
        ("delivered", DeliveryState::Delivered),
        ("sent", DeliveryState::Delivered),
        ("queued", DeliveryState::Delivered),
        ("undelivered", DeliveryState::Delivered),
        ("delivered", DeliveryState::Delivered),
    ] {
        let code = post_report(&app, &report(ACCOUNT, sid.as_str(), status), TOKEN).await;
        assert_eq!(code, StatusCode::NO_CONTENT, "{status}");
        assert_eq!(
            state(&app, "acme", &sid).await,
            Some(expected),
            "after {status}"
        );
    }

    // In order, a second text goes queued → sent → failed, and stays failed.
    let second = send_text(&app, &texts, "acme", "Reminder")
        .await
        .expect("sent")[0]
        .sid
        .clone();
    for (status, expected) in [
        ("sending", DeliveryState::Sending),
        ("sent", DeliveryState::Sent),
        ("failed", DeliveryState::Failed),
        ("delivered", DeliveryState::Failed),
    ] {
        post_report(&app, &report(ACCOUNT, second.as_str(), status), TOKEN).await;
        assert_eq!(
            state(&app, "acme", &second).await,
            Some(expected),
            "after {status}"
        );
    }
    // A status hotline does not track, a malformed report, a text nobody sent.
    let odd = report(ACCOUNT, second.as_str(), "receiving");
    assert_eq!(post_report(&app, &odd, TOKEN).await, StatusCode::NO_CONTENT);
    let bad = report(ACCOUNT, "not-a-sid", "sent");
    assert_eq!(
        post_report(&app, &bad, TOKEN).await,
        StatusCode::BAD_REQUEST
    );
    let nobody = report(ACCOUNT, &sid_text(77), "sent");
    assert_eq!(
        post_report(&app, &nobody, TOKEN).await,
        StatusCode::NO_CONTENT
    );
}

fn sid_text(n: u32) -> String {
    format!("SM{n:032x}")
}

async fn stop_then_a_send_is_refused_and_start_allows_it_again(app: App) {
    let (fake, texts) = twilio().await;
    assert_eq!(texted(&app, 1, "STOP").await, None);
    let refused = send_text(&app, &texts, "acme", "Your crown is ready").await;
    match refused {
        Err(e @ OutboxError::OptedOut(_)) => {
            assert!(e.to_string().contains("opted out"), "{e}");
        }
        other => panic!("not refused: {other:?}"),
    }
    assert!(fake.messages().is_empty());
    // The opt-out is acme's: other may still text the same person.
    send_text(&app, &texts, "other", "Hi")
        .await
        .expect("other sends");
    assert_eq!(texted(&app, 2, "START").await, None);
    let sent = send_text(&app, &texts, "acme", "Your crown is ready")
        .await
        .expect("sent");
    assert_eq!(sent.len(), 1);
    assert_eq!(fake.messages().len(), 2);
}
