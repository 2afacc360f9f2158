//! Contacts, to-dos and a call's links, on both stores: org-scoped, paged, edited by
//! people, refused to viewers, never panicking on what a caller sends.

use chrono::Utc;
use hotline_core::ids::{CallSid, E164};
use hotline_core::model::{Contact, ContactFacts, Todo, TodoItem};
use hotline_core::ports::{BlobKey, modify_call};
use hotline_store::local::{LinkRefused, SignedLinks};
use hotline_store::table::{Condition, Item, Table};
use lambda_http::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{App, call_sid, get, org, request, send, t};

pub const LINK_BASE: &str = "http://links.test";
pub const LINK_SECRET: &[u8; 32] = b"local-link-secret-for-the-tests!";

const DANA: &str = "+14155550100";
const LEE: &str = "+14155550101";
const SAM: &str = "+14155550102";
const OTHERS: &str = "+14155550177";

fn phone(s: &str) -> E164 {
    E164::parse(s).expect("phone")
}

async fn patch(app: &App, uri: &str, key: &str, body: &Value) -> super::Answer {
    send(
        app,
        request(Method::PATCH, uri, Some(key), Some(&body.to_string())),
    )
    .await
}

async fn post(app: &App, uri: &str, key: &str) -> super::Answer {
    send(app, request(Method::POST, uri, Some(key), None)).await
}

/// acme: Dana (Acme Corp), Lee, Sam; other: one contact.
async fn seed_contacts(app: &App) {
    let c = &app.stores.contacts;
    for (o, p, name, company) in [
        ("acme", DANA, Some("Dana Scully"), Some("Acme Corp")),
        ("acme", LEE, Some("Lee Adama"), None),
        ("acme", SAM, None, None),
        ("other", OTHERS, Some("Dana Other"), None),
    ] {
        let mut contact = Contact::new(org(o), phone(p), t(0));
        contact.name = name.map(str::to_owned);
        contact.company = company.map(str::to_owned);
        c.create_contact(&contact).await.expect("contact");
    }
}

/// acme: to-dos 0..5 of call 1, a second apart (4 the newest); 1 and 3 assigned to
/// ana, 2 done. other: one to-do of call 9.
async fn seed_todos(app: &App) -> Vec<String> {
    let td = &app.stores.todos;
    let mut ids = Vec::new();
    for n in 0..5usize {
        let item = TodoItem {
            title: format!("Call back #{n}"),
            due: None,
            assignee: (n % 2 == 1).then(|| "ana".to_owned()),
        };
        let sid = CallSid::parse(&call_sid(1)).expect("sid");
        let mut todo = Todo::from_item(
            &org("acme"),
            &sid,
            Some(&phone(DANA)),
            n,
            &item,
            t(i64::try_from(n).expect("n")),
        );
        todo.done = n == 2;
        td.create_todo(&todo).await.expect("todo");
        ids.push(todo.id);
    }
    let sid = CallSid::parse(&call_sid(9)).expect("sid");
    let item = TodoItem {
        title: "Theirs".into(),
        due: None,
        assignee: None,
    };
    td.create_todo(&Todo::from_item(&org("other"), &sid, None, 0, &item, t(0)))
        .await
        .expect("todo");
    ids
}

