//! Realtime speech-to-speech providers as hotline speaks to them: the wire formats of
//! OpenAI's Realtime API (GA interface) in [`openai`] and Google's Gemini Live API in
//! [`gemini`]; no I/O happens here, callers bring the WebSocket frames.

pub mod gemini;
pub mod openai;
