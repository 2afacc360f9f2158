//! The storage ports. Handlers and use cases depend on these traits only; the
//! `hotline-store` crate provides an AWS adapter and an embedded local one for each.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{AccountSid, AgentId, CallSid, E164, MessageSid, OrgId};
use crate::model::{
    Agent, ApiKey, Call, Channel, Contact, Message, Organization, PhoneNumber, StreamNodeStatus,
    Todo, Turn,
};

/// What can go wrong talking to a store. `Conflict` and `NotFound` are answers the
/// caller acts on; `Unavailable` is worth a retry; `Corrupt` is not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    /// An optimistic-concurrency check failed: someone else wrote first.
    #[error("{0} was changed concurrently")]
    Conflict(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A claim on something another organization holds (an AccountSid, a number):
    /// refused, never taken over.
    #[error("{0} belongs to another organization")]
    Taken(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Conflict(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

mod campaigns;
mod people;
pub use campaigns::Campaigns;
pub use people::{Audit, Sessions, Users};

/// The result of a create that must happen at most once.
#[derive(Debug, Clone, PartialEq)]
pub enum Created<T> {
    /// This call created the record.
    New(T),
    /// The record already existed; here it is as stored.
    Existing(T),
}

impl<T> Created<T> {
    pub fn into_inner(self) -> T {
        match self {
            Self::New(t) | Self::Existing(t) => t,
        }
    }

    pub fn is_new(&self) -> bool {
        matches!(self, Self::New(_))
    }
}

/// Organizations, their agents and their numbers: read on every webhook, written by admins.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates or replaces the organization and its account index entry; `Taken` when
    /// another organization holds its Twilio account.
    async fn put_org(&self, org: &Organization) -> StoreResult<Organization>;
    /// Writes `org` (and claims its account) if the stored version still equals
    /// `org.version` (0: only if there is no such organization yet); returns it with its
    /// new version, or `Conflict`. How two writers of one organization (a first number's
    /// subaccount, a settings change, `hotline apply`) never undo each other.
    async fn update_org(&self, org: &Organization) -> StoreResult<Organization>;
    async fn get_org(&self, id: &OrgId) -> StoreResult<Option<Organization>>;
    /// The organization whose Twilio account signs webhooks carrying this `AccountSid`.
    async fn org_by_account(&self, account: &AccountSid) -> StoreResult<Option<Organization>>;
    /// Every organization. The stream node keeps them to check upgrade signatures, which
    /// name no account.
    async fn list_orgs(&self) -> StoreResult<Vec<Organization>>;
    async fn put_agent(&self, agent: &Agent) -> StoreResult<Agent>;
    async fn get_agent(&self, org: &OrgId, id: &AgentId) -> StoreResult<Option<Agent>>;
    async fn list_agents(&self, org: &OrgId) -> StoreResult<Vec<Agent>>;
    /// Writes `agent` if the stored version still equals `agent.version` (0: only if there
    /// is no such agent yet); returns it with its new version, or `Conflict`. How the API
    /// edits agents without overwriting a change it has not seen.
    async fn update_agent(&self, agent: &Agent) -> StoreResult<Agent>;
    /// Creates or replaces the number's routing; `Taken` when another organization holds it.
    async fn put_number(&self, number: &PhoneNumber) -> StoreResult<PhoneNumber>;
    /// Writes a stored number's routing if its stored version still equals
    /// `number.version`; returns it with its new version, or `Conflict`. How people edit
    /// a number without overwriting a change they have not seen.
    async fn update_number(&self, number: &PhoneNumber) -> StoreResult<PhoneNumber>;
    async fn get_number(&self, number: &E164) -> StoreResult<Option<PhoneNumber>>;
    /// An organization's numbers, in number order.
    async fn list_numbers(&self, org: &OrgId) -> StoreResult<Vec<PhoneNumber>>;
    /// Forgets the organization's number (released on Twilio); `NotFound` when the
    /// organization has no such number, another organization's included.
    async fn delete_number(&self, org: &OrgId, number: &E164) -> StoreResult<()>;
}

/// Call records and their transcript turns.
#[async_trait]
pub trait Calls: Send + Sync {
    /// Creates the call unless one with its CallSid exists, in which case the stored one
    /// is returned untouched.
    async fn create_call(&self, call: &Call) -> StoreResult<Created<Call>>;
    async fn get_call(&self, sid: &CallSid) -> StoreResult<Option<Call>>;
    /// Writes `call` if the stored version still equals `call.version`; returns the call
    /// with its new version, or `Conflict` if someone else wrote in between.
    async fn update_call(&self, call: &Call) -> StoreResult<Call>;
    /// An organization's calls, newest first.
    async fn list_calls(&self, org: &OrgId, limit: usize) -> StoreResult<Vec<Call>>;
    /// Up to `limit` of an organization's calls that come after `after` in its list
    /// (newest first), or from the newest when `after` is `None`.
    async fn list_calls_after(
        &self,
        org: &OrgId,
        after: Option<&CallPosition>,
        limit: usize,
    ) -> StoreResult<Vec<Call>>;
    /// Up to `limit` calls that [await their post-call job](Call::awaits_postcall_job)
    /// and ended before `ended_before`, the longest-waiting first.
    async fn calls_awaiting_job(
        &self,
        ended_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Call>>;
    /// Stores a turn; storing the same `seq` again is a no-op.
    async fn append_turn(&self, call: &CallSid, turn: &Turn) -> StoreResult<()>;
    /// The call's turns in order.
    async fn turns(&self, call: &CallSid) -> StoreResult<Vec<Turn>>;
}

/// Outbound calls as they were asked for ([`crate::model::Dial`]), by id.
#[async_trait]
pub trait Dials: Send + Sync {
    /// Creates the dial unless one with its id exists, in which case the stored one is
    /// returned untouched.
    async fn create_dial(
        &self,
        dial: &crate::model::Dial,
    ) -> StoreResult<Created<crate::model::Dial>>;
    async fn get_dial(&self, id: &str) -> StoreResult<Option<crate::model::Dial>>;
    /// Versioned write, as for calls: `Conflict` if someone else wrote in between.
    async fn update_dial(&self, dial: &crate::model::Dial) -> StoreResult<crate::model::Dial>;
}

/// A place in an organization's call list, which is ordered by start time, then CallSid,
/// newest first: the calls after it started earlier (or at the same time with a smaller
/// CallSid). Without a `sid` it is a point in time: every call started before it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPosition {
    pub started_at: DateTime<Utc>,
    pub sid: Option<CallSid>,
}

impl CallPosition {
    pub fn of(call: &Call) -> Self {
        Self {
            started_at: call.started_at,
            sid: Some(call.sid.clone()),
        }
    }
}

/// Machines' credentials. A key is found by the hash of what it presents; a revoked key
/// stays stored (so its listing says when it was revoked) but no longer authenticates.
#[async_trait]
pub trait ApiKeys: Send + Sync {
    /// Stores a new key; `Conflict` if its id or hash is taken (never overwritten).
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<ApiKey>;
    /// The key whose [hash](ApiKey::hash) this is, revoked or not.
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    /// An organization's keys, revoked ones included, oldest first.
    async fn list_api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKey>>;
    /// Marks the organization's key `id` revoked at `at` (a key already revoked keeps its
    /// first revocation time); `NotFound` when the organization has no such key.
    async fn revoke_api_key(&self, org: &OrgId, id: &str, at: DateTime<Utc>)
    -> StoreResult<ApiKey>;
}

/// The stream nodes' registry: each node reports itself on a heartbeat, the voice
/// webhook reads the list to choose a node ([`crate::routing::pick_node`]).
#[async_trait]
pub trait StreamNodes: Send + Sync {
    /// Replaces the node's record with `status` (last writer wins: only the node itself
    /// writes it).
    async fn report_node(&self, status: &StreamNodeStatus) -> StoreResult<()>;
    /// Every node that ever reported, stale ones included; the caller judges freshness.
    async fn list_nodes(&self) -> StoreResult<Vec<StreamNodeStatus>>;
}

/// Short-lived records (sessions, invitations, sign-in counters) past their expiry:
/// reads never return them; this deletes them where nothing else does.
#[async_trait]
pub trait Expiry: Send + Sync {
    /// Deletes the records expired by now; how many. DynamoDB's TTL deletes them by
    /// itself, so on AWS this deletes nothing.
    async fn remove_expired(&self) -> StoreResult<usize>;
}

/// Read-modify-write of a call record: `change` is applied to the stored call and
/// written back, again from a fresh read whenever another writer got there first.
pub async fn modify_call(
    calls: &dyn Calls,
    sid: &CallSid,
    change: impl Fn(&mut Call),
) -> StoreResult<Call> {
    const ATTEMPTS: u32 = 6;
    let mut attempt = 1;
    loop {
        let mut call = calls
            .get_call(sid)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("call {sid}")))?;
        change(&mut call);
        match calls.update_call(&call).await {
            Err(StoreError::Conflict(_)) if attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// What [`modify_call_if`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Modified {
    /// The change was written: the call as stored now, with its new version.
    Written(Call),
    /// The change had nothing to do, so nothing was written: the call as read.
    Unchanged(Call),
}

impl Modified {
    pub fn call(&self) -> &Call {
        match self {
            Self::Written(call) | Self::Unchanged(call) => call,
        }
    }

    pub fn into_call(self) -> Call {
        match self {
            Self::Written(call) | Self::Unchanged(call) => call,
        }
    }

    pub fn is_written(&self) -> bool {
        matches!(self, Self::Written(_))
    }
}

/// [`modify_call`] for a change that may have nothing to do: `change` returns whether it
/// changed the call (and must leave it as it was when it returns `false`). Nothing is
/// written then, not even a version bump, so a replayed or stale update leaves the record
/// exactly as it was. `NotFound` when there is no such call.
pub async fn modify_call_if(
    calls: &dyn Calls,
    sid: &CallSid,
    change: impl Fn(&mut Call) -> bool,
) -> StoreResult<Modified> {
    const ATTEMPTS: u32 = 6;
    let mut attempt = 1;
    loop {
        let mut call = calls
            .get_call(sid)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("call {sid}")))?;
        if !change(&mut call) {
            return Ok(Modified::Unchanged(call));
        }
        match calls.update_call(&call).await {
            Err(StoreError::Conflict(_)) if attempt < ATTEMPTS => attempt += 1,
            other => return other.map(Modified::Written),
        }
    }
}

