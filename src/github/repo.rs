//! The operations a promotion needs on one repository: read the head and the kustomization files,
//! make one commit (GraphQL `createCommitOnBranch`, signed by GitHub; or the REST Git Data
//! path), and open or update a pull request.

use base64::Engine as _;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{GitHub, GitHubError, Resend};

/// A branch's head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub branch: String,
    pub oid: String,
    pub tree: String,
    /// The repository's node id, for mutations that take it.
    pub repository_id: String,
}

/// A file as read at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub path: String,
    pub text: String,
    pub mode: String,
}

/// A commit made by the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub oid: String,
    pub url: String,
    /// Whether GitHub shows it as Verified (signed by GitHub).
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub id: String,
    pub number: u64,
    pub url: String,
}

/// Why a commit did not land.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The branch moved since it was read: re-read and try again.
    #[error("the branch moved")]
    Stale,
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

pub struct Repo<'a> {
    pub gh: &'a GitHub,
    pub owner: &'a str,
    pub name: &'a str,
}

impl Repo<'_> {
    fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The head of `branch`, or of the default branch when `None`.
    pub async fn head(&self, branch: Option<&str>) -> Result<Head, GitHubError> {
        const QUERY: &str = r#"query Head($owner: String!, $name: String!, $qualified: String!, $named: Boolean!) {
  repository(owner: $owner, name: $name) {
    id
    defaultBranchRef { name target { oid ... on Commit { tree { oid } } } }
    ref(qualifiedName: $qualified) @include(if: $named) { name target { oid ... on Commit { tree { oid } } } }
  }
}"#;
        #[derive(Deserialize)]
        struct Data {
            repository: Option<Repository>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Repository {
            id: String,
            default_branch_ref: Option<Ref>,
            #[serde(default, rename = "ref")]
            named: Option<Ref>,
        }
        #[derive(Deserialize)]
        struct Ref {
            name: String,
            target: Target,
        }
        #[derive(Deserialize)]
        struct Target {
            oid: String,
            tree: Option<TreeOid>,
        }
        #[derive(Deserialize)]
        struct TreeOid {
            oid: String,
        }
        let variables = json!({
            "owner": self.owner,
            "name": self.name,
            "qualified": format!("refs/heads/{}", branch.unwrap_or("")),
            "named": branch.is_some(),
        });
        let what = format!("reading {}", self.slug());
        let data: Data = self
            .gh
            .graphql(&what, QUERY, variables, Resend::Safe)
            .await?;
        let not_found = |message: String| GitHubError::NotFound {
            what: what.clone(),
            repo: self.slug(),
            message,
        };
        let repository = data
            .repository
            .ok_or_else(|| not_found("no repository".into()))?;
        let found = match branch {
            Some(b) => repository
                .named
                .ok_or_else(|| not_found(format!("no branch `{b}`")))?,
            None => repository.default_branch_ref.ok_or_else(|| {
                not_found("the repository has no default branch (is it empty?)".into())
            })?,
        };
        let tree = found
            .target
            .tree
            .ok_or_else(|| not_found("the branch does not point at a commit".into()))?;
        Ok(Head {
            branch: found.name,
            oid: found.target.oid,
            tree: tree.oid,
            repository_id: repository.id,
        })
    }

    /// Every file path in a tree, with its mode.
    pub async fn list(&self, tree: &str) -> Result<Vec<(String, String)>, GitHubError> {
        #[derive(Deserialize)]
        struct Tree {
            tree: Vec<Entry>,
            #[serde(default)]
            truncated: bool,
        }
        #[derive(Deserialize)]
        struct Entry {
            path: String,
            mode: String,
            #[serde(rename = "type")]
            kind: String,
        }
        let what = format!("listing the files of {}", self.slug());
        let path = format!(
            "/repos/{}/{}/git/trees/{tree}?recursive=1",
            self.owner, self.name
        );
        let listing: Tree = self
            .gh
            .rest(&what, Method::GET, &path, None, Resend::Safe)
            .await?;
        if listing.truncated {
            return Err(GitHubError::Status {
                what,
                status: 200,
                message: "the repository's tree is too large for one listing (truncated)".into(),
            });
        }
        Ok(listing
            .tree
            .into_iter()
            .filter(|e| e.kind == "blob")
            .map(|e| (e.path, e.mode))
            .collect())
    }

    /// The text of `paths` at commit `oid`, in one query.
    pub async fn read(
        &self,
        oid: &str,
        paths: &[(String, String)],
    ) -> Result<Vec<Blob>, GitHubError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut params = vec!["$owner: String!".to_owned(), "$name: String!".to_owned()];
        let mut fields = Vec::new();
        let mut variables = json!({ "owner": self.owner, "name": self.name });
        for (i, (path, _)) in paths.iter().enumerate() {
            params.push(format!("$e{i}: String!"));
            fields.push(format!(
                "f{i}: object(expression: $e{i}) {{ ... on Blob {{ text isBinary isTruncated }} }}"
            ));
            variables[format!("e{i}")] = json!(format!("{oid}:{path}"));
        }
        let query = format!(
            "query Files({}) {{\n  repository(owner: $owner, name: $name) {{\n    {}\n  }}\n}}",
            params.join(", "),
            fields.join("\n    ")
        );
        let what = format!("reading the kustomization files of {}", self.slug());
        let data: Value = self
            .gh
            .graphql(&what, &query, variables, Resend::Safe)
            .await?;
        let mut blobs = Vec::new();
        for (i, (path, mode)) in paths.iter().enumerate() {
            let object = &data["repository"][format!("f{i}")];
            let text = object["text"].as_str();
            let unusable = object["isBinary"].as_bool() == Some(true)
                || object["isTruncated"].as_bool() == Some(true);
            match text {
                Some(text) if !unusable => blobs.push(Blob {
                    path: path.clone(),
                    text: text.to_owned(),
                    mode: mode.clone(),
                }),
                _ => {
                    return Err(GitHubError::Status {
                        what,
                        status: 200,
                        message: format!("`{path}` is not a text file GitHub can return whole"),
                    });
                }
            }
        }
        Ok(blobs)
    }

    /// One commit of every file on `branch`, on top of `expected_head` (GitHub signs it).
    pub async fn commit_graphql(
        &self,
        branch: &str,
        expected_head: &str,
        message: &Message,
        files: &[(&str, &str)],
    ) -> Result<Commit, CommitError> {
        const MUTATION: &str = r#"mutation Promote($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) {
    commit { oid url signature { isValid } }
  }
}"#;
        let additions: Vec<Value> = files
            .iter()
            .map(|(path, text)| {
                json!({
                    "path": path,
                    "contents": base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                })
            })
            .collect();
        let input = json!({
            "input": {
                "branch": { "repositoryNameWithOwner": self.slug(), "branchName": branch },
                "message": { "headline": message.headline, "body": message.body },
                "expectedHeadOid": expected_head,
                "fileChanges": { "additions": additions },
            }
        });
        let what = format!("committing to {} branch `{branch}`", self.slug());
        let result: Result<Value, GitHubError> = self
            .gh
            .graphql(&what, MUTATION, input, Resend::OnlyIfRejected)
            .await;
        let data = match result {
            Ok(data) => data,
            Err(e)
                if e.has_graphql_type("STALE_DATA")
                    || e.message().contains("Expected branch to point to") =>
            {
                return Err(CommitError::Stale);
            }
            Err(e) => return Err(e.into()),
        };
        let commit = &data["createCommitOnBranch"]["commit"];
        Ok(Commit {
            oid: commit["oid"].as_str().unwrap_or_default().to_owned(),
            url: commit["url"].as_str().unwrap_or_default().to_owned(),
            verified: commit["signature"]["isValid"].as_bool().unwrap_or(false),
        })
    }

    /// The same commit through the REST Git Data API: a tree on `base_tree`, a commit, and a
    /// fast-forward-only ref update. Keeps each file's mode; GitHub does not sign it.
    pub async fn commit_rest(
        &self,
        branch: &str,
        head: &Head,
        message: &Message,
        files: &[(&str, &str, &str)],
    ) -> Result<Commit, CommitError> {
        let base = format!("/repos/{}/{}", self.owner, self.name);
        let entries: Vec<Value> = files
            .iter()
            .map(|(path, mode, text)| json!({ "path": path, "mode": mode, "type": "blob", "content": text }))
            .collect();
        #[derive(Deserialize)]
        struct Sha {
            sha: String,
        }
        #[derive(Deserialize)]
        struct Created {
            sha: String,
            html_url: String,
            #[serde(default)]
            verification: Option<Verification>,
        }
        #[derive(Deserialize)]
        struct Verification {
            verified: bool,
        }
        let what = format!("committing to {} branch `{branch}`", self.slug());
        // Blobs, trees and commits are content-addressed: creating one twice is harmless.
        let tree: Sha = self
            .gh
            .rest(
                &what,
                Method::POST,
                &format!("{base}/git/trees"),
                Some(&json!({ "base_tree": head.tree, "tree": entries })),
                Resend::Safe,
            )
            .await?;
        let commit: Created = self
            .gh
            .rest(
                &what,
                Method::POST,
                &format!("{base}/git/commits"),
                Some(
                    &json!({ "message": message.full(), "tree": tree.sha, "parents": [head.oid] }),
                ),
                Resend::Safe,
            )
            .await?;
        let update = self
            .gh
            .rest::<Value>(
                &what,
                Method::PATCH,
                &format!("{base}/git/refs/heads/{branch}"),
                Some(&json!({ "sha": commit.sha, "force": false })),
                Resend::Safe,
            )
            .await;
        match update {
            Ok(_) => Ok(Commit {
                oid: commit.sha,
                url: commit.html_url,
                verified: commit.verification.is_some_and(|v| v.verified),
            }),
            Err(GitHubError::Status {
                status: 422,
                message,
                ..
            }) if message.contains("not a fast forward") => Err(CommitError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// The commit at the head of `branch` and its first parent and message, to tell whether an
    /// unanswered commit request in fact landed.
    pub async fn last_commit(
        &self,
        branch: &str,
    ) -> Result<(Commit, Option<String>, String), GitHubError> {
        #[derive(Deserialize)]
        struct Got {
            sha: String,
            html_url: String,
            commit: Inner,
            parents: Vec<Parent>,
        }
        #[derive(Deserialize)]
        struct Inner {
            message: String,
            #[serde(default)]
            verification: Option<Verification>,
        }
        #[derive(Deserialize)]
        struct Verification {
            verified: bool,
        }
        #[derive(Deserialize)]
        struct Parent {
            sha: String,
        }
        let what = format!("reading the head of {} branch `{branch}`", self.slug());
        let path = format!("/repos/{}/{}/commits/heads/{branch}", self.owner, self.name);
        let got: Got = self
            .gh
            .rest(&what, Method::GET, &path, None, Resend::Safe)
            .await?;
        Ok((
            Commit {
                oid: got.sha,
                url: got.html_url,
                verified: got.commit.verification.is_some_and(|v| v.verified),
            },
            got.parents.first().map(|p| p.sha.clone()),
            got.commit.message,
        ))
    }

    /// Points the action's own branch at `oid`, creating it if needed. Only ever used for the
    /// pull request branch, which belongs to the action; never for the base branch.
    pub async fn reset_own_branch(&self, branch: &str, oid: &str) -> Result<(), GitHubError> {
        let base = format!("/repos/{}/{}", self.owner, self.name);
        let what = format!("preparing the pull request branch `{branch}`");
        let created = self
            .gh
            .rest::<Value>(
                &what,
                Method::POST,
                &format!("{base}/git/refs"),
                Some(&json!({ "ref": format!("refs/heads/{branch}"), "sha": oid })),
                Resend::Safe,
            )
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(GitHubError::Status { status: 422, .. }) => self
                .gh
                .rest::<Value>(
                    &what,
                    Method::PATCH,
                    &format!("{base}/git/refs/heads/{branch}"),
                    Some(&json!({ "sha": oid, "force": true })),
                    Resend::Safe,
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// The open pull request from `head` into `base`, if any.
    pub async fn find_pull_request(
        &self,
        head: &str,
        base: &str,
    ) -> Result<Option<PullRequest>, GitHubError> {
        const QUERY: &str = r#"query OpenPullRequest($owner: String!, $name: String!, $head: String!, $base: String!) {
  repository(owner: $owner, name: $name) {
    pullRequests(headRefName: $head, baseRefName: $base, states: [OPEN], first: 1) {
      nodes { id number url }
    }
  }
}"#;
        let what = format!("looking for the open pull request from `{head}`");
        let data: Value = self
            .gh
            .graphql(
                &what,
                QUERY,
                json!({ "owner": self.owner, "name": self.name, "head": head, "base": base }),
                Resend::Safe,
            )
            .await?;
        Ok(data["repository"]["pullRequests"]["nodes"]
            .get(0)
            .map(pull_request))
    }

    pub async fn create_pull_request(
        &self,
        repository_id: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullRequest, GitHubError> {
        const MUTATION: &str = r#"mutation OpenPullRequest($input: CreatePullRequestInput!) {
  createPullRequest(input: $input) { pullRequest { id number url } }
}"#;
        let input = json!({ "input": {
            "repositoryId": repository_id, "headRefName": head, "baseRefName": base,
            "title": title, "body": body, "draft": draft,
        }});
        let data: Value = self
            .gh
            .graphql(
                "opening the pull request",
                MUTATION,
                input,
                Resend::OnlyIfRejected,
            )
            .await?;
        Ok(pull_request(&data["createPullRequest"]["pullRequest"]))
    }

    pub async fn update_pull_request(
        &self,
        id: &str,
        title: &str,
        body: &str,
    ) -> Result<(), GitHubError> {
        const MUTATION: &str = r#"mutation RefreshPullRequest($input: UpdatePullRequestInput!) {
  updatePullRequest(input: $input) { pullRequest { id } }
}"#;
        let input = json!({ "input": { "pullRequestId": id, "title": title, "body": body } });
        self.gh
            .graphql::<Value>("updating the pull request", MUTATION, input, Resend::Safe)
            .await
            .map(|_| ())
    }

    pub async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), GitHubError> {
        let path = format!("/repos/{}/{}/issues/{number}/labels", self.owner, self.name);
        self.gh
            .rest::<Value>(
                "labelling the pull request",
                Method::POST,
                &path,
                Some(&json!({ "labels": labels })),
                Resend::Safe,
            )
            .await
            .map(|_| ())
    }

    pub async fn request_reviewers(
        &self,
        number: u64,
        reviewers: &[String],
    ) -> Result<(), GitHubError> {
        let path = format!(
            "/repos/{}/{}/pulls/{number}/requested_reviewers",
            self.owner, self.name
        );
        self.gh
            .rest::<Value>(
                "requesting reviewers",
                Method::POST,
                &path,
                Some(&json!({ "reviewers": reviewers })),
                Resend::Safe,
            )
            .await
            .map(|_| ())
    }

    pub async fn enable_auto_merge(&self, id: &str, method: &str) -> Result<(), GitHubError> {
        const MUTATION: &str = r#"mutation AutoMerge($input: EnablePullRequestAutoMergeInput!) {
  enablePullRequestAutoMerge(input: $input) { pullRequest { id } }
}"#;
        let input = json!({ "input": { "pullRequestId": id, "mergeMethod": method } });
        self.gh
            .graphql::<Value>("enabling auto-merge", MUTATION, input, Resend::Safe)
            .await
            .map(|_| ())
    }
}

fn pull_request(node: &Value) -> PullRequest {
    PullRequest {
        id: node["id"].as_str().unwrap_or_default().to_owned(),
        number: node["number"].as_u64().unwrap_or_default(),
        url: node["url"].as_str().unwrap_or_default().to_owned(),
    }
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
