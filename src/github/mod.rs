//! The GitHub adapter. `transport` speaks HTTP (auth, retries, rate limits, error classes);
//! `snapshot` reads a branch, its kustomization files and the pull request branch in one query;
//! `commit` lands one commit (GraphQL, signed by GitHub; or the REST Git Data path); `pulls`
//! opens or updates the pull request; `statuses` polls the commit statuses Flux posts;
//! `deployments` records a deployment on the application repository; `hints` turns GitHub's
//! refusals into what to do.

pub mod commit;
pub mod deployments;
pub mod hints;
pub mod pulls;
pub mod snapshot;
pub mod statuses;
mod transport;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

pub use transport::{Conditional, GitHub, GitHubError, GraphQlError, Resend};

/// One repository on GitHub.
pub struct Repo<'a> {
    pub gh: &'a GitHub,
    pub owner: &'a str,
    pub name: &'a str,
}

impl Repo<'_> {
    pub fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// `/repos/OWNER/NAME`, for REST paths.
    fn rest_base(&self) -> String {
        format!(
            "/repos/{}/{}",
            utf8_percent_encode(self.owner, SEGMENT),
            utf8_percent_encode(self.name, SEGMENT)
        )
    }
}

/// What must be escaped inside one URL path segment: controls, space, and the characters that
/// end or restructure a path (`#`, `?`, `%`, `/`) or that URL parsers treat specially.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'|')
    .add(b'\\');

/// A branch name for a REST path such as `git/refs/heads/{ref}`: each `/`-separated part
/// percent-encoded, the slashes kept (GitHub routes `{ref}` with its slashes).
pub fn encode_ref(branch: &str) -> String {
    branch
        .split('/')
        .map(|part| utf8_percent_encode(part, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// A commit message: the headline and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub headline: String,
    pub body: String,
}

impl Message {
    pub fn full(&self) -> String {
        format!("{}\n\n{}", self.headline, self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 9: branch names were put into REST paths as they are.
    #[test]
    fn branch_names_are_percent_encoded_in_rest_paths() {
        assert_eq!(encode_ref("feature/a b"), "feature/a%20b");
        assert_eq!(encode_ref("x#1?y=%z"), "x%231%3Fy=%25z");
        assert_eq!(encode_ref("gitops-promote/app"), "gitops-promote/app");
        assert_eq!(encode_ref("ünï"), "%C3%BCn%C3%AF");
    }
}
