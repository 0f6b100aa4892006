//! A GitHub deployment on the application repository (REST docs, deployments and deployment
//! statuses): created for the exact commit the workflow built, then given statuses as the
//! rollout goes.
//!
//! GitHub's defaults would get in the way of a CD run: `auto_merge` (default true) tries to
//! merge the default branch into the ref and answers 409 when the ref is a SHA that is behind
//! it; `required_contexts` (default: every context) answers 409 unless every commit status of
//! the commit is green. The deployment records what was promoted, so neither applies.

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{GitHubError, Repo, Resend};
use crate::core::flux::fit;

/// GitHub refuses a longer description, on deployments and their statuses.
pub const DESCRIPTION_LIMIT: usize = 140;

/// A deployment to create.
pub struct NewDeployment<'a> {
    /// The commit deployed (`GITHUB_SHA`).
    pub sha: &'a str,
    pub environment: &'a str,
    pub description: &'a str,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Deployment {
    pub id: u64,
}

/// A deployment status to set.
pub struct Update<'a> {
    /// `in_progress`, `success`, `failure` or `error`.
    pub state: &'a str,
    pub description: &'a str,
    /// The workflow run.
    pub log_url: Option<&'a str>,
    /// Where the environment is reachable.
    pub environment_url: Option<&'a str>,
}

impl Repo<'_> {
    /// Creates the deployment. An answer that got lost is not sent twice: the deployments of
    /// the commit and environment are read first, and one with the same payload is ours.
    pub async fn create_deployment(
        &self,
        new: &NewDeployment<'_>,
    ) -> Result<Deployment, GitHubError> {
        let body = json!({
            "ref": new.sha,
            "task": "deploy",
            "auto_merge": false,
            "required_contexts": [],
            "environment": new.environment,
            "description": fit(new.description, DESCRIPTION_LIMIT),
            "payload": new.payload,
        });
        let what = format!(
            "creating a `{}` deployment in {}",
            new.environment,
            self.slug()
        );
        let path = format!("{}/deployments", self.rest_base());
        let created = self
            .gh
            .rest(
                &what,
                Method::POST,
                &path,
                Some(&body),
                Resend::OnlyIfRejected,
            )
            .await;
        match created {
            Err(e @ (GitHubError::Ambiguous { .. } | GitHubError::Decode { .. })) => {
                self.find_deployment(new).await?.ok_or(e)
            }
            other => other,
        }
    }

    async fn find_deployment(
        &self,
        new: &NewDeployment<'_>,
    ) -> Result<Option<Deployment>, GitHubError> {
        #[derive(Deserialize)]
        struct Listed {
            id: u64,
            payload: Value,
        }
        let path = format!(
            "{}/deployments?sha={}&environment={}&per_page=30",
            self.rest_base(),
            new.sha,
            query_value(new.environment)
        );
        let what = format!("reading the deployments of {}", self.slug());
        let listed: Vec<Listed> = self
            .gh
            .rest(&what, Method::GET, &path, None, Resend::Safe)
            .await?;
        Ok(listed
            .into_iter()
            .find(|d| d.payload == new.payload)
            .map(|d| Deployment { id: d.id }))
    }

    /// Adds a status. Sent again after an unclear answer: a repeated status is harmless (the
    /// newest one wins), while a lost final status would leave the deployment in progress.
    pub async fn set_deployment_status(
        &self,
        deployment: &Deployment,
        update: &Update<'_>,
    ) -> Result<(), GitHubError> {
        let mut body = json!({
            "state": update.state,
            "description": fit(update.description, DESCRIPTION_LIMIT),
        });
        if let Some(url) = update.log_url {
            body["log_url"] = json!(url);
        }
        if let Some(url) = update.environment_url {
            body["environment_url"] = json!(url);
        }
        let what = format!(
            "setting deployment {} of {} to `{}`",
            deployment.id,
            self.slug(),
            update.state
        );
        let path = format!(
            "{}/deployments/{}/statuses",
            self.rest_base(),
            deployment.id
        );
        let _: Value = self
            .gh
            .rest(&what, Method::POST, &path, Some(&body), Resend::Safe)
            .await?;
        Ok(())
    }
}

/// Percent-encodes a query value.
fn query_value(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
