//! Reading the commit statuses Flux posts on the GitOps repository, one request per round for
//! every object waited on.
//!
//! While the branch's head is our commit, a round is one REST `GET commits/{branch}/status`
//! (the newest status of each context, and the head's SHA) sent with the last answer's `ETag`:
//! until something changes GitHub answers `304`, which costs no rate limit. Once the head has
//! moved past our commit, statuses may land on any commit between ours and the head (Flux posts
//! on the revision it applied, which may be superseded by the time it reports), so a round is
//! one GraphQL query instead: the branch's recent history with each commit's statuses and
//! parents, and our commit's own statuses. Whether a commit contains ours is decided from those
//! parents, in the same answer. GraphQL answers carry no `ETag`.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::json;

use super::{Conditional, GitHubError, Repo, Resend, encode_ref};
use crate::core::flux::{Revision, State, Status};

/// Commits of the branch's history read per GraphQL page.
const PAGE: u32 = 30;
/// Pages read at most when looking for our commit: a branch that moved further than this
/// while we wait is treated as one that no longer holds our commit.
const PAGES: u32 = 4;

/// What one round saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// Nothing changed since the last round (`304`).
    Unchanged,
    Seen(Seen),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The branch's head now.
    pub head: String,
    /// Our commit and the commits of the branch that contain it, newest first.
    pub revisions: Vec<Revision>,
    /// False when the branch's recent history no longer holds our commit (rewritten, or moved
    /// on by more than the pages read): then only our commit's own statuses count.
    pub on_branch: bool,
}

/// Polls the statuses of `ours` and the commits of `branch` that contain it.
pub struct Poller<'a> {
    repo: &'a Repo<'a>,
    branch: String,
    ours: String,
    etag: Option<String>,
    /// The head moved past our commit: every round reads the history.
    moved: bool,
}

impl<'a> Poller<'a> {
    pub fn new(repo: &'a Repo<'a>, branch: &str, ours: &str) -> Self {
        Self {
            repo,
            branch: branch.to_owned(),
            ours: ours.to_owned(),
            etag: None,
            moved: false,
        }
    }

    /// The number of requests a round takes is one, except the round that first sees the head
    /// move past our commit (two: the REST read that sees it, then the history).
    pub async fn round(&mut self) -> Result<Round, GitHubError> {
        if !self.moved {
            match self.head_status().await? {
                Conditional::Unchanged => return Ok(Round::Unchanged),
                Conditional::Changed { value, etag } => {
                    if value.sha == self.ours {
                        self.etag = etag;
                        return Ok(Round::Seen(Seen {
                            head: value.sha,
                            revisions: vec![Revision {
                                oid: self.ours.clone(),
                                statuses: value.statuses.into_iter().map(Into::into).collect(),
                            }],
                            on_branch: true,
                        }));
                    }
                    self.moved = true;
                }
            }
        }
        self.history().await.map(Round::Seen)
    }

    async fn head_status(&self) -> Result<Conditional<Combined>, GitHubError> {
        let path = format!(
            "{}/commits/{}/status?per_page=100",
            self.repo.rest_base(),
            encode_ref(&self.branch)
        );
        let what = format!(
            "reading the commit statuses of `{}` in {}",
            self.branch,
            self.repo.slug()
        );
        self.repo
            .gh
            .rest_if_changed(&what, &path, self.etag.as_deref())
            .await
    }

    async fn history(&self) -> Result<Seen, GitHubError> {
        let what = format!(
            "reading the history and commit statuses of `{}` in {}",
            self.branch,
            self.repo.slug()
        );
        let mut nodes: Vec<Node> = Vec::new();
        let mut ours: Option<Vec<StatusNode>> = None;
        let mut head = None;
        let mut after: Option<String> = None;
        for _ in 0..PAGES {
            let variables = json!({
                "owner": self.repo.owner,
                "name": self.repo.name,
                "ref": format!("refs/heads/{}", self.branch),
                "oid": self.ours,
                "first": PAGE,
                "after": after,
            });
            let data: Data = self
                .repo
                .gh
                .graphql(&what, HISTORY, variables, Resend::Safe)
                .await?;
            let repository = data.repository.ok_or_else(|| GitHubError::NotFound {
                what: what.clone(),
                repo: self.repo.slug(),
                message: "Could not resolve to a Repository".into(),
            })?;
            if ours.is_none() {
                ours = Some(
                    repository
                        .commit
                        .and_then(|c| c.status)
                        .map(|s| s.contexts)
                        .unwrap_or_default(),
                );
            }
            let Some(target) = repository.reference.and_then(|r| r.target) else {
                // The branch is gone: only our commit's own statuses can still count.
                break;
            };
            head.get_or_insert(target.oid.clone());
            let Some(history) = target.history else {
                break;
            };
            let found = history.nodes.iter().any(|n| n.oid == self.ours);
            nodes.extend(history.nodes);
            if found {
                break;
            }
            if !history.page_info.has_next_page {
                break;
            }
            after = history.page_info.end_cursor;
        }
        let on_branch = nodes.iter().any(|n| n.oid == self.ours);
        let containing = containing(&self.ours, &nodes);
        let mut revisions: Vec<Revision> = nodes
            .into_iter()
            .filter(|n| n.oid != self.ours && containing.contains(&n.oid))
            .map(|n| Revision {
                oid: n.oid,
                statuses: n
                    .status
                    .map(|s| s.contexts)
                    .unwrap_or_default()
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            })
            .collect();
        revisions.push(Revision {
            oid: self.ours.clone(),
            statuses: ours
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        });
        Ok(Seen {
            head: head.unwrap_or_default(),
            revisions,
            on_branch,
        })
    }
}

