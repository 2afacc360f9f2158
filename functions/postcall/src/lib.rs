//! The post-call worker: for each finished call, copy the recording, transcribe it, run
//! the agent's analyzers, extract to-dos, enrich the contact and send the call report.
//! Every stage is checkpointed on the call record, so a redelivered job resumes where
//! the last delivery stopped; see `pipeline`.

pub mod config;
mod conversation;
mod deps;
mod job;
mod phone_turns;
mod pipeline;
mod report;
mod schema;
mod stages;
mod worker;

pub use config::{ApiKeySource, ConfigError, PostcallConfig};
pub use deps::{CrashHook, Deps};
/// The report's signature scheme, kept where the stream node's webhook tools share it.
pub use hotline_outbound::signing;
pub use job::JobError;
pub use pipeline::{DEADLINE_MARGIN, run_job, run_job_before};
pub use report::{REPORT_TYPE, REPORT_VERSION, Report};
pub use worker::{handle_batch, handle_batch_before};
