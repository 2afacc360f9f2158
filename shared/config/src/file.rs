//! The file's shape, once the schema has passed it, and its translation into the domain
//! model: checks the schema cannot express (references, uniqueness, tool arguments) end
//! here, each with the path of what is wrong.

use std::collections::{HashMap, HashSet};

use hotline_core::ids::{AccountSid, AgentId, E164, OrgId};
use hotline_core::model::{
    Agent, Analyzer, CallLimits, Fallback, OrgSettings, Organization, PhoneNumber, PipelineSpec,
    Provider, SttSpec, SttVendor, ToolKind, ToolSpec, TtsSpec, TtsVendor, TwilioAccount,
};
use secrecy::SecretString;
use serde::Deserialize;

use crate::{DeclaredOrg, Problem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub organizations: Vec<OrgDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgDecl {
    pub id: String,
    pub name: Option<String>,
    pub twilio: TwilioDecl,
    #[serde(default)]
    pub reports: ReportsDecl,
    /// The organization's default analyzers; absent keeps the stored ones.
    pub analyzers: Option<Vec<Analyzer>>,
    #[serde(default)]
    pub agents: Vec<AgentDecl>,
    #[serde(default)]
    pub numbers: Vec<NumberDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioDecl {
    pub account_sid: String,
    pub auth_token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsDecl {
    #[serde(default)]
    pub emails: Vec<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    #[serde(default)]
    pub delete_twilio_recordings: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDecl {
    pub id: String,
    pub name: Option<String>,
    pub provider: Provider,
    pub model: Option<String>,
    pub instructions: String,
    pub voice: String,
    pub greeting: Option<String>,
    /// Left after the beep when a machine answers an outbound call.
    #[serde(default)]
    pub voicemail_message: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub tools: Vec<ToolDecl>,
    #[serde(default)]
    pub analyzers: Vec<Analyzer>,
    #[serde(default)]
    pub limits: CallLimits,
    pub fallback: Option<FallbackDecl>,
    /// `pipeline` only: the speech-to-text vendor and model.
    pub stt: Option<SttDecl>,
    /// `pipeline` only: the chat-completions model (instead of `model`).
    pub llm: Option<LlmDecl>,
    /// `pipeline` only: the text-to-speech vendor, model and voice (instead of `voice`).
    pub tts: Option<TtsDecl>,
}

/// `fallback:` on an agent: the provider that takes the call when the agent's own
/// fails at connect, with its own voice (voices differ between vendors).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackDecl {
    pub provider: Provider,
    pub model: Option<String>,
    pub voice: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SttDecl {
    pub vendor: SttVendor,
    pub model: Option<String>,
    pub language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmDecl {
    pub model: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtsDecl {
    pub vendor: TtsVendor,
    pub model: Option<String>,
    pub voice: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ToolType,
    pub description: Option<String>,
    pub parameters: Option<serde_json::Value>,
    pub to: Option<String>,
    /// transfer_call: `cold` (default) or `warm`.
    pub mode: Option<hotline_core::transfer::TransferMode>,
    /// transfer_call, warm: what the caller hears while the person is dialled.
    pub hold_music_url: Option<String>,
    /// transfer_call, warm: how long the person's phone rings.
    pub ring_timeout_secs: Option<u32>,
    pub url: Option<String>,
    pub timeout_secs: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolType {
    EndCall,
    TransferCall,
    Webhook,
    SendSms,
    SendDtmf,
    OptOut,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberDecl {
    pub number: String,
    pub agent: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "yes")]
    pub sms: bool,
    #[serde(default)]
    pub sms_agent: Option<String>,
    #[serde(default)]
    pub sms_disabled_message: Option<String>,
}

/// Longest disabled message: one TwiML `<Message>` answer, as the SMS function cuts them.
const MAX_SMS_CHARS: usize = hotline_core::sms::MAX_REPLY_CHARS;

/// The model a provider runs when the file names none.
fn default_model(provider: Provider) -> &'static str {
    match provider {
        Provider::OpenaiRealtime => "gpt-realtime",
        Provider::GeminiLive => "gemini-live-2.5-flash-preview",
        Provider::Pipeline => "gpt-4.1-mini",
    }
}

/// Collects problems instead of stopping at the first, so one run shows them all.
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, path: String, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            message: message.into(),
        });
    }

    fn parse<T, E: std::fmt::Display>(&mut self, path: String, parsed: Result<T, E>) -> Option<T> {
        parsed.map_err(|e| self.problem(path, e.to_string())).ok()
    }
}

/// The declared organizations as domain records, or every problem found.
pub fn translate(file: File) -> Result<Vec<DeclaredOrg>, Vec<Problem>> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let mut orgs = Vec::new();
    let mut org_ids: HashMap<String, usize> = HashMap::new();
    let mut accounts: HashMap<String, usize> = HashMap::new();
    let mut numbers: HashMap<String, String> = HashMap::new();
    for (i, decl) in file.organizations.into_iter().enumerate() {
        let at = format!("organizations[{i}]");
        if let Some(first) = org_ids.insert(decl.id.clone(), i) {
            c.problem(
                format!("{at}.id"),
                format!(
                    "\"{}\" is declared twice (also organizations[{first}])",
                    decl.id
                ),
            );
        }
        if let Some(first) = accounts.insert(decl.twilio.account_sid.clone(), i) {
            c.problem(
                format!("{at}.twilio.account_sid"),
                format!("organizations[{first}] has this Twilio account already: an account belongs to one organization"),
            );
        }
        if let Some(org) = translate_org(&mut c, &at, decl, &mut numbers) {
            orgs.push(org);
        }
    }
    if c.problems.is_empty() {
        Ok(orgs)
    } else {
        Err(c.problems)
    }
}

