//! The voice webhook as Twilio drives it: signed form posts in, TwiML out, records
//! written exactly once.

use std::sync::Arc;

use hotline_core::ids::{AgentId, CallSid, E164, OrgId};
use hotline_core::model::{
    Agent, CallLimits, CallStatus, Direction, PhoneNumber, Provider, StreamNodeStatus,
};
use hotline_core::routes;
use hotline_store::Stores;
use hotline_testkit::store::TestStore;
use hotline_testkit::webhook::{
    ACCOUNT, CALL, OTHER_ACCOUNT, OTHER_TOKEN, PUBLIC, TOKEN, api_gateway_event,
    api_gateway_request, call_sid, post, seed_orgs, signed_post, text, url,
};
use hotline_twilio::signature;
use hotline_twilio::twiml_read::{self, Element};
use hotline_voice::{Deps, STREAM_LOST, VoiceConfig, handle};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request};

const NUMBER: &str = "+14155550111";
const CALLER: &str = "+14155550100";

struct App {
    deps: Deps,
    stores: TestStore,
}

fn agent(id: &str, greeting: Option<&str>, enabled: bool) -> Agent {
    Agent {
        org: OrgId::parse("acme").expect("org"),
        id: AgentId::parse(id).expect("agent"),
        name: "Front desk".into(),
        instructions: "Help callers book appointments.".into(),
        voice: "marin".into(),
        greeting: greeting.map(str::to_owned),
        voicemail_message: None,
        enabled,
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

async fn seed(stores: &Stores) {
    seed_orgs(stores).await;
    let d = &stores.directory;
    d.put_agent(&agent("front-desk", Some("Thanks for calling Acme."), true))
        .await
        .expect("agent");
    d.put_agent(&agent("closed", None, false))
        .await
        .expect("agent");
    d.put_agent(&agent(
        "hostile",
        Some("</Say><Dial>+19005550000</Dial><Say>"),
        true,
    ))
    .await
    .expect("agent");
    for (number, agent) in [
        (NUMBER, "front-desk"),
        ("+14155550122", "closed"),
        ("+14155550133", "hostile"),
    ] {
        d.put_number(&PhoneNumber {
            number: E164::parse(number).expect("number"),
            org: OrgId::parse("acme").expect("org"),
            agent: AgentId::parse(agent).expect("agent"),
            enabled: true,
            sms: true,
            sms_agent: None,
            sms_disabled_message: None,
            analyzers: Vec::new(),
            version: 0,
        })
        .await
        .expect("number");
    }
}

async fn app(stores: TestStore, public: &str) -> App {
    seed(&stores).await;
    App {
        deps: Deps {
            config: VoiceConfig::from_lookup(|k| match k {
                "HOTLINE_PUBLIC_URL" => Some(public.to_owned()),
                "HOTLINE_STREAM_PUBLIC_URL" => Some("wss://stream.example.com".to_owned()),
                _ => None,
            })
            .expect("config"),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            contacts: stores.contacts.clone(),
            dials: stores.dials.clone(),
            nodes: stores.nodes.clone(),
            prewarm: Some(hotline_voice::Prewarmer::new()),
        },
        stores,
    }
}

async fn local_app() -> App {
    app(TestStore::local(), PUBLIC).await
}

fn form(call: &str, to: &str, direction: &str) -> Vec<(String, String)> {
    hotline_testkit::webhook::form(&[
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call),
        ("CallStatus", "ringing"),
        ("Called", to),
        ("Caller", CALLER),
        ("Direction", direction),
        ("From", CALLER),
        ("To", to),
        ("FromCity", "SAN FRANCISCO"),
    ])
}

/// A post to the voice webhook, `query` (without its `?`) on its URL.
fn request(query: &str, params: &[(String, String)], signature: Option<String>) -> Request {
    post(&url(routes::VOICE, query), params, signature)
}

fn signed(query: &str, params: &[(String, String)], token: &str) -> Request {
    signed_post(&url(routes::VOICE, query), params, token)
}

fn parse_twiml(xml: &str) -> Element {
    twiml_read::parse(xml).expect("well-formed TwiML")
}

#[tokio::test]
async fn signed_inbound_call_is_recorded_greeted_and_streamed() {
    let app = local_app().await;
    let sid = call_sid(1);
    let resp = handle(&app.deps, signed("", &form(&sid, NUMBER, "inbound"), TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/xml")
    );
    let twiml = parse_twiml(&text(&resp));
    assert_eq!(twiml.name, "Response");
    assert_eq!(
        twiml.child_names(),
        ["Start", "Say", "Connect", "Say", "Hangup"]
    );
    // Twilio goes on after </Connect> when the stream is refused or drops: the caller
    // hears why rather than a silent hang-up.
    assert_eq!(twiml.children[3].text, STREAM_LOST);
    let recording = twiml.all_named("Recording");
    assert_eq!(recording.len(), 1);
    assert_eq!(
        recording[0].attr("recordingStatusCallback"),
        Some("https://api.example.com/twilio/recording")
    );
    assert_eq!(recording[0].attr("channels"), Some("mono"));
    assert_eq!(twiml.all_named("Say")[0].text, "Thanks for calling Acme.");
    let stream = twiml.all_named("Stream");
    assert_eq!(stream.len(), 1);
    assert_eq!(
        stream[0].attr("url"),
        Some("wss://stream.example.com/twilio/stream")
    );
    let params: Vec<(&str, &str)> = stream[0]
        .all_named("Parameter")
        .iter()
        .map(|p| {
            (
                p.attr("name").expect("name"),
                p.attr("value").expect("value"),
            )
        })
        .collect();
    let call = app
        .stores
        .calls
        .get_call(&CallSid::parse(&sid).expect("sid"))
        .await
        .expect("get")
        .expect("call recorded");
    assert_eq!(
        params,
        [
            ("call_sid", sid.as_str()),
            ("from", CALLER),
            ("to", NUMBER),
            ("agent_id", "front-desk"),
            ("stream_token", call.stream_token.as_str()),
        ]
    );
    assert_eq!(call.org.as_str(), "acme");
    assert_eq!(call.agent.as_str(), "front-desk");
    assert_eq!(call.direction, Direction::Inbound);
    assert_eq!(call.status, CallStatus::Ringing);
    assert_eq!(call.contact.as_ref().map(E164::as_str), Some(CALLER));
    assert_eq!(call.stream_token.len(), 32);
    let contact = app
        .stores
        .contacts
        .get_contact(&call.org, &E164::parse(CALLER).expect("e164"))
        .await
        .expect("get")
        .expect("contact created");
    assert_eq!(contact.last_call, Some(call.sid));
}

#[tokio::test]
async fn a_retried_webhook_gets_the_same_twiml_and_creates_nothing_new() {
    let app = local_app().await;
    let sid = call_sid(2);
    let params = form(&sid, NUMBER, "inbound");
    let first = handle(&app.deps, signed("", &params, TOKEN)).await;
    let second = handle(&app.deps, signed("", &params, TOKEN)).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(text(&first), text(&second));
    let org = OrgId::parse("acme").expect("org");
    let calls = app.stores.calls.list_calls(&org, 10).await.expect("list");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].version, 1, "a retry must not rewrite the call");
    assert_eq!(
        app.stores
            .contacts
            .list_contacts(&org)
            .await
            .expect("list")
            .len(),
        1
    );
}

