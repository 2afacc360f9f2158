//! Answering a call: which agent takes it, and the call and contact records it leaves.
//! Twilio retries the voice webhook, so everything here is idempotent on the CallSid.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::ids::{AgentId, CallSid, OrgId, Party};
use crate::model::{Agent, Call, CallStatus, Contact, Dial, Direction, Organization};
use crate::ports::{Calls, Contacts, Directory, StoreError, StoreResult};

/// What Twilio told us about a call that needs answering.
#[derive(Debug, Clone)]
pub struct IncomingCall {
    pub sid: CallSid,
    pub from: Party,
    pub to: Party,
    pub direction: Direction,
    pub status: CallStatus,
    /// The dial hotline placed this call for, as stored (found through the webhook
    /// URL's `call` and checked against the call by the caller).
    pub outbound: Option<Dial>,
}

/// How to answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Connect the caller to the agent; `call` is the stored record (the first one, on a retry).
    Connect { call: Box<Call>, agent: Box<Agent> },
    /// Nobody answers this number: say so and hang up.
    NotInService,
    /// The agent is switched off: apologise and hang up.
    AgentDisabled,
}

/// The ports answering needs.
pub struct AnswerPorts<'a> {
    pub directory: &'a dyn Directory,
    pub calls: &'a dyn Calls,
    pub contacts: &'a dyn Contacts,
}

pub async fn answer_call(
    ports: &AnswerPorts<'_>,
    org: &Organization,
    incoming: &IncomingCall,
    now: DateTime<Utc>,
) -> StoreResult<Answer> {
    let Some(agent_id) = route(ports.directory, &org.id, incoming).await? else {
        info!(
            reason = "no agent for the called number",
            "call not in service"
        );
        return Ok(Answer::NotInService);
    };
    let Some(agent) = ports.directory.get_agent(&org.id, &agent_id).await? else {
        warn!(agent = %agent_id, "call routed to an agent that does not exist");
        return Ok(Answer::NotInService);
    };
    if !agent.enabled {
        info!(agent = %agent_id, "call to a disabled agent");
        return Ok(Answer::AgentDisabled);
    }

    // The contact is the other party: the caller on inbound calls, the callee on outbound.
    let other = match incoming.direction {
        Direction::Inbound => &incoming.from,
        Direction::OutboundApi | Direction::OutboundDial => &incoming.to,
    };
    let contact = match other.phone() {
        Some(phone) => Some(
            ports
                .contacts
                .create_contact(&Contact::new(org.id.clone(), phone.clone(), now))
                .await?
                .into_inner(),
        ),
        None => None,
    };

    // A blank greeting is no greeting: Twilio would say nothing, so the AI must speak
    // first (the stream node goes by whether the record holds one).
    let spoken = |g: &Option<String>| g.clone().filter(|g| !g.trim().is_empty());
    let greeting = spoken(&agent.greeting);
    let call = match &incoming.outbound {
        Some(dial) => {
            let mut call =
                crate::dial::call_record(dial, incoming.sid.clone(), incoming.status, now);
            call.contact = contact.as_ref().map(|c| c.phone.clone());
            call
        }
        None => Call {
            sid: incoming.sid.clone(),
            org: org.id.clone(),
            agent: agent.id.clone(),
            from: incoming.from.clone(),
            to: incoming.to.clone(),
            direction: incoming.direction,
            status: incoming.status,
            started_at: now,
            answered_at: None,
            ended_at: None,
            contact: contact.as_ref().map(|c| c.phone.clone()),
            greeting,
            stream_token: uuid::Uuid::new_v4().simple().to_string(),
            transfers: Vec::new(),
            outcome: None,
            recording: None,
            post_call: Default::default(),
            outbound: None,
            version: 0,
        },
    };
    let created = ports.calls.create_call(&call).await?;
    let is_new = created.is_new();
    let call = created.into_inner();
    if call.org != org.id {
        // A CallSid is unique across Twilio; seeing it under another organization means
        // a forged or misrouted request. Never answer with another tenant's call.
        warn!("CallSid already belongs to another organization");
        return Err(StoreError::Conflict(format!("call {}", call.sid)));
    }
    if is_new {
        if let Some(contact) = contact {
            remember_last_call(ports.contacts, contact, &call.sid).await;
        }
        info!(agent = %agent.id, direction = ?call.direction, "call created");
    } else {
        info!("voice webhook retried; answering with the stored call");
    }
    Ok(Answer::Connect {
        call: Box::new(call),
        agent: Box::new(agent),
    })
}

/// The agent that should take the call, if any.
async fn route(
    directory: &dyn Directory,
    org: &OrgId,
    incoming: &IncomingCall,
) -> StoreResult<Option<AgentId>> {
    match (&incoming.direction, &incoming.outbound) {
        (Direction::OutboundApi, Some(dial)) if &dial.org == org => Ok(Some(dial.agent.clone())),
        (Direction::Inbound, _) => {
            let Some(called) = incoming.to.phone() else {
                return Ok(None);
            };
            let number = directory.get_number(called).await?;
            // A number registered to another organization is not this account's to answer.
            Ok(number
                .filter(|n| n.enabled && &n.org == org)
                .map(|n| n.agent))
        }
        _ => Ok(None),
    }
}

/// Points the contact at its newest call. Losing this race to a concurrent update is
/// harmless (the other writer is also recording a recent call), so it is not retried.
async fn remember_last_call(contacts: &dyn Contacts, mut contact: Contact, call: &CallSid) {
    contact.last_call = Some(call.clone());
    if let Err(e) = contacts.update_contact(&contact).await {
        warn!(error = %e, "could not record the contact's last call");
    }
}