fn translate_org(
    c: &mut Checker,
    at: &str,
    decl: OrgDecl,
    numbers_seen: &mut HashMap<String, String>,
) -> Option<DeclaredOrg> {
    let id = c.parse(format!("{at}.id"), OrgId::parse(&decl.id));
    let account_sid = c.parse(
        format!("{at}.twilio.account_sid"),
        AccountSid::parse(&decl.twilio.account_sid),
    );
    if decl.reports.webhook_url.is_some() && decl.reports.webhook_secret.is_none() {
        c.problem(
            format!("{at}.reports.webhook_secret"),
            "a report webhook needs a secret to sign its requests (reports are never sent unsigned)",
        );
    }

    let mut agent_ids = HashSet::new();
    let mut agents = Vec::new();
    for (j, agent) in decl.agents.into_iter().enumerate() {
        let path = format!("{at}.agents[{j}]");
        if !agent_ids.insert(agent.id.clone()) {
            c.problem(
                format!("{path}.id"),
                format!("agent \"{}\" is declared twice", agent.id),
            );
        }
        if let Some(org) = &id {
            agents.extend(translate_agent(c, &path, org, agent));
        }
    }

    let mut numbers = Vec::new();
    for (j, number) in decl.numbers.into_iter().enumerate() {
        let path = format!("{at}.numbers[{j}]");
        if let Some(other) = numbers_seen.insert(number.number.clone(), path.clone()) {
            c.problem(
                format!("{path}.number"),
                format!("{} is declared twice (also {other})", number.number),
            );
        }
        if !agent_ids.contains(&number.agent) {
            c.problem(
                format!("{path}.agent"),
                format!("no agent \"{}\" in this organization", number.agent),
            );
        }
        if let Some(sms_agent) = &number.sms_agent
            && !agent_ids.contains(sms_agent)
        {
            c.problem(
                format!("{path}.sms_agent"),
                format!("no agent \"{sms_agent}\" in this organization"),
            );
        }
        let sms_disabled_message = match number.sms_disabled_message {
            Some(m) if m.trim().is_empty() || m.chars().count() > MAX_SMS_CHARS => {
                c.problem(
                    format!("{path}.sms_disabled_message"),
                    format!("must be 1 to {MAX_SMS_CHARS} characters"),
                );
                None
            }
            other => other,
        };
        let e164 = c.parse(format!("{path}.number"), E164::parse(&number.number));
        let agent = c.parse(format!("{path}.agent"), AgentId::parse(&number.agent));
        let sms_agent = match &number.sms_agent {
            Some(a) => c
                .parse(format!("{path}.sms_agent"), AgentId::parse(a))
                .map(Some),
            None => Some(None),
        };
        if let (Some(e164), Some(agent), Some(sms_agent), Some(org)) = (e164, agent, sms_agent, &id)
        {
            numbers.push(PhoneNumber {
                number: e164,
                org: org.clone(),
                agent,
                enabled: number.enabled,
                sms: number.sms,
                sms_agent,
                sms_disabled_message,
                analyzers: Vec::new(),
                version: 0,
            });
        }
    }

    if let Some(analyzers) = &decl.analyzers {
        for problem in check_analyzers(analyzers) {
            c.problem(format!("{at}.{}", problem.path), problem.message);
        }
    }
    let (id, account_sid) = (id?, account_sid?);
    Some(DeclaredOrg {
        default_analyzers: decl.analyzers.clone(),
        org: Organization {
            name: decl.name.unwrap_or_else(|| id.to_string()),
            id,
            twilio: TwilioAccount {
                parent: None,
                account_sid,
                auth_token: SecretString::from(decl.twilio.auth_token),
            },
            settings: OrgSettings {
                report_emails: decl.reports.emails,
                report_webhook_url: decl.reports.webhook_url,
                report_webhook_secret: decl.reports.webhook_secret.map(SecretString::from),
                delete_twilio_recordings: decl.reports.delete_twilio_recordings,
                default_analyzers: decl.analyzers.unwrap_or_default(),
            },
            version: 0,
        },
        agents,
        numbers,
    })
}

