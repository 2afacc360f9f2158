//! `POST /api/v1/messages`: texts leave through Twilio's Messages API (the simulator),
//! long ones in numbered parts, each stored in the person's SMS conversation; opted-out
//! people are refused; one organization never sees another's texts.

use hotline_core::model::{Channel, Contact, DeliveryState, MessageDirection};
use hotline_core::outbox::MAX_BODY_CHARS;

use super::*;

const DANA: &str = "+14155550100";

fn phone(n: &str) -> E164 {
    E164::parse(n).expect("phone")
}

async fn text(app: &App, key: &str, body: &Value) -> Answer {
    send(
        app,
        request(
            Method::POST,
            "/api/v1/messages",
            Some(key),
            Some(&body.to_string()),
        ),
    )
    .await
}

/// Distinct words making exactly `n` characters.
fn words(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.chars().count() < n {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&format!("word{i}"));
        i += 1;
    }
    let mut s: String = s.chars().take(n).collect();
    if s.ends_with(' ') {
        s.pop();
        s.push('x');
    }
    s
}

async fn conversation(app: &App, org_id: &str, contact: &str) -> Vec<hotline_core::model::Message> {
    app.stores
        .messages
        .conversation(&org(org_id), &phone(contact), Channel::Sms, 100)
        .await
        .expect("conversation")
}

async fn set_opted_out(app: &App, org_id: &str, contact: &str, out: bool) {
    let c = &app.stores.contacts;
    let mut current = match c
        .get_contact(&org(org_id), &phone(contact))
        .await
        .expect("get")
    {
        Some(c) => c,
        None => c
            .create_contact(&Contact::new(org(org_id), phone(contact), Utc::now()))
            .await
            .expect("create")
            .into_inner(),
    };
    current.sms_opted_out = out;
    c.update_contact(&current).await.expect("update");
}

hotline_testkit::on_both_stores! {
    local: local_app, aws: aws_app;
    a_text_leaves_from_the_first_sms_number_and_is_stored_outbound,
    long_texts_leave_in_numbered_parts_cut_between_words_none_lost,
    an_opted_out_person_is_refused_until_they_opt_back_in,
    a_send_is_refused_clearly_when_it_cannot_be_made,
    two_organizations_texting_one_person_keep_separate_conversations,
}

