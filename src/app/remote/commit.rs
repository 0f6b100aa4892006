//! Commit mode: one commit on the branch, expected to sit on the head that was read.

use std::io::Write;

use super::{Step, changed_files, landed, log_commit, unclear};
use crate::actions::Workflow;
use crate::app::{Outcome, message};
use crate::config::{Config, Remote};
use crate::core::change::ChangeSet;
use crate::github::commit::{Change, Commit, CommitError};
use crate::github::snapshot::{Branch, Snapshot};
use crate::github::{Message, Repo, hints};

pub(super) async fn commit_mode(
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
