//! The loop of one call. It owns both sockets, feeds every input to [`CallState`] and
//! carries out the actions; every way a call can end goes through [`Call::finish`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use hotline_core::model::{
    Agent, Call as CallRecord, CallStatus, EndReason, Latency, Organization, Outcome, Provider,
    ToolKind,
};
use hotline_core::ports::{Calls, Directory, StoreError, modify_call};
use hotline_core::{CallSid, OrgId};
use hotline_twilio::VoiceResponse;
use hotline_twilio::media::{self, Inbound};
use hotline_twilio::rest::{CallUpdate, RestError, TwilioClient};
use opentelemetry::KeyValue;
use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::playback::mark_name;
use super::state::{Action, CallState, Chunk, Input, TOOL_FILLER_AFTER_MS};
use crate::gemini::{GeminiConfig, GeminiSession};
use crate::openai::OpenAiSession;
use crate::pipeline::{PipelineConfig, PipelineSession};
use crate::provider::{Incoming, ProviderEvent, ProviderSession};
use crate::telemetry;
use crate::tools::{self, WebhookTool};

/// What every call needs, shared by all of them.
#[derive(Clone)]
pub struct CallContext {
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    pub twilio: TwilioClient,
    pub openai_base_url: String,
    pub openai_api_key: SecretString,
    /// Gemini Live's endpoint and key, for agents with `provider: gemini_live`.
    pub gemini: GeminiConfig,
    /// Deepgram's, ElevenLabs' and the LLM's, for agents with `provider: pipeline`.
    pub pipeline: PipelineConfig,
    pub start_timeout: Duration,
    /// Webhook tools may use `http` and private addresses (`hotline up` only).
    pub webhook_allow_private: bool,
    /// Cancelled when the node stops for good: calls finish with `Shutdown`.
    pub shutdown: CancellationToken,
    /// Where the caller's earlier calls and texts are read from; `None` starts every
    /// call with the agent's own instructions.
    pub memory: Option<crate::memory::Memory>,
    /// Where the `opt_out` tool writes; `None` answers the model it is not available.
    pub opt_out: Option<crate::opt_out_tool::OptOutPorts>,
    /// Sessions the voice webhook asked this node to open before their calls' streams.
    pub prewarmed: Arc<super::prewarm::Prewarmed>,
    /// Where a warm transfer's webhooks point; `None` makes warm transfers cold.
    pub transfer: Option<crate::transfer::TransferConfig>,
}

impl CallContext {
    /// Everything a call needs, from the node's configuration and the store.
    pub fn new(
        config: &crate::config::NodeConfig,
        directory: Arc<dyn Directory>,
        calls: Arc<dyn Calls>,
    ) -> Self {
        Self {
            directory,
            calls,
            twilio: TwilioClient::new(&config.twilio_api_base_url, reqwest::Client::new()),
            openai_base_url: config.openai_base_url.clone(),
            openai_api_key: config.openai_api_key.clone(),
            gemini: GeminiConfig {
                base_url: config.gemini_base_url.clone(),
                api_key: config.gemini_api_key.clone(),
            },
            pipeline: PipelineConfig {
                deepgram_base_url: config.deepgram_base_url.clone(),
                deepgram_api_key: config.deepgram_api_key.clone(),
                elevenlabs_base_url: config.elevenlabs_base_url.clone(),
                elevenlabs_api_key: config.elevenlabs_api_key.clone(),
                llm_base_url: config.llm_base_url.clone(),
                llm_api_key: config.llm_api_key.clone(),
                openai_speech_base_url: config.openai_speech_base_url.clone(),
                openai_speech_api_key: config.openai_speech_api_key.clone(),
            },
            start_timeout: config.start_timeout,
            webhook_allow_private: config.webhook_allow_private,
            shutdown: CancellationToken::new(),
            memory: None,
            opt_out: None,
            prewarmed: Arc::default(),
            transfer: config.webhook_url.clone().map(|webhook_base| {
                crate::transfer::TransferConfig {
                    webhook_base,
                    stream_base: config
                        .node_url
                        .clone()
                        .unwrap_or_else(|| config.public_url.clone()),
                }
            }),
        }
    }
}

/// Audio buffered while the AI connects: 10 s, after which the oldest frames go.
const MAX_EARLY_FRAMES: usize = 500;
/// How long the AI may take to accept the connection and the agent's configuration.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write to either socket may take. Frames are small and both peers read
/// continuously, so a write that cannot finish in this time means the peer stopped
/// reading (TCP buffers full): the call ends rather than freezing.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Audio frames a socket may hold unwritten while more input is ready: the loop writes
/// them out once it has nothing else to do, and at the latest after this many, so a
/// backlog costs one write per batch instead of one per frame, and never holds audio
/// longer than it takes to handle this many messages.
const MAX_UNFLUSHED: u8 = 8;
/// Malformed Twilio frames a call skips before it takes the stream for broken.
const MAX_MALFORMED: u32 = 50;
/// Flood guard: a burst of this many messages, refilled at this many per second.
/// Twilio sends 50 media frames a second plus a mark echo per agent chunk (up to 50
/// more) and the odd DTMF; the allowance is 2.5 times that, and the burst covers a
/// 10 s stall of this task (a busy core) without mistaking the backlog for a flood.
const FLOOD_BURST: f64 = 1000.0;
const FLOOD_RATE: f64 = 250.0;

const APOLOGY: &str = "Sorry, we are having technical difficulties and cannot continue this call. Please call back later. Goodbye.";
const TRANSFERRING: &str = "Please hold while I transfer your call.";

/// Runs one call from the upgraded socket to its final record. `org` is the
/// organization whose token signed the upgrade.
pub async fn run_call<S>(ctx: &CallContext, ws: WebSocketStream<S>, org: OrgId)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let span = info_span!(
        "call",
        org = %org,
        call_sid = tracing::field::Empty,
        stream_sid = tracing::field::Empty
    );
    run(ctx, ws, org).instrument(span).await;
}

