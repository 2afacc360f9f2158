//! A campaign end to end on the local stack: 50 leads created and started through the
//! API, dialed by the dialer's timer (`hotline up`'s, every `HOTLINE_DIALER_SECS`), each
//! number answered by a scripted callee of the Twilio simulator (people, voicemail,
//! busy then a person, always busy, no answer, fax), moved by the real status and
//! answering-machine callbacks until the campaign completes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use hotline_core::model::{ApiKey, Role};
use hotline_core::{CallSid, OrgId};
use hotline_e2e::{ACCOUNT, NUMBER, TOKEN, World};
use hotline_local::configure::{DEMO_AGENT, DEMO_ORG};
use hotline_sim::realtime::Script;
use hotline_sim::twilio_callbacks::{CallStatusCallback, post_signed};
use hotline_sim::twilio_rest::{Callee, OutboundTiming};
use serde_json::{Value, json};

const LEADS: usize = 50;
const COOLDOWN_SECS: i64 = 2;
const MAX_ATTEMPTS: usize = 3;
const MAX_CONCURRENT: usize = 5;

fn timing() -> OutboundTiming {
    OutboundTiming {
        ring: Duration::from_millis(100),
        no_answer_after: Duration::from_millis(400),
        hello: Duration::from_millis(300),
        verdict_delay: Duration::from_millis(300),
        human_talk: Duration::from_millis(1500),
        greeting: Duration::from_millis(800),
        beep: Duration::from_millis(200),
    }
}

fn phone(i: usize) -> String {
    format!("+121255501{i:02}")
}

/// Who answers lead `i`, call after call, and the lead's expected final outcome and
/// number of attempts (`None`: never dialed).
fn script(i: usize) -> (Vec<Callee>, &'static str, Option<usize>) {
    match i {
        0..20 => (vec![Callee::Human], "human", Some(1)),
        20..25 => (vec![Callee::Voicemail], "voicemail_left", Some(1)),
        25..33 => (vec![Callee::Busy, Callee::Human], "human", Some(2)),
        33..38 => (vec![Callee::Busy], "busy", Some(MAX_ATTEMPTS)),
        38..43 => (vec![Callee::NoAnswer], "no_answer", Some(MAX_ATTEMPTS)),
        43..45 => (vec![Callee::Fax], "fax", Some(1)),
        45..47 => (vec![Callee::Human], "opted_out", None),
        _ => (vec![Callee::NoAnswer, Callee::Human], "human", Some(2)),
    }
}

/// A window open for the next two hours in `zone`, wherever the test runs.
fn window_open_now(zone: chrono_tz::Tz) -> Value {
    let local = Utc::now().with_timezone(&zone);
    let start = (local.hour() + 23) % 24;
    let end = (local.hour() + 2) % 24;
    json!({"start": format!("{start:02}:00"), "end": format!("{end:02}:00")})
}

/// The dialer as `hotline up` runs it, every HOTLINE_DIALER_SECS=1, and an admin's API.
async fn dialer_and_api(world: &mut World) -> Api {
    let period = hotline_local::dialer_timer::period(|k| {
        (k == "HOTLINE_DIALER_SECS").then(|| "1".to_owned())
    })
    .expect("period");
    let dialer = Arc::new(hotline_dialer::Deps {
        directory: world.stores.directory.clone(),
        calls: world.stores.calls.clone(),
        contacts: world.stores.contacts.clone(),
        dials: world.stores.dials.clone(),
        campaigns: world.stores.campaigns.clone(),
        placer: Arc::new(hotline_twilio::calls::TwilioCalls(
            hotline_twilio::rest::TwilioClient::new(
                world.twilio.base_url(),
                reqwest::Client::new(),
            ),
        )),
        urls: hotline_core::dial::DialUrls {
            base: world.stack.public_url.clone(),
        },
    });
    world.stack.spawn_dialer(dialer, period);
    let (record, key) = ApiKey::issue(
        OrgId::parse(DEMO_ORG).expect("org"),
        "campaign test".into(),
        Role::Admin,
        Utc::now(),
    );
    world
        .stores
        .api_keys
        .create_api_key(&record)
        .await
        .expect("key");
    Api {
        base: world.stack.public_url.clone(),
        key,
        http: reqwest::Client::new(),
    }
}

/// The calls Twilio was asked to place.
fn creates(world: &World) -> Vec<hotline_sim::twilio_rest::RecordedRequest> {
    world
        .twilio
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/Calls.json"))
        .collect()
}

struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("API");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// The campaign once it completed (as `hotline campaign status --watch` follows it).
    async fn completed(&self, id: &str, within: Duration) -> Value {
        let started = std::time::Instant::now();
        loop {
            let (_, got) = self.get(&format!("/api/v1/campaigns/{id}")).await;
            if got["state"] == "completed" {
                return got;
            }
            assert!(started.elapsed() < within, "not completed: {got}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn leads(&self, id: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = self
                .get(&format!("/api/v1/campaigns/{id}/leads?limit=100{cursor}"))
                .await;
            assert_eq!(status, 200, "{page}");
            all.extend(page["leads"].as_array().expect("leads").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return all,
            }
        }
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("a time: {v}"))
}

