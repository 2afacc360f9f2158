use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CallSid, E164, OrgId};
use crate::model::TodoItem;

/// A follow-up a call produced, linked to the call and to the contact it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Todo {
    /// `{CallSid}-{n}`: the n-th to-do of that call, so storing it again is a no-op.
    pub id: String,
    pub org: OrgId,
    pub call: CallSid,
    #[serde(default)]
    pub contact: Option<E164>,
    pub title: String,
    #[serde(default)]
    pub due: Option<NaiveDate>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub done: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Todo {
    /// The call a to-do id names (`{CallSid}-{n}`), which is where the to-do is stored.
    pub fn call_of(id: &str) -> Option<CallSid> {
        let (call, n) = id.rsplit_once('-')?;
        if n.is_empty() || n.len() > 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        CallSid::parse(call).ok()
    }

    /// The `n`-th to-do of `call`.
    pub fn from_item(
        org: &OrgId,
        call: &CallSid,
        contact: Option<&E164>,
        n: usize,
        item: &TodoItem,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: format!("{call}-{n:03}"),
            org: org.clone(),
            call: call.clone(),
            contact: contact.cloned(),
            title: item.title.clone(),
            due: item.due,
            assignee: item.assignee.clone(),
            done: false,
            created_at: now,
            version: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_todo_id_names_its_call_and_nothing_else_does() {
        let call = format!("CA{}", "ab".repeat(16));
        assert_eq!(
            Todo::call_of(&format!("{call}-007")).map(|c| c.to_string()),
            Some(call.clone())
        );
        for bad in [
            String::new(),
            call.clone(),
            format!("{call}-"),
            format!("{call}-x1"),
            format!("{call}-1234567"),
            "CA1-000".to_owned(),
            "../x-1".to_owned(),
        ] {
            assert!(Todo::call_of(&bad).is_none(), "{bad:?}");
        }
    }
}
