//! hotline end to end: simulated Twilio, AI providers and tool endpoints against the
//! real webhooks, stream node and local stack. One binary, one module per subject.

mod campaign;
mod drain;
mod failover;
mod gemini;
mod hostile;
mod outbound;
mod pipeline;
mod prewarm;
mod stream;
mod texts;
mod tools;
mod transfer;
