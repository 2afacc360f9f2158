//! Placing one outbound call: the use case `POST /api/v1/calls` runs, and the one a
//! campaign dialer runs for a lead. The call's [`Dial`] is stored first (what was asked,
//! with the agent's texts rendered from the call's variables), then Twilio is asked to
//! place it with hotline's webhooks naming that dial; the voice webhook, the status and
//! answering-machine callbacks read the agent and the texts from the stored dial and the
//! call record, never from a URL alone.
//!
//! Idempotent on the client's key: the dial's id is derived from it, so a retried
//! request finds the stored dial (and its call) instead of dialling twice.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::ids::{AgentId, CallSid, E164, OrgId, Party};
use crate::model::{
    Agent, Call, CallStatus, Contact, Dial, DialState, Direction, Organization, OutboundCall,
};
use crate::ports::{Calls, Contacts, Created, Dials, Directory, StoreError, StoreResult};
use crate::routes;
use crate::template::{self, MissingVariables};

/// Seconds Twilio lets an outbound call ring before it reports `no-answer`.
pub const RING_TIMEOUT_SECS: u32 = 30;
/// Longest `Idempotency-Key` taken.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// An outbound call to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRequest {
    pub to: E164,
    pub agent: AgentId,
    /// One of the organization's numbers; default the first enabled one routed to the
    /// agent, else the first enabled one.
    pub from: Option<E164>,
    pub variables: BTreeMap<String, String>,
    pub machine_detection: bool,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// The campaign lead, when a dialer places it.
    pub lead: Option<String>,
}

/// What Twilio is asked to do (`POST …/Calls.json`), in hotline's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceCall {
    pub to: E164,
    pub from: E164,
    /// The voice webhook, naming the dial.
    pub url: String,
    /// Status callbacks for every event.
    pub status_callback: String,
    /// Where Twilio posts `AnsweredBy` (asynchronous detection, waiting for the beep);
    /// `None`: no detection.
    pub amd_callback: Option<String>,
    pub fallback_url: String,
    pub ring_timeout_secs: u32,
}

/// Why Twilio did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// Refused for good (an invalid number, a call already over, …).
    #[error("refused: {0}")]
    Rejected(String),
    /// No such call in the account.
    #[error("no such call")]
    NotFound,
    /// Could not be reached or failed on its side; a create may or may not have placed
    /// the call.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The port to whoever places and controls calls (Twilio's REST API), with the
/// organization's own account.
#[async_trait]
pub trait CallPlacer: Send + Sync {
    async fn place(&self, org: &Organization, call: &PlaceCall) -> Result<CallSid, PlaceError>;
    /// Ends the call: hangs up a live one, cancels one still ringing.
    async fn hang_up(&self, org: &Organization, call: &CallSid) -> Result<(), PlaceError>;
    /// Stops what the call is doing (its stream included) and runs `twiml` instead.
    async fn run_twiml(
        &self,
        org: &Organization,
        call: &CallSid,
        twiml: &str,
    ) -> Result<(), PlaceError>;
}

/// hotline's public webhook URLs a placed call carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialUrls {
    /// `HOTLINE_PUBLIC_URL`, without a trailing slash.
    pub base: String,
}

impl DialUrls {
    fn with_dial(&self, path: &str, dial: &str) -> String {
        format!("{}{path}?call={dial}", self.base)
    }

    fn for_dial(&self, dial: &Dial, to: &E164, from: &E164) -> PlaceCall {
        PlaceCall {
            to: to.clone(),
            from: from.clone(),
            url: self.with_dial(routes::VOICE, &dial.id),
            status_callback: self.with_dial(routes::STATUS, &dial.id),
            amd_callback: dial
                .machine_detection
                .then(|| self.with_dial(routes::AMD, &dial.id)),
            fallback_url: self.with_dial(routes::FALLBACK, &dial.id),
            ring_timeout_secs: RING_TIMEOUT_SECS,
        }
    }
}

