//! Twilio per organization through the API, against the Twilio REST simulator: buying a
//! number sets its three webhooks, a subaccount is made once per organization, release,
//! status, and every request the simulator saw has the shape Twilio's OpenAPI allows.

use hotline_core::ids::{AccountSid, E164};
use hotline_core::model::Role;
use hotline_sim::twilio_rest::{FakeTwilio, openapi_violations, twilio_openapi};
use hotline_testkit::webhook::{ACCOUNT, OTHER_ACCOUNT, OTHER_TOKEN, TOKEN};
use lambda_http::http::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{App, agent_json, get, key, org, request, send};

/// The platform's main account, which makes subaccounts.
pub const MAIN: &str = "AC00000000000000000000000000000abc";
pub const MAIN_TOKEN: &str = "main-account-token-0000000000000";
const PUBLIC: &str = "https://api.example.com";

/// A simulator that knows acme's, other's and the main account.
pub async fn fake_twilio() -> FakeTwilio {
    let fake = FakeTwilio::start().await.expect("Twilio simulator");
    fake.add_account(ACCOUNT, TOKEN);
    fake.add_account(OTHER_ACCOUNT, OTHER_TOKEN);
    fake.add_account(MAIN, MAIN_TOKEN);
    fake
}

/// The API's Twilio settings for that simulator.
pub fn setup(fake: &FakeTwilio) -> hotline_api::TwilioSetup {
    hotline_api::TwilioSetup::from_lookup(|k| match k {
        "TWILIO_API_BASE_URL" => Some(fake.base_url().to_owned()),
        "TWILIO_ACCOUNT_SID" => Some(MAIN.to_owned()),
        "TWILIO_AUTH_TOKEN" => Some(MAIN_TOKEN.to_owned()),
        "HOTLINE_PUBLIC_URL" => Some(PUBLIC.to_owned()),
        _ => None,
    })
    .expect("Twilio setup")
}

async fn post(app: &App, uri: &str, key: &str, body: &Value) -> super::Answer {
    send(
        app,
        request(Method::POST, uri, Some(key), Some(&body.to_string())),
    )
    .await
}

async fn delete(app: &App, uri: &str, key: &str) -> super::Answer {
    send(app, request(Method::DELETE, uri, Some(key), None)).await
}

fn assert_twilio_shapes(app: &App) {
    let spec = twilio_openapi();
    let requests = app.twilio.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let problems = openapi_violations(&spec, r);
        assert!(problems.is_empty(), "{problems:?}");
    }
}

pub async fn buying_a_number_sets_all_three_webhooks_and_routes_it_to_an_agent(app: App) {
    let bought = post(
        &app,
        "/api/v1/numbers",
        &app.admin,
        &json!({"area_code": "415"}),
    )
    .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.text);
    let body = bought.json();
    let number = body["number"].as_str().expect("number").to_owned();
    assert!(number.starts_with("+1415"), "{body}");
    // acme brought its own account: the number is bought there, no subaccount made.
    assert_eq!(body["account_sid"], ACCOUNT);
    assert!(app.twilio.subaccounts().is_empty());
    // Its first enabled agent, whose analyzers run on its calls.
    assert_eq!(body["agent"], "after-hours");
    assert_eq!(body["analyzers"], json!(["summary"]));

    let on_twilio = app.twilio.incoming_numbers(ACCOUNT);
    assert_eq!(on_twilio.len(), 1);
    let n = &on_twilio[0];
    assert_eq!(n.phone_number, number);
    assert_eq!(
        n.voice_url.as_deref(),
        Some("https://api.example.com/twilio/voice")
    );
    assert_eq!(
        n.status_callback.as_deref(),
        Some("https://api.example.com/twilio/status")
    );
    assert_eq!(
        n.sms_url.as_deref(),
        Some("https://api.example.com/twilio/sms")
    );
    assert_eq!(
        (
            n.voice_method.as_str(),
            n.status_callback_method.as_str(),
            n.sms_method.as_str()
        ),
        ("POST", "POST", "POST")
    );
    assert_eq!(body["twilio_sid"], n.sid.as_str());

    let stored = app
        .stores
        .directory
        .get_number(&E164::parse(&number).expect("e164"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        (
            stored.org.as_str(),
            stored.agent.as_str(),
            stored.enabled,
            stored.sms
        ),
        ("acme", "after-hours", true, true)
    );
    let listed = get(&app, "/api/v1/numbers", &app.admin).await.json();
    assert!(
        listed["numbers"]
            .as_array()
            .expect("numbers")
            .iter()
            .any(|n| n["number"] == number.as_str()),
        "{listed}"
    );

    // Naming the agent and a pattern.
    let named = post(
        &app,
        "/api/v1/numbers",
        &app.admin,
        &json!({"country": "US", "contains": "646", "agent": "front-desk", "sms": false}),
    )
    .await;
    assert_eq!(named.status, StatusCode::CREATED, "{}", named.text);
    assert_eq!(named.json()["agent"], "front-desk");
    assert_eq!(named.json()["sms"], false);
    assert_twilio_shapes(&app);
}

