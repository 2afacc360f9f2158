//! People through the API: signing in with a session cookie, CSRF, expiry, throttling,
//! users and invitations, keys, organization settings and the audit log; every case on
//! the local store and on DynamoDB (moto).

use std::io::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use hotline_api::{AuthSettings, CSRF_HEADER, Deps, SESSION_COOKIE, handle};
use hotline_core::OrgId;
use hotline_core::model::{ApiKey, Role};
use hotline_core::people::{PasswordHash, ThrottlePolicy, User};
use hotline_testkit::store::TestStore;
use hotline_testkit::webhook::seed_orgs;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::{HeaderMap, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const WEBHOOK_SECRET: &str = "whsec-people-test-0123456789";

/// A test bed: acme (an owner, an admin and a viewer, each with a password; an admin
/// key and a viewer key) and other (an owner and an owner key), with a clock the test
/// moves.
struct Bed {
    deps: Deps,
    stores: TestStore,
    offset: Arc<AtomicI64>,
    owner: User,
    admin: User,
    viewer: User,
    other_owner: User,
    admin_key: (ApiKey, String),
    viewer_key: String,
    other_key: String,
}

fn org(id: &str) -> OrgId {
    OrgId::parse(id).expect("org")
}

/// When the tests' clock starts: now (to the second), since the store forgets
/// sessions and sign-in counters on the real clock (their TTL), whatever the API's says.
fn start() -> DateTime<Utc> {
    static START: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| Utc::now().timestamp());
    DateTime::from_timestamp(*START, 0).expect("time")
}

async fn user(stores: &TestStore, org_id: &str, email: &str, role: Role) -> User {
    let hash = PasswordHash::new(PASSWORD).expect("hash");
    let u = User::new(org(org_id), email.into(), role, hash, start());
    stores.users.create_user(&u).await.expect("user")
}

async fn key(stores: &TestStore, org_id: &str, role: Role) -> (ApiKey, String) {
    let (record, secret) = ApiKey::issue(org(org_id), "test".into(), role, start());
    (
        stores.api_keys.create_api_key(&record).await.expect("key"),
        secret,
    )
}

async fn bed(stores: TestStore) -> Bed {
    seed_orgs(&stores).await;
    let offset = Arc::new(AtomicI64::new(0));
    let clock_offset = Arc::clone(&offset);
    let auth = AuthSettings {
        throttle: ThrottlePolicy {
            per_account: 3,
            per_address: 5,
            window: TimeDelta::minutes(15),
        },
        clock: Arc::new(move || start() + TimeDelta::seconds(clock_offset.load(Ordering::SeqCst))),
        ..AuthSettings::default()
    };
    // People send no texts: a Twilio that is never reached.
    let texts = Arc::new(hotline_twilio::messages::TwilioTexts(
        hotline_twilio::rest::TwilioClient::new("http://127.0.0.1:9", reqwest::Client::new()),
    ));
    let links = Arc::new(hotline_store::local::SignedLinks::new(
        crate::resources::LINK_BASE,
        crate::resources::LINK_SECRET.to_vec(),
    ));
    let twilio = crate::twilio::setup(&crate::twilio::fake_twilio().await);
    let deps = Deps::new(&stores, auth, texts, None, links, twilio);
    Bed {
        owner: user(&stores, "acme", "owner@acme.example", Role::Owner).await,
        admin: user(&stores, "acme", "admin@acme.example", Role::Admin).await,
        viewer: user(&stores, "acme", "viewer@acme.example", Role::Viewer).await,
        other_owner: user(&stores, "other", "owner@other.example", Role::Owner).await,
        admin_key: key(&stores, "acme", Role::Admin).await,
        viewer_key: key(&stores, "acme", Role::Viewer).await.1,
        other_key: key(&stores, "other", Role::Owner).await.1,
        deps,
        stores,
        offset,
    }
}

async fn local_bed() -> Bed {
    bed(TestStore::local()).await
}

async fn aws_bed() -> Bed {
    bed(TestStore::aws().await).await
}

impl Bed {
    fn advance(&self, by: TimeDelta) {
        self.offset.fetch_add(by.num_seconds(), Ordering::SeqCst);
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Key(&'a str),
    /// A session cookie and the CSRF token sent with it (if any).
    Cookie(&'a str, Option<&'a str>),
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn expect(self, status: StatusCode) -> Self {
        assert_eq!(self.status, status, "{}", self.text);
        self
    }

    /// The session id and the whole `Set-Cookie` line.
    fn cookie(&self) -> (String, String) {
        let line = self
            .headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("Set-Cookie")
            .to_owned();
        let value = line
            .split(';')
            .next()
            .and_then(|p| p.split_once('='))
            .map(|(_, v)| v.to_owned())
            .expect("cookie value");
        (value, line)
    }
}

fn request(method: Method, uri: &str, auth: Auth<'_>, body: Option<&Value>, from: &str) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{uri}"));
    match auth {
        Auth::None => {}
        Auth::Key(k) => b = b.header(header::AUTHORIZATION, format!("Bearer {k}")),
        Auth::Cookie(id, csrf) => {
            b = b.header(header::COOKIE, format!("theme=dark; {SESSION_COOKIE}={id}"));
            // A browser on the API's own pages sends its origin with every write.
            b = b.header(header::ORIGIN, "https://api.example.com");
            if let Some(csrf) = csrf {
                b = b.header(CSRF_HEADER, csrf);
            }
        }
    }
    if body.is_some() {
        b = b.header(header::CONTENT_TYPE, "application/json");
    }
    let req = b
        .body(body.map_or(Body::Empty, |v| Body::Text(v.to_string())))
        .expect("request");
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.http.source_ip = Some(from.to_owned());
    req.with_request_context(RequestContext::ApiGatewayV2(ctx))
}

const HOME: &str = "198.51.100.7";

async fn send(bed: &Bed, method: Method, uri: &str, auth: Auth<'_>, body: Option<Value>) -> Answer {
    send_from(bed, method, uri, auth, body, HOME).await
}

async fn send_from(
    bed: &Bed,
    method: Method,
    uri: &str,
    auth: Auth<'_>,
    body: Option<Value>,
    from: &str,
) -> Answer {
    let resp = handle(&bed.deps, request(method, uri, auth, body.as_ref(), from)).await;
    let text = match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        Body::Empty => String::new(),
        _ => String::new(),
    };
    Answer {
        status: resp.status(),
        headers: resp.headers().clone(),
        text,
    }
}

/// A signed-in session: its id and CSRF token.
struct Signed {
    id: String,
    csrf: String,
}

impl Signed {
    fn auth(&self) -> Auth<'_> {
        Auth::Cookie(&self.id, Some(&self.csrf))
    }
}

