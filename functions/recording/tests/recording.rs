//! The recording status callback as Twilio drives it: signed form posts in, 204 out,
//! the recording noted on the call and exactly one post-call job on the queue however
//! often (and however concurrently) Twilio delivers, on the local store and queue and
//! on DynamoDB + SQS (moto).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotline_core::ids::{AccountSid, AgentId, CallSid, OrgId, Party, RecordingSid};
use hotline_core::model::{
    Call, CallStatus, Direction, OrgSettings, Organization, PostCall, RecordingRef, TwilioAccount,
};
use hotline_core::ports::{Queue, QueueMessage, StoreError, StoreResult};
use hotline_core::postcall::PostcallJob;
use hotline_recording::{Deps, handle};
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
const REC: &str = "RE33333333333333333333333333333333";

/// The post-call queue, made to fail its sends on demand.
struct FlakyQueue {
    inner: Arc<dyn Queue>,
    failing: AtomicBool,
}

#[async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<String> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("queue down (test)".into()));
        }
        self.inner.send(body, delay).await
    }

    async fn receive(&self, max: u32, wait: Duration) -> StoreResult<Vec<QueueMessage>> {
        self.inner.receive(max, wait).await
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        self.inner.delete(receipt).await
    }
}

struct App {
    deps: Arc<Deps>,
    stores: Stores,
    queue: Arc<FlakyQueue>,
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

fn call_record(sid: &str, org: &str) -> Call {
    Call {
        sid: CallSid::parse(sid).expect("sid"),
        org: OrgId::parse(org).expect("org"),
        agent: AgentId::parse("front-desk").expect("agent"),
        from: Party::parse("+14155550100").expect("from"),
        to: Party::parse("+14155550111").expect("to"),
        direction: Direction::Inbound,
        status: CallStatus::Completed,
        started_at: t(0),
        answered_at: Some(t(4)),
        ended_at: Some(t(65)),
        contact: None,
        greeting: None,
        stream_token: "0123456789abcdef0123456789abcdef".into(),
        outcome: None,
        recording: None,
        post_call: PostCall::default(),
        version: 0,
    }
}

fn call_sid(n: u32) -> String {
    format!("CA{n:032x}")
}

async fn seed(stores: &Stores) {
    let d = &stores.directory;
    d.put_org(&org("acme", ACCOUNT, TOKEN)).await.expect("org");
    d.put_org(&org("other", OTHER_ACCOUNT, OTHER_TOKEN))
        .await
        .expect("other org");
    for sid in [CALL.to_owned(), call_sid(1), call_sid(2)] {
        stores
            .calls
            .create_call(&call_record(&sid, "acme"))
            .await
            .expect("call");
    }
}

fn app(stores: Stores, public: &str, dir: Option<tempfile::TempDir>) -> App {
    let queue = Arc::new(FlakyQueue {
        inner: stores.postcall.clone(),
        failing: AtomicBool::new(false),
    });
    App {
        deps: Arc::new(Deps {
            config: WebhookConfig::from_lookup(|k| {
                (k == "HOTLINE_PUBLIC_URL").then(|| public.to_owned())
            })
            .expect("config"),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            queue: queue.clone(),
        }),
        stores,
        queue,
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
    use hotline_store::aws::{DynamoTable, SqsQueue, emulator_config};
    let sdk = emulator_config(&Moto::shared().endpoint, REGION).await;
    let table = unique_name("recording");
    DynamoTable::new(aws_sdk_dynamodb::Client::new(&sdk), &table)
        .create()
        .await
        .expect("table");
    let (queue, _dlq) = SqsQueue::create(
        aws_sdk_sqs::Client::new(&sdk),
        &unique_name("postcall"),
        Duration::from_secs(900),
        5,
    )
    .await
    .expect("queue");
    // The bucket is not used by the recording callback.
    let stores = Stores::aws(&sdk, &table, "unused", queue.url());
    seed(&stores).await;
    app(stores, PUBLIC, None)
}

/// A recording status callback as Twilio posts it (twilio-webhooks.md §4).
fn form(call: &str, recording: &str, status: &str) -> Vec<(String, String)> {
    let url =
        format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording}");
    let mut params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT),
        ("CallSid", call),
        ("RecordingChannels", "1"),
        ("RecordingSid", recording),
        ("RecordingStartTime", "Fri, 20 Nov 2026 21:40:02 +0000"),
        ("RecordingStatus", status),
        ("RecordingUrl", &url),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    match status {
        "completed" => params.push(("RecordingDuration".into(), "61".into())),
        "failed" => params.push(("ErrorCode".into(), "16109".into())),
        _ => {}
    }
    params
}