async fn a_text_leaves_from_the_first_sms_number_and_is_stored_outbound(app: App) {
    let sent = text(
        &app,
        &app.admin,
        &json!({"to": DANA, "body": "See you at 3 <&> 😀"}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let out = sent.json();
    let messages = out["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["from"], "+14155550111");
    assert_eq!(messages[0]["to"], DANA);
    assert_eq!(messages[0]["status"], "queued");
    let at_twilio = app.twilio.messages();
    assert_eq!(at_twilio.len(), 1);
    assert_eq!(at_twilio[0].account, hotline_testkit::webhook::ACCOUNT);
    assert_eq!(at_twilio[0].body, "See you at 3 <&> 😀");
    assert_eq!(at_twilio[0].sid, messages[0]["sid"].as_str().expect("sid"));
    assert_eq!(
        at_twilio[0].status_callback.as_deref(),
        Some("https://api.example.com/twilio/sms/status")
    );
    let stored = conversation(&app, "acme", DANA).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].direction, MessageDirection::Outbound);
    assert_eq!(stored[0].sid.as_str(), at_twilio[0].sid);
    assert_eq!(stored[0].delivery, Some(DeliveryState::Queued));
    assert_eq!(stored[0].number, phone("+14155550111"));

    // From another of acme's numbers when asked.
    let sent = text(
        &app,
        &app.admin,
        &json!({"to": DANA, "body": "Also", "from": "+14155550112"}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    assert_eq!(app.twilio.messages()[1].from, "+14155550112");
}

async fn long_texts_leave_in_numbered_parts_cut_between_words_none_lost(app: App) {
    for (length, parts) in [(1601, 2), (3200, 3), (10_000, 7)] {
        let before = app.twilio.messages().len();
        let body = words(length);
        let sent = text(&app, &app.admin, &json!({"to": DANA, "body": body})).await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
        let at_twilio = &app.twilio.messages()[before..];
        assert_eq!(at_twilio.len(), parts, "{length} characters");
        let mut rejoined = Vec::new();
        for (i, m) in at_twilio.iter().enumerate() {
            assert!(
                m.body.chars().count() <= MAX_BODY_CHARS,
                "part {i} too long"
            );
            let prefix = format!("({}/{parts}) ", i + 1);
            let rest = m
                .body
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{prefix:?} missing"));
            rejoined.extend(rest.split_whitespace().map(str::to_owned));
        }
        let original: Vec<String> = body.split_whitespace().map(str::to_owned).collect();
        assert_eq!(
            rejoined, original,
            "{length}: a word was lost, cut or moved"
        );
        // Stored in order, newest first in the conversation.
        let stored: Vec<String> = conversation(&app, "acme", DANA)
            .await
            .into_iter()
            .take(parts)
            .rev()
            .map(|m| m.body)
            .collect();
        let sent_bodies: Vec<String> = at_twilio.iter().map(|m| m.body.clone()).collect();
        assert_eq!(stored, sent_bodies);
    }
}

async fn an_opted_out_person_is_refused_until_they_opt_back_in(app: App) {
    set_opted_out(&app, "acme", DANA, true).await;
    let refused = text(&app, &app.admin, &json!({"to": DANA, "body": "Hello"})).await;
    let detail = refused.problem(StatusCode::CONFLICT);
    assert!(detail.contains("opted out"), "{detail}");
    assert!(app.twilio.messages().is_empty());
    assert!(conversation(&app, "acme", DANA).await.is_empty());
    // Another organization's record of the person is its own: other may text them.
    let sent = text(
        &app,
        &app.other,
        &json!({"to": DANA, "body": "Hi from Other"}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);

    set_opted_out(&app, "acme", DANA, false).await;
    let sent = text(&app, &app.admin, &json!({"to": DANA, "body": "Hello"})).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
}

async fn a_send_is_refused_clearly_when_it_cannot_be_made(app: App) {
    let viewer = text(&app, &app.viewer, &json!({"to": DANA, "body": "x"})).await;
    viewer.problem(StatusCode::FORBIDDEN);
    let bad_to = text(&app, &app.admin, &json!({"to": "555-0100", "body": "x"})).await;
    assert!(bad_to.problem(StatusCode::BAD_REQUEST).starts_with("to:"));
    let empty = text(&app, &app.admin, &json!({"to": DANA, "body": "  "})).await;
    empty.problem(StatusCode::BAD_REQUEST);
    // Another organization's number is not acme's to send from.
    let theirs = text(
        &app,
        &app.admin,
        &json!({"to": DANA, "body": "x", "from": "+14155550199"}),
    )
    .await;
    let detail = theirs.problem(StatusCode::BAD_REQUEST);
    assert!(detail.contains("+14155550199"), "{detail}");
    let too_long = text(
        &app,
        &app.admin,
        &json!({"to": DANA, "body": "x ".repeat(9000)}),
    )
    .await;
    too_long.problem(StatusCode::BAD_REQUEST);
    let unknown = text(
        &app,
        &app.admin,
        &json!({"to": DANA, "body": "x", "cc": "y"}),
    )
    .await;
    unknown.problem(StatusCode::BAD_REQUEST);
    assert!(app.twilio.messages().is_empty());
    // Twilio failing is a 502 in words, and nothing is stored as sent.
    app.twilio.fail_next(1, 500);
    let failed = text(&app, &app.admin, &json!({"to": DANA, "body": "x"})).await;
    failed.problem(StatusCode::BAD_GATEWAY);
    assert!(conversation(&app, "acme", DANA).await.is_empty());
}

async fn two_organizations_texting_one_person_keep_separate_conversations(app: App) {
    let a = text(
        &app,
        &app.admin,
        &json!({"to": DANA, "body": "Acme: your crown is ready"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let o = text(
        &app,
        &app.other,
        &json!({"to": DANA, "body": "Other: your order shipped"}),
    )
    .await;
    assert_eq!(o.status, StatusCode::CREATED, "{}", o.text);
    let acme: Vec<String> = conversation(&app, "acme", DANA)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    let other: Vec<String> = conversation(&app, "other", DANA)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(acme, ["Acme: your crown is ready"]);
    assert_eq!(other, ["Other: your order shipped"]);
    let accounts: Vec<String> = app
        .twilio
        .messages()
        .into_iter()
        .map(|m| m.account)
        .collect();
    assert_eq!(
        accounts,
        [
            hotline_testkit::webhook::ACCOUNT,
            hotline_testkit::webhook::OTHER_ACCOUNT
        ]
    );
}
