//! hotline on one machine: the local gateway that stands in for API Gateway, the whole
//! stack in one process, and the demo data it starts with.

pub mod blob_links;
pub mod configure;
pub mod demo_key;
pub mod demo_user;
pub mod dialer_timer;
pub mod gateway;
pub mod launch;
pub mod sqs_mapping;
pub mod stack;
pub mod sweeper_timer;

pub use stack::{Stack, StackConfig, StackError};

/// The file in the local data directory naming the running stack's simulated Twilio API
/// (written by `hotline up` when Twilio is simulated).
pub const SIM_URL_FILE: &str = "twilio-sim-url";
