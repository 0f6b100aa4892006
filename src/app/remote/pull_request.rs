//! Pull request mode: the commit built off the pull request branch, on the base's head, and
//! the branch then moved once, straight to it; the pull request opened or updated, with its
//! extras; the temporary branches earlier runs left, deleted.

use std::io::Write;
use std::time::{Duration, SystemTime};

use super::{Step, UNCLEAR_ATTEMPTS, changed_files, landed, log_commit, unclear};
use crate::actions::Workflow;
use crate::app::{Outcome, links, message};
use crate::config::{Config, Remote};
use crate::core::change::ChangeSet;
use crate::core::render::{self, Landing};
use crate::github::commit::CommitError;
use crate::github::snapshot::{Branch, Leftover, PullRequest, Snapshot};
use crate::github::{GitHubError, Message, Repo, hints};

pub(super) async fn pull_request_mode(
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
pub(super) fn temporary_prefix(pr_branch: &str) -> String {
    format!("{pr_branch}-tmp-")
}

const TEMPORARY_HEX: usize = 12;

/// How old a temporary branch's commit must be before a later run deletes it: far longer than
/// a run holds one (between two requests), so an in-flight run's is never taken.
const LEFTOVER_AGE: Duration = Duration::from_secs(60 * 60);

/// Deletes the temporary branches earlier runs left (a run stopped by its deadline, or
/// cancelled, between building its commit and moving the pull request branch): those named as
/// this action names them, whose commit is over [`LEFTOVER_AGE`] old.
pub(super) async fn sweep(
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
    let body = render::pull_request_body(changes, &links(remote));
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
}
