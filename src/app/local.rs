//! A run on a local checkout (`gitops_path`): its files are patched in place, all or nothing,
//! and nothing is committed.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{FileProblems, Input, Outcome, Verifier, patch, select};
use crate::actions::{Annotation, Workflow};
use crate::checkout::{Checkout, CheckoutError};
use crate::config::Config;
use crate::core::render::Landing;

/// A checkout error, as a workflow annotation on its file where it has one.
fn annotated(e: CheckoutError) -> anyhow::Error {
    match e.place() {
        Some((file, line, col)) => {
            let at = Annotation {
                file: file.to_owned(),
                line,
                col,
            };
            FileProblems(vec![(at, e.to_string())]).into()
        }
        None => e.into(),
    }
}

pub async fn run(
    config: &Config,
    root: &Path,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Outcome> {
    log.group("Select kustomization files")?;
    let checkout = Checkout::open(root)?;
    let listing = checkout.list(&config.paths).context("input `paths`")?;
    let selected = select(config, &listing, &root.display().to_string(), log)?;
    let mut files = Vec::new();
    for path in selected {
        let text = checkout.read(&path).map_err(annotated)?;
        files.push(Input::new(path, text));
    }
    log.end_group()?;

    let mut verifier = Verifier::default();
    let changes = patch(config, files, &mut verifier, log).await?;
    if changes.is_noop() {
        log.notice(&format!(
            "nothing to change: every image is already at {}",
            config.tag
        ))?;
        return Ok(Outcome::unwritten(changes));
    }
    if config.dry_run {
        log.notice("dry run: nothing was written")?;
        return Ok(Outcome::unwritten(changes));
    }
    checkout
        .write_all(
            changes
                .changed()
                .map(|f| (f.path.as_str(), f.after.as_str())),
        )
        .map_err(annotated)?;
    log.info(&format!("wrote {} file(s)", changes.changed().count()))?;
    Ok(Outcome {
        changes,
        written: true,
        landing: Landing::default(),
        failures: Vec::new(),
        rollout: None,
    })
}
