//! AI sessions opened while a call is still being connected. The voice webhook, having
//! chosen this node for an inbound call, asks it (`POST /internal/prewarm`, signed with
//! the call's stream token) to open and configure the call's session; when the stream's
//! `start` comes the call takes the session (or waits for the opening already under
//! way) instead of connecting then. A session nobody takes within [`UNUSED_AFTER`] (the
//! caller hung up while it rang) is closed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use hotline_core::CallSid;
use hotline_core::model::Provider;
use hotline_outbound::signing;
use tokio::task::JoinHandle;
use tracing::{Instrument as _, info, info_span};

use super::run::{CallContext, Opened, open, prepare_agent};

/// How long an opened session waits for its call's stream: a greeting `<Say>` and the
/// stream's upgrade take seconds, not tens of them.
pub const UNUSED_AFTER: Duration = Duration::from_secs(15);
/// The largest request body accepted.
pub const MAX_BODY: usize = 1024;

type Opening = JoinHandle<Result<Opened, String>>;

/// The sessions opened or opening, by call.
#[derive(Default)]
pub struct Prewarmed {
    slots: Mutex<HashMap<CallSid, Opening>>,
}

/// Why a pre-warm request was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("malformed request")]
    Malformed,
    /// Unknown call, bad or stale signature: one answer for all of them.
    #[error("not signed for a call of this node's store")]
    Forbidden,
    #[error("the call is over")]
    CallOver,
    #[error("as many sessions are waiting as the node takes calls")]
    Full,
    #[error("store unavailable")]
    Store,
}

impl Prewarmed {
    /// The opening of `sid`'s session, if one was asked for and is not yet closed.
    pub(super) fn take(&self, sid: &CallSid) -> Option<Opening> {
        self.lock().remove(sid)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallSid, Opening>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks a request and starts opening its call's session; at most `limit` wait at
    /// once. A request repeated for the same call changes nothing. The call's sid, for
    /// [`Self::expire`] later; `None` when its provider is not opened in advance.
    pub async fn accept(
        &self,
        ctx: &CallContext,
        signature: Option<&str>,
        body: &[u8],
        limit: usize,
    ) -> Result<Option<CallSid>, Refused> {
        #[derive(serde::Deserialize)]
        struct Request {
            call_sid: String,
        }
        let request: Request = serde_json::from_slice(body).map_err(|_| Refused::Malformed)?;
        let sid = CallSid::parse(&request.call_sid).map_err(|_| Refused::Malformed)?;
        let signature = signature.ok_or(Refused::Forbidden)?;
        let record = ctx
            .calls
            .get_call(&sid)
            .await
            .map_err(|_| Refused::Store)?
            .ok_or(Refused::Forbidden)?;
        if !signing::verify(
            record.stream_token.as_bytes(),
            signature,
            body,
            Utc::now().timestamp(),
        ) {
            return Err(Refused::Forbidden);
        }
        if record.ended_at.is_some() || record.status.is_terminal() {
            return Err(Refused::CallOver);
        }
        {
            let slots = self.lock();
            if slots.contains_key(&sid) {
                return Ok(Some(sid));
            }
            if slots.len() >= limit {
                return Err(Refused::Full);
            }
        }
        let agent = ctx
            .directory
            .get_agent(&record.org, &record.agent)
            .await
            .map_err(|_| Refused::Store)?
            .ok_or(Refused::Forbidden)?;
        // Deepgram closes a socket that carries no audio for 10 s, which a long greeting
        // would outlast: the pipeline connects when the caller's audio starts.
        if agent.provider == Provider::Pipeline {
            return Ok(None);
        }
        let agent = prepare_agent(ctx, &record, agent).await;
        let span = info_span!("prewarm", call_sid = %sid, provider = ?agent.provider);
        let owned = ctx.clone();
        let opening = tokio::spawn(async move { open(&owned, &agent).await }.instrument(span));
        let mut slots = self.lock();
        if slots.contains_key(&sid) || slots.len() >= limit {
            // Another request for it got in meanwhile (or the node filled up).
            opening.abort();
            return if slots.contains_key(&sid) {
                Ok(Some(sid))
            } else {
                Err(Refused::Full)
            };
        }
        slots.insert(sid.clone(), opening);
        Ok(Some(sid))
    }

    /// Closes `sid`'s session if its call has not taken it by now.
    pub fn expire(&self, sid: &CallSid) {
        if let Some(opening) = self.take(sid) {
            info!(call_sid = %sid, "pre-warmed session never used: closed");
            // Dropping the finished session closes its sockets; one still opening stops.
            opening.abort();
        }
    }
}
