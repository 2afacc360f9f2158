//! The web console through the API function's handler, as a browser's form posts reach
//! it: sessions, CSRF tokens, roles and organizations are the API's; on the local store
//! and on DynamoDB (moto). The browser itself is infra/local/tests/console.rs.

use chrono::Utc;
use hotline_api::{SESSION_COOKIE, handle};
use hotline_core::ids::E164;
use hotline_core::model::Role;
use hotline_core::people::{PasswordHash, User};
use hotline_testkit::webhook::call_sid;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request};

use crate::{App, aws_app, get, local_app, org};

const PASSWORD: &str = "a console test's password";
const ACME_NUMBER: &str = "+14155550111";
const OTHER_NUMBER: &str = "+14155550199";

hotline_testkit::on_both_stores! {
    local: local_app, aws: aws_app;
    a_stranger_is_sent_to_sign_in_and_a_person_sees_only_their_organization,
    a_numbers_switches_need_the_csrf_token_a_writer_and_the_organization,
    an_agent_saved_in_the_console_is_the_apis_and_a_stale_save_is_a_conflict,
}

struct Page {
    status: StatusCode,
    location: String,
    cookie: Option<String>,
    text: String,
}

fn form(method: Method, uri: &str, session: Option<&str>, fields: &[(&str, &str)]) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{uri}"))
        .header(header::HOST, "api.example.com");
    if let Some(id) = session {
        // A browser on the console's own pages sends its origin with every form post.
        b = b
            .header(header::COOKIE, format!("{SESSION_COOKIE}={id}"))
            .header(header::ORIGIN, "https://api.example.com");
    }
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::Text(body))
        .expect("request")
}

async fn send(app: &App, req: Request) -> Page {
    let resp = handle(&app.deps, req).await;
    let header_text = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|line| line.split(';').next())
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v.to_owned());
    Page {
        status: resp.status(),
        location: header_text(header::LOCATION),
        cookie,
        text: match resp.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        },
    }
}

async fn page(app: &App, uri: &str, session: &str) -> Page {
    send(app, form(Method::GET, uri, Some(session), &[])).await
}

/// A person of acme with [`PASSWORD`].
async fn person(app: &App, email: &str, role: Role) {
    let hash = PasswordHash::new(PASSWORD).expect("hash");
    let user = User::new(org("acme"), email.to_owned(), role, hash, Utc::now());
    app.stores.users.create_user(&user).await.expect("user");
}

/// Signs in through the console's form: the session id and its CSRF token (as the pages
/// put it in their forms).
async fn sign_in(app: &App, email: &str) -> (String, String) {
    let signed = send(
        app,
        form(
            Method::POST,
            "/console/sign-in",
            None,
            &[
                ("email", email),
                ("password", PASSWORD),
                ("next", "/console/agents"),
            ],
        ),
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text);
    assert_eq!(signed.location, "/console/agents");
    let id = signed.cookie.expect("a session cookie");
    let agents = page(app, "/console/agents", &id).await;
    assert_eq!(agents.status, StatusCode::OK, "{}", agents.text);
    let csrf = agents
        .text
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned();
    (id, csrf)
}