pub async fn a_subaccount_is_made_once_for_an_organization_on_the_main_account(app: App) {
    let d = &app.stores.directory;
    d.put_org(&hotline_testkit::webhook::org("fresh", MAIN, MAIN_TOKEN))
        .await
        .expect("org on the main account");
    let agent =
        hotline_config::agent_from_json(&org("fresh"), agent_json("desk", "Hi.")).expect("agent");
    d.put_agent(&agent).await.expect("agent");
    let (_, fresh) = key(&app.stores, "fresh", Role::Owner).await;

    let first = post(
        &app,
        "/api/v1/numbers",
        &fresh,
        &json!({"area_code": "212"}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let subs = app.twilio.subaccounts();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].owner, MAIN);
    assert_eq!(first.json()["account_sid"], subs[0].sid.as_str());

    let second = post(
        &app,
        "/api/v1/numbers",
        &fresh,
        &json!({"area_code": "212"}),
    )
    .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let explicit = post(&app, "/api/v1/twilio/subaccount", &fresh, &json!({})).await;
    assert_eq!(explicit.status, StatusCode::OK, "{}", explicit.text);
    assert_eq!(
        explicit.json(),
        json!({"account_sid": subs[0].sid, "created": false})
    );
    assert_eq!(app.twilio.subaccounts().len(), 1, "made once");
    assert_eq!(app.twilio.incoming_numbers(&subs[0].sid).len(), 2);
    assert!(app.twilio.incoming_numbers(MAIN).is_empty());

    // The organization now answers for its subaccount, whose token it holds.
    let sub = AccountSid::parse(&subs[0].sid).expect("sid");
    let stored = d.org_by_account(&sub).await.expect("get").expect("org");
    assert_eq!(stored.id.as_str(), "fresh");
    // It remembers the main account the subaccount was made under, so a configuration
    // file still naming that main account does not move it back (hotline apply).
    assert_eq!(
        stored.twilio.parent.as_ref().map(|p| p.as_str()),
        Some(MAIN)
    );
    assert!(!stored.twilio.auth_token.expose_secret().is_empty());
    assert!(
        !first
            .text
            .contains(stored.twilio.auth_token.expose_secret())
    );
    assert!(
        !explicit
            .text
            .contains(stored.twilio.auth_token.expose_secret())
    );
    assert_twilio_shapes(&app);
}

pub async fn an_explicit_subaccount_request_makes_one_and_is_for_writers(app: App) {
    let d = &app.stores.directory;
    d.put_org(&hotline_testkit::webhook::org("fresh", MAIN, MAIN_TOKEN))
        .await
        .expect("org on the main account");
    let (_, owner) = key(&app.stores, "fresh", Role::Owner).await;
    let (_, viewer) = key(&app.stores, "fresh", Role::Viewer).await;
    let refused = post(&app, "/api/v1/twilio/subaccount", &viewer, &json!({})).await;
    refused.problem(StatusCode::FORBIDDEN);
    let made = post(&app, "/api/v1/twilio/subaccount", &owner, &json!({})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.json()["created"], true);
    assert_eq!(app.twilio.subaccounts().len(), 1);
    // acme has its own account: nothing to make.
    let own = post(&app, "/api/v1/twilio/subaccount", &app.admin, &json!({})).await;
    assert_eq!(
        own.json(),
        json!({"account_sid": ACCOUNT, "created": false})
    );
    assert_eq!(app.twilio.subaccounts().len(), 1);
}

