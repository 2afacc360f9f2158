//! Requests hotline makes to addresses its tenants chose: call reports POSTed to an
//! organization's webhook (the post-call worker) and webhook tools called during a call
//! (the stream node). Both go through the same guard ([`egress`]) and carry the same
//! signature ([`signing`]), so a receiver verifies them one way.

pub mod egress;
pub mod signing;
