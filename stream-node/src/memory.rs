//! One memory per contact, on the phone: before the realtime session is configured,
//! the agent's instructions are extended with what the organization knows of the caller
//! (their earlier calls and texts), read through the store's ports and bounded by
//! `hotline_core::memory`'s budget. A lookup that fails or is slow never delays or
//! fails the call: the agent then starts with its own instructions.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hotline_core::E164;
use hotline_core::memory::{RECENT_CALLS, RECENT_TEXTS, instructions_with_history};
use hotline_core::model::{Agent, Call, Channel, Direction};
use hotline_core::ports::{Calls, Contacts, Messages, StoreResult};
use tracing::{info, warn};

/// How long the history may take to read: the caller is already on the line.
const LOOKUP_BUDGET: Duration = Duration::from_millis(1500);
/// How many of the organization's newest calls are searched for the caller's.
const CALLS_SEARCHED: usize = 100;

/// The contact's stores: the history is read from them, and the `send_sms` tool
/// stores the texts it sends in them.
#[derive(Clone)]
pub struct Memory {
    pub contacts: Arc<dyn Contacts>,
    pub messages: Arc<dyn Messages>,
    /// Where Twilio reports the delivery of texts sent during calls
    /// (`{HOTLINE_PUBLIC_URL}/twilio/sms/status`); `None` sends without reports.
    pub status_callback: Option<String>,
}

impl Memory {
    /// `agent` with its instructions extended by the caller's history, when there is
    /// one and it could be read in time.
    pub async fn recall(&self, calls: &dyn Calls, record: &Call, mut agent: Agent) -> Agent {
        let Some(phone) = caller_phone(record) else {
            return agent;
        };
        match tokio::time::timeout(LOOKUP_BUDGET, self.history(calls, record, &phone, &agent)).await
        {
            Ok(Ok(instructions)) => agent.instructions = instructions,
            Ok(Err(e)) => warn!(error = %e, "the caller's history could not be read"),
            Err(_) => warn!("the caller's history took too long to read; left out"),
        }
        agent
    }

    async fn history(
        &self,
        calls: &dyn Calls,
        record: &Call,
        phone: &E164,
        agent: &Agent,
    ) -> StoreResult<String> {
        let org = &record.org;
        let contact = self.contacts.get_contact(org, phone).await?;
        let earlier: Vec<Call> = calls
            .list_calls(org, CALLS_SEARCHED)
            .await?
            .into_iter()
            .filter(|c| {
                c.sid != record.sid && &c.org == org && caller_phone(c).as_ref() == Some(phone)
            })
            .take(RECENT_CALLS)
            .collect();
        let texts = self
            .messages
            .conversation(org, phone, Channel::Sms, RECENT_TEXTS)
            .await?;
        info!(
            calls = earlier.len(),
            texts = texts.len(),
            "the caller's history joins the instructions"
        );
        Ok(instructions_with_history(
            &agent.instructions,
            contact.as_ref(),
            &earlier,
            &texts,
            Utc::now(),
        ))
    }
}

/// The person's number on a call: the contact when known, else the far end.
pub(crate) fn caller_phone(call: &Call) -> Option<E164> {
    if let Some(contact) = &call.contact {
        return Some(contact.clone());
    }
    let far = match call.direction {
        Direction::Inbound => &call.from,
        _ => &call.to,
    };
    far.phone().cloned()
}
