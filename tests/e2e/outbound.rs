//! Outbound calls end to end on the local stack: `POST /api/v1/calls` through the API,
//! Twilio's REST API simulated and placing the call (status and answering-machine
//! callbacks, the voice webhook, the stream) to a scripted callee, the stream node and
//! the realtime AI simulator on the other side.

use std::time::Duration;

use chrono::Utc;
use hotline_core::model::{AmdOutcome, AnsweredBy, ApiKey, CallStatus, Direction, Role};
use hotline_core::{CallSid, OrgId};
use hotline_e2e::{ACCOUNT, NUMBER, TOKEN, World};
use hotline_local::configure::{DEMO_AGENT, DEMO_ORG};
use hotline_sim::realtime::Script;
use hotline_sim::twilio_callbacks::post_signed;
use hotline_sim::twilio_rest::{
    Callee, CalleeLog, OutboundTiming, RecordedRequest, openapi_violations, twilio_openapi,
};
use serde_json::{Value, json};

const CALLEE: &str = "+14155550142";
const GREETING: &str = "Hi {{name}}, this is Bright Smile Dental.";
const VOICEMAIL: &str = "Hi {{name}}, this is Bright Smile Dental about your visit at {{time}}. Please call us back & ask for <Dr. Lee>.";

fn timing() -> OutboundTiming {
    OutboundTiming {
        ring: Duration::from_millis(100),
        no_answer_after: Duration::from_millis(500),
        hello: Duration::from_millis(400),
        verdict_delay: Duration::from_millis(600),
        human_talk: Duration::from_secs(4),
        greeting: Duration::from_millis(1500),
        beep: Duration::from_millis(300),
    }
}

struct Outbound {
    world: World,
    key: String,
    http: reqwest::Client,
}

impl Outbound {
    async fn start() -> Self {
        let world = World::start_with(Script::default(), |agent| {
            agent.greeting = Some(GREETING.into());
            agent.voicemail_message = Some(VOICEMAIL.into());
            agent.instructions = format!("{} The patient is {{{{name}}}}.", agent.instructions);
        })
        .await;
        world.twilio.place_outbound_calls(timing());
        let (record, key) = ApiKey::issue(
            OrgId::parse(DEMO_ORG).expect("org"),
            "outbound tests".into(),
            Role::Admin,
            Utc::now(),
        );
        world
            .stores
            .api_keys
            .create_api_key(&record)
            .await
            .expect("key");
        Self {
            world,
            key,
            http: reqwest::Client::new(),
        }
    }

    /// `POST /api/v1/calls`: status, body, whether the answer was a replay.
    async fn dial(&self, body: &Value, key: Option<&str>) -> (u16, Value, bool) {
        let mut req = self
            .http
            .post(format!("{}/api/v1/calls", self.world.stack.public_url))
            .bearer_auth(&self.key)
            .json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = req.send().await.expect("dial");
        let status = resp.status().as_u16();
        let replayed = resp.headers().get("idempotent-replayed").is_some();
        (status, resp.json().await.unwrap_or(Value::Null), replayed)
    }

