//! The pure core: no async, no environment, no file system, no network. Image references, the
//! kustomization editor, which files a run selects, the change record everything else is
//! rendered from, and Flux's verdict read from commit statuses.

pub mod change;
pub mod flux;
pub mod image;
pub mod kustomization;
pub mod paths;
pub mod pull;
pub mod render;

#[cfg(test)]
mod editor_props;
