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
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("time")
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
    let (session, _id) = Session::open(&user, at(0));
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
