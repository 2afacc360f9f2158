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
    /// Left after the beep when an answering machine takes one of the agent's outbound
    /// calls; none: the call hangs up without a message.
    #[serde(default)]
    pub voicemail_message: Option<String>,
    pub enabled: bool,
    pub provider: Provider,
    pub model: String,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    #[serde(default)]
    pub analyzers: Vec<Analyzer>,
    #[serde(default)]
    pub limits: CallLimits,
    /// Who carries the call when `provider` refuses or fails at connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// A `pipeline` agent's speech-to-text and text-to-speech (its LLM is `model`, its
    /// voice `voice`); none: [`PipelineSpec::default`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineSpec>,
    #[serde(default)]
    pub version: u64,
}

/// A second provider for an agent. Voices and models differ between vendors, so it
/// names its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    pub provider: Provider,
    pub model: String,
    pub voice: String,
}

impl Agent {
    /// The agent as its fallback carries it: same instructions, tools and limits, the
    /// fallback's provider, model and voice, and no further fallback.
    pub fn on_fallback(&self) -> Option<Agent> {
        let fallback = self.fallback.as_ref()?;
        Some(Agent {
            provider: fallback.provider,
            model: fallback.model.clone(),
            voice: fallback.voice.clone(),
            fallback: None,
            ..self.clone()
        })
    }
}

/// The vendors and models a `pipeline` agent hears and speaks with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineSpec {
    #[serde(default)]
    pub stt: SttSpec,
    #[serde(default)]
    pub tts: TtsSpec,
}

/// Streaming speech-to-text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SttSpec {
    pub vendor: SttVendor,
    /// E.g. `nova-3`.
    pub model: String,
    /// BCP-47, e.g. `en-US`, or `multi`.
    pub language: String,
}

impl Default for SttSpec {
    fn default() -> Self {
        Self::of(SttVendor::Deepgram)
    }
}

impl SttSpec {
    /// The vendor with its default model and language.
    pub fn of(vendor: SttVendor) -> Self {
        let (model, language) = match vendor {
            SttVendor::Deepgram => ("nova-3", "en-US"),
            SttVendor::Elevenlabs => ("scribe_v2_realtime", "en"),
        };
        Self {
            vendor,
            model: model.to_owned(),
            language: language.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SttVendor {
    /// Deepgram live transcription (`/v1/listen`), µ-law 8 kHz in.
    Deepgram,
    /// ElevenLabs realtime speech-to-text (`/v1/speech-to-text/realtime`, Scribe),
    /// µ-law 8 kHz in.
    Elevenlabs,
}

/// Streaming text-to-speech; the voice is the agent's `voice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtsSpec {
    pub vendor: TtsVendor,
    /// E.g. `eleven_flash_v2_5`.
    pub model: String,
}

impl Default for TtsSpec {
    fn default() -> Self {
        Self::of(TtsVendor::Elevenlabs)
    }
}

impl TtsSpec {
    /// The vendor with its default model.
    pub fn of(vendor: TtsVendor) -> Self {
        let model = match vendor {
            TtsVendor::Elevenlabs => "eleven_flash_v2_5",
            TtsVendor::Openai => "gpt-4o-mini-tts",
        };
        Self {
            vendor,
            model: model.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtsVendor {
    /// ElevenLabs streaming over HTTP, µ-law 8 kHz out.
    Elevenlabs,
    /// OpenAI's speech endpoint (`/audio/speech`), PCM 24 kHz out, resampled to µ-law
    /// 8 kHz on the node.
    Openai,
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
    /// Hand the caller to a person at this number: cold (the live call redirected to
    /// `<Dial>` it) or warm (a conference, a whisper, accept or decline; see
    /// [`crate::transfer`]).
    TransferCall {
        to: crate::ids::E164,
        #[serde(
            default,
            skip_serializing_if = "crate::transfer::TransferMode::is_cold"
        )]
        mode: crate::transfer::TransferMode,
        /// Warm: what the caller hears while waiting (a `<Conference waitUrl>`: an audio
        /// file or TwiML); Twilio's default hold music when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hold_music_url: Option<String>,
        /// Warm: how long the person's phone rings before the caller is taken back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ring_timeout_secs: Option<u32>,
    },
    /// POST the arguments to a URL and hand its JSON answer back to the model.
    Webhook {
        url: String,
        /// How long the URL may take to answer before the model is told the tool failed;
        /// none is [`ToolKind::WEBHOOK_TIMEOUT_SECS`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_secs: Option<u32>,
    },
    /// Text the caller (SMS) from the number they called, e.g. a link or a
    /// confirmation, while talking; never to someone who opted out.
    SendSms,
    /// Press keys on the far end's phone menu: DTMF tones played into the stream the
    /// call already has (an outbound call meeting an IVR).
    SendDtmf,
    /// The person on the line asked not to be called again: their number goes on the
    /// organization's do-not-call list and a campaign's lead is finished as opted out.
    OptOut,
}

impl ToolKind {
    /// A webhook tool's timeout when none is given: long enough for a lookup in
    /// someone's database, short enough that a caller still waits.
    pub const WEBHOOK_TIMEOUT_SECS: u32 = 8;
    /// The longest a webhook tool may be given: past it a caller is left on hold.
    pub const WEBHOOK_MAX_TIMEOUT_SECS: u32 = 30;

    /// The timeout a webhook tool runs with, kept within 1 s..=[`Self::WEBHOOK_MAX_TIMEOUT_SECS`]
    /// whatever a stored record says (the configuration file refuses values outside it).
    pub fn webhook_timeout(timeout_secs: Option<u32>) -> std::time::Duration {
        let secs = timeout_secs
            .unwrap_or(Self::WEBHOOK_TIMEOUT_SECS)
            .clamp(1, Self::WEBHOOK_MAX_TIMEOUT_SECS);
        std::time::Duration::from_secs(u64::from(secs))
    }
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

// 3600 s is the most an ALB target group lets a deregistering target keep its connections.
const _: () = assert!(CallLimits::MAX_DURATION_SECS + CallLimits::WIND_DOWN_SECS <= 3600);

/// Limits no agent may be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error(
        "max_duration_secs must be between 1 and {max} (a deploy lets a call run that long), got {got}",
        max = CallLimits::MAX_DURATION_SECS
    )]
    MaxDuration { got: u32 },
    #[error("silence_timeout_secs must be at least 1")]
    SilenceTimeout,
}

impl CallLimits {
    /// The longest call any agent may have. A deploy or scale-in lets a task's live calls
    /// run out before the task stops, for at most the load balancer's deregistration delay
    /// (AWS allows 3600 s). A call that reaches its limit still takes up to
    /// [`Self::WIND_DOWN_SECS`] to say goodbye and hang up, so the two together fit in
    /// that hour. `infra/tests/consistency.py` reads both to check the template.
    pub const MAX_DURATION_SECS: u32 = 3540;
    /// From a stream's upgrade to its last byte, beyond `max_duration_secs`: the wait for
    /// `start` (5 s by default), the goodbye's grace (15 s) and the hang-up, with room.
    pub const WIND_DOWN_SECS: u32 = 60;

