//! The pipeline's speech-to-text socket, whichever vendor hears the caller (Deepgram
//! or ElevenLabs): opened when the call starts, fed the caller's audio, read for the
//! caller's turns, and opened again when it drops mid-call, so a transcription service
//! that goes away for a moment does not end the call.
//!
//! Reconnection is bounded: [`MAX_ATTEMPTS`] tries in a row with a doubling backoff
//! from [`BACKOFF`], [`MAX_RECONNECTS`] in one call; a refusal that another try cannot
//! mend (401, 403, 404) ends it at once. Meanwhile the caller's audio is held (the last
//! [`MAX_HELD`] frames) and sent when the new socket opens, so what the caller said in
//! the gap is still heard. Every wait is a state of [`Stt`], so [`Stt::next`] stays
//! cancel-safe in the call loop's `select!`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hotline_core::model::{SttSpec, SttVendor};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

use super::deepgram::{self, Heard};
use super::scribe;
use crate::openai::{ConnectError, ProviderSocket, open_socket};
use crate::provider::ProviderGone;

/// Connection attempts in a row before the call gives up on the service.
pub const MAX_ATTEMPTS: u32 = 4;
/// The first retry's wait; each further one doubles it (0.2, 0.4, 0.8 s).
pub const BACKOFF: Duration = Duration::from_millis(200);
/// Reconnections one call may make: a service that drops every few seconds is down.
pub const MAX_RECONNECTS: u32 = 10;
/// Caller audio held while reconnecting: 5 s of 20 ms frames, then the oldest go.
pub const MAX_HELD: usize = 250;

type Connecting = Pin<Box<dyn Future<Output = Result<ProviderSocket, ConnectError>> + Send>>;

enum State {
    Open(Box<ProviderSocket>),
    /// Waiting before the next attempt.
    Backoff(Instant),
    Connecting(Connecting),
    Closed,
}

/// The vendor's way of hearing the caller.
enum Turns {
    Deepgram(deepgram::Turns),
    Elevenlabs(scribe::Turns),
}

/// What [`Stt::next`] saw.
pub enum SttEvent {
    /// The caller's speech as the service heard it.
    Heard(Vec<Heard>),
    /// The socket went away or came back; the call goes on.
    Nothing,
}

pub struct Stt {
    url: String,
    header: &'static str,
    credential: SecretString,
    state: State,
    turns: Turns,
    /// Failed attempts in a row.
    attempts: u32,
    /// Reconnections this call.
    reconnects: u32,
    held: VecDeque<Message>,
}

impl Stt {
    /// Opens the socket for `spec` with the vendor's base URL and key.
    pub async fn open(
        spec: &SttSpec,
        base_url: &str,
        api_key: &SecretString,
    ) -> Result<Self, String> {
        let (name, url, header, credential, turns) = match spec.vendor {
            SttVendor::Deepgram => (
                "Deepgram",
                deepgram::listen_url(base_url, spec)?,
                "authorization",
                format!("Token {}", api_key.expose_secret()),
                Turns::Deepgram(deepgram::Turns::default()),
            ),
            SttVendor::Elevenlabs => (
                "ElevenLabs speech-to-text",
                scribe::realtime_url(base_url, spec)?,
                "xi-api-key",
                api_key.expose_secret().to_owned(),
                Turns::Elevenlabs(scribe::Turns::default()),
            ),
        };
        let socket = open_socket(url.clone(), header, &credential)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(Self {
            url,
            header,
            credential: credential.into(),
            state: State::Open(Box::new(socket)),
            turns,
            attempts: 0,
            reconnects: 0,
            held: VecDeque::new(),
        })
    }

    /// Words are waiting for the end of the caller's turn.
    pub fn pending(&self) -> bool {
        match &self.turns {
            Turns::Deepgram(t) => t.pending(),
            Turns::Elevenlabs(t) => t.pending(),
        }
    }

    /// How many times the socket was opened again this call.
    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    /// Sends one frame of the caller's audio: `payload` is Twilio's base64, `audio`
    /// the same decoded. A send that fails starts a reconnection instead of failing
    /// the call.
    pub async fn send_audio(&mut self, payload: &str, audio: Vec<u8>) {
        let message = match self.turns {
            Turns::Deepgram(_) => Message::binary(audio),
            Turns::Elevenlabs(_) => Message::text(scribe::audio_chunk(payload)),
        };
        self.send(message).await;
    }