    async fn placed(&self, callee: Callee, vars: Value) -> (CallSid, CalleeLog) {
        self.world.twilio.set_callee(CALLEE, callee);
        let (status, body, _) = self
            .dial(
                &json!({"to": CALLEE, "agent": DEMO_AGENT, "variables": vars}),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let sid = CallSid::parse(body["sid"].as_str().expect("sid")).expect("a CallSid");
        let log = self
            .world
            .twilio
            .callee_done(sid.as_str(), Duration::from_secs(30))
            .await
            .expect("the placed call ended");
        (sid, log)
    }

    async fn record(&self, sid: &CallSid) -> hotline_core::model::Call {
        self.world.finished_call(sid).await
    }

    fn creates(&self) -> Vec<RecordedRequest> {
        self.world
            .twilio
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/Calls.json"))
            .collect()
    }

    fn updates(&self, sid: &CallSid) -> Vec<RecordedRequest> {
        self.world
            .twilio
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/Calls/{sid}.json")))
            .collect()
    }
}

fn vars() -> Value {
    json!({"name": "Ada", "time": "3 pm"})
}

#[tokio::test]
async fn a_dialled_person_hears_the_agent_only_once_detection_says_human() {
    let t = Outbound::start().await;
    let (sid, log) = t.placed(Callee::Human, vars()).await;

    let statuses: Vec<(&str, u16)> = log.statuses.iter().map(|(s, c)| (s.as_str(), *c)).collect();
    assert_eq!(
        statuses,
        [
            ("initiated", 204),
            ("ringing", 204),
            ("in-progress", 204),
            ("completed", 204)
        ]
    );
    assert_eq!(log.webhook_status, 200);
    assert_eq!(log.answered_by, Some(("human".to_owned(), 204)));
    assert!(
        log.said.is_empty(),
        "Twilio said nothing over the callee: {:?}",
        log.said
    );
    assert_eq!(
        log.agent_bytes_before_verdict, 0,
        "the agent talked before the verdict"
    );
    assert!(log.agent_bytes > 0, "the agent never spoke: {log:?}");

    let call = t.record(&sid).await;
    assert_eq!(call.direction, Direction::OutboundApi);
    assert_eq!(call.to.as_str(), CALLEE);
    assert_eq!(call.from.as_str(), NUMBER);
    assert_eq!(call.status, CallStatus::Completed);
    let out = call.outbound.expect("outbound");
    assert_eq!(out.answered_by, Some(AnsweredBy::Human));
    assert_eq!(out.amd_outcome, Some(AmdOutcome::Human));

    // The AI was told the rendered texts: instructions and the opening line.
    let session = t.world.ai.session(0).expect("an AI session");
    let told = format!("{:?}", session.events);
    assert!(told.contains("The patient is Ada."), "{told}");
    assert!(
        told.contains("Hi Ada, this is Bright Smile Dental."),
        "{told}"
    );
    assert!(!told.contains("{{name}}"), "{told}");

    // Twilio was asked exactly as its OpenAPI description allows, with every option.
    let creates = t.creates();
    assert_eq!(creates.len(), 1);
    let create = &creates[0];
    assert!(
        openapi_violations(&twilio_openapi(), create).is_empty(),
        "{:?}",
        openapi_violations(&twilio_openapi(), create)
    );
    assert_eq!(create.auth_user.as_deref(), Some(ACCOUNT));
    let dial = out.dial;
    let public = &t.world.stack.public_url;
    assert_eq!(
        create.param("Url"),
        Some(format!("{public}/twilio/voice?call={dial}").as_str())
    );
    assert_eq!(
        create.param("StatusCallback"),
        Some(format!("{public}/twilio/status?call={dial}").as_str())
    );
    assert_eq!(
        create.params_named("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(create.param("StatusCallbackMethod"), Some("POST"));
    assert_eq!(create.param("MachineDetection"), Some("DetectMessageEnd"));
    assert_eq!(create.param("AsyncAmd"), Some("true"));
    assert_eq!(
        create.param("AsyncAmdStatusCallback"),
        Some(format!("{public}/twilio/amd?call={dial}").as_str())
    );
    assert_eq!(
        create.param("FallbackUrl"),
        Some(format!("{public}/twilio/fallback?call={dial}").as_str())
    );
    assert_eq!(create.param("Timeout"), Some("30"));
    assert!(
        create.param("Record").is_none(),
        "recorded by the TwiML, as inbound calls"
    );
}

#[tokio::test]
async fn a_voicemail_is_left_after_the_beep_never_over_the_greeting() {
    let t = Outbound::start().await;
    let (sid, log) = t.placed(Callee::Voicemail, vars()).await;

    assert_eq!(log.answered_by, Some(("machine_end_beep".to_owned(), 204)));
    assert_eq!(
        log.agent_bytes, 0,
        "the agent talked over the voicemail greeting"
    );
    assert_eq!(
        log.said_after_stream,
        [
            "Hi Ada, this is Bright Smile Dental about your visit at 3 pm. Please call us back & ask for <Dr. Lee>."
        ]
    );
    let beep = log.beep_ended_at.expect("beep");
    let verdict = log.verdict_at.expect("verdict");
    let left = log.replaced_at.expect("message left");
    assert!(
        beep <= verdict && verdict <= left,
        "{beep} {verdict} {left}"
    );
    // The message reached Twilio escaped, as TwiML.
    let updates = t.updates(&sid);
    assert_eq!(updates.len(), 1, "{updates:?}");
    let twiml = updates[0].param("Twiml").expect("twiml");
    assert!(twiml.contains("&amp; ask for &lt;Dr. Lee&gt;."), "{twiml}");
    assert!(twiml.ends_with("<Hangup/></Response>"), "{twiml}");
    assert!(openapi_violations(&twilio_openapi(), &updates[0]).is_empty());

    let call = t.record(&sid).await;
    let out = call.outbound.expect("outbound");
    assert_eq!(out.answered_by, Some(AnsweredBy::MachineEndBeep));
    assert_eq!(out.amd_outcome, Some(AmdOutcome::VoicemailLeft));
    assert!(
        t.world.ai.sessions().is_empty(),
        "no AI session for a machine"
    );
}

#[tokio::test]
async fn busy_and_unanswered_calls_end_with_their_status_and_a_fax_is_hung_up_on() {
    let t = Outbound::start().await;
    for (callee, status, last) in [
        (Callee::Busy, CallStatus::Busy, "busy"),
        (Callee::NoAnswer, CallStatus::NoAnswer, "no-answer"),
    ] {
        let (sid, log) = t.placed(callee, vars()).await;
        let statuses: Vec<&str> = log.statuses.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(statuses, ["initiated", "ringing", last]);
        assert!(log.statuses.iter().all(|(_, c)| *c == 204), "{log:?}");
        assert_eq!(log.webhook_status, 0, "an unanswered call fetches no TwiML");
        let call = t
            .world
            .stores
            .calls
            .get_call(&sid)
            .await
            .expect("get")
            .expect("recorded");
        assert_eq!(call.status, status);
        assert!(call.ended_at.is_some() && call.answered_at.is_none());
    }
    let (sid, log) = t.placed(Callee::Fax, vars()).await;
    assert_eq!(log.answered_by, Some(("fax".to_owned(), 204)));
    assert_eq!(log.agent_bytes, 0);
    let updates = t.updates(&sid);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].param("Status"), Some("completed"));
    let call = t.record(&sid).await;
    assert_eq!(
        call.outbound.and_then(|o| o.amd_outcome),
        Some(AmdOutcome::Fax)
    );
}

#[tokio::test]
async fn one_idempotency_key_places_one_call() {
    let t = Outbound::start().await;
    t.world.twilio.set_callee(CALLEE, Callee::Busy);
    let body = json!({"to": CALLEE, "agent": DEMO_AGENT, "variables": vars()});
    let (s1, first, replay1) = t.dial(&body, Some("order-42")).await;
    let (s2, second, replay2) = t.dial(&body, Some("order-42")).await;
    assert_eq!((s1, s2), (201, 201), "{first} {second}");
    assert_eq!(first["sid"], second["sid"]);
    assert_eq!(first["dial"], second["dial"]);
    assert_eq!((replay1, replay2), (false, true));
    assert_eq!(t.creates().len(), 1);

    let other =
        json!({"to": CALLEE, "agent": DEMO_AGENT, "variables": {"name": "Bo", "time": "4"}});
    let (status, problem, _) = t.dial(&other, Some("order-42")).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(t.creates().len(), 1);
    // Another key is another call.
    let (status, third, _) = t.dial(&body, Some("order-43")).await;
    assert_eq!(status, 201);
    assert_ne!(third["sid"], first["sid"]);
    assert_eq!(t.creates().len(), 2);
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_is_dialled() {
    let t = Outbound::start().await;
    let cases = [
        (
            json!({"to": CALLEE, "agent": DEMO_AGENT, "variables": {"name": "Ada"}}),
            422,
            "time",
        ),
        (
            json!({"to": CALLEE, "agent": DEMO_AGENT, "variables": vars(), "from": "+15559990000"}),
            400,
            "+15559990000",
        ),
        (
            json!({"to": "555-0142", "agent": DEMO_AGENT, "variables": vars()}),
            400,
            "to",
        ),
        (
            json!({"to": CALLEE, "agent": "nobody", "variables": vars()}),
            400,
            "nobody",
        ),
        (
            json!({"to": CALLEE, "agent": DEMO_AGENT, "variables": {"name": "Ada", "time": {"h": 3}}}),
            400,
            "time",
        ),
    ];
    for (body, want, names) in cases {
        let (status, problem, _) = t.dial(&body, None).await;
        assert_eq!(status, want, "{body}: {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(names), "{body}: {detail}");
    }
    assert!(t.creates().is_empty(), "nothing may be dialled");
    // A viewer may read calls, not place them.
    let viewer = ApiKey::issue(
        OrgId::parse(DEMO_ORG).expect("org"),
        "viewer".into(),
        Role::Viewer,
        Utc::now(),
    );
    t.world
        .stores
        .api_keys
        .create_api_key(&viewer.0)
        .await
        .expect("key");
    let resp = t
        .http
        .post(format!("{}/api/v1/calls", t.world.stack.public_url))
        .bearer_auth(&viewer.1)
        .json(&json!({"to": CALLEE, "agent": DEMO_AGENT, "variables": vars()}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 403, "a viewer may not dial");
    assert!(t.creates().is_empty());
}

#[tokio::test]
async fn replayed_and_late_callbacks_change_nothing() {
    let t = Outbound::start().await;
    let (sid, _) = t.placed(Callee::Voicemail, vars()).await;
    let before = t.record(&sid).await;
    let updates_before = t.updates(&sid).len();
    let fake = t.world.twilio.call(sid.as_str()).expect("fake call");
    let amd = fake.async_amd_callback.expect("amd url");
    let status = fake.status_callback.expect("status url");
    let http = reqwest::Client::new();
    let form = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    for verdict in ["machine_end_beep", "human"] {
        let params = form(&[
            ("AccountSid", ACCOUNT),
            ("CallSid", sid.as_str()),
            ("AnsweredBy", verdict),
        ]);
        let (code, _) = post_signed(&http, &amd, TOKEN, &params)
            .await
            .expect("post");
        assert_eq!(code, 204);
    }
    for late in ["ringing", "in-progress", "completed", "busy"] {
        let params = form(&[
            ("AccountSid", ACCOUNT),
            ("CallSid", sid.as_str()),
            ("CallStatus", late),
            ("Timestamp", "Tue, 31 Aug 2010 20:36:44 +0000"),
        ]);
        let (code, _) = post_signed(&http, &status, TOKEN, &params)
            .await
            .expect("post");
        assert_eq!(code, 204);
    }
    let after = t.record(&sid).await;
    // What callbacks could touch (the post-call pipeline may be writing its stages).
    let seen = |c: &hotline_core::model::Call| {
        (
            c.status,
            c.answered_at,
            c.ended_at,
            c.outbound.clone(),
            c.outcome.clone(),
        )
    };
    assert_eq!(seen(&after), seen(&before), "a replay changed the record");
    assert_eq!(
        t.updates(&sid).len(),
        updates_before,
        "the voicemail was left twice"
    );
    // Unsigned: refused, nothing written.
    let resp = http
        .post(&amd)
        .form(&form(&[
            ("AccountSid", ACCOUNT),
            ("CallSid", sid.as_str()),
            ("AnsweredBy", "human"),
        ]))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 403);
}

#[tokio::test]
async fn a_live_call_is_listed_and_ended_through_the_api_and_the_fallback_apologizes() {
    let t = Outbound::start().await;
    t.world.twilio.set_callee(CALLEE, Callee::Human);
    let (status, body, _) = t
        .dial(
            &json!({"to": CALLEE, "agent": DEMO_AGENT, "variables": vars()}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let sid = body["sid"].as_str().expect("sid").to_owned();
    let api = format!("{}/api/v1/calls", t.world.stack.public_url);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page: Value = t
            .http
            .get(format!("{api}?status=in-progress"))
            .bearer_auth(&t.key)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        if page["calls"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["sid"] == sid.as_str()))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never listed in progress: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp = t
        .http
        .post(format!("{api}/{sid}/end"))
        .bearer_auth(&t.key)
        .send()
        .await
        .expect("end");
    assert_eq!(resp.status().as_u16(), 202);
    let log = t
        .world
        .twilio
        .callee_done(&sid, Duration::from_secs(10))
        .await
        .expect("ended");
    assert_eq!(
        log.statuses.last().map(|(s, _)| s.as_str()),
        Some("completed")
    );
    let sid = CallSid::parse(&sid).expect("sid");
    assert!(
        t.updates(&sid)
            .iter()
            .any(|u| u.param("Status") == Some("completed"))
    );
    let resp = t
        .http
        .post(format!("{api}/{sid}/end"))
        .bearer_auth(&t.key)
        .send()
        .await
        .expect("end again");
    assert_eq!(
        resp.status().as_u16(),
        409,
        "an ended call cannot be ended again"
    );

    // Twilio's fallback for this call: an apology, and the call marked for a retry.
    let fake = t.world.twilio.call(sid.as_str()).expect("fake call");
    let url = format!(
        "{}/twilio/fallback?{}",
        t.world.stack.public_url,
        fake.url
            .as_deref()
            .and_then(|u| u.split_once('?'))
            .map(|(_, q)| q)
            .expect("query")
    );
    let params = vec![
        ("AccountSid".to_owned(), ACCOUNT.to_owned()),
        ("CallSid".to_owned(), sid.to_string()),
        ("ErrorCode".to_owned(), "11200".to_owned()),
    ];
    let (code, twiml) = post_signed(&reqwest::Client::new(), &url, TOKEN, &params)
        .await
        .expect("fallback");
    assert_eq!(code, 200);
    assert!(
        twiml.contains("<Say>Sorry, we are having technical difficulties"),
        "{twiml}"
    );
    assert!(twiml.contains("<Hangup/>"), "{twiml}");
    let call = t
        .world
        .stores
        .calls
        .get_call(&sid)
        .await
        .expect("get")
        .expect("call");
    let out = call.outbound.expect("outbound");
    assert!(out.fallback);
    let dial = t
        .world
        .stores
        .dials
        .get_dial(&out.dial)
        .await
        .expect("get")
        .expect("dial");
    assert!(dial.retry);
}
