//! Warm transfer, the node's part (see `hotline_core::transfer`): once the agent has
//! said it is transferring, summarize the call, store the attempt, dial the person
//! (their leg's TwiML and progress go to the voice function's `/twilio/transfer/…`
//! routes) and move the caller into the call's conference on hold. The stream ends
//! there without finishing the call. When the caller comes back (the person did not
//! take the call), the next stream of the same call opens with the agent saying so.

use std::time::Duration;

use chrono::Utc;
use hotline_core::model::{Call as CallRecord, Organization, Speaker, ToolKind, ToolSpec, Turn};
use hotline_core::ports::modify_call;
use hotline_core::transfer::{
    SUMMARY_INSTRUCTIONS, Transfer, TransferMode, TransferOutcome, ring_timeout, tidy_summary,
};
use hotline_core::{E164, Party, routes};
use hotline_llm::{OpenAiRest, TextRequest};
use hotline_twilio::rest::{CallEvent, CallUpdate, CreateCall, MachineDetection, RestError};
use hotline_twilio::transfer::{back_to_agent, caller_waits};
use tracing::{info, warn};

use crate::call::CallContext;

/// The model that writes the whisper: small and quick, the caller is on hold.
pub const SUMMARY_MODEL: &str = "gpt-4.1-mini";
/// How long the summary may take before a plain one is used.
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(4);
/// Said to the person when no summary could be written.
const PLAIN_SUMMARY: &str = "A caller asked to speak with someone.";
/// Spoken by Twilio if the caller's new stream to the agent never opens.
const STREAM_LOST: &str = "Sorry, we could not reconnect you to our assistant. Please call back in a few minutes. Goodbye.";

/// Where a warm transfer's webhooks and the caller's way back point.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// `HOTLINE_PUBLIC_URL`: base of the `/twilio/transfer/…` routes.
    pub webhook_base: String,
    /// This node's stream base: a caller whose person could not be dialled at all
    /// comes straight back here.
    pub stream_base: String,
}

/// An agent's warm transfer tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmTarget {
    pub to: E164,
    pub hold_music_url: Option<String>,
    pub ring_timeout_secs: u32,
}

impl WarmTarget {
    /// The agent's transfer, when it is warm.
    pub fn of(tools: &[ToolSpec]) -> Option<Self> {
        tools.iter().find_map(|t| match &t.kind {
            ToolKind::TransferCall {
                to,
                mode: TransferMode::Warm,
                hold_music_url,
                ring_timeout_secs,
            } => Some(Self {
                to: to.clone(),
                hold_music_url: hold_music_url.clone(),
                ring_timeout_secs: ring_timeout(*ring_timeout_secs),
            }),
            _ => None,
        })
    }
}

/// How starting a warm transfer went.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    /// The caller is on hold in the conference and the person's phone rings: the
    /// stream is over, the call is not.
    Waiting,
    /// The person could not even be dialled: the caller is already on the way back to
    /// this agent (a new stream). The stream is over, the call is not.
    Back,
    /// The caller is gone (the redirect found no live call): the call is over.
    CallerGone(String),
}

/// Starts a warm transfer of `record`'s caller to `target`.
pub async fn start(
    ctx: &CallContext,
    config: &TransferConfig,
    org: &Organization,
    record: &CallRecord,
    target: &WarmTarget,
) -> Started {
    let turns = ctx.calls.turns(&record.sid).await.unwrap_or_else(|e| {
        warn!(error = %e, "transcript unavailable for the summary");
        Vec::new()
    });
    let summary = summarize(ctx, &turns).await;
    let attempt = Transfer::new(target.to.clone(), summary, Utc::now());
    if let Err(e) = modify_call(ctx.calls.as_ref(), &record.sid, |c| {
        c.transfers.push(attempt.clone());
    })
    .await
    {
        // Without the attempt on the record its webhooks would find nothing: go no further.
        warn!(error = %e, "could not store the transfer attempt");
        return back(ctx, config, org, record).await;
    }
    let Some(from) = our_number(record) else {
        warn!("the call is on no phone number of ours: nobody to dial from");
        settle_unreached(ctx, record).await;
        return back(ctx, config, org, record).await;
    };
    let query = format!("?call={}", record.sid);
    let mut leg = CreateCall::new(
        Party::Phone(target.to.clone()),
        from,
        format!("{}{}{query}", config.webhook_base, routes::TRANSFER_ANSWER),
    );
    leg.status_callback = Some(format!(
        "{}{}{query}",
        config.webhook_base,
        routes::TRANSFER_STATUS
    ));
    leg.status_callback_events = vec![
        CallEvent::Initiated,
        CallEvent::Ringing,
        CallEvent::Answered,
        CallEvent::Completed,
    ];
    // Synchronous detection: the leg's TwiML is asked for with `AnsweredBy`, so a
    // voicemail never hears the whisper.
    leg.machine_detection = Some(MachineDetection::Enable);
    leg.ring_timeout_secs = Some(target.ring_timeout_secs);
    let account = &org.twilio.account_sid;
    let token = &org.twilio.auth_token;
    let leg_sid = match ctx.twilio.create_call(account, token, &leg).await {
        Ok(sid) => sid,
        Err(e) => {
            warn!(error = %e, "could not dial the person: the caller stays with the agent");
            settle_unreached(ctx, record).await;
            return back(ctx, config, org, record).await;
        }
    };
    info!(leg_sid = %leg_sid, ring_secs = target.ring_timeout_secs, "dialling the person");
    let noted = leg_sid.clone();
    if let Err(e) = modify_call(ctx.calls.as_ref(), &record.sid, move |c| {
        if let Some(t) = c.transfers.last_mut() {
            t.leg_sid.get_or_insert_with(|| noted.clone());
        }
    })
    .await
    {
        // The leg's own webhooks fill it in too.
        warn!(error = %e, "could not store the person's leg");
    }
    let hold = caller_waits(record, target.hold_music_url.as_deref()).render();
    match ctx
        .twilio
        .update_call(account, token, &record.sid, &CallUpdate::Twiml(hold))
        .await
    {
        Ok(()) => {
            info!("caller on hold in the conference");
            Started::Waiting
        }
        Err(e) => {
            // Nobody left to connect: stop the person's phone ringing.
            match ctx
                .twilio
                .update_call(account, token, &leg_sid, &CallUpdate::Hangup)
                .await
            {
                Ok(()) | Err(RestError::NotFound { .. }) => {}
                Err(e) => warn!(error = %e, "could not cancel the person's leg"),
            }
            Started::CallerGone(format!("caller not moved to the conference: {e}"))
        }
    }
}

