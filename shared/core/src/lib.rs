//! hotline's domain: identifiers, records and the ports through which they are stored.
//! No network or cloud dependencies live here.

pub mod answer;
pub mod ids;
pub mod model;
pub mod ports;
pub mod postcall;
pub mod routes;
pub mod sms;
pub mod sweep;
pub mod vault;

pub use ids::{
    AccountSid, AgentId, CallSid, E164, MessageSid, OrgId, ParseIdError, Party, RecordingSid,
    StreamSid,
};
