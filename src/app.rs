//! The only place that sequences a run: read the kustomization files (from a checkout or through
//! the GitHub API) -> verify images in ECR -> patch -> write them, or land one commit or pull
//! request. Nothing is written unless every step before it succeeded.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

use crate::actions::{Annotation, Workflow};
use crate::aws::ecr::{self, EcrImage};
use crate::aws::{Credentials, oidc, sts};
use crate::checkout::Checkout;
use crate::config::{Config, Gitops, Mode, Remote};
use crate::core::change::{ChangeSet, FileChange};
use crate::core::kustomization::{self, EditError, Target};
use crate::core::paths;
use crate::core::render::{self, Landing};
use crate::github::repo::{CommitError, Head, Message, Repo};
use crate::github::{GitHub, GitHubError};

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
}

impl Outcome {
    /// A run that wrote nothing: nothing to change, or a dry run.
    fn unwritten(changes: ChangeSet) -> Self {
        Self {
            changes,
            written: false,
            landing: Landing::default(),
            failures: Vec::new(),
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

pub async fn run(config: &Config, log: &mut Workflow<impl Write>) -> anyhow::Result<Outcome> {
    match &config.gitops {
        Gitops::Local(path) => run_local(config, path, log).await,
        Gitops::Remote(remote) => run_remote(config, remote, log).await,
    }
}

async fn run_local(
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
        let text = checkout.read(&path)?;
        files.push((path, text));
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
    checkout.write_all(
        changes
            .changed()
            .map(|f| (f.path.as_str(), f.after.as_str())),
    )?;
    log.info(&format!("wrote {} file(s)", changes.changed().count()))?;
    Ok(Outcome {
        changes,
        written: true,
        landing: Landing::default(),
        failures: Vec::new(),
    })
}

/// How many times a run re-reads and re-patches when the branch moved under it.
const CONFLICT_ATTEMPTS: u32 = 30;

async fn run_remote(
    config: &Config,
    remote: &Remote,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Outcome> {
    log.add_mask(remote.token.expose())?;
    let slug = format!("{}/{}", remote.owner, remote.name);
    let gh = GitHub::new(&remote.api_url, &remote.graphql_url, &remote.token, &slug)?;
    let repo = Repo {
        gh: &gh,
        owner: &remote.owner,
        name: &remote.name,
    };
    let mut verifier = Verifier::default();

    for attempt in 1..=CONFLICT_ATTEMPTS {
        log.group(&format!("Read {slug}"))?;
        let base = repo.head(remote.branch.as_deref()).await?;
        log.info(&format!("branch `{}` at {}", base.branch, base.oid))?;
        let listing = repo.list(&base.tree).await?;
        let modes: BTreeMap<String, String> = listing.into_iter().collect();
        let paths_only: Vec<String> = modes.keys().cloned().collect();
        let selected = select(config, &paths_only, &slug, log)?;
        let wanted: Vec<(String, String)> = selected
            .iter()
            .map(|p| (p.clone(), modes[p].clone()))
            .collect();
        let files: Vec<(String, String)> = repo
            .read(&base.oid, &wanted)
            .await?
            .into_iter()
            .map(|b| (b.path, b.text))
            .collect();
        log.end_group()?;

        let changes = patch(config, files, &mut verifier, log).await?;
        if changes.is_noop() {
            let why = if attempt > 1 {
                "another run already set these values; "
            } else {
                ""
            };
            log.notice(&format!(
                "nothing to change: {why}every image is already at {} on `{}`",
                config.tag, base.branch
            ))?;
            return Ok(Outcome::unwritten(changes));
        }
        if config.dry_run {
            log.notice("dry run: nothing was committed")?;
            return Ok(Outcome::unwritten(changes));
        }

        let message = message(remote, &changes);
        let target_branch = match remote.mode {
            Mode::Commit => base.branch.clone(),
            Mode::PullRequest => {
                // The PR branch belongs to the action: start it afresh from the base's head.
                repo.reset_own_branch(&remote.pull_request.branch, &base.oid)
                    .await?;
                remote.pull_request.branch.clone()
            }
        };
        log.group(&format!("Commit to `{target_branch}`"))?;
        let committed = commit(&repo, &base, &target_branch, &message, &changes, &modes).await;
        let commit = match committed {
            Ok(commit) => commit,
            Err(CommitError::Stale) => {
                log.info(&format!(
                    "`{target_branch}` moved since it was read; reading again (attempt {attempt})"
                ))?;
                log.end_group()?;
                tokio::time::sleep(crate::retry::backoff(attempt.min(4))).await;
                continue;
            }
            Err(CommitError::GitHub(GitHubError::Ambiguous { message: why, .. })) => {
                // The request may have landed: look before trying again, so no commit is doubled.
                let (head, parent, text) = repo.last_commit(&target_branch).await?;
                if parent.as_deref() == Some(base.oid.as_str())
                    && text.trim_end() == message.full().trim_end()
                {
                    head
                } else {
                    log.info(&format!(
                        "no answer from GitHub ({why}); reading again (attempt {attempt})"
                    ))?;
                    log.end_group()?;
                    continue;
                }
            }
            Err(CommitError::GitHub(e)) => return Err(explain_refusal(e, remote.mode)),
        };
        log.info(&format!(
            "committed {} ({})",
            commit.oid,
            if commit.verified {
                "verified"
            } else {
                "not signed"
            }
        ))?;
        log.end_group()?;

        let mut landing = Landing {
            commit_sha: Some(commit.oid.clone()),
            commit_url: Some(commit.url.clone()),
            verified: Some(commit.verified),
            ..Landing::default()
        };
        let mut failures = Vec::new();
        if remote.mode == Mode::PullRequest {
            log.group("Pull request")?;
            let pr = open_pull_request(&repo, remote, &base, &message, &changes, log).await;
            log.end_group()?;
            let (number, url, problems) = pr?;
            landing.pull_request_number = Some(number);
            landing.pull_request_url = Some(url);
            failures = problems;
        }
        return Ok(Outcome {
            changes,
            written: true,
            landing,
            failures,
        });
    }
    bail!(
        "the branch kept moving: {CONFLICT_ATTEMPTS} attempts each found a newer head; nothing \
         was forced, and nothing of this run landed"
    )
}

/// Commits through GraphQL (signed by GitHub) unless a file's mode would be lost that way, or
/// the server has no `createCommitOnBranch` (an old GitHub Enterprise Server): then REST.
async fn commit(
    repo: &Repo<'_>,
    base: &Head,
    branch: &str,
    message: &Message,
    changes: &ChangeSet,
    modes: &BTreeMap<String, String>,
) -> Result<crate::github::repo::Commit, CommitError> {
    let files: Vec<(&str, &str, &str)> = changes
        .changed()
        .map(|f| {
            (
                f.path.as_str(),
                modes.get(&f.path).map_or("100644", String::as_str),
                f.after.as_str(),
            )
        })
        .collect();
    if files.iter().all(|(_, mode, _)| *mode == "100644") {
        let plain: Vec<(&str, &str)> = files.iter().map(|(p, _, t)| (*p, *t)).collect();
        match repo
            .commit_graphql(branch, &base.oid, message, &plain)
            .await
        {
            Err(CommitError::GitHub(e))
                if e.message().contains("createCommitOnBranch")
                    && e.message().contains("exist") => {}
            other => return other,
        }
    }
    repo.commit_rest(branch, base, message, &files).await
}

async fn open_pull_request(
    repo: &Repo<'_>,
    remote: &Remote,
    base: &Head,
    message: &Message,
    changes: &ChangeSet,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<(u64, String, Vec<String>)> {
    let options = &remote.pull_request;
    let title = match &options.title {
        Some(t) => t.replace("{images}", &render::changed_image_names(changes)),
        None => message.headline.clone(),
    };
    let body = render::pull_request_body(changes, &links(remote));
    let pr = match repo
        .find_pull_request(&options.branch, &base.branch)
        .await?
    {
        Some(pr) => {
            repo.update_pull_request(&pr.id, &title, &body).await?;
            log.info(&format!("updated pull request #{} {}", pr.number, pr.url))?;
            pr
        }
        None => {
            let created = repo
                .create_pull_request(
                    &base.repository_id,
                    &options.branch,
                    &base.branch,
                    &title,
                    &body,
                    options.draft,
                )
                .await;
            match created {
                Ok(pr) => {
                    log.info(&format!("opened pull request #{} {}", pr.number, pr.url))?;
                    pr
                }
                // An unanswered create may have worked: look before opening another.
                Err(e) => match repo
                    .find_pull_request(&options.branch, &base.branch)
                    .await?
                {
                    Some(pr) => pr,
                    None => return Err(explain_refusal(e, Mode::PullRequest)),
                },
            }
        }
    };
    // The pull request is open: what fails from here on fails the run, but is reported
    // together with the pull request's number and URL.
    let mut failures = Vec::new();
    if !options.labels.is_empty()
        && let Err(e) = repo.add_labels(pr.number, &options.labels).await
    {
        failures.push(e.to_string());
    }
    if !options.reviewers.is_empty()
        && let Err(e) = repo.request_reviewers(pr.number, &options.reviewers).await
    {
        failures.push(e.to_string());
    }
    if let Some(method) = options.auto_merge {
        match repo.enable_auto_merge(&pr.id, method.as_graphql()).await {
            Ok(()) => log.info(&format!(
                "auto-merge ({}) enabled",
                method.as_graphql().to_lowercase()
            ))?,
            Err(e) => {
                let m = e.message();
                let lower = m.to_lowercase();
                failures.push(
                    if lower.contains("auto merge is not allowed") || lower.contains("auto-merge") {
                        format!(
                            "pull request #{} ({}) is open, but this repository does not allow \
                         auto-merge ({m}); enable \"Allow auto-merge\" in its settings, or set \
                         auto_merge: none",
                            pr.number, pr.url
                        )
                    } else {
                        format!(
                            "pull request #{} is open, but enabling auto-merge failed: {e}",
                            pr.number
                        )
                    },
                );
            }
        }
    }
    Ok((pr.number, pr.url, failures))
}

/// Adds what to do to GitHub's refusals that have a known fix.
fn explain_refusal(e: GitHubError, mode: Mode) -> anyhow::Error {
    let lower = e.message().to_lowercase();
    let protected = lower.contains("protected branch")
        || lower.contains("rule violation")
        || lower.contains("must be made through a pull request");
    if protected && mode == Mode::Commit {
        return anyhow::anyhow!(
            "{e}; the branch is protected: use `mode: pull_request` to promote through a pull request"
        );
    }
    e.into()
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
        log.info(file)?;
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
    files: Vec<(String, String)>,
    verifier: &mut Verifier,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<ChangeSet> {
    // What the files make the cluster pull, image by image.
    let mut pulled: Vec<Pulled> = Vec::new();
    let mut problems = Vec::new();
    for (path, text) in &files {
        match kustomization::image_entries(text) {
            Ok(entries) => pulled.extend(
                entries
                    .into_iter()
                    .filter(|e| config.images.iter().any(|i| i.name == e.name))
                    .map(|e| Pulled {
                        image: e.name,
                        new_name: e.new_name,
                        file: path.clone(),
                    }),
            ),
            Err(e) => problems.push(problem(path, &e)),
        }
    }
    if !problems.is_empty() {
        // Report the other files' problems too, so one run shows everything to fix.
        let no_digests = BTreeMap::new();
        let targets = targets(config, &no_digests);
        for (path, text) in &files {
            if problems.iter().any(|(at, _)| at.file == *path) {
                continue;
            }
            match kustomization::edit(text, &targets) {
                Err(EditError::StaleDigest { .. }) if config.pin_digest => {}
                Err(e) => problems.push(problem(path, &e)),
                Ok(_) => {}
            }
        }
        return Err(FileProblems(problems).into());
    }
    let missing: Vec<String> = config
        .images
        .iter()
        .filter(|i| !pulled.iter().any(|p| p.image == i.name))
        .map(|i| format!("`{}`", i.name))
        .collect();
    if !missing.is_empty() {
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
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
        BTreeMap::new()
    };

    log.group("Patch image tags")?;
    let targets = targets(config, &digests);
    let mut changes = ChangeSet::default();
    for (path, before) in files {
        match kustomization::edit(&before, &targets) {
            Ok(edited) => changes.files.push(FileChange {
                path,
                before,
                after: edited.text,
                entries: edited.entries,
            }),
            Err(e) => problems.push(problem(&path, &e)),
        }
    }
    if !problems.is_empty() {
        return Err(FileProblems(problems).into());
    }
    log.info(&changes.summary())?;
    log.end_group()?;
    Ok(changes)
}

/// An `images:` entry naming a promoted image: the image, its `newName`, and its file.
struct Pulled {
    image: String,
    new_name: Option<String>,
    file: String,
}

/// What each image is promoted to; digests only with `pin_digest`.
fn targets<'a>(config: &'a Config, digests: &'a BTreeMap<String, String>) -> Vec<Target<'a>> {
    config
        .images
        .iter()
        .map(|image| Target {
            image: &image.name,
            tag: config.tag.as_str(),
            digest: digests
                .get(&image.name)
                .map(String::as_str)
                .filter(|_| config.pin_digest),
        })
        .collect()
}

/// Verifies images in ECR, keeping the credentials and the digests found, so a re-read after a
/// conflict asks ECR only about images it has not seen.
#[derive(Default)]
struct Verifier {
    credentials: Option<Credentials>,
    found: BTreeMap<EcrImage, String>,
}

impl Verifier {
    /// Proves every pulled image exists in ECR at the new tag, reporting all that do not
    /// together, and returns each image's digest.
    async fn verify(
        &mut self,
        config: &Config,
        pulled: &[Pulled],
        log: &mut Workflow<impl Write>,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let aws = &config.aws;
        let region = aws
            .region
            .as_deref()
            .context("input `aws_region`: not set")?;

        // Which registry image each entry pulls, and the files that pull it.
        let mut wanted: BTreeMap<EcrImage, (String, Vec<String>)> = BTreeMap::new();
        for p in pulled {
            let spec = config
                .images
                .iter()
                .find(|i| i.name == p.image)
                .context("a configured image")?;
            let from_uri = p.new_name.as_deref().and_then(EcrImage::from_uri);
            let image = match (from_uri, &spec.repository) {
                (Some(uri), Some(repo)) if uri.repository != *repo => bail!(
                    "input `images`: `{}={repo}` disagrees with {}, whose newName `{}` is \
                     repository `{}`; fix one of them",
                    p.image,
                    p.file,
                    p.new_name.as_deref().unwrap_or_default(),
                    uri.repository
                ),
                (Some(uri), _) => uri,
                (None, repo) => EcrImage {
                    registry_id: aws.registry_id.clone(),
                    region: region.to_owned(),
                    repository: repo.clone().unwrap_or_else(|| p.image.clone()),
                },
            };
            wanted
                .entry(image)
                .or_insert_with(|| (p.image.clone(), Vec::new()))
                .1
                .push(p.file.clone());
        }

        let unseen: Vec<EcrImage> = wanted
            .keys()
            .filter(|i| !self.found.contains_key(*i))
            .cloned()
            .collect();
        if !unseen.is_empty() {
            let credentials = match self.credentials.take() {
                Some(c) => c,
                None => credentials(config, region, log).await?,
            };
            let results = ecr::describe_all(&unseen, config.tag.as_str(), &credentials).await;
            self.credentials = Some(credentials);
            let mut failures = Vec::new();
            for (image, result) in unseen.iter().zip(results) {
                let (name, files) = &wanted[image];
                match result {
                    Ok(digest) => {
                        log.info(&format!(
                            "{name}: {}:{} is {digest}",
                            image.repository, config.tag
                        ))?;
                        self.found.insert(image.clone(), digest);
                    }
                    Err(missing) => failures.push(format!(
                        "image `{name}` (in {}): {}",
                        files.join(", "),
                        missing.describe(image, config.tag.as_str())
                    )),
                }
            }
            if !failures.is_empty() {
                bail!(
                    "{} image(s) could not be verified in ECR, so nothing was written:\n  {}",
                    failures.len(),
                    failures.join("\n  ")
                );
            }
        }

        let mut digests: BTreeMap<String, String> = BTreeMap::new();
        for (image, (name, _)) in &wanted {
            let digest = &self.found[image];
            if config.pin_digest
                && let Some(other) = digests.get(name).filter(|d| *d != digest)
            {
                bail!(
                    "`{name}` resolves to two digests ({other} and {digest}) in different \
                     registries; pin_digest can write only one"
                );
            }
            digests.insert(name.clone(), digest.clone());
        }
        Ok(digests)
    }
}

/// The role's session through GitHub OIDC, or the standard chain without a role.
async fn credentials(
    config: &Config,
    region: &str,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Credentials> {
    let aws = &config.aws;
    let Some(role_arn) = &aws.role_arn else {
        return Ok(Credentials::DefaultChain);
    };
    let (request, audience) = (aws.oidc.clone(), aws.audience.clone());
    let token = tokio::task::spawn_blocking(move || oidc::fetch(&request, &audience)).await??;
    log.add_mask(token.expose())?;
    let request = sts::AssumeRole {
        role_arn,
        session_name: &aws.session_name,
        duration_seconds: aws.duration_seconds,
        audience: &aws.audience,
        region,
    };
    let credentials = sts::assume_role(&request, &token).await?;
    if let Credentials::Session {
        access_key_id,
        secret_access_key,
        session_token,
    } = &credentials
    {
        for secret in [access_key_id, secret_access_key, session_token] {
            log.add_mask(secret.expose())?;
        }
    }
    log.info(&format!(
        "assumed {role_arn} as session {}",
        aws.session_name
    ))?;
    Ok(credentials)
}
