//! The GitHub Actions runtime: workflow commands on stdout, through one writer so they can be
//! tested. Outside Actions (a plain shell) the same messages go to stderr as plain text.

pub mod commands;

pub use commands::{Annotation, Workflow};
