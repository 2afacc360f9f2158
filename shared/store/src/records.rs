//! The record ports implemented once over any [`Table`]: the key layout lives here.
//!
//! | record | pk | sk | gsi1 |
//! |---|---|---|---|
//! | organization | `ORG#{org}` | `ORG` | `ORGS` / `ORG#{org}` |
//! | account index | `ACCOUNT#{AccountSid}` | `ACCOUNT` | |
//! | agent | `ORG#{org}` | `AGENT#{agent}` | |
//! | phone number | `NUMBER#{e164}` | `NUMBER` | `ORG#{org}` / `NUMBER#{e164}` |
//! | call | `CALL#{CallSid}` | `CALL` | `ORG#{org}` / `CALL#{started_at}#{CallSid}` |
//!
//! A call that [awaits its post-call job](Call::awaits_postcall_job) also has a `gsi2` key,
//! `POSTCALL#AWAITING` / `END#{ended_at}#{CallSid}`; the key goes when the job is sent, so the
//! index only ever holds the calls the sweeper is looking for.
//! | turn | `CALL#{CallSid}` | `TURN#{seq:06}` | |
//! | contact | `ORG#{org}` | `CONTACT#{e164}` | |
//! | to-do | `CALL#{CallSid}` | `TODO#{id}` | `ORG#{org}` / `TODO#{created_at}#{id}` |
//! | API key | `APIKEY#{sha256 hex}` | `APIKEY` | `ORG#{org}` / `APIKEY#{created_at}#{id}` |
//! | message | `MSG#{org}#{MessageSid}` | `MSG` | `CONV#{org}#{channel}#{e164}` / `MSG#{at}#{MessageSid}` |
//! | dial (outbound call asked for) | `DIAL#{id}` | `DIAL` | |
//!
//! Campaigns, leads and do-not-call lists: see `records/campaigns.rs`.
//!
//! A message is found by its sid (a retried webhook) and listed in its conversation
//! (the contact's messages on one channel) through `gsi1`; the organization is part of
//! both keys, so one organization's thread never shows another's messages.

use std::sync::Arc;

use async_trait::async_trait;
use hotline_core::ids::{AccountSid, AgentId, CallSid, E164, MessageSid, OrgId};
use hotline_core::model::{
    Agent, ApiKey, Call, Channel, Contact, Dial, Message, Organization, PhoneNumber,
    StreamNodeStatus, Todo, Turn,
};
use hotline_core::ports::{
    ApiKeys, CallPosition, Calls, Contacts, Created, Dials, Directory, Expiry, Messages,
    StoreError, StoreResult, StreamNodes, TodoPosition, Todos,
};
use hotline_core::vault::KeyVault;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::sealing::{ORG_SECRETS, Sealer};
use crate::table::{Condition, Index, Item, Query, Table, Written};

/// Domain records stored in one table.
pub struct TableRecords<T> {
    table: T,
    /// Seals organizations' secrets on the way in, unseals them on the way out.
    sealer: Sealer,
}

impl<T: Table> TableRecords<T> {
    /// Records in `table`, organizations' secrets sealed with data keys from `vault`.
    pub fn new(table: T, vault: Arc<dyn KeyVault>) -> Self {
        Self {
            table,
            sealer: Sealer::new(vault),
        }
    }
}

const ORG: &str = "ORG";
/// The `gsi1` partition listing every organization.
const ORGS: &str = "ORGS";
const ACCOUNT: &str = "ACCOUNT";
const NUMBER: &str = "NUMBER";
const CALL: &str = "CALL";

fn org_pk(org: &OrgId) -> String {
    format!("ORG#{org}")
}

fn call_pk(sid: &CallSid) -> String {
    format!("CALL#{sid}")
}

