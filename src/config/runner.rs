//! The variables the runner (or act) sets for every step, checked when set.

use std::ffi::OsString;

use serde::Deserialize;

use super::remote::is_slug;
use super::values::given;
use super::{ConfigError, invalid_env};

/// Variables the runner sets for every step.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RunnerEnv {
    pub github_repository: Option<String>,
    pub github_sha: Option<String>,
    pub github_run_id: Option<String>,
    pub aws_region: Option<String>,
    pub aws_default_region: Option<String>,
    pub actions_id_token_request_url: Option<String>,
    pub actions_id_token_request_token: Option<String>,
    pub act: Option<String>,
    pub github_api_url: Option<String>,
    pub github_graphql_url: Option<String>,
    pub github_server_url: Option<String>,
}

impl RunnerEnv {
    /// The variables read, and no other: any other, UTF-8 or not, is left alone.
    pub const NAMES: [&'static str; 11] = [
        "GITHUB_REPOSITORY",
        "GITHUB_SHA",
        "GITHUB_RUN_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACT",
        "GITHUB_API_URL",
        "GITHUB_GRAPHQL_URL",
        "GITHUB_SERVER_URL",
    ];

    /// The variables, read through envy from exactly [`Self::NAMES`].
    pub fn from_vars(get: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let mut vars = Vec::new();
        for name in Self::NAMES {
            if let Some(value) = get(name) {
                let value = value
                    .into_string()
                    .map_err(|_| invalid_env(name, "is not UTF-8 text"))?;
                vars.push((name.to_owned(), value));
            }
        }
        envy::from_iter(vars).map_err(|e| invalid_env("GITHUB_*", e.to_string()))
    }

    /// The variables that name things, when set, must be well-formed: a malformed one would
    /// become a wrong default (an app, a tag, a session name) or a broken link.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if let Some(repo) = given(self.github_repository.clone())
            && !is_slug(&repo)
        {
            return Err(invalid_env(
                "GITHUB_REPOSITORY",
                format!("`{repo}` is not of the form owner/name"),
            ));
        }
        if let Some(sha) = given(self.github_sha.clone())
            && !(matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(invalid_env(
                "GITHUB_SHA",
                format!("`{sha}` is not a commit SHA (40 or 64 hexadecimal digits)"),
            ));
        }
        if let Some(run) = given(self.github_run_id.clone())
            && !(run.len() <= 20 && run.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid_env(
                "GITHUB_RUN_ID",
                format!("`{run}` is not a workflow run id (a number)"),
            ));
        }
        Ok(())
    }
}
