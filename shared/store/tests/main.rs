//! The storage and mail ports' contracts, on both adapters.

mod contract;
mod mail;
