//! The simulators as their clients see them: real sockets on loopback, checked against
//! the vendors' own libraries where one exists.

mod openai_rest;
mod phone;
mod pipeline;
mod realtime;
mod webhook;
