//! Campaigns through the API: created with their leads, imported from CSV with bad rows
//! reported by line, counted, started and paused by writers only, and never seen by
//! another organization; the do-not-call list.

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request};
use serde_json::{Value, json};

use super::{App, get, request, send};

async fn post(app: &App, uri: &str, key: &str, body: &Value) -> super::Answer {
    send(
        app,
        request(Method::POST, uri, Some(key), Some(&body.to_string())),
    )
    .await
}

fn csv_request(uri: &str, key: &str, csv: &str) -> Request {
    lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri(format!("https://api.example.com{uri}"))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .body(Body::Text(csv.to_owned()))
        .expect("request")
}

fn campaign_body() -> Value {
    json!({
        "name": "Renewals",
        "agent": "front-desk",
        "caller_ids": ["+14155550111"],
        "retry": {"max_attempts": 3, "cooldown_secs": 90, "retry_on": ["busy", "no-answer"]},
        "window": {"start": "09:00", "end": "17:00", "days": ["mon", "tue", "wed", "thu", "fri"]},
        "max_concurrent": 5,
        "calls_per_second": 1,
        "leads": [
            {"phone": "+12125550100", "name": "Ada", "variables": {"plan": "gold"}},
            {"phone": "555-0100"},
        ],
    })
}

