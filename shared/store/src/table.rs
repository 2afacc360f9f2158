//! The single-table model both record adapters implement. DynamoDB is the reference:
//! items have a partition key, a sort key, an optional secondary index key pair, a
//! version counter and a JSON body. SQLite mirrors the same shape, so the key layout in
//! `records.rs` is written once.

use async_trait::async_trait;
use hotline_core::ports::StoreResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    /// Key in the `gsi1` index, for items listed by something other than their partition.
    pub gsi1: Option<(String, String)>,
    /// Key in the sparse, keys-only `gsi2` index: only items that need finding by it
    /// have one, and a query of it gives their keys (`data` is null on DynamoDB).
    pub gsi2: Option<(String, String)>,
    /// Set by the store on every conditional write; 1 after the first create.
    pub version: u64,
    pub data: serde_json::Value,
    /// When a short-lived record stops existing, in epoch seconds: DynamoDB's TTL
    /// attribute `ttl`. Reads treat an item past it as absent (DynamoDB deletes it up to
    /// days later; the local store when swept), and a create may take its key.
    pub expires_at: Option<i64>,
}

/// Now, in epoch seconds: what `expires_at` is compared with (the real clock, as
/// DynamoDB's TTL uses).
pub fn epoch_now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Item {
    /// Whether the item is past its `expires_at` at `now` (epoch seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// When a put may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// Only if no item has this key (or the one there has expired).
    Absent,
    /// Only if the stored item has this version.
    Version(u64),
    /// Only if no item has this key or the stored one belongs to the same organization
    /// (`data.org` equal to the written item's): how a number or an account is claimed
    /// without taking it from another organization.
    AbsentOrSameOrg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Yes,
    ConditionFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
}

/// Items of one partition (of the table or of an index) whose sort key starts with a prefix
/// (and, optionally, sorts before a bound).
#[derive(Debug, Clone)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk_prefix: String,
    pub descending: bool,
    pub limit: Option<usize>,
    /// Only sort keys strictly less than this one: where a page that walks the partition
    /// newest first resumes.
    pub sk_before: Option<String>,
}

#[async_trait]
pub trait Table: Send + Sync {
    /// Writes `item` if `condition` holds. The written item's version is
    /// `Version(v) → v + 1`, `Absent → 1`, `Always → item.version`.
    async fn put(&self, item: &Item, condition: Condition) -> StoreResult<Written>;
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>>;
    async fn query(&self, query: &Query) -> StoreResult<Vec<Item>>;
    /// Deletes the item if it still has `version` (so what was checked is what goes).
    async fn delete(&self, pk: &str, sk: &str, version: u64) -> StoreResult<Written>;
    /// Deletes the items expired at `now` (epoch seconds); how many went. DynamoDB does
    /// this itself (TTL), so there it deletes nothing.
    async fn remove_expired(&self, now: i64) -> StoreResult<usize>;
}

/// The version an item gets when written under `condition`.
pub fn next_version(item: &Item, condition: Condition) -> u64 {
    match condition {
        Condition::Always | Condition::AbsentOrSameOrg => item.version,
        Condition::Absent => 1,
        Condition::Version(v) => v + 1,
    }
}