/// Timestamps in sort keys: ISO-8601 with fixed width sorts by time.
fn sortable(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Sort key of a call in its organization's list.
fn call_gsi1(call: &Call) -> (String, String) {
    (
        org_pk(&call.org),
        format!("CALL#{}#{}", sortable(&call.started_at), call.sid),
    )
}

/// The `gsi2` partition of calls awaiting their post-call job.
const AWAITING_JOB: &str = "POSTCALL#AWAITING";

fn call_item(call: &Call) -> StoreResult<Item> {
    let mut item = to_item(call_pk(&call.sid), CALL.into(), call.version, call)?;
    item.gsi1 = Some(call_gsi1(call));
    item.gsi2 = call
        .ended_at
        .filter(|_| call.awaits_postcall_job())
        .map(|end| {
            (
                AWAITING_JOB.into(),
                format!("END#{}#{}", sortable(&end), call.sid),
            )
        });
    Ok(item)
}

fn to_item<R: Serialize>(pk: String, sk: String, version: u64, record: &R) -> StoreResult<Item> {
    let data = serde_json::to_value(record).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(Item {
        pk,
        sk,
        gsi1: None,
        gsi2: None,
        version,
        data,
        expires_at: None,
    })
}

/// Decodes a record and gives it the stored version, which is authoritative.
fn from_item<R: DeserializeOwned + Versioned>(item: Item) -> StoreResult<R> {
    let mut record: R = serde_json::from_value(item.data)
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))?;
    record.set_version(item.version);
    Ok(record)
}

trait Versioned {
    fn set_version(&mut self, version: u64);
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
        }
    )*};
}
versioned!(
    Organization,
    Agent,
    PhoneNumber,
    Call,
    Contact,
    Todo,
    ApiKey,
    Message,
    StreamNodeStatus,
    Dial
);

impl Versioned for Turn {
    fn set_version(&mut self, _version: u64) {}
}

impl<T: Table> TableRecords<T> {
    async fn get_record<R: DeserializeOwned + Versioned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> StoreResult<Option<R>> {
        self.table.get(pk, sk).await?.map(from_item).transpose()
    }

    async fn query_records<R: DeserializeOwned + Versioned>(
        &self,
        query: &Query,
    ) -> StoreResult<Vec<R>> {
        self.table
            .query(query)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Creates `item` unless its key exists; returns the stored record either way.
    async fn create_once<R: DeserializeOwned + Versioned + Clone>(
        &self,
        item: Item,
        record: &R,
    ) -> StoreResult<Created<R>> {
        match self.table.put(&item, Condition::Absent).await? {
            Written::Yes => {
                let mut created = record.clone();
                created.set_version(1);
                Ok(Created::New(created))
            }
            Written::ConditionFailed => self
                .get_record(&item.pk, &item.sk)
                .await?
                .map(Created::Existing)
                .ok_or_else(|| StoreError::Conflict(format!("{}/{}", item.pk, item.sk))),
        }
    }

    /// Writes `item` if the stored version is still `item.version`.
    async fn update_versioned<R: Versioned + Clone>(
        &self,
        item: Item,
        record: &R,
    ) -> StoreResult<R> {
        match self
            .table
            .put(&item, Condition::Version(item.version))
            .await?
        {
            Written::Yes => {
                let mut updated = record.clone();
                updated.set_version(item.version + 1);
                Ok(updated)
            }
            Written::ConditionFailed => {
                Err(StoreError::Conflict(format!("{}/{}", item.pk, item.sk)))
            }
        }
    }
}

impl<T: Table> TableRecords<T> {
    /// The organization's item, its secrets sealed. Every write of an organization goes
    /// through here: the table never holds a secret in the clear.
    async fn org_item(&self, org: &Organization) -> StoreResult<Item> {
        let mut item = to_item(org_pk(&org.id), ORG.into(), org.version, org)?;
        item.gsi1 = Some((ORGS.into(), org_pk(&org.id)));
        self.sealer
            .seal(org.id.as_str(), &mut item.data, ORG_SECRETS)
            .await?;
        Ok(item)
    }

    /// An organization from its item, its secrets unsealed (or as written, when they
    /// were stored before sealing existed).
    async fn org_from_item(&self, mut item: Item) -> StoreResult<Organization> {
        let id = item
            .pk
            .strip_prefix("ORG#")
            .ok_or_else(|| StoreError::Corrupt(format!("{} is not an organization", item.pk)))?
            .to_owned();
        self.sealer.open(&id, &mut item.data, ORG_SECRETS).await?;
        from_item(item)
    }

