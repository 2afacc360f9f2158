//! The recording status callback as Twilio drives it: signed form posts in, 204 out,
//! the recording noted on the call and exactly one post-call job on the queue however
//! often (and however concurrently) Twilio delivers, on the local store and queue and
//! on DynamoDB + SQS (moto).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hotline_core::ids::{CallSid, OrgId, RecordingSid};
use hotline_core::model::{Call, CallStatus, RecordingRef, RecordingStatus};
use hotline_core::ports::{Queue, QueueMessage, StoreError, StoreResult};
use hotline_core::postcall::PostcallJob;
use hotline_core::routes;
use hotline_recording::{Deps, handle};
use hotline_store::Stores;
use hotline_testkit::store::TestStore;
use hotline_testkit::webhook::{
    self, ACCOUNT, CALL, OTHER_ACCOUNT, OTHER_TOKEN, PUBLIC, TOKEN, api_gateway_event,
    api_gateway_request, call, call_sid, callback_status, config, seed_orgs, signed_post, t, text,
    url,
};
use hotline_twilio::signature;
use lambda_http::Request;
use lambda_http::http::{Method, StatusCode};

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
    stores: TestStore,
    queue: Arc<FlakyQueue>,
}

/// A call that ended after a minute, as the recording callback finds it.
fn call_record(sid: &str) -> Call {
    Call {
        status: CallStatus::Completed,
        answered_at: Some(t(4)),
        ended_at: Some(t(65)),
        ..call(sid, "acme")
    }
}

async fn seed(stores: &Stores) {
    seed_orgs(stores).await;
    for sid in [CALL.to_owned(), call_sid(1), call_sid(2)] {
        stores
            .calls
            .create_call(&call_record(&sid))
            .await
            .expect("call");
    }
}

async fn app(stores: TestStore, public: &str) -> App {
    seed(&stores).await;
    let queue = Arc::new(FlakyQueue {
        inner: stores.postcall.clone(),
        failing: AtomicBool::new(false),
    });
    App {
        deps: Arc::new(Deps {
            config: config(public),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            queue: queue.clone(),
        }),
        stores,
        queue,
    }
}

async fn local_app() -> App {
    app(TestStore::local(), PUBLIC).await
}

async fn aws_app() -> App {
    app(TestStore::aws().await, PUBLIC).await
}

/// A recording status callback as Twilio posts it (twilio-webhooks.md §4).
fn form(call: &str, recording: &str, status: &str) -> Vec<(String, String)> {
    let url =
        format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording}");
    let mut params = webhook::form(&[
        ("AccountSid", ACCOUNT),
        ("CallSid", call),
        ("RecordingChannels", "1"),
        ("RecordingSid", recording),
        ("RecordingStartTime", "Fri, 20 Nov 2026 21:40:02 +0000"),
        ("RecordingStatus", status),
        ("RecordingUrl", &url),
    ]);
    match status {
        "completed" => params.push(("RecordingDuration".into(), "61".into())),
        "failed" => params.push(("ErrorCode".into(), "16109".into())),
        _ => {}
    }
    params
}

/// A post to the recording callback, `query` (without its `?`) on its URL.
fn request(query: &str, params: &[(String, String)], signature: Option<String>) -> Request {
    webhook::post(&url(routes::RECORDING, query), params, signature)
}

fn signed(params: &[(String, String)], token: &str) -> Request {
    signed_post(&url(routes::RECORDING, ""), params, token)
}

async fn post(app: &App, req: Request) -> StatusCode {
    callback_status(&handle(&app.deps, req).await)
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
        status: RecordingStatus::parse(status).expect("recording status"),
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
    assert_eq!(
        text(&resp),
        "Service Unavailable\n",
        "the store's error stays in the log"
    );
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
    let url = url(routes::RECORDING, "");
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
                "x=1",
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
                    &webhook::url(routes::STATUS, ""),
                    &params,
                )),
            ),
        ),
        ("unknown account", signed(&unknown_account, TOKEN)),
        ("no account", signed(&params[1..], TOKEN)),
    ];
    for (case, req) in cases {
        let resp = handle(&app.deps, req).await;
        assert_eq!(callback_status(&resp), StatusCode::FORBIDDEN, "{case}");
        // One answer whatever the reason: a prober learns nothing about accounts or keys.
        assert_eq!(text(&resp), "Forbidden\n", "{case}");
    }
    assert_eq!(stored(&app, CALL).await, before, "nothing written");
    assert_eq!(stored(&app, &call_sid(1)).await.version, before.version);
    assert!(jobs(&app).await.is_empty(), "nothing sent");
}

async fn signed_but_malformed_callbacks_get_400_and_change_nothing(app: App) {
    let before = stored(&app, CALL).await;
    let without = |field: &str| webhook::without(form(CALL, REC, "completed"), field);
    let with = |field: &str, value: &str| webhook::with(form(CALL, REC, "completed"), field, value);
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

hotline_testkit::on_both_stores! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    local: local_app, aws: aws_app;
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
}

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
    let app = app(TestStore::local(), public).await;
    let event = api_gateway_event(fixture);
    for _ in 0..2 {
        let req = api_gateway_request(&event);
        assert_eq!(post(&app, req).await, StatusCode::NO_CONTENT);
    }
    assert_eq!(jobs(&app).await, [job(CALL, REC)]);
    app
}

#[tokio::test]
async fn api_gateway_event_on_a_named_stage_sends_the_job() {
    // Signed by twilio-python (tests/vectors/generate_apigw.py at the repository root).
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