fn phones(page: &Value) -> Vec<String> {
    page["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

fn todo_ids(page: &Value) -> Vec<String> {
    page["todos"]
        .as_array()
        .expect("todos")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

pub async fn contacts_are_searched_paged_read_and_edited_by_a_person(app: App) {
    seed_contacts(&app).await;
    let all = get(&app, "/api/v1/contacts", &app.admin).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(phones(&all.json()), [DANA, LEE, SAM]);

    // By name (any case), phone and company, never another organization's.
    let dana = get(&app, "/api/v1/contacts?q=dAnA", &app.admin)
        .await
        .json();
    assert_eq!(phones(&dana), [DANA]);
    let by_phone = get(&app, "/api/v1/contacts?q=0101", &app.admin)
        .await
        .json();
    assert_eq!(phones(&by_phone), [LEE]);
    let by_company = get(&app, "/api/v1/contacts?q=acme%20corp", &app.admin)
        .await
        .json();
    assert_eq!(phones(&by_company), [DANA]);

    // Paged through an opaque cursor.
    let first = get(&app, "/api/v1/contacts?limit=2", &app.admin)
        .await
        .json();
    assert_eq!(phones(&first), [DANA, LEE]);
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let second = get(
        &app,
        &format!("/api/v1/contacts?limit=2&cursor={cursor}"),
        &app.admin,
    )
    .await
    .json();
    assert_eq!(phones(&second), [SAM]);
    assert!(second["next_cursor"].is_null());

    // One contact, by its number, `+` sent as is or encoded.
    for id in [DANA, "%2B14155550100"] {
        let one = get(&app, &format!("/api/v1/contacts/{id}"), &app.admin).await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.text);
        assert_eq!(one.json()["name"], "Dana Scully");
    }

    // A person's edit: the fields sent are set and marked; the others stay.
    let edited = patch(
        &app,
        &format!("/api/v1/contacts/{DANA}"),
        &app.admin,
        &json!({"name": "Dr. Dana Scully", "email": "dana@fbi.example.gov", "company": null}),
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let edited = edited.json();
    assert_eq!(edited["name"], "Dr. Dana Scully");
    assert_eq!(edited["email"], "dana@fbi.example.gov");
    assert!(edited["company"].is_null());
    assert_eq!(edited["edited"], json!(["name", "company", "email"]));
    let by_email = get(&app, "/api/v1/contacts?q=fbi.example", &app.admin)
        .await
        .json();
    assert_eq!(phones(&by_email), [DANA]);

    // What the next call learns goes through the post-call stage's own rule
    // (`Contact::enrich`) and leaves the edited fields alone.
    let contacts = &app.stores.contacts;
    let mut stored = contacts
        .get_contact(&org("acme"), &phone(DANA))
        .await
        .expect("get")
        .expect("contact");
    let facts = ContactFacts {
        name: Some("Dana".into()),
        company: Some("Acme".into()),
        notes: Some("prefers mornings".into()),
    };
    let sid = CallSid::parse(&call_sid(3)).expect("sid");
    assert!(stored.enrich(&facts, &sid, t(0).date_naive()));
    contacts.update_contact(&stored).await.expect("enrich");
    let after = get(&app, &format!("/api/v1/contacts/{DANA}"), &app.admin)
        .await
        .json();
    assert_eq!(after["name"], "Dr. Dana Scully");
    assert!(after["company"].is_null(), "{after}");
    assert_eq!(after["notes"], "2026-11-20: prefers mornings");

    // A stale version is refused; the current one is taken.
    let version = after["version"].as_u64().expect("version");
    patch(
        &app,
        &format!("/api/v1/contacts/{DANA}"),
        &app.admin,
        &json!({"notes": "VIP", "version": version - 1}),
    )
    .await
    .problem(StatusCode::CONFLICT);
    let pinned = patch(
        &app,
        &format!("/api/v1/contacts/{DANA}"),
        &app.admin,
        &json!({"notes": "VIP", "version": version}),
    )
    .await;
    assert_eq!(pinned.status, StatusCode::OK, "{}", pinned.text);
    assert_eq!(pinned.json()["version"], version + 1);

    get(&app, "/api/v1/contacts/+14155550999", &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
}

pub async fn todos_are_filtered_paged_completed_and_assigned(app: App) {
    let ids = seed_todos(&app).await;
    let all = get(&app, "/api/v1/todos", &app.admin).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(todo_ids(&all.json()), newest_first);

    let open = get(&app, "/api/v1/todos?status=open", &app.admin)
        .await
        .json();
    assert_eq!(
        todo_ids(&open),
        [
            ids[4].as_str(),
            ids[3].as_str(),
            ids[1].as_str(),
            ids[0].as_str()
        ]
    );
    let done = get(&app, "/api/v1/todos?status=done", &app.admin)
        .await
        .json();
    assert_eq!(todo_ids(&done), [ids[2].as_str()]);
    let ana = get(&app, "/api/v1/todos?assignee=ana&status=open", &app.admin)
        .await
        .json();
    assert_eq!(todo_ids(&ana), [ids[3].as_str(), ids[1].as_str()]);

    // Pages of two through the cursor, with a filter.
    let mut seen = Vec::new();
    let mut uri = "/api/v1/todos?status=open&limit=2".to_owned();
    loop {
        let page = get(&app, &uri, &app.admin).await.json();
        seen.extend(todo_ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/todos?status=open&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, todo_ids(&open));

    // Complete: done, and completing again changes nothing.
    let completed = post(
        &app,
        &format!("/api/v1/todos/{}/complete", ids[0]),
        &app.admin,
    )
    .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.text);
    let completed = completed.json();
    assert_eq!(completed["done"], true);
    let again = post(
        &app,
        &format!("/api/v1/todos/{}/complete", ids[0]),
        &app.admin,
    )
    .await
    .json();
    assert_eq!(again["version"], completed["version"]);

    // Assign, reschedule, reopen; a stale version is refused.
    let changed = patch(
        &app,
        &format!("/api/v1/todos/{}", ids[0]),
        &app.admin,
        &json!({"assignee": "bo", "due": "2026-12-01", "done": false}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let changed = changed.json();
    assert_eq!(
        (&changed["assignee"], &changed["due"], &changed["done"]),
        (&json!("bo"), &json!("2026-12-01"), &json!(false))
    );
    let stored = app
        .stores
        .todos
        .get_todo(&org("acme"), &ids[0])
        .await
        .expect("get")
        .expect("todo");
    assert_eq!(stored.assignee.as_deref(), Some("bo"));
    let bo = get(&app, "/api/v1/todos?assignee=bo", &app.admin)
        .await
        .json();
    assert_eq!(todo_ids(&bo), [ids[0].as_str()]);
    patch(
        &app,
        &format!("/api/v1/todos/{}", ids[0]),
        &app.admin,
        &json!({"assignee": null, "version": 1}),
    )
    .await
    .problem(StatusCode::CONFLICT);
    let unassigned = patch(
        &app,
        &format!("/api/v1/todos/{}", ids[0]),
        &app.admin,
        &json!({"assignee": null}),
    )
    .await
    .json();
    assert!(unassigned["assignee"].is_null(), "{unassigned}");
}

pub async fn a_viewer_reads_contacts_and_todos_but_cannot_change_them(app: App) {
    seed_contacts(&app).await;
    let ids = seed_todos(&app).await;
    assert_eq!(
        get(&app, "/api/v1/contacts", &app.viewer).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/api/v1/todos", &app.viewer).await.status,
        StatusCode::OK
    );
    patch(
        &app,
        &format!("/api/v1/contacts/{DANA}"),
        &app.viewer,
        &json!({"name": "Mallory"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    post(
        &app,
        &format!("/api/v1/todos/{}/complete", ids[0]),
        &app.viewer,
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    patch(
        &app,
        &format!("/api/v1/todos/{}", ids[0]),
        &app.viewer,
        &json!({"assignee": "mallory"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    let contact = get(&app, &format!("/api/v1/contacts/{DANA}"), &app.admin)
        .await
        .json();
    assert_eq!(contact["name"], "Dana Scully");
    let todo = app
        .stores
        .todos
        .get_todo(&org("acme"), &ids[0])
        .await
        .expect("get")
        .expect("todo");
    assert!(!todo.done && todo.assignee.is_none() && todo.version == 1);
}

pub async fn another_organizations_contact_todo_and_call_links_are_404(app: App) {
    seed_contacts(&app).await;
    let ids = seed_todos(&app).await;
    let theirs = format!("{}-000", call_sid(9));
    // acme's key on other's records, and other's key on acme's: all 404, nothing changed.
    get(&app, &format!("/api/v1/contacts/{OTHERS}"), &app.admin)
        .await
        .problem(StatusCode::NOT_FOUND);
    get(&app, &format!("/api/v1/contacts/{DANA}"), &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);
    patch(
        &app,
        &format!("/api/v1/contacts/{DANA}"),
        &app.other,
        &json!({"name": "Mine"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    post(
        &app,
        &format!("/api/v1/todos/{}/complete", ids[0]),
        &app.other,
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    patch(
        &app,
        &format!("/api/v1/todos/{}", ids[0]),
        &app.other,
        &json!({"assignee": "x"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    post(
        &app,
        &format!("/api/v1/todos/{theirs}/complete"),
        &app.admin,
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    get(&app, &format!("/api/v1/calls/{}", call_sid(1)), &app.other)
        .await
        .problem(StatusCode::NOT_FOUND);
    // Lists hold only the caller's own.
    let contacts = get(&app, "/api/v1/contacts?q=dana", &app.other)
        .await
        .json();
    assert_eq!(phones(&contacts), [OTHERS]);
    let todos = get(&app, "/api/v1/todos", &app.other).await.json();
    assert_eq!(todo_ids(&todos), [theirs]);
    let dana = get(&app, &format!("/api/v1/contacts/{DANA}"), &app.admin)
        .await
        .json();
    assert_eq!(dana["name"], "Dana Scully");
    let mine = get(&app, "/api/v1/todos?status=done", &app.admin)
        .await
        .json();
    assert_eq!(todo_ids(&mine), [ids[2].as_str()]);
}

pub async fn requests_for_contacts_and_todos_without_a_valid_key_get_401(app: App) {
    let ids = seed_todos(&app).await;
    let todo = format!("/api/v1/todos/{}", ids[0]);
    let complete = format!("{todo}/complete");
    for (method, uri) in [
        (Method::GET, "/api/v1/contacts"),
        (Method::GET, "/api/v1/contacts/+14155550100"),
        (Method::PATCH, "/api/v1/contacts/+14155550100"),
        (Method::GET, "/api/v1/todos"),
        (Method::PATCH, todo.as_str()),
        (Method::POST, complete.as_str()),
    ] {
        send(&app, request(method.clone(), uri, None, Some("{}")))
            .await
            .problem(StatusCode::UNAUTHORIZED);
        send(&app, request(method, uri, Some(&app.revoked), Some("{}")))
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
}

pub async fn hostile_contact_and_todo_input_gets_a_4xx_never_a_panic(app: App) {
    seed_contacts(&app).await;
    let ids = seed_todos(&app).await;
    let long_q = format!("/api/v1/contacts?q={}", "a".repeat(500));
    let long_id = format!("/api/v1/todos/{}/complete", "9".repeat(5000));
    let todo = format!("/api/v1/todos/{}", ids[0]);
    let contact = format!("/api/v1/contacts/{DANA}");
    let long_name = json!({"name": "x".repeat(10_000)}).to_string();
    for (method, uri, body) in [
        (Method::GET, "/api/v1/contacts?cursor=%FF%FE", ""),
        (Method::GET, "/api/v1/contacts?cursor=bm9waXBl", ""),
        (Method::GET, "/api/v1/contacts?limit=0", ""),
        (
            Method::GET,
            "/api/v1/contacts?limit=99999999999999999999999",
            "",
        ),
        (Method::GET, long_q.as_str(), ""),
        (Method::GET, "/api/v1/contacts/%F0%9F%92%A5", ""),
        (Method::GET, "/api/v1/contacts/..%2F..%2Fetc", ""),
        (Method::GET, "/api/v1/todos?status=maybe", ""),
        (Method::GET, "/api/v1/todos?cursor=AAAA", ""),
        (Method::GET, "/api/v1/todos?cursor=fHw", ""),
        (Method::POST, long_id.as_str(), ""),
        (Method::POST, "/api/v1/todos/CA-1/complete", ""),
        (Method::POST, "/api/v1/todos/%00/complete", ""),
        (Method::PATCH, contact.as_str(), "null"),
        (Method::PATCH, contact.as_str(), "[]"),
        (
            Method::PATCH,
            contact.as_str(),
            "{\"email\": \"not an address\"}",
        ),
        (Method::PATCH, contact.as_str(), "{\"phone\": \"+1\"}"),
        (Method::PATCH, contact.as_str(), "{\"name\": 7}"),
        (Method::PATCH, contact.as_str(), long_name.as_str()),
        (Method::PATCH, contact.as_str(), "{\"version\": -1}"),
        (Method::PATCH, todo.as_str(), "{\"due\": \"tomorrow\"}"),
        (Method::PATCH, todo.as_str(), "{\"title\": \"\"}"),
        (
            Method::PATCH,
            todo.as_str(),
            "{\"assignee\": \"a\\u0000b\"}",
        ),
        (Method::PATCH, todo.as_str(), "{\"done\": \"yes\"}"),
        (Method::PATCH, todo.as_str(), "{\"org\": \"other\"}"),
        (Method::PUT, todo.as_str(), "{}"),
        (Method::GET, "/api/v1/todos/x/complete", ""),
    ] {
        let answer = send(
            &app,
            request(method.clone(), uri, Some(&app.admin), Some(body)),
        )
        .await;
        assert!(
            answer.status.is_client_error(),
            "{method} {}: {} {}",
            uri.chars().take(60).collect::<String>(),
            answer.status,
            answer.text.chars().take(200).collect::<String>()
        );
        assert_eq!(answer.content_type, "application/problem+json");
    }
    let dana = get(&app, &contact, &app.admin).await.json();
    assert_eq!(dana["name"], "Dana Scully");
    assert_eq!(dana["edited"], json!([]));
}

pub async fn a_call_links_its_recording_and_transcript_for_a_few_minutes(app: App) {
    let sid = CallSid::parse(&call_sid(1)).expect("sid");
    let mp3: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let recording_key = BlobKey::recording(&org("acme"), &sid);
    let transcript_key = BlobKey::transcript(&org("acme"), &sid);
    let blobs = &app.stores.blobs;
    blobs
        .put_blob(&recording_key, mp3.clone(), "audio/mpeg")
        .await
        .expect("recording");
    blobs
        .put_blob(
            &transcript_key,
            br#"{"text":"Hi there"}"#.to_vec(),
            "application/json",
        )
        .await
        .expect("transcript");
    let (rk, tk) = (recording_key.to_string(), transcript_key.to_string());
    modify_call(app.stores.calls.as_ref(), &sid, |c| {
        c.recording = Some(
            serde_json::from_value(json!({
                "sid": format!("RE{}", "1".repeat(32)), "status": "completed",
                "duration_secs": 6, "blob_key": rk
            }))
            .expect("recording ref"),
        );
        c.post_call.transcript = Some(
            serde_json::from_value(
                json!({"source": "recording", "text": "Hi there", "blob_key": tk}),
            )
            .expect("transcript ref"),
        );
    })
    .await
    .expect("call");

    let before = Utc::now();
    let detail = get(&app, &format!("/api/v1/calls/{}", call_sid(1)), &app.viewer)
        .await
        .json();
    let recording_url = detail["recording_url"]
        .as_str()
        .expect("recording link")
        .to_owned();
    let transcript_url = detail["transcript_url"]
        .as_str()
        .expect("transcript link")
        .to_owned();
    let expires: chrono::DateTime<Utc> =
        serde_json::from_value(detail["links_expire_at"].clone()).expect("expiry");
    let ttl = expires - before;
    assert!(
        ttl > chrono::Duration::minutes(4) && ttl <= chrono::Duration::minutes(6),
        "{ttl}"
    );
    // A call without blobs has no links.
    let bare = get(&app, &format!("/api/v1/calls/{}", call_sid(2)), &app.admin)
        .await
        .json();
    assert!(
        bare["recording_url"].is_null() && bare["links_expire_at"].is_null(),
        "{bare}"
    );

    match &app.stores.aws {
        Some(_) => {
            // S3 (moto) serves a presigned GET that says how long it lives.
            assert!(
                recording_url.contains("X-Amz-Expires=300"),
                "{recording_url}"
            );
            assert!(
                recording_url.contains("X-Amz-Signature="),
                "{recording_url}"
            );
            let client = reqwest::Client::new();
            let got = client
                .get(&recording_url)
                .send()
                .await
                .expect("GET recording");
            assert_eq!(got.status(), 200);
            assert_eq!(got.bytes().await.expect("body").to_vec(), mp3);
            let got = client
                .get(&transcript_url)
                .send()
                .await
                .expect("GET transcript");
            assert_eq!(got.text().await.expect("body"), r#"{"text":"Hi there"}"#);
        }
        None => {
            // The local link opens the recording's bytes until it expires, not after,
            // and not once altered (what `hotline up` checks before serving it).
            let links = SignedLinks::new(LINK_BASE, LINK_SECRET.to_vec());
            let open = |url: &str, at| {
                let rest = url.strip_prefix(LINK_BASE).expect("base");
                let (path, query) = rest.split_once('?').expect("query");
                links.check(path, query, at)
            };
            let key = open(&recording_url, Utc::now()).expect("valid link");
            assert_eq!(key, recording_key);
            let blob = blobs.get_blob(&key).await.expect("get").expect("blob");
            assert_eq!(blob.bytes, mp3);
            assert_eq!(open(&transcript_url, Utc::now()), Ok(transcript_key));
            assert_eq!(
                open(&recording_url, expires + chrono::Duration::seconds(2)),
                Err(LinkRefused::Expired)
            );
            let forged = recording_url.replace("acme", "other");
            assert_eq!(open(&forged, Utc::now()), Err(LinkRefused::Forged));
        }
    }
}

pub async fn a_number_stored_before_the_organization_index_is_listed_once_read(app: App) {
    // As an older version wrote it: no gsi1 key, so the organization's list misses it.
    let legacy = json!({
        "number": "+14155550113", "org": "acme", "agent": "front-desk",
        "enabled": true, "sms": true, "version": 1
    });
    let item = Item {
        pk: "NUMBER#+14155550113".into(),
        sk: "NUMBER".into(),
        gsi1: None,
        gsi2: None,
        version: 1,
        data: legacy,
        expires_at: None,
    };
    let table: Box<dyn Table> = match &app.stores.aws {
        Some(aws) => Box::new(hotline_store::aws::DynamoTable::new(
            hotline_store::aws::dynamodb_client(&aws.sdk),
            &aws.table,
        )),
        None => {
            let dir = app.stores.dir().expect("local dir");
            Box::new(hotline_store::local::SqliteTable::new(
                hotline_store::local::Db::open(&dir.join("hotline.sqlite3")).expect("db"),
            ))
        }
    };
    table
        .put(&item, Condition::Always)
        .await
        .expect("legacy number");
    let listed = |v: &Value| -> Vec<String> {
        v["numbers"]
            .as_array()
            .expect("numbers")
            .iter()
            .map(|n| n["number"].as_str().expect("number").to_owned())
            .collect()
    };
    let before = get(&app, "/api/v1/numbers", &app.admin).await.json();
    assert_eq!(listed(&before), ["+14155550111", "+14155550112"]);
    // Any read of it (a webhook's, `hotline apply`'s plan) writes the missing key.
    let read = app
        .stores
        .directory
        .get_number(&phone("+14155550113"))
        .await
        .expect("get")
        .expect("number");
    assert_eq!(read.org, org("acme"));
    let after = get(&app, "/api/v1/numbers", &app.admin).await.json();
    assert_eq!(
        listed(&after),
        ["+14155550111", "+14155550112", "+14155550113"]
    );
    let theirs = get(&app, "/api/v1/numbers", &app.other).await.json();
    assert_eq!(listed(&theirs), ["+14155550199"]);
}

/// Edits of contacts and to-dos are writes like any other: each leaves an audit entry
/// naming the key that made it, with the record before and after.
pub async fn contact_and_todo_edits_leave_audit_entries(app: App) {
    seed_contacts(&app).await;
    let ids = seed_todos(&app).await;
    let edited = patch(
        &app,
        &format!("/api/v1/contacts/{DANA}"),
        &app.admin,
        &json!({"notes": "Prefers mornings"}),
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let done = post(
        &app,
        &format!("/api/v1/todos/{}/complete", ids[0]),
        &app.admin,
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);

    let audit = get(&app, "/api/v1/audit", &app.admin).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    let audit = audit.json();
    let entries = audit["entries"].as_array().expect("entries");
    let todo = entries
        .iter()
        .find(|e| e["action"] == "todo.update")
        .expect("to-do entry");
    assert_eq!(todo["target"], format!("to-do {}", ids[0]));
    assert_eq!(
        (
            todo["before"]["done"].as_bool(),
            todo["after"]["done"].as_bool()
        ),
        (Some(false), Some(true))
    );
    let contact = entries
        .iter()
        .find(|e| e["action"] == "contact.update")
        .expect("contact entry");
    assert_eq!(contact["target"], format!("contact {DANA}"));
    assert_eq!(contact["after"]["notes"], "Prefers mornings");
    assert!(
        contact["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("key")),
        "{contact}"
    );
}
