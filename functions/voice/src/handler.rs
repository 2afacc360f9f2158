//! `POST /twilio/voice`: check who is asking, answer the call, render TwiML.

use std::sync::Arc;

use chrono::Utc;
use hotline_core::answer::{Answer, AnswerPorts, IncomingCall, answer_call};
use hotline_core::dial::{bind_call, dial_in_query};
use hotline_core::model::{Agent, Call, Dial, Direction, Organization};
use hotline_core::ports::{Calls, Contacts, Dials, Directory, StoreError, StreamNodes};
use hotline_core::routing::pick_node;
use hotline_core::{CallSid, Party};
use hotline_twilio::twiml::{ConnectStream, RecordingChannels, StartRecording};
use hotline_twilio::{VoiceResponse, VoiceWebhook};
use hotline_webhook::{Verified, WebhookError, error_response, verify};
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use tracing::{Instrument, info_span};

use crate::config::{RECORDING_PATH, STREAM_PATH, VoiceConfig, WEBHOOK_PATH};
use crate::prewarm::Prewarmer;

/// What the handler needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    pub config: VoiceConfig,
    pub directory: Arc<dyn Directory>,
    pub calls: Arc<dyn Calls>,
    pub contacts: Arc<dyn Contacts>,
    /// Outbound calls as placed: the webhook of a call hotline dialled reads its agent
    /// and texts here.
    pub dials: Arc<dyn Dials>,
    /// The stream nodes' registry: a new call's stream goes to the least loaded node
    /// that takes calls, or to [`VoiceConfig::stream_url`] when none does.
    pub nodes: Arc<dyn StreamNodes>,
    /// Asks a node chosen from the registry to open an inbound call's AI session while
    /// the call connects.
    pub prewarm: Option<Prewarmer>,
}

/// Why a request got no TwiML.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// Refused before the call was looked at: method, signature, account, form.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl VoiceError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Webhook(e) => e.status(),
            Self::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

pub const NOT_IN_SERVICE: &str = "The number you have called is not in service. Goodbye.";
pub const AGENT_DISABLED: &str =
    "Sorry, nobody can take your call right now. Please try again later. Goodbye.";
/// Spoken when the stream ends without the stream node ending the call: the upgrade was
/// refused (node full or draining, 503) or failed, or the socket dropped mid-call.
pub const STREAM_LOST: &str =
    "Sorry, we could not connect you to our assistant. Please call back in a few minutes. Goodbye.";

/// Answers one voice webhook. Never fails: every error becomes a clear 4xx or 5xx.
pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let span = info_span!(
        "voice",
        call_sid = tracing::field::Empty,
        org = tracing::field::Empty
    );
    match answer(deps, &req).instrument(span.clone()).await {
        Ok(twiml) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(Body::Text(twiml))
            .unwrap_or_default(),
        Err(e) => error_response(&span, "voice", e.status(), &e),
    }
}

async fn answer(deps: &Deps, req: &Request) -> Result<String, VoiceError> {
    let Verified { org, form } = verify(
        deps.directory.as_ref(),
        &deps.config.webhook,
        WEBHOOK_PATH,
        req,
    )
    .await?;
    let raw_query = req.uri().query();

    let webhook = VoiceWebhook::from_form(&form).map_err(WebhookError::Malformed)?;
    let span = tracing::Span::current();
    span.record("call_sid", webhook.call_sid.as_str());
    span.record("org", org.id.as_str());
    let outbound = match webhook.direction {
        Direction::OutboundApi => {
            outbound_dial(deps, &org, raw_query, &webhook.call_sid, &webhook.to).await?
        }
        _ => None,
    };
    let incoming = IncomingCall {
        sid: webhook.call_sid,
        from: webhook.from,
        to: webhook.to,
        direction: webhook.direction,
        status: webhook.call_status,
        outbound,
    };
    let ports = AnswerPorts {
        directory: deps.directory.as_ref(),
        calls: deps.calls.as_ref(),
        contacts: deps.contacts.as_ref(),
    };
    let twiml = match answer_call(&ports, &org, &incoming, Utc::now()).await? {
        Answer::Connect { call, agent } => {
            let (base, own_url) = stream_base(deps).await;
            // An outbound call's session waits for the answering-machine verdict, which
            // may never let it speak: only inbound calls are worth a session in advance.
            if let Some(prewarm) = &deps.prewarm
                && own_url
                && call.direction == Direction::Inbound
            {
                prewarm.ask(&base, &call).await;
            }
            connect_twiml(&deps.config, &base, &call, &agent)
        }
        Answer::NotInService => VoiceResponse::new().say(NOT_IN_SERVICE).hangup(),
        Answer::AgentDisabled => VoiceResponse::new().say(AGENT_DISABLED).hangup(),
    };
    Ok(twiml.render())
}