pub async fn releasing_a_number_frees_it_on_twilio_and_in_the_store(app: App) {
    let bought = post(
        &app,
        "/api/v1/numbers",
        &app.admin,
        &json!({"area_code": "510"}),
    )
    .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.text);
    let number = bought.json()["number"].as_str().expect("number").to_owned();
    let path = format!("/api/v1/numbers/{}", number.replace('+', "%2B"));

    delete(&app, &path, &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);
    delete(&app, &path, &app.viewer)
        .await
        .problem(StatusCode::FORBIDDEN);
    // acme's seeded number, asked for by another organization: 404, not 403.
    delete(&app, "/api/v1/numbers/+14155550111", &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(app.twilio.incoming_numbers(ACCOUNT).len(), 1);

    let released = delete(&app, &path, &app.admin).await;
    assert_eq!(released.status, StatusCode::NO_CONTENT, "{}", released.text);
    assert!(app.twilio.incoming_numbers(ACCOUNT).is_empty());
    let e164 = E164::parse(&number).expect("e164");
    assert!(
        app.stores
            .directory
            .get_number(&e164)
            .await
            .expect("get")
            .is_none()
    );
    delete(&app, &path, &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_twilio_shapes(&app);
}

pub async fn twilio_status_says_connected_then_why_not(app: App) {
    post(
        &app,
        "/api/v1/numbers",
        &app.admin,
        &json!({"area_code": "415"}),
    )
    .await;
    let status = get(&app, "/api/v1/twilio/status", &app.viewer).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    let s = status.json();
    assert_eq!(s["connected"], true, "{s}");
    assert_eq!(s["account"]["sid"], ACCOUNT);
    assert_eq!(s["error"], Value::Null);
    assert_eq!(s["numbers"].as_array().expect("numbers").len(), 1);
    assert_eq!(
        s["numbers"][0]["voice_url"],
        "https://api.example.com/twilio/voice"
    );
    assert!(!status.text.contains(TOKEN));

    // The token was rotated on Twilio's side and not in hotline: 401 from Twilio.
    app.twilio.add_account(ACCOUNT, "rotated-on-twilio");
    let s = get(&app, "/api/v1/twilio/status", &app.admin).await.json();
    assert_eq!(s["connected"], false, "{s}");
    assert_eq!(s["numbers"], json!([]));
    let why = s["error"].as_str().expect("error in words");
    assert!(
        why.contains("refused the organization's credentials"),
        "{why}"
    );
    assert!(!s.to_string().contains(TOKEN));
}

pub async fn buying_refuses_clearly_when_nothing_matches_or_the_request_is_wrong(app: App) {
    app.twilio.set_available_numbers("US", &[]);
    let none = post(
        &app,
        "/api/v1/numbers",
        &app.admin,
        &json!({"area_code": "415"}),
    )
    .await;
    let detail = none.problem(StatusCode::CONFLICT);
    assert!(
        detail.contains("no US number available in area code 415"),
        "{detail}"
    );
    for (body, says) in [
        (json!({"area_code": "41"}), "three digits"),
        (json!({}), "area_code"),
        (json!({"area_code": "415", "country": "usa"}), "country"),
        (json!({"contains": "5!"}), "contains"),
        (
            json!({"area_code": "415", "agent": "nobody"}),
            "no agent nobody",
        ),
        (json!({"area_code": "415", "colour": "red"}), "colour"),
    ] {
        let detail = post(&app, "/api/v1/numbers", &app.admin, &body)
            .await
            .problem(StatusCode::BAD_REQUEST);
        assert!(detail.contains(says), "{body}: {detail}");
    }
    post(
        &app,
        "/api/v1/numbers",
        &app.viewer,
        &json!({"area_code": "415"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    assert!(app.twilio.incoming_numbers(ACCOUNT).is_empty());
}

/// An account with more numbers than Twilio's largest page (1000): the status counts
/// them all, reading page after page by `next_page_uri`.
pub async fn twilio_status_counts_every_page_of_numbers(app: App) {
    let many: Vec<String> = (0..2345)
        .map(|n| format!("+1212{:07}", 5_550_000 + n))
        .collect();
    app.twilio.own_numbers(ACCOUNT, &many);
    let s = get(&app, "/api/v1/twilio/status", &app.viewer).await.json();
    assert_eq!(s["connected"], true, "{}", s["error"]);
    let listed: Vec<&str> = s["numbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .map(|n| n["number"].as_str().expect("number"))
        .collect();
    assert_eq!(listed.len(), 2345);
    assert_eq!(listed, many.iter().map(String::as_str).collect::<Vec<_>>());
    let pages = app
        .twilio
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/IncomingPhoneNumbers.json"))
        .count();
    assert_eq!(pages, 3, "1000 + 1000 + 345");
    assert_twilio_shapes(&app);
}

/// Three first purchases at once for an organization on the main account (three: each
/// buyer tries three of the numbers on offer), then four
/// explicit subaccount requests at once for another: each organization keeps one open
/// subaccount, every number is bought into it, and any other made meanwhile is closed
/// on Twilio.
pub async fn concurrent_first_purchases_keep_one_subaccount_and_close_the_others(app: App) {
    let d = &app.stores.directory;
    let on_main = |id: &'static str| async move {
        d.put_org(&hotline_testkit::webhook::org(id, MAIN, MAIN_TOKEN))
            .await
            .expect("org on the main account");
        let agent =
            hotline_config::agent_from_json(&org(id), agent_json("desk", "Hi.")).expect("agent");
        d.put_agent(&agent).await.expect("agent");
    };
    on_main("fresh").await;
    let (_, fresh) = key(&app.stores, "fresh", Role::Owner).await;
    let area = json!({"area_code": "646"});
    let buy = || post(&app, "/api/v1/numbers", &fresh, &area);
    let (a, b, c) = tokio::join!(buy(), buy(), buy());
    let answers = [a, b, c];
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    }
    let stored = d.get_org(&org("fresh")).await.expect("get").expect("org");
    let kept = stored.twilio.account_sid.to_string();
    assert_ne!(kept, MAIN);
    for answer in &answers {
        assert_eq!(answer.json()["account_sid"], kept.as_str());
    }
    let subs = app.twilio.subaccounts();
    let open: Vec<&str> = subs
        .iter()
        .filter(|s| s.status != "closed")
        .map(|s| s.sid.as_str())
        .collect();
    assert_eq!(open, [kept.as_str()], "{subs:?}");
    assert_eq!(app.twilio.incoming_numbers(&kept).len(), 3);
    for closed in subs.iter().filter(|s| s.status == "closed") {
        assert!(app.twilio.incoming_numbers(&closed.sid).is_empty());
    }
    eprintln!(
        "first purchases at once: {} subaccounts made, {} closed",
        subs.len(),
        subs.len() - 1
    );

    // The main account is free for another organization once fresh has left it.
    on_main("newco").await;
    let (_, newco) = key(&app.stores, "newco", Role::Owner).await;
    let nothing = json!({});
    let make = || post(&app, "/api/v1/twilio/subaccount", &newco, &nothing);
    let (a, b, c, e) = tokio::join!(make(), make(), make(), make());
    let answers = [a, b, c, e];
    let stored = d.get_org(&org("newco")).await.expect("get").expect("org");
    let kept = stored.twilio.account_sid.to_string();
    let created: Vec<bool> = answers
        .iter()
        .map(|a| {
            assert!(a.status.is_success(), "{}", a.text);
            assert_eq!(a.json()["account_sid"], kept.as_str(), "{}", a.text);
            a.json()["created"] == true
        })
        .collect();
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    let open = app
        .twilio
        .subaccounts()
        .into_iter()
        .filter(|s| s.status != "closed" && s.friendly_name.contains("newco"))
        .count();
    assert_eq!(open, 1);
    assert_twilio_shapes(&app);
}
