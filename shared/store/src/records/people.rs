//! Users, invitations, sessions, login failures and the audit log, over the same table.
//!
//! | record | pk | sk | gsi1 |
//! |---|---|---|---|
//! | user | `USER#{email}` | `USER` | `ORG#{org}` / `USER#{created_at}#{id}` |
//! | invitation | `INVITE#{sha256 of token}` | `INVITE` | `ORG#{org}` / `INVITE#{created_at}#{id}` |
//! | session | `SESSION#{sha256 of id}` | `SESSION` | |
//! | login failures | `LOGINFAIL#{key}` | `LOGINFAIL` | |
//! | audit entry | `AUDIT#{org}` | `AUDIT#{at}#{id}` | |
//!
//! Invitations, sessions and login failures are short-lived: each carries its expiry
//! as the table's TTL (`ttl`, epoch seconds), past which reads find nothing and the
//! store deletes it (DynamoDB by itself, the local store when swept).
//!
//! A user is keyed by e-mail, which makes the e-mail unique on the platform by
//! construction; a removed user's record is overwritten when the e-mail joins again.

use async_trait::async_trait;
use hotline_core::audit::{AuditEntry, AuditPosition};
use hotline_core::ids::OrgId;
use hotline_core::people::{Invitation, LoginFailures, Session, User};
use hotline_core::ports::{Audit, Created, Sessions, StoreError, StoreResult, Users};

use super::{TableRecords, Versioned, org_pk, sortable, to_item};
use crate::table::{Condition, Index, Item, Query, Table, Written};

versioned!(User, Invitation, Session, LoginFailures);

const USER: &str = "USER";
const INVITE: &str = "INVITE";
const SESSION: &str = "SESSION";
const LOGINFAIL: &str = "LOGINFAIL";

fn user_item(user: &User) -> StoreResult<Item> {
    let mut item = to_item(
        format!("USER#{}", user.email),
        USER.into(),
        user.version,
        user,
    )?;
    item.gsi1 = Some((
        org_pk(&user.org),
        format!("USER#{}#{}", sortable(&user.created_at), user.id),
    ));
    Ok(item)
}

fn invitation_item(inv: &Invitation) -> StoreResult<Item> {
    let mut item = to_item(
        format!("INVITE#{}", inv.hash),
        INVITE.into(),
        inv.version,
        inv,
    )?;
    item.gsi1 = Some((
        org_pk(&inv.org),
        format!("INVITE#{}#{}", sortable(&inv.created_at), inv.id),
    ));
    item.expires_at = Some(inv.expires_at.timestamp());
    Ok(item)
}

fn session_item(session: &Session) -> StoreResult<Item> {
    let mut item = to_item(
        format!("SESSION#{}", session.hash),
        SESSION.into(),
        session.version,
        session,
    )?;
    item.expires_at = session.expires_at.map(|at| at.timestamp());
    Ok(item)
}

fn login_failures_item(failures: &LoginFailures) -> StoreResult<Item> {
    let mut item = to_item(
        format!("LOGINFAIL#{}", failures.key),
        LOGINFAIL.into(),
        failures.version,
        failures,
    )?;
    item.expires_at = failures.expires_at.map(|at| at.timestamp());
    Ok(item)
}

fn audit_sk(at: &chrono::DateTime<chrono::Utc>, id: &str) -> String {
    format!("AUDIT#{}#{id}", sortable(at))
}

impl<T: Table> TableRecords<T> {
    /// Creates `item` (version 0) once; `Conflict` naming `what` if it exists.
    async fn create_new<R: serde::de::DeserializeOwned + Versioned + Clone>(
        &self,
        mut item: Item,
        record: &R,
        what: &str,
    ) -> StoreResult<R> {
        item.version = 0;
        match self.create_once(item, record).await? {
            Created::New(r) => Ok(r),
            Created::Existing(_) => Err(StoreError::Conflict(what.to_owned())),
        }
    }

    fn gsi1_query(org: &OrgId, prefix: &str) -> Query {
        Query {
            index: Index::Gsi1,
            pk: org_pk(org),
            sk_prefix: prefix.into(),
            descending: false,
            limit: None,
            sk_before: None,
        }
    }
}

