//! The organization's default analyzers (`/api/v1/analyzers`, `PATCH
//! /api/v1/organization`) and what a bought number gets of them; one number read and
//! changed; the calls list's filters together.

use hotline_core::ids::E164;
use hotline_core::model::Role;
use lambda_http::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{App, get, key, org, put, request, send, sids};

async fn delete(app: &App, uri: &str, key: &str) -> super::Answer {
    send(app, request(Method::DELETE, uri, Some(key), None)).await
}

async fn patch(app: &App, uri: &str, key: &str, body: &Value) -> super::Answer {
    send(
        app,
        request(Method::PATCH, uri, Some(key), Some(&body.to_string())),
    )
    .await
}

fn lead() -> Value {
    json!({
        "prompt": "Is the caller a sales lead?",
        "schema": {"type": "object", "properties": {"lead": {"type": "boolean"}},
                   "required": ["lead"], "additionalProperties": false},
    })
}

pub async fn default_analyzers_are_listed_written_by_name_and_audited(app: App) {
    let empty = get(&app, "/api/v1/analyzers", &app.viewer).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    assert_eq!(empty.json()["analyzers"], json!([]));
    let version = empty.json()["version"].as_u64().expect("version");

    let created = put(&app, "/api/v1/analyzers/lead", &app.admin, &lead()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let body = created.json();
    assert_eq!(body["name"], "lead");
    assert_eq!(body["numbers"], json!([]));
    assert_eq!(body["agents"], json!([]));
    // "summary" is also every acme agent's own analyzer: the list says who has one.
    let summary = json!({"prompt": "Summarize", "schema": {"type": "string"}});
    let made = put(&app, "/api/v1/analyzers/summary", &app.admin, &summary).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let mut changed = lead();
    changed["prompt"] = "Would they buy?".into();
    let replaced = put(&app, "/api/v1/analyzers/lead", &app.admin, &changed).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);

    let list = get(&app, "/api/v1/analyzers", &app.viewer).await.json();
    let names: Vec<&str> = list["analyzers"]
        .as_array()
        .expect("analyzers")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["lead", "summary"]);
    assert_eq!(list["analyzers"][0]["prompt"], "Would they buy?");
    assert_eq!(
        list["analyzers"][1]["agents"],
        json!(["after-hours", "front-desk"])
    );
    assert!(list["version"].as_u64().expect("version") > version);
    let one = get(&app, "/api/v1/analyzers/summary", &app.viewer).await;
    assert_eq!(one.json()["prompt"], "Summarize", "{}", one.text);
    let org_view = get(&app, "/api/v1/organization", &app.viewer).await.json();
    assert_eq!(org_view["default_analyzers"][0]["name"], "lead");

    // A stale version is refused; the current one is taken.
    let mut pinned = lead();
    pinned["version"] = version.into();
    put(&app, "/api/v1/analyzers/lead", &app.admin, &pinned)
        .await
        .problem(StatusCode::CONFLICT);
    pinned["version"] = list["version"].clone();
    let ok = put(&app, "/api/v1/analyzers/lead", &app.admin, &pinned).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    // Checked as the configuration file checks them.
    for (uri, body, says) in [
        ("/api/v1/analyzers/lead", json!({"prompt": "x", "schema": {"type": 7}}), "schema"),
        ("/api/v1/analyzers/lead", json!({"prompt": " ", "schema": {"type": "string"}}), "prompt"),
        ("/api/v1/analyzers/no%20spaces", lead(), "name"),
        ("/api/v1/analyzers/lead", json!({"prompt": "x"}), "schema"),
        ("/api/v1/analyzers/lead", json!({"prompt": "x", "schema": {}, "colour": 1}), "colour"),
    ] {
        let detail = put(&app, uri, &app.admin, &body)
            .await
            .problem(StatusCode::BAD_REQUEST);
        assert!(detail.contains(says), "{says}: {detail}");
    }
    put(&app, "/api/v1/analyzers/x", &app.viewer, &lead())
        .await
        .problem(StatusCode::FORBIDDEN);
    delete(&app, "/api/v1/analyzers/lead", &app.viewer)
        .await
        .problem(StatusCode::FORBIDDEN);
    // Another organization sees none of them and cannot touch them.
    assert_eq!(
        get(&app, "/api/v1/analyzers", &app.other).await.json()["analyzers"],
        json!([])
    );
    get(&app, "/api/v1/analyzers/lead", &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);
    delete(&app, "/api/v1/analyzers/lead", &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);

    let gone = delete(&app, "/api/v1/analyzers/summary", &app.admin).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    delete(&app, "/api/v1/analyzers/summary", &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    get(&app, "/api/v1/analyzers/summary", &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);

    // The organization's settings replace them all at once, checked the same way.
    let bad = json!({"default_analyzers": [
        {"name": "a", "prompt": "x", "schema": {"type": "string"}},
        {"name": "a", "prompt": "y", "schema": {"type": "string"}}]});
    let detail = patch(&app, "/api/v1/organization", &app.admin, &bad)
        .await
        .problem(StatusCode::BAD_REQUEST);
    assert!(detail.contains("default_analyzers[1].name"), "{detail}");
    let set = json!({"default_analyzers": [{"name": "mood", "prompt": "Mood?", "schema": {"type": "string"}}]});
    let patched = patch(&app, "/api/v1/organization", &app.admin, &set).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let names: Vec<String> = get(&app, "/api/v1/analyzers", &app.admin).await.json()["analyzers"]
        .as_array()
        .expect("analyzers")
        .iter()
        .map(|a| a["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(names, ["mood"]);

    let audit = get(&app, "/api/v1/audit", &app.admin).await.json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "organization.update",
            "analyzer.delete",
            "analyzer.update",
            "analyzer.update",
            "analyzer.create",
            "analyzer.create",
        ]
    );
    assert_eq!(audit["entries"][1]["target"], "analyzer summary");
    assert_eq!(audit["entries"][1]["after"], json!([pinned_view(&pinned)]));
}

