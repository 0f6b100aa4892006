//! Landing one commit: GraphQL `createCommitOnBranch` against the head that was read (GitHub
//! signs it), or the REST Git Data path (a tree on `base_tree`, a commit, a fast-forward-only ref
//! update) where the mutation would lose a file mode or the server lacks it. For a pull request
//! branch, the commit is built off the branch (on a temporary ref) and the branch then moves once,
//! atomically and only from the head that was read (`updateRefs` with `beforeOid`).

use base64::Engine as _;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{GitHubError, Message, Repo, Resend, encode_ref};

/// A commit made by the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub oid: String,
    pub url: String,
    /// Whether GitHub shows it as Verified (signed by GitHub).
    pub verified: bool,
}

/// One changed file: path, git mode (`100644`, `100755`, ...), new text.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub path: &'a str,
    pub mode: &'a str,
    pub text: &'a str,
}

/// Why a commit did not land.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The branch moved since it was read: re-read and try again.
    #[error("the branch moved")]
    Stale,
    /// The server has no `createCommitOnBranch` (an old GitHub Enterprise Server).
    #[error("the server has no createCommitOnBranch")]
    NoGraphQlCommit,
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

/// The all-zero object id: "no ref" in `updateRefs`.
const NO_OID: &str = "0000000000000000000000000000000000000000";

const COMMIT_FIELDS: &str = "commit { oid url signature { isValid } }";

