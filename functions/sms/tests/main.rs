//! Incoming texts as Twilio posts them: signed forms in, TwiML out, on the local store
//! and on DynamoDB (moto), with OpenAI's chat completions played by the simulator.

use std::time::Duration;

use hotline_core::ids::{AgentId, E164, MessageSid, OrgId};
use hotline_core::model::{
    Agent, AnalysisResult, CallLimits, Channel, Contact, PhoneNumber, Provider, TodoItem,
};
use hotline_core::routes;
use hotline_llm::OpenAiRest;
use hotline_sim::openai_rest::{CHAT_COMPLETIONS, FakeOpenAi};
use hotline_sms::{Deps, handle};
use hotline_testkit::store::TestStore;
use hotline_testkit::webhook::{
    self, ACCOUNT, OTHER_ACCOUNT, OTHER_TOKEN, PUBLIC, TOKEN, call, config, seed_orgs, signed_post,
    t, text, url,
};
use lambda_http::Request;
use lambda_http::http::StatusCode;

mod delivery;
mod late;

const KEY: &str = "sk-test-sms";
/// acme's number, texts answered by `front-desk`.
const ACME: &str = "+14155550111";
/// acme's number with texts off and a disabled message.
const ACME_OFF: &str = "+14155550122";
/// acme's number with texts off and nothing to say.
const ACME_SILENT: &str = "+14155550133";
/// other's number.
const OTHER: &str = "+14155550144";
/// The person texting.
const DANA: &str = "+14155550100";

struct App {
    deps: Deps,
    stores: TestStore,
    openai: FakeOpenAi,
    /// Twilio's REST API: takes the answers texted late.
    twilio: hotline_sim::twilio_rest::FakeTwilio,
}

fn agent(org: &str, instructions: &str) -> Agent {
    Agent {
        org: OrgId::parse(org).expect("org"),
        id: AgentId::parse("front-desk").expect("agent"),
        name: "Front desk".into(),
        instructions: instructions.into(),
        voice: "marin".into(),
        greeting: None,
        voicemail_message: None,
        enabled: true,
        provider: Provider::OpenaiRealtime,
        model: "gpt-realtime".into(),
        tools: vec![],
        analyzers: vec![],
        limits: CallLimits::default(),
        fallback: None,
        pipeline: None,
        version: 0,
    }
}

fn number(n: &str, org: &str, sms: bool, disabled: Option<&str>) -> PhoneNumber {
    PhoneNumber {
        number: phone(n),
        org: OrgId::parse(org).expect("org"),
        agent: AgentId::parse("front-desk").expect("agent"),
        enabled: true,
        sms,
        sms_agent: None,
        sms_disabled_message: disabled.map(str::to_owned),
        analyzers: Vec::new(),
        version: 0,
    }
}

fn phone(n: &str) -> E164 {
    E164::parse(n).expect("phone")
}

async fn app(stores: TestStore) -> App {
    seed_orgs(&stores).await;
    let d = &stores.directory;
    d.put_agent(&agent("acme", "You are Acme Dental's front desk."))
        .await
        .expect("agent");
    d.put_agent(&agent("other", "You are Other Corp's help line."))
        .await
        .expect("agent");
    for n in [
        number(ACME, "acme", true, None),
        number(
            ACME_OFF,
            "acme",
            false,
            Some("Texts are off <here> & now; call us 📞"),
        ),
        number(ACME_SILENT, "acme", false, None),
        number(OTHER, "other", true, None),
    ] {
        d.put_number(&n).await.expect("number");
    }
    let openai = FakeOpenAi::start(KEY).await.expect("fake openai");
    let twilio = hotline_sim::twilio_rest::FakeTwilio::start()
        .await
        .expect("fake twilio");
    twilio.add_account(ACCOUNT, TOKEN);
    twilio.add_account(OTHER_ACCOUNT, OTHER_TOKEN);
    // Nobody listens at the public URL: the tests post delivery reports themselves.
    twilio.set_message_statuses(&[]);
    let texts = hotline_twilio::messages::TwilioTexts(hotline_twilio::rest::TwilioClient::new(
        twilio.base_url(),
        reqwest::Client::new(),
    ));
    let llm = OpenAiRest::new(
        openai.base_url(),
        KEY.to_owned().into(),
        reqwest::Client::new(),
    );
    App {
        deps: Deps {
            config: config(PUBLIC),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            contacts: stores.contacts.clone(),
            messages: stores.messages.clone(),
            llm,
            model: "gpt-4.1-mini".into(),
            claim: Duration::from_secs(30),
            wait: Duration::from_secs(5),
            reply_budget: Duration::from_secs(10),
            texts: std::sync::Arc::new(texts),
        },
        stores,
        openai,
        twilio,
    }
}