async fn assert_nothing_written(app: &App) {
    for org in ["acme", "other"] {
        let org = OrgId::parse(org).expect("org");
        assert!(
            app.stores
                .calls
                .list_calls(&org, 10)
                .await
                .expect("list")
                .is_empty()
        );
        assert!(
            app.stores
                .contacts
                .list_contacts(&org)
                .await
                .expect("list")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn unsigned_or_badly_signed_requests_get_403_and_write_nothing() {
    let app = local_app().await;
    let params = form(&call_sid(3), NUMBER, "inbound");
    let mut tampered = params.clone();
    tampered[2].1 = call_sid(4);
    let tampered_sig = signature::compute(TOKEN, &url(routes::VOICE, ""), &params);
    let mut unknown_account = params.clone();
    unknown_account[0].1 = "AC00000000000000000000000000000000".into();
    let cases = [
        ("no signature", request("", &params, None)),
        (
            "garbage signature",
            request("", &params, Some("not base64!".into())),
        ),
        ("tampered form", request("", &tampered, Some(tampered_sig))),
        ("other org's token", signed("", &params, OTHER_TOKEN)),
        ("query added after signing", {
            let sig = signature::compute(TOKEN, &url(routes::VOICE, ""), &params);
            request("agent_id=front-desk", &params, Some(sig))
        }),
        ("unknown account", signed("", &unknown_account, TOKEN)),
        ("no account", signed("", &params[1..], TOKEN)),
    ];
    for (case, req) in cases {
        let resp = handle(&app.deps, req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{case}");
        // One answer whatever the reason: a prober learns nothing about accounts or keys.
        assert_eq!(text(&resp), "Forbidden\n", "{case}");
    }
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn signed_but_malformed_webhooks_get_400_and_write_nothing() {
    let app = local_app().await;
    let mut no_call_sid = form(&call_sid(5), NUMBER, "inbound");
    no_call_sid.retain(|(k, _)| k != "CallSid");
    let mut bad_from = form(&call_sid(5), NUMBER, "inbound");
    bad_from[7].1 = "+1\n415".into();
    let mut bad_status = form(&call_sid(5), NUMBER, "inbound");
    bad_status[3].1 = "exploded".into();
    for (case, params, query) in [
        ("no CallSid", no_call_sid, ""),
        ("bad From", bad_from, ""),
        ("bad CallStatus", bad_status, ""),
    ] {
        let resp = handle(&app.deps, signed(query, &params, TOKEN)).await;
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "{case}: {}",
            text(&resp)
        );
    }
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn only_post_is_accepted() {
    let app = local_app().await;
    let mut req = signed("", &form(&call_sid(6), NUMBER, "inbound"), TOKEN);
    *req.method_mut() = Method::GET;
    assert_eq!(
        handle(&app.deps, req).await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn unknown_number_is_told_not_in_service_and_hung_up() {
    let app = local_app().await;
    let resp = handle(
        &app.deps,
        signed("", &form(&call_sid(7), "+14155550999", "inbound"), TOKEN),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let twiml = parse_twiml(&text(&resp));
    assert_eq!(twiml.child_names(), ["Say", "Hangup"]);
    assert!(twiml.all_named("Say")[0].text.contains("not in service"));
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn a_number_of_another_organization_is_not_in_service_for_this_account() {
    let app = local_app().await;
    let mut params = form(&call_sid(8), NUMBER, "inbound");
    params[0].1 = OTHER_ACCOUNT.into();
    let resp = handle(&app.deps, signed("", &params, OTHER_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(parse_twiml(&text(&resp)).child_names(), ["Say", "Hangup"]);
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn disabled_agent_apologises_and_hangs_up() {
    let app = local_app().await;
    let resp = handle(
        &app.deps,
        signed("", &form(&call_sid(9), "+14155550122", "inbound"), TOKEN),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let twiml = parse_twiml(&text(&resp));
    assert_eq!(twiml.child_names(), ["Say", "Hangup"]);
    assert!(twiml.all_named("Say")[0].text.starts_with("Sorry"));
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn a_hostile_greeting_is_spoken_not_obeyed() {
    let app = local_app().await;
    let resp = handle(
        &app.deps,
        signed("", &form(&call_sid(10), "+14155550133", "inbound"), TOKEN),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let twiml = parse_twiml(&text(&resp));
    assert!(twiml.all_named("Dial").is_empty());
    let says = twiml.all_named("Say");
    assert_eq!(
        says.len(),
        2,
        "the greeting, and the apology after </Connect>"
    );
    assert_eq!(says[0].text, "</Say><Dial>+19005550000</Dial><Say>");
    assert_eq!(says[1].text, STREAM_LOST);
}

/// A dial of `org` to `to` as the API stores it before asking Twilio.
async fn dial(app: &App, org: &str, to: &str, machine_detection: bool) -> String {
    let id = format!("dl_{}", uuid_hex());
    let dial = hotline_core::model::Dial {
        id: id.clone(),
        org: OrgId::parse(org).expect("org"),
        agent: AgentId::parse("front-desk").expect("agent"),
        from: E164::parse(NUMBER).expect("from"),
        to: E164::parse(to).expect("to"),
        variables: [("name".to_owned(), "Ada".to_owned())].into(),
        instructions: "Remind Ada of her visit.".into(),
        greeting: Some("Hi Ada, this is Acme & Co.".into()),
        voicemail_message: None,
        machine_detection,
        fingerprint: "f".into(),
        state: hotline_core::model::DialState::Pending,
        call_sid: None,
        error: None,
        retry: false,
        lead: None,
        created_at: chrono::Utc::now(),
        version: 0,
    };
    app.stores.dials.create_dial(&dial).await.expect("dial");
    id
}

fn uuid_hex() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{:032x}", N.fetch_add(1, Ordering::SeqCst) + 1)
}

/// An outbound call's form: From is our number, To the person called.
fn outbound(sid: &str, to: &str) -> Vec<(String, String)> {
    let mut params = form(sid, to, "outbound-api");
    params[7].1 = NUMBER.into();
    params[5].1 = NUMBER.into();
    params
}

#[tokio::test]
async fn an_outbound_call_is_answered_from_its_stored_dial_never_from_the_url_alone() {
    let app = local_app().await;
    let callee = "+14155550177";
    let id = dial(&app, "acme", callee, false).await;
    let sid = call_sid(11);
    let resp = handle(
        &app.deps,
        signed(&format!("call={id}"), &outbound(&sid, callee), TOKEN),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
    let twiml = parse_twiml(&text(&resp));
    assert_eq!(twiml.all_named("Say")[0].text, "Hi Ada, this is Acme & Co.");
    let call = app
        .stores
        .calls
        .get_call(&CallSid::parse(&sid).expect("sid"))
        .await
        .expect("get")
        .expect("recorded");
    assert_eq!(call.direction, Direction::OutboundApi);
    assert_eq!(call.contact.as_ref().map(E164::as_str), Some(callee));
    let out = call.outbound.expect("outbound");
    assert_eq!(out.dial, id);
    assert_eq!(out.instructions, "Remind Ada of her visit.");
    let stored = app
        .stores
        .dials
        .get_dial(&id)
        .await
        .expect("get")
        .expect("dial");
    assert_eq!(
        stored.call_sid.as_ref().map(CallSid::as_str),
        Some(sid.as_str())
    );

    // With detection on, Twilio says nothing: the agent greets once a person answers.
    let quiet = dial(&app, "acme", callee, true).await;
    let resp = handle(
        &app.deps,
        signed(
            &format!("call={quiet}"),
            &outbound(&call_sid(14), callee),
            TOKEN,
        ),
    )
    .await;
    let twiml = parse_twiml(&text(&resp));
    assert_eq!(twiml.child_names(), ["Start", "Connect", "Say", "Hangup"]);
    assert_eq!(twiml.all_named("Say")[0].text, STREAM_LOST);

    // Not in service: an agent named only in the URL, a dial to another number, a dial
    // already bound to another call, another organization's dial.
    let other_org = dial(&app, "other", callee, false).await;
    for (case, query, to, sid) in [
        (
            "agent in the URL",
            "agent_id=front-desk".to_owned(),
            callee,
            call_sid(12),
        ),
        (
            "another number",
            format!("call={id}"),
            "+14155550188",
            call_sid(15),
        ),
        (
            "bound to another call",
            format!("call={id}"),
            callee,
            call_sid(16),
        ),
        (
            "another organization's",
            format!("call={other_org}"),
            callee,
            call_sid(17),
        ),
        (
            "no such dial",
            format!("call=dl_{}", "f".repeat(32)),
            callee,
            call_sid(18),
        ),
    ] {
        let resp = handle(&app.deps, signed(&query, &outbound(&sid, to), TOKEN)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{case}");
        assert_eq!(
            parse_twiml(&text(&resp)).child_names(),
            ["Say", "Hangup"],
            "{case}"
        );
        assert!(
            app.stores
                .calls
                .get_call(&CallSid::parse(&sid).expect("sid"))
                .await
                .expect("get")
                .is_none(),
            "{case}: no record"
        );
    }
}

#[tokio::test]
async fn a_call_sid_of_another_organization_is_refused() {
    let app = local_app().await;
    let sid = call_sid(13);
    let resp = handle(&app.deps, signed("", &form(&sid, NUMBER, "inbound"), TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // The other org replays the CallSid with an outbound call to its own agent.
    app.stores
        .directory
        .put_agent(&Agent {
            org: OrgId::parse("other").expect("org"),
            ..agent("front-desk", None, true)
        })
        .await
        .expect("agent");
    let other_dial = dial(&app, "other", "+14155550177", false).await;
    let mut params = outbound(&sid, "+14155550177");
    params[0].1 = OTHER_ACCOUNT.into();
    let resp = handle(
        &app.deps,
        signed(&format!("call={other_dial}"), &params, OTHER_TOKEN),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(!text(&resp).contains("<Response"));
}

async fn api_gateway_event_is_answered(fixture: &str, public: &str) {
    let app = app(TestStore::local(), public).await;
    let event = api_gateway_event(fixture);
    let resp = handle(&app.deps, api_gateway_request(&event)).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
    assert!(
        matches!(resp.body(), Body::Text(_)),
        "TwiML must not be base64-encoded"
    );
    let twiml = parse_twiml(&text(&resp));
    assert_eq!(
        twiml.child_names(),
        ["Start", "Say", "Connect", "Say", "Hangup"]
    );
    let sid = CallSid::parse(CALL).expect("sid");
    assert!(
        app.stores
            .calls
            .get_call(&sid)
            .await
            .expect("get")
            .is_some()
    );
}

#[tokio::test]
async fn api_gateway_event_on_a_custom_domain_is_answered() {
    api_gateway_event_is_answered("voice-custom-domain", "https://api.example.com").await;
}

#[tokio::test]
async fn api_gateway_event_on_a_named_stage_is_answered() {
    api_gateway_event_is_answered(
        "voice-stage",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    )
    .await;
}

#[tokio::test]
async fn on_aws_a_signed_webhook_twice_makes_one_call_record() {
    let app = app(TestStore::aws().await, PUBLIC).await;
    let sid = call_sid(14);
    let params = form(&sid, NUMBER, "inbound");
    let first = handle(&app.deps, signed("", &params, TOKEN)).await;
    let second = handle(&app.deps, signed("", &params, TOKEN)).await;
    assert_eq!(first.status(), StatusCode::OK, "{}", text(&first));
    assert_eq!(text(&first), text(&second));
    let calls = app
        .stores
        .calls
        .list_calls(&OrgId::parse("acme").expect("org"), 10)
        .await
        .expect("list");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].sid.as_str(), sid);
    let unsigned = handle(
        &app.deps,
        request("", &form(&call_sid(15), NUMBER, "inbound"), None),
    )
    .await;
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.stores
            .calls
            .list_calls(&OrgId::parse("acme").expect("org"), 10)
            .await
            .expect("list")
            .len(),
        1
    );
}

#[test]
fn stores_are_shareable_across_tasks() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let stores = TestStore::local();
    let d: Arc<dyn hotline_core::ports::Directory> = Arc::clone(&stores.directory);
    assert_send_sync(&d);
}

fn node(id: &str, live: u32, draining: bool, heard_secs_ago: i64) -> StreamNodeStatus {
    StreamNodeStatus {
        id: id.into(),
        url: format!("wss://{id}.nodes.example.com"),
        live_calls: live,
        capacity: 10,
        draining,
        heartbeat_at: chrono::Utc::now() - chrono::Duration::seconds(heard_secs_ago),
        version: 0,
    }
}

async fn stream_url_of(app: &App, n: u32) -> String {
    let sid = call_sid(n);
    let resp = handle(&app.deps, signed("", &form(&sid, NUMBER, "inbound"), TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", text(&resp));
    parse_twiml(&text(&resp)).all_named("Stream")[0]
        .attr("url")
        .expect("url")
        .to_owned()
}

#[tokio::test]
async fn a_call_streams_to_the_least_loaded_node_that_takes_calls() {
    let app = local_app().await;
    for status in [
        node("busy", 6, false, 1),
        node("idle", 2, false, 1),
        node("draining", 0, true, 1),
        node("full", 10, false, 1),
        node("silent", 0, false, 60),
    ] {
        app.stores.nodes.report_node(&status).await.expect("report");
    }
    assert_eq!(
        stream_url_of(&app, 70).await,
        "wss://idle.nodes.example.com/twilio/stream"
    );
    // The idle node fills up past the busy one: the next call goes to the busy one.
    app.stores
        .nodes
        .report_node(&node("idle", 9, false, 0))
        .await
        .expect("report");
    assert_eq!(
        stream_url_of(&app, 71).await,
        "wss://busy.nodes.example.com/twilio/stream"
    );
}

#[tokio::test]
async fn with_no_node_taking_calls_the_stream_goes_to_the_shared_url() {
    let app = local_app().await;
    assert_eq!(
        stream_url_of(&app, 72).await,
        "wss://stream.example.com/twilio/stream",
        "empty registry"
    );
    for status in [
        node("draining", 0, true, 1),
        node("full", 10, false, 1),
        node("silent", 0, false, 60),
    ] {
        app.stores.nodes.report_node(&status).await.expect("report");
    }
    assert_eq!(
        stream_url_of(&app, 73).await,
        "wss://stream.example.com/twilio/stream",
        "no node takes calls"
    );
}
