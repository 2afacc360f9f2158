//! Twilio's webhooks to hotline as the webhook functions' tests send them: two
//! organizations with their Twilio accounts, form posts signed (or not) the way Twilio
//! signs them, and the API Gateway events in `tests/fixtures/apigw/` (written by
//! `tests/vectors/generate_apigw.py`).

use chrono::{DateTime, Utc};
use hotline_core::ids::{AccountSid, AgentId, CallSid, OrgId, Party};
use hotline_core::model::{
    Call, CallStatus, Direction, OrgSettings, Organization, PostCall, TwilioAccount,
};
use hotline_store::Stores;
use hotline_twilio::signature;
use hotline_webhook::WebhookConfig;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

/// The auth token of [`ACCOUNT`], organization `acme`.
pub const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
pub const ACCOUNT: &str = "AC11111111111111111111111111111111";
/// The auth token of [`OTHER_ACCOUNT`], organization `other`.
pub const OTHER_TOKEN: &str = "ffffeeeeddddccccbbbbaaaa99998888";
pub const OTHER_ACCOUNT: &str = "AC99999999999999999999999999999999";
/// hotline's public URL, over which Twilio signs.
pub const PUBLIC: &str = "https://api.example.com";
/// The call the API Gateway events are about.
pub const CALL: &str = "CA22222222222222222222222222222222";

/// An organization whose Twilio account is `account`, signing with `token`.
pub fn org(id: &str, account: &str, token: &str) -> Organization {
    Organization {
        id: OrgId::parse(id).expect("org"),
        name: id.into(),
        twilio: TwilioAccount {
            parent: None,
            account_sid: AccountSid::parse(account).expect("account"),
            auth_token: token.to_owned().into(),
        },
        settings: OrgSettings::default(),
        version: 0,
    }
}

/// Stores `acme` ([`ACCOUNT`], [`TOKEN`]) and `other` ([`OTHER_ACCOUNT`], [`OTHER_TOKEN`]).
pub async fn seed_orgs(stores: &Stores) {
    let d = &stores.directory;
    d.put_org(&org("acme", ACCOUNT, TOKEN)).await.expect("org");
    d.put_org(&org("other", OTHER_ACCOUNT, OTHER_TOKEN))
        .await
        .expect("other org");
}

/// The `n`th test call's SID.
pub fn call_sid(n: u32) -> String {
    format!("CA{n:032x}")
}

/// 2026-11-20 21:40:00 UTC plus `secs`: when the API Gateway events' call rang.
pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_210_800 + secs, 0).expect("time")
}

/// The record of an inbound call to agent `front-desk` of `org`, ringing since `t(0)`.
pub fn call(sid: &str, org: &str) -> Call {
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
        transfers: Vec::new(),
        outcome: None,
        recording: None,
        post_call: PostCall::default(),
        outbound: None,
        version: 0,
    }
}

/// The webhook configuration of a deployment at `public`.
pub fn config(public: &str) -> WebhookConfig {
    WebhookConfig::from_lookup(|k| (k == "HOTLINE_PUBLIC_URL").then(|| public.to_owned()))
        .expect("config")
}

/// `route` at [`PUBLIC`], with `query` (without its `?`) when there is one.
pub fn url(route: &str, query: &str) -> String {
    if query.is_empty() {
        format!("{PUBLIC}{route}")
    } else {
        format!("{PUBLIC}{route}?{query}")
    }
}

/// Form fields from pairs, in order.
pub fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `params` without `field`.
pub fn without(mut params: Vec<(String, String)>, field: &str) -> Vec<(String, String)> {
    params.retain(|(k, _)| k != field);
    params
}

/// `params` with every `field` set to `value`.
pub fn with(mut params: Vec<(String, String)>, field: &str, value: &str) -> Vec<(String, String)> {
    for (k, v) in &mut params {
        if k == field {
            value.clone_into(v);
        }
    }
    params
}

/// A form POST to `url` as Twilio sends it, with `signature` as `X-Twilio-Signature`.
pub fn post(url: &str, params: &[(String, String)], signature: Option<String>) -> Request {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut req = lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(sig) = signature {
        req = req.header("x-twilio-signature", sig);
    }
    req.body(Body::Binary(body.into_bytes())).expect("request")
}

/// A form POST to `url` signed with `token` over that very URL, as Twilio signs.
pub fn signed_post(url: &str, params: &[(String, String)], token: &str) -> Request {
    post(url, params, Some(signature::compute(token, url, params)))
}

/// A response's body as text.
pub fn text(resp: &Response<Body>) -> String {
    match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        Body::Empty => String::new(),
        _ => panic!("unexpected body"),
    }
}

/// The status of a callback's answer, after checking its shape: a 204 has no body, a
/// refusal says why.
pub fn callback_status(resp: &Response<Body>) -> StatusCode {
    let status = resp.status();
    if status == StatusCode::NO_CONTENT {
        assert!(matches!(resp.body(), Body::Empty), "204 has no body");
    } else {
        assert!(!text(resp).is_empty(), "{status}: a refusal says why");
    }
    status
}

/// The API Gateway event `tests/fixtures/apigw/{name}.json`, as JSON.
pub fn api_gateway_event(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/apigw/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The request `lambda_http` makes of an API Gateway HTTP API (v2) event.
pub fn api_gateway_request(event: &str) -> Request {
    lambda_http::request::from_str(event).expect("API Gateway v2 event")
}
