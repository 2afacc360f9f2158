//! `POST {base}/chat/completions`: with a strict JSON schema (a transcript in, the
//! analysis as a JSON object out), or plain text (a conversation in, the next reply out).

use std::fmt;

use serde_json::{Value, json};

use crate::{LlmError, OpenAiRest};

/// One structured-output request: instructions, the material, and the schema the
/// answer must follow. With `strict: true` OpenAI requires that every object in the
/// schema has `additionalProperties: false` and lists all its properties in `required`
/// (optional ones typed `["string", "null"]`, …), and that the root is an object.
/// Its `Debug` shows sizes, never the prompts.
#[derive(Clone, PartialEq)]
pub struct StructuredRequest {
    /// E.g. `gpt-4.1-mini`.
    pub model: String,
    /// The system message: what to extract and how.
    pub system: String,
    /// The user message: the transcript or whatever is analyzed.
    pub user: String,
    /// `^[a-zA-Z0-9_-]{1,64}$`; [`crate::schema_name`] makes one from any name.
    pub schema_name: String,
    /// The JSON Schema of the answer.
    pub schema: Value,
}

impl fmt::Debug for StructuredRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StructuredRequest")
            .field("model", &self.model)
            .field("system_chars", &self.system.chars().count())
            .field("user_chars", &self.user.chars().count())
            .field("schema_name", &self.schema_name)
            .finish_non_exhaustive()
    }
}

impl StructuredRequest {
    fn body(&self) -> Value {
        json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.system},
                {"role": "user", "content": self.user},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": self.schema_name,
                    "strict": true,
                    "schema": self.schema,
                },
            },
        })
    }
}

impl OpenAiRest {
    /// Asks for an answer that follows `req.schema` and returns it parsed: the JSON
    /// object in `choices[0].message.content`. A refusal is [`LlmError::Refused`], an
    /// answer cut short [`LlmError::Truncated`].
    pub async fn structured(&self, req: &StructuredRequest) -> Result<Value, LlmError> {
        tracing::debug!(
            model = req.model,
            schema = req.schema_name,
            user_bytes = req.user.len(),
            "structured completion"
        );
        let body = self
            .send(self.post("chat/completions").json(&req.body()))
            .await?;
        parse_completion(&body)
    }
}

/// A plain-text chat completion: a system message, then the conversation so far as
/// `(role, content)` with role `user` or `assistant`. Its `Debug` shows sizes, never
/// the messages.
#[derive(Clone, PartialEq)]
pub struct TextRequest {
    pub model: String,
    pub system: String,
    pub messages: Vec<(String, String)>,
    /// `max_completion_tokens`: a bound on the answer's length and cost.
    pub max_tokens: u32,
}

impl fmt::Debug for TextRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextRequest")
            .field("model", &self.model)
            .field("system_chars", &self.system.chars().count())
            .field("messages", &self.messages.len())
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

impl TextRequest {
    fn body(&self) -> Value {
        let mut messages = vec![json!({"role": "system", "content": self.system})];
        messages.extend(
            self.messages
                .iter()
                .map(|(role, content)| json!({"role": role, "content": content})),
        );
        json!({
            "model": self.model,
            "messages": messages,
            "max_completion_tokens": self.max_tokens,
        })
    }
}

impl OpenAiRest {
    /// The assistant's next message as text. A refusal is [`LlmError::Refused`]; an
    /// answer cut at `max_tokens` is still an answer (the caller bounds its length
    /// anyway), one stopped by the content filter is [`LlmError::Truncated`].
    pub async fn text(&self, req: &TextRequest) -> Result<String, LlmError> {
        tracing::debug!(
            model = req.model,
            messages = req.messages.len(),
            "text completion"
        );
        let body = self
            .send(self.post("chat/completions").json(&req.body()))
            .await?;
        parse_text(&body)
    }
}

fn parse_text(body: &[u8]) -> Result<String, LlmError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::Invalid(format!("chat completion is not JSON: {e}")))?;
    let choice = json["choices"]
        .get(0)
        .ok_or_else(|| LlmError::Invalid("chat completion has no choices".to_owned()))?;
    let message = &choice["message"];
    if let Some(refusal) = message["refusal"].as_str() {
        return Err(LlmError::refused(refusal));
    }
    if choice["finish_reason"].as_str() == Some("content_filter") {
        return Err(LlmError::Truncated);
    }
    message["content"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| LlmError::Invalid("message has no text content".to_owned()))
}