    /// Refuses limits a deploy could not honour, or that would end every call at once.
    /// Whatever loads agents from configuration calls this before storing one.
    pub fn check(&self) -> Result<(), LimitsError> {
        if self.max_duration_secs == 0 || self.max_duration_secs > Self::MAX_DURATION_SECS {
            return Err(LimitsError::MaxDuration {
                got: self.max_duration_secs,
            });
        }
        if self.silence_timeout_secs == 0 {
            return Err(LimitsError::SilenceTimeout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_tool_waits_eight_seconds_unless_told_and_never_past_thirty() {
        use std::time::Duration;
        assert_eq!(ToolKind::webhook_timeout(None), Duration::from_secs(8));
        assert_eq!(ToolKind::webhook_timeout(Some(3)), Duration::from_secs(3));
        assert_eq!(ToolKind::webhook_timeout(Some(0)), Duration::from_secs(1));
        assert_eq!(
            ToolKind::webhook_timeout(Some(600)),
            Duration::from_secs(30)
        );
        // Records stored before the field existed still read.
        let kind: ToolKind =
            serde_json::from_str(r#"{"type":"webhook","url":"https://x.example/a"}"#)
                .expect("an old record");
        assert_eq!(
            kind,
            ToolKind::Webhook {
                url: "https://x.example/a".into(),
                timeout_secs: None
            }
        );
    }

    #[test]
    fn the_default_limits_pass_the_check() {
        assert_eq!(CallLimits::default().check(), Ok(()));
    }

    #[test]
    fn a_call_may_last_up_to_the_cap_and_no_longer() {
        let at_cap = CallLimits {
            max_duration_secs: CallLimits::MAX_DURATION_SECS,
            ..CallLimits::default()
        };
        assert_eq!(at_cap.check(), Ok(()));
        let hour = CallLimits {
            max_duration_secs: 3600,
            ..CallLimits::default()
        };
        assert_eq!(hour.check(), Err(LimitsError::MaxDuration { got: 3600 }));
        let zero = CallLimits {
            max_duration_secs: 0,
            ..CallLimits::default()
        };
        assert_eq!(zero.check(), Err(LimitsError::MaxDuration { got: 0 }));
    }

    #[test]
    fn a_zero_silence_timeout_is_refused() {
        let limits = CallLimits {
            silence_timeout_secs: 0,
            ..CallLimits::default()
        };
        assert_eq!(limits.check(), Err(LimitsError::SilenceTimeout));
    }
}
