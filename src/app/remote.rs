//! A run on a GitHub repository. One snapshot read (the AWS session is fetched meanwhile), the
//! patch, then one write against exactly what was read:
//! - commit mode: one commit on the branch, expected to sit on the head that was read;
//! - pull request mode: one commit built off the PR branch, on the base's head, carrying this
//!   run's promotions and those the open pull request already had; the PR branch then moves
//!   once, straight from the head that was read to that commit, so the open pull request never
//!   has zero commits (GitHub would close it for good).
//!
//! When the branch moved in between, the run reads again (compare and swap); the branch a user
//! owns is never forced.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};

use super::{Input, Outcome, Pending, Verifier, message, patch, select, verify};
use crate::actions::Workflow;
use crate::checkout::MAX_FILE_BYTES;
use crate::config::{Config, Mode, Remote};
use crate::core::change::ChangeSet;
use crate::core::kustomization;
use crate::core::render::{self, Landing};
use crate::github::commit::{Change, Commit, CommitError};
use crate::github::snapshot::{self, Branch, Leftover, PullRequest, Snapshot};
use crate::github::{GitHub, GitHubError, Message, Repo, hints};

/// How many times in a row GitHub may leave a write without a clear answer (and it did not land)
/// before the run gives up and says so. A branch that moved is read again until the deadline.
const UNCLEAR_ATTEMPTS: u32 = 3;

/// What one attempt came to.
enum Step {
    Done(Outcome),
    /// The branch moved: read again.
    Again,
    /// GitHub gave no clear answer to the write, which did not land: read again, a few times.
    Unclear(anyhow::Error),
}

