//! The records the node checks before it bridges a call: one organization (whose token
//! signs the upgrades), one agent, and one in-progress call record per simulated call.

use std::path::Path;

use anyhow::Context as _;
use chrono::Utc;
use hotline_core::model::{
    Agent, Call, CallLimits, CallStatus, Direction, OrgSettings, Organization, PipelineSpec,
    Provider, SttSpec, SttVendor, TtsSpec, TtsVendor, TwilioAccount,
};
use hotline_core::{AccountSid, AgentId, CallSid, OrgId, Party};
use hotline_store::Stores;
use secrecy::SecretString;

use super::phone::CallSpec;

pub struct Seeded {
    pub account_sid: String,
    pub auth_token: String,
    pub calls: Vec<CallSpec>,
}

fn hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `provider`: the agent's. Gemini's audio carries no frame ids, so its fake learns the
/// call from the `setup`: each call then has its own agent, whose instructions name it.
pub async fn seed(
    data_dir: &Path,
    calls: u32,
    provider: Provider,
    stt: SttVendor,
) -> anyhow::Result<Seeded> {
    let stores = Stores::local(data_dir).context("opening the local store")?;
    let org_id = OrgId::parse("bench-org")?;
    let account_sid = format!("AC{}", hex32());
    let auth_token = hex32();
    stores
        .directory
        .put_org(&Organization {
            id: org_id.clone(),
            name: "Load bench".into(),
            twilio: TwilioAccount {
                parent: None,
                account_sid: AccountSid::parse(&account_sid)?,
                auth_token: SecretString::from(auth_token.clone()),
            },
            settings: OrgSettings::default(),
            version: 0,
        })
        .await
        .context("storing the organization")?;
    let mut agent = Agent {
        org: org_id.clone(),
        id: AgentId::parse("bench-agent")?,
        name: "Bench agent".into(),
        instructions: "You are a load test.".into(),
        voice: "marin".into(),
        // Twilio greets, so the AI is not asked to speak first.
        greeting: Some("Hello".into()),
        voicemail_message: None,
        enabled: true,
        provider,
        model: match provider {
            Provider::OpenaiRealtime => "gpt-realtime",
            Provider::GeminiLive => "gemini-2.5-flash-native-audio-preview-12-2025",
            Provider::Pipeline => "gpt-4.1-mini",
        }
        .into(),
        tools: Vec::new(),
        analyzers: Vec::new(),
        // Guardrails far beyond the run, so they never act.
        limits: CallLimits {
            max_duration_secs: 3600,
            silence_timeout_secs: 3600,
        },
        fallback: None,
        pipeline: (provider == Provider::Pipeline).then(|| PipelineSpec {
            stt: SttSpec::of(stt),
            tts: TtsSpec::of(TtsVendor::Elevenlabs),
        }),
        version: 0,
    };
    if provider == Provider::GeminiLive {
        agent.voice = "Puck".into();
    }
    stores
        .directory
        .put_agent(&agent)
        .await
        .context("storing the agent")?;
    let per_call = provider == Provider::GeminiLive;
    let mut specs = Vec::with_capacity(calls as usize);
    for index in 0..calls {
        let agent_id = if per_call {
            let mine = Agent {
                id: AgentId::parse(&format!("bench-agent-{index}"))?,
                instructions: format!("You are a load test: bench call {index}."),
                ..agent.clone()
            };
            stores
                .directory
                .put_agent(&mine)
                .await
                .context("storing a call's agent")?;
            mine.id
        } else {
            agent.id.clone()
        };
        let call_sid = format!("CA{}", hex32());
        let stream_token = hex32();
        stores
            .calls
            .create_call(&Call {
                sid: CallSid::parse(&call_sid)?,
                org: org_id.clone(),
                agent: agent_id,
                from: Party::parse("+14155550100")?,
                to: Party::parse("+14155550111")?,
                direction: Direction::Inbound,
                status: CallStatus::InProgress,
                started_at: Utc::now(),
                answered_at: None,
                ended_at: None,
                contact: None,
                greeting: agent.greeting.clone(),
                stream_token: stream_token.clone(),
                transfers: Vec::new(),
                outcome: None,
                recording: None,
                post_call: Default::default(),
                outbound: None,
                version: 0,
            })
            .await
            .context("storing a call")?;
        specs.push(CallSpec {
            index,
            call_sid,
            stream_token,
        });
    }
    // The node opens the same SQLite file; this process lets go of it first.
    drop(stores);
    Ok(Seeded {
        account_sid,
        auth_token,
        calls: specs,
    })
}
