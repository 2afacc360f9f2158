//! The API as a machine uses it: bearer keys, JSON in and out, problem+json errors, one
//! organization never seeing another's records; every store case on the local store and
//! on DynamoDB (moto).

use chrono::Utc;
use hotline_api::{Deps, ROUTES, handle};
use hotline_core::ids::{AgentId, CallSid, E164, OrgId};
use hotline_core::model::JobClaim;
use hotline_core::model::{
    ApiKey, CallStatus, Direction, PhoneNumber, Role, Speaker, Stage, StageState, StageStatus, Turn,
};
use hotline_testkit::store::TestStore;
use hotline_testkit::webhook::{OTHER_TOKEN, TOKEN, call, call_sid, seed_orgs, t};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request};
use secrecy::SecretString;
use serde_json::{Value, json};

mod console;
mod people;

const STREAM_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec-acme-0000000000000000";
const CLAIM_TOKEN: &str = "claim-token-5555555555555555";

mod messages;

struct App {
    deps: Deps,
    stores: TestStore,
    /// The Twilio REST simulator: it takes the texts sent and the API's Twilio calls.
    twilio: hotline_sim::twilio_rest::FakeTwilio,
    /// acme's admin, acme's viewer, a revoked acme key, other's admin.
    admin: String,
    viewer: String,
    revoked: String,
    other: String,
}

fn org(id: &str) -> OrgId {
    OrgId::parse(id).expect("org")
}

fn agent_json(id: &str, instructions: &str) -> Value {
    json!({
        "id": id,
        "provider": "openai_realtime",
        "instructions": instructions,
        "voice": "marin",
        "greeting": "Hello!",
        "tools": [{"name": "end_call", "type": "end_call"},
                  {"name": "transfer", "type": "transfer_call", "to": "+14155550123"}],
        "analyzers": [{"name": "summary", "prompt": "Summarize", "schema": {"type": "string"}}],
        "limits": {"max_duration_secs": 600},
    })
}

async fn key(stores: &TestStore, org_id: &str, role: Role) -> (ApiKey, String) {
    let (record, secret) = ApiKey::issue(org(org_id), "test".into(), role, Utc::now());
    let stored = stores.api_keys.create_api_key(&record).await.expect("key");
    (stored, secret)
}

