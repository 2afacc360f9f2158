//! One call: the state machine and the loop that drives it.

mod latency;
pub mod playback;
pub mod prewarm;
mod run;
pub mod state;

pub use run::{CallContext, run_call};
