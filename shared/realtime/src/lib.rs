//! Realtime speech-to-speech providers as hotline speaks to them. For now the wire format of
//! OpenAI's Realtime API (GA interface) in [`openai`]; no I/O happens here, callers bring
//! the WebSocket frames.

pub mod openai;