async fn app(stores: TestStore) -> App {
    seed_orgs(&stores).await;
    let d = &stores.directory;
    let mut acme = d.get_org(&org("acme")).await.expect("get").expect("acme");
    acme.settings.report_webhook_url = Some("https://hooks.example.com/x".into());
    acme.settings.report_webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
    d.put_org(&acme).await.expect("org");
    for (o, id) in [
        ("acme", "front-desk"),
        ("acme", "after-hours"),
        ("other", "sales"),
    ] {
        let agent =
            hotline_config::agent_from_json(&org(o), agent_json(id, "Be kind.")).expect("agent");
        d.put_agent(&hotline_core::model::Agent {
            version: 1,
            ..agent
        })
        .await
        .expect("put agent");
    }
    for (o, n, a) in [
        ("acme", "+14155550111", "front-desk"),
        ("acme", "+14155550112", "after-hours"),
        ("other", "+14155550199", "sales"),
    ] {
        d.put_number(&PhoneNumber {
            number: E164::parse(n).expect("e164"),
            org: org(o),
            agent: AgentId::parse(a).expect("agent"),
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
    // acme: calls 1..=5, a second apart, 5 the newest; 4 is outbound and completed.
    for n in 1..=5u32 {
        let mut c = call(&call_sid(n), "acme");
        c.started_at = t(i64::from(n));
        c.stream_token = STREAM_TOKEN.into();
        if n == 4 {
            c.direction = Direction::OutboundApi;
            c.status = CallStatus::Completed;
            c.agent = AgentId::parse("after-hours").expect("agent");
        }
        if n == 1 {
            c.post_call.job = Some(JobClaim {
                key: "job".into(),
                token: CLAIM_TOKEN.into(),
                claimed_at: t(100),
                enqueued_at: None,
                message_id: None,
            });
            c.post_call.stages.insert(
                Stage::Transcript,
                StageState {
                    status: StageStatus::Done,
                    at: t(120),
                    error: None,
                    detail: None,
                },
            );
        }
        stores.calls.create_call(&c).await.expect("call");
    }
    let one = CallSid::parse(&call_sid(1)).expect("sid");
    for (seq, speaker, text) in [
        (0, Speaker::Agent, "Hello!"),
        (1, Speaker::Caller, "Hi there"),
    ] {
        stores
            .calls
            .append_turn(
                &one,
                &Turn {
                    seq,
                    speaker,
                    text: text.into(),
                    offset_ms: u64::from(seq) * 1000,
                },
            )
            .await
            .expect("turn");
    }
    stores
        .calls
        .create_call(&call(&call_sid(9), "other"))
        .await
        .expect("other call");

    let (_, admin) = key(&stores, "acme", Role::Admin).await;
    let (_, viewer) = key(&stores, "acme", Role::Viewer).await;
    let (revoked_key, revoked) = key(&stores, "acme", Role::Owner).await;
    stores
        .api_keys
        .revoke_api_key(&org("acme"), &revoked_key.id, Utc::now())
        .await
        .expect("revoke");
    let (_, other) = key(&stores, "other", Role::Owner).await;
    let links: std::sync::Arc<dyn hotline_core::ports::BlobLinks> = match &stores.aws {
        Some(aws) => std::sync::Arc::new(hotline_store::aws::S3Blobs::new(
            hotline_store::aws::s3_client(&aws.sdk),
            &aws.bucket,
        )),
        None => std::sync::Arc::new(hotline_store::local::SignedLinks::new(
            resources::LINK_BASE,
            resources::LINK_SECRET.to_vec(),
        )),
    };
    let twilio = fake_twilio().await;
    // No status callbacks: nothing listens at the public URL here (functions/sms tests them).
    twilio.set_message_statuses(&[]);
    App {
        deps: Deps::new(
            &stores,
            hotline_api::AuthSettings::default(),
            std::sync::Arc::new(hotline_twilio::messages::TwilioTexts(
                hotline_twilio::rest::TwilioClient::new(twilio.base_url(), reqwest::Client::new()),
            )),
            Some("https://api.example.com/twilio/sms/status".into()),
            links,
            setup(&twilio),
        ),
        stores,
        twilio,
        admin,
        viewer,
        revoked,
        other,
    }
}

async fn local_app() -> App {
    app(TestStore::local()).await
}

async fn aws_app() -> App {
    app(TestStore::aws().await).await
}

fn request(method: Method, uri: &str, key: Option<&str>, body: Option<&str>) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{uri}"));
    if let Some(key) = key {
        b = b.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if body.is_some() {
        b = b.header(header::CONTENT_TYPE, "application/json");
    }
    b.body(body.map_or(Body::Empty, |s| Body::Text(s.to_owned())))
        .expect("request")
}

struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    /// Asserts a problem+json document with this status, and returns its detail.
    fn problem(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.content_type, "application/problem+json");
        let p = self.json();
        assert_eq!(p["status"], status.as_u16());
        assert!(p["type"].is_string() && p["title"].is_string(), "{p}");
        p["detail"].as_str().expect("detail").to_owned()
    }
}

async fn send(app: &App, req: Request) -> Answer {
    let resp = handle(&app.deps, req).await;
    let text = match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    Answer {
        status: resp.status(),
        content_type: resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        text,
    }
}

async fn get(app: &App, uri: &str, key: &str) -> Answer {
    send(app, request(Method::GET, uri, Some(key), None)).await
}

async fn put(app: &App, uri: &str, key: &str, body: &Value) -> Answer {
    send(
        app,
        request(Method::PUT, uri, Some(key), Some(&body.to_string())),
    )
    .await
}

fn sids(page: &Value) -> Vec<String> {
    page["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["sid"].as_str().expect("sid").to_owned())
        .collect()
}

// ---------------------------------------------------------------- on both stores

hotline_testkit::on_both_stores! {
    local: local_app, aws: aws_app;
    every_endpoint_answers_its_happy_path,
    requests_without_a_valid_key_get_401,
    a_viewer_reads_but_cannot_write,
    another_organizations_agent_number_and_call_are_404,
    a_stale_agent_write_gets_409_and_so_does_a_write_apply_overtook,
    malformed_requests_get_a_clear_4xx_problem,
    calls_page_newest_first_through_filters_and_an_opaque_cursor,
    no_secret_appears_in_any_response,
    hostile_input_gets_a_4xx_never_a_panic,
    api_gateway_events_are_served_on_the_default_and_a_named_stage,
    contacts_are_searched_paged_read_and_edited_by_a_person,
    todos_are_filtered_paged_completed_and_assigned,
    a_viewer_reads_contacts_and_todos_but_cannot_change_them,
    another_organizations_contact_todo_and_call_links_are_404,
    requests_for_contacts_and_todos_without_a_valid_key_get_401,
    hostile_contact_and_todo_input_gets_a_4xx_never_a_panic,
    a_call_links_its_recording_and_transcript_for_a_few_minutes,
    a_number_stored_before_the_organization_index_is_listed_once_read,
    contact_and_todo_edits_leave_audit_entries,
    buying_a_number_sets_all_three_webhooks_and_routes_it_to_an_agent,
    a_subaccount_is_made_once_for_an_organization_on_the_main_account,
    an_explicit_subaccount_request_makes_one_and_is_for_writers,
    releasing_a_number_frees_it_on_twilio_and_in_the_store,
    twilio_status_says_connected_then_why_not,
    twilio_status_counts_every_page_of_numbers,
    concurrent_first_purchases_keep_one_subaccount_and_close_the_others,
    buying_refuses_clearly_when_nothing_matches_or_the_request_is_wrong,
    a_campaign_is_created_imported_counted_and_started_by_its_organization,
    a_campaign_with_wrong_settings_is_refused_with_a_clear_400,
    the_do_not_call_list_is_the_organizations_own,
}

mod resources;
use resources::{
    a_call_links_its_recording_and_transcript_for_a_few_minutes,
    a_number_stored_before_the_organization_index_is_listed_once_read,
    a_viewer_reads_contacts_and_todos_but_cannot_change_them,
    another_organizations_contact_todo_and_call_links_are_404,
    contact_and_todo_edits_leave_audit_entries,
    contacts_are_searched_paged_read_and_edited_by_a_person,
    hostile_contact_and_todo_input_gets_a_4xx_never_a_panic,
    requests_for_contacts_and_todos_without_a_valid_key_get_401,
    todos_are_filtered_paged_completed_and_assigned,
};

mod twilio;
use twilio::*;

mod campaigns;
use campaigns::*;

async fn every_endpoint_answers_its_happy_path(app: App) {
    let list = get(&app, "/api/v1/agents", &app.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.content_type, "application/json");
    let ids: Vec<_> = list.json()["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, ["after-hours", "front-desk"]);

    let one = get(&app, "/api/v1/agents/front-desk", &app.admin)
        .await
        .json();
    assert_eq!(one["instructions"], "Be kind.");
    assert_eq!(one["tools"][1]["to"], "+14155550123");
    assert_eq!(one["limits"]["max_duration_secs"], 600);
    assert_eq!(one["version"], 1);

    // What a GET gives, changed and sent back, is a valid write.
    let mut write = one.clone();
    write.as_object_mut().expect("object").remove("id");
    write["instructions"] = "Be brief.".into();
    let written = put(&app, "/api/v1/agents/front-desk", &app.admin, &write).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);
    assert_eq!(written.json()["version"], 2);
    let stored = app
        .stores
        .directory
        .get_agent(&org("acme"), &AgentId::parse("front-desk").expect("id"))
        .await
        .expect("get")
        .expect("agent");
    assert_eq!(
        (stored.instructions.as_str(), stored.version),
        ("Be brief.", 2)
    );

    // A warm transfer is written and read back in the file's names, and what a GET gives
    // is again a valid write.
    let mut warm = written.json();
    warm.as_object_mut().expect("object").remove("id");
    warm["tools"][1]["mode"] = "warm".into();
    warm["tools"][1]["ring_timeout_secs"] = 20.into();
    let written = put(&app, "/api/v1/agents/front-desk", &app.admin, &warm).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);
    let mut again = get(&app, "/api/v1/agents/front-desk", &app.admin)
        .await
        .json();
    assert_eq!(again["tools"][1]["mode"], "warm");
    assert_eq!(again["tools"][1]["ring_timeout_secs"], 20);
    again.as_object_mut().expect("object").remove("id");
    let rewritten = put(&app, "/api/v1/agents/front-desk", &app.admin, &again).await;
    assert_eq!(rewritten.status, StatusCode::OK, "{}", rewritten.text);

    let mut new = agent_json("night", "Take messages.");
    new.as_object_mut().expect("object").remove("id");
    new["version"] = 0.into();
    let created = put(&app, "/api/v1/agents/night", &app.admin, &new).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json()["model"], "gpt-realtime");

    let numbers = get(&app, "/api/v1/numbers", &app.admin).await.json();
    assert_eq!(
        numbers["numbers"],
        json!([
            {"number": "+14155550111", "agent": "front-desk", "enabled": true, "analyzers": []},
            {"number": "+14155550112", "agent": "after-hours", "enabled": true, "analyzers": []},
        ])
    );

    let calls = get(&app, "/api/v1/calls", &app.admin).await.json();
    assert_eq!(
        sids(&calls),
        (1..=5).rev().map(call_sid).collect::<Vec<_>>()
    );
    assert!(calls["next_cursor"].is_null());

    let detail = get(&app, &format!("/api/v1/calls/{}", call_sid(1)), &app.admin).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    let detail = detail.json();
    assert_eq!(detail["sid"], call_sid(1));
    assert_eq!(detail["turns"][1]["text"], "Hi there");
    assert_eq!(detail["turns"][1]["speaker"], "caller");
    assert_eq!(
        detail["post_call"]["stages"]["transcript"]["status"],
        "done"
    );

    let doc = send(
        &app,
        request(Method::GET, "/api/v1/openapi.json", None, None),
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.json()["openapi"], "3.1.0");
}