/// The dial named in a webhook URL's query (`call=dl_…`), when it names one well-formed.
pub fn dial_in_query(raw_query: Option<&str>) -> Option<String> {
    let query = raw_query?;
    form_pairs(query)
        .find(|(k, _)| k == "call")
        .map(|(_, v)| v)
        .filter(|v| valid_dial_id(v))
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    // Dial ids are `dl_` and hex: nothing in them is ever percent-encoded.
    query.split('&').map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k.to_owned(), v.to_owned())
    })
}

/// `dl_` and 32 lowercase hex digits.
pub fn valid_dial_id(id: &str) -> bool {
    id.strip_prefix("dl_").is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The dial id for a request: from the organization and its idempotency key, or random.
/// A campaign dialer derives its key from the lead and the attempt, so it knows the id
/// before Twilio is asked.
pub fn dial_id(org: &OrgId, key: Option<&str>) -> String {
    match key {
        Some(key) => {
            let digest = Sha256::digest(format!("{org}\n{key}").as_bytes());
            format!("dl_{}", &hex(&digest)[..32])
        }
        None => format!("dl_{}", uuid::Uuid::new_v4().simple()),
    }
}

fn fingerprint(req: &DialRequest, from: &E164) -> String {
    let canonical = serde_json::json!({
        "to": req.to, "agent": req.agent, "from": from,
        "variables": req.variables, "machine_detection": req.machine_detection,
        "lead": req.lead,
    });
    hex(&Sha256::digest(canonical.to_string().as_bytes()))
}

/// Why a call was not placed, in words the client can act on.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    MissingVariables(MissingVariables),
    #[error("no agent {0} in this organization")]
    UnknownAgent(AgentId),
    #[error("agent {0} is disabled")]
    AgentDisabled(AgentId),
    #[error("from: {0} is not one of this organization's numbers")]
    NotOurNumber(E164),
    #[error("this organization has no enabled number to call from")]
    NoNumber,
    #[error("this Idempotency-Key was used for another request")]
    KeyReused,
    #[error("a request with this Idempotency-Key is still being placed; try again shortly")]
    InProgress,
    /// Twilio refused; the stored dial says so to every retry.
    #[error("Twilio refused the call: {0}")]
    Refused(String),
    #[error("Twilio is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ports placing a call needs.
pub struct DialPorts<'a> {
    pub directory: &'a dyn Directory,
    pub calls: &'a dyn Calls,
    pub contacts: &'a dyn Contacts,
    pub dials: &'a dyn Dials,
    pub placer: &'a dyn CallPlacer,
}

/// A placed call.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub dial: Dial,
    pub call: Call,
    /// An earlier request with the same idempotency key placed it.
    pub replayed: bool,
}

/// The agent's texts with `vars` filled in: instructions, greeting, voicemail message.
/// Every missing variable of the three is named at once.
pub fn render_agent(
    agent: &Agent,
    vars: &BTreeMap<String, String>,
) -> Result<(String, Option<String>, Option<String>), MissingVariables> {
    let mut missing = std::collections::BTreeSet::new();
    let mut one = |t: &str| match template::render(t, vars) {
        Ok(s) => s,
        Err(MissingVariables(names)) => {
            missing.extend(names);
            String::new()
        }
    };
    let spoken = |t: &Option<String>| t.clone().filter(|t| !t.trim().is_empty());
    let instructions = one(&agent.instructions);
    let greeting = spoken(&agent.greeting).map(|g| one(&g));
    let voicemail = spoken(&agent.voicemail_message).map(|v| one(&v));
    if missing.is_empty() {
        Ok((instructions, greeting, voicemail))
    } else {
        Err(MissingVariables(missing.into_iter().collect()))
    }
}