async fn run<S>(ctx: &CallContext, mut ws: WebSocketStream<S>, org_id: OrgId)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let start = match wait_for_start(ctx, &mut ws).await {
        Ok(start) => start,
        Err(why) => {
            info!(reason = why, "stream closed before the call began");
            close(&mut ws, CloseCode::Policy, why).await;
            return;
        }
    };
    let span = tracing::Span::current();
    span.record("call_sid", start.call_sid.as_str());
    span.record("stream_sid", start.stream_sid.as_str());
    let (org, record, agent) = match admit(ctx, &org_id, &start).await {
        Ok(found) => found,
        Err(why) => {
            warn!(reason = why, "stream refused at start");
            close(&mut ws, CloseCode::Policy, why).await;
            return;
        }
    };
    let back = crate::transfer::returning(ctx, &record).await;
    let mut agent = prepare_agent(ctx, &record, agent).await;
    if let Some(back) = &back {
        agent.instructions = crate::transfer::remind(&agent.instructions, back);
    }
    let tool_sender = tools::Sender {
        secret: org.settings.report_webhook_secret.clone(),
        allow_private: ctx.webhook_allow_private,
    };
    let mut call = Call {
        ctx,
        org,
        record,
        transfer_to: agent.tools.iter().find_map(|t| match &t.kind {
            ToolKind::TransferCall { to, .. } => Some(to.clone()),
            _ => None,
        }),
        warm: crate::transfer::WarmTarget::of(&agent.tools).filter(|_| {
            let configured = ctx.transfer.is_some();
            if !configured {
                warn!("warm transfer without HOTLINE_PUBLIC_URL: it will be cold");
            }
            configured
        }),
        back,
        handed_over: false,
        stream_sid: start.stream_sid,
        started: Instant::now(),
        frames_in: 0,
        frames_out: 0,
        twilio_unflushed: Unflushed::default(),
        side: FuturesUnordered::new(),
        tools: FuturesUnordered::new(),
        webhook_tools: WebhookTool::of(&agent.tools),
        sms_tools: crate::sms_tool::names(&agent.tools),
        dtmf_tools: crate::dtmf_tool::names(&agent.tools),
        opt_out_tools: crate::opt_out_tool::names(&agent.tools),
        tool_sender,
        carrier: None,
        connect_ms: None,
        prewarmed: false,
        latency: None,
    };
    call.mark_answered();
    call.converse(ws, &agent).await;
}

/// The agent as this call runs it: a dialled call's instructions, the caller's history.
pub(super) async fn prepare_agent(
    ctx: &CallContext,
    record: &CallRecord,
    mut agent: Agent,
) -> Agent {
    if let Some(outbound) = &record.outbound {
        // A dialled call's instructions were rendered from its variables when it was
        // placed; the agent's own are the template.
        agent.instructions.clone_from(&outbound.instructions);
    }
    match &ctx.memory {
        Some(memory) => memory.recall(ctx.calls.as_ref(), record, agent).await,
        None => agent,
    }
}

/// A provider session, connected and configured: the one place providers are named.
/// Boxed, as sessions are large and differ in size; the bridge moves each out into a
/// future of its own type.
pub(super) enum Opened {
    OpenAi(Box<OpenAiSession>),
    Gemini(Box<GeminiSession>),
    Pipeline(Box<PipelineSession>),
}

type Opening<'a> = Pin<Box<dyn Future<Output = Result<Opened, String>> + Send + 'a>>;

/// Connects `agent.provider` and configures it for `agent`, in a `provider.connect` span.
pub(super) fn open<'a>(ctx: &'a CallContext, agent: &'a Agent) -> Opening<'a> {
    let span = info_span!("provider.connect", provider = ?agent.provider);
    Box::pin(open_provider(ctx, agent).instrument(span))
}

fn open_provider<'a>(ctx: &'a CallContext, agent: &'a Agent) -> Opening<'a> {
    match agent.provider {
        Provider::GeminiLive => Box::pin(async move {
            let session = GeminiSession::open(ctx.gemini.clone(), agent).await?;
            Ok(Opened::Gemini(Box::new(session)))
        }),
        Provider::Pipeline => Box::pin(async move {
            let session = PipelineSession::open(ctx.pipeline.clone(), agent).await?;
            Ok(Opened::Pipeline(Box::new(session)))
        }),
        Provider::OpenaiRealtime => Box::pin(async move {
            let session =
                OpenAiSession::open(&ctx.openai_base_url, &ctx.openai_api_key, agent).await?;
            Ok(Opened::OpenAi(Box::new(session)))
        }),
    }
}

