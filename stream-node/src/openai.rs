//! The OpenAI Realtime adapter: session configuration from an agent, commands to wire
//! events, wire events to [`ProviderEvent`]s, and the connection itself.

use hotline_core::model::Agent;
use hotline_realtime::openai::{
    AudioConfig, AudioFormat, AudioInput, AudioOutput, ClientEvent, FunctionTool, Item,
    ResponseConfig, ResponseStatus, ServerEvent, ServerVad, Session, SessionUpdate, Tool,
    Transcription, TurnDetection, realtime_url,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{debug, warn};

use crate::call::state::END_CALL;
use crate::provider::{
    AgentAudio, Capabilities, Frame, Incoming, ProviderCommand, ProviderEvent, ProviderGone,
    ProviderSession,
};

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
    open_socket(
        url,
        "authorization",
        &format!("Bearer {}", api_key.expose_secret()),
    )
    .await
}

/// Opens a provider's WebSocket at `url`, its credential in the `header` (never in the
/// URL, which may be logged), over a socket from [`open_tcp`]: what every provider does
/// once it has built its URL. A refusal keeps its HTTP status, for the apology's reason.
pub(crate) async fn open_socket(
    url: String,
    header: &'static str,
    credential: &str,
) -> Result<ProviderSocket, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Url(e.to_string()))?;
    let value = HeaderValue::from_str(credential)
        .map_err(|_| ConnectError::Url("API key is not a valid header value".into()))?;
    request.headers_mut().insert(header, value);
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or_else(|| ConnectError::Url("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let tcp = open_tcp(&host, port)
        .await
        .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
    match tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(ws_config()), None)
        .await
    {
        Ok((socket, _)) => Ok(socket),
        Err(WsError::Http(resp)) => Err(ConnectError::Refused(resp.status().as_u16())),
        Err(e) => Err(ConnectError::Unreachable(e.to_string())),
    }
}

/// The kernel's send buffer for the AI socket. Left alone, Linux grows it to 4 MiB: a
/// provider that stopped reading would swallow minutes of caller audio before a write
/// blocked (and the send timeout could see it), and thousands of stalled calls could pin
/// gigabytes. Caller audio is about 13 KB/s, so this is seconds of slack.
const SEND_BUFFER: u32 = 64 * 1024;

/// Connects to the first address of `host` that answers, with [`SEND_BUFFER`] and
/// Nagle off (events are small and latency matters).
pub(crate) async fn open_tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_send_buffer_size(SEND_BUFFER)?;
        match socket.connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other(format!("{host} has no address"))))
}

/// This socket's own limits, not Twilio's: `session.updated` echoes the whole prompt and
/// tools, so an agent with a long prompt gets a long message back, and our
/// `session.update` is as long. The read buffer stays small: audio deltas are a few KiB.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_write_buffer_size(MAX_MESSAGE)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// The largest message either way: room for a prompt and tools of a few MiB.
const MAX_MESSAGE: usize = 8 * 1024 * 1024;

