//! A GitOps repository on GitHub: which one, with which token, how the change lands (a commit or
//! a pull request), and where the API lives (github.com or GitHub Enterprise Server).

use super::inputs::RawInputs;
use super::runner::RunnerEnv;
use super::values::{boolean, given, list};
use super::{ConfigError, invalid, invalid_env};
use crate::core::image::Tag;
use crate::secret::Secret;

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

impl Remote {
    pub(super) fn from_inputs(
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
pub(super) fn is_slug(repo: &str) -> bool {
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
pub(super) fn url(
    name: &'static str,
    value: &Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
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
pub(super) fn is_ref_name(name: &str) -> bool {
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
