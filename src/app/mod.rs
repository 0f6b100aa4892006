//! The only place that sequences a run: read the kustomization files (from a checkout, or in
//! one snapshot through the GitHub API) -> verify images in ECR -> patch -> write them, or land
//! one commit or pull request. Nothing is written unless every step before it succeeded.
//!
//! `local` writes a checkout; `remote` runs the compare-and-swap loop on GitHub; `flux` follows
//! the commit into the cluster (Receiver, Flux's verdict, a deployment); `verify` holds the ECR
//! session and digests.

mod flux;
mod local;
mod remote;
mod verify;

use std::fmt;
use std::io::Write;

use anyhow::bail;

use crate::actions::{Annotation, Workflow};
use crate::config::{Config, Gitops, Remote};
use crate::core::change::{ChangeSet, FileChange};
use crate::core::kustomization::{self, EditError, Target};
use crate::core::paths;
use crate::core::pull::Entry;
use crate::core::render::{self, Landing};
use crate::github::Message;

pub use verify::Verifier;

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub changes: ChangeSet,
    /// Whether the change was written or committed (false for a no-op or a dry run).
    pub written: bool,
    /// Where it landed in the GitOps repository, when that is on GitHub.
    pub landing: Landing,
    /// What failed after the change landed (a label, a reviewer, auto-merge): the run fails,
    /// but its outputs still name the commit and pull request.
    pub failures: Vec<String>,
    /// Flux's verdict and the deployment, when the run followed the commit into the cluster.
    pub rollout: Option<Box<crate::core::flux::Rollout>>,
}

impl Outcome {
    /// A run that wrote nothing: nothing to change, or a dry run.
    fn unwritten(changes: ChangeSet) -> Self {
        Self {
            changes,
            written: false,
            landing: Landing::default(),
            failures: Vec::new(),
            rollout: None,
        }
    }
}

/// Problems found in kustomization files, each with its place; reported together.
#[derive(Debug)]
pub struct FileProblems(pub Vec<(Annotation, String)>);

impl std::error::Error for FileProblems {}

impl fmt::Display for FileProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        let s = if n == 1 { "" } else { "s" };
        write!(
            f,
            "{n} kustomization file{s} could not be edited, so nothing was written"
        )
    }
}

/// The most a run may take: `timeout_seconds` to land the change, then, when it follows the
/// commit into the cluster, `wait_timeout` and a little for the deployment's last status.
pub fn time_limit(config: &Config) -> std::time::Duration {
    if config.flux.is_set() {
        config.timeout + config.flux.wait_timeout + flux::FINISH_GRACE
    } else {
        config.timeout
    }
}

/// [`time_limit`] in words, for the message when a run is stopped.
pub fn time_limit_text(config: &Config) -> String {
    let landing = format!("timeout_seconds ({} s)", config.timeout.as_secs());
    if config.flux.is_set() {
        format!(
            "{landing} plus wait_timeout ({} s)",
            config.flux.wait_timeout.as_secs()
        )
    } else {
        landing
    }
}

pub async fn run(config: &Config, log: &mut Workflow<impl Write>) -> anyhow::Result<Outcome> {
    match &config.gitops {
        Gitops::Local(path) => local::run(config, path, log).await,
        Gitops::Remote(remote) => remote::run(config, remote, log).await,
    }
}

/// A kustomization file to patch.
#[derive(Debug, Clone)]
struct Input {
    path: String,
    text: String,
    /// Promotions an open pull request already carries for this file, replayed on the base so
    /// that a re-built pull request loses none of them.
    pending: Vec<Pending>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    image: String,
    tag: String,
    digest: Option<String>,
}

impl Input {
    fn new(path: String, text: String) -> Self {
        Self {
            path,
            text,
            pending: Vec::new(),
        }
    }
}

