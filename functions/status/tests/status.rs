//! The call status callback as Twilio drives it: signed form posts in, 204 out, the
//! call record moved forward at most once per real change, on the local store and on
//! DynamoDB (moto).

use chrono::{DateTime, Utc};
use hotline_core::ids::{CallSid, OrgId};
use hotline_core::model::{Call, CallStatus};
use hotline_core::routes;
use hotline_status::{Deps, handle};
use hotline_store::Stores;
use hotline_testkit::store::TestStore;
use hotline_testkit::webhook::{
    self, ACCOUNT, CALL, OTHER_ACCOUNT, OTHER_TOKEN, PUBLIC, TOKEN, api_gateway_event,
    api_gateway_request, call, callback_status, config, seed_orgs, signed_post, t, text, url,
};
use hotline_twilio::signature;
use lambda_http::Request;
use lambda_http::http::{Method, StatusCode};

struct App {
    deps: Deps,
    stores: TestStore,
}

async fn seed(stores: &Stores) {
    seed_orgs(stores).await;
    stores
        .calls
        .create_call(&call(CALL, "acme"))
        .await
        .expect("call");
}

async fn app(stores: TestStore, public: &str) -> App {
    seed(&stores).await;
    App {
        deps: Deps {
            config: config(public),
            directory: stores.directory.clone(),
            calls: stores.calls.clone(),
            dials: stores.dials.clone(),
            campaigns: stores.campaigns.clone(),
            // Status callbacks never reach Twilio; nothing listens here.
            placer: std::sync::Arc::new(hotline_twilio::calls::TwilioCalls(
                hotline_twilio::rest::TwilioClient::new(
                    "http://127.0.0.1:9",
                    reqwest::Client::new(),
                ),
            )),
        },
        stores,
    }
}

async fn local_app() -> App {
    app(TestStore::local(), PUBLIC).await
}

async fn aws_app() -> App {
    app(TestStore::aws().await, PUBLIC).await
}

/// A status callback as Twilio posts it (twilio-webhooks.md §3).
fn form(call: &str, status: &str, at: Option<DateTime<Utc>>) -> Vec<(String, String)> {
    let mut params = webhook::form(&[
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
    ]);
    if let Some(at) = at {
        params.push(("Timestamp".into(), at.to_rfc2822()));
    }
    params
}

/// A post to the status callback, `query` (without its `?`) on its URL.
fn request(query: &str, params: &[(String, String)], signature: Option<String>) -> Request {
    webhook::post(&url(routes::STATUS, query), params, signature)
}

fn signed(params: &[(String, String)], token: &str) -> Request {
    signed_post(&url(routes::STATUS, ""), params, token)
}

async fn post(app: &App, req: Request) -> StatusCode {
    callback_status(&handle(&app.deps, req).await)
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
    let url = url(routes::STATUS, "");
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
                "x=1",
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
                    &webhook::url(routes::VOICE, ""),
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
    assert_eq!(stored(&app).await, before, "nothing written");
}