/// The `event_id` of our `session.update`: an `error` that names it is the provider
/// refusing the agent's configuration.
pub const SESSION_UPDATE_ID: &str = "hotline_session_update";

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
    for (name, spec) in crate::provider::declared_tools(agent) {
        tools.push(Tool::Function(FunctionTool {
            name: name.to_owned(),
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
    to_json(&ClientEvent::SessionUpdate(Box::new(SessionUpdate {
        event_id: Some(SESSION_UPDATE_ID.into()),
        session,
    })))
}

/// How the provider answered our `session.update`, if this event is the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Configured {
    Accepted,
    /// Refused: the provider's code, parameter and message (never audio or transcript).
    Rejected(String),
}

/// Whether `ev` answers our `session.update`: `session.updated`, or an `error` that
/// carries its `event_id`.
pub fn configured(ev: &ServerEvent<'_>) -> Option<Configured> {
    match ev {
        ServerEvent::SessionUpdated(_) => Some(Configured::Accepted),
        ServerEvent::Error(e) if e.error.event_id.as_deref() == Some(SESSION_UPDATE_ID) => {
            let code = e.error.code.as_deref().unwrap_or(&e.error.kind);
            let param = e
                .error
                .param
                .as_deref()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default();
            Some(Configured::Rejected(format!(
                "session.update rejected: {code}{param}: {}",
                e.error.message
            )))
        }
        _ => None,
    }
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

/// What can still be read from an event that did not parse (a new field shape, say):
/// the ends and starts of responses, which the call must not miss or it would wait
/// forever for a response that is over. Anything else is left for the caller to skip.
pub fn salvage(text: &str) -> Option<ProviderEvent> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let response = &value["response"];
    let response_id = response["id"].as_str().unwrap_or_default().to_owned();
    match value["type"].as_str()? {
        "response.done" => Some(ProviderEvent::ResponseDone {
            response_id,
            status: response["status"].as_str().unwrap_or("unknown").to_owned(),
        }),
        "response.created" => Some(ProviderEvent::ResponseStarted { response_id }),
        _ => None,
    }
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

/// OpenAI Realtime: server VAD with speech events, truncation, transcripts; µ-law both
/// ways, so audio crosses the bridge as the same base64 text.
pub const CAPABILITIES: Capabilities = Capabilities::FULL;

/// A configured OpenAI Realtime session.
pub struct OpenAiSession {
    ws: ProviderSocket,
}

impl OpenAiSession {
    /// Connects, configures the session for `agent` and waits until it is accepted.
    pub async fn open(
        base_url: &str,
        api_key: &SecretString,
        agent: &Agent,
    ) -> Result<Self, String> {
        let mut ws = connect(base_url, api_key, &agent.model)
            .await
            .map_err(|e| e.to_string())?;
        ws.send(Message::text(session_update(agent)))
            .await
            .map_err(|e| format!("session setup: {e}"))?;
        wait_configured(&mut ws).await?;
        Ok(Self { ws })
    }
}

impl ProviderSession for OpenAiSession {
    const FEEDS_AUDIO: bool = true;

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn send_audio(&mut self, payload: &str) -> Result<(), WsError> {
        self.ws.send(Message::text(append_audio(payload))).await
    }

    async fn feed_audio(&mut self, payload: &str) -> Result<(), WsError> {
        self.ws.feed(Message::text(append_audio(payload))).await
    }

    async fn flush(&mut self) -> Result<(), WsError> {
        self.ws.flush().await
    }

    async fn send(&mut self, cmd: ProviderCommand) -> Result<(), WsError> {
        self.ws.send(Message::text(command(cmd))).await
    }

    async fn next_frame(&mut self) -> Result<Frame, ProviderGone> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(Frame::Text(t)),
                Some(Ok(Message::Close(frame))) => {
                    return Err(ProviderGone(frame.map_or_else(
                        || "provider closed".into(),
                        |f| format!("provider closed: {} {}", f.code, f.reason),
                    )));
                }
                None => return Err(ProviderGone("provider socket ended".into())),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(ProviderGone(e.to_string())),
            }
        }
    }

    fn read<'f>(&mut self, frame: &'f Frame) -> Incoming<'f> {
        let Frame::Text(text) = frame else {
            return Incoming::Nothing;
        };
        let text = text.as_str();
        match ServerEvent::parse(text) {
            Ok(ServerEvent::ResponseOutputAudioDelta(delta)) => Incoming::Audio(AgentAudio {
                response_id: delta.response_id,
                item_id: delta.item_id,
                payload: delta.delta.into_base64(),
            }),
            Ok(other) => match event(other) {
                ProviderEvent::Other => Incoming::Nothing,
                event => Incoming::Event(event),
            },
            Err(e) => match salvage(text) {
                // Read what matters from it rather than wait for a response that is
                // already over.
                Some(event) => {
                    warn!(kind = ?e.classify(), column = e.column(), "provider event read leniently");
                    Incoming::Event(event)
                }
                None => {
                    debug!(kind = ?e.classify(), column = e.column(), "unparsable provider event ignored");
                    Incoming::Nothing
                }
            },
        }
    }

    fn pending(&mut self) -> Option<Incoming<'static>> {
        None
    }

    async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Waits for the provider's answer to our `session.update`; other events (there is