/// The dial an outbound call was placed for: named by the URL's `call`, this
/// organization's, to the number Twilio says it called, and not bound to another call.
/// The CallSid is bound to it here when the webhook comes before the API noted it.
/// Anything else is not hotline's call to answer (`None`: not in service).
async fn outbound_dial(
    deps: &Deps,
    org: &Organization,
    raw_query: Option<&str>,
    sid: &CallSid,
    to: &Party,
) -> Result<Option<Dial>, VoiceError> {
    let Some(id) = dial_in_query(raw_query) else {
        tracing::warn!("outbound call without a dial in its URL");
        return Ok(None);
    };
    let Some(dial) = deps.dials.get_dial(&id).await? else {
        tracing::warn!("outbound call names an unknown dial");
        return Ok(None);
    };
    if dial.org != org.id || to.phone() != Some(&dial.to) {
        tracing::warn!("outbound call's dial is another organization's or another number's");
        return Ok(None);
    }
    match bind_call(deps.dials.as_ref(), &dial.id, sid).await {
        Ok(dial) => Ok(Some(dial)),
        Err(StoreError::Conflict(_)) => {
            tracing::warn!("dial already belongs to another call");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Record the whole call (mono: caller and agent mixed), greet, then hand the audio to
/// the stream node. `<Start><Recording>` is the recording Twilio offers for a call whose
/// audio goes through `<Connect><Stream>`; it comes first so the greeting is recorded.
/// Twilio runs what follows `</Connect>` once the stream is over, including when it never
/// opened: an apology there means a refused upgrade is never a silent hang-up. A call
/// the node ends itself never gets there: it hangs up, transfers or apologises through
/// the REST API, which replaces this document.
fn connect_twiml(
    config: &VoiceConfig,
    stream_base: &str,
    call: &Call,
    agent: &Agent,
) -> VoiceResponse {
    let mut twiml = VoiceResponse::new().start_recording(StartRecording::new(
        config.webhook.url(RECORDING_PATH),
        RecordingChannels::Mono,
    ));
    if let Some(greeting) = call.greeting.as_deref().filter(|g| !g.trim().is_empty()) {
        twiml = twiml.say(greeting);
    }
    twiml
        .connect_stream(
            ConnectStream::new(format!("{stream_base}{STREAM_PATH}"))
                .parameter("call_sid", call.sid.as_str())
                .parameter("from", call.from.as_str())
                .parameter("to", call.to.as_str())
                .parameter("agent_id", agent.id.as_str())
                .parameter("stream_token", &call.stream_token),
        )
        .say(STREAM_LOST)
        .hangup()
}

/// Where this call's stream goes: the node the registry says has the most room, so a
/// full or draining node is never chosen; the load balancer's URL when the registry is
/// empty, stale or unreadable (a store hiccup must not stop calls being answered).
/// `true` with a node's own URL.
async fn stream_base(deps: &Deps) -> (String, bool) {
    match deps.nodes.list_nodes().await {
        Ok(nodes) => {
            if let Some(node) = pick_node(&nodes, Utc::now()) {
                tracing::info!(node = %node.id, live_calls = node.live_calls, "stream node chosen");
                return (node.url.clone(), true);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "stream node registry unreadable; using the shared URL");
        }
    }
    (deps.config.stream_url.clone(), false)
}
