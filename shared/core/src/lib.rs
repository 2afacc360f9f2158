//! hotline's domain: identifiers, records and the ports through which they are stored.
//! No network or cloud dependencies live here.

pub mod answer;
pub mod audit;
pub mod campaign;
pub mod dial;
pub mod ids;
pub mod memory;
pub mod model;
pub mod outbox;
pub mod people;
pub mod ports;
pub mod postcall;
pub mod routes;
pub mod routing;
pub mod sms;
pub mod sweep;
pub mod template;
pub mod transfer;
pub mod vault;

pub use ids::{
    AccountSid, AgentId, CallSid, E164, MessageSid, OrgId, ParseIdError, Party, RecordingSid,
    StreamSid,
};
