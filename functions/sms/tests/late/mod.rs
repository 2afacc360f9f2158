//! An answer later than the reply budget: Twilio gets an empty `<Response/>`, the
//! answer leaves once through Twilio's Messages API, and a retry sends nothing more.

use hotline_core::model::MessageDirection;

use super::*;

const ANSWER: &str = "Yes, there is free parking behind the building.";

fn late_deps(app: &App) -> Deps {
    Deps {
        reply_budget: Duration::from_millis(200),
        ..app.deps.clone()
    }
}

/// The TwiML's `<Message>`, `None` for an empty `<Response/>`.
async fn answer(deps: &Deps, n: u32, body: &str) -> Option<String> {
    let resp = handle(deps, signed(&sms(ACCOUNT, n, DANA, ACME, body), TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
    let body = text(&resp);
    let body = body
        .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
        .expect("an XML document");
    body.strip_prefix("<Response><Message>")
        .and_then(|b| b.strip_suffix("</Message></Response>"))
        .map(str::to_owned)
}

hotline_testkit::on_both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    local: local_app, aws: aws_app;
    a_late_answer_is_texted_once_through_the_messages_api,
    a_late_answer_to_someone_who_opted_out_meanwhile_is_not_sent,
}

async fn a_late_answer_is_texted_once_through_the_messages_api(app: App) {
    let deps = late_deps(&app);
    app.openai.respond_text(ANSWER);
    app.openai.delay(Some(Duration::from_millis(800)));
    assert_eq!(answer(&deps, 1, "Is there parking?").await, None);
    let texted = app.twilio.messages();
    assert_eq!(texted.len(), 1, "{texted:?}");
    assert_eq!(texted[0].body, ANSWER);
    assert_eq!(
        (texted[0].to.as_str(), texted[0].from.as_str()),
        (DANA, ACME)
    );
    assert_eq!(texted[0].account, ACCOUNT);
    assert_eq!(
        texted[0].status_callback.as_deref(),
        Some(url(routes::SMS_STATUS, "").as_str())
    );
    // The text records its answer as texted; the answer is in the conversation once.
    let acme = OrgId::parse("acme").expect("org");
    let inbound = app
        .stores
        .messages
        .get_message(&acme, &MessageSid::parse(&sid(1)).expect("sid"))
        .await
        .expect("get")
        .expect("stored");
    assert!(inbound.reply_texted);
    assert_eq!(inbound.reply.as_deref(), Some(ANSWER));
    let thread = app
        .stores
        .messages
        .conversation(&acme, &phone(DANA), Channel::Sms, 10)
        .await
        .expect("conversation");
    let outbound: Vec<_> = thread
        .iter()
        .filter(|m| m.direction == MessageDirection::Outbound)
        .collect();
    assert_eq!(outbound.len(), 1);
    assert_eq!(outbound[0].sid.as_str(), texted[0].sid);

    // Twilio's retry of the same MessageSid: nothing in the TwiML, nothing texted, the
    // LLM not asked again.
    assert_eq!(answer(&deps, 1, "Is there parking?").await, None);
    assert_eq!(app.twilio.messages().len(), 1);
    assert_eq!(chats(&app), 1);

    // The next text is answered in time, in the TwiML, and its prompt holds the late
    // answer once (as the texted message, not again as the first text's reply).
    app.openai.delay(None);
    app.openai.respond_text("See you then.");
    assert_eq!(
        answer(&deps, 2, "Thanks!").await.as_deref(),
        Some("See you then.")
    );
    assert_eq!(
        last_prompt(&app).matches(ANSWER).count(),
        1,
        "{}",
        last_prompt(&app)
    );
    assert_eq!(app.twilio.messages().len(), 1);
}

async fn a_late_answer_to_someone_who_opted_out_meanwhile_is_not_sent(app: App) {
    let deps = late_deps(&app);
    app.openai.respond_text(ANSWER);
    app.openai.delay(Some(Duration::from_millis(800)));
    let first = tokio::spawn({
        let deps = deps.clone();
        async move { answer(&deps, 1, "Is there parking?").await }
    });
    // STOP arrives while the answer is being made.
    app.openai
        .wait_for(|r| r.path == CHAT_COMPLETIONS, Duration::from_secs(5))
        .await
        .expect("the LLM was asked");
    assert_eq!(answer(&deps, 2, "STOP").await, None);
    assert_eq!(first.await.expect("first"), None);
    assert!(
        app.twilio.messages().is_empty(),
        "texted an opted-out person"
    );
}