async fn a_stranger_is_sent_to_sign_in_and_a_person_sees_only_their_organization(app: App) {
    let stranger = send(
        &app,
        form(Method::GET, "/console/calls?status=completed", None, &[]),
    )
    .await;
    assert_eq!(stranger.status, StatusCode::SEE_OTHER);
    assert_eq!(
        stranger.location,
        "/console/sign-in?next=%2Fconsole%2Fcalls%3Fstatus%3Dcompleted"
    );
    let sign_in_page = send(&app, form(Method::GET, "/console/sign-in", None, &[])).await;
    assert_eq!(sign_in_page.status, StatusCode::OK);
    assert!(sign_in_page.text.contains("<label for=\"signin-email\">"));

    person(&app, "owner@acme.example", Role::Owner).await;
    let wrong = send(
        &app,
        form(
            Method::POST,
            "/console/sign-in",
            None,
            &[
                ("email", "owner@acme.example"),
                ("password", "not it at all"),
            ],
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("the e-mail or the password is wrong"));
    assert!(wrong.cookie.is_none());
    // After signing in, only a console path: never another site.
    let elsewhere = send(
        &app,
        form(
            Method::POST,
            "/console/sign-in",
            None,
            &[
                ("email", "owner@acme.example"),
                ("password", PASSWORD),
                ("next", "//evil.example/console"),
            ],
        ),
    )
    .await;
    assert_eq!(elsewhere.location, "/console/calls");

    let (id, _) = sign_in(&app, "owner@acme.example").await;
    let calls = page(&app, "/console/calls", &id).await;
    assert_eq!(calls.status, StatusCode::OK, "{}", calls.text);
    assert!(
        calls
            .text
            .contains(&format!("/console/calls/{}", call_sid(5)))
    );
    assert!(!calls.text.contains(&call_sid(9)), "other's call listed");
    for path in [
        format!("/console/calls/{}", call_sid(9)),
        "/console/agents/sales".to_owned(),
        "/console/no-such-page".to_owned(),
    ] {
        let hidden = page(&app, &path, &id).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{path}");
        assert!(hidden.text.contains("Not found"), "{path}");
        assert!(!hidden.text.contains("sales"), "{path}");
    }
    let one = page(&app, &format!("/console/calls/{}", call_sid(5)), &id).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert!(one.text.contains("Call from +14155550100"));
}

async fn number_sms(app: &App, number: &str) -> (bool, u64) {
    let n = app
        .stores
        .directory
        .get_number(&E164::parse(number).expect("e164"))
        .await
        .expect("get")
        .expect("number");
    (n.sms, n.version)
}

async fn a_numbers_switches_need_the_csrf_token_a_writer_and_the_organization(app: App) {
    person(&app, "owner@acme.example", Role::Owner).await;
    person(&app, "viewer@acme.example", Role::Viewer).await;
    let (id, csrf) = sign_in(&app, "owner@acme.example").await;
    let numbers = page(&app, "/console/numbers", &id).await;
    assert_eq!(numbers.status, StatusCode::OK, "{}", numbers.text);
    assert!(numbers.text.contains(ACME_NUMBER) && !numbers.text.contains(OTHER_NUMBER));
    let (_, version) = number_sms(&app, ACME_NUMBER).await;
    let version = version.to_string();
    let path = format!("/console/numbers/{}", ACME_NUMBER.replace('+', "%2B"));

    let no_token = send(
        &app,
        form(
            Method::POST,
            &path,
            Some(&id),
            &number_form("", &version, false),
        ),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{}", no_token.text);
    assert!(
        number_sms(&app, ACME_NUMBER).await.0,
        "changed without a token"
    );

    let saved = send(
        &app,
        form(
            Method::POST,
            &path,
            Some(&id),
            &number_form(&csrf, &version, false),
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(saved.location, "/console/numbers?done=saved");
    assert!(!number_sms(&app, ACME_NUMBER).await.0, "SMS still on");
    let audit = get(&app, "/api/v1/audit", &app.admin).await.json();
    assert!(
        audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "number.update" && e["after"]["sms"] == false),
        "{audit}"
    );

    let other = format!("/console/numbers/{}", OTHER_NUMBER.replace('+', "%2B"));
    let theirs = send(
        &app,
        form(
            Method::POST,
            &other,
            Some(&id),
            &number_form(&csrf, "0", false),
        ),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.text);
    assert!(
        number_sms(&app, OTHER_NUMBER).await.0,
        "other's number changed"
    );

    let (viewer, viewer_csrf) = sign_in(&app, "viewer@acme.example").await;
    let (_, version) = number_sms(&app, ACME_NUMBER).await;
    let version = version.to_string();
    let refused = send(
        &app,
        form(
            Method::POST,
            &path,
            Some(&viewer),
            &number_form(&viewer_csrf, &version, true),
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(
        !number_sms(&app, ACME_NUMBER).await.0,
        "a viewer switched SMS on"
    );
}

/// The numbers page's form for acme's number: calls on, SMS as given.
fn number_form<'a>(csrf: &'a str, version: &'a str, sms: bool) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("_csrf", csrf),
        ("version", version),
        ("calls", "on"),
        ("agent", "front-desk"),
        ("disabled_message", "We answer texts in office hours."),
    ];
    if sms {
        fields.push(("sms", "on"));
    }
    fields
}

async fn an_agent_saved_in_the_console_is_the_apis_and_a_stale_save_is_a_conflict(app: App) {
    person(&app, "admin@acme.example", Role::Admin).await;
    let (id, csrf) = sign_in(&app, "admin@acme.example").await;
    let shown = page(&app, "/console/agents/front-desk", &id).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    assert!(
        shown.text.contains("name=\"version\" value=\"1\""),
        "{}",
        shown.text
    );
    let first = agent_form(&csrf, "1", "cedar", "300");
    let saved = send(
        &app,
        form(
            Method::POST,
            "/console/agents/front-desk",
            Some(&id),
            &first,
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let agent = get(&app, "/api/v1/agents/front-desk", &app.admin)
        .await
        .json();
    assert_eq!(agent["voice"], "cedar");
    assert_eq!(agent["limits"]["max_duration_secs"], 300);
    assert_eq!(agent["version"], 2);

    let stale = agent_form(&csrf, "1", "marin", "300");
    let conflict = send(
        &app,
        form(
            Method::POST,
            "/console/agents/front-desk",
            Some(&id),
            &stale,
        ),
    )
    .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text);
    assert!(conflict.text.contains("Someone else saved this agent"));
    // The edit stays in the form, now over the version saved meanwhile.
    assert!(conflict.text.contains("value=\"marin\""));
    assert!(conflict.text.contains("name=\"version\" value=\"2\""));
    let agent = get(&app, "/api/v1/agents/front-desk", &app.admin)
        .await
        .json();
    assert_eq!(agent["voice"], "cedar");

    let bad = agent_form(&csrf, "2", "marin", "-1");
    let invalid = send(
        &app,
        form(Method::POST, "/console/agents/front-desk", Some(&id), &bad),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert!(
        invalid
            .text
            .contains("id=\"agent-max_duration_secs-error\"")
    );
}

/// The agent page's form.
fn agent_form<'a>(
    csrf: &'a str,
    version: &'a str,
    voice: &'a str,
    max_secs: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("_csrf", csrf),
        ("version", version),
        ("provider", "openai_realtime"),
        ("voice", voice),
        ("instructions", "Be brief."),
        ("greeting", ""),
        ("tools", "[]"),
        ("analyzers", "[]"),
        ("max_duration_secs", max_secs),
        ("enabled", "on"),
    ]
}