/// Applies the `paths` patterns to a listing of the repository's files.
fn select(
    config: &Config,
    listing: &[String],
    repo: &str,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Vec<String>> {
    let selection =
        paths::select(&config.paths, listing).map_err(|m| anyhow::anyhow!("input `paths`: {m}"))?;
    for pattern in &selection.unmatched {
        log.warning(
            &format!("input `paths`: `{pattern}` matches no kustomization file"),
            None,
        )?;
    }
    if selection.files.is_empty() {
        let patterns: Vec<String> = config
            .paths
            .iter()
            .map(|p| format!("`{}`", p.as_str()))
            .collect();
        bail!(
            "input `paths`: no kustomization file found under {} in `{repo}`",
            patterns.join(", ")
        );
    }
    log.debug(&format!("listed {} file(s)", listing.len()))?;
    for file in &selection.files {
        log.verbatim(file)?;
    }
    Ok(selection.files)
}

fn problem(path: &str, e: &EditError) -> (Annotation, String) {
    let (line, col) = e.position().unzip();
    let at = Annotation {
        file: path.to_owned(),
        line,
        col,
    };
    (at, e.to_string())
}

/// Checks the files, verifies the images they pull (unless told not to), and edits them.
async fn patch(
    config: &Config,
    files: Vec<Input>,
    verifier: &mut Verifier,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<ChangeSet> {
    // What the files make the cluster pull, entry by entry.
    let mut listed = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        match kustomization::image_entries(&file.text) {
            Ok(entries) => listed.push((file.path.as_str(), entries)),
            Err(e) => problems.push(problem(&file.path, &e)),
        }
    }
    if !problems.is_empty() {
        // Report the other files' problems too, so one run shows everything to fix.
        for file in &files {
            if problems.iter().any(|(at, _)| at.file == file.path) {
                continue;
            }
            match kustomization::edit(&file.text, &targets(config, file, &Default::default())) {
                Err(EditError::StaleDigest { .. }) if config.pin_digest => {}
                Err(e) => problems.push(problem(&file.path, &e)),
                Ok(_) => {}
            }
        }
        return Err(FileProblems(problems).into());
    }
    let pulled: Vec<Entry<'_>> = listed
        .iter()
        .flat_map(|(file, entries)| entries.iter().map(move |e| (*file, e)))
        .filter_map(|(file, e)| {
            let spec = config.images.iter().find(|i| i.name == e.name)?;
            Some(Entry {
                image: &spec.name,
                mapped: spec.repository.as_deref(),
                new_name: e.new_name.as_deref(),
                file,
                line: e.line,
            })
        })
        .collect();
    let missing: Vec<String> = config
        .images
        .iter()
        .filter(|i| !pulled.iter().any(|p| p.image == i.name))
        .map(|i| format!("`{}`", i.name))
        .collect();
    if !missing.is_empty() {
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        bail!(
            "input `images`: no `images:` entry names {} in {}; check the spelling, or add an \
             entry with `name: <image>` to the kustomization",
            missing.join(", "),
            paths.join(", ")
        );
    }

    let digests = if config.verify_images {
        log.group("Verify images in Amazon ECR")?;
        let digests = verifier.verify(config, &pulled, log).await?;
        log.end_group()?;
        digests
    } else {
        Default::default()
    };

    log.group("Patch image tags")?;
    let mut changes = ChangeSet::default();
    for file in &files {
        match kustomization::edit(&file.text, &targets(config, file, &digests)) {
            Ok(edited) => changes.files.push(FileChange {
                path: file.path.clone(),
                before: file.text.clone(),
                after: edited.text,
                entries: edited.entries,
            }),
            Err(e) => problems.push(problem(&file.path, &e)),
        }
    }
    if !problems.is_empty() {
        return Err(FileProblems(problems).into());
    }
    log.verbatim(&changes.summary())?;
    log.end_group()?;
    Ok(changes)
}

/// What each image of `file` is promoted to: the file's pending promotions, then this run's
/// images (which win); digests only with `pin_digest`.
fn targets<'a>(
    config: &'a Config,
    file: &'a Input,
    digests: &'a std::collections::BTreeMap<String, String>,
) -> Vec<Target<'a>> {
    let ours = config.images.iter().map(|image| Target {
        image: &image.name,
        tag: config.tag.as_str(),
        digest: digests
            .get(&image.name)
            .map(String::as_str)
            .filter(|_| config.pin_digest),
    });
    let pending = file
        .pending
        .iter()
        .filter(|p| !config.images.iter().any(|i| i.name == p.image))
        .map(|p| Target {
            image: &p.image,
            tag: &p.tag,
            digest: p.digest.as_deref(),
        });
    pending.chain(ours).collect()
}

fn links(remote: &Remote) -> Vec<(&'static str, String)> {
    let mut links = Vec::new();
    if let Some(url) = remote.source.commit_url() {
        links.push(("Source-Commit", url));
    }
    if let Some(url) = remote.source.run_url() {
        links.push(("Workflow-Run", url));
    }
    links
}

/// The commit message, rendered from the change record.
fn message(remote: &Remote, changes: &ChangeSet) -> Message {
    Message {
        headline: remote
            .commit_message
            .replace("{images}", &render::changed_image_names(changes)),
        body: render::commit_body(changes, &links(remote)),
    }
}
