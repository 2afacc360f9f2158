//! The demo organization `hotline up` starts with: one agent answering one number.

use hotline_core::ids::{AccountSid, AgentId, E164, OrgId, ParseIdError};
use hotline_core::model::{
    Agent, Analyzer, CallLimits, OrgSettings, Organization, PhoneNumber, Provider, ToolKind,
    ToolSpec, TwilioAccount,
};
use hotline_core::ports::{Directory, StoreError};
use rand::Rng as _;
use secrecy::SecretString;

pub const DEMO_ORG: &str = "demo";
pub const DEMO_AGENT: &str = "receptionist";
/// Where the demo agent transfers callers who ask for a person.
pub const DEMO_TRANSFER_TO: &str = "+15005550006";

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{0}: {1}")]
    Invalid(&'static str, ParseIdError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was seeded, for printing.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub org: Organization,
    pub number: E164,
    pub agent: AgentId,
    /// The credentials were generated here rather than given.
    pub generated: bool,
}

fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Creates the demo organization, agent and number unless they exist. Twilio
/// credentials and number come from `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` and
/// `TWILIO_PHONE_NUMBER` when set (and then replace what was stored), otherwise they
/// are generated once and kept.
pub async fn seed_demo(
    directory: &dyn Directory,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Seeded, SeedError> {
    let org_id = OrgId::parse(DEMO_ORG).map_err(|e| SeedError::Invalid("org", e))?;
    let agent_id = AgentId::parse(DEMO_AGENT).map_err(|e| SeedError::Invalid("agent", e))?;
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let given_sid = env("TWILIO_ACCOUNT_SID")
        .map(|s| AccountSid::parse(s.trim()))
        .transpose()
        .map_err(|e| SeedError::Invalid("TWILIO_ACCOUNT_SID", e))?;
    let given_token = env("TWILIO_AUTH_TOKEN");
    let given_number = env("TWILIO_PHONE_NUMBER")
        .map(|s| E164::parse(s.trim()))
        .transpose()
        .map_err(|e| SeedError::Invalid("TWILIO_PHONE_NUMBER", e))?;

    let existing = directory.get_org(&org_id).await?;
    let generated = given_sid.is_none() || given_token.is_none();
    let org = match (existing, given_sid, given_token) {
        (_, Some(account_sid), Some(token)) => Organization {
            id: org_id.clone(),
            name: "hotline demo".into(),
            twilio: TwilioAccount {
                account_sid,
                auth_token: SecretString::from(token),
            },
            settings: OrgSettings::default(),
            version: 0,
        },
        (Some(org), _, _) => org,
        (None, _, _) => Organization {
            id: org_id.clone(),
            name: "hotline demo".into(),
            twilio: TwilioAccount {
                account_sid: AccountSid::parse(&format!("AC{}", random_hex(32)))
                    .map_err(|e| SeedError::Invalid("account", e))?,
                auth_token: SecretString::from(random_hex(32)),
            },
            settings: OrgSettings::default(),
            version: 0,
        },
    };
    let org = directory.put_org(&org).await?;

    if directory.get_agent(&org_id, &agent_id).await?.is_none() {
        directory
            .put_agent(&demo_agent(&org_id, &agent_id)?)
            .await?;
    }

    let number = match given_number {
        Some(n) => n,
        None => match find_demo_number(directory, &org_id).await? {
            Some(n) => n,
            None => E164::parse(&format!(
                "+1555{:07}",
                rand::rng().random_range(0..10_000_000u32)
            ))
            .map_err(|e| SeedError::Invalid("number", e))?,
        },
    };
    directory
        .put_number(&PhoneNumber {
            number: number.clone(),
            org: org_id.clone(),
            agent: agent_id.clone(),
            enabled: true,
            version: 0,
        })
        .await?;
    // Remember which number is the demo's, so a restart keeps it.
    let mut marker = directory
        .get_agent(&org_id, &agent_id)
        .await?
        .unwrap_or(demo_agent(&org_id, &agent_id)?);
    if marker.name != demo_agent_name(&number) {
        marker.name = demo_agent_name(&number);
        directory.put_agent(&marker).await?;
    }
    Ok(Seeded {
        org,
        number,
        agent: agent_id,
        generated,
    })
}

fn demo_agent_name(number: &E164) -> String {
    format!("Demo receptionist ({number})")
}

/// The demo number is kept in the agent's name: `Demo receptionist (+1555…)`.
pub async fn find_demo_number(
    directory: &dyn Directory,
    org: &OrgId,
) -> Result<Option<E164>, StoreError> {
    let agents = directory.list_agents(org).await?;
    Ok(agents.iter().find_map(|a| {
        let inner = a
            .name
            .strip_prefix("Demo receptionist (")?
            .strip_suffix(')')?;
        E164::parse(inner).ok()
    }))
}

fn demo_agent(org: &OrgId, id: &AgentId) -> Result<Agent, SeedError> {
    Ok(Agent {
        org: org.clone(),
        id: id.clone(),
        name: "Demo receptionist".into(),
        instructions: "You are the friendly receptionist of a small dental clinic. Keep answers \
            short: this is a phone call. Help callers book, move or cancel appointments. If \
            the caller asks for a person, use transfer_call. When the caller is done, say \
            goodbye and use end_call."
            .into(),
        voice: "marin".into(),
        greeting: None,
        enabled: true,
        provider: Provider::OpenaiRealtime,
        model: "gpt-realtime".into(),
        tools: vec![ToolSpec {
            name: "transfer_call".into(),
            description: "Transfer the caller to a person at the front desk.".into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": { "reason": { "type": "string" } },
                "required": ["reason"]
            }),
            kind: ToolKind::TransferCall {
                to: E164::parse(DEMO_TRANSFER_TO).map_err(|e| SeedError::Invalid("transfer", e))?,
            },
        }],
        analyzers: demo_analyzers(),
        limits: CallLimits::default(),
        version: 0,
    })
}

/// What the demo clinic wants to know after each call.
pub fn demo_analyzers() -> Vec<Analyzer> {
    vec![
        Analyzer {
            name: "summary".into(),
            prompt: "Summarize the call in one or two sentences for the front desk.".into(),
            schema: serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["summary"],
                "properties": { "summary": { "type": "string" } }
            }),
        },
        Analyzer {
            name: "appointment".into(),
            prompt: "What did the caller want done about an appointment, and for when?".into(),
            schema: serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["request", "when"],
                "properties": {
                    "request": { "type": "string", "enum": ["book", "move", "cancel", "question", "none"] },
                    "when": { "type": ["string", "null"] }
                }
            }),
        },
    ]
}
