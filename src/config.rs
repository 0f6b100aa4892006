//! Configuration in two stages. Stage one, [`RawInputs`], keeps every input exactly as given:
//! the action's `INPUT_<NAME>` variables, overlaid by CLI long flags of the same names. Stage two, [`Config::from_inputs`], applies defaults and validates each input
//! into a typed [`Config`], naming the input and the rule when one is wrong.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::aws::oidc::TokenRequest;
use crate::core::flux::FluxObject;
use crate::core::image::{ImageSpec, Tag};
use crate::core::paths::{PathPattern, default_patterns};
use crate::flux::receiver::Webhook;
use crate::secret::Secret;

/// Declares the inputs once: the struct the environment and clap both fill, and the list of
/// their names.
macro_rules! inputs {
    ($( $(#[$meta:meta])* $name:ident ),* $(,)?) => {
        /// The inputs as given. `None` and `""` both mean "use the default", as the runner passes
        /// unset inputs as empty strings.
        #[derive(Debug, Default, Clone, Parser)]
        #[command(name = "gitops-promote", version, about, long_about = None)]
        pub struct RawInputs {
            $(
                $(#[$meta])*
                #[arg(long, value_name = "VALUE")]
                pub $name: Option<String>,
            )*
        }

        impl RawInputs {
            /// Every input name, as action.yml declares them.
            pub const NAMES: &[&str] = &[$(stringify!($name)),*];

            /// `self` with the values `over` gives taking precedence.
            fn overlay(self, over: Self) -> Self {
                Self { $( $name: over.$name.or(self.$name), )* }
            }

            /// The inputs from their `INPUT_<NAME>` variables, looked up one by one: a variable
            /// the action does not read is never touched, whatever bytes it holds.
            pub fn from_vars(
                get: impl Fn(&str) -> Option<OsString>,
            ) -> Result<Self, ConfigError> {
                Ok(Self {
                    $( $name: {
                        let var = format!("INPUT_{}", stringify!($name).to_uppercase());
                        get(&var)
                            .map(|v| v.into_string().map_err(|_| invalid(
                                stringify!($name),
                                format!("`{var}` is not UTF-8 text; give the input as UTF-8"),
                            )))
                            .transpose()?
                    }, )*
                })
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

/// Variables the runner sets for every step.
#[derive(Debug, Default, Clone)]
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
    /// Reads exactly these variables; any other, UTF-8 or not, is left alone.
    pub fn from_vars(get: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let text = |name: &'static str| {
            get(name)
                .map(|v| {
                    v.into_string()
                        .map_err(|_| invalid_env(name, "is not UTF-8 text"))
                })
                .transpose()
        };
        Ok(Self {
            github_repository: text("GITHUB_REPOSITORY")?,
            github_sha: text("GITHUB_SHA")?,
            github_run_id: text("GITHUB_RUN_ID")?,
            aws_region: text("AWS_REGION")?,
            aws_default_region: text("AWS_DEFAULT_REGION")?,
            actions_id_token_request_url: text("ACTIONS_ID_TOKEN_REQUEST_URL")?,
            actions_id_token_request_token: text("ACTIONS_ID_TOKEN_REQUEST_TOKEN")?,
            act: text("ACT")?,
            github_api_url: text("GITHUB_API_URL")?,
            github_graphql_url: text("GITHUB_GRAPHQL_URL")?,
            github_server_url: text("GITHUB_SERVER_URL")?,
        })
    }

    /// The variables that name things, when set, must be well-formed: a malformed one would
    /// become a wrong default (an app, a tag, a session name) or a broken link.
    fn check(&self) -> Result<(), ConfigError> {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub owner: String,
    pub name: String,
    pub token: Secret,
    /// `None`: the repository's default branch.
    pub branch: Option<String>,
    pub mode: Mode,
    /// The first line of the commit message, placeholders already filled but `{images}`.
    pub commit_message: String,
    pub pull_request: PullRequestOptions,
    pub api_url: String,
    pub graphql_url: String,
    /// Links in the commit message and pull request body point at this run and commit.
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Commit,
    PullRequest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestOptions {
    pub branch: String,
    pub title: Option<String>,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub draft: bool,
    pub auto_merge: Option<MergeMethod>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

impl MergeMethod {
    /// The GraphQL `PullRequestMergeMethod` value.
    pub fn as_graphql(self) -> &'static str {
        match self {
            MergeMethod::Merge => "MERGE",
            MergeMethod::Squash => "SQUASH",
            MergeMethod::Rebase => "REBASE",
        }
    }
}

/// The run that promotes: its repository, commit and workflow run, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    pub server_url: String,
    pub repository: Option<String>,
    pub sha: Option<String>,
    pub run_id: Option<String>,
}

impl Source {
    pub fn commit_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/commit/{}",
            self.server_url,
            self.repository.as_ref()?,
            self.sha.as_ref()?
        ))
    }

    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_ref()?,
            self.run_id.as_ref()?
        ))
    }

    /// `owner/repo@abc1234`, or what of it is known.
    pub fn label(&self) -> String {
        match (&self.repository, &self.sha) {
            (Some(r), Some(s)) => format!("{r}@{}", &s[..s.len().min(7)]),
            (Some(r), None) => r.clone(),
            _ => "a local run".into(),
        }
    }
}

