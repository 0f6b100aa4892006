//! The only place that sequences a run: select files -> patch -> (verify images) -> write.

use std::fmt;
use std::io::Write;

use anyhow::{Context, bail};

use crate::actions::{Annotation, Workflow};
use crate::checkout::Checkout;
use crate::config::Config;
use crate::core::change::{ChangeSet, FileChange};
use crate::core::kustomization::{self, Target};
use crate::core::paths;

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub changes: ChangeSet,
    /// Whether files were written (false for a no-op or a dry run).
    pub written: bool,
}

/// Problems found in kustomization files, each with its place; reported together.
#[derive(Debug)]
pub struct FileProblems(pub Vec<(Annotation, String)>);

impl std::error::Error for FileProblems {}

impl fmt::Display for FileProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} kustomization file{} could not be edited, so nothing was written",
            if n == 1 { "" } else { "s" }
        )
    }
}

pub fn run(config: &Config, log: &mut Workflow<impl Write>) -> anyhow::Result<Outcome> {
    if config.verify_images {
        bail!(
            "input `verify_images`: checking images in Amazon ECR is not available in this version; \
             set verify_images: false (or pass --verify-images=false) to promote without the check"
        );
    }

    log.group("Select kustomization files")?;
    let checkout = Checkout::open(&config.gitops_path)?;
    let listing = checkout.list(&config.paths).context("input `paths`")?;
    let selection = paths::select(&config.paths, &listing)
        .map_err(|m| anyhow::anyhow!("input `paths`: {m}"))?;
    for pattern in &selection.unmatched {
        log.warning(
            &format!("input `paths`: `{pattern}` matches no kustomization file"),
            None,
        )?;
    }
    if selection.files.is_empty() {
        bail!(
            "input `paths`: no kustomization file found under {} in `{}`",
            config
                .paths
                .iter()
                .map(|p| format!("`{}`", p.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            config.gitops_path.display()
        );
    }
    log.debug(&format!(
        "listed {} file(s) under the paths' base directories",
        listing.len()
    ))?;
    for file in &selection.files {
        log.info(file)?;
    }
    log.end_group()?;

    log.group("Patch image tags")?;
    let targets: Vec<Target> = config
        .images
        .iter()
        .map(|image| Target {
            image: &image.name,
            tag: config.tag.as_str(),
            digest: None,
        })
        .collect();
    let mut changes = ChangeSet::default();
    let mut problems = Vec::new();
    for path in &selection.files {
        let before = checkout.read(path)?;
        match kustomization::edit(&before, &targets) {
            Ok(edited) => changes.files.push(FileChange {
                path: path.clone(),
                before,
                after: edited.text,
                entries: edited.entries,
            }),
            Err(e) => {
                let (line, col) = e.position().unzip();
                problems.push((
                    Annotation {
                        file: path.clone(),
                        line,
                        col,
                    },
                    e.to_string(),
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(FileProblems(problems).into());
    }
    let missing = changes.missing(config.images.iter().map(|i| i.name.as_str()));
    if !missing.is_empty() {
        bail!(
            "input `images`: no `images:` entry names {} in {}; check the spelling, or add an \
             entry with `name: <image>` to the kustomization",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            selection.files.join(", ")
        );
    }
    log.info(&changes.summary())?;
    log.end_group()?;

    if changes.is_noop() {
        log.notice(&format!(
            "nothing to change: every image is already at {}",
            config.tag
        ))?;
        return Ok(Outcome {
            changes,
            written: false,
        });
    }
    if config.dry_run {
        log.notice("dry run: nothing was written")?;
        return Ok(Outcome {
            changes,
            written: false,
        });
    }
    checkout.write_all(
        changes
            .changed()
            .map(|f| (f.path.as_str(), f.after.as_str())),
    )?;
    log.info(&format!("wrote {} file(s)", changes.changed().count()))?;
    Ok(Outcome {
        changes,
        written: true,
    })
}