async fn local_app() -> App {
    app(TestStore::local()).await
}

async fn aws_app() -> App {
    app(TestStore::aws().await).await
}

fn sid(n: u32) -> String {
    format!("SM{n:032x}")
}

/// An incoming SMS as Twilio posts it (twilio-webhooks.md §5).
fn sms(account: &str, n: u32, from: &str, to: &str, body: &str) -> Vec<(String, String)> {
    let sid = sid(n);
    webhook::form(&[
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", &sid),
        ("NumMedia", "0"),
        ("ToCity", "SAN FRANCISCO"),
        ("FromZip", "94105"),
        ("SmsSid", &sid),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", to),
        ("MessagingServiceSid", ""),
        ("ToZip", "94105"),
        ("NumSegments", "1"),
        ("MessageSid", &sid),
        ("AccountSid", account),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ])
}

fn signed(params: &[(String, String)], token: &str) -> Request {
    signed_post(&url(routes::SMS, ""), params, token)
}

/// Posts and returns the status and the `<Message>` text (unescaped), `None` for an
/// empty `<Response/>`.
async fn post(app: &App, req: Request) -> (StatusCode, Option<String>) {
    let resp = handle(&app.deps, req).await;
    let status = resp.status();
    let body = text(&resp);
    if status != StatusCode::OK {
        return (status, None);
    }
    assert_eq!(
        resp.headers()["content-type"],
        "text/xml; charset=utf-8",
        "{body}"
    );
    let body = body
        .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
        .expect("an XML document");
    if body == "<Response/>" {
        return (status, None);
    }
    let inner = body
        .strip_prefix("<Response><Message>")
        .and_then(|b| b.strip_suffix("</Message></Response>"))
        .unwrap_or_else(|| panic!("not one <Message>: {body}"));
    assert!(!inner.contains('<'), "unescaped markup: {inner}");
    let unescaped = inner
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#13;", "\r")
        .replace("&amp;", "&");
    (status, Some(unescaped))
}

