//! Checking what an LLM returned against the JSON Schema it was asked to follow. OpenAI's
//! strict mode makes a mismatch rare, not impossible (and other models may be behind the
//! same API): a result that fails is recorded as a failure, never stored as data.

use serde_json::Value;

/// Most problems listed in one error.
const MAX_PROBLEMS: usize = 5;

/// `Ok` when `value` satisfies `schema`. The error names where and which keyword failed,
/// never the offending value (it is caller data).
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    let validator = jsonschema::validator_for(schema).map_err(|e| {
        format!(
            "the schema itself is invalid (at {}: {})",
            path(e.instance_path().as_str()),
            e.kind().keyword()
        )
    })?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .take(MAX_PROBLEMS)
        .map(|e| {
            format!(
                "{} fails \"{}\"",
                path(e.instance_path().as_str()),
                e.kind().keyword()
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "result does not match the schema: {}",
            problems.join("; ")
        ))
    }
}

fn path(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["sentiment", "score"],
            "properties": {
                "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
                "score": {"type": "integer", "minimum": 0, "maximum": 10}
            }
        })
    }

    #[test]
    fn valid_results_pass() {
        assert_eq!(
            check(&schema(), &json!({"sentiment": "neutral", "score": 7})),
            Ok(())
        );
    }

    #[test]
    fn failures_name_the_place_and_keyword_but_not_the_value() {
        let err = check(
            &schema(),
            &json!({"sentiment": "furious-secret-word", "score": 11, "extra": true}),
        )
        .expect_err("invalid");
        assert!(err.contains("/sentiment fails \"enum\""), "{err}");
        assert!(err.contains("/score fails \"maximum\""), "{err}");
        assert!(err.contains("additionalProperties"), "{err}");
        assert!(!err.contains("furious-secret-word"), "{err}");
        let err = check(&schema(), &json!({"sentiment": "neutral"})).expect_err("missing");
        assert!(err.contains("/ fails \"required\""), "{err}");
    }

    #[test]
    fn a_broken_schema_is_reported_not_panicked_on() {
        let err = check(&json!({"type": "no-such-type"}), &json!({})).expect_err("bad schema");
        assert!(err.contains("schema itself is invalid"), "{err}");
    }
}