pub async fn a_campaign_is_created_imported_counted_and_started_by_its_organization(app: App) {
    let created = post(&app, "/api/v1/campaigns", &app.admin, &campaign_body()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let id = created["campaign"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["campaign"]["state"], "draft");
    assert_eq!(
        created["campaign"]["retry"]["retry_on"],
        json!(["busy", "no-answer"])
    );
    assert_eq!(created["campaign"]["window"]["days"][0], "mon");
    assert_eq!(created["leads"]["imported"], 1);
    assert_eq!(created["leads"]["errors"][0]["line"], 2, "{created}");

    // A CSV with a bad row, a duplicate of an imported lead and a short row: each
    // reported by its line, the rest imported.
    let csv = "Phone,Name,TZ,Plan\n\
               +13125550100,Bo,,silver\n\
               not a phone,Cy,,\n\
               +12125550100,Ada again,,\n\
               +14155550100,Di,America/Los_Angeles,gold\n\
               +16175550100\n";
    let uri = format!("/api/v1/campaigns/{id}/leads?phone=Phone&name=Name&timezone=TZ");
    let imported = send(&app, csv_request(&uri, &app.admin, csv)).await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    let imported = imported.json();
    assert_eq!(imported["imported"], 2, "{imported}");
    let lines: Vec<u64> = imported["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, [3, 4, 6], "{imported}");
    assert!(
        imported["errors"][1]["error"]
            .as_str()
            .expect("error")
            .contains("already")
    );

    let got = get(&app, &format!("/api/v1/campaigns/{id}"), &app.admin)
        .await
        .json();
    assert_eq!(got["counts"]["total"], 3, "{got}");
    assert_eq!(got["counts"]["by_state"]["pending"], 3, "{got}");

    // Pages of leads with their variables; a state filter.
    let first = get(
        &app,
        &format!("/api/v1/campaigns/{id}/leads?limit=2"),
        &app.admin,
    )
    .await
    .json();
    assert_eq!(first["leads"].as_array().expect("leads").len(), 2);
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let second = get(
        &app,
        &format!("/api/v1/campaigns/{id}/leads?limit=2&cursor={cursor}"),
        &app.admin,
    )
    .await
    .json();
    assert_eq!(second["leads"].as_array().expect("leads").len(), 1);
    let bo = first["leads"]
        .as_array()
        .into_iter()
        .chain(second["leads"].as_array())
        .flatten()
        .find(|l| l["phone"] == "+13125550100")
        .expect("Bo")
        .clone();
    assert_eq!(bo["variables"]["plan"], "silver");
    assert_eq!(bo["timezone"], "America/Chicago");
    let dialing = get(
        &app,
        &format!("/api/v1/campaigns/{id}/leads?state=dialing"),
        &app.admin,
    )
    .await
    .json();
    assert!(dialing["leads"].as_array().expect("leads").is_empty());
    get(
        &app,
        &format!("/api/v1/campaigns/{id}/leads?state=asleep"),
        &app.admin,
    )
    .await
    .problem(StatusCode::BAD_REQUEST);

    // Another organization sees none of it, and cannot act on it.
    for uri in [
        format!("/api/v1/campaigns/{id}"),
        format!("/api/v1/campaigns/{id}/leads"),
    ] {
        get(&app, &uri, &app.other)
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    let theirs = get(&app, "/api/v1/campaigns", &app.other).await.json();
    assert!(theirs["campaigns"].as_array().expect("list").is_empty());
    post(
        &app,
        &format!("/api/v1/campaigns/{id}/start"),
        &app.other,
        &json!({}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    let leak = send(
        &app,
        csv_request(
            &format!("/api/v1/campaigns/{id}/leads"),
            &app.other,
            "phone\n+15555550100\n",
        ),
    )
    .await;
    leak.problem(StatusCode::NOT_FOUND);

    // A viewer reads but does not write.
    get(&app, &format!("/api/v1/campaigns/{id}"), &app.viewer).await;
    post(
        &app,
        &format!("/api/v1/campaigns/{id}/start"),
        &app.viewer,
        &json!({}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    post(&app, "/api/v1/campaigns", &app.viewer, &campaign_body())
        .await
        .problem(StatusCode::FORBIDDEN);

    let started = post(
        &app,
        &format!("/api/v1/campaigns/{id}/start"),
        &app.admin,
        &json!({}),
    )
    .await;
    assert_eq!(started.json()["state"], "running", "{}", started.text);
    post(
        &app,
        &format!("/api/v1/campaigns/{id}/start"),
        &app.admin,
        &json!({}),
    )
    .await
    .problem(StatusCode::CONFLICT);
    let paused = post(
        &app,
        &format!("/api/v1/campaigns/{id}/pause"),
        &app.admin,
        &json!({}),
    )
    .await;
    assert_eq!(paused.json()["state"], "paused");
    let listed = get(&app, "/api/v1/campaigns", &app.admin).await.json();
    assert_eq!(listed["campaigns"][0]["id"], id.as_str());
    let cancelled = post(
        &app,
        &format!("/api/v1/campaigns/{id}/cancel"),
        &app.admin,
        &json!({}),
    )
    .await;
    assert_eq!(cancelled.json()["state"], "cancelled");
    post(
        &app,
        &format!("/api/v1/campaigns/{id}/leads"),
        &app.admin,
        &json!([{"phone": "+12125550199"}]),
    )
    .await
    .problem(StatusCode::CONFLICT);

    let audit = get(&app, "/api/v1/audit", &app.admin).await.json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "campaign.create",
        "campaign.leads.add",
        "campaign.start",
        "campaign.pause",
        "campaign.cancel",
    ] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
}

pub async fn a_campaign_with_wrong_settings_is_refused_with_a_clear_400(app: App) {
    let with = |patch: Value| {
        let mut body = campaign_body();
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    for (patch, words) in [
        (json!({"caller_ids": ["+14155550199"]}), "caller_ids"),
        (json!({"agent": "sales"}), "agent"),
        (
            json!({"retry": {"max_attempts": 3, "cooldown_secs": 0}}),
            "cooldown",
        ),
        (
            json!({"retry": {"max_attempts": 3, "cooldown_secs": 5, "retry_on": ["busy", "angry"]}}),
            "retry_on",
        ),
        (
            json!({"window": {"start": "9am", "end": "17:00"}}),
            "window.start",
        ),
        (json!({"max_concurrent": 0}), "max_concurrent"),
        (json!({"calls_per_second": 1000}), "calls_per_second"),
        (json!({"name": " "}), "name"),
    ] {
        let detail = post(&app, "/api/v1/campaigns", &app.admin, &with(patch.clone()))
            .await
            .problem(StatusCode::BAD_REQUEST);
        assert!(detail.contains(words), "{patch}: {detail}");
    }
    // A body that is neither JSON nor CSV.
    let mut req = csv_request("/api/v1/campaigns/cp_x/leads", &app.admin, "x");
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain".parse().expect("header"));
    send(&app, req).await.problem(StatusCode::NOT_FOUND);
}

pub async fn the_do_not_call_list_is_the_organizations_own(app: App) {
    let app = &app;
    let add = |key: &str, phone: &str| {
        let body = json!({"phone": phone});
        let key = key.to_owned();
        async move { post(app, "/api/v1/do-not-call", &key, &body).await }
    };
    assert_eq!(
        add(&app.admin, "+12125550100").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        add(&app.admin, "+12125550100").await.status,
        StatusCode::NO_CONTENT
    );
    add(&app.admin, "12125550100")
        .await
        .problem(StatusCode::BAD_REQUEST);
    add(&app.viewer, "+12125550101")
        .await
        .problem(StatusCode::FORBIDDEN);
    let listed = get(app, "/api/v1/do-not-call", &app.admin).await.json();
    assert_eq!(listed["numbers"], json!(["+12125550100"]));
    let theirs = get(app, "/api/v1/do-not-call", &app.other).await.json();
    assert_eq!(theirs["numbers"], json!([]));
    let remove = |key: &str| {
        send(
            app,
            request(
                Method::DELETE,
                "/api/v1/do-not-call/%2B12125550100",
                Some(key),
                None,
            ),
        )
    };
    remove(&app.other).await.problem(StatusCode::NOT_FOUND);
    assert_eq!(remove(&app.admin).await.status, StatusCode::NO_CONTENT);
    remove(&app.admin).await.problem(StatusCode::NOT_FOUND);
}
