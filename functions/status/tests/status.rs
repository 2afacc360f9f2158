//! The call status callback as Twilio drives it: signed form posts in, 204 out, the
//! call record moved forward at most once per real change, on the local store and on
//! DynamoDB (moto).

use chrono::{DateTime, Utc};
use hotline_core::ids::{AccountSid, AgentId, CallSid, OrgId, Party};
use hotline_core::model::{
    Call, CallStatus, Direction, OrgSettings, Organization, PostCall, TwilioAccount,
};
use hotline_status::{Deps, handle};
use hotline_store::Stores;
use hotline_twilio::signature;
use hotline_webhook::WebhookConfig;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const ACCOUNT: &str = "AC11111111111111111111111111111111";
const OTHER_TOKEN: &str = "ffffeeeeddddccccbbbbaaaa99998888";
const OTHER_ACCOUNT: &str = "AC99999999999999999999999999999999";
const PUBLIC: &str = "https://api.example.com";
const CALL: &str = "CA22222222222222222222222222222222";

struct App {
    deps: Deps,
    stores: Stores,
    _dir: Option<tempfile::TempDir>,
}

fn org(id: &str, account: &str, token: &str) -> Organization {
    Organization {
        id: OrgId::parse(id).expect("org"),
        name: id.into(),
        twilio: TwilioAccount {
            account_sid: AccountSid::parse(account).expect("account"),
            auth_token: token.to_owned().into(),
        },
        settings: OrgSettings::default(),
        version: 0,
    }
}

/// 2026-11-20 21:40:00 UTC plus `secs`.
fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_210_800 + secs, 0).expect("time")
}

fn call(sid: &str, org: &str) -> Call {
    Call {
        sid: CallSid::parse(sid).expect("sid"),
        org: OrgId::parse(org).expect("org"),
        agent: AgentId::parse("front-desk").expect("agent"),
        from: Party::parse("+14155550100").expect("from"),
        to: Party::parse("+14155550111").expect("to"),
        direction: Direction::Inbound,
        status: CallStatus::Ringing,
        started_at: t(0),
        answered_at: None,
        ended_at: None,
        contact: None,
        greeting: None,
        stream_token: "0123456789abcdef0123456789abcdef".into(),
        outcome: None,
        recording: None,
        post_call: PostCall::default(),
        version: 0,
    }
}

async fn seed(stores: &Stores) {
    let d = &stores.directory;
    d.put_org(&org("acme", ACCOUNT, TOKEN)).await.expect("org");
    d.put_org(&org("other", OTHER_ACCOUNT, OTHER_TOKEN))
        .await
        .expect("other org");
    stores
        .calls
        .create_call(&call(CALL, "acme"))
        .await
        .expect("call");
}

fn app(stores: Stores, public: &str, dir: Option<tempfile::TempDir>) -> App {
    App {
        deps: Deps {
            config: WebhookConfig::from_lookup(|k| {
                (k == "HOTLINE_PUBLIC_URL").then(|| public.to_owned())
            })
            .expect("config"),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
        },
        stores,
        _dir: dir,
    }
}

async fn local_app() -> App {
    local_app_at(PUBLIC).await
}

async fn local_app_at(public: &str) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = Stores::local(dir.path()).expect("store");
    seed(&stores).await;
    app(stores, public, Some(dir))
}

async fn aws_app() -> App {
    use hotline_sim::moto::{Moto, REGION, unique_name};
    use hotline_store::aws::{DynamoTable, emulator_config};
    let sdk = emulator_config(&Moto::shared().endpoint, REGION).await;
    let table = unique_name("status");
    DynamoTable::new(aws_sdk_dynamodb::Client::new(&sdk), &table)
        .create()
        .await
        .expect("table");
    // Bucket and queue are not used by the status callback.
    let stores = Stores::aws(&sdk, &table, "unused", "http://unused");
    seed(&stores).await;
    app(stores, PUBLIC, None)
}