async fn login(bed: &Bed, email: &str, password: &str) -> Answer {
    send(
        bed,
        Method::POST,
        "/api/v1/session",
        Auth::None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

async fn sign_in(bed: &Bed, email: &str) -> Signed {
    let answer = login(bed, email, PASSWORD).await.expect(StatusCode::OK);
    Signed {
        id: answer.cookie().0,
        csrf: answer.json()["csrf_token"]
            .as_str()
            .expect("csrf")
            .to_owned(),
    }
}

/// Everything a test's requests log, captured.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything hotline's own crates log, at every level, for the whole test binary; the
/// AWS SDK's wire traces (which print every request body, as any SDK would) at the level
/// deployments run. Installed once as the global subscriber: a thread-local one missed
/// events whenever a test running in parallel had cached a callsite as unwatched.
fn captured_logs() -> Logs {
    static CAPTURE: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let logs = Logs::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "info,hotline_api=trace,hotline_core=trace,hotline_store=trace",
                ))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("the only subscriber of this test binary");
            tracing::callsite::rebuild_interest_cache();
            logs
        })
        .clone()
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

hotline_testkit::on_both_stores! {
    local: local_bed, aws: aws_bed;
    a_person_signs_in_sees_who_they_are_and_signs_out,
    a_wrong_password_and_an_unknown_email_get_the_same_401,
    a_session_id_presented_at_login_is_never_reused,
    cookie_writes_need_the_csrf_token_and_bearer_keys_do_not,
    cookie_writes_from_another_origin_are_403_and_keys_are_not_checked,
    sessions_expire_when_idle_and_at_their_absolute_limit,
    a_session_past_its_stored_expiry_is_refused_and_swept,
    password_guessing_is_throttled_per_account_and_per_address,
    viewers_cannot_write_and_admins_cannot_make_owners,
    another_organizations_people_keys_and_invitations_are_404,
    an_invitation_is_accepted_once_and_its_person_signs_in,
    roles_change_removed_people_are_signed_out_and_the_last_owner_stays,
    keys_are_shown_once_listed_without_secrets_and_revoked,
    organization_settings_round_trip_and_the_webhook_secret_is_write_only,
    a_password_change_ends_the_other_sessions,
    every_write_leaves_an_audit_entry_listed_newest_first_in_pages,
    no_secret_reaches_a_response_or_the_logs,
    api_gateway_events_carry_the_cookie_and_the_client_address,
    every_resource_of_another_organization_is_404_by_session_and_by_key,
}

async fn a_person_signs_in_sees_who_they_are_and_signs_out(bed: Bed) {
    let answer = login(&bed, " Admin@ACME.example ", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let (id, line) = answer.cookie();
    assert!(id.starts_with("hs_") && id.len() == 67, "{line}");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=43200",
    ] {
        assert!(
            line.split("; ").any(|a| a == attribute),
            "{attribute} missing: {line}"
        );
    }
    assert!(line.starts_with(&format!("{SESSION_COOKIE}=")), "{line}");
    let body = answer.json();
    assert_eq!(body["org"], "acme");
    assert_eq!(body["role"], "admin");
    assert_eq!(body["user"]["email"], "admin@acme.example");
    let csrf = body["csrf_token"].as_str().expect("csrf").to_owned();

    let me = send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&id, None),
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(me["user"]["id"], bed.admin.id.as_str());
    assert_eq!(me["csrf_token"], csrf.as_str());
    assert_eq!(me["key"], Value::Null);
    // The same session reads the organization's resources, as a key would.
    send(
        &bed,
        Method::GET,
        "/api/v1/agents",
        Auth::Cookie(&id, None),
        None,
    )
    .await
    .expect(StatusCode::OK);
    let by_key = send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Key(&bed.admin_key.1),
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(by_key["key"], bed.admin_key.0.id.as_str());
    assert_eq!(by_key["csrf_token"], Value::Null);

    let out = send(
        &bed,
        Method::DELETE,
        "/api/v1/session",
        Auth::Cookie(&id, Some(&csrf)),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let (cleared, line) = out.cookie();
    assert!(cleared.is_empty() && line.contains("Max-Age=0"), "{line}");
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&id, None),
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    send(&bed, Method::GET, "/api/v1/session", Auth::None, None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
}

async fn a_wrong_password_and_an_unknown_email_get_the_same_401(bed: Bed) {
    let wrong = login(&bed, "admin@acme.example", "not the password at all").await;
    let unknown = login(&bed, "nobody@acme.example", PASSWORD).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (unknown.status, unknown.text.as_str()),
        (wrong.status, wrong.text.as_str())
    );
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    // Not e-mails at all (one longer than any store key): answered like any unknown one.
    for odd in [
        "not an e-mail".to_owned(),
        format!("{}@acme.example", "a".repeat(5000)),
    ] {
        let malformed = login(&bed, &odd, PASSWORD).await;
        assert_eq!(
            (malformed.status, malformed.text.as_str()),
            (wrong.status, wrong.text.as_str())
        );
    }
    let no_body = send(
        &bed,
        Method::POST,
        "/api/v1/session",
        Auth::None,
        Some(json!({"email": 1})),
    )
    .await;
    assert_eq!(no_body.status, StatusCode::BAD_REQUEST, "{}", no_body.text);
}