/// What the `lead` analyzer looks like in an audit entry after the pinned write.
fn pinned_view(pinned: &Value) -> Value {
    json!({"name": "lead", "prompt": pinned["prompt"], "schema": pinned["schema"]})
}

pub async fn a_bought_number_gets_the_default_analyzers_and_keeps_them(app: App) {
    let made = put(&app, "/api/v1/analyzers/lead", &app.admin, &lead()).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let bought = send(
        &app,
        request(
            Method::POST,
            "/api/v1/numbers",
            Some(&app.admin),
            Some(&json!({"area_code": "510", "agent": "front-desk"}).to_string()),
        ),
    )
    .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.text);
    let body = bought.json();
    // The agent's, then the defaults it was given.
    assert_eq!(body["analyzers"], json!(["summary", "lead"]));
    assert_eq!(body["agent"], "front-desk");
    let number = body["number"].as_str().expect("number").to_owned();
    let stored = app
        .stores
        .directory
        .get_number(&E164::parse(&number).expect("e164"))
        .await
        .expect("get")
        .expect("number");
    let names: Vec<&str> = stored.analyzers.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["lead"]);
    assert_eq!(stored.analyzers[0].prompt, "Is the caller a sales lead?");

    // Later changes to the defaults leave a bought number as it was.
    delete(&app, "/api/v1/analyzers/lead", &app.admin).await;
    let numbers = get(&app, "/api/v1/numbers", &app.viewer).await.json();
    let listed = numbers["numbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .find(|n| n["number"] == number.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(listed["analyzers"], json!(["lead"]));

    // Without defaults, a number gets none of its own.
    let (_, owner) = key(&app.stores, "acme", Role::Owner).await;
    let plain = send(
        &app,
        request(
            Method::POST,
            "/api/v1/numbers",
            Some(&owner),
            Some(&json!({"area_code": "510"}).to_string()),
        ),
    )
    .await
    .json();
    assert_eq!(plain["analyzers"], json!(["summary"]));
    let stored = app
        .stores
        .directory
        .get_number(&E164::parse(plain["number"].as_str().expect("n")).expect("e164"))
        .await
        .expect("get")
        .expect("number");
    assert!(stored.analyzers.is_empty());
    assert_eq!(stored.org, org("acme"));
}