impl<'c> Call<'c> {
    /// The session the voice webhook had this node open while the call connected (see
    /// [`super::prewarm`]), else a new one. A pre-warm that failed is the provider's
    /// failure at connect, as a cold start's would be (the agent's fallback is next);
    /// one stopped before it finished is tried again.
    fn open_or_take<'a>(&mut self, agent: &'a Agent) -> Opening<'a>
    where
        'c: 'a,
    {
        let ctx = self.ctx;
        let Some(opening) = ctx.prewarmed.take(&self.record.sid) else {
            return open(ctx, agent);
        };
        self.prewarmed = true;
        let span = info_span!("provider.connect", provider = ?agent.provider, prewarmed = true);
        Box::pin(
            async move {
                match opening.await {
                    Ok(opened) => opened,
                    Err(e) => {
                        info!(error = %e, "the pre-warm was stopped; connecting afresh");
                        open_provider(ctx, agent).await
                    }
                }
            }
            .instrument(span),
        )
    }

    /// Opens the AI session (the agent's fallback's when its own fails at connect),
    /// then bridges the call until it ends.
    async fn converse<S>(mut self, mut ws: WebSocketStream<S>, agent: &Agent)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if self
            .record
            .outbound
            .as_ref()
            .is_some_and(hotline_core::model::OutboundCall::awaits_verdict)
            && let Some(ended) = self.await_verdict(&mut ws).await
        {
            self.finish::<S, OpenAiSession>(ws, None, ended.reason, ended.detail)
                .await;
            return;
        }
        let mut early = Vec::new();
        // After any wait for an answering-machine verdict: that wait is not the provider's.
        let connecting = Instant::now();
        let mut carrier = agent.clone();
        let opening = self.open_or_take(agent);
        let mut connected = self.connect(&mut ws, opening, &mut early).await;
        if let Connected::Failed(detail) = &connected
            && let Some(fallback) = agent.on_fallback()
        {
            warn!(
                provider = ?agent.provider,
                fallback = ?fallback.provider,
                error = %detail,
                "the agent's provider failed at connect: its fallback carries the call"
            );
            let primary = detail.clone();
            connected = match self
                .connect(&mut ws, open(self.ctx, &fallback), &mut early)
                .await
            {
                Connected::Failed(second) => {
                    Connected::Failed(format!("{primary}; fallback: {second}"))
                }
                other => other,
            };
            carrier = fallback;
        }
        let opened = match connected {
            Connected::Yes(opened) => *opened,
            Connected::CallerLeft => {
                self.finish::<S, OpenAiSession>(ws, None, EndReason::CallerHungUp, None)
                    .await;
                return;
            }
            Connected::StreamBroken(detail) => {
                self.finish::<S, OpenAiSession>(ws, None, EndReason::StreamFailed, Some(detail))
                    .await;
                return;
            }
            Connected::Failed(detail) => {
                self.apologise().await;
                self.finish::<S, OpenAiSession>(ws, None, EndReason::ProviderFailed, Some(detail))
                    .await;
                return;
            }
        };
        self.carrier = Some(carrier.provider);
        let connect_ms = u32::try_from(connecting.elapsed().as_millis()).unwrap_or(u32::MAX);
        telemetry::instruments().provider_connect.record(
            u64::from(connect_ms),
            &[KeyValue::new("provider", format!("{:?}", carrier.provider))],
        );
        self.connect_ms = Some(connect_ms);
        match opened {
            Opened::OpenAi(ai) => self.bridge(ws, *ai, &carrier, early).await,
            // Boxed: a call's future is as large as its largest branch, and the OpenAI
            // passthrough calls must not carry Gemini's resamplers and reconnection.
            Opened::Gemini(ai) => Box::pin(self.bridge(ws, *ai, &carrier, early)).await,
            Opened::Pipeline(ai) => Box::pin(self.bridge(ws, *ai, &carrier, early)).await,
        }
    }
}

/// The fields of `start` a call needs.
struct Start {
    call_sid: CallSid,
    account_sid: String,
    stream_sid: String,
    token: Option<String>,
}

async fn wait_for_start<S>(
    ctx: &CallContext,
    ws: &mut WebSocketStream<S>,
) -> Result<Start, &'static str>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = tokio::time::sleep(ctx.start_timeout);
    tokio::pin!(deadline);
    loop {
        let msg = tokio::select! {
            () = &mut deadline => return Err("no start in time"),
            msg = ws.next() => msg,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | None => return Err("closed before start"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                debug!(error = %e, "socket error before start");
                return Err("socket error before start");
            }
        };
        match media::parse_inbound(&text) {
            Ok(Inbound::Start(s)) => {
                let call_sid =
                    CallSid::parse(&s.call_sid).map_err(|_| "start with a bad callSid")?;
                return Ok(Start {
                    call_sid,
                    account_sid: s.account_sid,
                    stream_sid: s.stream_sid,
                    token: s.custom_parameters.get("stream_token").cloned(),
                });
            }
            Ok(Inbound::Connected(_) | Inbound::Unknown(_)) => {}
            Ok(_) => return Err("media before start"),
            Err(_) => return Err("malformed message before start"),
        }
    }
}

/// Checks that the stream belongs to a call hotline answered for this organization.
async fn admit(
    ctx: &CallContext,
    org_id: &OrgId,
    start: &Start,
) -> Result<(Organization, CallRecord, Agent), &'static str> {
    let store = |e: StoreError| {
        warn!(error = %e, "store unavailable at start");
        "store unavailable"
    };
    let record = ctx
        .calls
        .get_call(&start.call_sid)
        .await
        .map_err(store)?
        .ok_or("start for an unknown call")?;
    if &record.org != org_id {
        return Err("call belongs to another organization");
    }
    let org = ctx
        .directory
        .get_org(org_id)
        .await
        .map_err(store)?
        .ok_or("organization is gone")?;
    if org.twilio.account_sid.as_str() != start.account_sid {
        return Err("start names another account");
    }
    // Constant-time: the token is a secret the voice webhook minted for this call.
    let token_ok = start.token.as_deref().is_some_and(|t| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            t.as_bytes(),
            record.stream_token.as_bytes(),
        ))
    });
    if !token_ok {
        return Err("wrong stream token");
    }
    let agent = ctx
        .directory
        .get_agent(&record.org, &record.agent)
        .await
        .map_err(store)?
        .ok_or("agent is gone")?;
    Ok((org, record, agent))
}

async fn close<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
}

enum Connected<P> {
    Yes(Box<P>),
    CallerLeft,
    /// The Twilio side misbehaved (malformed, oversized, broken) while the AI connected.
    StreamBroken(String),
    Failed(String),
}

/// Side work that runs inside the call's task, beside the audio: store writes and tools.
type SideJob<'a> = Pin<Box<dyn Future<Output = Option<Input>> + Send + 'a>>;

struct Call<'a> {
    ctx: &'a CallContext,
    org: Organization,
    record: CallRecord,
    transfer_to: Option<hotline_core::E164>,
    /// The agent's transfer when it is warm (and the node can make it so).
    warm: Option<crate::transfer::WarmTarget>,
    /// This stream brings the caller back from a transfer that did not connect.
    back: Option<crate::transfer::Return>,
    /// The stream ended in a warm transfer: the call goes on without this stream, and
    /// its record is not finalized here.
    handed_over: bool,
    stream_sid: String,
    started: Instant,
    frames_in: u64,
    frames_out: u64,
    /// Agent audio fed to Twilio's socket and not yet flushed.
    twilio_unflushed: Unflushed,
    side: FuturesUnordered<SideJob<'a>>,
    /// Webhook tools in flight and their filler timers. Unlike `side`, nothing here is
    /// waited for at the end: a tool's answer is of no use once the call is over.
    tools: FuturesUnordered<SideJob<'a>>,
    webhook_tools: Vec<WebhookTool>,
    tool_sender: tools::Sender,
    /// The agent's `send_sms` tools, by name.
    sms_tools: Vec<String>,
    /// The agent's `send_dtmf` tools, by name.
    dtmf_tools: Vec<String>,
    /// The agent's `opt_out` tools, by name.
    opt_out_tools: Vec<String>,
    /// The provider carrying the conversation, once one connected.
    carrier: Option<Provider>,
    /// How long the provider's session took to open and configure.
    connect_ms: Option<u32>,
    /// The provider's session came from a pre-warm.
    prewarmed: bool,
    /// The turns' latency, once the conversation is over.
    latency: Option<Latency>,
}