async fn a_session_id_presented_at_login_is_never_reused(bed: Bed) {
    // An id an attacker planted in the victim's browser before the victim signs in.
    let planted = format!("hs_{}", "a".repeat(64));
    let answer = send(
        &bed,
        Method::POST,
        "/api/v1/session",
        Auth::Cookie(&planted, None),
        Some(json!({"email": "owner@acme.example", "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::OK);
    let (issued, _) = answer.cookie();
    assert_ne!(issued, planted);
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&planted, None),
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&issued, None),
        None,
    )
    .await
    .expect(StatusCode::OK);

    // Signing in again from a signed-in browser rotates the id and ends the old session.
    let again = send(
        &bed,
        Method::POST,
        "/api/v1/session",
        Auth::Cookie(&issued, None),
        Some(json!({"email": "owner@acme.example", "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::OK);
    let (rotated, _) = again.cookie();
    assert_ne!(rotated, issued);
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&issued, None),
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&rotated, None),
        None,
    )
    .await
    .expect(StatusCode::OK);
}

/// A cookie write with the right CSRF token still needs the API's own origin: from
/// `Origin`, else from `Referer`; neither is refused. Keys are not browsers: no check.
async fn cookie_writes_from_another_origin_are_403_and_keys_are_not_checked(bed: Bed) {
    let s = sign_in(&bed, "admin@acme.example").await;
    let patch = |name: &str| Some(json!({"name": name}));
    let write = |origin: Option<&str>, referer: Option<&str>, name: &str| {
        let mut req = request(
            Method::PATCH,
            "/api/v1/organization",
            Auth::Cookie(&s.id, Some(&s.csrf)),
            patch(name).as_ref(),
            HOME,
        );
        let headers = req.headers_mut();
        headers.remove(header::ORIGIN);
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().expect("origin"));
        }
        if let Some(referer) = referer {
            headers.insert(header::REFERER, referer.parse().expect("referer"));
        }
        req
    };
    let status = |req| async { handle(&bed.deps, req).await.status() };
    for (origin, referer) in [
        (Some("https://evil.example"), None),
        (Some("https://api.example.com.evil.example"), None),
        (Some("http://api.example.com:8443"), None),
        (Some("null"), None),
        (None, Some("https://evil.example/api.example.com")),
        (None, None),
        // Origin decides when both are sent.
        (
            Some("https://evil.example"),
            Some("https://api.example.com/console"),
        ),
    ] {
        assert_eq!(
            status(write(origin, referer, "Evil Inc")).await,
            StatusCode::FORBIDDEN,
            "{origin:?} {referer:?}"
        );
    }
    let stored = bed
        .stores
        .directory
        .get_org(&org("acme"))
        .await
        .expect("get")
        .expect("org");
    assert_ne!(stored.name, "Evil Inc", "a refused write changed nothing");
    for (origin, referer, name) in [
        (Some("https://api.example.com"), None, "Acme A"),
        (Some("HTTPS://API.EXAMPLE.COM"), None, "Acme B"),
        (
            None,
            Some("https://api.example.com/console/agents?x=1"),
            "Acme C",
        ),
    ] {
        assert_eq!(
            status(write(origin, referer, name)).await,
            StatusCode::OK,
            "{origin:?} {referer:?}"
        );
    }
    // Reads need no origin.
    let mut read = request(
        Method::GET,
        "/api/v1/organization",
        Auth::Cookie(&s.id, None),
        None,
        HOME,
    );
    read.headers_mut().remove(header::ORIGIN);
    assert_eq!(status(read).await, StatusCode::OK);
    // A configured origin (HOTLINE_API_ORIGIN) is accepted besides the request's host.
    let mut deps = bed.deps.clone();
    deps.auth.origin = Some("https://console.example.com".into());
    let mut req = write(Some("https://console.example.com"), None, "Acme D");
    assert_eq!(handle(&deps, req).await.status(), StatusCode::OK);
    req = write(Some("https://other.example.com"), None, "Acme E");
    assert_eq!(handle(&deps, req).await.status(), StatusCode::FORBIDDEN);
    // An API key is not a browser's ambient credential: its writes carry no origin.
    let mut keyed = request(
        Method::PATCH,
        "/api/v1/organization",
        Auth::Key(&bed.admin_key.1),
        patch("Acme F").as_ref(),
        HOME,
    );
    keyed.headers_mut().insert(
        header::ORIGIN,
        "https://evil.example".parse().expect("origin"),
    );
    assert_eq!(status(keyed).await, StatusCode::OK);
}

async fn cookie_writes_need_the_csrf_token_and_bearer_keys_do_not(bed: Bed) {
    let s = sign_in(&bed, "admin@acme.example").await;
    let patch = json!({"name": "Acme Inc"});
    for csrf in [None, Some("wrong"), Some("")] {
        let refused = send(
            &bed,
            Method::PATCH,
            "/api/v1/organization",
            Auth::Cookie(&s.id, csrf),
            Some(patch.clone()),
        )
        .await
        .expect(StatusCode::FORBIDDEN);
        assert!(refused.text.contains("CSRF"), "{}", refused.text);
    }
    // Another session's token is not this one's.
    let other = sign_in(&bed, "owner@acme.example").await;
    send(
        &bed,
        Method::PATCH,
        "/api/v1/organization",
        Auth::Cookie(&s.id, Some(&other.csrf)),
        Some(patch.clone()),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::DELETE,
        "/api/v1/session",
        Auth::Cookie(&s.id, None),
        None,
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let stored = bed
        .stores
        .directory
        .get_org(&org("acme"))
        .await
        .expect("get")
        .expect("org");
    assert_ne!(stored.name, "Acme Inc", "a refused write changed nothing");

    let ok = send(
        &bed,
        Method::PATCH,
        "/api/v1/organization",
        s.auth(),
        Some(patch.clone()),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(ok.json()["name"], "Acme Inc");
    send(
        &bed,
        Method::PATCH,
        "/api/v1/organization",
        Auth::Key(&bed.admin_key.1),
        Some(json!({"name": "Acme"})),
    )
    .await
    .expect(StatusCode::OK);
}

/// The store keeps a session until its absolute end (its TTL, on the real clock) and
/// not a second longer, whatever a server's clock says: one signed in on a clock two
/// hours slow, with a one-hour limit, is refused at once (and swept locally).
async fn a_session_past_its_stored_expiry_is_refused_and_swept(mut bed: Bed) {
    bed.deps.auth.sessions.absolute = TimeDelta::hours(1);
    bed.advance(TimeDelta::hours(-2));
    let s = sign_in(&bed, "viewer@acme.example").await;
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&s.id, None),
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    let hash = hotline_core::people::secret_hash(&s.id);
    assert!(
        bed.stores
            .sessions
            .session_by_hash(&hash)
            .await
            .expect("get")
            .is_none()
    );
    // With the clock right again, a new sign-in lives.
    bed.advance(TimeDelta::hours(2));
    let again = sign_in(&bed, "viewer@acme.example").await;
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&again.id, None),
        None,
    )
    .await
    .expect(StatusCode::OK);
    let removed = bed.stores.expiry.remove_expired().await.expect("sweep");
    assert_eq!(
        removed,
        usize::from(bed.stores.aws.is_none()),
        "locally the expired one goes"
    );
}

async fn sessions_expire_when_idle_and_at_their_absolute_limit(bed: Bed) {
    let s = sign_in(&bed, "viewer@acme.example").await;
    bed.advance(TimeDelta::minutes(29));
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&s.id, None),
        None,
    )
    .await
    .expect(StatusCode::OK);
    // 29 minutes after that request: still within the idle limit of it.
    bed.advance(TimeDelta::minutes(29));
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&s.id, None),
        None,
    )
    .await
    .expect(StatusCode::OK);
    bed.advance(TimeDelta::minutes(31));
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&s.id, None),
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);

    // Busy all day: the absolute limit ends it at 12 hours anyway.
    let busy = sign_in(&bed, "viewer@acme.example").await;
    for _ in 0..47 {
        bed.advance(TimeDelta::minutes(15));
        send(
            &bed,
            Method::GET,
            "/api/v1/session",
            Auth::Cookie(&busy.id, None),
            None,
        )
        .await
        .expect(StatusCode::OK);
    }
    bed.advance(TimeDelta::minutes(15));
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&busy.id, None),
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
}