/// The call record of a placed dial. With detection on, the greeting waits for a person
/// (the agent says it); without, Twilio says it as on inbound calls.
pub fn call_record(dial: &Dial, sid: CallSid, status: CallStatus, now: DateTime<Utc>) -> Call {
    let (greeting, agent_greeting) = if dial.machine_detection {
        (None, dial.greeting.clone())
    } else {
        (dial.greeting.clone(), None)
    };
    Call {
        sid,
        org: dial.org.clone(),
        agent: dial.agent.clone(),
        from: Party::Phone(dial.from.clone()),
        to: Party::Phone(dial.to.clone()),
        direction: Direction::OutboundApi,
        status,
        started_at: now,
        answered_at: None,
        ended_at: None,
        contact: Some(dial.to.clone()),
        greeting,
        stream_token: uuid::Uuid::new_v4().simple().to_string(),
        transfers: Vec::new(),
        outcome: None,
        recording: None,
        post_call: Default::default(),
        outbound: Some(OutboundCall {
            dial: dial.id.clone(),
            instructions: dial.instructions.clone(),
            greeting: agent_greeting,
            voicemail_message: dial.voicemail_message.clone(),
            machine_detection: dial.machine_detection,
            answered_by: None,
            amd_outcome: None,
            fallback: false,
        }),
        version: 0,
    }
}

/// Notes Twilio's CallSid on the dial (placed) unless it has one; `Conflict` when it
/// names another call. Returns the dial as stored.
pub async fn bind_call(dials: &dyn Dials, id: &str, sid: &CallSid) -> StoreResult<Dial> {
    for _ in 0..6 {
        let mut dial = dials
            .get_dial(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("dial {id}")))?;
        match &dial.call_sid {
            Some(bound) if bound == sid => return Ok(dial),
            Some(_) => return Err(StoreError::Conflict(format!("dial {id}"))),
            None => {}
        }
        dial.call_sid = Some(sid.clone());
        dial.state = DialState::Placed;
        dial.error = None;
        match dials.update_dial(&dial).await {
            Err(StoreError::Conflict(_)) => {}
            other => return other,
        }
    }
    Err(StoreError::Conflict(format!("dial {id}")))
}

/// The call record for `sid` placed by `dial`, created from the dial if nobody has yet
/// (the voice webhook or a status callback may come before the API wrote it).
pub async fn ensure_call(
    calls: &dyn Calls,
    dial: &Dial,
    sid: &CallSid,
    now: DateTime<Utc>,
) -> StoreResult<Call> {
    let call = calls
        .create_call(&call_record(dial, sid.clone(), CallStatus::Queued, now))
        .await?
        .into_inner();
    if call.org != dial.org {
        return Err(StoreError::Conflict(format!("call {sid}")));
    }
    Ok(call)
}

/// The number to call from: `asked` if the organization has it enabled, else the first
/// enabled number routed to `agent`, else the first enabled one.
async fn caller_id(
    directory: &dyn Directory,
    org: &OrgId,
    agent: &AgentId,
    asked: Option<&E164>,
) -> Result<E164, DialError> {
    if let Some(asked) = asked {
        return match directory.get_number(asked).await? {
            Some(n) if &n.org == org && n.enabled => Ok(n.number),
            _ => Err(DialError::NotOurNumber(asked.clone())),
        };
    }
    let numbers = directory.list_numbers(org).await?;
    let enabled = || numbers.iter().filter(|n| n.enabled && &n.org == org);
    enabled()
        .find(|n| &n.agent == agent)
        .or_else(|| enabled().next())
        .map(|n| n.number.clone())
        .ok_or(DialError::NoNumber)
}