/// Why the bridge loop stopped.
struct Ended {
    reason: EndReason,
    detail: Option<String>,
}

/// How often a call waiting for Twilio's answering-machine verdict reads its record.
const VERDICT_POLL: Duration = Duration::from_millis(250);
/// How long it waits for one: Twilio's detection gives up after 30 s by default and
/// then says `unknown`; past this the conversation starts anyway.
const VERDICT_WAIT: Duration = Duration::from_secs(40);
/// After a machine or fax verdict Twilio replaces the stream (voicemail) or hangs up;
/// if neither happens this long after, the node ends the call itself.
const MACHINE_GRACE: Duration = Duration::from_secs(20);

impl<'a> Call<'a> {
    /// An outbound call whose answering-machine detection has not spoken: the AI is
    /// not connected and nothing is said over whoever answered (a person saying hello,
    /// a voicemail greeting) until Twilio's verdict lands on the call record. `None`
    /// when the conversation may start (a person, an unknown verdict, no verdict in
    /// time); otherwise how the call ended (the callee hung up, Twilio left the
    /// voicemail or hung up on a machine).
    async fn await_verdict<S>(&mut self, ws: &mut WebSocketStream<S>) -> Option<Ended>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        use hotline_core::model::AnsweredBy;
        let started = Instant::now();
        let mut poll = tokio::time::interval(VERDICT_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut machine_since: Option<Instant> = None;
        let mut malformed = 0;
        let shutdown = self.ctx.shutdown.clone();
        info!("waiting for the answering-machine verdict before the agent speaks");
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    return Some(Ended { reason: EndReason::Shutdown, detail: None });
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => match media::parse_inbound(&text) {
                        Ok(Inbound::Media(_)) => self.frames_in += 1,
                        Ok(Inbound::Stop(_)) => {
                            let detail = machine_since.map(|_| "answered by a machine".to_owned());
                            return Some(Ended { reason: EndReason::CallerHungUp, detail });
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if !skip_malformed(&mut malformed, &e.to_string()) {
                                return Some(Ended { reason: EndReason::StreamFailed, detail: Some(TOO_MANY_MALFORMED.into()) });
                            }
                        }
                    },
                    Some(Ok(Message::Close(_))) | None => {
                        return Some(Ended { reason: EndReason::CallerHungUp, detail: Some("stream closed".into()) });
                    }
                    Some(Err(e)) => {
                        return Some(Ended { reason: EndReason::StreamFailed, detail: Some(e.to_string()) });
                    }
                    Some(Ok(_)) => {}
                },
                _ = poll.tick() => {
                    if let Some(since) = machine_since {
                        if since.elapsed() >= MACHINE_GRACE {
                            self.hang_up().await;
                            return Some(Ended { reason: EndReason::AgentEnded, detail: Some("answered by a machine".into()) });
                        }
                        continue;
                    }
                    let verdict = match self.ctx.calls.get_call(&self.record.sid).await {
                        Ok(Some(call)) => call.outbound.and_then(|o| o.answered_by),
                        Ok(None) => None,
                        Err(e) => {
                            debug!(error = %e, "could not read the verdict yet");
                            None
                        }
                    };
                    match verdict {
                        Some(AnsweredBy::Human | AnsweredBy::Unknown) => {
                            info!(verdict = ?verdict, "a person is on the line: the agent speaks");
                            return None;
                        }
                        Some(other) => {
                            info!(verdict = ?other, "a machine answered: the agent stays silent");
                            machine_since = Some(Instant::now());
                        }
                        None if started.elapsed() >= VERDICT_WAIT => {
                            warn!("no answering-machine verdict in time: the agent speaks");
                            return None;
                        }
                        None => {}
                    }
                }
            }
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_answered(&mut self) {
        let calls = Arc::clone(&self.ctx.calls);
        let sid = self.record.sid.clone();
        self.side.push(Box::pin(async move {
            let result = modify_call(calls.as_ref(), &sid, |c| {
                if c.status < CallStatus::InProgress {
                    c.status = CallStatus::InProgress;
                }
                c.answered_at.get_or_insert_with(Utc::now);
            })
            .await;
            if let Err(e) = result {
                warn!(error = %e, "could not mark the call answered");
            }
            None
        }));
    }

    /// Opens the AI session and configures it for the agent while reading Twilio, so
    /// early audio is kept and a caller who hangs up meanwhile is noticed. No audio
    /// reaches the AI before it accepted the configuration: a refused `session.update`
    /// would leave it decoding µ-law as PCM for the whole call.
    async fn connect<S, P>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        opening: impl Future<Output = Result<P, String>>,
        early: &mut Vec<String>,
    ) -> Connected<P>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let opening = tokio::time::timeout(CONNECT_TIMEOUT, opening);
        tokio::pin!(opening);
        let mut malformed = 0;
        loop {
            tokio::select! {
                result = &mut opening => return match result {
                    Ok(Ok(socket)) => Connected::Yes(Box::new(socket)),
                    Ok(Err(detail)) => Connected::Failed(detail),
                    Err(_) => Connected::Failed("provider connect timed out".into()),
                },
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => match media::parse_inbound(&text) {
                        Ok(Inbound::Media(m)) => {
                            let payload = m.payload.as_base64();
                            if !valid_audio(payload) {
                                if skip_malformed(&mut malformed, "media with a bad payload") {
                                    continue;
                                }
                                return Connected::StreamBroken(TOO_MANY_MALFORMED.into());
                            }
                            self.frames_in += 1;
                            if early.len() == MAX_EARLY_FRAMES {
                                early.remove(0);
                            }
                            early.push(payload.to_owned());
                        }
                        Ok(Inbound::Stop(_)) => return Connected::CallerLeft,
                        Ok(_) => {}
                        Err(e) => {
                            if !skip_malformed(&mut malformed, &e.to_string()) {
                                return Connected::StreamBroken(TOO_MANY_MALFORMED.into());
                            }
                        }
                    },
                    Some(Ok(Message::Close(_))) | None => return Connected::CallerLeft,
                    Some(Err(e)) => return Connected::StreamBroken(e.to_string()),
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    async fn bridge<S, P>(
        mut self,
        mut ws: WebSocketStream<S>,
        mut ai: P,
        agent: &Agent,
        early: Vec<String>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
        P: ProviderSession,
    {
        let mut state = CallState::new(agent.limits, self.transfer_to.clone())
            .with_capabilities(ai.capabilities())
            .with_first_turn(self.back.as_ref().map_or(0, |b| b.next_turn));
        let mut actions = Vec::new();
        let setup = async {
            for payload in &early {
                ai.send_audio(payload).await?;
            }
            Ok(())
        };
        if let Err(e) = within(setup).await {
            self.apologise().await;
            self.finish(
                ws,
                Some(ai),
                EndReason::ProviderFailed,
                Some(format!("session setup: {e}")),
            )
            .await;
            return;
        }
        drop(early);
        let now = self.now_ms();
        match (
            &self.back,
            self.record
                .outbound
                .as_ref()
                .and_then(|o| o.greeting.as_deref()),
        ) {
            (Some(back), _) => state.resumed_saying(back.line, now, &mut actions),
            (None, Some(opening)) => state.connected_saying(opening, now, &mut actions),
            (None, None) => state.connected(self.record.greeting.is_some(), now, &mut actions),
        }
        let ended = match self.apply(&mut ws, &mut ai, &mut actions).await {
            Some(ended) => ended,
            None => self.pump(&mut ws, &mut ai, &mut state, &mut actions).await,
        };
        if ended.reason == EndReason::ProviderFailed || ended.reason == EndReason::Shutdown {
            self.apologise().await;
        }
        self.latency = Some(state.latency(self.connect_ms));
        self.finish(ws, Some(ai), ended.reason, ended.detail).await;
    }

    /// The steady state: one `select!` over both sockets, the guardrail tick, side jobs
    /// and shutdown. Sends happen in the branch bodies; audio is fed to the sockets and
    /// flushed by the last branch, which is reached only when nothing else is ready.
    async fn pump<S, P>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        ai: &mut P,
        state: &mut CallState,
        actions: &mut Vec<Action>,
    ) -> Ended
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: ProviderSession,
    {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flood = Flood::new();
        let mut malformed = 0;
        let mut ai_unflushed = Unflushed::default();
        let shutdown = self.ctx.shutdown.clone();
        loop {
            tokio::select! {
                // In order, so that the flush comes last; no branch starves another for
                // long: a socket's ready messages are what it holds, and a flood is cut.
                biased;
                () = shutdown.cancelled() => return Ended { reason: EndReason::Shutdown, detail: None },
                msg = ws.next() => {
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) | None => {
                            return Ended { reason: EndReason::CallerHungUp, detail: Some("stream closed".into()) };
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            return Ended { reason: EndReason::StreamFailed, detail: Some(e.to_string()) };
                        }
                    };
                    if !flood.allow(self.started.elapsed().as_secs_f64()) {
                        warn!("Twilio socket flooded: closing");
                        close(ws, CloseCode::Policy, "too many messages").await;
                        return Ended { reason: EndReason::StreamFailed, detail: Some("message flood".into()) };
                    }
                    match media::parse_inbound(&text) {
                        Ok(Inbound::Media(m)) => {
                            let payload = m.payload.as_base64();
                            if !valid_audio(payload) {
                                if skip_malformed(&mut malformed, "media with a bad payload") {
                                    continue;
                                }
                                close(ws, CloseCode::Invalid, TOO_MANY_MALFORMED).await;
                                return Ended { reason: EndReason::StreamFailed, detail: Some(TOO_MANY_MALFORMED.into()) };
                            }
                            self.frames_in += 1;
                            if !state.is_ending() {
                                let sent = if P::FEEDS_AUDIO && !ai_unflushed.fed() {
                                    within(ai.feed_audio(payload)).await
                                } else {
                                    within(ai.send_audio(payload)).await
                                };
                                if let Err(e) = sent {
                                    return provider_send_failed(&e);
                                }
                            }
                        }
                        Ok(Inbound::Mark(m)) => state.handle(Input::Mark(m.name.to_string()), self.now_ms(), actions),
                        Ok(Inbound::Dtmf(d)) => {
                            if let Some(digit) = d.digit.chars().next() {
                                state.handle(Input::Dtmf(digit), self.now_ms(), actions);
                            }
                        }
                        Ok(Inbound::Stop(_)) => {
                            return Ended { reason: EndReason::CallerHungUp, detail: None };
                        }
                        Ok(Inbound::Connected(_) | Inbound::Start(_) | Inbound::Unknown(_)) => {
                            debug!("ignored Twilio event");
                        }
                        Err(e) => {
                            if !skip_malformed(&mut malformed, &e.to_string()) {
                                close(ws, CloseCode::Invalid, TOO_MANY_MALFORMED).await;
                                return Ended { reason: EndReason::StreamFailed, detail: Some(TOO_MANY_MALFORMED.into()) };
                            }
                        }
                    }
                }
                frame = ai.next_frame() => {
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(gone) => return Ended { reason: EndReason::ProviderFailed, detail: Some(gone.0) },
                    };
                    let first = ai.read(&frame);
                    if let Some(ended) = self.incoming(ws, state, actions, first).await {
                        return ended;
                    }
                    while let Some(more) = ai.pending() {
                        if let Some(ended) = self.incoming(ws, state, actions, more).await {
                            return ended;
                        }
                    }
                }
                _ = tick.tick() => state.handle(Input::Tick, self.now_ms(), actions),
                Some(done) = self.side.next(), if !self.side.is_empty() => {
                    if let Some(input) = done {
                        state.handle(input, self.now_ms(), actions);
                    }
                }
                Some(done) = self.tools.next(), if !self.tools.is_empty() => {
                    if let Some(input) = done {
                        state.handle(input, self.now_ms(), actions);
                    }
                }
                () = std::future::ready(()), if ai_unflushed.any() || self.twilio_unflushed.any() => {
                    if ai_unflushed.take()
                        && let Err(e) = within(ai.flush()).await
                    {
                        return provider_send_failed(&e);
                    }
                    if self.twilio_unflushed.take()
                        && let Err(e) = within(ws.flush()).await
                    {
                        return twilio_send_failed(&e);
                    }
                }
            }
            if !actions.is_empty()
                && let Some(ended) = self.apply(ws, ai, actions).await
            {
                return ended;
            }
        }
    }

    /// One thing the AI sent: agent audio is fed to Twilio's socket (unless the caller
    /// interrupted it) for the loop's next flush, events go to the call state.
    async fn incoming<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        state: &mut CallState,
        actions: &mut Vec<Action>,
        incoming: Incoming<'_>,
    ) -> Option<Ended>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match incoming {
            Incoming::Audio(audio) => {
                let payload = audio.payload.as_ref();
                let bytes = base64_len(payload);
                let now = self.now_ms();
                if let Chunk::Play { mark } =
                    state.agent_audio(&audio.response_id, &audio.item_id, bytes, now)
                {
                    self.frames_out += 1;
                    let flush_now = self.twilio_unflushed.fed();
                    let sent = async {
                        ws.feed(Message::text(media::media_json(&self.stream_sid, payload)))
                            .await?;
                        if let Some(seq) = mark {
                            ws.feed(Message::text(media::mark_json(
                                &self.stream_sid,
                                &mark_name(seq),
                            )))
                            .await?;
                        }
                        if flush_now { ws.flush().await } else { Ok(()) }
                    };
                    if let Err(e) = within(sent).await {
                        return Some(twilio_send_failed(&e));
                    }
                }
            }
            Incoming::Event(event) => {
                if let ProviderEvent::Error { code, message } = &event {
                    warn!(code = ?code, message = %message, "provider error");
                }
                state.handle(Input::Provider(event), self.now_ms(), actions);
            }
            Incoming::Nothing => {}
        }
        None
    }

    /// Carries out the state machine's actions, in order.
    async fn apply<S, P>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        ai: &mut P,
        actions: &mut Vec<Action>,
    ) -> Option<Ended>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        P: ProviderSession,
    {
        for action in actions.drain(..) {
            match action {
                Action::TwilioMark(seq) => {
                    let mark = media::mark_json(&self.stream_sid, &mark_name(seq));
                    if let Err(e) = within(ws.send(Message::text(mark))).await {
                        return Some(twilio_send_failed(&e));
                    }
                }
                Action::TwilioClear => {
                    let clear = media::clear_json(&self.stream_sid);
                    if let Err(e) = within(ws.send(Message::text(clear))).await {
                        return Some(twilio_send_failed(&e));
                    }
                }
                Action::Provider(cmd) => {
                    if let Err(e) = within(ai.send(cmd)).await {
                        return Some(provider_send_failed(&e));
                    }
                }
                Action::Persist(turn) => {
                    let calls = Arc::clone(&self.ctx.calls);
                    let sid = self.record.sid.clone();
                    self.side.push(Box::pin(async move {
                        if let Err(e) = calls.append_turn(&sid, &turn).await {
                            warn!(error = %e, seq = turn.seq, "could not store a transcript turn");
                        }
                        None
                    }));
                }
                Action::RunTool {
                    call_id,
                    name,
                    arguments,
                } if self.dtmf_tools.contains(&name) => {
                    if let Some(ended) = self.press_keys(ws, call_id, &arguments).await {
                        return Some(ended);
                    }
                }
                Action::RunTool {
                    call_id,
                    name,
                    arguments,
                } => self.run_tool(call_id, &name, arguments),
                Action::Hangup(reason) => {
                    self.hang_up().await;
                    return Some(Ended {
                        reason,
                        detail: None,
                    });
                }
                Action::Transfer(_) if self.warm.is_some() => {
                    return Some(self.warm_transfer().await);
                }
                Action::Transfer(to) => {
                    let twiml = VoiceResponse::new()
                        .say(TRANSFERRING)
                        .dial(hotline_twilio::twiml::Dial {
                            number: to,
                            caller_id: None,
                        })
                        .render();
                    return Some(match self.update(CallUpdate::Twiml(twiml)).await {
                        Ok(()) => Ended {
                            reason: EndReason::Transferred,
                            detail: None,
                        },
                        Err(e) => Ended {
                            reason: EndReason::StreamFailed,
                            detail: Some(format!("transfer failed: {e}")),
                        },
                    });
                }
            }
        }
        None
    }

    /// Starts the agent's warm transfer: the stream ends whatever happens, the call
    /// only when the caller turned out to be gone.
    async fn warm_transfer(&mut self) -> Ended {
        let (Some(target), Some(config)) = (self.warm.clone(), self.ctx.transfer.clone()) else {
            return Ended {
                reason: EndReason::StreamFailed,
                detail: Some("warm transfer not configured".into()),
            };
        };
        // The summary reads the stored turns: the ones still being written go first.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while self.side.next().await.is_some() {}
        })
        .await;
        match crate::transfer::start(self.ctx, &config, &self.org, &self.record, &target).await {
            crate::transfer::Started::Waiting | crate::transfer::Started::Back => {
                self.handed_over = true;
                Ended {
                    reason: EndReason::Transferred,
                    detail: Some("warm transfer".into()),
                }
            }
            crate::transfer::Started::CallerGone(detail) => Ended {
                reason: EndReason::CallerHungUp,
                detail: Some(detail),
            },
        }
    }

    /// Plays the keys the model asked for to the far end, as audio frames behind what
    /// is already queued, and answers the model at once (the tones take their time at
    /// Twilio; anything the model says next queues behind them).
    async fn press_keys<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        call_id: String,
        arguments: &str,
    ) -> Option<Ended>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let output = match crate::dtmf_tool::keys(arguments) {
            Ok(keys) => {
                for frame in keys.tones.chunks(crate::dtmf_tool::FRAME_BYTES) {
                    let media = media::media_json_from_audio(&self.stream_sid, frame);
                    if let Err(e) = within(ws.send(Message::text(media))).await {
                        return Some(twilio_send_failed(&e));
                    }
                    self.frames_out += 1;
                }
                info!(keys = keys.digits.len(), "send_dtmf: keys played");
                crate::dtmf_tool::pressed(&keys)
            }
            Err(output) => {
                info!("send_dtmf: the model asked for keys that are not keys");
                output
            }
        };
        self.tools.push(Box::pin(async move {
            Some(Input::ToolDone { call_id, output })
        }));
        None
    }

    /// Starts a webhook tool beside the audio, with a timer for the filler; the AI hears
    /// plainly of a tool the agent does not have.
    fn run_tool(&mut self, call_id: String, name: &str, arguments: String) {
        if self.opt_out_tools.iter().any(|t| t == name) {
            let (ctx, record) = (self.ctx, self.record.clone());
            self.tools.push(Box::pin(async move {
                let output = crate::opt_out_tool::run(ctx.opt_out.as_ref(), &record).await;
                Some(Input::ToolDone { call_id, output })
            }));
            return;
        }
        if self.sms_tools.iter().any(|t| t == name) {
            let (ctx, org, record) = (self.ctx, self.org.clone(), self.record.clone());
            self.tools.push(Box::pin(telemetry::tool(name, async move {
                let output = crate::sms_tool::run(ctx, &org, &record, &arguments).await;
                Some(Input::ToolDone { call_id, output })
            })));
            return;
        }
        let Some(tool) = self.webhook_tools.iter().find(|t| t.name == name).cloned() else {
            warn!(tool = %name, "the AI called a tool the agent does not have");
            let output =
                serde_json::json!({"ok": false, "error": format!("no tool named {name:?}")})
                    .to_string();
            self.tools.push(Box::pin(async move {
                Some(Input::ToolDone { call_id, output })
            }));
            return;
        };
        // Unique to this tool call (tool call ids are unique within a session): a receiver
        // that sees it twice is seeing the same call.
        let event_id = format!("{}:{call_id}", self.record.sid);
        let sender = self.tool_sender.clone();
        let id = call_id.clone();
        self.tools.push(Box::pin(telemetry::tool(name, async move {
            let output = tools::run(&tool, &sender, &event_id, &arguments).await;
            Some(Input::ToolDone {
                call_id: id,
                output,
            })
        })));
        self.tools.push(Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(TOOL_FILLER_AFTER_MS)).await;
            Some(Input::ToolSlow { call_id })
        }));
    }

    async fn update(&mut self, update: CallUpdate) -> Result<(), RestError> {
        self.ctx
            .twilio
            .update_call(
                &self.org.twilio.account_sid,
                &self.org.twilio.auth_token,
                &self.record.sid,
                &update,
            )
            .await
    }

    /// Ends the call through Twilio. A call Twilio no longer knows has already ended.
    async fn hang_up(&mut self) {
        match self.update(CallUpdate::Hangup).await {
            Ok(()) | Err(RestError::NotFound { .. }) => {}
            Err(e) => {
                warn!(error = %e, "hang-up through Twilio failed; closing the stream lets the TwiML apologize and hang up");
            }
        }
    }

    /// Tells the caller, in Twilio's own voice, that the call cannot go on: never dead air.
    async fn apologise(&mut self) {
        let twiml = VoiceResponse::new().say(APOLOGY).hangup().render();
        match self.update(CallUpdate::Twiml(twiml)).await {
            Ok(()) | Err(RestError::NotFound { .. }) => {}
            Err(e) => {
                warn!(error = %e, "could not play the apology; closing the stream lets the TwiML apologize and hang up");
            }
        }
    }

    /// The one way out: close both sockets, let side jobs finish, write the outcome.
    async fn finish<S, P>(
        mut self,
        mut ws: WebSocketStream<S>,
        ai: Option<P>,
        reason: EndReason,
        detail: Option<String>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
        P: ProviderSession,
    {
        close(&mut ws, CloseCode::Normal, "call ended").await;
        if let Some(mut ai) = ai {
            let _ = tokio::time::timeout(Duration::from_secs(1), ai.close()).await;
        }
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            while self.side.next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                pending = self.side.len(),
                "side jobs abandoned at the end of the call"
            );
        }
        if self.handed_over {
            // The call goes on in the conference or on the agent's next stream: the
            // record is the transfer's now, and the last stream finalizes it.
            info!(
                detail = detail.as_deref().unwrap_or(""),
                secs = self.started.elapsed().as_secs(),
                frames_in = self.frames_in,
                frames_out = self.frames_out,
                "stream handed over to a warm transfer"
            );
            return;
        }
        let outcome = Outcome {
            reason,
            detail: detail.clone(),
            provider: self.carrier,
            latency: self
                .latency
                .clone()
                .or_else(|| {
                    self.connect_ms.map(|connect| Latency {
                        connect_ms: Some(connect),
                        ..Latency::default()
                    })
                })
                .map(|l| Latency {
                    prewarmed: self.prewarmed,
                    ..l
                }),
        };
        let result = modify_call(self.ctx.calls.as_ref(), &self.record.sid, |c| {
            c.ended_at.get_or_insert_with(Utc::now);
            if !c.status.is_terminal() {
                c.status = CallStatus::Completed;
            }
            c.outcome.get_or_insert_with(|| outcome.clone());
        })
        .await;
        if let Err(e) = result {
            warn!(error = %e, "could not finalize the call record");
        }
        info!(
            reason = ?reason,
            detail = detail.as_deref().unwrap_or(""),
            secs = self.started.elapsed().as_secs(),
            frames_in = self.frames_in,
            frames_out = self.frames_out,
            "call finished"
        );
    }
}

