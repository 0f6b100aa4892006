//! Every input, declared once: the struct the `INPUT_*` variables (through envy) and the CLI
//! flags (through clap) both fill, and the list of the inputs' names.

use std::ffi::OsString;

use clap::Parser;
use serde::Deserialize;

use super::{ConfigError, invalid};

/// Declares the inputs once: the struct the environment and clap both fill, and the list of
/// their names.
macro_rules! inputs {
    ($( $(#[$meta:meta])* $name:ident ),* $(,)?) => {
        /// The inputs as given. `None` and `""` both mean "use the default", as the runner passes
        /// unset inputs as empty strings.
        #[derive(Debug, Default, Clone, Deserialize, Parser)]
        #[command(name = "gitops-promote", version, about, long_about = None)]
        pub struct RawInputs {
            $(
                $(#[$meta])*
                #[arg(long, value_name = "VALUE")]
                #[serde(default)]
                pub $name: Option<String>,
            )*
        }

        impl RawInputs {
            /// Every input name, as action.yml declares them.
            pub const NAMES: &[&str] = &[$(stringify!($name)),*];

            /// `self` with the values `over` gives taking precedence.
            pub(super) fn overlay(self, over: Self) -> Self {
                Self { $( $name: over.$name.or(self.$name), )* }
            }

            /// The inputs from their `INPUT_<NAME>` variables, read through envy. Only the
            /// variables named are looked up: reading them all, as `envy::from_env` does,
            /// panics on any variable that is not UTF-8, even one the action never uses
            /// (issue 9).
            pub fn from_vars(
                get: impl Fn(&str) -> Option<OsString>,
            ) -> Result<Self, ConfigError> {
                let mut vars = Vec::new();
                for name in Self::NAMES {
                    let var = format!("INPUT_{}", name.to_uppercase());
                    if let Some(value) = get(&var) {
                        let value = value.into_string().map_err(|_| {
                            invalid(name, format!("`{var}` is not UTF-8 text; give the input as UTF-8"))
                        })?;
                        vars.push((var, value));
                    }
                }
                envy::prefixed("INPUT_")
                    .from_iter(vars)
                    .map_err(|e| invalid("inputs", e.to_string()))
            }
        }
    };
}

inputs! {
    /// A local checkout of the GitOps repository; its kustomization files are patched in place.
    gitops_path,
    /// The application's name in the GitOps repository [default: the name part of
    /// GITHUB_REPOSITORY, lowercased].
    app,
    /// Kustomization directories or files, relative to the GitOps repository root, comma or
    /// newline separated; globs allowed [default: apps/{app}/base, apps/{app}/overlays/*].
    paths,
    /// Images to promote, comma or newline separated, each `name` (as in the kustomization's
    /// `images:` entries) or `name=ecr-repository` [required].
    images,
    /// The new tag [default: sha- and the first 7 characters of GITHUB_SHA].
    tag,
    /// Check in Amazon ECR that every image exists at the new tag before writing [default: true].
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    verify_images,
    /// Write each image's digest beside its tag (needs verify_images) [default: false].
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    pin_digest,
    /// Compute and print the change without writing anything [default: false].
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    dry_run,
    /// The IAM role to assume through GitHub OIDC; empty uses the standard credential chain
    /// (environment keys, profile), as act and local runs do.
    aws_role_arn,
    /// The AWS region of STS and of ECR images not named by an ECR URI [default: AWS_REGION,
    /// then AWS_DEFAULT_REGION].
    aws_region,
    /// The audience of the OIDC token [default: sts.amazonaws.com].
    aws_audience,
    /// The STS session name [default: gitops-promote-<repository>-<run id>].
    role_session_name,
    /// How long the assumed role's credentials last, in seconds [default: 900].
    role_duration_seconds,
    /// The AWS account id of the ECR registry, for cross-account images [default: the
    /// credentials' own account].
    ecr_registry_id,
    /// The GitOps repository on GitHub, `owner/name`, changed through the API (instead of
    /// gitops_path).
    gitops_repo,
    /// A token that can write the GitOps repository's contents (and pull requests, in
    /// pull_request mode).
    gitops_repo_token,
    /// The branch to promote on [default: the repository's default branch].
    gitops_branch,
    /// `commit` (one commit on gitops_branch) or `pull_request` [default: commit].
    mode,
    /// The commit message's first line; placeholders {app}, {images}, {tag}, {source}
    /// [default: chore({app}): promote {images} to {tag}].
    commit_message,
    /// The pull request's branch, owned by the action [default: gitops-promote/{app}].
    pr_branch,
    /// The pull request's title [default: the commit message's first line].
    pr_title,
    /// Labels for the pull request, comma or newline separated.
    pr_labels,
    /// Reviewers (user logins) for the pull request, comma or newline separated.
    pr_reviewers,
    /// Open the pull request as a draft [default: false].
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    pr_draft,
    /// Enable auto-merge on the pull request: none, merge, squash or rebase [default: none].
    auto_merge,
    /// The most the whole run may take, in seconds, waits for rate limits included; past it the
    /// run fails; the wait for Flux (wait_timeout) comes on top [default: 300].
    timeout_seconds,
    /// Flux objects whose verdict to wait for once the commit lands, comma or newline
    /// separated, each `name` (a Kustomization) or `kind/name`.
    wait_for,
    /// How long to wait for Flux's verdict, in seconds [default: 600].
    wait_timeout,
    /// A Flux Receiver's URL, called right after the commit so that Flux reconciles at once.
    flux_webhook_url,
    /// The Receiver's token, which signs the call (generic-hmac).
    flux_webhook_secret,
    /// Record a GitHub deployment of GITHUB_SHA to this environment on GITHUB_REPOSITORY.
    deployment_environment,
    /// The environment's URL, set on the deployment when the rollout succeeds.
    deployment_url,
    /// The token that records the deployment (needs deployments: write) [action.yml: the
    /// workflow's github.token].
    github_token,
}
