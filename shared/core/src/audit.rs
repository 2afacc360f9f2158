//! The audit log: who changed what in an organization, when, and from what to what.
//! Entries never hold secrets: [`redact`] blanks every field named like one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::OrgId;

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person, by user id.
    User(String),
    /// A machine, by API key id.
    Key(String),
    /// `hotline apply`, from a configuration file.
    Apply,
    /// Another `hotline` command run on the store (`hotline users add`, `hotline keys …`).
    Cli,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::Key(id) => write!(f, "key:{id}"),
            Self::Apply => f.write_str("hotline apply"),
            Self::Cli => f.write_str("hotline cli"),
        }
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub org: OrgId,
    pub at: DateTime<Utc>,
    /// `user:{id}`, `key:{id}`, `hotline apply` or `hotline cli`.
    pub actor: String,
    /// `{resource}.{verb}`: `agent.update`, `user.remove`, `session.login`, …
    pub action: String,
    /// What was changed: `agent front-desk`, `user 3f2a…`.
    pub target: String,
    /// The record before the change, redacted; `None` for a creation.
    #[serde(default)]
    pub before: Option<Value>,
    /// The record after the change, redacted; `None` for a removal.
    #[serde(default)]
    pub after: Option<Value>,
}

impl AuditEntry {
    /// An entry at `at`, its `before` and `after` [redacted](redact).
    pub fn new(
        org: OrgId,
        at: DateTime<Utc>,
        actor: &Actor,
        action: &str,
        target: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            org,
            at,
            actor: actor.to_string(),
            action: action.to_owned(),
            target: target.to_owned(),
            before: before.map(redact),
            after: after.map(redact),
        }
    }
}

/// Where a page of an organization's audit log stopped (entries are newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPosition {
    pub at: DateTime<Utc>,
    pub id: String,
}

/// Whether a field's name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "token", "password", "hash", "credential"]
        .iter()
        .any(|word| name.contains(word))
}

/// `value` with every field named like a secret replaced by `"[redacted]"`, at any depth.
/// `null` and booleans stay: they hold no secret and say whether there is one.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| {
                    let v = if is_secret_name(&k) {
                        if v.is_null() || v.is_boolean() {
                            v
                        } else {
                            Value::from("[redacted]")
                        }
                    } else {
                        redact(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let out = redact(json!({
            "name": "acme",
            "twilio": {"account_sid": "AC1", "auth_token": "tok"},
            "settings": {"report_webhook_secret": "s", "report_emails": ["a@b.c"]},
            "password_hash": "$argon2id$",
            "list": [{"api_token": "x", "keep": 1}],
            "unset_secret": null,
            "report_webhook_secret_set": true,
        }));
        assert_eq!(
            out,
            json!({
                "name": "acme",
                "twilio": {"account_sid": "AC1", "auth_token": "[redacted]"},
                "settings": {"report_webhook_secret": "[redacted]", "report_emails": ["a@b.c"]},
                "password_hash": "[redacted]",
                "list": [{"api_token": "[redacted]", "keep": 1}],
                "unset_secret": null,
                "report_webhook_secret_set": true,
            })
        );
    }
}