#[tokio::test]
async fn a_campaign_of_fifty_leads_retries_by_outcome_within_its_limits_and_completes() {
    let mut world = World::start_with(Script::default(), |agent| {
        agent.greeting = Some("Hi {{name}}, this is Bright Smile Dental.".into());
        agent.voicemail_message = Some("Hi {{name}}, please call Bright Smile Dental back.".into());
    })
    .await;
    world.twilio.place_outbound_calls(timing());
    for i in 0..LEADS {
        world.twilio.set_callees(phone(i), &script(i).0);
    }
    let api = dialer_and_api(&mut world).await;

    let leads: Vec<Value> = (0..LEADS)
        .map(|i| json!({"phone": phone(i), "name": format!("Lead {i}")}))
        .collect();
    let (status, created) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/campaigns",
            Some(json!({
                "name": "Recall", "agent": DEMO_AGENT, "caller_ids": [NUMBER],
                "retry": {"max_attempts": MAX_ATTEMPTS, "cooldown_secs": COOLDOWN_SECS,
                          "retry_on": ["busy", "no-answer"]},
                "window": window_open_now(chrono_tz::America::New_York),
                "max_concurrent": MAX_CONCURRENT, "calls_per_second": 5,
                "leads": leads,
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["leads"]["imported"], LEADS, "{created}");
    let id = created["campaign"]["id"].as_str().expect("id").to_owned();
    for i in 45..47 {
        let (status, body) = api
            .call(
                reqwest::Method::POST,
                "/api/v1/do-not-call",
                Some(json!({"phone": phone(i)})),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/campaigns/{id}/start"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Watch it to the end, as `hotline campaign status --watch` does.
    let started = std::time::Instant::now();
    let campaign = api.completed(&id, Duration::from_secs(240)).await;
    let took = started.elapsed();

    // Every lead ends in exactly one final state, with the outcome its callee gave.
    let counts = &campaign["counts"];
    assert_eq!(counts["total"], LEADS);
    assert_eq!(counts["by_state"]["finished"], 48, "{counts}");
    assert_eq!(counts["by_state"]["opted_out"], 2, "{counts}");
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..LEADS {
        let outcome = script(i).1;
        if outcome != "opted_out" {
            *expected.entry(outcome).or_default() += 1;
        }
    }
    let by_outcome: BTreeMap<&str, usize> = counts["by_outcome"]
        .as_object()
        .expect("by_outcome")
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_u64().expect("count") as usize))
        .collect();
    assert_eq!(by_outcome, expected);

    let leads = api.leads(&id).await;
    assert_eq!(leads.len(), LEADS);
    let creates = creates(&world);
    let mut total_attempts = 0;
    let mut shortest_gap = i64::MAX;
    for lead in &leads {
        let number = lead["phone"].as_str().expect("phone");
        let i = (0..LEADS)
            .find(|i| phone(*i) == number)
            .expect("one of ours");
        let (_, outcome, attempts) = script(i);
        let tried = lead["attempts"].as_array().expect("attempts");
        assert_eq!(lead["outcome"], outcome, "{lead}");
        assert_eq!(Some(tried.len()).filter(|n| *n > 0), attempts, "{lead}");
        let placed_to = creates
            .iter()
            .filter(|r| r.param("To") == Some(number))
            .count();
        assert_eq!(placed_to, tried.len(), "{number}: each attempt placed once");
        total_attempts += tried.len();
        // Retried a cooldown after the previous attempt's end, and no sooner.
        for pair in tried.windows(2) {
            let ended = time(&pair[0]["ended"]);
            let next = time(&pair[1]["started"]);
            let gap = (next - ended).num_milliseconds();
            assert!(
                gap >= COOLDOWN_SECS * 1000,
                "{number}: retried {gap} ms after the end: {lead}"
            );
            shortest_gap = shortest_gap.min(gap);
        }
        for attempt in tried {
            assert!(
                attempt["call_sid"].is_string() && attempt["ended"].is_string(),
                "{lead}"
            );
        }
    }
    assert_eq!(creates.len(), total_attempts);
    // The do-not-call numbers were never dialed.
    for i in 45..47 {
        assert!(
            creates
                .iter()
                .all(|r| r.param("To") != Some(phone(i).as_str()))
        );
    }
    let max_live = world.twilio.max_live_calls();
    assert!(max_live <= MAX_CONCURRENT, "{max_live} calls at once");

    // Voicemail was left after the beep.
    let voicemail = leads
        .iter()
        .find(|l| l["phone"] == phone(20))
        .expect("lead 20");
    let sid = voicemail["attempts"][0]["call_sid"].as_str().expect("sid");
    let log = world.twilio.callee_log(sid).expect("callee log");
    let (beep, left) = (
        log.beep_ended_at.expect("beep"),
        log.replaced_at.expect("left"),
    );
    assert!(beep <= left, "{beep} {left}");
    assert_eq!(
        log.said_after_stream,
        ["Hi Lead 20, please call Bright Smile Dental back."]
    );

    // Replayed and out-of-order status callbacks change nothing: a busy-then-human
    // lead's first attempt's `busy` and its second's `completed`, again, and the second's
    // `ringing` after its end.
    let lead = leads
        .iter()
        .find(|l| l["phone"] == phone(25))
        .expect("lead 25")
        .clone();
    let http = reqwest::Client::new();
    for (n, status) in [
        (0, "busy"),
        (1, "completed"),
        (1, "ringing"),
        (0, "no-answer"),
    ] {
        let sid =
            CallSid::parse(lead["attempts"][n]["call_sid"].as_str().expect("sid")).expect("sid");
        let call = world
            .stores
            .calls
            .get_call(&sid)
            .await
            .expect("get")
            .expect("call");
        let dial = call.outbound.expect("outbound").dial;
        let mut cb = CallStatusCallback::new(
            hotline_core::AccountSid::parse(ACCOUNT).expect("account"),
            sid,
            status,
        );
        cb.to = phone(25);
        cb.from = NUMBER.to_owned();
        let url = format!("{}/twilio/status?call={dial}", world.stack.public_url);
        let (code, _) = post_signed(&http, &url, TOKEN, &cb.params())
            .await
            .expect("callback");
        assert_eq!(code, 204);
    }
    let again = api.leads(&id).await;
    let after = again
        .iter()
        .find(|l| l["phone"] == phone(25))
        .expect("lead 25");
    assert_eq!(after, &lead, "a replayed callback changed the lead");
    let (_, still) = api.get(&format!("/api/v1/campaigns/{id}")).await;
    assert_eq!(still["counts"], campaign["counts"]);

    println!(
        "campaign of {LEADS} leads: {total_attempts} calls placed, completed in {:.1} s, \
         at most {max_live} live at once (limit {MAX_CONCURRENT}), shortest retry gap {shortest_gap} ms \
         (cooldown {COOLDOWN_SECS} s)",
        took.as_secs_f64()
    );
}

/// A campaign of `phones` (in Los Angeles) started; its id.
async fn started_campaign(api: &Api, phones: &[&str]) -> String {
    let leads: Vec<Value> = phones
        .iter()
        .map(|p| json!({"phone": p, "name": "Ada"}))
        .collect();
    let (status, created) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/campaigns",
            Some(json!({
                "name": "Follow-up", "agent": DEMO_AGENT, "caller_ids": [NUMBER],
                "window": window_open_now(chrono_tz::America::Los_Angeles),
                "leads": leads,
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["campaign"]["id"].as_str().expect("id").to_owned();
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/campaigns/{id}/start"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_asks_not_to_be_called_again_is_never_dialed_by_a_campaign() {
    use hotline_core::model::{ToolKind, ToolSpec};
    use hotline_sim::phone::{AudioSource, Phone, Segment};
    use hotline_sim::realtime::ToolCue;

    let mut world = World::start_with(
        Script {
            tool_calls: vec![ToolCue::new(0, "opt_out", "{}")],
            ..Script::default()
        },
        |agent| {
            agent.tools.push(ToolSpec {
                name: "opt_out".into(),
                description: "The person asked not to be called again.".into(),
                parameters: json!({"type": "object", "properties": {}}),
                kind: ToolKind::OptOut,
            });
        },
    )
    .await;
    world.twilio.place_outbound_calls(timing());
    let api = dialer_and_api(&mut world).await;

    // The caller says "stop calling me"; the model calls `opt_out`.
    let spec = world.call(
        AudioSource::Script(vec![
            Segment::Silence { ms: 2500 },
            Segment::Speech { ms: 800 },
            Segment::Silence { ms: 3000 },
        ]),
        Duration::from_secs(6),
    );
    Phone::call(spec, None).await.expect("call");
    let session = world.ai.session(0).expect("session");
    let outputs = session.function_call_outputs();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert!(outputs[0].1.contains("\"opted_out\":true"), "{outputs:?}");
    let (_, listed) = api.get("/api/v1/do-not-call").await;
    assert_eq!(listed["numbers"], json!([hotline_e2e::CALLER]));

    // A campaign to that number and another: the other is called, that one never.
    let other = "+14155550177";
    let id = started_campaign(&api, &[hotline_e2e::CALLER, other]).await;
    let campaign = api.completed(&id, Duration::from_secs(60)).await;
    assert_eq!(campaign["counts"]["by_state"]["opted_out"], 1, "{campaign}");
    assert_eq!(campaign["counts"]["by_outcome"]["human"], 1, "{campaign}");
    let creates = creates(&world);
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].param("To"), Some(other));
}
