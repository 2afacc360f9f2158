//! Protocol-faithful stand-ins for the outside world: used by tests, benches and the
//! local stack so that nothing needs the internet.

pub mod chat;
pub mod deepgram;
pub mod elevenlabs;
pub mod gemini;
pub mod keypad;
pub mod meter;
pub mod moto;
pub mod openai_rest;
pub mod otlp;
pub mod phone;
pub mod realtime;
pub mod recording;
mod server;
pub mod twilio_callbacks;
pub mod twilio_rest;
pub mod webhook;