async fn requests_without_a_valid_key_get_401(app: App) {
    for uri in ["/api/v1/agents", "/api/v1/numbers", "/api/v1/calls"] {
        send(&app, request(Method::GET, uri, None, None))
            .await
            .problem(StatusCode::UNAUTHORIZED);
        get(
            &app,
            uri,
            "hk_0000000000000000000000000000000000000000000000000000000000000000",
        )
        .await
        .problem(StatusCode::UNAUTHORIZED);
        get(&app, uri, &app.revoked)
            .await
            .problem(StatusCode::UNAUTHORIZED);
        let basic = lambda_http::http::Request::builder()
            .uri(format!("https://api.example.com{uri}"))
            .header(header::AUTHORIZATION, format!("Basic {}", app.admin))
            .body(Body::Empty)
            .expect("request");
        send(&app, basic).await.problem(StatusCode::UNAUTHORIZED);
    }
    // A key revoked now stops working at once.
    let keys = app
        .stores
        .api_keys
        .list_api_keys(&org("acme"))
        .await
        .expect("list");
    let admin = keys
        .iter()
        .find(|k| k.hash == ApiKey::hash(&app.admin))
        .expect("admin key");
    assert_eq!(
        get(&app, "/api/v1/agents", &app.admin).await.status,
        StatusCode::OK
    );
    app.stores
        .api_keys
        .revoke_api_key(&org("acme"), &admin.id, Utc::now())
        .await
        .expect("revoke");
    get(&app, "/api/v1/agents", &app.admin)
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

async fn a_viewer_reads_but_cannot_write(app: App) {
    let one = get(&app, "/api/v1/agents/front-desk", &app.viewer).await;
    assert_eq!(one.status, StatusCode::OK);
    let mut write = one.json();
    write.as_object_mut().expect("object").remove("id");
    write["instructions"] = "Sell harder.".into();
    put(&app, "/api/v1/agents/front-desk", &app.viewer, &write)
        .await
        .problem(StatusCode::FORBIDDEN);
    let stored = get(&app, "/api/v1/agents/front-desk", &app.admin)
        .await
        .json();
    assert_eq!(stored["instructions"], "Be kind.");
}

async fn another_organizations_agent_number_and_call_are_404(app: App) {
    // acme's key on other's records, and other's key on acme's.
    get(&app, "/api/v1/agents/sales", &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    get(&app, "/api/v1/agents/after-hours", &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);
    get(&app, &format!("/api/v1/calls/{}", call_sid(9)), &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    get(&app, &format!("/api/v1/calls/{}", call_sid(1)), &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);
    let mut write = agent_json("after-hours", "Mine now.");
    write.as_object_mut().expect("object").remove("id");
    write["version"] = 1.into();
    put(&app, "/api/v1/agents/after-hours", &app.other, &write)
        .await
        .problem(StatusCode::NOT_FOUND);
    // Numbers and calls are listed per organization: neither sees the other's.
    let numbers = get(&app, "/api/v1/numbers", &app.other).await.json();
    assert_eq!(
        numbers["numbers"],
        json!([{"number": "+14155550199", "agent": "sales", "enabled": true, "analyzers": []}])
    );
    let calls = get(&app, "/api/v1/calls", &app.other).await.json();
    assert_eq!(sids(&calls), [call_sid(9)]);
    let acme = get(&app, "/api/v1/agents/after-hours", &app.admin)
        .await
        .json();
    assert_eq!(acme["instructions"], "Be kind.");
}

async fn a_stale_agent_write_gets_409_and_so_does_a_write_apply_overtook(app: App) {
    let mut first = get(&app, "/api/v1/agents/front-desk", &app.admin)
        .await
        .json();
    first.as_object_mut().expect("object").remove("id");
    let mut second = first.clone();
    first["voice"] = "cedar".into();
    assert_eq!(
        put(&app, "/api/v1/agents/front-desk", &app.admin, &first)
            .await
            .status,
        StatusCode::OK
    );
    second["voice"] = "sage".into();
    put(&app, "/api/v1/agents/front-desk", &app.admin, &second)
        .await
        .problem(StatusCode::CONFLICT);
    // Creating over an existing agent is a conflict too.
    second["version"] = 0.into();
    put(&app, "/api/v1/agents/front-desk", &app.admin, &second)
        .await
        .problem(StatusCode::CONFLICT);

    // `hotline apply` changing the agent moves its version on: the API's copy is stale.
    let mut read = get(&app, "/api/v1/agents/front-desk", &app.admin)
        .await
        .json();
    read.as_object_mut().expect("object").remove("id");
    let yaml = format!(
        "organizations:\n- id: acme\n  twilio: {{account_sid: {}, auth_token: {TOKEN}}}\n  agents:\n  - id: front-desk\n    provider: openai_realtime\n    instructions: From the file.\n    voice: marin\n",
        hotline_testkit::webhook::ACCOUNT
    );
    let config = hotline_config::Config::parse(&yaml, &|_| None).expect("config");
    let plan = hotline_config::apply::plan(app.stores.directory.as_ref(), &config)
        .await
        .expect("plan");
    hotline_config::apply::apply(app.stores.directory.as_ref(), &plan)
        .await
        .expect("apply");
    put(&app, "/api/v1/agents/front-desk", &app.admin, &read)
        .await
        .problem(StatusCode::CONFLICT);
    let now = get(&app, "/api/v1/agents/front-desk", &app.admin)
        .await
        .json();
    assert_eq!(now["instructions"], "From the file.");
}

async fn malformed_requests_get_a_clear_4xx_problem(app: App) {
    let uri = "/api/v1/agents/front-desk";
    let raw = |body: &str| request(Method::PUT, uri, Some(&app.admin), Some(body));
    let detail = send(&app, raw("{\"version\": 1,"))
        .await
        .problem(StatusCode::BAD_REQUEST);
    assert!(detail.contains("body"), "{detail}");
    send(&app, raw("[]")).await.problem(StatusCode::BAD_REQUEST);
    send(&app, raw("\u{0}\u{ff}"))
        .await
        .problem(StatusCode::BAD_REQUEST);

    let mut good = get(&app, uri, &app.admin).await.json();
    good.as_object_mut().expect("object").remove("id");
    let mut unknown = good.clone();
    unknown["colour"] = "blue".into();
    let detail = put(&app, uri, &app.admin, &unknown)
        .await
        .problem(StatusCode::BAD_REQUEST);
    assert!(detail.contains("colour"), "{detail}");
    let mut limits = good.clone();
    limits["limits"] = json!({"max_duration_secs": 7200});
    let detail = put(&app, uri, &app.admin, &limits)
        .await
        .problem(StatusCode::BAD_REQUEST);
    assert!(detail.contains("max_duration_secs"), "{detail}");
    let mut tool = good.clone();
    tool["tools"] = json!([{"name": "x", "type": "transfer_call"}]);
    let detail = put(&app, uri, &app.admin, &tool)
        .await
        .problem(StatusCode::BAD_REQUEST);
    assert!(detail.contains("tools[0].to"), "{detail}");
    let mut provider = good.clone();
    provider["provider"] = "gemni".into();
    put(&app, uri, &app.admin, &provider)
        .await
        .problem(StatusCode::BAD_REQUEST);

    let mut no_type = request(Method::PUT, uri, Some(&app.admin), None);
    *no_type.body_mut() = Body::Text(good.to_string());
    send(&app, no_type)
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // The write that was refused changed nothing.
    assert_eq!(get(&app, uri, &app.admin).await.json()["version"], 1);

    for query in [
        "status=answered",
        "direction=sideways",
        "limit=0",
        "limit=1000",
        "limit=x",
        "from=yesterday",
        "cursor=%21%21",
        "cursor=bm9waXBl",
        "agent=%2E%2E",
    ] {
        get(&app, &format!("/api/v1/calls?{query}"), &app.admin)
            .await
            .problem(StatusCode::BAD_REQUEST);
    }
    get(&app, "/api/v1/agents/%00bad", &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    get(&app, "/api/v1/calls/CA1", &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    get(&app, "/api/v1/nothing", &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    send(
        &app,
        request(Method::DELETE, "/api/v1/agents", Some(&app.admin), None),
    )
    .await
    .problem(StatusCode::METHOD_NOT_ALLOWED);
}

async fn calls_page_newest_first_through_filters_and_an_opaque_cursor(app: App) {
    let first = get(&app, "/api/v1/calls?limit=2", &app.admin).await.json();
    assert_eq!(sids(&first), [call_sid(5), call_sid(4)]);
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let second = get(
        &app,
        &format!("/api/v1/calls?limit=2&cursor={cursor}"),
        &app.admin,
    )
    .await
    .json();
    assert_eq!(sids(&second), [call_sid(3), call_sid(2)]);
    let cursor = second["next_cursor"].as_str().expect("cursor");
    let last = get(
        &app,
        &format!("/api/v1/calls?limit=2&cursor={cursor}"),
        &app.admin,
    )
    .await
    .json();
    assert_eq!(sids(&last), [call_sid(1)]);
    assert!(last["next_cursor"].is_null());

    for (query, want) in [
        ("direction=outbound-api", vec![4]),
        ("status=completed", vec![4]),
        ("status=ringing&limit=2", vec![5, 3]),
        ("agent=front-desk", vec![5, 3, 2, 1]),
        ("agent=sales", vec![]),
    ] {
        let page = get(&app, &format!("/api/v1/calls?{query}"), &app.admin)
            .await
            .json();
        let want: Vec<_> = want.into_iter().map(call_sid).collect();
        assert_eq!(sids(&page), want, "{query}");
    }
    // from is inclusive, to exclusive.
    let (from, to) = (t(2).to_rfc3339(), t(4).to_rfc3339());
    let q = format!(
        "/api/v1/calls?from={}&to={}",
        from.replace('+', "%2B"),
        to.replace('+', "%2B")
    );
    let window = get(&app, &q, &app.admin).await.json();
    assert_eq!(sids(&window), [call_sid(3), call_sid(2)]);
}

async fn no_secret_appears_in_any_response(app: App) {
    let mut bodies = Vec::new();
    for uri in [
        "/api/v1/agents".to_owned(),
        "/api/v1/agents/front-desk".to_owned(),
        "/api/v1/numbers".to_owned(),
        "/api/v1/calls".to_owned(),
        format!("/api/v1/calls/{}", call_sid(1)),
        "/api/v1/openapi.json".to_owned(),
        "/api/v1/nothing".to_owned(),
    ] {
        let answer = get(&app, &uri, &app.admin).await;
        bodies.push(answer.text);
    }
    let key_hash = ApiKey::hash(&app.admin);
    for body in &bodies {
        for secret in [
            TOKEN,
            OTHER_TOKEN,
            WEBHOOK_SECRET,
            STREAM_TOKEN,
            CLAIM_TOKEN,
            &app.admin,
            &key_hash,
        ] {
            assert!(!body.contains(secret), "a secret in {body}");
        }
    }
    assert!(bodies[4].contains("Hi there"), "{}", bodies[4]);
}

async fn hostile_input_gets_a_4xx_never_a_panic(app: App) {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let long_path = format!("/api/v1/agents/{}", "a".repeat(10_000));
    let huge = format!("{{\"instructions\": \"{}\"}}", "x".repeat(1_000_000));
    for (method, uri, body) in [
        (Method::PUT, "/api/v1/agents/front-desk", deep.as_str()),
        (Method::PUT, "/api/v1/agents/front-desk", huge.as_str()),
        (Method::PUT, "/api/v1/agents/front-desk", "null"),
        (
            Method::PUT,
            "/api/v1/agents/front-desk",
            "{\"version\": -1}",
        ),
        (
            Method::PUT,
            "/api/v1/agents/front-desk",
            "{\"version\": 1e400}",
        ),
        (Method::GET, long_path.as_str(), ""),
        (Method::GET, "/api/v1/calls/%F0%9F%92%A5", ""),
        (Method::GET, "/api/v1/calls?cursor=%FF%FE&limit=%00", ""),
        (
            Method::GET,
            "/api/v1/calls?from=9999999-01-01T00:00:00Z",
            "",
        ),
        (Method::GET, "/api/v1//agents", ""),
        (Method::POST, "/api/v1/agents/front-desk", "{}"),
    ] {
        let answer = send(
            &app,
            request(method.clone(), uri, Some(&app.admin), Some(body)),
        )
        .await;
        assert!(
            answer.status.is_client_error(),
            "{method} {}: {} {}",
            uri.chars().take(60).collect::<String>(),
            answer.status,
            answer.text.chars().take(200).collect::<String>()
        );
        assert_eq!(answer.content_type, "application/problem+json");
    }
    let mut binary = request(
        Method::PUT,
        "/api/v1/agents/front-desk",
        Some(&app.admin),
        None,
    );
    binary.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("header"),
    );
    *binary.body_mut() = Body::Binary(vec![0xff, 0xfe, 0x00, 0x7b]);
    send(&app, binary).await.problem(StatusCode::BAD_REQUEST);
    let mut odd = request(Method::GET, "/api/v1/agents", None, None);
    odd.headers_mut().insert(
        header::AUTHORIZATION,
        lambda_http::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("header"),
    );
    send(&app, odd).await.problem(StatusCode::UNAUTHORIZED);
}

/// An API Gateway HTTP API (payload 2.0) event as Lambda delivers it: on a named stage
/// `rawPath` carries the stage, and `lambda_http` keeps it in the request's path.
fn api_gateway_event(stage: &str, path: &str, query: &str, key: &str) -> String {
    let raw_path = if stage == "$default" {
        path.to_owned()
    } else {
        format!("/{stage}{path}")
    };
    json!({
        "version": "2.0",
        "routeKey": "GET /api/v1/calls",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {key}"),
            "host": "abc123defg.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": "abc123defg.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123defg",
            "http": {
                "method": "GET",
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "GET /api/v1/calls",
            "stage": stage,
            "time": "20/Nov/2026:21:40:00 +0000",
            "timeEpoch": 1_795_210_800_000_u64,
        },
        "isBase64Encoded": false,
    })
    .to_string()
}

async fn api_gateway_events_are_served_on_the_default_and_a_named_stage(app: App) {
    for stage in ["$default", "prod"] {
        let event = api_gateway_event(
            stage,
            "/api/v1/calls",
            "limit=2&direction=inbound",
            &app.admin,
        );
        let req = hotline_testkit::webhook::api_gateway_request(&event);
        let resp = handle(&app.deps, req).await;
        assert_eq!(resp.status(), StatusCode::OK, "stage {stage}");
        let Body::Text(text) = resp.body() else {
            panic!("stage {stage}: not a text body");
        };
        let page: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(sids(&page), [call_sid(5), call_sid(3)], "stage {stage}");
    }
}

// ---------------------------------------------------------------- the document

#[test]
fn every_route_the_router_serves_is_in_the_openapi_document() {
    let doc = hotline_api::openapi::document();
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path, _) in ROUTES {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not in the document"))[method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in the document");
    }
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "the document has routes the router does not serve"
    );
}

#[test]
fn the_routes_are_the_ones_the_crate_declares_to_the_template() {
    let manifest: toml_routes::Manifest = toml_routes::read();
    // The API's routes, then the web console's (one handler, pages below /console).
    let declared: Vec<String> = ROUTES
        .iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .chain(
            hotline_api::console::ROUTES
                .iter()
                .map(|(m, p)| format!("{m} {p}")),
        )
        .collect();
    assert_eq!(manifest.routes, declared);
}

/// Reads `[package.metadata.hotline] routes` from the crate's Cargo.toml without a TOML
/// dependency: the list is one string per line.
mod toml_routes {
    pub struct Manifest {
        pub routes: Vec<String>,
    }

    pub fn read() -> Manifest {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .expect("Cargo.toml");
        let start = text.find("routes = [").expect("routes");
        let end = start + text[start..].find(']').expect("end of routes");
        let routes = text[start..end]
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        Manifest { routes }
    }
}

#[test]
fn the_document_is_openapi_3_1_with_every_reference_resolved() {
    let doc = hotline_api::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains_key(name), "$ref {r} resolves to nothing");
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            // Public: the document, signing in, accepting an invitation.
            let public = path == "/api/v1/openapi.json"
                || (method == "post"
                    && ["/api/v1/session", "/api/v1/invitations/accept"].contains(&path.as_str()));
            if public {
                assert!(op.get("security").is_none(), "{method} {path}");
            } else {
                let schemes = op["security"].as_array().expect("security");
                assert!(!schemes.is_empty(), "{method} {path}");
                for s in schemes {
                    assert!(
                        *s == json!({"bearer": []}) || *s == json!({"session": []}),
                        "{method} {path}: {s}"
                    );
                }
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            for param in path.split('/').filter_map(|s| s.strip_prefix('{')) {
                let name = param.trim_end_matches('}');
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} undeclared"
                );
            }
        }
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r.clone());
            }
            o.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The project's Python venv (`tests/run` makes it), or `HOTLINE_VENV`.
fn venv() -> std::path::PathBuf {
    std::env::var_os("HOTLINE_VENV").map_or_else(
        || std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv")),
        std::path::PathBuf::from,
    )
}

#[test]
fn the_document_passes_the_openapi_3_1_validator() {
    let python = venv().join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: this test needs openapi-spec-validator. Run tests/run, or \
         `.venv/bin/pip install -r tests/requirements.txt` (or set HOTLINE_VENV).",
        python.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, hotline_api::openapi::document().to_string()).expect("write");
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(
            "import json, sys\n\
             from openapi_spec_validator import OpenAPIV31SpecValidator\n\
             doc = json.load(open(sys.argv[1]))\n\
             errors = [e.message for e in OpenAPIV31SpecValidator(doc).iter_errors()]\n\
             print('\\n'.join(errors))\n\
             sys.exit(1 if errors else 0)\n",
        )
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "not valid OpenAPI 3.1:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
