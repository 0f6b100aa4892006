//! A run on a GitHub repository. One snapshot read (the AWS session is fetched meanwhile), the
//! patch, then one write against exactly what was read:
//! - commit mode: one commit on the branch, expected to sit on the head that was read;
//! - pull request mode: one commit built off the PR branch, on the base's head, carrying this
//!   run's promotions and those the open pull request already had; the PR branch then moves
//!   once, straight from the head that was read to that commit, so the open pull request never
//!   has zero commits (GitHub would close it for good).
//!
//! When the branch moved in between, the run reads again (compare and swap); the branch a user
//! owns is never forced. This module reads and loops; `commit` and `pull_request` write.

mod commit;
mod pull_request;

use std::io::Write;

use anyhow::{Context, bail};

use self::commit::commit_mode;
use self::pull_request::{pull_request_mode, sweep, temporary_prefix};

use super::{Input, Outcome, Pending, Verifier, patch, select, verify};
use crate::actions::Workflow;
use crate::checkout::MAX_FILE_BYTES;
use crate::config::{Config, Mode, Remote};
use crate::core::change::ChangeSet;
use crate::core::kustomization;
use crate::core::render::Landing;
use crate::github::commit::{Change, Commit};
use crate::github::snapshot::{self, Branch, Snapshot};
use crate::github::{GitHub, GitHubError, Repo};

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
    // The PR branch's promotions are carried over while a pull request is open on it, and also
    // when none is open yet but its head is no closed pull request's: another run moved it and
    // has not opened the pull request yet (dropping them then lost that run's promotion). A
    // branch a closed or merged pull request left is not replayed: its values are old.
    let open = snapshot.pr_branch.as_ref().filter(|branch| {
        snapshot.pull_request.is_some() || !snapshot.closed_heads.contains(&branch.oid)
    });
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

/// Whether a write may have taken effect although its answer says nothing useful: a 5xx or a
/// broken connection, or a success whose body is not what GitHub documents.
fn unclear(e: &GitHubError) -> bool {
    matches!(
        e,
        GitHubError::Ambiguous { .. } | GitHubError::Decode { .. }
    )
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

#[cfg(test)]
mod tests {
    use super::*;

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