    /// Points the account index at `org`, unless another organization holds the account.
    /// An entry left behind by an organization that has since moved to another account
    /// holds nothing and is taken over, by a versioned write so two claimants cannot both win.
    async fn claim_account(&self, org: &Organization) -> StoreResult<()> {
        let account = &org.twilio.account_sid;
        let pk = format!("ACCOUNT#{account}");
        let mut index = Item {
            pk: pk.clone(),
            sk: ACCOUNT.into(),
            gsi1: None,
            gsi2: None,
            version: 0,
            data: json!({ "org": org.id }),
            expires_at: None,
        };
        if self.table.put(&index, Condition::AbsentOrSameOrg).await? == Written::Yes {
            return Ok(());
        }
        let taken = || StoreError::Taken(format!("Twilio account {account}"));
        let Some(stored) = self.table.get(&pk, ACCOUNT).await? else {
            return Err(StoreError::Conflict(pk));
        };
        let holder: OrgId = serde_json::from_value(stored.data["org"].clone())
            .map_err(|e| StoreError::Corrupt(format!("account index {account}: {e}")))?;
        if let Some(holder) = self.get_org(&holder).await?
            && &holder.twilio.account_sid == account
        {
            return Err(taken());
        }
        index.version = stored.version;
        match self
            .table
            .put(&index, Condition::Version(stored.version))
            .await?
        {
            Written::Yes => Ok(()),
            Written::ConditionFailed => Err(taken()),
        }
    }
}

#[async_trait]
impl<T: Table> Expiry for TableRecords<T> {
    async fn remove_expired(&self) -> StoreResult<usize> {
        self.table.remove_expired(crate::table::epoch_now()).await
    }
}

#[async_trait]
impl<T: Table> Directory for TableRecords<T> {
    async fn put_org(&self, org: &Organization) -> StoreResult<Organization> {
        // The index goes first: an org is never visible under an account that has no
        // index entry, and a stale entry is caught by the check in `org_by_account`.
        let item = self.org_item(org).await?;
        self.claim_account(org).await?;
        self.table.put(&item, Condition::Always).await?;
        Ok(org.clone())
    }

    async fn update_org(&self, org: &Organization) -> StoreResult<Organization> {
        let item = self.org_item(org).await?;
        self.claim_account(org).await?;
        // Version 0: a new organization, or one written before organizations had
        // versions (still at 0, so only the first of two writers that read it wins).
        let conditions: &[Condition] = if org.version == 0 {
            &[Condition::Absent, Condition::Version(0)]
        } else {
            &[Condition::Version(org.version)]
        };
        for condition in conditions {
            if self.table.put(&item, *condition).await? == Written::Yes {
                let mut written = org.clone();
                written.version = crate::table::next_version(&item, *condition);
                return Ok(written);
            }
        }
        Err(StoreError::Conflict(format!("organization {}", org.id)))
    }

    async fn get_org(&self, id: &OrgId) -> StoreResult<Option<Organization>> {
        match self.table.get(&org_pk(id), ORG).await? {
            Some(item) => self.org_from_item(item).await.map(Some),
            None => Ok(None),
        }
    }

    async fn org_by_account(&self, account: &AccountSid) -> StoreResult<Option<Organization>> {
        let Some(index) = self
            .table
            .get(&format!("ACCOUNT#{account}"), ACCOUNT)
            .await?
        else {
            return Ok(None);
        };
        let org_id: OrgId = serde_json::from_value(index.data["org"].clone())
            .map_err(|e| StoreError::Corrupt(format!("account index {account}: {e}")))?;
        let org = self.get_org(&org_id).await?;
        // An organization that moved to another account must not answer for the old one.
        Ok(org.filter(|o| &o.twilio.account_sid == account))
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        let items = self
            .table
            .query(&Query {
                index: Index::Gsi1,
                pk: ORGS.into(),
                sk_prefix: "ORG#".into(),
                descending: false,
                limit: None,
                sk_before: None,
            })
            .await?;
        let mut orgs = Vec::with_capacity(items.len());
        for item in items {
            orgs.push(self.org_from_item(item).await?);
        }
        Ok(orgs)
    }

    async fn put_agent(&self, agent: &Agent) -> StoreResult<Agent> {
        let item = to_item(
            org_pk(&agent.org),
            format!("AGENT#{}", agent.id),
            agent.version,
            agent,
        )?;
        self.table.put(&item, Condition::Always).await?;
        Ok(agent.clone())
    }

