//! What follows the landing, in commit mode: call Flux's Receiver so the reconcile starts at
//! once, record a deployment on the application repository, wait for Flux's verdict in the
//! GitOps repository's commit statuses, and finish the deployment with it.
//!
//! Nothing here undoes the commit. A refused webhook is a warning (Flux still reconciles at
//! its interval). Flux's failure, no verdict before `wait_timeout`, and a deployment GitHub
//! refuses fail the step, after its outputs and summary are written; the deployment still gets
//! its final status when it exists.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Outcome;
use crate::actions::Workflow;
use crate::config::{Config, DeploymentOptions, Mode, Remote};
use crate::core::flux::{self, DeploymentRecord, FluxObject, Rollout, Verdict};
use crate::core::render;
use crate::flux::receiver;
use crate::github::deployments::{Deployment, NewDeployment, Update};
use crate::github::snapshot::Branch;
use crate::github::statuses::{Poller, Round};
use crate::github::{GitHub, GitHubError, Repo, hints};

/// The final deployment status may wait this long for a rate limit past `wait_timeout`.
pub const FINISH_GRACE: Duration = Duration::from_secs(30);

/// Announces the secrets this part uses, before anything could print them.
pub fn mask(config: &Config, log: &mut Workflow<impl Write>) -> anyhow::Result<()> {
    let options = &config.flux;
    if let Some(secret) = options.webhook.as_ref().and_then(|w| w.secret.as_ref()) {
        log.add_mask(secret.expose())?;
    }
    if let Some(d) = &options.deployment {
        log.add_mask(d.token.expose())?;
    }
    Ok(())
}

