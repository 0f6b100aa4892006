//! gitops-promote: promote freshly built images into a Flux GitOps repository, changing only
//! the image tags (and digests) of its kustomization files.
//!
//! `core` is pure; `actions` and `checkout` are the I/O edges; `app` sequences a run.

pub mod actions;
pub mod app;
pub mod aws;
pub mod checkout;
pub mod config;
pub mod core;
pub mod flux;
pub mod github;
pub mod inflight;
pub mod net;
pub mod random;
pub mod retry;
pub mod secret;
