use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, OrgId};

/// An AI agent that answers or places calls for an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub org: OrgId,
    pub id: AgentId,
    pub name: String,
    /// The system prompt.
    pub instructions: String,
    /// The provider's voice name (e.g. `marin` on OpenAI).
    pub voice: String,
    /// Spoken by Twilio before the stream connects; none means the AI speaks first.
    #[serde(default)]
    pub greeting: Option<String>,
    pub enabled: bool,
    pub provider: Provider,
    pub model: String,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    #[serde(default)]
    pub analyzers: Vec<Analyzer>,
    #[serde(default)]
    pub limits: CallLimits,
    #[serde(default)]
    pub version: u64,
}

/// Which realtime model family carries the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    OpenaiRealtime,
    GeminiLive,
    /// Speech-to-text, then an LLM, then text-to-speech.
    Pipeline,
}

/// A tool the agent may call: a built-in (`end_call`, `transfer_call`) or a webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
    #[serde(default)]
    pub kind: ToolKind,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolKind {
    #[default]
    EndCall,
    /// Redirect the live call to `<Dial>` this number.
    TransferCall { to: crate::ids::E164 },
    /// POST the arguments to a URL and hand its JSON answer back to the model.
    Webhook { url: String },
}

/// A post-call analysis: a prompt whose answer must match a JSON schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analyzer {
    pub name: String,
    pub prompt: String,
    pub schema: serde_json::Value,
}

/// Guardrails on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallLimits {
    pub max_duration_secs: u32,
    /// After this much silence from both sides the agent reprompts once, then ends the call.
    pub silence_timeout_secs: u32,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            max_duration_secs: 30 * 60,
            silence_timeout_secs: 20,
        }
    }
}