async fn password_guessing_is_throttled_per_account_and_per_address(bed: Bed) {
    // Per account: 3 failures (the bed's limit), from anywhere, lock the account's
    // sign-in for the window, even with the right password.
    for from in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        send_from(
            &bed,
            Method::POST,
            "/api/v1/session",
            Auth::None,
            Some(json!({"email": "owner@acme.example", "password": "guess guess guess"})),
            from,
        )
        .await
        .expect(StatusCode::UNAUTHORIZED);
    }
    let locked = send_from(
        &bed,
        Method::POST,
        "/api/v1/session",
        Auth::None,
        Some(json!({"email": "owner@acme.example", "password": PASSWORD})),
        "192.0.2.4",
    )
    .await
    .expect(StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = locked
        .headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=900).contains(&retry), "{retry}");
    // Unknown accounts are throttled alike: a 429 tells nothing about existence.
    for _ in 0..3 {
        login(&bed, "ghost@acme.example", "guess guess guess")
            .await
            .expect(StatusCode::UNAUTHORIZED);
    }
    login(&bed, "ghost@acme.example", "guess guess guess")
        .await
        .expect(StatusCode::TOO_MANY_REQUESTS);
    // Others are not locked out by it.
    sign_in(&bed, "admin@acme.example").await;

    // Per address: 5 failures from one address, spread over accounts, lock that address.
    let spray = "203.0.113.9";
    for n in 0..5 {
        send_from(
            &bed,
            Method::POST,
            "/api/v1/session",
            Auth::None,
            Some(
                json!({"email": format!("user{n}@acme.example"), "password": "guess guess guess"}),
            ),
            spray,
        )
        .await
        .expect(StatusCode::UNAUTHORIZED);
    }
    send_from(
        &bed,
        Method::POST,
        "/api/v1/session",
        Auth::None,
        Some(json!({"email": "viewer@acme.example", "password": PASSWORD})),
        spray,
    )
    .await
    .expect(StatusCode::TOO_MANY_REQUESTS);
    send_from(
        &bed,
        Method::POST,
        "/api/v1/session",
        Auth::None,
        Some(json!({"email": "viewer@acme.example", "password": PASSWORD})),
        "203.0.113.10",
    )
    .await
    .expect(StatusCode::OK);

    // The window ends; the owner signs in again.
    bed.advance(TimeDelta::minutes(15));
    sign_in(&bed, "owner@acme.example").await;
}