/// How to reach AWS, needed only when `verify_images` is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub audience: String,
    pub session_name: String,
    pub duration_seconds: i32,
    pub registry_id: Option<String>,
    pub oidc: TokenRequest,
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

fn invalid(input: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        input,
        message: message.into(),
        env: false,
    }
}

fn invalid_env(name: &'static str, message: impl Into<String>) -> ConfigError {
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
        let raw_aws = [
            raw.aws_role_arn.clone(),
            raw.aws_region.clone(),
            raw.aws_audience.clone(),
            raw.role_session_name.clone(),
            raw.role_duration_seconds.clone(),
            raw.ecr_registry_id.clone(),
        ]
        .map(given);

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

        let aws = AwsConfig::from_inputs(&raw_aws, env, verify_images)?;
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

impl Remote {
    fn from_inputs(
        repo: &str,
        raw: &RawInputs,
        env: &RunnerEnv,
        app: Option<&str>,
        tag: &Tag,
    ) -> Result<Self, ConfigError> {
        let (owner, name) = repo
            .split_once('/')
            .filter(|_| is_slug(repo))
            .ok_or_else(|| {
                invalid(
                    "gitops_repo",
                    format!("`{repo}` is not of the form owner/name"),
                )
            })?;
        let token = given(raw.gitops_repo_token.clone())
            .map(Secret::new)
            .ok_or_else(|| {
                invalid(
                    "gitops_repo_token",
                    "required with gitops_repo: a token that can write the repository's contents \
                 (and pull requests in pull_request mode), e.g. secrets.GITOPS_REPO_TOKEN",
                )
            })?;
        let app = app.ok_or_else(|| {
            invalid("app", "not set, and GITHUB_REPOSITORY is not set to default it; it names the commit and the PR branch")
        })?;
        let branch = given(raw.gitops_branch.clone());
        if let Some(b) = &branch
            && !is_ref_name(b)
        {
            return Err(invalid(
                "gitops_branch",
                format!("`{b}` is not a valid branch name"),
            ));
        }
        let mode = match given(raw.mode.clone()).as_deref() {
            None | Some("commit") => Mode::Commit,
            Some("pull_request") => Mode::PullRequest,
            Some(other) => {
                return Err(invalid(
                    "mode",
                    format!("`{other}` is not commit or pull_request"),
                ));
            }
        };
        let source = Source {
            server_url: url(
                "GITHUB_SERVER_URL",
                &env.github_server_url,
                "https://github.com",
            )?,
            repository: given(env.github_repository.clone()),
            sha: given(env.github_sha.clone()),
            run_id: given(env.github_run_id.clone()),
        };
        let fill = |template: &str| {
            template
                .replace("{app}", app)
                .replace("{tag}", tag.as_str())
                .replace("{source}", &source.label())
        };
        let commit_message = fill(
            &given(raw.commit_message.clone())
                .unwrap_or_else(|| "chore({app}): promote {images} to {tag}".into()),
        );
        let pr_branch =
            fill(&given(raw.pr_branch.clone()).unwrap_or_else(|| "gitops-promote/{app}".into()));
        if !is_ref_name(&pr_branch) {
            return Err(invalid(
                "pr_branch",
                format!("`{pr_branch}` is not a valid branch name"),
            ));
        }
        if mode == Mode::PullRequest && branch.as_deref() == Some(pr_branch.as_str()) {
            return Err(invalid(
                "pr_branch",
                "must differ from gitops_branch: the action resets its PR branch",
            ));
        }
        let auto_merge = match given(raw.auto_merge.clone()).as_deref() {
            None | Some("none") => None,
            Some("merge") => Some(MergeMethod::Merge),
            Some("squash") => Some(MergeMethod::Squash),
            Some("rebase") => Some(MergeMethod::Rebase),
            Some(other) => {
                return Err(invalid(
                    "auto_merge",
                    format!("`{other}` is not none, merge, squash or rebase"),
                ));
            }
        };
        let api_url = url(
            "GITHUB_API_URL",
            &env.github_api_url,
            "https://api.github.com",
        )?;
        // GitHub Enterprise Server serves REST at /api/v3 and GraphQL at /api/graphql.
        let graphql_default = match api_url.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{api_url}/graphql"),
        };
        let graphql_url = url(
            "GITHUB_GRAPHQL_URL",
            &env.github_graphql_url,
            &graphql_default,
        )?;
        Ok(Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
            token,
            branch,
            mode,
            commit_message,
            pull_request: PullRequestOptions {
                branch: pr_branch,
                title: given(raw.pr_title.clone()).map(|t| fill(&t)),
                labels: given(raw.pr_labels.clone())
                    .map(|l| list(&l))
                    .unwrap_or_default(),
                reviewers: given(raw.pr_reviewers.clone())
                    .map(|r| list(&r))
                    .unwrap_or_default(),
                draft: boolean("pr_draft", given(raw.pr_draft.clone()), false)?,
                auto_merge,
            },
            api_url,
            graphql_url,
            source,
        })
    }
}