/// The number the call is on: the person sees the business calling.
fn our_number(record: &CallRecord) -> Option<E164> {
    let ours = match record.direction {
        hotline_core::model::Direction::Inbound => &record.to,
        _ => &record.from,
    };
    ours.phone().cloned()
}

/// The latest attempt could not reach anyone.
async fn settle_unreached(ctx: &CallContext, record: &CallRecord) {
    let result = modify_call(ctx.calls.as_ref(), &record.sid, |c| {
        if let Some(t) = c.transfers.last_mut() {
            t.settle(TransferOutcome::NoAnswer, Utc::now());
        }
    })
    .await;
    if let Err(e) = result {
        warn!(error = %e, "could not store the transfer's outcome");
    }
}

/// The caller straight back to the agent on a new stream to this node.
async fn back(
    ctx: &CallContext,
    config: &TransferConfig,
    org: &Organization,
    record: &CallRecord,
) -> Started {
    let twiml = back_to_agent(&config.stream_base, record, STREAM_LOST).render();
    match ctx
        .twilio
        .update_call(
            &org.twilio.account_sid,
            &org.twilio.auth_token,
            &record.sid,
            &CallUpdate::Twiml(twiml),
        )
        .await
    {
        Ok(()) => Started::Back,
        Err(e) => Started::CallerGone(format!("caller not brought back: {e}")),
    }
}

/// A few words for the person about to pick up, from the call's turns: the chat model
/// writes them; a plain sentence when it cannot in time. Never logged.
async fn summarize(ctx: &CallContext, turns: &[Turn]) -> String {
    let transcript: Vec<String> = turns
        .iter()
        .map(|t| {
            let who = match t.speaker {
                Speaker::Caller => "Caller",
                Speaker::Agent => "Assistant",
            };
            format!("{who}: {}", t.text)
        })
        .collect();
    if transcript.is_empty() {
        return PLAIN_SUMMARY.to_owned();
    }
    let llm = OpenAiRest::new(
        ctx.pipeline.llm_base_url.clone(),
        ctx.pipeline.llm_api_key.clone(),
        reqwest::Client::new(),
    )
    .with_timeout(SUMMARY_TIMEOUT);
    let request = TextRequest {
        model: SUMMARY_MODEL.to_owned(),
        system: SUMMARY_INSTRUCTIONS.to_owned(),
        messages: vec![("user".to_owned(), transcript.join("\n"))],
        max_tokens: 120,
    };
    match tokio::time::timeout(SUMMARY_TIMEOUT, llm.text(&request)).await {
        Ok(Ok(text)) if !text.trim().is_empty() => tidy_summary(&text),
        Ok(Ok(_)) => PLAIN_SUMMARY.to_owned(),
        Ok(Err(e)) => {
            warn!(error = %e, "no summary from the model: a plain one is whispered");
            PLAIN_SUMMARY.to_owned()
        }
        Err(_) => {
            warn!("the summary took too long: a plain one is whispered");
            PLAIN_SUMMARY.to_owned()
        }
    }
}

/// A caller back from an attempt that did not connect: what the agent says first, the
/// summary it is reminded of, and where the transcript goes on.
#[derive(Debug, Clone)]
pub struct Return {
    pub line: &'static str,
    pub summary: String,
    pub next_turn: u32,
}

/// Notes on the record that the caller is back, once: `None` for a stream that is not
/// a return.
pub async fn returning(ctx: &CallContext, record: &CallRecord) -> Option<Return> {
    let last = record.transfers.last().filter(|t| t.awaits_return())?;
    let outcome = last.outcome?;
    let summary = last.summary.clone();
    let result = modify_call(ctx.calls.as_ref(), &record.sid, |c| {
        if let Some(t) = c.transfers.last_mut() {
            t.returned_at.get_or_insert_with(Utc::now);
        }
    })
    .await;
    if let Err(e) = result {
        warn!(error = %e, "could not note the caller's return");
    }
    let next_turn = match ctx.calls.turns(&record.sid).await {
        Ok(turns) => turns.iter().map(|t| t.seq + 1).max().unwrap_or(0),
        Err(e) => {
            warn!(error = %e, "transcript unavailable: the return's turns may overwrite");
            0
        }
    };
    info!(
        outcome = outcome.as_str(),
        "caller back from a transfer attempt"
    );
    Some(Return {
        line: outcome.return_line(),
        summary,
        next_turn,
    })
}

/// The agent's instructions for a returning caller: what was said before, in brief.
pub fn remind(instructions: &str, back: &Return) -> String {
    format!(
        "{instructions}\n\nEarlier in this call you talked with the caller; in brief: {} You then tried to transfer them to a person, who could not take the call. The caller is back with you now.",
        back.summary
    )
}
