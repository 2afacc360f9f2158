//! The people ports' contract: users unique by e-mail, versioned sessions and failure
//! counters, an audit log per organization, newest first.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hotline_core::audit::{Actor, AuditEntry, AuditPosition};
use hotline_core::model::Role;
use hotline_core::people::{Invitation, LoginFailures, PasswordHash, Session, User};
use hotline_core::ports::StoreError;
use serde_json::json;

use super::{Fixture, aws, local, org_id};

hotline_testkit::on_both_stores! {
    local: local, aws: aws;
    an_email_has_one_active_user_and_a_removed_ones_place_is_taken_over,
    sessions_are_created_once_and_written_by_version,
    login_failures_are_created_once_and_written_by_version,
    invitations_are_found_by_hash_and_listed_per_organization,
    audit_entries_list_per_organization_newest_first_in_pages,
    expired_sessions_invitations_and_counters_read_as_absent_and_are_swept,
}

/// Seconds from when the tests started: records with an expiry (the table's TTL, on
/// the real clock) must not be born expired.
fn at(secs: i64) -> DateTime<Utc> {
    static START: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| Utc::now().timestamp());
    Utc.timestamp_opt(*START + secs, 0).single().expect("time")
}

fn hash() -> PasswordHash {
    PasswordHash::new("a long enough password").expect("hash")
}