#[derive(Deserialize)]
struct GraphQlCommit {
    oid: String,
    url: String,
    signature: Option<Signature>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Signature {
    is_valid: bool,
}

impl From<GraphQlCommit> for Commit {
    fn from(c: GraphQlCommit) -> Self {
        Self {
            oid: c.oid,
            url: c.url,
            verified: c.signature.is_some_and(|s| s.is_valid),
        }
    }
}

fn additions(files: &[Change<'_>]) -> Vec<Value> {
    files
        .iter()
        .map(|f| {
            json!({
                "path": f.path,
                "contents": base64::engine::general_purpose::STANDARD.encode(f.text.as_bytes()),
            })
        })
        .collect()
}

/// Whether the server lacks a field the request used (GitHub Enterprise Server before it shipped).
fn is_undefined_field(e: &GitHubError) -> bool {
    matches!(e, GitHubError::GraphQl { errors, .. } if errors.iter().any(|e| e.code() == "undefinedField"))
}

/// Sorts a GraphQL commit refusal: a moved head, a server without the mutation, or GitHub's error.
fn commit_error(e: GitHubError) -> CommitError {
    if e.has_graphql_type("STALE_DATA") {
        CommitError::Stale
    } else if is_undefined_field(&e) {
        CommitError::NoGraphQlCommit
    } else {
        CommitError::GitHub(e)
    }
}

impl Repo<'_> {
    /// One commit of every file on `branch`, on top of `expected_head` (GitHub signs it).
    pub async fn commit_graphql(
        &self,
        branch: &str,
        expected_head: &str,
        message: &Message,
        files: &[Change<'_>],
    ) -> Result<Commit, CommitError> {
        let mutation = format!(
            "mutation Promote($input: CreateCommitOnBranchInput!) {{\n  createCommitOnBranch(input: $input) {{ {COMMIT_FIELDS} }}\n}}"
        );
        let input = json!({
            "input": {
                "branch": { "repositoryNameWithOwner": self.slug(), "branchName": branch },
                "message": { "headline": message.headline, "body": message.body },
                "expectedHeadOid": expected_head,
                "fileChanges": { "additions": additions(files) },
            }
        });
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            create_commit_on_branch: Payload,
        }
        #[derive(Deserialize)]
        struct Payload {
            commit: GraphQlCommit,
        }
        let what = format!("committing to {} branch `{branch}`", self.slug());
        let data: Data = self
            .gh
            .graphql(&what, &mutation, input, Resend::OnlyIfRejected)
            .await
            .map_err(commit_error)?;
        Ok(data.create_commit_on_branch.commit.into())
    }

    /// The same commit through the REST Git Data API: a tree on `base_tree`, a commit, and a
    /// fast-forward-only ref update. Keeps each file's mode; GitHub does not sign it.
    pub async fn commit_rest(
        &self,
        branch: &str,
        head: &str,
        tree: &str,
        message: &Message,
        files: &[Change<'_>],
    ) -> Result<Commit, CommitError> {
        let what = format!("committing to {} branch `{branch}`", self.slug());
        let commit = self.rest_commit(&what, head, tree, message, files).await?;
        let update = self
            .gh
            .rest::<Value>(
                &what,
                Method::PATCH,
                &format!("{}/git/refs/heads/{}", self.rest_base(), encode_ref(branch)),
                Some(&json!({ "sha": commit.oid, "force": false })),
                Resend::Safe,
            )
            .await;
        match update {
            Ok(_) => Ok(commit),
            Err(GitHubError::Status {
                status: 422,
                message,
                ..
            }) if message.contains("not a fast forward") => Err(CommitError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// A tree on `base_tree` and a commit on `parent`, through REST; no ref moves.
    async fn rest_commit(
        &self,
        what: &str,
        parent: &str,
        base_tree: &str,
        message: &Message,
        files: &[Change<'_>],
    ) -> Result<Commit, GitHubError> {
        let entries: Vec<Value> = files
            .iter()
            .map(|f| json!({ "path": f.path, "mode": f.mode, "type": "blob", "content": f.text }))
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
        // Blobs, trees and commits are content-addressed: creating one twice is harmless.
        let tree: Sha = self
            .gh
            .rest(
                what,
                Method::POST,
                &format!("{}/git/trees", self.rest_base()),
                Some(&json!({ "base_tree": base_tree, "tree": entries })),
                Resend::Safe,
            )
            .await?;
        let commit: Created = self
            .gh
            .rest(
                what,
                Method::POST,
                &format!("{}/git/commits", self.rest_base()),
                Some(&json!({ "message": message.full(), "tree": tree.sha, "parents": [parent] })),
                Resend::Safe,
            )
            .await?;
        Ok(Commit {
            oid: commit.sha,
            url: commit.html_url,
            verified: commit.verification.is_some_and(|v| v.verified),
        })
    }

    /// A commit of `files` on top of `base` that no branch points at yet: made on the
    /// `temporary` branch (so GitHub signs it), or without one through REST, which keeps file
    /// modes. The caller moves its branch there with [`Repo::move_branch`], which also deletes
    /// the temporary branch.
    pub async fn commit_off_branch(
        &self,
        repository_id: &str,
        temporary: Option<&str>,
        base: &str,
        base_tree: &str,
        message: &Message,
        files: &[Change<'_>],
    ) -> Result<Commit, CommitError> {
        let what = format!("building the pull request commit in {}", self.slug());
        let Some(temporary) = temporary else {
            return Ok(self
                .rest_commit(&what, base, base_tree, message, files)
                .await?);
        };
        // One request: the temporary branch at the base, then the commit on it. GraphQL runs
        // the mutations of one document in order.
        let mutation = format!(
            "mutation BuildOffBranch($ref: CreateRefInput!, $commit: CreateCommitOnBranchInput!) {{\n  \
             createRef(input: $ref) {{ ref {{ name }} }}\n  \
             createCommitOnBranch(input: $commit) {{ {COMMIT_FIELDS} }}\n}}"
        );
        let variables = json!({
            "ref": {
                "repositoryId": repository_id,
                "name": format!("refs/heads/{temporary}"),
                "oid": base,
            },
            "commit": {
                "branch": { "repositoryNameWithOwner": self.slug(), "branchName": temporary },
                "message": { "headline": message.headline, "body": message.body },
                "expectedHeadOid": base,
                "fileChanges": { "additions": additions(files) },
            },
        });
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            create_commit_on_branch: Payload,
        }
        #[derive(Deserialize)]
        struct Payload {
            commit: GraphQlCommit,
        }
        let data: Data = self
            .gh
            .graphql(&what, &mutation, variables, Resend::OnlyIfRejected)
            .await
            .map_err(commit_error)?;
        Ok(data.create_commit_on_branch.commit.into())
    }

    /// Moves `branch` from `from` (`None`: it must not exist) to `to` in one atomic
    /// `updateRefs`, forced (the new commit is built on the base, not on the old head) but only
    /// if the branch still points at `from`; deletes `temporary` in the same update.
    pub async fn move_branch(
        &self,
        repository_id: &str,
        branch: &str,
        from: Option<&str>,
        to: &str,
        temporary: Option<&str>,
    ) -> Result<(), CommitError> {
        let mut updates = vec![json!({
            "name": format!("refs/heads/{branch}"),
            "beforeOid": from.unwrap_or(NO_OID),
            "afterOid": to,
            "force": true,
        })];
        if let Some(temporary) = temporary {
            updates.push(json!({
                "name": format!("refs/heads/{temporary}"),
                "beforeOid": to,
                "afterOid": NO_OID,
            }));
        }
        const MUTATION: &str = "mutation MoveBranch($input: UpdateRefsInput!) {\n  updateRefs(input: $input) { clientMutationId }\n}";
        let input = json!({ "input": { "repositoryId": repository_id, "refUpdates": updates } });
        let what = format!("moving {} branch `{branch}`", self.slug());
        let moved = self
            .gh
            .graphql::<Value>(&what, MUTATION, input, Resend::OnlyIfRejected)
            .await;
        match moved {
            Ok(_) => Ok(()),
            Err(e) if is_undefined_field(&e) => {
                self.move_branch_rest(branch, from, to, temporary).await
            }
            // GitHub documents no error class for a `beforeOid` that did not match, so look:
            // if the branch is no longer where it was read, another run moved it first.
            Err(e @ GitHubError::GraphQl { .. }) => {
                if self.branch_oid(branch).await?.as_deref() != from {
                    Err(CommitError::Stale)
                } else {
                    Err(e.into())
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// [`Repo::move_branch`] on a server without `updateRefs` (an older GitHub Enterprise
    /// Server). REST has no compare-and-swap for a forced update, so the branch is checked just
    /// before it is moved: a concurrent run in the instant between could still be overwritten,
    /// which `updateRefs` rules out where it exists.
    async fn move_branch_rest(
        &self,
        branch: &str,
        from: Option<&str>,
        to: &str,
        temporary: Option<&str>,
    ) -> Result<(), CommitError> {
        let what = format!("moving {} branch `{branch}`", self.slug());
        if self.branch_oid(branch).await?.as_deref() != from {
            return Err(CommitError::Stale);
        }
        let moved = match from {
            Some(_) => {
                self.gh
                    .rest::<Value>(
                        &what,
                        Method::PATCH,
                        &format!("{}/git/refs/heads/{}", self.rest_base(), encode_ref(branch)),
                        Some(&json!({ "sha": to, "force": true })),
                        Resend::Safe,
                    )
                    .await
            }
            None => {
                self.gh
                    .rest::<Value>(
                        &what,
                        Method::POST,
                        &format!("{}/git/refs", self.rest_base()),
                        Some(&json!({ "ref": format!("refs/heads/{branch}"), "sha": to })),
                        Resend::Safe,
                    )
                    .await
            }
        };
        match moved {
            Ok(_) => {}
            // Created meanwhile by another run.
            Err(GitHubError::Status { status: 422, .. }) if from.is_none() => {
                return Err(CommitError::Stale);
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(temporary) = temporary {
            self.delete_branch(temporary).await?;
        }
        Ok(())
    }

    /// Where `branch` points now (`None`: it does not exist).
    pub async fn branch_oid(&self, branch: &str) -> Result<Option<String>, GitHubError> {
        #[derive(Deserialize)]
        struct Ref {
            object: Object,
        }
        #[derive(Deserialize)]
        struct Object {
            sha: String,
        }
        let got = self
            .gh
            .rest::<Ref>(
                &format!("reading {} branch `{branch}`", self.slug()),
                Method::GET,
                &format!("{}/git/ref/heads/{}", self.rest_base(), encode_ref(branch)),
                None,
                Resend::Safe,
            )
            .await;
        match got {
            Ok(r) => Ok(Some(r.object.sha)),
            Err(GitHubError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a temporary branch left by a run that could not move its branch.
    pub async fn delete_branch(&self, branch: &str) -> Result<(), GitHubError> {
        self.gh
            .rest::<Value>(
                &format!("deleting the temporary branch `{branch}`"),
                Method::DELETE,
                &format!("{}/git/refs/heads/{}", self.rest_base(), encode_ref(branch)),
                None,
                Resend::Safe,
            )
            .await
            .map(|_| ())
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
        let path = format!("{}/commits/heads/{}", self.rest_base(), encode_ref(branch));
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
}
