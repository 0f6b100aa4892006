//! What follows the landing: Flux's verdict (`wait_for`), its Receiver, a GitHub deployment.

use std::time::Duration;

use super::inputs::RawInputs;
use super::runner::RunnerEnv;
use super::values::{given, list};
use super::{ConfigError, invalid};
use crate::core::flux::FluxObject;
use crate::flux::receiver::Webhook;
use crate::secret::Secret;

/// What follows the landing (commit mode): waiting for Flux's verdict, calling its Receiver,
/// recording a deployment on the application repository. All off by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxOptions {
    /// Empty: no wait.
    pub wait_for: Vec<FluxObject>,
    pub wait_timeout: Duration,
    pub webhook: Option<Webhook>,
    pub deployment: Option<DeploymentOptions>,
}

/// A GitHub deployment of the workflow's commit, on the workflow's repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentOptions {
    pub environment: String,
    pub url: Option<String>,
    pub token: Secret,
    /// GITHUB_REPOSITORY, split.
    pub owner: String,
    pub name: String,
    /// GITHUB_SHA.
    pub sha: String,
}

impl FluxOptions {
    pub fn is_set(&self) -> bool {
        !self.wait_for.is_empty() || self.webhook.is_some() || self.deployment.is_some()
    }

    pub(super) fn from_inputs(
        raw: &RawInputs,
        env: &RunnerEnv,
        remote: bool,
    ) -> Result<Self, ConfigError> {
        let mut wait_for: Vec<FluxObject> = Vec::new();
        for item in given(raw.wait_for.clone())
            .map(|w| list(&w))
            .unwrap_or_default()
        {
            let object = FluxObject::parse(&item).map_err(|m| invalid("wait_for", m))?;
            if wait_for.contains(&object) {
                return Err(invalid("wait_for", format!("`{object}` is listed twice")));
            }
            wait_for.push(object);
        }
        let wait_timeout = match given(raw.wait_timeout.clone()) {
            None => Duration::from_secs(600),
            Some(s) => match s.parse::<u64>() {
                Ok(n @ 1..=21_600) => Duration::from_secs(n),
                _ => {
                    return Err(invalid(
                        "wait_timeout",
                        format!("`{s}` is not a whole number of seconds from 1 to 21600"),
                    ));
                }
            },
        };
        let secret = given(raw.flux_webhook_secret.clone()).map(Secret::new);
        let webhook = match given(raw.flux_webhook_url.clone()) {
            Some(url) => {
                if !is_http_url(&url) {
                    return Err(invalid(
                        "flux_webhook_url",
                        "is not an http(s) URL like https://flux-webhook.example.com/hook/<digest> \
                         (the Receiver's status.webhookPath on the host that exposes it)",
                    ));
                }
                Some(Webhook { url, secret })
            }
            None if secret.is_some() => {
                return Err(invalid(
                    "flux_webhook_secret",
                    "is set, but flux_webhook_url is not: give the Receiver's URL too",
                ));
            }
            None => None,
        };
        let url = given(raw.deployment_url.clone());
        if let Some(u) = &url
            && !is_http_url(u)
        {
            return Err(invalid(
                "deployment_url",
                format!("`{u}` is not an http(s) URL"),
            ));
        }
        let deployment = match given(raw.deployment_environment.clone()) {
            Some(environment) => {
                if environment.chars().count() > 255 || environment.chars().any(char::is_control) {
                    return Err(invalid(
                        "deployment_environment",
                        "must be at most 255 characters, on one line",
                    ));
                }
                let token = given(raw.github_token.clone())
                    .map(Secret::new)
                    .ok_or_else(|| {
                        invalid(
                            "github_token",
                            "required with deployment_environment: the workflow's token (its \
                         default, github.token), with `permissions: deployments: write`",
                        )
                    })?;
                let repository = given(env.github_repository.clone());
                let (owner, name) = repository
                    .as_deref()
                    .and_then(|r| r.split_once('/'))
                    .ok_or_else(|| {
                        invalid(
                            "deployment_environment",
                            "needs GITHUB_REPOSITORY, the repository the deployment is recorded on",
                        )
                    })?;
                let sha = given(env.github_sha.clone()).ok_or_else(|| {
                    invalid(
                        "deployment_environment",
                        "needs GITHUB_SHA, the commit the deployment records",
                    )
                })?;
                Some(DeploymentOptions {
                    environment,
                    url,
                    token,
                    owner: owner.to_owned(),
                    name: name.to_owned(),
                    sha,
                })
            }
            None if url.is_some() => {
                return Err(invalid(
                    "deployment_url",
                    "is set, but deployment_environment is not: name the environment too",
                ));
            }
            None => None,
        };
        let options = Self {
            wait_for,
            wait_timeout,
            webhook,
            deployment,
        };
        if options.is_set() && !remote {
            let input = if !options.wait_for.is_empty() {
                "wait_for"
            } else if options.webhook.is_some() {
                "flux_webhook_url"
            } else {
                "deployment_environment"
            };
            return Err(invalid(
                input,
                "needs gitops_repo: the action waits for Flux and records deployments only \
                 for the commits it makes on GitHub",
            ));
        }
        Ok(options)
    }
}

/// `http(s)://host[...]`, without credentials.
fn is_http_url(text: &str) -> bool {
    text.parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri
                .authority()
                .is_some_and(|a| !a.host().is_empty() && !a.as_str().contains('@'))
    })
}