/// `owner/name`, as GitHub spells repositories.
fn is_slug(repo: &str) -> bool {
    let part = |p: &str| {
        !matches!(p, "" | "." | "..")
            && p.len() <= 100
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    repo.split_once('/')
        .is_some_and(|(o, n)| part(o) && part(n))
}

/// A runner variable holding a base URL: `http(s)://host[:port][/path]`, without a trailing `/`.
fn url(name: &'static str, value: &Option<String>, default: &str) -> Result<String, ConfigError> {
    let Some(text) = given(value.clone()) else {
        return Ok(default.to_owned());
    };
    let ok = text.parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri
                .authority()
                .is_some_and(|a| !a.host().is_empty() && !a.as_str().contains('@'))
            && uri.query().is_none()
    });
    if !ok {
        return Err(invalid_env(
            name,
            format!("`{text}` is not an http(s) URL like {default}"),
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// Git's rules for a branch name, as far as a typo would break them.
fn is_ref_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['/', '-', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && name
            .chars()
            .all(|c| !c.is_ascii_control() && !" ~^:?*[\\".contains(c))
}

impl AwsConfig {
    fn from_inputs(
        [
            role_arn,
            region,
            audience,
            session_name,
            duration,
            registry_id,
        ]: &[Option<String>; 6],
        env: &RunnerEnv,
        needed: bool,
    ) -> Result<Self, ConfigError> {
        if let Some(arn) = role_arn {
            let ok = arn.split(':').collect::<Vec<_>>().as_slice().len() == 6
                && arn.starts_with("arn:aws")
                && arn.split(':').nth(2) == Some("iam")
                && arn
                    .split(':')
                    .nth(4)
                    .is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                && arn
                    .split(':')
                    .nth(5)
                    .is_some_and(|r| r.starts_with("role/") && r.len() > 5);
            if !ok {
                return Err(invalid(
                    "aws_role_arn",
                    format!(
                        "`{arn}` is not an IAM role ARN like arn:aws:iam::123456789012:role/name"
                    ),
                ));
            }
        }
        let region = region
            .clone()
            .or_else(|| given(env.aws_region.clone()))
            .or_else(|| given(env.aws_default_region.clone()));
        match &region {
            Some(r)
                if !r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                return Err(invalid(
                    "aws_region",
                    format!("`{r}` is not an AWS region like us-east-1"),
                ));
            }
            None if needed => {
                return Err(invalid(
                    "aws_region",
                    "not set, and neither AWS_REGION nor AWS_DEFAULT_REGION is set; verify_images \
                     needs the region of STS and ECR",
                ));
            }
            _ => {}
        }
        let session_name = match session_name {
            Some(name) => {
                if !(2..=64).contains(&name.len()) || !name.chars().all(is_session_char) {
                    return Err(invalid(
                        "role_session_name",
                        format!("`{name}` must be 2 to 64 characters of A-Z, a-z, 0-9 and +=,.@_-"),
                    ));
                }
                name.clone()
            }
            None => {
                let repo = given(env.github_repository.clone()).unwrap_or_default();
                let run = given(env.github_run_id.clone()).unwrap_or_default();
                let raw = format!("gitops-promote-{}-{run}", repo.replace('/', "-"));
                let name: String = raw
                    .chars()
                    .filter(|c| is_session_char(*c))
                    .take(64)
                    .collect();
                name.trim_end_matches('-').to_owned()
            }
        };
        let duration_seconds = match duration {
            None => 900,
            Some(d) => d
                .parse::<i32>()
                .ok()
                .filter(|d| (900..=43200).contains(d))
                .ok_or_else(|| {
                    invalid(
                        "role_duration_seconds",
                        format!("`{d}` must be a number of seconds from 900 to 43200"),
                    )
                })?,
        };
        if let Some(id) = registry_id
            && !(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid(
                "ecr_registry_id",
                format!("`{id}` is not a 12-digit AWS account id"),
            ));
        }
        Ok(Self {
            role_arn: role_arn.clone(),
            region,
            audience: audience
                .clone()
                .unwrap_or_else(|| "sts.amazonaws.com".into()),
            session_name,
            duration_seconds,
            registry_id: registry_id.clone(),
            oidc: TokenRequest {
                url: given(env.actions_id_token_request_url.clone()),
                token: given(env.actions_id_token_request_token.clone()).map(Secret::new),
                act: env.act.as_deref() == Some("true"),
            },
        })
    }
}

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

    fn from_inputs(raw: &RawInputs, env: &RunnerEnv, remote: bool) -> Result<Self, ConfigError> {
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

fn is_session_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// A value that was given: trimmed, and not empty.
fn given(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// [`list`], refusing a value that names nothing (such as `" , "`): a run that promotes no
/// image, or edits no path, would succeed without doing what was asked.
fn nonempty_list(input: &'static str, s: &str) -> Result<Vec<String>, ConfigError> {
    let values = list(s);
    if values.is_empty() {
        return Err(invalid(
            input,
            format!("`{s}` names nothing: give comma or newline separated values"),
        ));
    }
    Ok(values)
}

/// Comma- or newline-separated values, trimmed, empty ones dropped.
fn list(s: &str) -> Vec<String> {
    s.split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The booleans the Actions toolkit accepts (`getBooleanInput`).
fn boolean(input: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref() {
        None => Ok(default),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some("false" | "False" | "FALSE") => Ok(false),
        Some(other) => Err(invalid(
            input,
            format!("`{other}` is not a boolean: use true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawInputs {
        let mut raw = RawInputs {
            gitops_path: Some("gitops".into()),
            images: Some("backend".into()),
            ..RawInputs::default()
        };
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "app" => raw.app = v,
                "paths" => raw.paths = v,
                "images" => raw.images = v,
                "tag" => raw.tag = v,
                "verify_images" => raw.verify_images = v,
                "pin_digest" => raw.pin_digest = v,
                _ => panic!("unknown input {k}"),
            }
        }
        raw
    }

    fn runner() -> RunnerEnv {
        RunnerEnv {
            github_repository: Some("Acme/Sample-SaaS-App".into()),
            github_sha: Some("1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b".into()),
            github_run_id: Some("42".into()),
            aws_default_region: Some("eu-west-1".into()),
            ..RunnerEnv::default()
        }
    }

    #[test]
    fn defaults_come_from_the_runner() {
        let c = Config::from_inputs(raw(&[("tag", "")]), &runner()).expect("valid");
        assert_eq!(c.app.as_deref(), Some("sample-saas-app"));
        assert_eq!(c.tag.as_str(), "sha-1a2b3c4");
        let paths: Vec<_> = c.paths.iter().map(PathPattern::as_str).collect();
        assert_eq!(
            paths,
            [
                "apps/sample-saas-app/base",
                "apps/sample-saas-app/overlays/*"
            ]
        );
        assert!(c.verify_images && !c.pin_digest && !c.dry_run);
        assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.aws.session_name, "gitops-promote-Acme-Sample-SaaS-App-42");
        assert_eq!(c.aws.duration_seconds, 900);
        assert_eq!(c.aws.audience, "sts.amazonaws.com");
    }

    #[test]
    fn lists_split_on_commas_and_newlines() {
        let c = Config::from_inputs(
            raw(&[("images", "backend=team/backend,\n frontend\n")]),
            &runner(),
        )
        .expect("valid");
        assert_eq!(c.images.len(), 2);
        assert_eq!(c.images[0].repository.as_deref(), Some("team/backend"));
    }

    #[test]
    fn each_error_names_its_input() {
        let cases = [
            ("tag", "-bad"),
            ("images", "Backend"),
            ("images", "backend,backend"),
            ("paths", "../other"),
            ("app", "a/b"),
            ("verify_images", "yes"),
            ("pin_digest", "true"),
        ];
        for (input, value) in cases {
            let mut r = raw(&[(input, value)]);
            if input == "pin_digest" {
                r.verify_images = Some("false".into());
            }
            let err = Config::from_inputs(r, &runner()).expect_err(value);
            assert_eq!(err.input, input, "{err}");
        }
        let mut neither = raw(&[]);
        neither.gitops_path = None;
        let err = Config::from_inputs(neither, &runner()).expect_err("no repository");
        assert_eq!(err.input, "gitops_repo");
        let mut both = raw(&[]);
        both.gitops_repo = Some("o/r".into());
        assert_eq!(
            Config::from_inputs(both, &runner())
                .expect_err("both")
                .input,
            "gitops_repo"
        );
    }

    #[test]
    fn a_remote_repository_takes_its_urls_from_the_runner() {
        let mut r = raw(&[]);
        r.gitops_path = None;
        r.gitops_repo = Some("acme/flux-gitops-pipeline".into());
        let err = Config::from_inputs(r.clone(), &runner()).expect_err("no token");
        assert_eq!(err.input, "gitops_repo_token");
        r.gitops_repo_token = Some("t0ken".into());
        r.mode = Some("pull_request".into());
        let env = RunnerEnv {
            github_api_url: Some("https://ghe.example.com/api/v3".into()),
            ..runner()
        };
        let c = Config::from_inputs(r, &env).expect("valid");
        let Gitops::Remote(remote) = c.gitops else {
            panic!("remote")
        };
        assert_eq!(remote.graphql_url, "https://ghe.example.com/api/graphql");
        assert_eq!(remote.mode, Mode::PullRequest);
        assert_eq!(remote.pull_request.branch, "gitops-promote/sample-saas-app");
        assert_eq!(
            remote.commit_message,
            "chore(sample-saas-app): promote {images} to sha-1a2b3c4"
        );
        assert_eq!(format!("{:?}", remote.token), "***");
    }

    /// Issue 9: `images: " , "` promoted nothing and succeeded.
    #[test]
    fn a_list_that_names_nothing_is_refused() {
        for input in ["images", "paths"] {
            for value in [" , ", ",", "\n,\n"] {
                let err = Config::from_inputs(raw(&[(input, value)]), &runner()).expect_err(value);
                assert_eq!(err.input, input, "{err}");
                assert!(err.to_string().contains("names nothing"), "{err}");
            }
        }
        let c = Config::from_inputs(raw(&[("images", "backend,,frontend,")]), &runner())
            .expect("empty parts between names are dropped");
        assert_eq!(c.images.len(), 2);
    }

    /// Issue 9: any variable that was not UTF-8 made the binary panic, as envy reads them all.
    #[test]
    fn only_the_named_variables_are_read() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(vec![b'v', 0xff, b'1']);
        let vars = |name: &str| match name {
            "INPUT_IMAGES" => Some(OsString::from("backend")),
            "SOMETHING_ELSE" => Some(bad()),
            _ => None,
        };
        let raw = RawInputs::from_vars(vars).expect("only INPUT_* names are looked up");
        assert_eq!(raw.images.as_deref(), Some("backend"));
        assert!(RunnerEnv::from_vars(vars).is_ok());

        let err = RawInputs::from_vars(|n: &str| (n == "INPUT_TAG").then(bad)).expect_err("tag");
        assert_eq!(
            err.to_string(),
            "input `tag`: `INPUT_TAG` is not UTF-8 text; give the input as UTF-8"
        );
        let err = RunnerEnv::from_vars(|n: &str| (n == "GITHUB_SHA").then(bad)).expect_err("sha");
        assert_eq!(
            err.to_string(),
            "environment variable `GITHUB_SHA`: is not UTF-8 text"
        );
    }

    /// Sets one runner variable.
    type Setter = fn(&mut RunnerEnv, String);

    #[test]
    fn malformed_runner_variables_are_named() {
        let cases: [(&str, Setter); 3] = [
            ("GITHUB_SHA", |e, v| e.github_sha = Some(v)),
            ("GITHUB_REPOSITORY", |e, v| e.github_repository = Some(v)),
            ("GITHUB_RUN_ID", |e, v| e.github_run_id = Some(v)),
        ];
        for (name, set) in cases {
            for value in ["zzzzzzz", "a/b/c", "ééééééééé", "1a2b3c4", "../x", "12 34"] {
                let mut env = runner();
                set(&mut env, value.to_owned());
                let Err(err) = Config::from_inputs(raw(&[]), &env) else {
                    panic!("{name}={value} was accepted");
                };
                assert!(err.env && err.input == name, "{name}={value}: {err}");
            }
        }
    }

    #[test]
    fn a_repository_part_is_a_name_not_a_path() {
        for repo in ["../x", "./x", "o/..", "o/r/s", "/r", "o/", "o r/x"] {
            let mut r = raw(&[]);
            r.gitops_path = None;
            r.gitops_repo = Some(repo.into());
            r.gitops_repo_token = Some("t0ken".into());
            let err = Config::from_inputs(r, &runner()).expect_err(repo);
            assert_eq!(err.input, "gitops_repo", "{repo}: {err}");
        }
    }

    #[test]
    fn github_urls_must_be_http_urls() {
        let mut r = raw(&[]);
        r.gitops_path = None;
        r.gitops_repo = Some("acme/flux-gitops-pipeline".into());
        r.gitops_repo_token = Some("t0ken".into());
        let cases: [(&str, Setter); 3] = [
            ("GITHUB_API_URL", |e, v| e.github_api_url = Some(v)),
            ("GITHUB_GRAPHQL_URL", |e, v| e.github_graphql_url = Some(v)),
            ("GITHUB_SERVER_URL", |e, v| e.github_server_url = Some(v)),
        ];
        for (name, set) in cases {
            for value in [
                "api.github.com",
                "ftp://api.github.com",
                "javascript:alert(1)",
                "https://",
                "http://[::1",
                "https://user:pass@api.github.com",
                "https://api.github.com/?x=1",
                "https://api github.com",
            ] {
                let mut env = runner();
                set(&mut env, value.to_owned());
                let err = Config::from_inputs(r.clone(), &env).expect_err(value);
                assert!(err.env && err.input == name, "{name}={value}: {err}");
            }
            let mut env = runner();
            set(&mut env, "http://127.0.0.1:8080/api/v3/".to_owned());
            Config::from_inputs(r.clone(), &env).expect("a local URL");
        }
    }

    #[test]
    fn flags_override_the_environment() {
        let env = raw(&[("tag", "from-env")]);
        let flags =
            RawInputs::try_parse_from(["gitops-promote", "--tag", "from-flag", "--dry-run"])
                .expect("parses");
        let merged = env.overlay(flags);
        assert_eq!(merged.tag.as_deref(), Some("from-flag"));
        assert_eq!(merged.dry_run.as_deref(), Some("true"));
        assert_eq!(merged.images.as_deref(), Some("backend"));
    }

    /// Issue 12: what follows the landing is off by default and checked input by input.
    #[test]
    fn flux_inputs_default_off_and_name_themselves_when_wrong() {
        let mut r = raw(&[]);
        r.gitops_path = None;
        r.gitops_repo = Some("acme/flux-gitops-pipeline".into());
        r.gitops_repo_token = Some("t0ken".into());
        let c = Config::from_inputs(r.clone(), &runner()).expect("valid");
        assert!(!c.flux.is_set());
        assert_eq!(c.flux.wait_timeout, Duration::from_secs(600));

        r.wait_for = Some("sample-saas-app-platform, HelmRelease/podinfo".into());
        r.deployment_environment = Some("dev".into());
        r.github_token = Some("ghs_x".into());
        r.flux_webhook_url = Some("https://flux.example.com/hook/abc".into());
        r.flux_webhook_secret = Some("s3cret".into());
        let c = Config::from_inputs(r.clone(), &runner()).expect("valid");
        let names: Vec<String> = c.flux.wait_for.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            names,
            [
                "kustomization/sample-saas-app-platform",
                "helmrelease/podinfo"
            ]
        );
        let d = c.flux.deployment.expect("a deployment");
        assert_eq!(
            (d.owner.as_str(), d.name.as_str()),
            ("Acme", "Sample-SaaS-App")
        );
        assert_eq!(format!("{:?}", d.token), "***");

        type Break = fn(&mut RawInputs);
        let cases: [(&str, Break); 7] = [
            ("wait_for", |r| r.wait_for = Some("flux-system/app".into())),
            ("wait_for", |r| {
                r.wait_for = Some("a, kustomization/a".into())
            }),
            ("wait_timeout", |r| r.wait_timeout = Some("0".into())),
            ("flux_webhook_url", |r| {
                r.flux_webhook_url = Some("flux.example.com".into())
            }),
            ("flux_webhook_secret", |r| r.flux_webhook_url = None),
            ("github_token", |r| r.github_token = Some(" ".into())),
            ("deployment_url", |r| {
                r.deployment_url = Some("ftp://x".into())
            }),
        ];
        for (input, break_it) in cases {
            let mut wrong = r.clone();
            break_it(&mut wrong);
            let err = Config::from_inputs(wrong, &runner()).expect_err(input);
            assert_eq!(err.input, input, "{err}");
        }
        let local = RawInputs {
            wait_for: Some("app".into()),
            ..raw(&[])
        };
        let err = Config::from_inputs(local, &runner()).expect_err("local");
        assert_eq!(err.input, "wait_for", "{err}");
        assert!(err.to_string().contains("needs gitops_repo"), "{err}");
    }
}