async fn signed_but_malformed_callbacks_get_400_and_change_nothing(app: App) {
    let before = stored(&app).await;
    let without = |field: &str| webhook::without(form(CALL, "completed", Some(t(65))), field);
    let with = |field: &str, value: &str| {
        webhook::with(form(CALL, "completed", Some(t(65))), field, value)
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

hotline_testkit::on_both_stores! {
    local: local_app, aws: aws_app;
    signed_callbacks_move_the_call_forward,
    callbacks_out_of_order_never_move_the_call_back,
    a_replayed_callback_writes_nothing,
    unsigned_or_badly_signed_callbacks_get_403_and_change_nothing,
    signed_but_malformed_callbacks_get_400_and_change_nothing,
    a_callback_for_a_call_without_a_record_is_taken_and_writes_nothing,
    another_organizations_call_is_never_touched,
    a_campaign_call_that_went_to_the_fallback_is_retried_as_failed,
}

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
    let app = app(TestStore::local(), public).await;
    let event = api_gateway_event(fixture);
    assert_eq!(
        post(&app, api_gateway_request(&event)).await,
        StatusCode::NO_CONTENT
    );
    // A replay of the very same event changes nothing.
    let call = stored(&app).await;
    assert_eq!(
        post(&app, api_gateway_request(&event)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(stored(&app).await, call);
    call
}

#[tokio::test]
async fn api_gateway_event_on_a_named_stage_is_applied() {
    // Signed by twilio-python (tests/vectors/generate_apigw.py at the repository root).
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
    let app = app(TestStore::local(), "https://api.example.com").await;
    let before = stored(&app).await;
    let req = api_gateway_request(&api_gateway_event("status-completed-stage"));
    assert_eq!(post(&app, req).await, StatusCode::FORBIDDEN);
    assert_eq!(stored(&app).await, before);
}

/// A campaign call Twilio had to send to the fallback URL (the dial marked for retry):
/// its end counts as `failed` and the lead is scheduled again, once, however often the
/// callback comes.
async fn a_campaign_call_that_went_to_the_fallback_is_retried_as_failed(app: App) {
    use hotline_core::campaign::import::{LeadInput, build_leads};
    use hotline_core::campaign::{
        AttemptOutcome, CallerIdMode, Campaign, CampaignState, LeadStateKind, RetryOn, RetryPolicy,
        Window, lead_ref,
    };
    use hotline_core::dial::{call_record, dial_id};
    use hotline_core::model::{Dial, DialState};
    use hotline_core::{AgentId, E164};

    let org = OrgId::parse("acme").expect("org");
    let campaign = Campaign {
        id: format!("cp_{}", "c".repeat(32)),
        org: org.clone(),
        name: "Recall".into(),
        agent: AgentId::parse("front-desk").expect("agent"),
        caller_ids: vec![E164::parse("+14155550111").expect("e164")],
        caller_id_mode: CallerIdMode::RoundRobin,
        retry: RetryPolicy {
            max_attempts: 2,
            cooldown_secs: 60,
            retry_on: [RetryOn::Failed].into_iter().collect(),
        },
        window: Window::default(),
        max_concurrent: 1,
        calls_per_second: 1,
        machine_detection: true,
        state: CampaignState::Running,
        created_at: t(0),
        version: 0,
    };
    let campaigns = &app.stores.campaigns;
    campaigns
        .create_campaign(&campaign)
        .await
        .expect("campaign");
    let (leads, _) = build_leads(
        &campaign,
        vec![(
            2,
            LeadInput {
                phone: "+14155550100".into(),
                timezone: Some("UTC".into()),
                ..Default::default()
            },
        )],
    );
    campaigns.add_leads(&leads).await.expect("lead");
    let id = dial_id(&org, Some("campaign attempt 0"));
    let mut lead = campaigns
        .get_lead(&campaign.id, &leads[0].id)
        .await
        .expect("get")
        .expect("lead");
    assert!(lead.claim(id.clone(), t(1)));
    campaigns.update_lead(&lead).await.expect("claimed");
    let sid = CallSid::parse(&format!("CA{}", "d".repeat(32))).expect("sid");
    let dial = Dial {
        id: id.clone(),
        org: org.clone(),
        agent: campaign.agent.clone(),
        from: campaign.caller_ids[0].clone(),
        to: lead.phone.clone(),
        variables: Default::default(),
        instructions: "Be kind.".into(),
        greeting: None,
        voicemail_message: None,
        machine_detection: true,
        fingerprint: "f".into(),
        state: DialState::Placed,
        call_sid: Some(sid.clone()),
        error: None,
        // The fallback URL was used.
        retry: true,
        lead: Some(lead_ref(&campaign.id, &lead.id)),
        created_at: t(1),
        version: 0,
    };
    app.stores.dials.create_dial(&dial).await.expect("dial");
    app.stores
        .calls
        .create_call(&call_record(
            &dial,
            sid.clone(),
            CallStatus::InProgress,
            t(1),
        ))
        .await
        .expect("call");

    let done = || {
        signed_post(
            &url(routes::STATUS, &format!("call={id}")),
            &form(sid.as_str(), "completed", Some(t(30))),
            TOKEN,
        )
    };
    assert_eq!(post(&app, done()).await, StatusCode::NO_CONTENT);
    let after = campaigns
        .get_lead(&campaign.id, &lead.id)
        .await
        .expect("get")
        .expect("lead");
    assert_eq!(after.state.kind(), LeadStateKind::RetryAt, "{after:?}");
    assert_eq!(after.attempts[0].outcome, Some(AttemptOutcome::Failed));
    assert_eq!(after.attempts[0].call_sid.as_ref(), Some(&sid));
    // Again: nothing changes.
    assert_eq!(post(&app, done()).await, StatusCode::NO_CONTENT);
    let again = campaigns
        .get_lead(&campaign.id, &lead.id)
        .await
        .expect("get")
        .expect("lead");
    assert_eq!(again, after);
}