fn translate_agent(c: &mut Checker, at: &str, org: &OrgId, decl: AgentDecl) -> Option<Agent> {
    let id = c.parse(format!("{at}.id"), AgentId::parse(&decl.id));
    let mut tool_names = HashSet::new();
    let mut tools = Vec::new();
    for (k, tool) in decl.tools.into_iter().enumerate() {
        let path = format!("{at}.tools[{k}]");
        if !tool_names.insert(tool.name.clone()) {
            c.problem(
                format!("{path}.name"),
                format!("tool \"{}\" is declared twice", tool.name),
            );
        }
        tools.extend(translate_tool(c, &path, tool));
    }
    if let Err(e) = decl.limits.check() {
        c.problem(format!("{at}.limits"), e.to_string());
    }
    for problem in check_analyzers(&decl.analyzers) {
        c.problem(format!("{at}.{}", problem.path), problem.message);
    }
    let pipeline = decl.provider == Provider::Pipeline;
    for (key, given) in [
        ("stt", decl.stt.is_some()),
        ("llm", decl.llm.is_some()),
        ("tts", decl.tts.is_some()),
    ] {
        if given && !pipeline {
            c.problem(
                format!("{at}.{key}"),
                format!(
                    "only a pipeline agent has \"{key}\" (this one's provider speaks by itself)"
                ),
            );
        }
    }
    if decl.llm.is_some() && decl.model.is_some() {
        c.problem(
            format!("{at}.llm"),
            "name the pipeline's model once: llm.model, not also model",
        );
    }
    let spec = pipeline.then(|| {
        let defaults = PipelineSpec::default();
        // Models and languages default by vendor: one's names mean nothing to another.
        PipelineSpec {
            stt: decl.stt.as_ref().map_or(defaults.stt, |s| {
                let vendor = SttSpec::of(s.vendor);
                SttSpec {
                    model: s.model.clone().unwrap_or(vendor.model),
                    language: s.language.clone().unwrap_or(vendor.language),
                    vendor: s.vendor,
                }
            }),
            tts: decl.tts.as_ref().map_or(defaults.tts, |t| {
                let vendor = TtsSpec::of(t.vendor);
                TtsSpec {
                    model: t.model.clone().unwrap_or(vendor.model),
                    vendor: t.vendor,
                }
            }),
        }
    });
    let voice = decl
        .tts
        .as_ref()
        .and_then(|t| t.voice.clone())
        .unwrap_or(decl.voice);
    let model = decl
        .llm
        .map(|l| l.model)
        .or(decl.model)
        .unwrap_or_else(|| default_model(decl.provider).to_owned());
    Some(Agent {
        org: org.clone(),
        name: decl.name.unwrap_or_else(|| decl.id.clone()),
        id: id?,
        instructions: decl.instructions,
        voice,
        greeting: decl.greeting.filter(|g| !g.trim().is_empty()),
        voicemail_message: decl.voicemail_message.filter(|m| !m.trim().is_empty()),
        enabled: decl.enabled,
        model,
        provider: decl.provider,
        tools,
        analyzers: decl.analyzers,
        limits: decl.limits,
        fallback: decl.fallback.map(|f| Fallback {
            model: f
                .model
                .unwrap_or_else(|| default_model(f.provider).to_owned()),
            provider: f.provider,
            voice: f.voice,
        }),
        pipeline: spec,
        version: 0,
    })
}