    async fn get_agent(&self, org: &OrgId, id: &AgentId) -> StoreResult<Option<Agent>> {
        self.get_record(&org_pk(org), &format!("AGENT#{id}")).await
    }

    async fn list_agents(&self, org: &OrgId) -> StoreResult<Vec<Agent>> {
        self.query_records(&Query {
            index: Index::Primary,
            pk: org_pk(org),
            sk_prefix: "AGENT#".into(),
            descending: false,
            limit: None,
            sk_before: None,
        })
        .await
    }

    async fn update_agent(&self, agent: &Agent) -> StoreResult<Agent> {
        let item = to_item(
            org_pk(&agent.org),
            format!("AGENT#{}", agent.id),
            agent.version,
            agent,
        )?;
        if agent.version == 0 {
            let created = self.create_once(item, agent).await?;
            return match created {
                Created::New(agent) => Ok(agent),
                Created::Existing(_) => Err(StoreError::Conflict(format!(
                    "agent {}/{}",
                    agent.org, agent.id
                ))),
            };
        }
        self.update_versioned(item, agent).await
    }

    async fn put_number(&self, number: &PhoneNumber) -> StoreResult<PhoneNumber> {
        let mut item = to_item(
            format!("NUMBER#{}", number.number),
            NUMBER.into(),
            number.version,
            number,
        )?;
        item.gsi1 = Some((org_pk(&number.org), format!("NUMBER#{}", number.number)));
        match self.table.put(&item, Condition::AbsentOrSameOrg).await? {
            Written::Yes => Ok(number.clone()),
            Written::ConditionFailed => Err(StoreError::Taken(format!("number {}", number.number))),
        }
    }

    async fn update_number(&self, number: &PhoneNumber) -> StoreResult<PhoneNumber> {
        let mut item = to_item(
            format!("NUMBER#{}", number.number),
            NUMBER.into(),
            number.version,
            number,
        )?;
        item.gsi1 = Some((org_pk(&number.org), format!("NUMBER#{}", number.number)));
        self.update_versioned(item, number).await
    }

    async fn get_number(&self, number: &E164) -> StoreResult<Option<PhoneNumber>> {
        let Some(item) = self.table.get(&format!("NUMBER#{number}"), NUMBER).await? else {
            return Ok(None);
        };
        let unlisted = item.gsi1.is_none();
        let stored: PhoneNumber = from_item(item)?;
        // Best effort: a reader that may not write (a role with GetItem only) still gets
        // the number; the next reader that may, or `hotline apply`, indexes it.
        if unlisted && let Err(e) = self.list_number(&stored).await {
            tracing::warn!(error = %e, "could not index a number stored before the org index");
        }
        Ok(Some(stored))
    }

    async fn delete_number(&self, org: &OrgId, number: &E164) -> StoreResult<()> {
        let not_found = || StoreError::NotFound(format!("number {number}"));
        let pk = format!("{NUMBER}#{number}");
        let stored: PhoneNumber = self
            .get_record(&pk, NUMBER)
            .await?
            .filter(|n: &PhoneNumber| &n.org == org)
            .ok_or_else(not_found)?;
        match self.table.delete(&pk, NUMBER, stored.version).await? {
            Written::Yes => Ok(()),
            Written::ConditionFailed => Err(StoreError::Conflict(pk)),
        }
    }