async fn viewers_cannot_write_and_admins_cannot_make_owners(bed: Bed) {
    let viewer = sign_in(&bed, "viewer@acme.example").await;
    for (method, uri, body) in [
        (Method::PATCH, "/api/v1/organization", json!({"name": "x"})),
        (
            Method::POST,
            "/api/v1/keys",
            json!({"name": "x", "role": "viewer"}),
        ),
        (
            Method::POST,
            "/api/v1/invitations",
            json!({"email": "x@acme.example", "role": "viewer"}),
        ),
        (
            Method::PATCH,
            &format!("/api/v1/users/{}", bed.viewer.id),
            json!({"role": "admin"}),
        ),
    ] {
        send(&bed, method.clone(), uri, viewer.auth(), Some(body.clone()))
            .await
            .expect(StatusCode::FORBIDDEN);
        send(&bed, method, uri, Auth::Key(&bed.viewer_key), Some(body))
            .await
            .expect(StatusCode::FORBIDDEN);
    }
    send(&bed, Method::GET, "/api/v1/audit", viewer.auth(), None)
        .await
        .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::DELETE,
        &format!("/api/v1/users/{}", bed.admin.id),
        viewer.auth(),
        None,
    )
    .await
    .expect(StatusCode::FORBIDDEN);

    let admin = sign_in(&bed, "admin@acme.example").await;
    send(
        &bed,
        Method::POST,
        "/api/v1/invitations",
        admin.auth(),
        Some(json!({"email": "boss@acme.example", "role": "owner"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::POST,
        "/api/v1/keys",
        admin.auth(),
        Some(json!({"name": "root", "role": "owner"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::PATCH,
        &format!("/api/v1/users/{}", bed.viewer.id),
        admin.auth(),
        Some(json!({"role": "owner"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::PATCH,
        &format!("/api/v1/users/{}", bed.owner.id),
        admin.auth(),
        Some(json!({"role": "viewer"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::DELETE,
        &format!("/api/v1/users/{}", bed.owner.id),
        admin.auth(),
        None,
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let promoted = send(
        &bed,
        Method::PATCH,
        &format!("/api/v1/users/{}", bed.viewer.id),
        admin.auth(),
        Some(json!({"role": "admin"})),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(promoted.json()["role"], "admin");
}

async fn another_organizations_people_keys_and_invitations_are_404(bed: Bed) {
    let owner = sign_in(&bed, "owner@acme.example").await;
    let invitation = send(
        &bed,
        Method::POST,
        "/api/v1/invitations",
        owner.auth(),
        Some(json!({"email": "new@acme.example", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    let inv_id = invitation["id"].as_str().expect("id").to_owned();
    let other = sign_in(&bed, "owner@other.example").await;
    let targets = [
        (
            Method::PATCH,
            format!("/api/v1/users/{}", bed.admin.id),
            Some(json!({"role": "viewer"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/users/{}", bed.admin.id),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/keys/{}", bed.admin_key.0.id),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/invitations/{inv_id}"),
            None,
        ),
    ];
    for (method, uri, body) in &targets {
        for auth in [other.auth(), Auth::Key(&bed.other_key)] {
            let answer = send(&bed, method.clone(), uri, auth, body.clone()).await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{method} {uri}: {}",
                answer.text
            );
        }
    }
    // Their lists show only their own.
    for auth in [other.auth(), Auth::Key(&bed.other_key)] {
        let users = send(&bed, Method::GET, "/api/v1/users", auth, None)
            .await
            .expect(StatusCode::OK)
            .json();
        assert_eq!(users["users"].as_array().map(Vec::len), Some(1), "{users}");
        assert_eq!(users["users"][0]["email"], "owner@other.example");
        let keys = send(&bed, Method::GET, "/api/v1/keys", auth, None)
            .await
            .expect(StatusCode::OK)
            .json();
        assert!(!keys.to_string().contains(&bed.admin_key.0.id), "{keys}");
        let invitations = send(&bed, Method::GET, "/api/v1/invitations", auth, None)
            .await
            .expect(StatusCode::OK)
            .json();
        assert_eq!(invitations["invitations"], json!([]));
        let org = send(&bed, Method::GET, "/api/v1/organization", auth, None)
            .await
            .expect(StatusCode::OK)
            .json();
        assert_eq!(org["id"], "other");
    }
    // Nothing of acme's changed.
    let key = bed
        .stores
        .api_keys
        .api_key_by_hash(&bed.admin_key.0.hash)
        .await
        .expect("get")
        .expect("key");
    assert!(key.is_active());
    let admin = bed
        .stores
        .users
        .user_by_email("admin@acme.example")
        .await
        .expect("get")
        .expect("user");
    assert_eq!((admin.role, admin.is_active()), (Role::Admin, true));
    assert_eq!(bed.other_owner.org, org("other"));
}

async fn an_invitation_is_accepted_once_and_its_person_signs_in(bed: Bed) {
    let admin = sign_in(&bed, "admin@acme.example").await;
    let created = send(
        &bed,
        Method::POST,
        "/api/v1/invitations",
        admin.auth(),
        Some(json!({"email": "New.Person@Acme.example", "role": "admin"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    let token = created["token"].as_str().expect("token").to_owned();
    assert_eq!(
        (created["email"].as_str(), created["state"].as_str()),
        (Some("new.person@acme.example"), Some("pending"))
    );
    let listed = send(&bed, Method::GET, "/api/v1/invitations", admin.auth(), None)
        .await
        .expect(StatusCode::OK);
    assert!(!listed.text.contains(&token), "{}", listed.text);
    assert_eq!(listed.json()["invitations"][0]["state"], "pending");

    send(
        &bed,
        Method::POST,
        "/api/v1/invitations/accept",
        Auth::None,
        Some(json!({"token": token, "password": "short"})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    send(
        &bed,
        Method::POST,
        "/api/v1/invitations/accept",
        Auth::None,
        Some(json!({"token": "hi_nope", "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let accepted = send(
        &bed,
        Method::POST,
        "/api/v1/invitations/accept",
        Auth::None,
        Some(json!({"token": token, "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    assert_eq!(
        (accepted["org"].as_str(), accepted["user"]["role"].as_str()),
        (Some("acme"), Some("admin"))
    );
    send(
        &bed,
        Method::POST,
        "/api/v1/invitations/accept",
        Auth::None,
        Some(json!({"token": token, "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let me = sign_in(&bed, "new.person@acme.example").await;
    let who = send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&me.id, None),
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(who["role"], "admin");
    let listed = send(&bed, Method::GET, "/api/v1/invitations", admin.auth(), None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(listed["invitations"][0]["state"], "accepted");

    // A withdrawn or expired invitation is not accepted.
    let withdrawn = send(
        &bed,
        Method::POST,
        "/api/v1/invitations",
        admin.auth(),
        Some(json!({"email": "w@acme.example", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    send(
        &bed,
        Method::DELETE,
        &format!(
            "/api/v1/invitations/{}",
            withdrawn["id"].as_str().expect("id")
        ),
        admin.auth(),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    send(
        &bed,
        Method::POST,
        "/api/v1/invitations/accept",
        Auth::None,
        Some(json!({"token": withdrawn["token"], "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let late = send(
        &bed,
        Method::POST,
        "/api/v1/invitations",
        Auth::Key(&bed.admin_key.1),
        Some(json!({"email": "late@acme.example", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    bed.advance(TimeDelta::days(8));
    send(
        &bed,
        Method::POST,
        "/api/v1/invitations/accept",
        Auth::None,
        Some(json!({"token": late["token"], "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    // An e-mail that already has an account (in any organization) is not taken over.
    let taken = send(
        &bed,
        Method::POST,
        "/api/v1/invitations",
        Auth::Key(&bed.admin_key.1),
        Some(json!({"email": "owner@other.example", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    send(
        &bed,
        Method::POST,
        "/api/v1/invitations/accept",
        Auth::None,
        Some(json!({"token": taken["token"], "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::CONFLICT);
    let still = bed
        .stores
        .users
        .user_by_email("owner@other.example")
        .await
        .expect("get")
        .expect("user");
    assert_eq!(still.org, org("other"));
}

async fn roles_change_removed_people_are_signed_out_and_the_last_owner_stays(bed: Bed) {
    let owner = sign_in(&bed, "owner@acme.example").await;
    let admin = sign_in(&bed, "admin@acme.example").await;
    let demoted = send(
        &bed,
        Method::PATCH,
        &format!("/api/v1/users/{}", bed.admin.id),
        owner.auth(),
        Some(json!({"role": "viewer"})),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(demoted.json()["role"], "viewer");
    // The role counts from the next request on, in the session already open.
    send(
        &bed,
        Method::PATCH,
        "/api/v1/organization",
        admin.auth(),
        Some(json!({"name": "x"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::PATCH,
        &format!("/api/v1/users/{}", bed.owner.id),
        owner.auth(),
        Some(json!({"role": "admin"})),
    )
    .await
    .expect(StatusCode::CONFLICT);
    send(
        &bed,
        Method::DELETE,
        &format!("/api/v1/users/{}", bed.owner.id),
        owner.auth(),
        None,
    )
    .await
    .expect(StatusCode::CONFLICT);
    send(
        &bed,
        Method::PATCH,
        &format!("/api/v1/users/{}", bed.admin.id),
        owner.auth(),
        Some(json!({"role": "superuser"})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);

    send(
        &bed,
        Method::DELETE,
        &format!("/api/v1/users/{}", bed.admin.id),
        owner.auth(),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&admin.id, None),
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    login(&bed, "admin@acme.example", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let users = send(&bed, Method::GET, "/api/v1/users", owner.auth(), None)
        .await
        .expect(StatusCode::OK)
        .json();
    let emails: Vec<_> = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_owned())
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(
        !emails.contains(&"admin@acme.example".to_owned()),
        "{emails:?}"
    );
}

async fn keys_are_shown_once_listed_without_secrets_and_revoked(bed: Bed) {
    let admin = sign_in(&bed, "admin@acme.example").await;
    let created = send(
        &bed,
        Method::POST,
        "/api/v1/keys",
        admin.auth(),
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    let secret = created["key"].as_str().expect("key").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(secret.starts_with("hk_"), "{created}");
    send(
        &bed,
        Method::GET,
        "/api/v1/agents",
        Auth::Key(&secret),
        None,
    )
    .await
    .expect(StatusCode::OK);
    let listed = send(&bed, Method::GET, "/api/v1/keys", Auth::Key(&secret), None)
        .await
        .expect(StatusCode::OK);
    let stored = bed
        .stores
        .api_keys
        .api_key_by_hash(&ApiKey::hash(&secret))
        .await
        .expect("get")
        .expect("key");
    assert!(
        !listed.text.contains(&secret[3..]) && !listed.text.contains(&stored.hash),
        "{}",
        listed.text
    );
    assert!(
        listed.json()["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["id"] == id.as_str() && k["name"] == "ci")
    );

    send(
        &bed,
        Method::DELETE,
        &format!("/api/v1/keys/{id}"),
        admin.auth(),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    send(
        &bed,
        Method::GET,
        "/api/v1/agents",
        Auth::Key(&secret),
        None,
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);
    send(
        &bed,
        Method::DELETE,
        "/api/v1/keys/no-such-key",
        admin.auth(),
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    send(
        &bed,
        Method::POST,
        "/api/v1/keys",
        Auth::Key(&bed.admin_key.1),
        Some(json!({"name": "", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

async fn organization_settings_round_trip_and_the_webhook_secret_is_write_only(bed: Bed) {
    let owner = sign_in(&bed, "owner@acme.example").await;
    let patched = send(
        &bed,
        Method::PATCH,
        "/api/v1/organization",
        owner.auth(),
        Some(json!({
            "name": "Acme Plumbing",
            "report_emails": ["Ops@Acme.example"],
            "report_webhook_url": "https://hooks.acme.example/calls",
            "report_webhook_secret": WEBHOOK_SECRET,
            "delete_twilio_recordings": true,
        })),
    )
    .await
    .expect(StatusCode::OK);
    assert!(!patched.text.contains(WEBHOOK_SECRET), "{}", patched.text);
    let got = send(
        &bed,
        Method::GET,
        "/api/v1/organization",
        Auth::Key(&bed.viewer_key),
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert!(!got.text.contains(WEBHOOK_SECRET), "{}", got.text);
    let got = got.json();
    assert_eq!(got["name"], "Acme Plumbing");
    assert_eq!(got["report_emails"], json!(["ops@acme.example"]));
    assert_eq!(
        got["report_webhook_url"],
        "https://hooks.acme.example/calls"
    );
    assert_eq!(got["report_webhook_secret_set"], true);
    assert_eq!(got["delete_twilio_recordings"], true);
    assert!(got.get("report_webhook_secret").is_none(), "{got}");
    let stored = bed
        .stores
        .directory
        .get_org(&org("acme"))
        .await
        .expect("get")
        .expect("org");
    use secrecy::ExposeSecret as _;
    assert_eq!(
        stored
            .settings
            .report_webhook_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .as_deref(),
        Some(WEBHOOK_SECRET)
    );
    // Fields left out stay; the Twilio account is untouched.
    send(
        &bed,
        Method::PATCH,
        "/api/v1/organization",
        owner.auth(),
        Some(json!({"name": "Acme"})),
    )
    .await
    .expect(StatusCode::OK);
    let stored = bed
        .stores
        .directory
        .get_org(&org("acme"))
        .await
        .expect("get")
        .expect("org");
    assert!(stored.settings.report_webhook_secret.is_some());
    assert_eq!(
        stored.twilio.auth_token.expose_secret(),
        hotline_testkit::webhook::TOKEN
    );

    for bad in [
        json!({"report_webhook_url": "http://plain.example"}),
        json!({"report_emails": ["nope"]}),
        json!({"report_webhook_secret": "short"}),
        json!({"report_webhook_secret": null}),
        json!({"name": ""}),
        json!({"twilio": {"auth_token": "x"}}),
    ] {
        send(
            &bed,
            Method::PATCH,
            "/api/v1/organization",
            owner.auth(),
            Some(bad),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    }
    let cleared = send(
        &bed,
        Method::PATCH,
        "/api/v1/organization",
        owner.auth(),
        Some(json!({"report_webhook_url": null, "report_webhook_secret": null})),
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(
        (
            cleared["report_webhook_url"].clone(),
            cleared["report_webhook_secret_set"].clone()
        ),
        (Value::Null, json!(false))
    );
}

async fn a_password_change_ends_the_other_sessions(bed: Bed) {
    let here = sign_in(&bed, "admin@acme.example").await;
    let elsewhere = sign_in(&bed, "admin@acme.example").await;
    let new_password = "an entirely new passphrase";
    send(
        &bed,
        Method::POST,
        "/api/v1/session/password",
        here.auth(),
        Some(json!({"current": "wrong wrong wrong", "new": new_password})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::POST,
        "/api/v1/session/password",
        here.auth(),
        Some(json!({"current": PASSWORD, "new": "short"})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    send(
        &bed,
        Method::POST,
        "/api/v1/session/password",
        Auth::Key(&bed.admin_key.1),
        Some(json!({"current": PASSWORD, "new": new_password})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let changed = send(
        &bed,
        Method::POST,
        "/api/v1/session/password",
        here.auth(),
        Some(json!({"current": PASSWORD, "new": new_password})),
    )
    .await
    .expect(StatusCode::OK);
    let (fresh, _) = changed.cookie();
    assert_ne!(fresh, here.id);
    for old in [&here.id, &elsewhere.id] {
        send(
            &bed,
            Method::GET,
            "/api/v1/session",
            Auth::Cookie(old, None),
            None,
        )
        .await
        .expect(StatusCode::UNAUTHORIZED);
    }
    send(
        &bed,
        Method::GET,
        "/api/v1/session",
        Auth::Cookie(&fresh, None),
        None,
    )
    .await
    .expect(StatusCode::OK);
    login(&bed, "admin@acme.example", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    login(&bed, "admin@acme.example", new_password)
        .await
        .expect(StatusCode::OK);
}

async fn every_write_leaves_an_audit_entry_listed_newest_first_in_pages(bed: Bed) {
    let owner = sign_in(&bed, "owner@acme.example").await;
    // Entries are ordered by time: each write a second after the last.
    bed.advance(TimeDelta::seconds(1));
    let agent = json!({"provider": "openai_realtime", "instructions": "Be kind.", "voice": "marin", "version": 0});
    send(
        &bed,
        Method::PUT,
        "/api/v1/agents/night",
        Auth::Key(&bed.admin_key.1),
        Some(agent),
    )
    .await
    .expect(StatusCode::CREATED);
    bed.advance(TimeDelta::seconds(1));
    send(&bed, Method::PATCH, "/api/v1/organization", owner.auth(), Some(json!({"report_webhook_url": "https://h.acme.example/x", "report_webhook_secret": WEBHOOK_SECRET})))
        .await
        .expect(StatusCode::OK);
    bed.advance(TimeDelta::seconds(1));
    let inv = send(
        &bed,
        Method::POST,
        "/api/v1/invitations",
        owner.auth(),
        Some(json!({"email": "n@acme.example", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    bed.advance(TimeDelta::seconds(1));
    send(
        &bed,
        Method::POST,
        "/api/v1/invitations/accept",
        Auth::None,
        Some(json!({"token": inv["token"], "password": PASSWORD})),
    )
    .await
    .expect(StatusCode::CREATED);
    bed.advance(TimeDelta::seconds(1));
    let key = send(
        &bed,
        Method::POST,
        "/api/v1/keys",
        owner.auth(),
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    bed.advance(TimeDelta::seconds(1));
    send(
        &bed,
        Method::DELETE,
        &format!("/api/v1/keys/{}", key["id"].as_str().expect("id")),
        owner.auth(),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    bed.advance(TimeDelta::seconds(1));
    send(
        &bed,
        Method::PATCH,
        &format!("/api/v1/users/{}", bed.viewer.id),
        owner.auth(),
        Some(json!({"role": "admin"})),
    )
    .await
    .expect(StatusCode::OK);
    bed.advance(TimeDelta::seconds(1));
    send(
        &bed,
        Method::DELETE,
        &format!("/api/v1/users/{}", bed.viewer.id),
        owner.auth(),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    bed.advance(TimeDelta::seconds(1));
    send(&bed, Method::DELETE, "/api/v1/session", owner.auth(), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    bed.advance(TimeDelta::seconds(1));

    let mut actions = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/v1/audit?limit=3&cursor={c}"),
            None => "/api/v1/audit?limit=3".to_owned(),
        };
        let page = send(&bed, Method::GET, &uri, Auth::Key(&bed.admin_key.1), None)
            .await
            .expect(StatusCode::OK);
        assert!(!page.text.contains(WEBHOOK_SECRET), "{}", page.text);
        let page = page.json();
        pages += 1;
        for e in page["entries"].as_array().expect("entries") {
            actions.push(e["action"].as_str().expect("action").to_owned());
            assert!(
                e["actor"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("user:") || a.starts_with("key:")),
                "{e}"
            );
        }
        cursor = page["next_cursor"].as_str().map(ToOwned::to_owned);
        if cursor.is_none() {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    actions.reverse();
    assert_eq!(
        actions,
        [
            "session.login",
            "agent.create",
            "organization.update",
            "invitation.create",
            "invitation.accept",
            "key.create",
            "key.revoke",
            "user.update",
            "user.remove",
            "session.logout",
        ]
    );
    assert!(pages >= 4, "{pages} pages of 3");

    let page = send(
        &bed,
        Method::GET,
        "/api/v1/audit",
        Auth::Key(&bed.admin_key.1),
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    let org_update = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "organization.update")
        .expect("entry")
        .clone();
    assert_eq!(org_update["before"]["report_webhook_secret_set"], false);
    assert_eq!(org_update["after"]["report_webhook_secret_set"], true);
    assert_eq!(org_update["actor"], format!("user:{}", bed.owner.id));
    let agent_create = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "agent.create")
        .expect("entry")
        .clone();
    assert_eq!(agent_create["actor"], format!("key:{}", bed.admin_key.0.id));
    assert_eq!(
        (
            agent_create["target"].as_str(),
            agent_create["after"]["instructions"].as_str()
        ),
        (Some("agent night"), Some("Be kind."))
    );

    let theirs = send(
        &bed,
        Method::GET,
        "/api/v1/audit",
        Auth::Key(&bed.other_key),
        None,
    )
    .await
    .expect(StatusCode::OK)
    .json();
    assert_eq!(theirs["entries"], json!([]));
    send(
        &bed,
        Method::GET,
        "/api/v1/audit",
        Auth::Key(&bed.viewer_key),
        None,
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    send(
        &bed,
        Method::GET,
        "/api/v1/audit?cursor=garbage!",
        Auth::Key(&bed.admin_key.1),
        None,
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    send(
        &bed,
        Method::GET,
        "/api/v1/audit?limit=0",
        Auth::Key(&bed.admin_key.1),
        None,
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

async fn no_secret_reaches_a_response_or_the_logs(bed: Bed) {
    let logs = captured_logs();

    let mut bodies = String::new();
    let mut secrets: Vec<String> = vec![PASSWORD.into(), WEBHOOK_SECRET.into()];
    let signed = login(&bed, "owner@acme.example", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let (session_id, _) = signed.cookie();
    let csrf = signed.json()["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_owned();
    bodies.push_str(&signed.text);
    let owner = Signed {
        id: session_id.clone(),
        csrf,
    };
    login(&bed, "owner@acme.example", "a wrong guess, logged?")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    secrets.push("a wrong guess, logged?".into());
    for (method, uri, body) in [
        (
            Method::PATCH,
            "/api/v1/organization",
            Some(
                json!({"report_webhook_url": "https://h.acme.example/x", "report_webhook_secret": WEBHOOK_SECRET}),
            ),
        ),
        (Method::GET, "/api/v1/organization", None),
        (Method::GET, "/api/v1/session", None),
        (Method::GET, "/api/v1/users", None),
        (Method::GET, "/api/v1/keys", None),
        (Method::GET, "/api/v1/audit", None),
        (
            Method::PATCH,
            "/api/v1/organization",
            Some(json!({"report_webhook_secret": "x"})),
        ),
    ] {
        bodies.push_str(&send(&bed, method, uri, owner.auth(), body).await.text);
    }
    let key = send(
        &bed,
        Method::POST,
        "/api/v1/keys",
        owner.auth(),
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    let key_secret = key["key"].as_str().expect("key").to_owned();
    let inv = send(
        &bed,
        Method::POST,
        "/api/v1/invitations",
        owner.auth(),
        Some(json!({"email": "n@acme.example", "role": "viewer"})),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    let token = inv["token"].as_str().expect("token").to_owned();
    bodies.push_str(
        &send(
            &bed,
            Method::POST,
            "/api/v1/invitations/accept",
            Auth::None,
            Some(json!({"token": token, "password": PASSWORD})),
        )
        .await
        .text,
    );
    bodies.push_str(
        &send(
            &bed,
            Method::GET,
            "/api/v1/keys",
            Auth::Key(&key_secret),
            None,
        )
        .await
        .text,
    );
    bodies.push_str(
        &send(
            &bed,
            Method::GET,
            "/api/v1/audit",
            Auth::Key(&bed.admin_key.1),
            None,
        )
        .await
        .text,
    );
    bodies.push_str(
        &send(
            &bed,
            Method::GET,
            "/api/v1/users",
            Auth::Key(&bed.admin_key.1),
            None,
        )
        .await
        .text,
    );

    // Stored forms: password hashes, key hashes, the session's stored hash.
    for email in ["owner@acme.example", "n@acme.example"] {
        let u = bed
            .stores
            .users
            .user_by_email(email)
            .await
            .expect("get")
            .expect("user");
        let hash = serde_json::to_value(&u.password_hash).expect("hash");
        secrets.push(hash.as_str().expect("phc").to_owned());
    }
    secrets.push(bed.admin_key.0.hash.clone());
    secrets.push(ApiKey::hash(&key_secret));
    secrets.push(hotline_core::people::secret_hash(&session_id));
    for secret in &secrets {
        assert!(
            !bodies.contains(secret.as_str()),
            "a response holds {secret:?}"
        );
    }
    assert!(!bodies.contains(&session_id), "a body holds the session id");

    let logged = logs.text();
    assert!(
        logged.contains("request refused"),
        "the capture works: {logged}"
    );
    secrets.extend([
        session_id,
        key_secret[3..].to_owned(),
        token,
        bed.admin_key.1[3..].to_owned(),
    ]);
    for secret in &secrets {
        assert!(
            !logged.contains(secret.as_str()),
            "the log holds {secret:?}:\n{logged}"
        );
    }
    let _ = std::io::stderr().flush();
}

/// An HTTP API (payload 2.0) event as API Gateway sends it: cookies in their own list,
/// the client's address in the request context.
fn gateway_event(
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Option<&Value>,
    ip: &str,
) -> Request {
    let mut headers = serde_json::Map::new();
    headers.insert(
        "host".into(),
        "abc123defg.execute-api.us-east-1.amazonaws.com".into(),
    );
    if let Some(csrf) = csrf {
        headers.insert(CSRF_HEADER.into(), csrf.into());
    }
    if cookie.is_some() {
        // The browser on the API's own page: its origin is the host it calls.
        headers.insert(
            "origin".into(),
            "https://abc123defg.execute-api.us-east-1.amazonaws.com".into(),
        );
    }
    if body.is_some() {
        headers.insert("content-type".into(), "application/json".into());
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": "abc123defg.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123defg",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": ip, "userAgent": "Mozilla/5.0"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "01/Dec/2026:09:00:00 +0000",
            "timeEpoch": 1_796_115_600_000_u64,
        },
        "isBase64Encoded": false,
    });
    if let Some(cookie) = cookie {
        event["cookies"] = json!(["theme=dark", format!("{SESSION_COOKIE}={cookie}")]);
    }
    if let Some(body) = body {
        event["body"] = body.to_string().into();
    }
    lambda_http::request::from_str(&event.to_string()).expect("event")
}

async fn api_gateway_events_carry_the_cookie_and_the_client_address(bed: Bed) {
    let sign_in = |ip: &'static str, password: &'static str| {
        gateway_event(
            "POST",
            "/api/v1/session",
            None,
            None,
            Some(&json!({"email": "admin@acme.example", "password": password})),
            ip,
        )
    };
    let resp = handle(&bed.deps, sign_in("198.51.100.20", PASSWORD)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let line = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_owned();
    let id = line
        .split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("id");
    let csrf = hotline_core::people::csrf_token(&id);
    let me = handle(
        &bed.deps,
        gateway_event(
            "GET",
            "/api/v1/session",
            Some(&id),
            None,
            None,
            "198.51.100.20",
        ),
    )
    .await;
    assert_eq!(me.status(), StatusCode::OK);
    let write = handle(
        &bed.deps,
        gateway_event(
            "PATCH",
            "/api/v1/organization",
            Some(&id),
            Some(&csrf),
            Some(&json!({"name": "Acme"})),
            "198.51.100.20",
        ),
    )
    .await;
    assert_eq!(write.status(), StatusCode::OK);
    let forged = handle(
        &bed.deps,
        gateway_event(
            "PATCH",
            "/api/v1/organization",
            Some(&id),
            None,
            Some(&json!({"name": "Evil"})),
            "198.51.100.20",
        ),
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // The address the throttle counts is the one API Gateway saw.
    for n in 0..5 {
        let guess = gateway_event(
            "POST",
            "/api/v1/session",
            None,
            None,
            Some(&json!({"email": format!("x{n}@acme.example"), "password": "guess guess guess"})),
            "192.0.2.50",
        );
        assert_eq!(
            handle(&bed.deps, guess).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        handle(&bed.deps, sign_in("192.0.2.50", PASSWORD))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        handle(&bed.deps, sign_in("192.0.2.51", PASSWORD))
            .await
            .status(),
        StatusCode::OK
    );
}

/// Every resource of another organization is 404 (as if it did not exist, never 403),
/// whether the other organization's person asks with a session or its machine with a
/// key, for reads and writes alike; and nothing of acme's changes.
async fn every_resource_of_another_organization_is_404_by_session_and_by_key(bed: Bed) {
    use hotline_core::ids::{AgentId, CallSid, E164};
    use hotline_core::model::{Contact, PhoneNumber, Todo, TodoItem};

    let acme = sign_in(&bed, "owner@acme.example").await;
    send(
        &bed,
        Method::PUT,
        "/api/v1/agents/desk",
        acme.auth(),
        Some(json!({"provider": "openai_realtime", "instructions": "Help.", "voice": "marin", "version": 0})),
    )
    .await
    .expect(StatusCode::CREATED);
    let number = E164::parse("+14155550190").expect("number");
    bed.stores
        .directory
        .put_number(&PhoneNumber {
            number: number.clone(),
            org: org("acme"),
            agent: AgentId::parse("desk").expect("agent"),
            enabled: true,
            sms: true,
            sms_agent: None,
            sms_disabled_message: None,
            analyzers: Vec::new(),
            version: 0,
        })
        .await
        .expect("number");
    let sid = hotline_testkit::webhook::call_sid(77);
    bed.stores
        .calls
        .create_call(&hotline_testkit::webhook::call(&sid, "acme"))
        .await
        .expect("call");
    let caller = E164::parse("+14155550100").expect("caller");
    bed.stores
        .contacts
        .create_contact(&Contact::new(org("acme"), caller.clone(), start()))
        .await
        .expect("contact");
    let todo = Todo::from_item(
        &org("acme"),
        &CallSid::parse(&sid).expect("sid"),
        Some(&caller),
        0,
        &TodoItem {
            title: "Call back".into(),
            due: None,
            assignee: None,
        },
        start(),
    );
    bed.stores.todos.create_todo(&todo).await.expect("todo");

    let other = sign_in(&bed, "owner@other.example").await;
    let targets = [
        (Method::GET, "/api/v1/agents/desk".to_owned(), None),
        (
            Method::PUT,
            "/api/v1/agents/desk".to_owned(),
            Some(
                json!({"provider": "openai_realtime", "instructions": "Mine now.", "voice": "marin", "version": 1}),
            ),
        ),
        (
            Method::DELETE,
            "/api/v1/numbers/%2B14155550190".to_owned(),
            None,
        ),
        (Method::GET, format!("/api/v1/calls/{sid}"), None),
        (
            Method::GET,
            "/api/v1/contacts/%2B14155550100".to_owned(),
            None,
        ),
        (
            Method::PATCH,
            "/api/v1/contacts/%2B14155550100".to_owned(),
            Some(json!({"notes": "mine"})),
        ),
        (
            Method::POST,
            format!("/api/v1/todos/{}/complete", todo.id),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/todos/{}", todo.id),
            Some(json!({"assignee": "eve"})),
        ),
    ];
    for auth in [other.auth(), Auth::Key(&bed.other_key)] {
        for (method, uri, body) in &targets {
            let answer = send(&bed, method.clone(), uri, auth, body.clone()).await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{method} {uri}: {}",
                answer.text
            );
        }
        // Their lists hold nothing of acme's.
        for uri in [
            "/api/v1/numbers",
            "/api/v1/calls",
            "/api/v1/contacts",
            "/api/v1/todos",
        ] {
            let page = send(&bed, Method::GET, uri, auth, None)
                .await
                .expect(StatusCode::OK)
                .json();
            let text = page.to_string();
            assert!(
                !text.contains("+14155550190")
                    && !text.contains(&sid)
                    && !text.contains("+14155550100"),
                "{uri}: {page}"
            );
        }
    }
    let agent = send(&bed, Method::GET, "/api/v1/agents/desk", acme.auth(), None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        (agent["instructions"].as_str(), agent["version"].as_u64()),
        (Some("Help."), Some(1))
    );
    assert!(
        bed.stores
            .directory
            .get_number(&number)
            .await
            .expect("get")
            .is_some()
    );
    let still = bed
        .stores
        .todos
        .get_todo(&org("acme"), &todo.id)
        .await
        .expect("get")
        .expect("todo");
    assert_eq!((still.done, still.assignee), (false, None));
}