fn request(query: &str, params: &[(String, String)], signature: Option<String>) -> Request {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut req = lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri(format!("{PUBLIC}/twilio/recording{query}"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(sig) = signature {
        req = req.header("x-twilio-signature", sig);
    }
    req.body(Body::Binary(body.into_bytes())).expect("request")
}

fn signed(params: &[(String, String)], token: &str) -> Request {
    let url = format!("{PUBLIC}/twilio/recording");
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

async fn stored(app: &App, sid: &str) -> Call {
    app.stores
        .calls
        .get_call(&CallSid::parse(sid).expect("sid"))
        .await
        .expect("get")
        .expect("call")
}

/// Every job on the post-call queue, received (so each is counted once).
async fn jobs(app: &App) -> Vec<PostcallJob> {
    let mut out = Vec::new();
    let mut wait = Duration::from_secs(1);
    loop {
        let batch = app.queue.receive(10, wait).await.expect("receive");
        if batch.is_empty() {
            return out;
        }
        out.extend(
            batch
                .iter()
                .map(|m| PostcallJob::parse(&m.body).expect("a post-call job")),
        );
        wait = Duration::ZERO;
    }
}

fn job(call: &str, recording: &str) -> PostcallJob {
    PostcallJob::new(
        OrgId::parse("acme").expect("org"),
        CallSid::parse(call).expect("call"),
        RecordingSid::parse(recording).expect("recording"),
    )
}

fn recording(status: &str, duration: Option<u32>, error: Option<&str>) -> RecordingRef {
    RecordingRef {
        sid: RecordingSid::parse(REC).expect("sid"),
        status: status.into(),
        duration_secs: duration,
        error_code: error.map(str::to_owned),
        blob_key: None,
        deleted_from_twilio: false,
    }
}

// ---------------------------------------------------------------- on both stores

async fn a_completed_recording_is_noted_and_one_job_is_sent(app: App) {
    let req = signed(&form(CALL, REC, "completed"), TOKEN);
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    let call = stored(&app, CALL).await;
    assert_eq!(call.recording, Some(recording("completed", Some(61), None)));
    let claim = call.post_call.job.expect("job claimed");
    assert_eq!(claim.key, REC);
    assert!(claim.enqueued_at.is_some() && claim.message_id.is_some());
    assert_eq!(jobs(&app).await, [job(CALL, REC)]);
}

async fn the_same_callback_twice_sends_one_job_and_writes_once(app: App) {
    let params = form(CALL, REC, "completed");
    assert_eq!(
        post(&app, signed(&params, TOKEN)).await,
        StatusCode::NO_CONTENT
    );
    let first = stored(&app, CALL).await;
    assert_eq!(
        post(&app, signed(&params, TOKEN)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(stored(&app, CALL).await, first, "a replay writes nothing");
    assert_eq!(jobs(&app).await, [job(CALL, REC)]);
}

async fn concurrent_identical_callbacks_send_one_job(app: App) {
    let params = form(CALL, REC, "completed");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let deps = Arc::clone(&app.deps);
        let req = signed(&params, TOKEN);
        tasks.push(tokio::spawn(
            async move { handle(&deps, req).await.status() },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), StatusCode::NO_CONTENT);
    }
    let call = stored(&app, CALL).await;
    assert_eq!(call.recording, Some(recording("completed", Some(61), None)));
    assert!(call.post_call.job.is_some_and(|c| c.enqueued_at.is_some()));
    assert_eq!(jobs(&app).await, [job(CALL, REC)]);
}

async fn failed_and_absent_recordings_are_noted_and_get_one_job(app: App) {
    let (failed, absent) = (call_sid(1), call_sid(2));
    for (call, status) in [(&failed, "failed"), (&absent, "absent")] {
        for _ in 0..2 {
            let req = signed(&form(call, REC, status), TOKEN);
            assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT, "{status}");
        }
    }
    assert_eq!(
        stored(&app, &failed).await.recording,
        Some(recording("failed", None, Some("16109")))
    );
    assert_eq!(
        stored(&app, &absent).await.recording,
        Some(recording("absent", None, None))
    );
    let mut sent = jobs(&app).await;
    sent.sort_by(|a, b| a.call.as_str().cmp(b.call.as_str()));
    assert_eq!(sent, [job(&failed, REC), job(&absent, REC)]);
}

async fn an_in_progress_recording_is_noted_without_a_job(app: App) {
    let req = signed(&form(CALL, REC, "in-progress"), TOKEN);
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    let call = stored(&app, CALL).await;
    assert_eq!(call.recording, Some(recording("in-progress", None, None)));
    assert_eq!(call.post_call.job, None);
    assert!(jobs(&app).await.is_empty());

    let req = signed(&form(CALL, REC, "completed"), TOKEN);
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    let completed = stored(&app, CALL).await;
    assert_eq!(
        completed.recording,
        Some(recording("completed", Some(61), None))
    );

    // A late in-progress never replaces the final status, and writes nothing.
    let req = signed(&form(CALL, REC, "in-progress"), TOKEN);
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    assert_eq!(stored(&app, CALL).await, completed);
    assert_eq!(jobs(&app).await, [job(CALL, REC)]);
}

async fn a_second_recording_of_the_call_is_ignored(app: App) {
    let req = signed(&form(CALL, REC, "completed"), TOKEN);
    assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    let first = stored(&app, CALL).await;
    let second = "RE44444444444444444444444444444444";
    for status in ["in-progress", "completed"] {
        let req = signed(&form(CALL, second, status), TOKEN);
        assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT, "{status}");
    }
    assert_eq!(stored(&app, CALL).await, first);
    assert_eq!(jobs(&app).await, [job(CALL, REC)]);
}

async fn a_queue_failure_is_503_and_leaves_nothing_half_done(app: App) {
    app.queue.failing.store(true, Ordering::SeqCst);
    let params = form(CALL, REC, "completed");
    let resp = handle(&app.deps, signed(&params, TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let call = stored(&app, CALL).await;
    assert_eq!(call.post_call.job, None, "the claim is released");
    assert_eq!(call.recording, Some(recording("completed", Some(61), None)));

    // Twilio's retry finds the recording noted and sends the job, once.
    app.queue.failing.store(false, Ordering::SeqCst);
    assert_eq!(
        post(&app, signed(&params, TOKEN)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post(&app, signed(&params, TOKEN)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(jobs(&app).await, [job(CALL, REC)]);
}

async fn unsigned_or_badly_signed_callbacks_get_403_and_change_nothing(app: App) {
    let before = stored(&app, CALL).await;
    let params = form(CALL, REC, "completed");
    let url = format!("{PUBLIC}/twilio/recording");
    let mut tampered = params.clone();
    tampered[1].1 = call_sid(1);
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
            "signed for the status route",
            request(
                "",
                &params,
                Some(signature::compute(
                    TOKEN,
                    &format!("{PUBLIC}/twilio/status"),
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
    assert_eq!(stored(&app, CALL).await, before, "nothing written");
    assert_eq!(stored(&app, &call_sid(1)).await.version, before.version);
    assert!(jobs(&app).await.is_empty(), "nothing sent");
}

async fn signed_but_malformed_callbacks_get_400_and_change_nothing(app: App) {
    let before = stored(&app, CALL).await;
    let without = |field: &str| {
        let mut p = form(CALL, REC, "completed");
        p.retain(|(k, _)| k != field);
        p
    };
    let with = |field: &str, value: &str| {
        let mut p = form(CALL, REC, "completed");
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
        ("no RecordingSid", without("RecordingSid")),
        ("bad RecordingSid", with("RecordingSid", CALL)),
        ("no RecordingStatus", without("RecordingStatus")),
        ("bad RecordingStatus", with("RecordingStatus", "done")),
    ] {
        assert_eq!(
            post(&app, signed(&params, TOKEN)).await,
            StatusCode::BAD_REQUEST,
            "{case}"
        );
    }
    assert_eq!(stored(&app, CALL).await, before, "nothing written");
    assert!(jobs(&app).await.is_empty(), "nothing sent");
}

async fn an_unknown_call_is_404_and_nothing_is_written(app: App) {
    let unknown = "CA33333333333333333333333333333333";
    let req = signed(&form(unknown, REC, "completed"), TOKEN);
    assert_eq!(post(&app, req).await, StatusCode::NOT_FOUND);
    let sid = CallSid::parse(unknown).expect("sid");
    assert_eq!(app.stores.calls.get_call(&sid).await.expect("get"), None);
    assert!(jobs(&app).await.is_empty(), "nothing sent");
}

async fn another_organizations_call_is_404_and_never_touched(app: App) {
    let before = stored(&app, CALL).await;
    let mut params = form(CALL, REC, "completed");
    params[0].1 = OTHER_ACCOUNT.into();
    let resp = handle(&app.deps, signed(&params, OTHER_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!text(&resp).contains("acme"), "{}", text(&resp));
    assert_eq!(stored(&app, CALL).await, before, "nothing written");
    assert!(jobs(&app).await.is_empty(), "nothing sent");
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod local_store { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(super::local_app().await).await }
        )* }
        mod aws_store { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(super::aws_app().await).await }
        )* }
    };
}

on_both_stores!(
    a_completed_recording_is_noted_and_one_job_is_sent,
    the_same_callback_twice_sends_one_job_and_writes_once,
    concurrent_identical_callbacks_send_one_job,
    failed_and_absent_recordings_are_noted_and_get_one_job,
    an_in_progress_recording_is_noted_without_a_job,
    a_second_recording_of_the_call_is_ignored,
    a_queue_failure_is_503_and_leaves_nothing_half_done,
    unsigned_or_badly_signed_callbacks_get_403_and_change_nothing,
    signed_but_malformed_callbacks_get_400_and_change_nothing,
    an_unknown_call_is_404_and_nothing_is_written,
    another_organizations_call_is_404_and_never_touched,
);

// ---------------------------------------------------------------- local store only

#[tokio::test]
async fn only_post_is_accepted() {
    let app = local_app().await;
    let before = stored(&app, CALL).await;
    let mut req = signed(&form(CALL, REC, "completed"), TOKEN);
    *req.method_mut() = Method::GET;
    assert_eq!(post(&app, req).await, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(stored(&app, CALL).await, before);
    assert!(jobs(&app).await.is_empty());
}

async fn api_gateway_event_is_taken(fixture: &str, public: &str) -> App {
    let app = local_app_at(public).await;
    let path = format!(
        "{}/tests/fixtures/{fixture}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event = std::fs::read_to_string(&path).expect("fixture");
    for _ in 0..2 {
        let req = lambda_http::request::from_str(&event).expect("API Gateway v2 event");
        assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    }
    assert_eq!(jobs(&app).await, [job(CALL, REC)]);
    app
}

#[tokio::test]
async fn api_gateway_event_on_a_named_stage_sends_the_job() {
    // Signed by twilio-python (tests/vectors/generate_apigw.py).
    let app = api_gateway_event_is_taken(
        "recording-completed-stage",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    )
    .await;
    assert_eq!(
        stored(&app, CALL).await.recording,
        Some(recording("completed", Some(61), None))
    );
}

#[tokio::test]
async fn api_gateway_event_on_a_custom_domain_sends_the_job() {
    let app =
        api_gateway_event_is_taken("recording-absent-custom-domain", "https://api.example.com")
            .await;
    assert_eq!(
        stored(&app, CALL).await.recording,
        Some(recording("absent", Some(0), None))
    );
}