/// The commits among `nodes` that contain `ours` (itself included), from their parents: a
/// commit contains ours when one of its parents does. Repeated to a fixed point, so the order
/// GitHub lists the history in does not matter.
fn containing(ours: &str, nodes: &[Node]) -> HashSet<String> {
    let mut found: HashSet<String> = HashSet::from([ours.to_owned()]);
    loop {
        let before = found.len();
        for node in nodes.iter().rev() {
            if !found.contains(&node.oid)
                && node.parents.nodes.iter().any(|p| found.contains(&p.oid))
            {
                found.insert(node.oid.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

const HISTORY: &str = "query FluxStatuses($owner: String!, $name: String!, $ref: String!, \
$oid: GitObjectID!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    commit: object(oid: $oid) { ... on Commit { status { contexts { context state description } } } }
    ref(qualifiedName: $ref) {
      target {
        ... on Commit {
          oid
          history(first: $first, after: $after) {
            pageInfo { hasNextPage endCursor }
            nodes {
              oid
              parents(first: 5) { nodes { oid } }
              status { contexts { context state description } }
            }
          }
        }
      }
    }
  }
}";

/// `GET /repos/{owner}/{repo}/commits/{ref}/status`, the fields read.
#[derive(Debug, Deserialize)]
struct Combined {
    sha: String,
    statuses: Vec<StatusNode>,
}

#[derive(Debug, Deserialize)]
struct StatusNode {
    context: String,
    state: String,
    description: Option<String>,
}

impl From<StatusNode> for Status {
    fn from(s: StatusNode) -> Self {
        Self {
            context: s.context,
            state: State::parse(&s.state),
            description: s.description,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Data {
    repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    commit: Option<OurCommit>,
    #[serde(rename = "ref")]
    reference: Option<Reference>,
}

#[derive(Debug, Deserialize)]
struct OurCommit {
    status: Option<StatusList>,
}

#[derive(Debug, Deserialize)]
struct StatusList {
    contexts: Vec<StatusNode>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    target: Option<Target>,
}

#[derive(Debug, Deserialize)]
struct Target {
    oid: String,
    history: Option<History>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct History {
    page_info: PageInfo,
    nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Node {
    oid: String,
    parents: Parents,
    status: Option<StatusList>,
}

#[derive(Debug, Deserialize)]
struct Parents {
    nodes: Vec<Oid>,
}

#[derive(Debug, Deserialize)]
struct Oid {
    oid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(oid: &str, parents: &[&str]) -> Node {
        Node {
            oid: oid.into(),
            parents: Parents {
                nodes: parents.iter().map(|p| Oid { oid: (*p).into() }).collect(),
            },
            status: None,
        }
    }

    /// Newest first, as GitHub lists history: a merge of a side branch that forked before our
    /// commit contains ours; the side branch's own commit does not.
    #[test]
    fn containment_follows_parents_whatever_the_order() {
        let nodes = [
            node("merge", &["later", "side"]),
            node("side", &["parent"]),
            node("later", &["ours"]),
            node("ours", &["parent"]),
            node("parent", &[]),
        ];
        let mut found: Vec<String> = containing("ours", &nodes).into_iter().collect();
        found.sort();
        assert_eq!(found, ["later", "merge", "ours"]);
        let mut reversed = nodes;
        reversed.reverse();
        assert_eq!(containing("ours", &reversed).len(), 3);
    }
}
