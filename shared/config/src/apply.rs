//! Making a store hold what a configuration declares: a [`Plan`] compares the two and
//! names what would be created or changed (field by field, secrets by name only), and
//! [`apply`] writes exactly that. Applying the same file twice writes nothing the second
//! time. Nothing absent from the file is deleted: records made elsewhere (the API, an
//! older file) are left as they are.

use std::fmt;

use hotline_core::model::{Agent, Organization, PhoneNumber};
use hotline_core::ports::{Directory, StoreError};
use secrecy::ExposeSecret;

use crate::{Config, DeclaredOrg};

mod audit;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The file claims what another organization holds: refused, nothing written.
    #[error("{0}")]
    Taken(String),
    /// A record was written by someone else (an API edit) between the plan and the
    /// write: not overwritten. Planning again shows what applying would revert.
    #[error(
        "{0} changed since the plan was made (an API edit?): nothing written over it; run apply again to see what it would revert"
    )]
    Changed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one record needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create,
    /// The names of the fields that differ.
    Update(Vec<&'static str>),
    Unchanged,
}

#[derive(Debug, Clone)]
enum Record {
    Org(Organization),
    Agent(Agent),
    Number(PhoneNumber),
}

#[derive(Debug, Clone)]
pub struct Step {
    /// `organization demo`, `agent demo/receptionist`, `number +1555… → demo/receptionist`.
    pub what: String,
    pub change: Change,
    record: Record,
}

/// Everything a configuration asks of one store, in the order it must be written:
/// organizations, then their agents, then the numbers that route to them.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    fn count(&self, f: impl Fn(&Change) -> bool) -> usize {
        self.steps.iter().filter(|s| f(&s.change)).count()
    }

    pub fn creates(&self) -> usize {
        self.count(|c| *c == Change::Create)
    }

    pub fn updates(&self) -> usize {
        self.count(|c| matches!(c, Change::Update(_)))
    }

    pub fn unchanged(&self) -> usize {
        self.count(|c| *c == Change::Unchanged)
    }

    /// Whether applying it would write anything.
    pub fn is_noop(&self) -> bool {
        self.creates() + self.updates() == 0
    }

    /// `1 to create, 2 to change, 3 unchanged`.
    pub fn summary(&self) -> String {
        format!(
            "{} to create, {} to change, {} unchanged",
            self.creates(),
            self.updates(),
            self.unchanged()
        )
    }
}

/// One line per record created or changed, then the summary.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            match &step.change {
                Change::Create => writeln!(f, "  + create {}", step.what)?,
                Change::Update(fields) => {
                    writeln!(f, "  ~ change {}: {}", step.what, fields.join(", "))?;
                }
                Change::Unchanged => {}
            }
        }
        f.write_str(&self.summary())
    }
}

/// Compares `config` with what `directory` holds. Fails, before anything is written,
/// when the file claims a Twilio account or a number that another organization holds.
pub async fn plan(directory: &dyn Directory, config: &Config) -> Result<Plan, ApplyError> {
    let mut plan = Plan::default();
    for declared in &config.organizations {
        let org = &declared.org;
        if let Some(holder) = directory.org_by_account(&org.twilio.account_sid).await?
            && holder.id != org.id
        {
            return Err(ApplyError::Taken(format!(
                "organization {}: Twilio account {} belongs to another organization",
                org.id, org.twilio.account_sid
            )));
        }
        for number in &declared.numbers {
            if let Some(held) = directory.get_number(&number.number).await?
                && held.org != org.id
            {
                return Err(ApplyError::Taken(format!(
                    "organization {}: number {} belongs to another organization",
                    org.id, number.number
                )));
            }
        }

        let stored = directory.get_org(&org.id).await?;
        let org = &keep_api_choices(declared, stored.as_ref());
        plan.push(
            format!("organization {}", org.id),
            stored.as_ref().map(|s| org_changes(s, org)),
            // The version read: the write only happens over it (0: only if still absent),
            // so a subaccount the API made since the plan is not moved back.
            Record::Org(Organization {
                version: stored.map_or(0, |s| s.version),
                ..org.clone()
            }),
        );
        for agent in &declared.agents {
            let stored = directory.get_agent(&agent.org, &agent.id).await?;
            plan.push(
                format!("agent {}/{}", agent.org, agent.id),
                stored.as_ref().map(|s| agent_changes(s, agent)),
                // The version read: the write only happens over it (0: only if still absent).
                Record::Agent(Agent {
                    version: stored.map_or(0, |s| s.version),
                    ..agent.clone()
                }),
            );
        }
        for number in &declared.numbers {
            let stored = directory.get_number(&number.number).await?;
            // The file declares no analyzers for a number: those it got when the API
            // bought it stay.
            let number = &PhoneNumber {
                analyzers: stored
                    .as_ref()
                    .map(|s| s.analyzers.clone())
                    .unwrap_or_default(),
                ..number.clone()
            };
            plan.push(
                format!("number {} → {}/{}", number.number, number.org, number.agent),
                stored.as_ref().map(|s| number_changes(s, number)),
                Record::Number(PhoneNumber {
                    version: next_version(stored.map(|s| s.version)),
                    ..number.clone()
                }),
            );
        }
    }
    Ok(plan)
}