/// A status callback as Twilio posts it (twilio-webhooks.md §3).
fn form(call: &str, status: &str, at: Option<DateTime<Utc>>) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call),
        ("CallStatus", status),
        ("Called", "+14155550111"),
        ("Caller", "+14155550100"),
        ("CallbackSource", "call-progress-events"),
        ("Direction", "inbound"),
        ("From", "+14155550100"),
        ("SequenceNumber", "0"),
        ("To", "+14155550111"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(at) = at {
        params.push(("Timestamp".into(), at.to_rfc2822()));
    }
    params
}

fn request(query: &str, params: &[(String, String)], signature: Option<String>) -> Request {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut req = lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri(format!("{PUBLIC}/twilio/status{query}"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(sig) = signature {
        req = req.header("x-twilio-signature", sig);
    }
    req.body(Body::Binary(body.into_bytes())).expect("request")
}

fn signed(params: &[(String, String)], token: &str) -> Request {
    let url = format!("{PUBLIC}/twilio/status");
    request("", params, Some(signature::compute(token, &url, params)))
}

fn text(resp: &Response<Body>) -> String {
    match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        Body::Empty => String::new(),
        _ => panic!("unexpected body"),
    }
}

async fn post(app: &App, req: Request) -> StatusCode {
    let resp = handle(&app.deps, req).await;
    let status = resp.status();
    if status == StatusCode::NO_CONTENT {
        assert!(matches!(resp.body(), Body::Empty), "204 has no body");
    } else {
        assert!(!text(&resp).is_empty(), "{status}: a refusal says why");
    }
    status
}

async fn stored(app: &App) -> Call {
    app.stores
        .calls
        .get_call(&CallSid::parse(CALL).expect("sid"))
        .await
        .expect("get")
        .expect("call")
}

// ---------------------------------------------------------------- on both stores

async fn signed_callbacks_move_the_call_forward(app: App) {
    let before = stored(&app).await;
    let answered = signed(&form(CALL, "in-progress", Some(t(4))), TOKEN);
    assert_eq!(post(&app, answered).await, StatusCode::NO_CONTENT);
    let call = stored(&app).await;
    assert_eq!(call.status, CallStatus::InProgress);
    assert_eq!(call.answered_at, Some(t(4)));
    assert_eq!(call.version, before.version + 1);

    let ended = signed(&form(CALL, "completed", Some(t(65))), TOKEN);
    assert_eq!(post(&app, ended).await, StatusCode::NO_CONTENT);
    let call = stored(&app).await;
    assert_eq!(call.status, CallStatus::Completed);
    assert_eq!((call.answered_at, call.ended_at), (Some(t(4)), Some(t(65))));
    assert_eq!(call.duration_secs(), Some(61));
    assert_eq!(call.version, before.version + 2);
}

async fn callbacks_out_of_order_never_move_the_call_back(app: App) {
    let ended = signed(&form(CALL, "completed", Some(t(65))), TOKEN);
    assert_eq!(post(&app, ended).await, StatusCode::NO_CONTENT);
    let completed = stored(&app).await;
    assert_eq!(completed.status, CallStatus::Completed);
    assert_eq!(completed.ended_at, Some(t(65)));
    assert_eq!(completed.answered_at, None);

    // The answered event arrives late: its time is filled in, the status stays final.
    let answered = signed(&form(CALL, "in-progress", Some(t(4))), TOKEN);
    assert_eq!(post(&app, answered).await, StatusCode::NO_CONTENT);
    let call = stored(&app).await;
    assert_eq!(call.status, CallStatus::Completed);
    assert_eq!((call.answered_at, call.ended_at), (Some(t(4)), Some(t(65))));
    assert_eq!(call.version, completed.version + 1);

    // Later still: ringing, and another terminal status. Neither writes.
    for (status, at) in [("ringing", 1), ("initiated", 0), ("canceled", 70)] {
        let stale = signed(&form(CALL, status, Some(t(at))), TOKEN);
        assert_eq!(post(&app, stale).await, StatusCode::NO_CONTENT, "{status}");
    }
    let after = stored(&app).await;
    assert_eq!(after, call, "stale callbacks must not write");
}

async fn a_replayed_callback_writes_nothing(app: App) {
    let params = form(CALL, "in-progress", Some(t(4)));
    assert_eq!(
        post(&app, signed(&params, TOKEN)).await,
        StatusCode::NO_CONTENT
    );
    let first = stored(&app).await;
    for _ in 0..3 {
        assert_eq!(
            post(&app, signed(&params, TOKEN)).await,
            StatusCode::NO_CONTENT
        );
    }
    let after = stored(&app).await;
    assert_eq!(
        after.version, first.version,
        "a replay must not bump the version"
    );
    assert_eq!(after, first);
}

async fn unsigned_or_badly_signed_callbacks_get_403_and_change_nothing(app: App) {
    let before = stored(&app).await;
    let params = form(CALL, "completed", Some(t(65)));
    let url = format!("{PUBLIC}/twilio/status");
    let mut tampered = params.clone();
    tampered[3].1 = "busy".into();
    let mut unknown_account = params.clone();
    unknown_account[0].1 = "AC00000000000000000000000000000000".into();
    let cases = [
        ("no signature", request("", &params, None)),
        (
            "garbage signature",
            request("", &params, Some("not base64!".into())),
        ),
        (
            "tampered form",
            request(
                "",
                &tampered,
                Some(signature::compute(TOKEN, &url, &params)),
            ),
        ),
        ("other org's token", signed(&params, OTHER_TOKEN)),
        (
            "query added after signing",
            request(
                "?x=1",
                &params,
                Some(signature::compute(TOKEN, &url, &params)),
            ),
        ),
        (
            "signed for the voice route",
            request(
                "",
                &params,
                Some(signature::compute(
                    TOKEN,
                    &format!("{PUBLIC}/twilio/voice"),
                    &params,
                )),
            ),
        ),
        ("unknown account", signed(&unknown_account, TOKEN)),
        ("no account", signed(&params[1..], TOKEN)),
    ];
    for (case, req) in cases {
        assert_eq!(post(&app, req).await, StatusCode::FORBIDDEN, "{case}");
    }
    assert_eq!(stored(&app).await, before, "nothing written");
}

async fn signed_but_malformed_callbacks_get_400_and_change_nothing(app: App) {
    let before = stored(&app).await;
    let without = |field: &str| {
        let mut p = form(CALL, "completed", Some(t(65)));
        p.retain(|(k, _)| k != field);
        p
    };
    let with = |field: &str, value: &str| {
        let mut p = form(CALL, "completed", Some(t(65)));
        for (k, v) in &mut p {
            if k == field {
                value.clone_into(v);
            }
        }
        p
    };
    for (case, params) in [
        ("no CallSid", without("CallSid")),
        ("bad CallSid", with("CallSid", "CA../../x")),
        ("no CallStatus", without("CallStatus")),
        ("bad CallStatus", with("CallStatus", "answered")),
        ("empty CallStatus", with("CallStatus", "")),
    ] {
        assert_eq!(
            post(&app, signed(&params, TOKEN)).await,
            StatusCode::BAD_REQUEST,
            "{case}"
        );
    }
    assert_eq!(stored(&app).await, before, "nothing written");
}

async fn a_callback_for_a_call_without_a_record_is_taken_and_writes_nothing(app: App) {
    let unknown = "CA33333333333333333333333333333333";
    let req = signed(&form(unknown, "completed", Some(t(65))), TOKEN);
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    let sid = CallSid::parse(unknown).expect("sid");
    assert_eq!(app.stores.calls.get_call(&sid).await.expect("get"), None);
    let calls = app
        .stores
        .calls
        .list_calls(&OrgId::parse("acme").expect("org"), 10)
        .await
        .expect("list");
    assert_eq!(calls.len(), 1);
}

async fn another_organizations_call_is_never_touched(app: App) {
    let before = stored(&app).await;
    // The other organization signs a callback naming acme's call.
    let mut params = form(CALL, "completed", Some(t(65)));
    params[0].1 = OTHER_ACCOUNT.into();
    let resp = handle(&app.deps, signed(&params, OTHER_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!text(&resp).contains("acme"), "{}", text(&resp));
    assert_eq!(stored(&app).await, before, "nothing written");
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod local_store { $(
            #[tokio::test]
            async fn $case() { super::$case(super::local_app().await).await }
        )* }
        mod aws_store { $(
            #[tokio::test]
            async fn $case() { super::$case(super::aws_app().await).await }
        )* }
    };
}

on_both_stores!(
    signed_callbacks_move_the_call_forward,
    callbacks_out_of_order_never_move_the_call_back,
    a_replayed_callback_writes_nothing,
    unsigned_or_badly_signed_callbacks_get_403_and_change_nothing,
    signed_but_malformed_callbacks_get_400_and_change_nothing,
    a_callback_for_a_call_without_a_record_is_taken_and_writes_nothing,
    another_organizations_call_is_never_touched,
);

// ---------------------------------------------------------------- local store only

#[tokio::test]
async fn only_post_is_accepted() {
    let app = local_app().await;
    let before = stored(&app).await;
    let mut req = signed(&form(CALL, "completed", Some(t(65))), TOKEN);
    *req.method_mut() = Method::GET;
    assert_eq!(post(&app, req).await, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(stored(&app).await, before);
}

#[tokio::test]
async fn without_a_timestamp_the_time_of_arrival_is_used() {
    let app = local_app().await;
    let before = Utc::now();
    let req = signed(&form(CALL, "in-progress", None), TOKEN);
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    let answered = stored(&app).await.answered_at.expect("answered");
    assert!(before <= answered && answered <= Utc::now(), "{answered}");
}

async fn api_gateway_event_is_applied(fixture: &str, public: &str) -> Call {
    let app = local_app_at(public).await;
    let path = format!(
        "{}/tests/fixtures/{fixture}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event = std::fs::read_to_string(&path).expect("fixture");
    let req = lambda_http::request::from_str(&event).expect("API Gateway v2 event");
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    // A replay of the very same event changes nothing.
    let call = stored(&app).await;
    let req = lambda_http::request::from_str(&event).expect("API Gateway v2 event");
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    assert_eq!(stored(&app).await, call);
    call
}

#[tokio::test]
async fn api_gateway_event_on_a_named_stage_is_applied() {
    // Signed by twilio-python (tests/vectors/generate_apigw.py).
    let call = api_gateway_event_is_applied(
        "status-completed-stage",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    )
    .await;
    assert_eq!(call.status, CallStatus::Completed);
    assert_eq!(call.ended_at, Some(t(65)));
}

#[tokio::test]
async fn api_gateway_event_on_a_custom_domain_is_applied() {
    let call = api_gateway_event_is_applied(
        "status-in-progress-custom-domain",
        "https://api.example.com",
    )
    .await;
    assert_eq!(call.status, CallStatus::InProgress);
    assert_eq!(call.answered_at, Some(t(4)));
}

#[tokio::test]
async fn an_api_gateway_event_signed_for_another_public_url_is_refused() {
    let app = local_app_at("https://api.example.com").await;
    let before = stored(&app).await;
    let path = format!(
        "{}/tests/fixtures/status-completed-stage.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event = std::fs::read_to_string(&path).expect("fixture");
    let req = lambda_http::request::from_str(&event).expect("API Gateway v2 event");
    assert_eq!(post(&app, req).await, StatusCode::FORBIDDEN);
    assert_eq!(stored(&app).await, before);
}