/// The people an organization talks to.
#[async_trait]
pub trait Contacts: Send + Sync {
    /// Creates the contact unless one exists for the same organization and phone.
    async fn create_contact(&self, contact: &Contact) -> StoreResult<Created<Contact>>;
    async fn get_contact(&self, org: &OrgId, phone: &E164) -> StoreResult<Option<Contact>>;
    /// Versioned write, as for calls.
    async fn update_contact(&self, contact: &Contact) -> StoreResult<Contact>;
    /// An organization's contacts.
    async fn list_contacts(&self, org: &OrgId) -> StoreResult<Vec<Contact>>;
}

/// Conversations: a contact's messages on one channel, within one organization.
#[async_trait]
pub trait Messages: Send + Sync {
    /// Stores the message unless its organization already has one with its sid, in which
    /// case the stored one is returned untouched.
    async fn create_message(&self, message: &Message) -> StoreResult<Created<Message>>;
    async fn get_message(&self, org: &OrgId, sid: &MessageSid) -> StoreResult<Option<Message>>;
    /// Versioned write, as for calls: `Conflict` if someone else wrote in between.
    async fn update_message(&self, message: &Message) -> StoreResult<Message>;
    /// Up to `limit` of the contact's messages on `channel`, newest first.
    async fn conversation(
        &self,
        org: &OrgId,
        contact: &E164,
        channel: Channel,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;
}

/// Follow-ups produced by calls.
#[async_trait]
pub trait Todos: Send + Sync {
    /// Stores the to-do unless one with its id exists (a retried write is a no-op).
    async fn create_todo(&self, todo: &Todo) -> StoreResult<Created<Todo>>;
    /// A call's to-dos in order.
    async fn call_todos(&self, call: &CallSid) -> StoreResult<Vec<Todo>>;
    /// An organization's to-dos, newest first.
    async fn list_todos(&self, org: &OrgId, limit: usize) -> StoreResult<Vec<Todo>>;
    /// The organization's to-do `id`; `None` when it has none by that id (another
    /// organization's included).
    async fn get_todo(&self, org: &OrgId, id: &str) -> StoreResult<Option<Todo>>;
    /// Versioned write, as for calls: `Conflict` if someone else wrote in between.
    async fn update_todo(&self, todo: &Todo) -> StoreResult<Todo>;
    /// Up to `limit` of the organization's to-dos that come after `after` (newest first),
    /// or from the newest when `after` is `None`.
    async fn list_todos_after(
        &self,
        org: &OrgId,
        after: Option<&TodoPosition>,
        limit: usize,
    ) -> StoreResult<Vec<Todo>>;
}

/// A place in an organization's to-do list, ordered by creation time then id, newest
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoPosition {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl TodoPosition {
    pub fn of(todo: &Todo) -> Self {
        Self {
            created_at: todo.created_at,
            id: todo.id.clone(),
        }
    }
}

/// An e-mail to send. Plain text always; HTML when there is a richer rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The provider refused this message (bad address, unverified sender): sending it
    /// again will not help.
    #[error("message rejected: {0}")]
    Rejected(String),
    #[error("mail service unavailable: {0}")]
    Unavailable(String),
}

/// Outgoing e-mail: Amazon SES in the cloud, an outbox folder locally.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `email`; returns the provider's message id.
    async fn send(&self, email: &Email) -> Result<String, MailError>;
}