/// Writes what `plan` creates and changes, in order. The store refuses (as
/// [`ApplyError::Taken`]) a number or account another organization claimed meanwhile,
/// and (as [`ApplyError::Changed`]) an organization or agent written since the plan read it: the file and
/// the API are two views of one model, and neither silently undoes the other.
pub async fn apply(directory: &dyn Directory, plan: &Plan) -> Result<(), ApplyError> {
    for step in &plan.steps {
        if step.change == Change::Unchanged {
            continue;
        }
        let written = match &step.record {
            Record::Org(org) => directory.update_org(org).await.map(drop),
            Record::Agent(agent) => directory.update_agent(agent).await.map(drop),
            Record::Number(number) => directory.put_number(number).await.map(drop),
        };
        written.map_err(|e| match e {
            StoreError::Taken(what) => ApplyError::Taken(format!("{}: {what}", step.what)),
            StoreError::Conflict(_) => ApplyError::Changed(step.what.clone()),
            other => ApplyError::Store(other),
        })?;
    }
    Ok(())
}

impl Plan {
    fn push(&mut self, what: String, diff: Option<Vec<&'static str>>, record: Record) {
        let change = match diff {
            None => Change::Create,
            Some(fields) if fields.is_empty() => Change::Unchanged,
            Some(fields) => Change::Update(fields),
        };
        self.steps.push(Step {
            what,
            change,
            record,
        });
    }
}

/// The version a write carries: one past what is stored, so a client holding the old
/// version (the API's optimistic concurrency) learns that the record changed.
fn next_version(stored: Option<u64>) -> u64 {
    stored.map_or(1, |v| v + 1)
}

/// Pushes `name` when the two sides differ.
fn field(out: &mut Vec<&'static str>, name: &'static str, differs: bool) {
    if differs {
        out.push(name);
    }
}

/// The organization as the file declares it, except for what the API chose that the
/// file does not say otherwise: a file naming the platform's main account for an
/// organization the API moved to a subaccount of it keeps that subaccount (applying must
/// not take its numbers' account away), and a file without `analyzers` keeps the
/// default analyzers set through the API.
fn keep_api_choices(declared: &DeclaredOrg, stored: Option<&Organization>) -> Organization {
    let mut org = declared.org.clone();
    if let Some(stored) = stored {
        if stored.twilio.parent.as_ref() == Some(&declared.org.twilio.account_sid) {
            org.twilio = stored.twilio.clone();
        }
        if declared.default_analyzers.is_none() {
            org.settings
                .default_analyzers
                .clone_from(&stored.settings.default_analyzers);
        }
    }
    org
}

fn org_changes(old: &Organization, new: &Organization) -> Vec<&'static str> {
    let (a, b) = (&old.settings, &new.settings);
    let secret =
        |s: &Option<secrecy::SecretString>| s.as_ref().map(|s| s.expose_secret().to_owned());
    let mut out = Vec::new();
    field(&mut out, "name", old.name != new.name);
    field(
        &mut out,
        "twilio.account_sid",
        old.twilio.account_sid != new.twilio.account_sid,
    );
    field(
        &mut out,
        "twilio.auth_token",
        old.twilio.auth_token.expose_secret() != new.twilio.auth_token.expose_secret(),
    );
    field(
        &mut out,
        "reports.emails",
        a.report_emails != b.report_emails,
    );
    field(
        &mut out,
        "reports.webhook_url",
        a.report_webhook_url != b.report_webhook_url,
    );
    field(
        &mut out,
        "reports.webhook_secret",
        secret(&a.report_webhook_secret) != secret(&b.report_webhook_secret),
    );
    field(
        &mut out,
        "reports.delete_twilio_recordings",
        a.delete_twilio_recordings != b.delete_twilio_recordings,
    );
    field(
        &mut out,
        "analyzers",
        a.default_analyzers != b.default_analyzers,
    );
    out
}

fn agent_changes(old: &Agent, new: &Agent) -> Vec<&'static str> {
    let mut out = Vec::new();
    field(&mut out, "name", old.name != new.name);
    field(&mut out, "provider", old.provider != new.provider);
    field(&mut out, "model", old.model != new.model);
    field(
        &mut out,
        "instructions",
        old.instructions != new.instructions,
    );
    field(&mut out, "voice", old.voice != new.voice);
    field(&mut out, "greeting", old.greeting != new.greeting);
    field(
        &mut out,
        "voicemail_message",
        old.voicemail_message != new.voicemail_message,
    );
    field(&mut out, "enabled", old.enabled != new.enabled);
    field(&mut out, "tools", old.tools != new.tools);
    field(&mut out, "analyzers", old.analyzers != new.analyzers);
    field(&mut out, "limits", old.limits != new.limits);
    // A field added to the model later and not named above still counts as a change.
    let unversioned = |a: &Agent| Agent {
        version: 0,
        ..a.clone()
    };
    let other = out.is_empty() && unversioned(old) != unversioned(new);
    field(&mut out, "other", other);
    out
}

fn number_changes(old: &PhoneNumber, new: &PhoneNumber) -> Vec<&'static str> {
    let mut out = Vec::new();
    field(&mut out, "agent", old.agent != new.agent);
    field(&mut out, "enabled", old.enabled != new.enabled);
    field(&mut out, "sms", old.sms != new.sms);
    field(&mut out, "sms_agent", old.sms_agent != new.sms_agent);
    field(
        &mut out,
        "sms_disabled_message",
        old.sms_disabled_message != new.sms_disabled_message,
    );
    out
}