async fn texted(app: &App, n: u32, body: &str) -> Option<String> {
    let (status, reply) = post(app, signed(&sms(ACCOUNT, n, DANA, ACME, body), TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    reply
}

fn chats(app: &App) -> usize {
    app.openai.count(CHAT_COMPLETIONS)
}

/// Everything the LLM was told in its last chat completion, one string.
fn last_prompt(app: &App) -> String {
    let requests = app.openai.requests();
    let last = requests.last().expect("a request");
    assert_eq!(last.path, CHAT_COMPLETIONS);
    last.messages
        .iter()
        .map(|(role, content)| format!("{role}: {content}"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn contact(app: &App, org: &str, n: &str) -> Option<Contact> {
    app.stores
        .contacts
        .get_contact(&OrgId::parse(org).expect("org"), &phone(n))
        .await
        .expect("get contact")
}

hotline_testkit::on_both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    local: local_app, aws: aws_app;
    a_signed_text_is_answered_and_stored_and_an_unsigned_one_writes_nothing,
    a_number_with_texts_off_answers_its_disabled_message_or_nothing,
    a_text_to_a_number_nobody_routes_is_not_answered,
    a_long_answer_is_cut_at_a_word_and_escaped,
    a_replayed_message_sid_gets_the_same_answer_from_one_llm_request,
    concurrent_retries_ask_the_llm_once,
    stop_opts_out_without_the_llm_and_start_opts_back_in,
    a_text_after_a_call_is_answered_knowing_the_call,
    two_organizations_texting_the_same_person_never_see_each_others_history,
    a_media_message_is_acknowledged,
    an_llm_failure_answers_502_and_twilios_retry_is_answered,
}

async fn a_signed_text_is_answered_and_stored_and_an_unsigned_one_writes_nothing(app: App) {
    let params = sms(ACCOUNT, 1, DANA, ACME, "Can I come in Tuesday?");
    let (status, _) = post(&app, webhook::post(&url(routes::SMS, ""), &params, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Signed by the other organization's token: not acme's.
    let (status, _) = post(&app, signed(&params, OTHER_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let tampered = webhook::post(
        &url(routes::SMS, ""),
        &webhook::with(params.clone(), "Body", "Something else"),
        Some(hotline_twilio::signature::compute(
            TOKEN,
            &url(routes::SMS, ""),
            &params,
        )),
    );
    let (status, _) = post(&app, tampered).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(chats(&app), 0);
    assert_eq!(contact(&app, "acme", DANA).await, None);
    let acme = OrgId::parse("acme").expect("org");
    let sid = MessageSid::parse(&sid(1)).expect("sid");
    assert_eq!(
        app.stores
            .messages
            .get_message(&acme, &sid)
            .await
            .expect("get"),
        None
    );

    let reply = texted(&app, 1, "Can I come in Tuesday?").await;
    assert_eq!(reply.as_deref(), Some("(simulated reply)"));
    assert_eq!(chats(&app), 1);
    assert!(last_prompt(&app).contains("You are Acme Dental's front desk."));
    assert!(last_prompt(&app).ends_with("user: Can I come in Tuesday?"));
    assert!(contact(&app, "acme", DANA).await.is_some());
    let stored = app
        .stores
        .messages
        .get_message(&acme, &sid)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(stored.body, "Can I come in Tuesday?");
    assert_eq!(stored.reply.as_deref(), Some("(simulated reply)"));
    assert_eq!(stored.claimed_until, None);

    // A malformed but signed text says which field.
    let bad = webhook::without(sms(ACCOUNT, 2, DANA, ACME, "hi"), "To");
    let resp = handle(&app.deps, signed(&bad, TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(text(&resp).contains("To"), "{}", text(&resp));
}

async fn a_number_with_texts_off_answers_its_disabled_message_or_nothing(app: App) {
    let (status, reply) = post(
        &app,
        signed(&sms(ACCOUNT, 1, DANA, ACME_OFF, "hello?"), TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reply.as_deref(),
        Some("Texts are off <here> & now; call us 📞")
    );
    let (status, reply) = post(
        &app,
        signed(&sms(ACCOUNT, 2, DANA, ACME_SILENT, "hello?"), TOKEN),
    )
    .await;
    assert_eq!((status, reply), (StatusCode::OK, None));
    assert_eq!(chats(&app), 0);
}

async fn a_text_to_a_number_nobody_routes_is_not_answered(app: App) {
    // Unknown to hotline, and another organization's number signed by acme.
    for to in ["+14155550999", OTHER] {
        let (status, reply) = post(&app, signed(&sms(ACCOUNT, 1, DANA, to, "hi"), TOKEN)).await;
        assert_eq!((status, reply), (StatusCode::OK, None), "{to}");
    }
    assert_eq!(chats(&app), 0);
    assert_eq!(contact(&app, "acme", DANA).await, None);
    assert_eq!(contact(&app, "other", DANA).await, None);
}

async fn a_long_answer_is_cut_at_a_word_and_escaped(app: App) {
    let sentence = "Tuesday at 3pm works <for sure> & we'll text you 😀 again. ";
    let long = sentence.repeat(60);
    assert!(long.chars().count() > 3000);
    app.openai.respond_text(long.clone());
    let reply = texted(&app, 1, "Is <b>Tuesday</b> & 3pm ok? 🦷")
        .await
        .expect("a reply");
    assert!(reply.chars().count() <= 1500, "{}", reply.chars().count());
    assert!(reply.chars().count() > 1400, "{}", reply.chars().count());
    assert!(long.starts_with(&reply));
    // Cut where a word ends, never inside one.
    let next = long[reply.len()..].chars().next().expect("more text");
    assert!(next.is_whitespace(), "cut before {next:?}");
    assert!(reply.contains("<for sure> & we'll text you 😀"));
    assert!(last_prompt(&app).ends_with("user: Is <b>Tuesday</b> & 3pm ok? 🦷"));
}

async fn a_replayed_message_sid_gets_the_same_answer_from_one_llm_request(app: App) {
    app.openai.respond_text("First answer");
    let first = texted(&app, 7, "Are you open Saturday?").await;
    assert_eq!(first.as_deref(), Some("First answer"));
    // Whatever the LLM would say now, the retry gets what was sent.
    app.openai.respond_text("A different answer");
    for _ in 0..3 {
        assert_eq!(texted(&app, 7, "Are you open Saturday?").await, first);
    }
    assert_eq!(chats(&app), 1);
}

async fn concurrent_retries_ask_the_llm_once(app: App) {
    app.openai.respond_text("Only once");
    let replies =
        futures_util::future::join_all((0..4).map(|_| texted(&app, 9, "Anyone there?"))).await;
    assert_eq!(replies, vec![Some("Only once".to_owned()); 4]);
    assert_eq!(chats(&app), 1);
}

async fn stop_opts_out_without_the_llm_and_start_opts_back_in(app: App) {
    assert!(texted(&app, 1, "hello").await.is_some());
    assert_eq!(chats(&app), 1);
    assert_eq!(texted(&app, 2, " stop ").await, None);
    assert!(
        contact(&app, "acme", DANA)
            .await
            .expect("contact")
            .sms_opted_out
    );
    // Opted out: a text is kept but not answered, and the LLM is not asked.
    assert_eq!(texted(&app, 3, "one more question").await, None);
    assert_eq!(chats(&app), 1);
    let acme = OrgId::parse("acme").expect("org");
    let kept = app
        .stores
        .messages
        .get_message(&acme, &MessageSid::parse(&sid(3)).expect("sid"))
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(kept.reply.as_deref(), Some(""));

    assert_eq!(texted(&app, 4, "START").await, None);
    assert!(
        !contact(&app, "acme", DANA)
            .await
            .expect("contact")
            .sms_opted_out
    );
    assert_eq!(chats(&app), 1);
    assert!(texted(&app, 5, "back again").await.is_some());
    assert_eq!(chats(&app), 2);

    // A stranger's first word being STOP still records them as opted out.
    let (status, reply) = post(
        &app,
        signed(&sms(ACCOUNT, 6, "+14155550177", ACME, "UNSUBSCRIBE"), TOKEN),
    )
    .await;
    assert_eq!((status, reply), (StatusCode::OK, None));
    assert!(
        contact(&app, "acme", "+14155550177")
            .await
            .expect("contact")
            .sms_opted_out
    );
    assert_eq!(chats(&app), 2);
}

async fn a_text_after_a_call_is_answered_knowing_the_call(app: App) {
    let mut earlier = call(&webhook::call_sid(1), "acme");
    earlier.from = hotline_core::Party::parse(DANA).expect("party");
    earlier.contact = Some(phone(DANA));
    earlier.ended_at = Some(t(95));
    earlier.post_call.analysis.insert(
        "summary".into(),
        AnalysisResult::Ok {
            value: serde_json::json!("Dana asked to move her cleaning to Tuesday afternoon."),
            at: t(200),
            blob_key: None,
        },
    );
    earlier.post_call.todos = Some(vec![TodoItem {
        title: "Confirm Tuesday 3pm with Dana".into(),
        due: None,
        assignee: None,
    }]);
    app.stores.calls.create_call(&earlier).await.expect("call");
    // Someone else's call to the same organization is not Dana's history.
    let mut other = call(&webhook::call_sid(2), "acme");
    other.from = hotline_core::Party::parse("+14155550188").expect("party");
    other.post_call.analysis.insert(
        "summary".into(),
        AnalysisResult::Ok {
            value: serde_json::json!("Someone else's root canal"),
            at: t(300),
            blob_key: None,
        },
    );
    app.stores.calls.create_call(&other).await.expect("call");
    let mut dana = Contact::new(OrgId::parse("acme").expect("org"), phone(DANA), t(0));
    dana.name = Some("Dana Lee".into());
    dana.notes = Some("2026-11-20: prefers afternoons".into());
    app.stores
        .contacts
        .create_contact(&dana)
        .await
        .expect("contact");

    assert!(
        texted(&app, 1, "Is my appointment confirmed?")
            .await
            .is_some()
    );
    let prompt = last_prompt(&app);
    for fact in [
        "Dana asked to move her cleaning to Tuesday afternoon.",
        "Confirm Tuesday 3pm with Dana",
        "Dana Lee",
        "prefers afternoons",
        "text message (SMS)",
    ] {
        assert!(prompt.contains(fact), "{fact:?} missing from:\n{prompt}");
    }
    assert!(!prompt.contains("root canal"), "{prompt}");

    // The next text sees the first one and its answer, oldest first.
    app.openai.respond_text("Yes, Tuesday 3pm.");
    assert!(texted(&app, 2, "Great, thanks").await.is_some());
    let turns: Vec<(String, String)> = app
        .openai
        .requests()
        .last()
        .expect("request")
        .messages
        .iter()
        .skip(1)
        .cloned()
        .collect();
    assert_eq!(
        turns,
        [
            ("user".to_owned(), "Is my appointment confirmed?".to_owned()),
            ("assistant".to_owned(), "(simulated reply)".to_owned()),
            ("user".to_owned(), "Great, thanks".to_owned()),
        ]
    );
    let thread = app
        .stores
        .messages
        .conversation(
            &OrgId::parse("acme").expect("org"),
            &phone(DANA),
            Channel::Sms,
            10,
        )
        .await
        .expect("thread");
    assert_eq!(thread.len(), 2);
}

async fn two_organizations_texting_the_same_person_never_see_each_others_history(app: App) {
    assert!(
        texted(&app, 1, "acme secret: my gate code is 4711")
            .await
            .is_some()
    );
    let (status, reply) = post(
        &app,
        signed(
            &sms(OTHER_ACCOUNT, 2, DANA, OTHER, "hi other corp"),
            OTHER_TOKEN,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(reply.is_some());
    let prompt = last_prompt(&app);
    assert!(prompt.contains("Other Corp"), "{prompt}");
    assert!(!prompt.contains("4711"), "{prompt}");
    assert!(!prompt.contains("Acme"), "{prompt}");

    assert!(texted(&app, 3, "acme again").await.is_some());
    let prompt = last_prompt(&app);
    assert!(prompt.contains("4711"), "{prompt}");
    assert!(!prompt.contains("hi other corp"), "{prompt}");
    // One contact per organization.
    assert!(contact(&app, "acme", DANA).await.is_some());
    assert!(contact(&app, "other", DANA).await.is_some());
}

async fn a_media_message_is_acknowledged(app: App) {
    let mms_sid = "MM0123456789abcdef0123456789abcdef";
    let mut params = webhook::with(sms(ACCOUNT, 1, DANA, ACME, ""), "NumMedia", "1");
    for field in ["MessageSid", "SmsMessageSid", "SmsSid"] {
        params = webhook::with(params, field, mms_sid);
    }
    params.push(("MediaContentType0".into(), "image/jpeg".into()));
    params.push((
        "MediaUrl0".into(),
        format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{mms_sid}/Media/ME0123456789abcdef0123456789abcdef"),
    ));
    let (status, reply) = post(&app, signed(&params, TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply.as_deref(), Some("(simulated reply)"));
    assert!(
        last_prompt(&app).contains("attachment"),
        "{}",
        last_prompt(&app)
    );
    // Malformed counts are taken as none, never a crash.
    let odd = webhook::with(sms(ACCOUNT, 2, DANA, ACME, "pic"), "NumMedia", "-3");
    let (status, _) = post(&app, signed(&odd, TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn an_llm_failure_answers_502_and_twilios_retry_is_answered(app: App) {
    app.openai.fail_next(1, 500);
    let params = sms(ACCOUNT, 4, DANA, ACME, "Still there?");
    let (status, _) = post(&app, signed(&params, TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    // The claim was released: the retry answers at once instead of waiting it out.
    let started = std::time::Instant::now();
    let (status, reply) = post(&app, signed(&params, TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply.as_deref(), Some("(simulated reply)"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(chats(&app), 2);
}