fn translate_tool(c: &mut Checker, at: &str, decl: ToolDecl) -> Option<ToolSpec> {
    let kind = match decl.kind {
        ToolType::EndCall => ToolKind::EndCall,
        ToolType::TransferCall => {
            let Some(to) = &decl.to else {
                c.problem(
                    format!("{at}.to"),
                    "transfer_call needs the number to transfer to",
                );
                return None;
            };
            let mode = decl.mode.unwrap_or_default();
            if mode.is_cold() {
                for (key, set) in [
                    ("hold_music_url", decl.hold_music_url.is_some()),
                    ("ring_timeout_secs", decl.ring_timeout_secs.is_some()),
                ] {
                    if set {
                        c.problem(
                            format!("{at}.{key}"),
                            format!("only a warm transfer (mode: warm) has \"{key}\""),
                        );
                    }
                }
            }
            if let Some(url) = &decl.hold_music_url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                c.problem(
                    format!("{at}.hold_music_url"),
                    "hold music must be an http(s) URL Twilio can fetch",
                );
            }
            if let Some(secs) = decl.ring_timeout_secs
                && !(hotline_core::transfer::MIN_RING_TIMEOUT_SECS
                    ..=hotline_core::transfer::MAX_RING_TIMEOUT_SECS)
                    .contains(&secs)
            {
                c.problem(
                    format!("{at}.ring_timeout_secs"),
                    format!(
                        "must be {} to {} seconds",
                        hotline_core::transfer::MIN_RING_TIMEOUT_SECS,
                        hotline_core::transfer::MAX_RING_TIMEOUT_SECS
                    ),
                );
            }
            ToolKind::TransferCall {
                to: c.parse(format!("{at}.to"), E164::parse(to))?,
                mode,
                hold_music_url: decl.hold_music_url.clone(),
                ring_timeout_secs: decl.ring_timeout_secs,
            }
        }
        ToolType::Webhook => {
            let Some(url) = decl.url.clone() else {
                c.problem(
                    format!("{at}.url"),
                    "a webhook tool needs the url it posts to",
                );
                return None;
            };
            ToolKind::Webhook {
                url,
                timeout_secs: decl.timeout_secs,
            }
        }
        ToolType::SendSms => ToolKind::SendSms,
        ToolType::SendDtmf => ToolKind::SendDtmf,
        ToolType::OptOut => ToolKind::OptOut,
    };
    if decl.kind != ToolType::TransferCall {
        for (key, set) in [
            ("to", decl.to.is_some()),
            ("mode", decl.mode.is_some()),
            ("hold_music_url", decl.hold_music_url.is_some()),
            ("ring_timeout_secs", decl.ring_timeout_secs.is_some()),
        ] {
            if set {
                c.problem(
                    format!("{at}.{key}"),
                    format!("only a transfer_call tool has \"{key}\""),
                );
            }
        }
    }
    if decl.url.is_some() && decl.kind != ToolType::Webhook {
        c.problem(format!("{at}.url"), "only a webhook tool has \"url\"");
    }
    if decl.timeout_secs.is_some() && decl.kind != ToolType::Webhook {
        c.problem(
            format!("{at}.timeout_secs"),
            "only a webhook tool has \"timeout_secs\"",
        );
    }
    let description = match (decl.description, decl.kind) {
        (Some(d), _) => d,
        (None, ToolType::EndCall) => "End the call once the caller is done.".to_owned(),
        (None, ToolType::TransferCall) => "Transfer the caller to a person.".to_owned(),
        (None, ToolType::SendSms) => "Text the caller (SMS) something they should have in \
             writing while you talk, such as a link, an address or a confirmation. Tell them \
             you are texting it."
            .to_owned(),
        (None, ToolType::SendDtmf) => "Press keys on the phone menu you are talking to, as a \
             person would on their keypad: digits 0-9, * and #, w for a half-second pause. \
             Use it only when a recording asks you to press a key."
            .to_owned(),
        (None, ToolType::OptOut) => "Call this when the person asks not to be called again \
             (\"stop calling me\", \"take me off your list\"): they will not be called again. \
             Confirm it to them, then end the call politely."
            .to_owned(),
        (None, ToolType::Webhook) => {
            c.problem(
                format!("{at}.description"),
                "a webhook tool needs a description: it is how the model knows when to call it",
            );
            return None;
        }
    };
    Some(ToolSpec {
        name: decl.name,
        description,
        parameters: decl.parameters.unwrap_or_else(|| match kind {
            ToolKind::SendSms => serde_json::json!({
                "type": "object",
                "properties": {"body": {"type": "string", "description": "The text, plain, as the caller will read it."}},
                "required": ["body"],
            }),
            ToolKind::SendDtmf => serde_json::json!({
                "type": "object",
                "properties": {"digits": {"type": "string", "pattern": "^[0-9*#A-Dw]{1,64}$", "description": "The keys to press, in order, e.g. \"2\" or \"1w234#\"."}},
                "required": ["digits"],
            }),
            _ => serde_json::json!({"type": "object", "properties": {}}),
        }),
        kind,
    })
}