#[async_trait]
impl<T: Table> Users for TableRecords<T> {
    async fn create_user(&self, user: &User) -> StoreResult<User> {
        let taken = || StoreError::Conflict(format!("user {}", user.email));
        let mut item = user_item(user)?;
        item.version = 0;
        if self.table.put(&item, Condition::Absent).await? == Written::Yes {
            let mut created = user.clone();
            created.version = 1;
            return Ok(created);
        }
        // Someone had this e-mail: only a removed user's place is taken over, by a
        // versioned write so two joiners cannot both win.
        let stored: User = self.get_record(&item.pk, USER).await?.ok_or_else(taken)?;
        if stored.is_active() {
            return Err(taken());
        }
        item.version = stored.version;
        self.update_versioned(item, user).await.map_err(|_| taken())
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.get_record(&format!("USER#{email}"), USER).await
    }

    async fn list_users(&self, org: &OrgId) -> StoreResult<Vec<User>> {
        let users: Vec<User> = self.query_records(&Self::gsi1_query(org, "USER#")).await?;
        // The index may lag a takeover by another organization: the record decides.
        Ok(users
            .into_iter()
            .filter(|u| &u.org == org && u.is_active())
            .collect())
    }

    async fn update_user(&self, user: &User) -> StoreResult<User> {
        self.update_versioned(user_item(user)?, user).await
    }

    async fn create_invitation(&self, invitation: &Invitation) -> StoreResult<Invitation> {
        let what = format!("invitation {}", invitation.id);
        self.create_new(invitation_item(invitation)?, invitation, &what)
            .await
    }

    async fn invitation_by_hash(&self, hash: &str) -> StoreResult<Option<Invitation>> {
        self.get_record(&format!("INVITE#{hash}"), INVITE).await
    }

    async fn list_invitations(&self, org: &OrgId) -> StoreResult<Vec<Invitation>> {
        let invitations: Vec<Invitation> = self
            .query_records(&Self::gsi1_query(org, "INVITE#"))
            .await?;
        Ok(invitations.into_iter().filter(|i| &i.org == org).collect())
    }

    async fn update_invitation(&self, invitation: &Invitation) -> StoreResult<Invitation> {
        self.update_versioned(invitation_item(invitation)?, invitation)
            .await
    }
}

#[async_trait]
impl<T: Table> Sessions for TableRecords<T> {
    async fn create_session(&self, session: &Session) -> StoreResult<Session> {
        self.create_new(session_item(session)?, session, "session")
            .await
    }

    async fn session_by_hash(&self, hash: &str) -> StoreResult<Option<Session>> {
        self.get_record(&format!("SESSION#{hash}"), SESSION).await
    }

    async fn update_session(&self, session: &Session) -> StoreResult<Session> {
        self.update_versioned(session_item(session)?, session).await
    }

    async fn login_failures(&self, key: &str) -> StoreResult<Option<LoginFailures>> {
        self.get_record(&format!("LOGINFAIL#{key}"), LOGINFAIL)
            .await
    }

    async fn put_login_failures(&self, failures: &LoginFailures) -> StoreResult<LoginFailures> {
        let item = login_failures_item(failures)?;
        if failures.version == 0 {
            self.create_new(item, failures, "login failures").await
        } else {
            self.update_versioned(item, failures).await
        }
    }
}

#[async_trait]
impl<T: Table> Audit for TableRecords<T> {
    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let data = serde_json::to_value(entry).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let item = Item {
            pk: format!("AUDIT#{}", entry.org),
            sk: audit_sk(&entry.at, &entry.id),
            gsi1: None,
            gsi2: None,
            version: 0,
            data,
            expires_at: None,
        };
        // A fresh id per entry: a put that finds its key taken is a retry of itself.
        self.table.put(&item, Condition::Absent).await.map(drop)
    }

    async fn list_audit(
        &self,
        org: &OrgId,
        after: Option<&AuditPosition>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEntry>> {
        let items = self
            .table
            .query(&Query {
                index: Index::Primary,
                pk: format!("AUDIT#{org}"),
                sk_prefix: "AUDIT#".into(),
                descending: true,
                limit: Some(limit),
                sk_before: after.map(|p| audit_sk(&p.at, &p.id)),
            })
            .await?;
        items
            .into_iter()
            .map(|item| {
                serde_json::from_value(item.data)
                    .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))
            })
            .collect()
    }
}
