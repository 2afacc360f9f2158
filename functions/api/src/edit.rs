//! One read-modify-write for the records people edit through the API (contacts,
//! to-dos): read the caller's record, refuse a stale pinned `version`, apply the change,
//! write it over the version read, and leave an audit entry of before and after.

use std::future::Future;

use hotline_core::model::{Contact, Todo};
use hotline_core::ports::{StoreError, StoreResult};
use serde::Serialize;

use crate::Deps;
use crate::auth::Caller;
use crate::problem::ApiError;

/// Tries before a record that keeps changing is given up on (503).
const ATTEMPTS: u32 = 6;

/// A record with an optimistic-concurrency version.
pub(crate) trait Versioned: Clone + PartialEq {
    fn version(&self) -> u64;
}

impl Versioned for Contact {
    fn version(&self) -> u64 {
        self.version
    }
}

impl Versioned for Todo {
    fn version(&self) -> u64 {
        self.version
    }
}

/// Where the record is read and written: the caller's own, or not found.
pub(crate) trait Place: Sync {
    type Record: Versioned + Send + Sync;
    fn read(&self) -> impl Future<Output = Result<Self::Record, ApiError>> + Send;
    fn write(
        &self,
        record: &Self::Record,
    ) -> impl Future<Output = StoreResult<Self::Record>> + Send;
}

/// What is edited and how it is named.
pub(crate) struct Edit<'a> {
    /// `contact +1415…`, `to-do abc`: in the audit entry and a conflict's problem.
    pub target: &'a str,
    /// `contact.update`, `todo.update`.
    pub action: &'a str,
    /// The version the caller read, when it sent one: another version is a 409. Without
    /// one the caller asked for the change whatever else changed, so a concurrent write
    /// (a call's enrichment) is read again and the change reapplied.
    pub pinned: Option<u64>,
}

/// Applies `change` to the record `place` holds and writes it back there; an unchanged
/// record is not written (nor audited). `view` is what the audit entry shows.
pub(crate) async fn modify<P: Place, V: Serialize>(
    deps: &Deps,
    caller: &Caller,
    edit: Edit<'_>,
    place: &P,
    change: impl Fn(&mut P::Record),
    view: impl Fn(&P::Record) -> V,
) -> Result<P::Record, ApiError> {
    for attempt in 1..=ATTEMPTS {
        let mut record = place.read().await?;
        if edit.pinned.is_some_and(|v| v != record.version()) {
            return Err(StoreError::Conflict(edit.target.to_owned()).into());
        }
        let before = record.clone();
        change(&mut record);
        if record == before {
            return Ok(record);
        }
        match place.write(&record).await {
            Err(StoreError::Conflict(_)) if edit.pinned.is_none() && attempt < ATTEMPTS => {}
            written => {
                let written = written?;
                crate::audit::record(
                    deps,
                    caller,
                    edit.action,
                    edit.target,
                    serde_json::to_value(view(&before)).ok(),
                    serde_json::to_value(view(&written)).ok(),
                )
                .await;
                return Ok(written);
            }
        }
    }
    Err(ApiError::Unavailable(format!(
        "{} kept changing",
        edit.target
    )))
}