/// Places one outbound call for `org`. See the module docs.
pub async fn place_call(
    ports: &DialPorts<'_>,
    org: &Organization,
    req: &DialRequest,
    urls: &DialUrls,
    now: DateTime<Utc>,
) -> Result<Placed, DialError> {
    if let Some(key) = &req.idempotency_key
        && (key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || key.chars().any(char::is_control))
    {
        return Err(DialError::Invalid(format!(
            "Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable characters"
        )));
    }
    template::check_variables(&req.variables).map_err(DialError::Invalid)?;
    let agent = ports
        .directory
        .get_agent(&org.id, &req.agent)
        .await?
        .ok_or_else(|| DialError::UnknownAgent(req.agent.clone()))?;
    if !agent.enabled {
        return Err(DialError::AgentDisabled(agent.id));
    }
    let (instructions, greeting, voicemail_message) =
        render_agent(&agent, &req.variables).map_err(DialError::MissingVariables)?;
    let from = caller_id(ports.directory, &org.id, &agent.id, req.from.as_ref()).await?;

    let dial = Dial {
        id: dial_id(&org.id, req.idempotency_key.as_deref()),
        org: org.id.clone(),
        agent: agent.id.clone(),
        from: from.clone(),
        to: req.to.clone(),
        variables: req.variables.clone(),
        instructions,
        greeting,
        voicemail_message,
        machine_detection: req.machine_detection,
        fingerprint: fingerprint(req, &from),
        state: DialState::Pending,
        call_sid: None,
        error: None,
        retry: false,
        lead: req.lead.clone(),
        created_at: now,
        version: 0,
    };
    let dial = match ports.dials.create_dial(&dial).await? {
        Created::New(dial) => dial,
        Created::Existing(stored) => return replay(ports, stored, &dial.fingerprint, now).await,
    };

    let place = urls.for_dial(&dial, &req.to, &from);
    let sid = match ports.placer.place(org, &place).await {
        Ok(sid) => sid,
        Err(e) => {
            let error = e.to_string();
            warn!(dial = %dial.id, error = %error, "Twilio did not place the call");
            fail_dial(ports.dials, &dial.id, &error).await;
            return Err(match e {
                PlaceError::Unavailable(why) => DialError::Unavailable(why),
                PlaceError::Rejected(why) => DialError::Refused(why),
                PlaceError::NotFound => DialError::Refused("not found".into()),
            });
        }
    };
    let dial = bind_call(ports.dials, &dial.id, &sid).await?;
    if let Err(e) = ports
        .contacts
        .create_contact(&Contact::new(org.id.clone(), req.to.clone(), now))
        .await
    {
        warn!(error = %e, "could not create the callee's contact");
    }
    let call = ensure_call(ports.calls, &dial, &sid, now).await?;
    info!(dial = %dial.id, call_sid = %sid, agent = %dial.agent, "outbound call placed");
    Ok(Placed {
        dial,
        call,
        replayed: false,
    })
}

/// A dial that failed stays failed (a retry with its key is told the same), unless the
/// voice webhook has bound a call to it meanwhile (Twilio placed it after all).
async fn fail_dial(dials: &dyn Dials, id: &str, error: &str) {
    for _ in 0..6 {
        let Ok(Some(mut dial)) = dials.get_dial(id).await else {
            return;
        };
        if dial.call_sid.is_some() {
            return;
        }
        dial.state = DialState::Failed;
        dial.error = Some(error.chars().take(500).collect());
        match dials.update_dial(&dial).await {
            Err(StoreError::Conflict(_)) => {}
            Err(e) => {
                warn!(error = %e, "could not record the failed dial");
                return;
            }
            Ok(_) => return,
        }
    }
}

