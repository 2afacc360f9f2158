//! OpenAI Realtime events against the protocol notes and OpenAI's own Python library.

mod common;
mod openai_events;
mod openai_vectors;
