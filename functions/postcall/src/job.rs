//! One job's context and the errors of this layer.

use chrono::{DateTime, Utc};
use hotline_core::ids::{CallSid, OrgId};
use hotline_core::model::{Agent, Call, Organization, Stage};
use hotline_core::ports::{StoreError, modify_call};

use crate::deps::Deps;

/// Why a job did not finish. The message goes back to the queue in every case; the
/// record says which stage stopped it.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Malformed(#[from] hotline_core::postcall::JobError),
    #[error("call {0} not found")]
    CallNotFound(CallSid),
    #[error("the job names organization {0}, which the call does not belong to")]
    WrongOrg(OrgId),
    #[error("organization {0} not found")]
    OrgNotFound(OrgId),
    #[error("another delivery holds the job until {0}")]
    Leased(DateTime<Utc>),
    #[error("{stage}: {message}")]
    Stage { stage: Stage, message: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("crash injected after {0}")]
    Crashed(Stage),
}

/// How a stage ended, when it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutcome {
    /// With a short note for people (a key, a message id, a count).
    Done(String),
    Skipped(String),
    /// Given up for good; the pipeline goes on without this stage's result.
    Failed(String),
}

/// A passing failure: the job stops here and its redelivery tries the stage again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Retry(pub String);

impl From<StoreError> for Retry {
    fn from(e: StoreError) -> Self {
        Self(format!("store: {e}"))
    }
}

pub type StageResult = Result<StageOutcome, Retry>;

/// Whether an OpenAI failure is worth the queue's redelivery: an outage passes, and a
/// rejected key is someone's to fix; anything else is OpenAI's answer about this input.
pub fn worth_retrying(e: &hotline_llm::LlmError) -> bool {
    e.is_retryable() || matches!(e, hotline_llm::LlmError::Auth { .. })
}

/// What the stages of one job share: the records they read and the call as last written.
pub struct JobCx<'a> {
    pub deps: &'a Deps,
    pub org: Organization,
    pub agent: Option<Agent>,
    pub call: Call,
}

impl JobCx<'_> {
    /// Writes a change to the call (retrying on concurrent writers) and keeps the result.
    pub async fn update(&mut self, change: impl Fn(&mut Call)) -> Result<(), StoreError> {
        self.call = modify_call(self.deps.calls.as_ref(), &self.call.sid, change).await?;
        Ok(())
    }
}