/// Problems with a list of analyzers, wherever it is declared (an agent's, an
/// organization's defaults, the API's): names unique and of letters, digits, `-` and `_`
/// (up to 64), a prompt, and a schema that is a JSON Schema. Paths start `analyzers[k]`.
pub fn check_analyzers(analyzers: &[Analyzer]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names = HashSet::new();
    for (k, analyzer) in analyzers.iter().enumerate() {
        let at = format!("analyzers[{k}]");
        let mut problem = |path: &str, message: String| {
            problems.push(Problem {
                path: format!("{at}.{path}"),
                message,
            });
        };
        let name = &analyzer.name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problem("name", "1 to 64 letters, digits, '-' or '_'".to_owned());
        }
        if !names.insert(name.clone()) {
            problem("name", format!("analyzer \"{name}\" is declared twice"));
        }
        if analyzer.prompt.trim().is_empty() {
            problem("prompt", "an analyzer needs a prompt".to_owned());
        }
        if !analyzer.schema.is_object() {
            problem("schema", "must be a JSON Schema object".to_owned());
        } else if let Err(e) = jsonschema::validator_for(&analyzer.schema) {
            problem("schema", format!("not a valid JSON Schema: {e}"));
        }
    }
    problems
}

/// One agent as the file declares it (`value` is an entry of an organization's `agents`),
/// checked as [`translate`] checks it. Paths in the problems are relative to the agent.
pub fn translate_one_agent(org: &OrgId, value: serde_json::Value) -> Result<Agent, Vec<Problem>> {
    let decl: AgentDecl = serde_json::from_value(value).map_err(|e| {
        vec![Problem {
            path: String::new(),
            message: e.to_string(),
        }]
    })?;
    let mut c = Checker {
        problems: Vec::new(),
    };
    let agent = translate_agent(&mut c, "", org, decl);
    match agent {
        Some(agent) if c.problems.is_empty() => Ok(agent),
        _ => Err(c
            .problems
            .into_iter()
            .map(|p| Problem {
                path: p.path.trim_start_matches('.').to_owned(),
                message: p.message,
            })
            .collect()),
    }
}

/// An agent in the file's shape: what [`translate_one_agent`] reads back into the same agent.
pub fn agent_decl_json(agent: &Agent) -> serde_json::Value {
    let tools: Vec<serde_json::Value> = agent
        .tools
        .iter()
        .map(|t| {
            let mut tool = serde_json::json!({
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
            });
            match &t.kind {
                ToolKind::EndCall => tool["type"] = "end_call".into(),
                ToolKind::TransferCall {
                    to,
                    mode,
                    hold_music_url,
                    ring_timeout_secs,
                } => {
                    tool["type"] = "transfer_call".into();
                    tool["to"] = to.as_str().into();
                    if !mode.is_cold() {
                        tool["mode"] = serde_json::to_value(mode).unwrap_or_default();
                    }
                    if let Some(url) = hold_music_url {
                        tool["hold_music_url"] = url.as_str().into();
                    }
                    if let Some(secs) = ring_timeout_secs {
                        tool["ring_timeout_secs"] = (*secs).into();
                    }
                }
                ToolKind::Webhook { url, timeout_secs } => {
                    tool["type"] = "webhook".into();
                    tool["url"] = url.as_str().into();
                    if let Some(secs) = timeout_secs {
                        tool["timeout_secs"] = (*secs).into();
                    }
                }
                ToolKind::SendSms => tool["type"] = "send_sms".into(),
                ToolKind::SendDtmf => tool["type"] = "send_dtmf".into(),
                ToolKind::OptOut => tool["type"] = "opt_out".into(),
            }
            tool
        })
        .collect();
    serde_json::json!({
        "id": agent.id,
        "name": agent.name,
        "provider": agent.provider,
        "model": agent.model,
        "instructions": agent.instructions,
        "voice": agent.voice,
        "greeting": agent.greeting,
        "voicemail_message": agent.voicemail_message,
        "enabled": agent.enabled,
        "tools": tools,
        "analyzers": agent.analyzers,
        "limits": agent.limits,
        "fallback": agent.fallback.as_ref().map(|f| serde_json::json!({
            "provider": f.provider,
            "model": f.model,
            "voice": f.voice,
        })),
    })
}
