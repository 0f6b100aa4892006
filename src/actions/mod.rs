//! The GitHub Actions runtime: workflow commands on stdout, through one writer so they can be
//! tested, and the file commands (outputs, step summary). Outside Actions (a plain shell) the
//! same messages go to stderr as plain text and the file commands are off.

pub mod commands;
pub mod files;

pub use commands::{Annotation, Workflow};
pub use files::FileCommands;