    /// Keeps an idle socket open (the call loop sent no audio for a while).
    pub async fn keep_alive(&mut self) {
        let message = match self.turns {
            Turns::Deepgram(_) => Message::text(r#"{"type":"KeepAlive"}"#),
            Turns::Elevenlabs(_) => Message::text(scribe::keep_alive()),
        };
        // Held audio is sent on reconnection anyway: a keep-alive is only for an open socket.
        if matches!(self.state, State::Open(_)) {
            self.send(message).await;
        }
    }

    async fn send(&mut self, message: Message) {
        match &mut self.state {
            State::Open(socket) => {
                if let Err(e) = socket.send(message.clone()).await {
                    self.hold(message);
                    self.lost(&format!("send failed: {e}"));
                }
            }
            State::Backoff(_) | State::Connecting(_) => self.hold(message),
            State::Closed => {}
        }
    }

    fn hold(&mut self, message: Message) {
        if self.held.len() == MAX_HELD {
            self.held.pop_front();
        }
        self.held.push_back(message);
    }

    /// The socket is gone: try again after the backoff (the limits are checked when
    /// the attempt fails or succeeds).
    fn lost(&mut self, why: &str) {
        if matches!(self.state, State::Closed) {
            return;
        }
        warn!(
            why,
            reconnects = self.reconnects,
            "speech-to-text socket lost; reconnecting"
        );
        self.state = State::Backoff(Instant::now());
    }

    fn backoff(&self) -> Duration {
        BACKOFF * 2u32.saturating_pow(self.attempts.saturating_sub(1))
    }

    /// The next thing the service said. Cancel-safe: every wait is kept in `self`.
    pub async fn next(&mut self) -> Result<SttEvent, ProviderGone> {
        match &mut self.state {
            State::Open(socket) => match socket.next().await {
                Some(Ok(Message::Text(text))) => Ok(SttEvent::Heard(self.read(text.as_str()))),
                Some(Ok(Message::Close(frame))) => {
                    let why =
                        frame.map_or_else(String::new, |f| format!("{} {}", f.code, f.reason));
                    self.lost(&format!("closed: {why}"));
                    Ok(SttEvent::Nothing)
                }
                Some(Ok(_)) => Ok(SttEvent::Nothing),
                None => {
                    self.lost("ended");
                    Ok(SttEvent::Nothing)
                }
                Some(Err(e)) => {
                    self.lost(&format!("failed: {e}"));
                    Ok(SttEvent::Nothing)
                }
            },
            State::Backoff(at) => {
                tokio::time::sleep_until(*at).await;
                if self.reconnects >= MAX_RECONNECTS {
                    self.state = State::Closed;
                    return Err(ProviderGone(format!(
                        "the speech-to-text socket dropped {MAX_RECONNECTS} times"
                    )));
                }
                let url = self.url.clone();
                let header = self.header;
                let credential = self.credential.clone();
                self.state = State::Connecting(Box::pin(async move {
                    open_socket(url, header, credential.expose_secret()).await
                }));
                Ok(SttEvent::Nothing)
            }
            State::Connecting(connecting) => match connecting.as_mut().await {
                Ok(socket) => {
                    self.attempts = 0;
                    self.reconnects += 1;
                    info!(
                        reconnects = self.reconnects,
                        held = self.held.len(),
                        "speech-to-text socket reopened"
                    );
                    self.state = State::Open(Box::new(socket));
                    while let Some(message) = self.held.pop_front() {
                        if let State::Open(socket) = &mut self.state
                            && let Err(e) = socket.feed(message).await
                        {
                            self.lost(&format!("send failed: {e}"));
                            return Ok(SttEvent::Nothing);
                        }
                    }
                    if let State::Open(socket) = &mut self.state
                        && let Err(e) = socket.flush().await
                    {
                        self.lost(&format!("send failed: {e}"));
                    }
                    Ok(SttEvent::Nothing)
                }
                Err(e) => {
                    self.attempts += 1;
                    let hopeless = matches!(
                        e,
                        ConnectError::Refused(401 | 403 | 404) | ConnectError::Url(_)
                    );
                    if hopeless || self.attempts >= MAX_ATTEMPTS {
                        self.state = State::Closed;
                        return Err(ProviderGone(format!(
                            "the speech-to-text socket dropped and could not be reopened: {e}"
                        )));
                    }
                    debug!(attempt = self.attempts, error = %e, "speech-to-text reconnection failed");
                    self.state = State::Backoff(Instant::now() + self.backoff());
                    Ok(SttEvent::Nothing)
                }
            },
            State::Closed => std::future::pending().await,
        }
    }

    /// What a text message means for the conversation.
    fn read(&mut self, text: &str) -> Vec<Heard> {
        let mut heard = Vec::new();
        match &mut self.turns {
            Turns::Deepgram(turns) => match serde_json::from_str::<deepgram::ServerMessage>(text) {
                Ok(message) => {
                    if let deepgram::ServerMessage::Error { description } = &message {
                        warn!(
                            description = description.as_deref().unwrap_or(""),
                            "Deepgram error"
                        );
                    }
                    turns.on(message, &mut heard);
                }
                Err(e) => debug!(column = e.column(), "unparsable Deepgram message ignored"),
            },
            Turns::Elevenlabs(turns) => match serde_json::from_str::<scribe::ServerMessage>(text) {
                Ok(message) => {
                    if let Some(kind) = message.error_kind() {
                        warn!(kind, "ElevenLabs speech-to-text error");
                    }
                    turns.on(message, &mut heard);
                }
                Err(e) => debug!(column = e.column(), "unparsable ElevenLabs message ignored"),
            },
        }
        heard
    }

    /// Ends the session (best effort): Deepgram is asked to close its stream first.
    pub async fn close(&mut self) {
        let state = std::mem::replace(&mut self.state, State::Closed);
        if let State::Open(mut socket) = state {
            if matches!(self.turns, Turns::Deepgram(_)) {
                let _ = socket
                    .send(Message::text(r#"{"type":"CloseStream"}"#))
                    .await;
            }
            let _ = ProviderSocket::close(&mut socket, None).await;
        }
    }
}