/// A Twilio payload must be base64 of at most a few hundred µ-law bytes.
fn valid_audio(payload: &str) -> bool {
    let mut buf = [0u8; 2048];
    payload.len() <= 2700 && BASE64.decode_slice(payload, &mut buf).is_ok()
}

/// Decoded length of a base64 string, without decoding it.
fn base64_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|&b| b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad)
}

/// A write to a socket that failed or could not finish in time.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("timed out after {}s: the peer stopped reading", SEND_TIMEOUT.as_secs())]
    Stalled,
    #[error(transparent)]
    Socket(#[from] WsError),
}

/// Runs one write (send, feed, flush) with [`SEND_TIMEOUT`].
async fn within<T>(write: impl Future<Output = Result<T, WsError>>) -> Result<T, SendError> {
    timed(SEND_TIMEOUT, write).await
}

async fn timed<T>(
    limit: Duration,
    write: impl Future<Output = Result<T, WsError>>,
) -> Result<T, SendError> {
    match tokio::time::timeout(limit, write).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(SendError::Stalled),
    }
}

/// A write to the provider failed, or stalled: the call cannot go on with it.
fn provider_send_failed(e: &SendError) -> Ended {
    Ended {
        reason: EndReason::ProviderFailed,
        detail: Some(format!("send to provider: {e}")),
    }
}