async fn an_email_has_one_active_user_and_a_removed_ones_place_is_taken_over(s: Fixture) {
    let users = s.users.as_ref();
    let ana = User::new(
        org_id("acme"),
        "ana@x.example".into(),
        Role::Admin,
        hash(),
        at(0),
    );
    let stored = users.create_user(&ana).await.expect("create");
    assert_eq!(stored.version, 1);
    let twin = User::new(
        org_id("other"),
        "ana@x.example".into(),
        Role::Owner,
        hash(),
        at(1),
    );
    let err = users.create_user(&twin).await.expect_err("taken");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(
        users.list_users(&org_id("acme")).await.expect("list").len(),
        1
    );
    assert!(
        users
            .list_users(&org_id("other"))
            .await
            .expect("list")
            .is_empty()
    );

    let mut stale = stored.clone();
    let mut removed = stored.clone();
    removed.removed_at = Some(at(2));
    users.update_user(&removed).await.expect("remove");
    stale.role = Role::Viewer;
    assert!(matches!(
        users.update_user(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        users
            .list_users(&org_id("acme"))
            .await
            .expect("list")
            .is_empty()
    );

    let joined = users
        .create_user(&twin)
        .await
        .expect("takes the removed place");
    let found = users
        .user_by_email("ana@x.example")
        .await
        .expect("get")
        .expect("user");
    assert_eq!((found.id, found.org.as_str()), (joined.id, "other"));
    assert_eq!(
        users
            .list_users(&org_id("other"))
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(
        users
            .list_users(&org_id("acme"))
            .await
            .expect("list")
            .is_empty()
    );
}

async fn sessions_are_created_once_and_written_by_version(s: Fixture) {
    let user = User::new(
        org_id("acme"),
        "bo@x.example".into(),
        Role::Viewer,
        hash(),
        at(0),
    );
    let (session, _id) = Session::open(&user, at(0), TimeDelta::hours(12));
    let created = s.sessions.create_session(&session).await.expect("create");
    assert!(matches!(
        s.sessions.create_session(&session).await,
        Err(StoreError::Conflict(_))
    ));
    let mut seen = created.clone();
    seen.last_seen_at = at(60);
    let written = s.sessions.update_session(&seen).await.expect("touch");
    let mut revoked = created.clone();
    revoked.revoked_at = Some(at(61));
    assert!(matches!(
        s.sessions.update_session(&revoked).await,
        Err(StoreError::Conflict(_))
    ));
    let stored = s
        .sessions
        .session_by_hash(&session.hash)
        .await
        .expect("get")
        .expect("session");
    assert_eq!(
        (stored.last_seen_at, stored.version),
        (at(60), written.version)
    );
    assert!(
        s.sessions
            .session_by_hash("nope")
            .await
            .expect("get")
            .is_none()
    );
}

async fn login_failures_are_created_once_and_written_by_version(s: Fixture) {
    let key = LoginFailures::address_key("192.0.2.1");
    let mut f = LoginFailures::new(key.clone(), at(0));
    f.record(at(0), TimeDelta::minutes(15));
    let stored = s.sessions.put_login_failures(&f).await.expect("create");
    assert!(matches!(
        s.sessions.put_login_failures(&f).await,
        Err(StoreError::Conflict(_))
    ));
    let mut next = stored.clone();
    next.record(at(1), TimeDelta::minutes(15));
    s.sessions.put_login_failures(&next).await.expect("count");
    assert!(matches!(
        s.sessions.put_login_failures(&stored).await,
        Err(StoreError::Conflict(_))
    ));
    let read = s
        .sessions
        .login_failures(&key)
        .await
        .expect("get")
        .expect("failures");
    assert_eq!(read.count, 2);
}

async fn invitations_are_found_by_hash_and_listed_per_organization(s: Fixture) {
    let (inv, token) = Invitation::issue(
        org_id("acme"),
        "cy@x.example".into(),
        Role::Viewer,
        Actor::Key("k".into()).to_string(),
        at(0),
    );
    s.users.create_invitation(&inv).await.expect("create");
    let found = s
        .users
        .invitation_by_hash(&hotline_core::people::secret_hash(&token))
        .await
        .expect("get")
        .expect("invitation");
    assert_eq!(found.id, inv.id);
    let mut accepted = found.clone();
    accepted.accepted_at = Some(at(5));
    s.users.update_invitation(&accepted).await.expect("accept");
    assert!(matches!(
        s.users.update_invitation(&accepted).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.users
            .list_invitations(&org_id("acme"))
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(
        s.users
            .list_invitations(&org_id("other"))
            .await
            .expect("list")
            .is_empty()
    );
}

async fn audit_entries_list_per_organization_newest_first_in_pages(s: Fixture) {
    for n in 0..5 {
        let entry = AuditEntry::new(
            org_id("acme"),
            at(n),
            &Actor::Apply,
            "agent.update",
            &format!("agent a{n}"),
            None,
            Some(json!({"n": n})),
        );
        s.audit.record_audit(&entry).await.expect("record");
    }
    let theirs = AuditEntry::new(
        org_id("other"),
        at(9),
        &Actor::User("u".into()),
        "user.remove",
        "user u",
        None,
        None,
    );
    s.audit.record_audit(&theirs).await.expect("record");

    let first = s
        .audit
        .list_audit(&org_id("acme"), None, 2)
        .await
        .expect("list");
    let targets = |page: &[AuditEntry]| page.iter().map(|e| e.target.clone()).collect::<Vec<_>>();
    assert_eq!(targets(&first), ["agent a4", "agent a3"]);
    let last = first.last().expect("entry");
    let after = AuditPosition {
        at: last.at,
        id: last.id.clone(),
    };
    let rest = s
        .audit
        .list_audit(&org_id("acme"), Some(&after), 10)
        .await
        .expect("list");
    assert_eq!(targets(&rest), ["agent a2", "agent a1", "agent a0"]);
    assert_eq!(rest[0].after, Some(json!({"n": 2})));
    assert_eq!(rest[0].actor, "hotline apply");
    let other = s
        .audit
        .list_audit(&org_id("other"), None, 10)
        .await
        .expect("list");
    assert_eq!(targets(&other), ["user u"]);
}

/// Short-lived records carry their expiry as the table's TTL (`ttl`, epoch seconds). Past
/// it they read as absent on both stores (DynamoDB deletes them days late), their key
/// may be created again, and the local store deletes them when swept.
async fn expired_sessions_invitations_and_counters_read_as_absent_and_are_swept(s: Fixture) {
    let now = Utc::now();
    let user = User::new(
        org_id("acme"),
        "di@x.example".into(),
        Role::Admin,
        hash(),
        now - TimeDelta::days(9),
    );
    // Opened 13 h ago with a 12 h limit: expired an hour ago.
    let (old, _) = Session::open(&user, now - TimeDelta::hours(13), TimeDelta::hours(12));
    s.sessions.create_session(&old).await.expect("create");
    assert!(
        s.sessions
            .session_by_hash(&old.hash)
            .await
            .expect("get")
            .is_none()
    );
    let (live, _) = Session::open(&user, now, TimeDelta::hours(12));
    s.sessions.create_session(&live).await.expect("create");
    assert!(
        s.sessions
            .session_by_hash(&live.hash)
            .await
            .expect("get")
            .is_some()
    );

    // Issued 8 days ago, for 7: gone from reads and from the organization's list.
    let (stale, token) = Invitation::issue(
        org_id("acme"),
        "ed@x.example".into(),
        Role::Viewer,
        "key:k".into(),
        now - TimeDelta::days(8),
    );
    s.users.create_invitation(&stale).await.expect("create");
    let (fresh, _) = Invitation::issue(
        org_id("acme"),
        "fa@x.example".into(),
        Role::Viewer,
        "key:k".into(),
        now,
    );
    s.users.create_invitation(&fresh).await.expect("create");
    let by_hash = hotline_core::people::secret_hash(&token);
    assert!(
        s.users
            .invitation_by_hash(&by_hash)
            .await
            .expect("get")
            .is_none()
    );
    let listed: Vec<String> = s
        .users
        .list_invitations(&org_id("acme"))
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&fresh.id));

    // A window that ended 5 minutes ago: no count; a new failure starts one in its place.
    let key = LoginFailures::address_key("192.0.2.9");
    let mut old_count = LoginFailures::new(key.clone(), now - TimeDelta::minutes(20));
    old_count.record(now - TimeDelta::minutes(20), TimeDelta::minutes(15));
    old_count.record(now - TimeDelta::minutes(19), TimeDelta::minutes(15));
    s.sessions
        .put_login_failures(&old_count)
        .await
        .expect("create");
    assert!(
        s.sessions
            .login_failures(&key)
            .await
            .expect("get")
            .is_none()
    );
    let mut new_count = LoginFailures::new(key.clone(), now);
    new_count.record(now, TimeDelta::minutes(15));
    s.sessions
        .put_login_failures(&new_count)
        .await
        .expect("takes the expired one's place");
    let read = s
        .sessions
        .login_failures(&key)
        .await
        .expect("get")
        .expect("count");
    assert_eq!(read.count, 1);

    // What the table holds: the TTL in epoch seconds, the expired items until swept.
    let removed = s.expiry.remove_expired().await.expect("sweep");
    match (&s.aws, s.dir()) {
        (Some(aws), _) => {
            assert_eq!(removed, 0, "DynamoDB's TTL deletes them, not hotline");
            let client = hotline_store::aws::dynamodb_client(&aws.sdk);
            let raw = |pk: String, sk: &'static str| {
                let client = client.clone();
                let table = aws.table.clone();
                async move {
                    client
                        .get_item()
                        .table_name(table)
                        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
                        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
                        .send()
                        .await
                        .expect("raw get")
                        .item
                        .and_then(|i| i.get("ttl").cloned())
                }
            };
            let expect = |at: DateTime<Utc>| {
                Some(aws_sdk_dynamodb::types::AttributeValue::N(
                    at.timestamp().to_string(),
                ))
            };
            assert_eq!(
                raw(format!("SESSION#{}", old.hash), "SESSION").await,
                expect(now - TimeDelta::hours(1))
            );
            assert_eq!(
                raw(format!("SESSION#{}", live.hash), "SESSION").await,
                expect(now + TimeDelta::hours(12))
            );
            assert_eq!(
                raw(format!("INVITE#{}", stale.hash), "INVITE").await,
                expect(stale.expires_at)
            );
        }
        (None, Some(dir)) => {
            assert_eq!(removed, 2, "the expired session and invitation");
            let db = hotline_store::local::Db::open(&dir.join("hotline.sqlite3")).expect("db");
            let rows: Vec<(String, Option<i64>)> = db
                .run(|conn| {
                    let mut stmt = conn
                        .prepare("SELECT pk, ttl FROM items WHERE ttl IS NOT NULL ORDER BY pk")
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| StoreError::Unavailable(e.to_string()))
                })
                .await
                .expect("rows");
            let mut expected = vec![
                (
                    format!("INVITE#{}", fresh.hash),
                    Some(fresh.expires_at.timestamp()),
                ),
                (
                    format!("LOGINFAIL#{key}"),
                    Some((now + TimeDelta::minutes(15)).timestamp()),
                ),
                (
                    format!("SESSION#{}", live.hash),
                    Some((now + TimeDelta::hours(12)).timestamp()),
                ),
            ];
            expected.sort();
            assert_eq!(rows, expected);
        }
        (None, None) => panic!("a test store is local or on AWS"),
    }
}