/// `session.created`) are skipped.
async fn wait_configured(ai: &mut ProviderSocket) -> Result<(), String> {
    loop {
        let text = match ai.next().await {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map_or_else(
                    || "provider closed during setup".into(),
                    |f| format!("provider closed during setup: {} {}", f.code, f.reason),
                ));
            }
            None => return Err("provider socket ended during setup".into()),
            Some(Err(e)) => return Err(format!("session setup: {e}")),
            Some(Ok(_)) => continue,
        };
        let Ok(event) = ServerEvent::parse(&text) else {
            continue;
        };
        match configured(&event) {
            Some(Configured::Accepted) => return Ok(()),
            Some(Configured::Rejected(why)) => {
                warn!(reason = %why, "the provider refused the agent's configuration");
                return Err(why);
            }
            None => {
                if let ServerEvent::Error(e) = &event {
                    warn!(code = ?e.error.code, message = %e.error.message, "provider error during setup");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use hotline_core::model::{CallLimits, Provider};
    use hotline_core::{AgentId, OrgId};

    use super::*;

    fn agent() -> Agent {
        Agent {
            org: OrgId::parse("acme").expect("org"),
            id: AgentId::parse("front-desk").expect("agent"),
            name: "Front desk".into(),
            instructions: "You answer the phone.".into(),
            voice: "marin".into(),
            greeting: None,
            voicemail_message: None,
            enabled: true,
            provider: Provider::OpenaiRealtime,
            model: "gpt-realtime".into(),
            tools: Vec::new(),
            analyzers: Vec::new(),
            limits: CallLimits::default(),
            fallback: None,
            pipeline: None,
            version: 0,
        }
    }

    /// The call loop's batching rests on this: fed audio stays in the socket's buffer
    /// until the flush, then all of it arrives, in order.
    #[tokio::test]
    async fn fed_audio_waits_for_the_flush_then_arrives_whole() {
        use hotline_sim::realtime::{RealtimeSim, Script};

        let sim = RealtimeSim::start(Script::default()).await.expect("sim");
        let key = SecretString::from("sk-test".to_owned());
        let mut session = OpenAiSession::open(sim.base_url(), &key, &agent())
            .await
            .expect("session");
        let frame = BASE64.encode([0xffu8; 160]);
        for _ in 0..3 {
            session.feed_audio(&frame).await.expect("feed");
        }
        // Long enough for a written frame to reach the simulator many times over.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let appended = || sim.session(0).expect("session log").appended_ms();
        assert_eq!(appended(), 0, "nothing is written before the flush");

        session.flush().await.expect("flush");
        session.send_audio(&frame).await.expect("send");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while appended() < 80 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(appended(), 80, "three fed frames and one sent, 20 ms each");
    }

    #[test]
    fn the_session_update_carries_the_id_a_refusal_names() {
        let json = session_update(&agent());
        let Ok(ClientEvent::SessionUpdate(update)) = ClientEvent::parse(&json) else {
            panic!("a session.update: {json}");
        };
        assert_eq!(update.event_id.as_deref(), Some(SESSION_UPDATE_ID));
    }

    #[test]
    fn only_an_error_naming_our_session_update_is_a_refusal() {
        let refused = format!(
            r#"{{"type":"error","event_id":"event_1","error":{{"type":"invalid_request_error","code":"invalid_value","message":"Invalid value: 'robot'.","param":"session.audio.output.voice","event_id":"{SESSION_UPDATE_ID}"}}}}"#
        );
        let event = ServerEvent::parse(&refused).expect("error parses");
        assert_eq!(
            configured(&event),
            Some(Configured::Rejected(
                "session.update rejected: invalid_value at session.audio.output.voice: \
                 Invalid value: 'robot'."
                    .into()
            ))
        );
        let other = refused.replace(SESSION_UPDATE_ID, "evt_other");
        let event = ServerEvent::parse(&other).expect("error parses");
        assert_eq!(configured(&event), None);
        let updated = r#"{"type":"session.updated","event_id":"e","session":{"type":"realtime"}}"#;
        let event = ServerEvent::parse(updated).expect("session.updated parses");
        assert_eq!(configured(&event), Some(Configured::Accepted));
    }

    #[test]
    fn a_response_done_that_does_not_parse_is_still_read_as_the_end_of_its_response() {
        let garbled = r#"{"type":"response.done","event_id":"e","response":{"id":"resp_1","status":"completed","status_details":"see status"}}"#;
        assert!(ServerEvent::parse(garbled).is_err());
        assert_eq!(
            salvage(garbled),
            Some(ProviderEvent::ResponseDone {
                response_id: "resp_1".into(),
                status: "completed".into(),
            })
        );
        let created = r#"{"type":"response.created","response":{"id":"resp_2","status":7}}"#;
        assert_eq!(
            salvage(created),
            Some(ProviderEvent::ResponseStarted {
                response_id: "resp_2".into()
            })
        );
        assert_eq!(
            salvage(r#"{"type":"response.output_audio.delta","delta":1}"#),
            None
        );
        assert_eq!(salvage("not json"), None);
    }

    #[test]
    fn the_ai_socket_takes_messages_far_beyond_twilios_limit() {
        let config = ws_config();
        assert!(config.max_message_size.is_some_and(|m| m >= 1024 * 1024));
        assert!(config.max_write_buffer_size >= 1024 * 1024);
    }
}