/// Large objects: recordings and transcripts.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores `bytes` at `key`, replacing what was there (so a retried copy is harmless).
    async fn put_blob(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> StoreResult<()>;
    async fn get_blob(&self, key: &BlobKey) -> StoreResult<Option<Blob>>;
}

/// Links that fetch a blob without credentials for a short while: S3 presigned GETs in
/// AWS, HMAC-signed links served by `hotline up` locally. Expired or altered links are
/// refused (403) by whoever serves them.
#[async_trait]
pub trait BlobLinks: Send + Sync {
    /// A URL that GETs `key` until `ttl` from now.
    async fn link(&self, key: &BlobKey, ttl: Duration) -> StoreResult<String>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// An object key that is safe on S3 and on a local file system: relative, `/`-separated
/// segments of `[A-Za-z0-9._-]`, none of them `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn parse(s: &str) -> Result<Self, crate::ids::ParseIdError> {
        let ok = !s.is_empty()
            && s.len() <= 512
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(crate::ids::ParseIdError {
                kind: "blob key",
                reason: "must be '/'-separated segments of letters, digits, '.', '_' and '-'",
            })
        }
    }

    /// `recordings/{org}/{CallSid}.mp3`
    pub fn recording(org: &OrgId, call: &CallSid) -> Self {
        Self(format!("recordings/{org}/{call}.mp3"))
    }

    /// `transcripts/{org}/{CallSid}.json`
    pub fn transcript(org: &OrgId, call: &CallSid) -> Self {
        Self(format!("transcripts/{org}/{call}.json"))
    }

    /// `analysis/{org}/{CallSid}/{name}.json`: an analyzer's value too large for the
    /// call record. `None` when `name` is not a safe key segment.
    pub fn analysis(org: &OrgId, call: &CallSid, name: &str) -> Option<Self> {
        Self::parse(&format!("analysis/{org}/{call}/{name}.json")).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An at-least-once work queue with visibility timeouts and a dead-letter queue, as SQS.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues `body`, visible after `delay`. Returns the message id.
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<String>;
    /// Takes up to `max` visible messages, waiting up to `wait` for the first one. Each
    /// stays invisible for the queue's visibility timeout unless deleted; a message
    /// received more than the queue's receive limit goes to its dead-letter queue instead.
    async fn receive(&self, max: u32, wait: Duration) -> StoreResult<Vec<QueueMessage>>;
    /// Acknowledges a message. A receipt from an earlier receive of the same message may
    /// be ignored, as on SQS.
    async fn delete(&self, receipt: &str) -> StoreResult<()>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    pub receipt: String,
    pub body: String,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use crate::model::{CallStatus, Turn};

    /// Versioned calls in memory; `conflicts` makes that many next writes lose a race.
    #[derive(Default)]
    struct MemCalls {
        calls: Mutex<HashMap<String, Call>>,
        writes: AtomicU32,
        conflicts: AtomicU32,
    }

    #[async_trait]
    impl Calls for MemCalls {
        async fn create_call(&self, call: &Call) -> StoreResult<Created<Call>> {
            let mut calls = self.calls.lock().expect("lock");
            let stored = calls.entry(call.sid.to_string()).or_insert_with(|| {
                let mut c = call.clone();
                c.version = 1;
                c
            });
            Ok(Created::New(stored.clone()))
        }

        async fn get_call(&self, sid: &CallSid) -> StoreResult<Option<Call>> {
            Ok(self.calls.lock().expect("lock").get(sid.as_str()).cloned())
        }

        async fn update_call(&self, call: &Call) -> StoreResult<Call> {
            let mut calls = self.calls.lock().expect("lock");
            let stored = calls
                .get_mut(call.sid.as_str())
                .ok_or_else(|| StoreError::NotFound(call.sid.to_string()))?;
            let lost = self
                .conflicts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if lost {
                // Someone else's write lands first.
                stored.version += 1;
            }
            if stored.version != call.version {
                return Err(StoreError::Conflict(call.sid.to_string()));
            }
            *stored = Call {
                version: call.version + 1,
                ..call.clone()
            };
            self.writes.fetch_add(1, Ordering::SeqCst);
            Ok(stored.clone())
        }

        async fn list_calls(&self, _: &OrgId, _: usize) -> StoreResult<Vec<Call>> {
            Err(StoreError::Invalid("not in this fake".into()))
        }

        async fn list_calls_after(
            &self,
            _: &OrgId,
            _: Option<&CallPosition>,
            _: usize,
        ) -> StoreResult<Vec<Call>> {
            Err(StoreError::Invalid("not in this fake".into()))
        }

        async fn calls_awaiting_job(&self, _: DateTime<Utc>, _: usize) -> StoreResult<Vec<Call>> {
            Err(StoreError::Invalid("not in this fake".into()))
        }

        async fn append_turn(&self, _: &CallSid, _: &Turn) -> StoreResult<()> {
            Err(StoreError::Invalid("not in this fake".into()))
        }

        async fn turns(&self, _: &CallSid) -> StoreResult<Vec<Turn>> {
            Err(StoreError::Invalid("not in this fake".into()))
        }
    }

    fn sid() -> CallSid {
        CallSid::parse(&format!("CA{}", "a".repeat(32))).expect("sid")
    }

    async fn ringing_call() -> MemCalls {
        let calls = MemCalls::default();
        let call: Call = serde_json::from_value(serde_json::json!({
            "sid": sid(), "org": "acme", "agent": "front",
            "from": "+14155550100", "to": "+14155550199", "direction": "inbound",
            "status": "ringing", "started_at": "2026-11-20T21:40:00Z", "stream_token": "x"
        }))
        .expect("call");
        calls.create_call(&call).await.expect("create");
        calls
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_210_800 + secs, 0).expect("time")
    }

    #[tokio::test]
    async fn modify_call_if_writes_a_change_once_and_a_replay_not_at_all() {
        let calls = ringing_call().await;
        let done = |c: &mut Call| c.apply_status(CallStatus::Completed, at(60));
        let first = modify_call_if(&calls, &sid(), done).await.expect("modify");
        assert!(first.is_written());
        assert_eq!(first.call().version, 2);
        assert_eq!(first.call().status, CallStatus::Completed);

        let replay = modify_call_if(&calls, &sid(), done).await.expect("modify");
        assert_eq!(replay, Modified::Unchanged(first.clone().into_call()));
        let stale = modify_call_if(&calls, &sid(), |c| {
            c.apply_status(CallStatus::Ringing, at(1))
        })
        .await
        .expect("modify");
        assert!(!stale.is_written());
        assert_eq!(calls.writes.load(Ordering::SeqCst), 1);
        let stored = calls.get_call(&sid()).await.expect("get").expect("call");
        assert_eq!(stored.version, 2);
    }

    #[tokio::test]
    async fn modify_call_if_rereads_and_reapplies_after_a_lost_race() {
        let calls = ringing_call().await;
        calls.conflicts.store(2, Ordering::SeqCst);
        let tries = AtomicU32::new(0);
        let modified = modify_call_if(&calls, &sid(), |c| {
            tries.fetch_add(1, Ordering::SeqCst);
            c.apply_status(CallStatus::InProgress, at(5))
        })
        .await
        .expect("modify");
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert!(modified.is_written());
        assert_eq!(modified.call().answered_at, Some(at(5)));
        // Two writes by "someone else", then ours.
        assert_eq!(modified.call().version, 4);

        calls.conflicts.store(10, Ordering::SeqCst);
        let err = modify_call_if(&calls, &sid(), |c| {
            c.apply_status(CallStatus::Completed, at(9))
        })
        .await
        .expect_err("gave up");
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    }

    #[tokio::test]
    async fn modify_call_if_reports_a_missing_call() {
        let calls = MemCalls::default();
        let err = modify_call_if(&calls, &sid(), |_| true)
            .await
            .expect_err("no call");
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    }

    #[test]
    fn blob_keys_refuse_traversal_and_odd_characters() {
        assert!(BlobKey::parse("recordings/acme/CA1.mp3").is_ok());
        for bad in ["", "/abs", "a//b", "../x", "a/./b", "a b", "a/%2e", "a\\b"] {
            assert!(BlobKey::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
