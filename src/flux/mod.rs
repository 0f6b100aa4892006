//! Flux, reached without a cluster: its Receiver, called so a reconcile starts at once. Its
//! verdict comes back as commit statuses (`github::statuses`, read by the rules in
//! `core::flux`).

pub mod receiver;