/// Runs what follows the landing of `outcome` on `branch` (as read), and adds it to the outcome.
pub async fn follow(
    config: &Config,
    remote: &Remote,
    branch: &Branch,
    mut outcome: Outcome,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Outcome> {
    let options = &config.flux;
    if !options.is_set() {
        return Ok(outcome);
    }
    if remote.mode == Mode::PullRequest {
        log.notice(
            "pull_request mode: nothing reaches the cluster until the pull request merges, so \
             wait_for, flux_webhook_url and deployment_environment are skipped",
        )?;
        return Ok(outcome);
    }
    if config.dry_run {
        log.notice("dry run: no Flux webhook, wait or deployment")?;
        return Ok(outcome);
    }
    let started = Instant::now();
    let deadline = started + options.wait_timeout;
    let slug = format!("{}/{}", remote.owner, remote.name);
    // Ours, or, when nothing had to change, the head that already carries these values.
    let commit = outcome
        .landing
        .commit_sha
        .clone()
        .unwrap_or_else(|| branch.oid.clone());
    let short = short(&commit);

    if let Some(hook) = &options.webhook {
        let body = json!({
            "source": "gitops-promote",
            "repository": slug,
            "branch": branch.name,
            "commit": commit,
        });
        match receiver::call(hook, body.to_string().into_bytes()).await {
            Ok(()) => log.info("called the Flux Receiver: Flux reconciles now")?,
            Err(e) => log.warning(&format!("{e}; Flux still reconciles at its interval"), None)?,
        }
    }

    let mut record = match &options.deployment {
        Some(d) => {
            let gh = GitHub::new(
                &remote.api_url,
                &remote.graphql_url,
                &d.token,
                &format!("{}/{}", d.owner, d.name),
                Some(deadline + FINISH_GRACE),
            )?;
            let waiting: Vec<String> = options.wait_for.iter().map(|o| o.to_string()).collect();
            let description = if waiting.is_empty() {
                format!("promoted to {slug}@{short}")
            } else {
                format!("waiting for Flux: {}", waiting.join(", "))
            };
            let new = NewDeployment {
                sha: &d.sha,
                environment: &d.environment,
                description: &format!(
                    "{} {} -> {slug}@{short}",
                    render::changed_image_names(&outcome.changes),
                    config.tag
                ),
                payload: json!({
                    "gitops_repository": slug,
                    "gitops_branch": branch.name,
                    "gitops_commit": commit,
                    "images": render::images(&outcome.changes),
                    "wait_for": waiting,
                }),
            };
            let mut tracked = Tracked {
                gh,
                options: d,
                deployment: None,
                state: "pending",
            };
            tracked
                .start(&new, &description, remote, &mut outcome.failures, log)
                .await?;
            Some(tracked)
        }
        None => None,
    };

    let mut rollout = Rollout {
        commit: commit.clone(),
        objects: options
            .wait_for
            .iter()
            .map(|o| (o.clone(), Verdict::Pending))
            .collect(),
        deployment: None,
    };
    let mut unreadable = None;
    if rollout.waited() {
        if outcome.landing.commit_sha.is_none() {
            log.info(&format!(
                "nothing was committed: waiting for Flux on `{}`'s head {short}, which already \
                 carries these values",
                branch.name
            ))?;
        }
        let gh = GitHub::new(
            &remote.api_url,
            &remote.graphql_url,
            &remote.token,
            &slug,
            Some(deadline),
        )?;
        let repo = Repo {
            gh: &gh,
            owner: &remote.owner,
            name: &remote.name,
        };
        unreadable = wait(&repo, &branch.name, &mut rollout, deadline, log).await?;
    }

    let waited_s = options.wait_timeout.as_secs();
    let mut failure = rollout.failure(&branch.name, &slug, waited_s);
    if let Some(e) = &unreadable {
        failure = Some(e.clone());
    }
    if let Some(tracked) = &mut record {
        let (state, description) = match (&failure, rollout.waited()) {
            (None, false) => ("success", format!("promoted to {slug}@{short}")),
            (None, true) => (
                "success",
                format!(
                    "Flux reconciled {} on {short}",
                    options
                        .wait_for
                        .iter()
                        .map(FluxObject::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (Some(_), _) if unreadable.is_some() => (
                "error",
                "could not read Flux's commit statuses; see the workflow run".to_owned(),
            ),
            (Some(_), _) => ("failure", final_failure(&rollout, waited_s)),
        };
        tracked
            .finish(state, &description, remote, &mut outcome.failures, log)
            .await?;
        rollout.deployment = tracked.record();
    }
    match &failure {
        Some(why) => outcome.failures.push(why.clone()),
        None if rollout.waited() => {
            let mut later = false;
            let each: Vec<String> = rollout
                .objects
                .iter()
                .map(|(o, v)| {
                    let on = v.reported().map_or("", |r| self::short(&r.commit));
                    later |= on != short;
                    format!("{o} on {on}")
                })
                .collect();
            let note = if later {
                format!(" ({short} or a later commit that contains it)")
            } else {
                String::new()
            };
            log.notice(&format!("Flux reconciled {}{note}", each.join(", ")))?;
        }
        None => {}
    }
    outcome.rollout = Some(Box::new(rollout));
    Ok(outcome)
}

/// Polls until every object has a verdict, one fails, or `deadline` passes (a last round is
/// read at the deadline). `Err` only for the log; a GitHub refusal is returned as `Ok(Some)`,
/// the message that fails the step.
async fn wait(
    repo: &Repo<'_>,
    branch: &str,
    rollout: &mut Rollout,
    deadline: Instant,
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<Option<String>> {
    let names: Vec<String> = rollout.objects.iter().map(|(o, _)| o.to_string()).collect();
    log.group(&format!("Wait for Flux: {}", names.join(", ")))?;
    let mut poller = Poller::new(repo, branch, &rollout.commit);
    let mut warned = false;
    let mut unreadable = None;
    for round in 1.. {
        match poller.round().await {
            Ok(Round::Unchanged) => log.debug(&format!("round {round}: unchanged"))?,
            Ok(Round::Seen(seen)) => {
                log.debug(&format!(
                    "round {round}: `{branch}` at {}, {} commit(s) with ours",
                    short(&seen.head),
                    seen.revisions.len()
                ))?;
                if !seen.on_branch && !warned {
                    warned = true;
                    log.warning(
                        &format!(
                            "{} is no longer in the recent history of `{branch}` (rewritten, or \
                             many commits since): only its own statuses can count",
                            short(&rollout.commit)
                        ),
                        None,
                    )?;
                }
                for (object, verdict) in &mut rollout.objects {
                    if verdict.is_final() {
                        continue;
                    }
                    *verdict = flux::decide(object, &rollout.commit, &seen.revisions);
                    if let Some(r) = verdict.reported() {
                        log.info(&format!(
                            "{object}: {} on {} ({}{})",
                            r.state.as_str(),
                            short(&r.commit),
                            r.context,
                            if r.description.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", r.description)
                            }
                        ))?;
                    }
                }
            }
            Err(GitHubError::RateLimited { wait_s, .. }) => {
                log.warning(
                    &format!(
                        "GitHub rate-limits reading the commit statuses and asks to wait {wait_s} \
                         s, past wait_timeout: the wait ends here"
                    ),
                    None,
                )?;
                break;
            }
            Err(
                e @ (GitHubError::Unauthorized { .. }
                | GitHubError::Forbidden { .. }
                | GitHubError::NotFound { .. }
                | GitHubError::Status { .. }
                | GitHubError::Decode { .. }
                | GitHubError::GraphQl { .. }),
            ) => {
                unreadable = Some(format!("{:#}", hints::statuses_refused(e)));
                break;
            }
            // No clear answer (5xx, the network) even after the transport's retries: the next
            // round may get one.
            Err(e) => log.info(&format!("round {round}: {e}; trying again"))?,
        }
        let failed = rollout
            .objects
            .iter()
            .any(|(_, v)| matches!(v, Verdict::Failed(_)));
        if failed || rollout.objects.iter().all(|(_, v)| v.is_final()) {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(pause(round).min(deadline - now)).await;
    }
    log.end_group()?;
    Ok(unreadable)
}

/// The pause after round `round`: Flux needs seconds to minutes (fetch, apply, health checks),
/// so the first rounds come quickly and later ones every 15 s. While nothing changes, a round
/// is a `304`, which costs no rate limit.
fn pause(round: u32) -> Duration {
    const STEPS: [u64; 6] = [1, 2, 3, 5, 8, 13];
    Duration::from_secs(
        STEPS
            .get(round.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(15),
    )
}

/// The final deployment status's description when the rollout did not succeed.
fn final_failure(rollout: &Rollout, waited_s: u64) -> String {
    let failed = rollout.objects.iter().find_map(|(o, v)| match v {
        Verdict::Failed(r) => Some(format!("{o}: {}", r.description)),
        _ => None,
    });
    failed.unwrap_or_else(|| {
        let silent: Vec<String> = rollout
            .objects
            .iter()
            .filter(|(_, v)| !v.is_final())
            .map(|(o, _)| o.to_string())
            .collect();
        format!(
            "no verdict from Flux within {waited_s} s: {}",
            silent.join(", ")
        )
    })
}

fn short(oid: &str) -> &str {
    oid.get(..7).unwrap_or(oid)
}

/// The deployment on the application repository, as far as it got.
struct Tracked<'a> {
    gh: GitHub,
    options: &'a DeploymentOptions,
    deployment: Option<Deployment>,
    state: &'static str,
}

impl Tracked<'_> {
    fn repo(&self) -> Repo<'_> {
        Repo {
            gh: &self.gh,
            owner: &self.options.owner,
            name: &self.options.name,
        }
    }

    /// Creates the deployment and marks it `in_progress`; a refusal is a failure of the step,
    /// and the wait goes on.
    async fn start(
        &mut self,
        new: &NewDeployment<'_>,
        description: &str,
        remote: &Remote,
        failures: &mut Vec<String>,
        log: &mut Workflow<impl Write>,
    ) -> anyhow::Result<()> {
        let created = self.repo().create_deployment(new).await;
        let deployment = match created {
            Ok(d) => d,
            Err(e) => {
                failures.push(hints::deployment_refused(&e));
                return Ok(());
            }
        };
        log.info(&format!(
            "deployment {} of {} to `{}` created",
            deployment.id,
            short(&self.options.sha),
            self.options.environment
        ))?;
        self.deployment = Some(deployment);
        self.set("in_progress", description, remote, failures).await;
        Ok(())
    }

    async fn finish(
        &mut self,
        state: &'static str,
        description: &str,
        remote: &Remote,
        failures: &mut Vec<String>,
        log: &mut Workflow<impl Write>,
    ) -> anyhow::Result<()> {
        if self.deployment.is_none() {
            return Ok(());
        }
        if self.set(state, description, remote, failures).await {
            log.info(&format!(
                "deployment to `{}`: {state}",
                self.options.environment
            ))?;
        }
        Ok(())
    }

    /// Sets a status; whether it was set.
    async fn set(
        &mut self,
        state: &'static str,
        description: &str,
        remote: &Remote,
        failures: &mut Vec<String>,
    ) -> bool {
        let Some(deployment) = &self.deployment else {
            return false;
        };
        let run = remote.source.run_url();
        let update = Update {
            state,
            description,
            log_url: run.as_deref(),
            environment_url: self.options.url.as_deref().filter(|_| state == "success"),
        };
        let set = self.repo().set_deployment_status(deployment, &update).await;
        match set {
            Ok(()) => {
                self.state = state;
                true
            }
            Err(e) => {
                failures.push(hints::deployment_refused(&e));
                false
            }
        }
    }

    fn record(&self) -> Option<DeploymentRecord> {
        let deployment = self.deployment.as_ref()?;
        Some(DeploymentRecord {
            environment: self.options.environment.clone(),
            id: deployment.id,
            state: self.state.to_owned(),
            environment_url: self.options.url.clone().filter(|_| self.state == "success"),
        })
    }
}
