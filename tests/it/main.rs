//! Integration tests: every test runs the real binary, with the environment the Actions runner
//! (or act, or a shell) gives it.

mod action;
mod aws;
mod cli;
mod example;
mod faults;
mod flux;
mod github;
mod golden;
mod hostile;
mod network;
mod pull_request;
mod secrets;
mod soak;
mod support;
