//! The shipped JSON Schema, and its verdicts turned into `path: problem` lines a person
//! can act on. Values are quoted back only where they are not secrets.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use crate::Problem;

/// The schema of `hotline.yaml`, as shipped beside the example file.
pub const SCHEMA: &str = include_str!("../hotline.schema.json");

static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA).map_err(|e| e.to_string())?;
    jsonschema::validator_for(&schema).map_err(|e| e.to_string())
});

/// Every place where `document` breaks the schema.
pub fn check(document: &Value) -> Vec<Problem> {
    let validator = match &*VALIDATOR {
        Ok(v) => v,
        Err(e) => {
            return vec![Problem {
                path: String::new(),
                message: format!("the shipped schema is broken: {e}"),
            }];
        }
    };
    let mut problems: Vec<Problem> = validator
        .iter_errors(document)
        .map(|e| {
            let pointer = e.instance_path().as_str().to_owned();
            let message = describe(e.kind(), e.instance(), &pointer);
            Problem {
                path: display_path(&pointer),
                message,
            }
        })
        .collect();
    problems.sort_by(|a, b| a.path.cmp(&b.path).then(a.message.cmp(&b.message)));
    problems.dedup();
    problems
}

/// `/organizations/0/agents/1/provider` → `organizations[0].agents[1].provider`.
pub fn display_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.bytes().all(|b| b.is_ascii_digit()) && !segment.is_empty() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

/// Whether the value at this place must never be echoed (tokens and secrets).
fn is_secret(pointer: &str) -> bool {
    let last = pointer.rsplit('/').next().unwrap_or_default();
    last.contains("token") || last.contains("secret")
}

fn describe(kind: &ValidationErrorKind, instance: &Value, pointer: &str) -> String {
    let shown = if is_secret(pointer) {
        "the value".to_owned()
    } else {
        shorten(instance)
    };
    match kind {
        ValidationErrorKind::Enum { options } => {
            let allowed = options
                .as_array()
                .map(|o| o.iter().map(shorten).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            format!("unknown value {shown} (one of {allowed})")
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|k| format!("unknown key \"{k}\""))
            .collect::<Vec<_>>()
            .join(", "),
        ValidationErrorKind::Required { property } => {
            format!("missing key {}", shorten(property))
        }
        ValidationErrorKind::Type { kind } => {
            let want = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => ts
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let hint = if pointer.ends_with("/number") || pointer.ends_with("/to") {
                " (quote phone numbers: \"+15551234567\")"
            } else {
                ""
            };
            format!("expected {want}, found {}{hint}", json_type(instance))
        }
        ValidationErrorKind::Pattern { .. } => {
            format!("{shown} is not {}", pattern_meaning(pointer))
        }
        ValidationErrorKind::MinLength { .. } => "must not be empty".to_owned(),
        ValidationErrorKind::MaxLength { limit } => format!("longer than {limit} characters"),
        ValidationErrorKind::Minimum { limit } => format!("{shown} is below the minimum {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("{shown} is above the maximum {limit}"),
        other => format!("fails \"{}\"", other.keyword()),
    }
}

fn pattern_meaning(pointer: &str) -> &'static str {
    let last = pointer.rsplit('/').next().unwrap_or_default();
    let parent = pointer.rsplit('/').nth(1).unwrap_or_default();
    match last {
        "account_sid" => "a Twilio account SID (AC and 32 hex digits)",
        "number" | "to" => "an E.164 phone number (+ and up to 15 digits)",
        "webhook_url" | "url" => "an http(s) URL",
        "id" | "agent" => "an id (lowercase letters, digits, '-' and '_', up to 64)",
        "name" => "a tool or analyzer name (letters, digits, '-' and '_', up to 64)",
        _ if parent == "emails" => "an e-mail address",
        _ => "in the expected form",
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A value as JSON, cut short so a pasted prompt does not flood the terminal.
fn shorten(v: &Value) -> String {
    const MAX: usize = 60;
    let text = v.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_read_as_paths() {
        assert_eq!(
            display_path("/organizations/0/agents/1/provider"),
            "organizations[0].agents[1].provider"
        );
        assert_eq!(display_path(""), "");
    }

    #[test]
    fn the_shipped_schema_compiles() {
        assert!(VALIDATOR.is_ok(), "{:?}", VALIDATOR.as_ref().err());
    }
}