/// What a request with an idempotency key already used gets.
async fn replay(
    ports: &DialPorts<'_>,
    stored: Dial,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Placed, DialError> {
    if stored.fingerprint != fingerprint {
        return Err(DialError::KeyReused);
    }
    match (&stored.call_sid, stored.state) {
        (Some(sid), _) => {
            let call = ensure_call(ports.calls, &stored, &sid.clone(), now).await?;
            Ok(Placed {
                dial: stored,
                call,
                replayed: true,
            })
        }
        (None, DialState::Failed) => Err(DialError::Refused(
            stored.error.unwrap_or_else(|| "refused".into()),
        )),
        (None, _) => Err(DialError::InProgress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_ids_from_keys_are_stable_per_organization() {
        let acme = OrgId::parse("acme").expect("org");
        let other = OrgId::parse("other").expect("org");
        let a = dial_id(&acme, Some("k1"));
        assert!(valid_dial_id(&a), "{a}");
        assert_eq!(a, dial_id(&acme, Some("k1")));
        assert_ne!(a, dial_id(&other, Some("k1")));
        assert_ne!(a, dial_id(&acme, Some("k2")));
        assert!(valid_dial_id(&dial_id(&acme, None)));
    }

    fn agent(instructions: &str, greeting: Option<&str>, voicemail: Option<&str>) -> Agent {
        serde_json::from_value(serde_json::json!({
            "org": "acme", "id": "front", "name": "Front", "instructions": instructions,
            "voice": "marin", "greeting": greeting, "voicemail_message": voicemail,
            "enabled": true, "provider": "openai_realtime", "model": "gpt-realtime"
        }))
        .expect("agent")
    }

    #[test]
    fn every_missing_variable_of_the_three_texts_is_named_at_once() {
        let a = agent(
            "Call {{name}}.",
            Some("Hi {{first}}"),
            Some("Bye {{name}} at {{time}}"),
        );
        let err = render_agent(&a, &BTreeMap::new()).expect_err("missing");
        assert_eq!(err.0, ["first", "name", "time"]);
        let vars: BTreeMap<String, String> = [("name", "Ada"), ("first", "A"), ("time", "3")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let (i, g, v) = render_agent(&a, &vars).expect("rendered");
        assert_eq!(
            (i.as_str(), g.as_deref(), v.as_deref()),
            ("Call Ada.", Some("Hi A"), Some("Bye Ada at 3"))
        );
        // A blank greeting is no greeting, whatever its placeholders.
        let (_, g, v) = render_agent(&agent("x", Some("  "), None), &BTreeMap::new()).expect("ok");
        assert_eq!((g, v), (None, None));
    }

    #[test]
    fn with_detection_the_agent_greets_and_without_it_twilio_does() {
        let dial: Dial = serde_json::from_value(serde_json::json!({
            "id": format!("dl_{}", "a".repeat(32)), "org": "acme", "agent": "front",
            "from": "+14155550111", "to": "+14155550100", "variables": {},
            "instructions": "i", "greeting": "Hi Ada", "machine_detection": true,
            "fingerprint": "f", "state": "placed", "created_at": "2026-12-06T09:00:00Z"
        }))
        .expect("dial");
        let sid = CallSid::parse(&format!("CA{}", "1".repeat(32))).expect("sid");
        let now = Utc::now();
        let call = call_record(&dial, sid.clone(), CallStatus::Queued, now);
        assert_eq!(call.greeting, None);
        let out = call.outbound.expect("outbound");
        assert_eq!(out.greeting.as_deref(), Some("Hi Ada"));
        assert!(out.awaits_verdict());
        let quiet = Dial {
            machine_detection: false,
            ..dial
        };
        let call = call_record(&quiet, sid, CallStatus::Queued, now);
        assert_eq!(call.greeting.as_deref(), Some("Hi Ada"));
        assert!(!call.outbound.expect("outbound").awaits_verdict());
    }

    #[test]
    fn the_dial_is_read_from_a_query_only_when_well_formed() {
        let id = format!("dl_{}", "a".repeat(32));
        assert_eq!(dial_in_query(Some(&format!("call={id}"))), Some(id.clone()));
        assert_eq!(dial_in_query(Some(&format!("x=1&call={id}"))), Some(id));
        for bad in ["call=dl_1", "call=../x", "agent_id=front", ""] {
            assert_eq!(dial_in_query(Some(bad)), None, "{bad}");
        }
        assert_eq!(dial_in_query(None), None);
    }
}
