//! Protocol-faithful stand-ins for the outside world: used by tests, benches and the
//! local stack so that nothing needs the internet.

pub mod moto;
pub mod phone;
pub mod realtime;
pub mod twilio_rest;
