//! Configuration in two stages. Stage one, [`RawInputs`], keeps every input exactly as given:
//! the action's `INPUT_<NAME>` variables (read through envy), overlaid by CLI long flags of the
//! same names. Stage two, [`Config::from_inputs`], applies defaults and validates each input
//! into a typed [`Config`], naming the input and the rule when one is wrong.
//!
//! `inputs` declares every input; `runner` reads the runner's variables; `remote`, `aws` and
//! `flux` turn their inputs into settings; `values` holds the rules they share.

mod aws;
mod flux;
mod inputs;
mod remote;
mod runner;
mod values;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

pub use aws::AwsConfig;
pub use flux::{DeploymentOptions, FluxOptions};
pub use inputs::RawInputs;
pub use remote::{MergeMethod, Mode, PullRequestOptions, Remote, Source};
pub use runner::RunnerEnv;

use crate::core::image::{ImageSpec, Tag};
use crate::core::paths::{PathPattern, default_patterns};
use values::{boolean, given, nonempty_list};

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub gitops: Gitops,
    /// Needed only where it is used: to default `paths`.
    pub app: Option<String>,
    pub paths: Vec<PathPattern>,
    pub images: Vec<ImageSpec>,
    pub tag: Tag,
    pub verify_images: bool,
    pub pin_digest: bool,
    pub dry_run: bool,
    pub aws: AwsConfig,
    /// The most the whole run may take.
    pub timeout: Duration,
    /// What follows the landing: Flux's verdict, its Receiver, a deployment.
    pub flux: FluxOptions,
}

/// Where the GitOps repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gitops {
    /// A local checkout, patched in place.
    Local(PathBuf),
    /// A repository on GitHub (or GitHub Enterprise Server), changed through its API.
    Remote(Box<Remote>),
}

/// A wrong input or runner variable, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} `{input}`: {message}", if *.env { "environment variable" } else { "input" })]
pub struct ConfigError {
    /// The input's name, or the variable's when `env` is set.
    pub input: &'static str,
    pub message: String,
    pub env: bool,
}

pub(crate) fn invalid(input: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        input,
        message: message.into(),
        env: false,
    }
}

pub(crate) fn invalid_env(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        input: name,
        message: message.into(),
        env: true,
    }
}

/// Reads the inputs from the environment and the command line (flags win) and validates them.
/// Clap's own errors (and `--help`, `--version`) are returned as `clap::Error`.
pub fn load(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> anyhow::Result<Config> {
    // Only the variables named are read: reading them all (`std::env::vars`, as envy does)
    // panics on any variable that is not UTF-8, even one the action never uses (issue 9).
    let var = |name: &str| std::env::var_os(name);
    let from_env = RawInputs::from_vars(var)?;
    let from_flags = RawInputs::try_parse_from(args)?;
    let runner = RunnerEnv::from_vars(var)?;
    Ok(Config::from_inputs(from_env.overlay(from_flags), &runner)?)
}

impl Config {
    pub fn from_inputs(raw: RawInputs, env: &RunnerEnv) -> Result<Self, ConfigError> {
        env.check()?;
        let all = raw.clone();
        let gitops_path = given(raw.gitops_path);
        let gitops_repo = given(raw.gitops_repo);
        let app = given(raw.app).or_else(|| {
            given(env.github_repository.clone())
                .and_then(|r| r.rsplit('/').next().map(str::to_lowercase))
        });
        if let Some(app) = &app {
            let app_ok = !matches!(app.as_str(), "." | "..")
                && app
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !app_ok {
                return Err(invalid(
                    "app",
                    format!(
                        "`{app}` must be one directory name of A-Z, a-z, 0-9, `.`, `_` and `-`"
                    ),
                ));
            }
        }

        let paths = match (given(raw.paths), &app) {
            (Some(p), _) => nonempty_list("paths", &p)?,
            (None, Some(app)) => default_patterns(app),
            (None, None) => {
                return Err(invalid(
                    "app",
                    "not set, and GITHUB_REPOSITORY is not set to default it; it names the \
                     default paths apps/{app}/base and apps/{app}/overlays/*",
                ));
            }
        }
        .iter()
        .map(|p| PathPattern::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid("paths", m))?;

        let images = nonempty_list(
            "images",
            &given(raw.images).ok_or_else(|| {
                invalid(
                    "images",
                    "required: name the images to promote, e.g. `backend,frontend`",
                )
            })?,
        )?
        .iter()
        .map(|s| ImageSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid("images", m))?;
        if let Some(dup) = images
            .iter()
            .enumerate()
            .find(|(i, a)| images[..*i].iter().any(|b| b.name == a.name))
        {
            return Err(invalid(
                "images",
                format!("`{}` is listed twice", dup.1.name),
            ));
        }

        let tag = match given(raw.tag) {
            Some(t) => Tag::parse(&t),
            None => match given(env.github_sha.clone()) {
                Some(sha) if sha.len() >= 7 && sha.is_ascii() => {
                    Tag::parse(&format!("sha-{}", &sha[..7]))
                }
                _ => {
                    Err("not set, and GITHUB_SHA is not set to default it to sha-<first 7>".into())
                }
            },
        }
        .map_err(|m| invalid("tag", m))?;

        let verify_images = boolean("verify_images", given(raw.verify_images), true)?;
        let pin_digest = boolean("pin_digest", given(raw.pin_digest), false)?;
        let dry_run = boolean("dry_run", given(raw.dry_run), false)?;
        if pin_digest && !verify_images {
            return Err(invalid(
                "pin_digest",
                "needs verify_images: the digest is what the registry reports for the new tag",
            ));
        }

        let timeout = match given(raw.timeout_seconds) {
            None => Duration::from_secs(300),
            Some(s) => match s.parse::<u64>() {
                Ok(n @ 1..=21_600) => Duration::from_secs(n),
                _ => {
                    return Err(invalid(
                        "timeout_seconds",
                        format!(
                            "`{s}` is not a whole number of seconds from 1 to 21600 (6 hours, a job's limit)"
                        ),
                    ));
                }
            },
        };

        let aws = AwsConfig::from_inputs(&all, env, verify_images)?;
        let gitops = match (gitops_path, gitops_repo) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "gitops_repo",
                    "give either gitops_repo (changed through the GitHub API) or gitops_path (a \
                     local checkout), not both",
                ));
            }
            (Some(path), None) => Gitops::Local(PathBuf::from(path)),
            (None, Some(repo)) => Gitops::Remote(Box::new(Remote::from_inputs(
                &repo,
                &all,
                env,
                app.as_deref(),
                &tag,
            )?)),
            (None, None) => {
                return Err(invalid(
                    "gitops_repo",
                    "no GitOps repository given: set gitops_repo (owner/name, with \
                     gitops_repo_token) or gitops_path (a local checkout)",
                ));
            }
        };
        let flux = FluxOptions::from_inputs(&all, env, matches!(gitops, Gitops::Remote(_)))?;

        Ok(Self {
            gitops,
            app,
            paths,
            images,
            tag,
            verify_images,
            pin_digest,
            dry_run,
            aws,
            timeout,
            flux,
        })
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