/// Audio frames fed to one socket and not yet flushed.
#[derive(Debug, Default)]
struct Unflushed(u8);

impl Unflushed {
    /// Counts a frame about to be written; true when it is the [`MAX_UNFLUSHED`]th, which
    /// must flush (the count starts over).
    fn fed(&mut self) -> bool {
        self.0 += 1;
        let full = self.0 >= MAX_UNFLUSHED;
        if full {
            self.0 = 0;
        }
        full
    }

    fn any(&self) -> bool {
        self.0 > 0
    }

    /// Whether anything waits, and forgets it: the caller flushes.
    fn take(&mut self) -> bool {
        std::mem::take(&mut self.0) > 0
    }
}

/// A write to Twilio failed: a socket error is the caller gone; a stall is a broken
/// stream, and the call ends without waiting on it any longer.
fn twilio_send_failed(e: &SendError) -> Ended {
    let reason = match e {
        SendError::Stalled => EndReason::StreamFailed,
        SendError::Socket(_) => EndReason::CallerHungUp,
    };
    Ended {
        reason,
        detail: Some(format!("send to Twilio: {e}")),
    }
}

const TOO_MANY_MALFORMED: &str = "too many malformed messages";

/// Counts a malformed Twilio frame: it is logged and skipped — one bad frame costs at
/// most 20 ms of audio or a mark — until the stream has sent too many to be trusted.
fn skip_malformed(count: &mut u32, what: &str) -> bool {
    *count += 1;
    warn!(
        error = what,
        count = *count,
        "malformed Twilio message skipped"
    );
    *count <= MAX_MALFORMED
}