pub async fn run(
    config: &Config,
    remote: &Remote,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Outcome> {
    log.add_mask(remote.token.expose())?;
    super::flux::mask(config, log)?;
    let slug = format!("{}/{}", remote.owner, remote.name);
    let gh = GitHub::new(
        &remote.api_url,
        &remote.graphql_url,
        &remote.token,
        &slug,
        Some(std::time::Instant::now() + config.timeout),
    )?;
    let repo = Repo {
        gh: &gh,
        owner: &remote.owner,
        name: &remote.name,
    };
    let temporary_prefix = temporary_prefix(&remote.pull_request.branch);
    let request = snapshot::Request {
        branch: remote.branch.as_deref(),
        patterns: &config.paths,
        pr_branch: (remote.mode == Mode::PullRequest)
            .then_some(remote.pull_request.branch.as_str()),
        leftovers: Some(&temporary_prefix),
    };
    let mut verifier = Verifier::default();

    let deadline = std::time::Instant::now() + config.timeout;
    let mut unclear_in_a_row = 0;
    for attempt in 1.. {
        log.group(&format!("Read {slug}"))?;
        let snapshot = read(&repo, &request, config, &mut verifier, log).await?;
        log.info(&format!(
            "branch `{}` at {}",
            snapshot.base.name, snapshot.base.oid
        ))?;
        let files = inputs(config, &snapshot, &slug, log)?;
        log.end_group()?;

        let changes = patch(config, files, &mut verifier, log).await?;
        let step = match remote.mode {
            Mode::Commit => {
                commit_mode(&repo, remote, config, &snapshot, changes, attempt, log).await?
            }
            Mode::PullRequest => {
                pull_request_mode(&repo, remote, config, &snapshot, changes, log).await?
            }
        };
        match step {
            // Then into the cluster: Flux's Receiver, its verdict, the deployment.
            Step::Done(outcome) => {
                if remote.mode == Mode::PullRequest && !config.dry_run {
                    sweep(&repo, &temporary_prefix, &snapshot.leftovers, log).await?;
                }
                return super::flux::follow(config, remote, &snapshot.base, outcome, log).await;
            }
            Step::Again => unclear_in_a_row = 0,
            Step::Unclear(e) => {
                unclear_in_a_row += 1;
                if unclear_in_a_row >= UNCLEAR_ATTEMPTS {
                    return Err(e);
                }
            }
        }
        // Waits grow to 4 s, so that many runs racing for one branch spread out; they go on
        // while the deadline allows another attempt.
        let wait = crate::retry::backoff(attempt.min(5));
        if std::time::Instant::now() + wait >= deadline {
            bail!(
                "the branch kept moving: {attempt} attempts in timeout_seconds ({} s) each found \
                 a newer head; nothing was forced, and nothing of this run landed",
                config.timeout.as_secs()
            );
        }
        tokio::time::sleep(wait).await;
    }
    unreachable!("an unbounded range")
}

/// The snapshot, with the AWS session (OIDC, STS) fetched at the same time on the first read.
async fn read(
    repo: &Repo<'_>,
    request: &snapshot::Request<'_>,
    config: &Config,
    verifier: &mut Verifier,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Snapshot> {
    if !verifier.needs_session(config) {
        return Ok(repo.snapshot(request).await?);
    }
    let (snapshot, session) = tokio::join!(repo.snapshot(request), verify::session(config));
    let snapshot = snapshot?;
    verifier.keep(session?, log)?;
    Ok(snapshot)
}

/// The selected files as read on the base, with the promotions an open pull request carries.
fn inputs(
    config: &Config,
    snapshot: &Snapshot,
    slug: &str,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Vec<Input>> {
    let listing: Vec<String> = snapshot.base.files.keys().cloned().collect();
    let selected = select(config, &listing, slug, log)?;
    let open = snapshot
        .pull_request
        .as_ref()
        .and(snapshot.pr_branch.as_ref());
    selected
        .into_iter()
        .map(|path| {
            let file = &snapshot.base.files[&path];
            if file.mode == "120000" {
                bail!(
                    "input `paths`: `{path}` is a symbolic link in {slug}; name the file it \
                     points to instead"
                );
            }
            if file
                .text
                .as_ref()
                .is_some_and(|t| t.len() as u64 > MAX_FILE_BYTES)
            {
                bail!(
                    "`{path}` is larger than the {} MiB a kustomization file may be; check that \
                     `paths` selects the right file",
                    MAX_FILE_BYTES >> 20
                );
            }
            let text = file.text.clone().with_context(|| {
                format!("`{path}` is not a text file GitHub can return whole (binary or too large)")
            })?;
            let pending = open
                .and_then(|branch| branch.files.get(&path))
                .and_then(|f| f.text.as_deref())
                .map(|theirs| pending(&text, theirs))
                .unwrap_or_default();
            Ok(Input {
                path,
                text,
                pending,
            })
        })
        .collect()
}

/// The image values `theirs` (the PR branch's file) sets that differ from `base`'s.
fn pending(base: &str, theirs: &str) -> Vec<Pending> {
    if base == theirs {
        return Vec::new();
    }
    let (Ok(base), Ok(theirs)) = (
        kustomization::image_entries(base),
        kustomization::image_entries(theirs),
    ) else {
        return Vec::new();
    };
    let mut pending: Vec<Pending> = Vec::new();
    for entry in theirs {
        let Some(tag) = entry.new_tag else { continue };
        let differs = base.iter().any(|b| {
            b.name == entry.name && (b.new_tag.as_ref() != Some(&tag) || b.digest != entry.digest)
        });
        if differs && !pending.iter().any(|p| p.image == entry.name) {
            pending.push(Pending {
                image: entry.name,
                tag,
                digest: entry.digest,
            });
        }
    }
    pending
}

/// The changed files with the modes they have on `branch`.
fn changed_files<'a>(changes: &'a ChangeSet, branch: &'a Branch) -> Vec<Change<'a>> {
    changes
        .changed()
        .map(|f| Change {
            path: &f.path,
            mode: branch
                .files
                .get(&f.path)
                .map_or("100644", |file| file.mode.as_str()),
            text: &f.after,
        })
        .collect()
}

async fn commit_mode(
    repo: &Repo<'_>,
    remote: &Remote,
    config: &Config,
    snapshot: &Snapshot,
    changes: ChangeSet,
    attempt: u32,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Step> {
    let base = &snapshot.base;
    if changes.is_noop() {
        let why = if attempt > 1 {
            "another run already set these values; "
        } else {
            ""
        };
        log.notice(&format!(
            "nothing to change: {why}every image is already at {} on `{}`",
            config.tag, base.name
        ))?;
        return Ok(Step::Done(Outcome::unwritten(changes)));
    }
    if config.dry_run {
        log.notice("dry run: nothing was committed")?;
        return Ok(Step::Done(Outcome::unwritten(changes)));
    }
    let message = message(remote, &changes);
    let files = changed_files(&changes, base);
    log.group(&format!("Commit to `{}`", base.name))?;
    let commit = match land(repo, base, &message, &files).await {
        Ok(commit) => commit,
        Err(CommitError::Stale) => {
            log.info(&format!(
                "`{}` moved since it was read; reading again",
                base.name
            ))?;
            log.end_group()?;
            return Ok(Step::Again);
        }
        Err(CommitError::GitHub(e)) if unclear(&e) => {
            // The request may have landed: look before trying again, so no commit is doubled.
            let why = e.message();
            let (head, parent, text) = repo.last_commit(&base.name).await?;
            if parent.as_deref() == Some(base.oid.as_str())
                && text.trim_end() == message.full().trim_end()
            {
                head
            } else {
                log.info(&format!("no answer from GitHub ({why}); reading again"))?;
                log.end_group()?;
                return Ok(Step::Unclear(e.into()));
            }
        }
        Err(CommitError::GitHub(e)) => return Err(hints::commit_refused(e)),
        Err(e @ CommitError::NoGraphQlCommit) => return Err(e.into()),
    };
    log_commit(&commit, log)?;
    log.end_group()?;
    Ok(Step::Done(Outcome {
        changes,
        written: true,
        landing: landed(&commit),
        failures: Vec::new(),
        rollout: None,
    }))
}

/// Whether a write may have taken effect although its answer says nothing useful: a 5xx or a
/// broken connection, or a success whose body is not what GitHub documents.
fn unclear(e: &GitHubError) -> bool {
    matches!(
        e,
        GitHubError::Ambiguous { .. } | GitHubError::Decode { .. }
    )
}

/// Commits through GraphQL (signed by GitHub) unless a file's mode would be lost that way, or
/// the server has no `createCommitOnBranch` (an old GitHub Enterprise Server): then REST.
async fn land(
    repo: &Repo<'_>,
    base: &Branch,
    message: &Message,
    files: &[Change<'_>],
) -> Result<Commit, CommitError> {
    if files.iter().all(|f| f.mode == "100644") {
        match repo
            .commit_graphql(&base.name, &base.oid, message, files)
            .await
        {
            Err(CommitError::NoGraphQlCommit) => {}
            other => return other,
        }
    }
    repo.commit_rest(&base.name, &base.oid, &base.tree, message, files)
        .await
}

fn log_commit(commit: &Commit, log: &mut Workflow<impl Write>) -> anyhow::Result<()> {
    let signed = if commit.verified {
        "verified"
    } else {
        "not signed"
    };
    log.info(&format!("committed {} ({signed})", commit.oid))?;
    Ok(())
}

fn landed(commit: &Commit) -> Landing {
    Landing {
        commit_sha: Some(commit.oid.clone()),
        commit_url: Some(commit.url.clone()),
        verified: Some(commit.verified),
        ..Landing::default()
    }
}

async fn pull_request_mode(
    repo: &Repo<'_>,
    remote: &Remote,
    config: &Config,
    snapshot: &Snapshot,
    changes: ChangeSet,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Step> {
    let base = &snapshot.base;
    let branch = &remote.pull_request.branch;
    let open = snapshot.pull_request.as_ref();
    let mut landing = Landing::default();
    if let Some(pr) = open {
        landing.pull_request_number = Some(pr.number);
        landing.pull_request_url = Some(pr.url.clone());
    }
    if changes.is_noop() {
        let left = open.map_or(String::new(), |pr| {
            format!("; pull request #{} is left as it is", pr.number)
        });
        log.notice(&format!(
            "nothing to change: `{}` already carries every value (tag {}){left}",
            base.name, config.tag
        ))?;
        return Ok(Step::Done(Outcome {
            landing,
            ..Outcome::unwritten(changes)
        }));
    }
    if let (Some(pr), Some(theirs)) = (open, &snapshot.pr_branch)
        && carries(theirs, &changes)
    {
        log.notice(&format!(
            "nothing to change: pull request #{} already carries these values",
            pr.number
        ))?;
        let failures = if config.dry_run {
            Vec::new()
        } else {
            extras(repo, remote, pr, log).await?
        };
        return Ok(Step::Done(Outcome {
            landing,
            failures,
            ..Outcome::unwritten(changes)
        }));
    }
    if config.dry_run {
        log.notice("dry run: nothing was committed")?;
        return Ok(Step::Done(Outcome::unwritten(changes)));
    }

    let message = message(remote, &changes);
    let files = changed_files(&changes, base);
    log.group(&format!("Commit to `{branch}`"))?;
    // Built off the branch, on the base's head: on a temporary branch, so GitHub signs it,
    // unless a file's mode must be kept (then through REST, unsigned).
    let mut temporary = files.iter().all(|f| f.mode == "100644").then(|| {
        format!(
            "{}{}",
            temporary_prefix(branch),
            crate::random::hex(TEMPORARY_HEX / 2)
        )
    });
    let (message_, files_) = (&message, &files);
    let build = |temporary: Option<String>| async move {
        repo.commit_off_branch(
            &snapshot.repository_id,
            temporary.as_deref(),
            &base.oid,
            &base.tree,
            message_,
            files_,
        )
        .await
    };
    let mut built = build(temporary.clone()).await;
    if let Err(CommitError::NoGraphQlCommit) = built {
        // An older GitHub Enterprise Server: the REST Git Data path, unsigned.
        temporary = None;
        built = build(None).await;
    }
    let commit = match built {
        Ok(commit) => commit,
        Err(e) => return again_or_fail(repo, temporary.as_deref(), e, log).await,
    };
    let from = snapshot.pr_branch.as_ref().map(|b| b.oid.as_str());
    let moved = repo
        .move_branch(
            &snapshot.repository_id,
            branch,
            from,
            &commit.oid,
            temporary.as_deref(),
        )
        .await;
    match moved {
        Ok(()) => {}
        Err(CommitError::GitHub(e))
            if unclear(&e)
                && repo.branch_oid(branch).await?.as_deref() == Some(commit.oid.as_str()) =>
        {
            // It moved; the temporary branch may be left.
            if let Some(temporary) = &temporary
                && repo.branch_oid(temporary).await?.is_some()
            {
                clean_up(repo, Some(temporary), log).await?;
            }
        }
        Err(e) => return again_or_fail(repo, temporary.as_deref(), e, log).await,
    }
    log_commit(&commit, log)?;
    log.end_group()?;

    let mut landing = landed(&commit);
    log.group("Pull request")?;
    let opened = open_pull_request(repo, remote, snapshot, &message, &changes, log).await;
    log.end_group()?;
    let (pr, failures) = opened?;
    landing.pull_request_number = Some(pr.number);
    landing.pull_request_url = Some(pr.url);
    Ok(Step::Done(Outcome {
        changes,
        written: true,
        landing,
        failures,
        rollout: None,
    }))
}

/// Whether the PR branch already holds every changed file as this run would write it.
fn carries(theirs: &Branch, changes: &ChangeSet) -> bool {
    changes.changed().all(|f| {
        theirs.files.get(&f.path).and_then(|t| t.text.as_deref()) == Some(f.after.as_str())
    }) && changes.files.iter().filter(|f| !f.is_changed()).all(|f| {
        theirs.files.get(&f.path).and_then(|t| t.text.as_deref()) == Some(f.before.as_str())
    })
}

/// After a failed write in pull request mode: the temporary branch goes, and the run reads again
/// when the failure may pass (the branch moved, or GitHub gave no clear answer).
async fn again_or_fail(
    repo: &Repo<'_>,
    temporary: Option<&str>,
    e: CommitError,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Step> {
    clean_up(repo, temporary, log).await?;
    let step = match e {
        CommitError::Stale => {
            log.info("the pull request branch moved since it was read; reading again")?;
            Step::Again
        }
        CommitError::GitHub(e) if unclear(&e) => {
            log.info(&format!("no clear answer from GitHub ({e}); reading again"))?;
            Step::Unclear(e.into())
        }
        CommitError::GitHub(e) => return Err(e.into()),
        e @ CommitError::NoGraphQlCommit => return Err(e.into()),
    };
    log.end_group()?;
    Ok(step)
}

/// The names of the pull request branch's temporary branches start with this; a random part of
/// [`TEMPORARY_HEX`] hex digits follows.
fn temporary_prefix(pr_branch: &str) -> String {
    format!("{pr_branch}-tmp-")
}

const TEMPORARY_HEX: usize = 12;

/// How old a temporary branch's commit must be before a later run deletes it: far longer than
/// a run holds one (between two requests), so an in-flight run's is never taken.
const LEFTOVER_AGE: Duration = Duration::from_secs(60 * 60);

/// Deletes the temporary branches earlier runs left (a run stopped by its deadline, or
/// cancelled, between building its commit and moving the pull request branch): those named as
/// this action names them, whose commit is over [`LEFTOVER_AGE`] old.
async fn sweep(
    repo: &Repo<'_>,
    prefix: &str,
    leftovers: &[Leftover],
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<()> {
    let now = SystemTime::now();
    for leftover in leftovers.iter().filter(|l| is_stale(prefix, l, now)) {
        log.info(&format!(
            "deleting `{}`, a temporary branch an earlier run left",
            leftover.branch
        ))?;
        clean_up(repo, Some(&leftover.branch), log).await?;
    }
    Ok(())
}

fn is_stale(prefix: &str, leftover: &Leftover, now: SystemTime) -> bool {
    let ours = leftover.branch.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == TEMPORARY_HEX && rest.bytes().all(|b| b.is_ascii_hexdigit())
    });
    let old = leftover
        .committed
        .and_then(|t| now.duration_since(t).ok())
        .is_some_and(|age| age > LEFTOVER_AGE);
    ours && old
}

/// Deletes a temporary branch; a failure to do so is worth a warning, not the run.
async fn clean_up(
    repo: &Repo<'_>,
    temporary: Option<&str>,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<()> {
    if let Some(temporary) = temporary
        && let Err(e) = repo.delete_branch(temporary).await
        && !matches!(
            e,
            GitHubError::NotFound { .. } | GitHubError::Status { status: 422, .. }
        )
    {
        log.warning(
            &format!("could not delete the temporary branch `{temporary}`: {e}"),
            None,
        )?;
    }
    Ok(())
}

/// Updates the open pull request, or opens one, then adds its extras.
async fn open_pull_request(
    repo: &Repo<'_>,
    remote: &Remote,
    snapshot: &Snapshot,
    message: &Message,
    changes: &ChangeSet,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<(PullRequest, Vec<String>)> {
    let options = &remote.pull_request;
    let base = &snapshot.base.name;
    let title = match &options.title {
        Some(t) => t.replace("{images}", &render::changed_image_names(changes)),
        None => message.headline.clone(),
    };
    let body = render::pull_request_body(changes, &super::links(remote));
    let pr = match &snapshot.pull_request {
        Some(pr) => {
            repo.update_pull_request(&pr.id, &title, &body).await?;
            log.info(&format!("updated pull request #{} {}", pr.number, pr.url))?;
            pr.clone()
        }
        None => {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let created = repo
                    .create_pull_request(
                        &snapshot.repository_id,
                        &options.branch,
                        base,
                        &title,
                        &body,
                        options.draft,
                    )
                    .await;
                match created {
                    Ok(pr) => {
                        log.info(&format!("opened pull request #{} {}", pr.number, pr.url))?;
                        break pr;
                    }
                    // An unanswered (or concurrent) create may have worked: look before failing.
                    // If it did not, it is sent again: GitHub refuses a second open pull
                    // request for one branch, so this cannot make two.
                    Err(e) => match repo.find_pull_request(&options.branch, base).await? {
                        Some(pr) => break pr,
                        None if unclear(&e) && attempt < UNCLEAR_ATTEMPTS => {
                            log.info(&format!("no clear answer from GitHub ({e}); trying again"))?;
                            tokio::time::sleep(crate::retry::backoff(attempt)).await;
                        }
                        None => return Err(e.into()),
                    },
                }
            }
        }
    };
    let failures = extras(repo, remote, &pr, log).await?;
    Ok((pr, failures))
}

/// The pull request's labels, reviewers and auto-merge, applied on every run, so a run that
/// follows one whose extras failed completes them. The pull request is open: what fails here
/// fails the run, but is reported together with its number and URL.
async fn extras(
    repo: &Repo<'_>,
    remote: &Remote,
    pr: &PullRequest,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Vec<String>> {
    let options = &remote.pull_request;
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
            Err(e) => failures.push(hints::auto_merge_refused(&e, pr.number, &pr.url)),
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_temporary_branches_named_as_ours_are_stale() {
        let now = SystemTime::now();
        let leftover = |branch: &str, age_s: u64| Leftover {
            branch: branch.to_owned(),
            committed: now.checked_sub(Duration::from_secs(age_s)),
        };
        let prefix = temporary_prefix("gitops-promote/app");
        assert_eq!(prefix, "gitops-promote/app-tmp-");
        let stale = |l: &Leftover| is_stale(&prefix, l, now);
        assert!(stale(&leftover(
            "gitops-promote/app-tmp-0123456789ab",
            7200
        )));
        // In flight, perhaps: a run holds its temporary branch for a request or two.
        assert!(!stale(&leftover("gitops-promote/app-tmp-0123456789ab", 60)));
        // Not a name this action makes.
        assert!(!stale(&leftover("gitops-promote/app-tmp-0123456789", 7200)));
        assert!(!stale(&leftover(
            "gitops-promote/app-tmp-notoursnotours",
            7200
        )));
        assert!(!stale(&leftover(
            "gitops-promote/app-tmp-0123456789ab-x",
            7200
        )));
        // No commit time: kept.
        let unknown = Leftover {
            committed: None,
            ..leftover("gitops-promote/app-tmp-0123456789ab", 0)
        };
        assert!(!stale(&unknown));
    }

    #[test]
    fn pending_promotions_are_the_values_the_pr_branch_changed() {
        let base = "images:\n- name: backend\n  newTag: sha-1\n- name: worker\n  newTag: v1\n";
        let theirs = "images:\n- name: backend\n  newTag: sha-1\n- name: worker\n  newTag: v2\n  digest: sha256:ab\n";
        assert_eq!(
            pending(base, theirs),
            vec![Pending {
                image: "worker".into(),
                tag: "v2".into(),
                digest: Some("sha256:ab".into()),
            }]
        );
        assert_eq!(pending(base, base), Vec::new());
    }

    #[test]
    fn an_unreadable_pr_file_replays_nothing() {
        assert_eq!(pending("images: []\n", "images: [\n"), Vec::new());
    }
}