/// Every filter of the calls list at once, and a date range: what the console and a
/// machine ask for.
pub async fn calls_are_filtered_by_status_direction_agent_and_date_together(app: App) {
    let page = |q: &'static str| get(&app, q, &app.viewer);
    // Call 4 is the outbound, completed one of after-hours, started at t(4).
    let both = page("/api/v1/calls?status=completed&direction=outbound-api&agent=after-hours")
        .await
        .json();
    assert_eq!(sids(&both), [super::call_sid(4)]);
    let none = page("/api/v1/calls?status=completed&direction=inbound").await.json();
    assert_eq!(sids(&none), Vec::<String>::new());
    let from = super::t(2).to_rfc3339();
    let to = super::t(5).to_rfc3339();
    let uri = format!(
        "/api/v1/calls?from={}&to={}&direction=inbound",
        form_urlencoded::byte_serialize(from.as_bytes()).collect::<String>(),
        form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
    );
    let window = get(&app, &uri, &app.viewer).await.json();
    // Started at or after t(2) and before t(5), inbound: 3 and 2.
    assert_eq!(sids(&window), [super::call_sid(3), super::call_sid(2)]);
}

/// One number read in full and changed: its agent, its texts (on, off with a message,
/// answered by another agent), version-checked, audited, another organization's 404.
pub async fn a_number_is_read_and_rerouted_and_its_texts_set(app: App) {
    let uri = "/api/v1/numbers/%2B14155550111";
    let one = get(&app, uri, &app.viewer).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    let one = one.json();
    assert_eq!(
        (&one["number"], &one["agent"], &one["sms"], &one["sms_agent"]),
        (&json!("+14155550111"), &json!("front-desk"), &json!(true), &Value::Null)
    );
    let version = one["version"].clone();
    let changed = patch(
        &app,
        uri,
        &app.admin,
        &json!({"agent": "after-hours", "sms": false,
                "sms_disabled_message": "Please call us.", "version": version}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let changed = changed.json();
    assert_eq!(changed["agent"], "after-hours");
    assert_eq!(changed["sms_disabled_message"], "Please call us.");
    let stored = app
        .stores
        .directory
        .get_number(&E164::parse("+14155550111").expect("e164"))
        .await
        .expect("get")
        .expect("number");
    assert_eq!(
        (stored.agent.as_str(), stored.sms, stored.sms_disabled_message.as_deref()),
        ("after-hours", false, Some("Please call us."))
    );
    // The version read before is stale now.
    let stale = json!({"enabled": false, "version": version});
    patch(&app, uri, &app.admin, &stale)
        .await
        .problem(StatusCode::CONFLICT);
    let texts = json!({"sms": true, "sms_agent": "front-desk", "sms_disabled_message": null});
    let on = patch(&app, uri, &app.admin, &texts).await.json();
    assert_eq!((&on["sms"], &on["sms_agent"]), (&json!(true), &json!("front-desk")));
    assert_eq!(on["sms_disabled_message"], Value::Null);

    for (body, says) in [
        (json!({"agent": "sales"}), "no agent sales"),
        (json!({"sms_agent": "nobody"}), "sms_agent"),
        (json!({"sms_disabled_message": " "}), "sms_disabled_message"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let detail = patch(&app, uri, &app.admin, &body)
            .await
            .problem(StatusCode::BAD_REQUEST);
        assert!(detail.contains(says), "{says}: {detail}");
    }
    patch(&app, uri, &app.viewer, &json!({"enabled": false}))
        .await
        .problem(StatusCode::FORBIDDEN);
    get(&app, uri, &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);
    patch(&app, uri, &app.other, &json!({"agent": "sales"}))
        .await
        .problem(StatusCode::NOT_FOUND);
    get(&app, "/api/v1/numbers/%2B19995550000", &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    let audit = get(&app, "/api/v1/audit", &app.admin).await.json();
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{audit}");
    assert!(entries.iter().all(|e| e["action"] == "number.update"));
    assert_eq!(entries[1]["before"]["agent"], "front-desk");
    assert_eq!(entries[1]["after"]["agent"], "after-hours");
}