/// A token bucket over Twilio messages: a stream flooding faster than any call would is
/// cut off before it can cost anything.
struct Flood {
    tokens: f64,
    at: f64,
}

impl Flood {
    fn new() -> Self {
        Self {
            tokens: FLOOD_BURST,
            at: 0.0,
        }
    }

    fn allow(&mut self, now_secs: f64) -> bool {
        self.tokens = (self.tokens + (now_secs - self.at) * FLOOD_RATE).min(FLOOD_BURST);
        self.at = now_secs;
        self.tokens -= 1.0;
        self.tokens >= 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_len_counts_padding() {
        assert_eq!(base64_len(&BASE64.encode([0u8; 160])), 160);
        assert_eq!(base64_len(&BASE64.encode([0u8; 161])), 161);
        assert_eq!(base64_len(&BASE64.encode([0u8; 162])), 162);
    }

    #[test]
    fn payloads_must_be_short_base64() {
        assert!(valid_audio(&BASE64.encode([0xffu8; 160])));
        assert!(!valid_audio("not base64!"));
        assert!(!valid_audio(&BASE64.encode(vec![0u8; 4096])));
    }

    #[tokio::test]
    async fn a_write_to_a_peer_that_stopped_reading_gives_up() {
        // The far end is kept open and never read: the write backs up and stalls.
        let (near, _far) = tokio::io::duplex(1024);
        let mut ws = WebSocketStream::from_raw_socket(
            near,
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        let big = "x".repeat(64 * 1024);
        let result = timed(Duration::from_millis(200), ws.send(Message::text(big))).await;
        assert!(matches!(result, Err(SendError::Stalled)), "{result:?}");
        let ended = twilio_send_failed(&SendError::Stalled);
        assert_eq!(ended.reason, EndReason::StreamFailed);
        assert!(ended.detail.is_some_and(|d| d.contains("stopped reading")));
    }

    #[test]
    fn fed_frames_flush_at_the_latest_every_max_unflushed() {
        let mut unflushed = Unflushed::default();
        assert!(
            !unflushed.any() && !unflushed.take(),
            "nothing fed, nothing to flush"
        );
        let flushes: Vec<bool> = (0..2 * MAX_UNFLUSHED).map(|_| unflushed.fed()).collect();
        let every = usize::from(MAX_UNFLUSHED);
        for (i, flush) in flushes.iter().enumerate() {
            assert_eq!(*flush, (i + 1) % every == 0, "frame {i}");
        }
        assert!(!unflushed.any(), "the last frame flushed");
        unflushed.fed();
        assert!(unflushed.any());
        assert!(unflushed.take(), "one frame waits");
        assert!(!unflushed.any() && !unflushed.take(), "taken once");
    }

    #[test]
    fn malformed_frames_are_skipped_up_to_a_budget() {
        let mut count = 0;
        assert!((0..MAX_MALFORMED).all(|_| skip_malformed(&mut count, "bad")));
        assert!(!skip_malformed(&mut count, "one too many"));
    }

    #[test]
    fn flood_allows_real_time_and_stops_a_flood() {
        let mut f = Flood::new();
        // 60 messages a second for a minute: fine.
        assert!((0..3600).all(|i| f.allow(f64::from(i) / 60.0)));
        // 50 media frames and 100 mark echoes a second, for a minute: fine.
        let mut f = Flood::new();
        assert!((0..9000).all(|i| f.allow(f64::from(i) / 150.0)));
        // 2,000 messages in one second: cut off.
        let mut f = Flood::new();
        assert!(!(0..2000).all(|i| f.allow(f64::from(i) / 2000.0)));
    }
}
