//! The OpenAI Realtime adapter: session configuration from an agent, commands to wire
//! events, wire events to [`ProviderEvent`]s, and the connection itself.

use hotline_core::model::{Agent, ToolKind};
use hotline_realtime::openai::{
    AudioConfig, AudioFormat, AudioInput, AudioOutput, ClientEvent, FunctionTool, Item,
    ResponseConfig, ResponseStatus, ServerEvent, ServerVad, Session, Tool, Transcription,
    TurnDetection, realtime_url,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::call::state::{END_CALL, TRANSFER_CALL};
use crate::provider::{ProviderCommand, ProviderEvent};

pub type ProviderSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why the AI could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad provider URL: {0}")]
    Url(String),
    #[error("provider refused the connection: HTTP {0}")]
    Refused(u16),
    #[error("provider unreachable: {0}")]
    Unreachable(String),
}

/// Opens the realtime socket for `model`.
pub async fn connect(
    base_url: &str,
    api_key: &SecretString,
    model: &str,
) -> Result<ProviderSocket, ConnectError> {
    let url = realtime_url(base_url, model).map_err(|e| ConnectError::Url(e.to_string()))?;
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Url(e.to_string()))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", api_key.expose_secret()))
        .map_err(|_| ConnectError::Url("API key is not a valid header value".into()))?;
    request.headers_mut().insert("authorization", bearer);
    match tokio_tungstenite::connect_async_with_config(
        request,
        Some(crate::server::ws_config()),
        true,
    )
    .await
    {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            Err(ConnectError::Refused(resp.status().as_u16()))
        }
        Err(e) => Err(ConnectError::Unreachable(e.to_string())),
    }
}

/// Transcription of the caller's side, for the live transcript.
const TRANSCRIBE_MODEL: &str = "gpt-4o-mini-transcribe";

/// The `session.update` for an agent: µ-law both ways (Twilio's format, so audio is
/// never transcoded), server VAD that interrupts and responds on its own, caller
/// transcription, and the agent's tools plus the built-ins.
pub fn session_update(agent: &Agent) -> String {
    let mut tools = vec![Tool::Function(FunctionTool {
        name: END_CALL.into(),
        description: Some(
            "End the phone call once the conversation is over and the caller has nothing \
             more to ask. Say nothing else after calling it; a goodbye is played."
                .into(),
        ),
        parameters: Some(serde_json::json!({"type": "object", "properties": {}})),
    })];
    for spec in &agent.tools {
        let name = match spec.kind {
            ToolKind::EndCall => continue,
            ToolKind::TransferCall { .. } => TRANSFER_CALL.to_owned(),
            ToolKind::Webhook { .. } => spec.name.clone(),
        };
        tools.push(Tool::Function(FunctionTool {
            name,
            description: Some(spec.description.clone()),
            parameters: Some(spec.parameters.clone()),
        }));
    }
    let mut session = Session::realtime();
    session.model = Some(agent.model.clone());
    session.instructions = Some(agent.instructions.clone());
    session.audio = Some(AudioConfig {
        input: Some(AudioInput {
            format: Some(AudioFormat::Pcmu),
            transcription: Some(Some(Transcription {
                model: Some(TRANSCRIBE_MODEL.into()),
                ..Default::default()
            })),
            turn_detection: Some(Some(TurnDetection::ServerVad(ServerVad {
                create_response: Some(true),
                interrupt_response: Some(true),
                ..Default::default()
            }))),
            ..Default::default()
        }),
        output: Some(AudioOutput {
            format: Some(AudioFormat::Pcmu),
            voice: Some(agent.voice.as_str().into()),
            ..Default::default()
        }),
    });
    session.tools = Some(tools);
    to_json(&ClientEvent::session_update(session))
}

/// Forwards one Twilio payload (base64 µ-law) as is.
pub fn append_audio(payload: &str) -> String {
    to_json(&ClientEvent::append(payload))
}

pub fn command(cmd: ProviderCommand) -> String {
    let event = match cmd {
        ProviderCommand::Truncate {
            item_id,
            audio_end_ms,
        } => ClientEvent::truncate(item_id, audio_end_ms),
        ProviderCommand::SystemNote(text) => ClientEvent::item_create(Item::system_text(text)),
        ProviderCommand::FunctionOutput { call_id, output } => {
            ClientEvent::item_create(Item::function_call_output(call_id, output))
        }
        ProviderCommand::CreateResponse { instructions } => {
            ClientEvent::response_create(instructions.map(|instructions| ResponseConfig {
                instructions: Some(instructions),
                ..Default::default()
            }))
        }
    };
    to_json(&event)
}

fn to_json(event: &ClientEvent<'_>) -> String {
    // Our own events always serialize; an empty frame would be dropped by the provider.
    event.to_json().unwrap_or_default()
}

/// Maps everything but audio deltas (which the loop handles without this detour).
pub fn event(ev: ServerEvent<'_>) -> ProviderEvent {
    match ev {
        ServerEvent::SessionUpdated(_) => ProviderEvent::Ready,
        ServerEvent::InputAudioBufferSpeechStarted(_) => ProviderEvent::SpeechStarted,
        ServerEvent::InputAudioBufferSpeechStopped(_) => ProviderEvent::SpeechStopped,
        ServerEvent::ResponseCreated(r) => ProviderEvent::ResponseStarted {
            response_id: r.response.id.unwrap_or_default(),
        },
        ServerEvent::ResponseDone(r) => ProviderEvent::ResponseDone {
            response_id: r.response.id.unwrap_or_default(),
            status: match r.response.status {
                Some(ResponseStatus::Completed) => "completed",
                Some(ResponseStatus::Cancelled) => "cancelled",
                Some(ResponseStatus::Failed) => "failed",
                Some(ResponseStatus::Incomplete) => "incomplete",
                _ => "unknown",
            }
            .into(),
        },
        ServerEvent::ResponseOutputAudioDone(d) => ProviderEvent::AudioDone {
            response_id: d.response_id,
        },
        ServerEvent::InputAudioTranscriptionCompleted(t) => ProviderEvent::CallerTranscript {
            item_id: t.item_id,
            text: t.transcript,
        },
        ServerEvent::ResponseOutputAudioTranscriptDone(t) => ProviderEvent::AgentTranscript {
            item_id: t.item_id,
            text: t.transcript,
        },
        ServerEvent::ResponseFunctionCallArgumentsDone(f) => ProviderEvent::FunctionCall {
            call_id: f.call_id,
            name: f.name,
            arguments: f.arguments,
        },
        ServerEvent::Error(e) => ProviderEvent::Error {
            code: e.error.code,
            message: e.error.message,
        },
        _ => ProviderEvent::Other,
    }
}