    async fn list_numbers(&self, org: &OrgId) -> StoreResult<Vec<PhoneNumber>> {
        let numbers: Vec<PhoneNumber> = self
            .query_records(&Query {
                index: Index::Gsi1,
                pk: org_pk(org),
                sk_prefix: "NUMBER#".into(),
                descending: false,
                limit: None,
                sk_before: None,
            })
            .await?;
        // The index is eventually consistent on DynamoDB: a number that has just moved
        // to another organization may still be listed here for a moment.
        Ok(numbers.into_iter().filter(|n| &n.org == org).collect())
    }
}

impl<T: Table> TableRecords<T> {
    /// Numbers stored before the organization index existed have no `gsi1` key, so
    /// `list_numbers` cannot see them: the first read of one (a webhook, `hotline apply`'s
    /// plan) writes the key. Versioned, so a concurrent write (which sets the key too) wins.
    /// The number's E.164 is not a secret; nothing else about it is logged on failure.
    async fn list_number(&self, number: &PhoneNumber) -> StoreResult<()> {
        let mut item = to_item(
            format!("NUMBER#{}", number.number),
            NUMBER.into(),
            number.version,
            number,
        )?;
        item.gsi1 = Some((org_pk(&number.org), format!("NUMBER#{}", number.number)));
        self.table
            .put(&item, Condition::Version(number.version))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl<T: Table> Calls for TableRecords<T> {
    async fn create_call(&self, call: &Call) -> StoreResult<Created<Call>> {
        let mut item = call_item(call)?;
        item.version = 0;
        self.create_once(item, call).await
    }

    async fn get_call(&self, sid: &CallSid) -> StoreResult<Option<Call>> {
        self.get_record(&call_pk(sid), CALL).await
    }

    async fn update_call(&self, call: &Call) -> StoreResult<Call> {
        self.update_versioned(call_item(call)?, call).await
    }

    async fn list_calls(&self, org: &OrgId, limit: usize) -> StoreResult<Vec<Call>> {
        self.query_records(&Query {
            index: Index::Gsi1,
            pk: org_pk(org),
            sk_prefix: "CALL#".into(),
            descending: true,
            limit: Some(limit),
            sk_before: None,
        })
        .await
    }

    async fn list_calls_after(
        &self,
        org: &OrgId,
        after: Option<&CallPosition>,
        limit: usize,
    ) -> StoreResult<Vec<Call>> {
        let sk_before = after.map(|p| {
            format!(
                "CALL#{}#{}",
                sortable(&p.started_at),
                p.sid.as_ref().map_or("", CallSid::as_str)
            )
        });
        self.query_records(&Query {
            index: Index::Gsi1,
            pk: org_pk(org),
            sk_prefix: "CALL#".into(),
            descending: true,
            limit: Some(limit),
            sk_before,
        })
        .await
    }

    async fn calls_awaiting_job(
        &self,
        ended_before: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Call>> {
        // Oldest end first, so the calls that are due come before those that are not.
        let listed = self
            .table
            .query(&Query {
                index: Index::Gsi2,
                pk: AWAITING_JOB.into(),
                sk_prefix: "END#".into(),
                descending: false,
                limit: Some(limit),
                sk_before: None,
            })
            .await?;
        // The index has keys only, and on DynamoDB it lags the table: each call is read
        // again and kept only if it still awaits its job.
        let mut calls = Vec::with_capacity(listed.len());
        for item in listed {
            if let Some(call) = self.get_record::<Call>(&item.pk, CALL).await?
                && call.ended_at.is_some_and(|end| end < ended_before)
                && call.awaits_postcall_job()
            {
                calls.push(call);
            }
        }
        Ok(calls)
    }

    async fn append_turn(&self, call: &CallSid, turn: &Turn) -> StoreResult<()> {
        let item = to_item(call_pk(call), format!("TURN#{:06}", turn.seq), 0, turn)?;
        // A replayed turn keeps the first write: turns are facts, not state.
        self.table.put(&item, Condition::Absent).await?;
        Ok(())
    }

    async fn turns(&self, call: &CallSid) -> StoreResult<Vec<Turn>> {
        self.query_records(&Query {
            index: Index::Primary,
            pk: call_pk(call),
            sk_prefix: "TURN#".into(),
            descending: false,
            limit: None,
            sk_before: None,
        })
        .await
    }
}

fn contact_sk(phone: &E164) -> String {
    format!("CONTACT#{phone}")
}

#[async_trait]
impl<T: Table> Contacts for TableRecords<T> {
    async fn create_contact(&self, contact: &Contact) -> StoreResult<Created<Contact>> {
        let item = to_item(org_pk(&contact.org), contact_sk(&contact.phone), 0, contact)?;
        self.create_once(item, contact).await
    }

    async fn get_contact(&self, org: &OrgId, phone: &E164) -> StoreResult<Option<Contact>> {
        self.get_record(&org_pk(org), &contact_sk(phone)).await
    }

    async fn update_contact(&self, contact: &Contact) -> StoreResult<Contact> {
        let item = to_item(
            org_pk(&contact.org),
            contact_sk(&contact.phone),
            contact.version,
            contact,
        )?;
        self.update_versioned(item, contact).await
    }

    async fn list_contacts(&self, org: &OrgId) -> StoreResult<Vec<Contact>> {
        self.query_records(&Query {
            index: Index::Primary,
            pk: org_pk(org),
            sk_prefix: "CONTACT#".into(),
            descending: false,
            limit: None,
            sk_before: None,
        })
        .await
    }
}

#[async_trait]
impl<T: Table> Todos for TableRecords<T> {
    async fn create_todo(&self, todo: &Todo) -> StoreResult<Created<Todo>> {
        let mut item = todo_item(todo)?;
        item.version = 0;
        self.create_once(item, todo).await
    }

    async fn call_todos(&self, call: &CallSid) -> StoreResult<Vec<Todo>> {
        self.query_records(&Query {
            index: Index::Primary,
            pk: call_pk(call),
            sk_prefix: "TODO#".into(),
            descending: false,
            limit: None,
            sk_before: None,
        })
        .await
    }

    async fn list_todos(&self, org: &OrgId, limit: usize) -> StoreResult<Vec<Todo>> {
        self.list_todos_after(org, None, limit).await
    }

    async fn get_todo(&self, org: &OrgId, id: &str) -> StoreResult<Option<Todo>> {
        let Some(call) = Todo::call_of(id) else {
            return Ok(None);
        };
        let todo: Option<Todo> = self
            .get_record(&call_pk(&call), &format!("TODO#{id}"))
            .await?;
        Ok(todo.filter(|t| &t.org == org))
    }

    async fn update_todo(&self, todo: &Todo) -> StoreResult<Todo> {
        self.update_versioned(todo_item(todo)?, todo).await
    }

    async fn list_todos_after(
        &self,
        org: &OrgId,
        after: Option<&TodoPosition>,
        limit: usize,
    ) -> StoreResult<Vec<Todo>> {
        let todos: Vec<Todo> = self
            .query_records(&Query {
                index: Index::Gsi1,
                pk: org_pk(org),
                sk_prefix: "TODO#".into(),
                descending: true,
                limit: Some(limit),
                sk_before: after.map(|p| todo_sk(&p.created_at, &p.id)),
            })
            .await?;
        Ok(todos.into_iter().filter(|t| &t.org == org).collect())
    }
}

fn todo_sk(created_at: &chrono::DateTime<chrono::Utc>, id: &str) -> String {
    format!("TODO#{}#{id}", sortable(created_at))
}

fn todo_item(todo: &Todo) -> StoreResult<Item> {
    let mut item = to_item(
        call_pk(&todo.call),
        format!("TODO#{}", todo.id),
        todo.version,
        todo,
    )?;
    item.gsi1 = Some((org_pk(&todo.org), todo_sk(&todo.created_at, &todo.id)));
    Ok(item)
}

const APIKEY: &str = "APIKEY";

fn api_key_item(key: &ApiKey) -> StoreResult<Item> {
    let mut item = to_item(
        format!("APIKEY#{}", key.hash),
        APIKEY.into(),
        key.version,
        key,
    )?;
    item.gsi1 = Some((
        org_pk(&key.org),
        format!("APIKEY#{}#{}", sortable(&key.created_at), key.id),
    ));
    Ok(item)
}

#[async_trait]
impl<T: Table> ApiKeys for TableRecords<T> {
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<ApiKey> {
        let mut item = api_key_item(key)?;
        item.version = 0;
        match self.create_once(item, key).await? {
            Created::New(key) => Ok(key),
            Created::Existing(_) => Err(StoreError::Conflict(format!("API key {}", key.id))),
        }
    }

    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.get_record(&format!("APIKEY#{hash}"), APIKEY).await
    }

    async fn list_api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKey>> {
        self.query_records(&Query {
            index: Index::Gsi1,
            pk: org_pk(org),
            sk_prefix: "APIKEY#".into(),
            descending: false,
            limit: None,
            sk_before: None,
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        org: &OrgId,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<ApiKey> {
        const ATTEMPTS: u32 = 6;
        let not_found = || StoreError::NotFound(format!("API key {id}"));
        let listed = self.list_api_keys(org).await?;
        let hash = listed
            .into_iter()
            .find(|k| k.id == id)
            .map(|k| k.hash)
            .ok_or_else(not_found)?;
        // The index may lag: the key record itself is authoritative, read and written by
        // version so a concurrent revoke is not lost.
        for _ in 0..ATTEMPTS {
            let mut key = self
                .api_key_by_hash(&hash)
                .await?
                .filter(|k| &k.org == org)
                .ok_or_else(not_found)?;
            if key.revoked_at.is_some() {
                return Ok(key);
            }
            key.revoked_at = Some(at);
            match self.update_versioned(api_key_item(&key)?, &key).await {
                Err(StoreError::Conflict(_)) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict(format!("API key {id}")))
    }
}

const MSG: &str = "MSG";

fn message_pk(org: &OrgId, sid: &MessageSid) -> String {
    format!("MSG#{org}#{sid}")
}

fn conversation_pk(org: &OrgId, contact: &E164, channel: Channel) -> String {
    format!("CONV#{org}#{}#{contact}", channel.as_str())
}

fn message_item(message: &Message) -> StoreResult<Item> {
    let mut item = to_item(
        message_pk(&message.org, &message.sid),
        MSG.into(),
        message.version,
        message,
    )?;
    item.gsi1 = Some((
        conversation_pk(&message.org, &message.contact, message.channel),
        format!("MSG#{}#{}", sortable(&message.at), message.sid),
    ));
    Ok(item)
}

#[async_trait]
impl<T: Table> Messages for TableRecords<T> {
    async fn create_message(&self, message: &Message) -> StoreResult<Created<Message>> {
        let mut item = message_item(message)?;
        item.version = 0;
        self.create_once(item, message).await
    }

    async fn get_message(&self, org: &OrgId, sid: &MessageSid) -> StoreResult<Option<Message>> {
        self.get_record(&message_pk(org, sid), MSG).await
    }

    async fn update_message(&self, message: &Message) -> StoreResult<Message> {
        self.update_versioned(message_item(message)?, message).await
    }

    async fn conversation(
        &self,
        org: &OrgId,
        contact: &E164,
        channel: Channel,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        self.query_records(&Query {
            index: Index::Gsi1,
            pk: conversation_pk(org, contact, channel),
            sk_prefix: "MSG#".into(),
            sk_before: None,
            descending: true,
            limit: Some(limit),
        })
        .await
    }
}

/// One partition for every node: the registry is small (a node per vCPU's worth of
/// calls), read whole by each voice webhook, and a query of one partition is one read.
const NODES: &str = "NODES";

#[async_trait]
impl<T: Table> StreamNodes for TableRecords<T> {
    async fn report_node(&self, status: &StreamNodeStatus) -> StoreResult<()> {
        let mut item = to_item(NODES.into(), format!("NODE#{}", status.id), 0, status)?;
        item.expires_at =
            Some(status.heartbeat_at.timestamp() + hotline_core::routing::FORGET_AFTER_SECS);
        self.table.put(&item, Condition::Always).await?;
        Ok(())
    }

    async fn list_nodes(&self) -> StoreResult<Vec<StreamNodeStatus>> {
        self.query_records(&Query {
            index: Index::Primary,
            pk: NODES.into(),
            sk_prefix: "NODE#".into(),
            descending: false,
            limit: None,
            sk_before: None,
        })
        .await
    }
}

// After `versioned!`, which they use.
mod campaigns;
mod people;

const DIAL: &str = "DIAL";

fn dial_pk(id: &str) -> String {
    format!("DIAL#{id}")
}

#[async_trait]
impl<T: Table> Dials for TableRecords<T> {
    async fn create_dial(&self, dial: &Dial) -> StoreResult<Created<Dial>> {
        let item = to_item(dial_pk(&dial.id), DIAL.into(), 0, dial)?;
        self.create_once(item, dial).await
    }

    async fn get_dial(&self, id: &str) -> StoreResult<Option<Dial>> {
        self.get_record(&dial_pk(id), DIAL).await
    }

    async fn update_dial(&self, dial: &Dial) -> StoreResult<Dial> {
        let item = to_item(dial_pk(&dial.id), DIAL.into(), dial.version, dial)?;
        self.update_versioned(item, dial).await
    }
}