/// The chat completion's first choice: a refusal, a cut-short answer, or content
/// that must be a JSON object in a string.
fn parse_completion(body: &[u8]) -> Result<Value, LlmError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::Invalid(format!("chat completion is not JSON: {e}")))?;
    let choice = json["choices"]
        .get(0)
        .ok_or_else(|| LlmError::Invalid("chat completion has no choices".to_owned()))?;
    let message = &choice["message"];
    if let Some(refusal) = message["refusal"].as_str() {
        return Err(LlmError::refused(refusal));
    }
    if matches!(
        choice["finish_reason"].as_str(),
        Some("length" | "content_filter")
    ) {
        return Err(LlmError::Truncated);
    }
    let content = message["content"]
        .as_str()
        .ok_or_else(|| LlmError::Invalid("message has no text content".to_owned()))?;
    match serde_json::from_str::<Value>(content) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(LlmError::Invalid(
            "message content is JSON but not an object".to_owned(),
        )),
        Err(e) => Err(LlmError::Invalid(format!(
            "message content is not JSON: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(message: &Value, finish_reason: &str) -> Vec<u8> {
        json!({
            "id": "chatcmpl-abc123",
            "object": "chat.completion",
            "created": 1_760_000_000,
            "model": "gpt-4.1-mini-2025-04-14",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_content_string_is_parsed_as_json() {
        let content = r#"{"summary":"Wants a cleaning","sentiment":"neutral","callback_requested":true,"follow_up_date":null}"#;
        let body = completion(
            &json!({"role": "assistant", "content": content, "refusal": null, "annotations": []}),
            "stop",
        );
        let value = parse_completion(&body).expect("parsed");
        assert_eq!(value["sentiment"], "neutral");
        assert_eq!(value["callback_requested"], true);
        assert!(value["follow_up_date"].is_null());
    }

    #[test]
    fn a_refusal_is_refused() {
        let body = completion(
            &json!({"role": "assistant", "content": null, "refusal": "I'm sorry, I can't help with that."}),
            "stop",
        );
        let err = parse_completion(&body).expect_err("refused");
        assert!(
            matches!(&err, LlmError::Refused(text) if text == "I'm sorry, I can't help with that."),
            "{err:?}"
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn length_and_content_filter_are_truncated() {
        for reason in ["length", "content_filter"] {
            let body = completion(
                &json!({"role": "assistant", "content": "{\"summary\": \"The caller wa", "refusal": null}),
                reason,
            );
            let err = parse_completion(&body).expect_err("truncated");
            assert!(matches!(err, LlmError::Truncated), "{reason}: {err:?}");
        }
    }

    #[test]
    fn content_that_is_not_a_json_object_is_invalid_and_not_repeated() {
        for content in [
            "Sure! Here is the summary: the caller",
            "[1, 2]",
            "\"the caller\"",
        ] {
            let body = completion(
                &json!({"role": "assistant", "content": content, "refusal": null}),
                "stop",
            );
            let err = parse_completion(&body).expect_err("invalid");
            assert!(matches!(err, LlmError::Invalid(_)), "{err:?}");
            assert!(!err.to_string().contains("caller"), "{err}");
        }
    }

    #[test]
    fn other_shapes_are_invalid() {
        for body in [
            &b"not json"[..],
            b"{}",
            br#"{"choices":[]}"#,
            br#"{"choices":[{"message":{"content":null,"refusal":null},"finish_reason":"stop"}]}"#,
        ] {
            let err = parse_completion(body).expect_err("invalid");
            assert!(matches!(err, LlmError::Invalid(_)), "{err:?}");
        }
    }

    #[test]
    fn a_text_completion_is_the_content_as_is_and_its_request_has_no_format() {
        let body = completion(
            &json!({"role": "assistant", "content": "See you Tuesday <3 & bye", "refusal": null}),
            "length",
        );
        assert_eq!(parse_text(&body).expect("text"), "See you Tuesday <3 & bye");
        let filtered = completion(
            &json!({"role": "assistant", "content": "x"}),
            "content_filter",
        );
        assert!(matches!(parse_text(&filtered), Err(LlmError::Truncated)));
        let req = TextRequest {
            model: "gpt-4.1-mini".to_owned(),
            system: "Be brief.".to_owned(),
            messages: vec![("user".to_owned(), "secret question".to_owned())],
            max_tokens: 400,
        };
        let body = req.body();
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][1]["content"], "secret question");
        assert!(body.get("response_format").is_none());
        assert!(!format!("{req:?}").contains("secret"));
    }

    #[test]
    fn the_request_asks_for_strict_json_schema_output() {
        let req = StructuredRequest {
            model: "gpt-4.1-mini".to_owned(),
            system: "Extract call outcome.".to_owned(),
            user: "caller: hi".to_owned(),
            schema_name: "call_summary".to_owned(),
            schema: json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false}),
        };
        let body = req.body();
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][1]["content"], "caller: hi");
        let format = &body["response_format"];
        assert_eq!(format["type"], "json_schema");
        assert_eq!(format["json_schema"]["name"], "call_summary");
        assert_eq!(format["json_schema"]["strict"], true);
        assert_eq!(format["json_schema"]["schema"]["type"], "object");
        assert!(!format!("{req:?}").contains("caller"));
    }
}
