//! Streaming chat completions (`POST {OPENAI_BASE_URL}/chat/completions` with
//! `"stream": true`, any OpenAI-compatible server): the request for an agent, the
//! server-sent events, and the deltas put back together (content as it comes, tool
//! calls by index).

use hotline_core::model::Agent;
use serde_json::{Value, json};

use crate::call::state::END_CALL;

/// Longest reply: a few spoken sentences.
const MAX_TOKENS: u32 = 600;

/// The agent's tools as chat-completions functions: `end_call` always, its others by
/// the names the call loop knows them by.
pub fn tools(agent: &Agent) -> Vec<Value> {
    let mut tools = vec![function(
        END_CALL,
        "End the phone call once the conversation is over and the caller has nothing more \
         to ask. Say nothing else after calling it; a goodbye is played.",
        &json!({"type": "object", "properties": {}}),
    )];
    for (name, spec) in crate::provider::declared_tools(agent) {
        tools.push(function(name, &spec.description, &spec.parameters));
    }
    tools
}

fn function(name: &str, description: &str, parameters: &Value) -> Value {
    json!({"type": "function", "function": {
        "name": name, "description": description, "parameters": parameters}})
}

/// The request body: the conversation, the tools, streamed with a usage chunk.
pub fn body(model: &str, messages: &[Value], tools: &[Value]) -> Value {
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_completion_tokens": MAX_TOKENS,
    });
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools.to_vec());
    }
    body
}

/// Server-sent events cut from a byte stream in whatever pieces it arrives.
#[derive(Debug, Default)]
pub struct Sse {
    line: Vec<u8>,
    data: String,
}

/// One event's `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Data(String),
    /// `data: [DONE]`: the stream is over.
    Done,
}

impl Sse {
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = std::mem::take(&mut self.line);
            if line.is_empty() {
                let data = std::mem::take(&mut self.data);
                if data == "[DONE]" {
                    out.push(Event::Done);
                } else if !data.is_empty() {
                    out.push(Event::Data(data));
                }
                continue;
            }
            if let Some(value) = line.strip_prefix(b"data:") {
                let value = value.strip_prefix(b" ").unwrap_or(value);
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
            }
            // Comments (`:`) and other fields (`event:`, `id:`, `retry:`) say nothing here.
        }
    }
}

/// A function call being streamed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A completion put back together from its chunks.
#[derive(Debug, Default)]
pub struct Completion {
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
}

impl Completion {
    /// Reads one `chat.completion.chunk`; returns the content it adds. An `error`
    /// object in the stream (OpenAI sends one mid-stream on server errors) is `Err`.
    pub fn chunk(&mut self, data: &str) -> Result<String, String> {
        let chunk: Value =
            serde_json::from_str(data).map_err(|e| format!("unparsable chunk: {e}"))?;
        if let Some(error) = chunk.get("error") {
            return Err(error["message"]
                .as_str()
                .unwrap_or("error in the stream")
                .to_owned());
        }
        let mut content = String::new();
        let Some(choices) = chunk["choices"].as_array() else {
            return Ok(content);
        };
        for choice in choices
            .iter()
            .filter(|c| c["index"].as_u64().unwrap_or(0) == 0)
        {
            let delta = &choice["delta"];
            if let Some(text) = delta["content"].as_str() {
                content.push_str(text);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap_or(0) as usize;
                if index > 16 {
                    continue;
                }
                if self.tool_calls.len() <= index {
                    self.tool_calls.resize_with(index + 1, ToolCall::default);
                }
                let slot = &mut self.tool_calls[index];
                if let Some(id) = call["id"].as_str() {
                    slot.id = id.to_owned();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    slot.name.push_str(name);
                }
                if let Some(args) = call["function"]["arguments"].as_str() {
                    slot.arguments.push_str(args);
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(reason.to_owned());
            }
        }
        Ok(content)
    }

    /// The calls that came whole (an id and a name).
    pub fn calls(&self) -> Vec<ToolCall> {
        self.tool_calls
            .iter()
            .filter(|c| !c.id.is_empty() && !c.name.is_empty())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_wherever_the_bytes_split() {
        let stream =
            b"data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":\r\ndata: 2}\r\n\r\ndata: [DONE]\n\n";
        for split in 1..stream.len() {
            let mut sse = Sse::default();
            let mut out = Vec::new();
            sse.push(&stream[..split], &mut out);
            sse.push(&stream[split..], &mut out);
            assert_eq!(
                out,
                [
                    Event::Data("{\"a\":1}".into()),
                    Event::Data("{\"b\":\n2}".into()),
                    Event::Done
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn content_and_tool_call_deltas_are_put_together() {
        let mut c = Completion::default();
        let first = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#;
        assert_eq!(c.chunk(first).as_deref(), Ok(""));
        let text = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"One moment. "},"finish_reason":null}]}"#;
        assert_eq!(c.chunk(text).as_deref(), Ok("One moment. "));
        let call = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup_order","arguments":""}}]},"finish_reason":null}]}"#;
        c.chunk(call).expect("chunk");
        for piece in [r#"{\"ord"#, r#"er\": \"A-1\"}"#] {
            let args = format!(
                r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"{piece}"}}}}]}},"finish_reason":null}}]}}"#
            );
            c.chunk(&args).expect("chunk");
        }
        let end = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#;
        c.chunk(end).expect("chunk");
        let usage =
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#;
        c.chunk(usage).expect("chunk");
        assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            c.calls(),
            [ToolCall {
                id: "call_1".into(),
                name: "lookup_order".into(),
                arguments: r#"{"order": "A-1"}"#.into()
            }]
        );
        assert!(c.chunk(r#"{"error":{"message":"overloaded"}}"#).is_err());
        assert!(c.chunk("not json").is_err());
    }
}
