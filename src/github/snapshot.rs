//! One read of everything a promotion needs, at one commit, in one GraphQL query: the branch head,
//! the files below each `paths` pattern's fixed directory (one tree level per glob segment, never
//! the whole repository), and in pull request mode the PR branch, its files and its open pull
//! request, and the branches earlier runs left under the PR branch's temporary prefix. Its cost
//! does not grow with the repository: GitHub truncates whole-repository
//! listings past 100,000 entries or 7 MB (REST docs, git/trees), and this never asks for one.
//! Only a `**` pattern lists a subtree, and only that subtree.

use std::collections::BTreeMap;
use std::time::SystemTime;

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{GitHubError, Repo, Resend};
use crate::core::kustomization::FILE_NAMES;
use crate::core::paths::PathPattern;

/// A branch as read: its head commit and the files below the patterns' directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    pub name: String,
    pub oid: String,
    pub tree: String,
    /// Path -> file, for every file found below the patterns' directories.
    pub files: BTreeMap<String, File>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Git's file mode, as REST spells it: `100644`, `100755`, `120000`.
    pub mode: String,
    /// The text, when GitHub returns it whole (`None`: binary, or too large).
    pub text: Option<String>,
}

/// A branch found under [`Request::leftovers`], with the time of its head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub branch: String,
    pub committed: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub id: String,
    pub number: u64,
    pub url: String,
    pub head_oid: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The repository's node id, for mutations that take it.
    pub repository_id: String,
    pub base: Branch,
    /// The pull request branch, when asked for and it exists.
    pub pr_branch: Option<Branch>,
    /// The open pull request from the PR branch into the base branch.
    pub pull_request: Option<PullRequest>,
    /// The heads of the newest closed or merged pull requests from the PR branch: a PR branch
    /// still at one of them is what an earlier pull request left, not a run's promotion in flight.
    pub closed_heads: Vec<String>,
    /// The branches whose names start with [`Request::leftovers`] (at most 20).
    pub leftovers: Vec<Leftover>,
}

/// What to read: the base branch (`None`: the default branch), the patterns, and in pull
/// request mode the pull request branch and the prefix of its temporary branches.
pub struct Request<'a> {
    pub branch: Option<&'a str>,
    pub patterns: &'a [PathPattern],
    pub pr_branch: Option<&'a str>,
    /// List the branches whose names start with this (with `pr_branch` only).
    pub leftovers: Option<&'a str>,
}

impl Repo<'_> {
    pub async fn snapshot(&self, request: &Request<'_>) -> Result<Snapshot, GitHubError> {
        let what = format!("reading {}", self.slug());
        let query = query_text(request);
        let mut variables = json!({ "owner": self.owner, "name": self.name });
        if let Some(branch) = request.branch {
            variables["base"] = json!(format!("refs/heads/{branch}"));
        }
        if let Some(pr) = request.pr_branch {
            variables["pr"] = json!(format!("refs/heads/{pr}"));
            variables["prName"] = json!(pr);
        }
        if let Some(prefix) = leftovers(request) {
            // `refPrefix` must end in `/`; `query` narrows within it (matched by name).
            let (dir, name) = split_prefix(prefix);
            variables["tmpDir"] = json!(format!("refs/heads/{dir}"));
            variables["tmpName"] = json!(name);
        }
        for (i, p) in request.patterns.iter().enumerate() {
            if p.base() != "." {
                variables[format!("p{i}")] = json!(p.base());
            }
        }
        let data: Data = self
            .gh
            .graphql(&what, &query, variables, Resend::Safe)
            .await?;
        let not_found = |message: String| GitHubError::NotFound {
            what: what.clone(),
            repo: self.slug(),
            message,
        };
        let repository = data
            .repository
            .ok_or_else(|| not_found("no repository".into()))?;
        let base = match (request.branch, repository.base) {
            (_, Some(base)) => base,
            (Some(b), None) => return Err(not_found(format!("no branch `{b}`"))),
            (None, None) => {
                return Err(not_found(
                    "the repository has no default branch (is it empty?)".into(),
                ));
            }
        };
        let base = self.branch(&what, request, base).await?;
        let pr_branch = match repository.pr {
            Some(pr) if request.pr_branch.is_some() => Some(self.branch(&what, request, pr).await?),
            _ => None,
        };
        let pull_request = repository
            .pulls
            .map(|p| p.nodes)
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.base_ref_name == base.name)
            .map(|p| PullRequest {
                id: p.id,
                number: p.number,
                url: p.url,
                head_oid: p.head_ref_oid,
            });
        let leftovers = match leftovers(request) {
            Some(prefix) => {
                repository
                    .leftovers
                    .map(|refs| refs.nodes)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|node| Leftover {
                        // `prefix` and `name` together are the whole ref, however the name is
                        // cut relative to the `refPrefix` asked for.
                        branch: format!("{}{}", node.prefix, node.name)
                            .trim_start_matches("refs/heads/")
                            .to_owned(),
                        committed: node
                            .target
                            .and_then(|t| t.committed_date)
                            .and_then(|d| chrono::DateTime::parse_from_rfc3339(&d).ok())
                            .map(SystemTime::from),
                    })
                    .filter(|l| l.branch.starts_with(prefix))
                    .collect()
            }
            None => Vec::new(),
        };
        let closed_heads = repository
            .closed
            .map(|c| c.nodes.into_iter().map(|p| p.head_ref_oid).collect())
            .unwrap_or_default();
        Ok(Snapshot {
            repository_id: repository.id,
            base,
            pr_branch,
            pull_request,
            closed_heads,
            leftovers,
        })
    }

    /// A ref's commit and files; `**` patterns list their subtree here.
    async fn branch(
        &self,
        what: &str,
        request: &Request<'_>,
        found: Ref,
    ) -> Result<Branch, GitHubError> {
        let decode = |message: String| GitHubError::Decode {
            what: what.to_owned(),
            message,
        };
        let commit = found.target.ok_or_else(|| {
            decode(format!(
                "branch `{}` does not point at a commit",
                found.name
            ))
        })?;
        let oid = field(&commit, "oid").ok_or_else(|| decode("commit without `oid`".into()))?;
        let tree = commit["tree"]["oid"]
            .as_str()
            .ok_or_else(|| decode("commit without `tree`".into()))?
            .to_owned();
        let mut files = BTreeMap::new();
        for (i, pattern) in request.patterns.iter().enumerate() {
            let base = pattern.base();
            let at = if base == "." {
                // The root: the commit's tree stands in for the entry.
                json!({ "type": "tree", "mode": 0o40000, "object": commit["tree"] })
            } else {
                commit[format!("p{i}")].clone()
            };
            if at.is_null() {
                continue; // Nothing there: the selection reports it.
            }
            let prefix = if base == "." { String::new() } else { base };
            if pattern.as_str().contains("**") {
                let subtree = at["object"]["oid"].as_str().map(str::to_owned);
                if let Some(subtree) = subtree {
                    self.list_subtree(what, &oid, &prefix, &subtree, &mut files)
                        .await?;
                }
            } else {
                collect(&prefix, &at, &mut files).map_err(decode)?;
            }
        }
        Ok(Branch {
            name: found.name,
            oid,
            tree,
            files,
        })
    }

    /// A `**` pattern: that subtree's recursive listing (REST), then its kustomization files'
    /// text (GraphQL). A truncated listing fails: guessing would edit too little.
    async fn list_subtree(
        &self,
        what: &str,
        commit: &str,
        prefix: &str,
        tree: &str,
        files: &mut BTreeMap<String, File>,
    ) -> Result<(), GitHubError> {
        #[derive(Deserialize)]
        struct Listing {
            tree: Vec<Entry>,
            truncated: bool,
        }
        #[derive(Deserialize)]
        struct Entry {
            path: String,
            mode: String,
            #[serde(rename = "type")]
            kind: String,
        }
        let listing: Listing = self
            .gh
            .rest(
                what,
                Method::GET,
                &format!("{}/git/trees/{tree}?recursive=1", self.rest_base()),
                None,
                Resend::Safe,
            )
            .await?;
        if listing.truncated {
            return Err(GitHubError::Status {
                what: what.to_owned(),
                status: 200,
                message: format!(
                    "`{prefix}` holds too many files for one listing (GitHub truncated it); \
                     narrow the `**` pattern in `paths`"
                ),
            });
        }
        let wanted: Vec<(String, String)> = listing
            .tree
            .into_iter()
            .filter(|e| e.kind == "blob")
            .filter(|e| {
                let name = e.path.rsplit('/').next().unwrap_or_default();
                FILE_NAMES.contains(&name)
            })
            .map(|e| (join(prefix, &e.path), e.mode))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut params = vec!["$owner: String!".to_owned(), "$name: String!".to_owned()];
        let mut fields = Vec::new();
        let mut variables = json!({ "owner": self.owner, "name": self.name });
        for (i, (path, _)) in wanted.iter().enumerate() {
            params.push(format!("$e{i}: String!"));
            fields.push(format!(
                "f{i}: object(expression: $e{i}) {{ ... on Blob {{ text isBinary isTruncated }} }}"
            ));
            variables[format!("e{i}")] = json!(format!("{commit}:{path}"));
        }
        let query = format!(
            "query Subtree({}) {{\n  repository(owner: $owner, name: $name) {{\n    {}\n  }}\n}}",
            params.join(", "),
            fields.join("\n    ")
        );
        let data: Value = self
            .gh
            .graphql(what, &query, variables, Resend::Safe)
            .await?;
        for (i, (path, mode)) in wanted.into_iter().enumerate() {
            let blob = &data["repository"][format!("f{i}")];
            files.insert(
                path,
                File {
                    mode,
                    text: whole_text(blob),
                },
            );
        }
        Ok(())
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

fn field(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// A blob's text when GitHub gave all of it.
fn whole_text(blob: &Value) -> Option<String> {
    let unusable =
        blob["isBinary"].as_bool() != Some(false) || blob["isTruncated"].as_bool() != Some(false);
    if unusable {
        return None;
    }
    blob["text"].as_str().map(str::to_owned)
}

/// Walks a `TreeEntry` (as the query shapes it) into `files`.
fn collect(path: &str, entry: &Value, files: &mut BTreeMap<String, File>) -> Result<(), String> {
    let mode = entry["mode"]
        .as_u64()
        .ok_or_else(|| format!("tree entry `{path}` without `mode`"))?;
    match entry["type"].as_str() {
        Some("tree") => {
            let Some(entries) = entry["object"]["entries"].as_array() else {
                return Ok(()); // Below the depth the patterns need.
            };
            for child in entries {
                let name = child["name"]
                    .as_str()
                    .ok_or_else(|| format!("tree entry in `{path}` without `name`"))?;
                collect(&join(path, name), child, files)?;
            }
        }
        Some("blob") => {
            files.insert(
                path.to_owned(),
                File {
                    mode: format!("{mode:o}"),
                    text: whole_text(&entry["object"]),
                },
            );
        }
        // Submodules (`commit`) hold no kustomization of this repository.
        _ => {}
    }
    Ok(())
}

/// The tree levels below a pattern's fixed directory that its matches can reach: one per glob
/// segment, plus one for a directory's kustomization file.
fn depth(pattern: &PathPattern) -> usize {
    let segments = |s: &str| if s == "." { 0 } else { s.split('/').count() };
    segments(pattern.as_str()) - segments(&pattern.base()) + 1
}

/// `entries` `levels` deep, with each blob's text.
fn entries(levels: usize) -> String {
    const BLOB: &str = "... on Blob { text isBinary isTruncated }";
    if levels <= 1 {
        return format!("entries {{ name type mode object {{ {BLOB} }} }}");
    }
    format!(
        "entries {{ name type mode object {{ {BLOB} ... on Tree {{ {} }} }} }}",
        entries(levels - 1)
    )
}

/// The leftover prefix to list: only in pull request mode.
fn leftovers<'a>(request: &Request<'a>) -> Option<&'a str> {
    request.pr_branch.and(request.leftovers)
}

/// `a/b-tmp-` -> (`a/`, `b-tmp-`): the directory part ends in `/` (or is empty).
fn split_prefix(prefix: &str) -> (&str, &str) {
    let at = prefix.rfind('/').map_or(0, |i| i + 1);
    prefix.split_at(at)
}

fn query_text(request: &Request<'_>) -> String {
    let mut params = vec!["$owner: String!".to_owned(), "$name: String!".to_owned()];
    if request.branch.is_some() {
        params.push("$base: String!".to_owned());
    }
    if request.pr_branch.is_some() {
        params.push("$pr: String!".to_owned());
        params.push("$prName: String!".to_owned());
    }
    if leftovers(request).is_some() {
        params.push("$tmpDir: String!".to_owned());
        params.push("$tmpName: String!".to_owned());
    }
    let mut files = Vec::new();
    let mut root_levels = 0;
    for (i, p) in request.patterns.iter().enumerate() {
        if p.base() == "." {
            root_levels = root_levels.max(if p.as_str().contains("**") {
                0
            } else {
                depth(p)
            });
            continue;
        }
        params.push(format!("$p{i}: String!"));
        let inner = if p.as_str().contains("**") {
            "oid".to_owned()
        } else {
            format!("... on Tree {{ {} }}", entries(depth(p)))
        };
        files.push(format!(
            "p{i}: file(path: $p{i}) {{ type mode object {{ ... on Blob {{ text isBinary isTruncated }} {inner} }} }}"
        ));
    }
    let tree = if root_levels > 0 {
        format!("tree {{ oid {} }}", entries(root_levels))
    } else {
        "tree { oid }".to_owned()
    };
    let base = match request.branch {
        Some(_) => "base: ref(qualifiedName: $base) { name target { ...Files } }",
        None => "base: defaultBranchRef { name target { ...Files } }",
    };
    let mut pr = if request.pr_branch.is_some() {
        "pr: ref(qualifiedName: $pr) { name target { ...Files } }\n    \
         pulls: pullRequests(headRefName: $prName, states: [OPEN], first: 10) { nodes { id number url baseRefName headRefOid } }\n    \
         closed: pullRequests(headRefName: $prName, states: [CLOSED, MERGED], last: 20) { nodes { headRefOid } }"
            .to_owned()
    } else {
        String::new()
    };
    if leftovers(request).is_some() {
        pr.push_str(
            "\n    leftovers: refs(refPrefix: $tmpDir, query: $tmpName, first: 20) \
             { nodes { prefix name target { ... on Commit { committedDate } } } }",
        );
    }
    format!(
        "query Snapshot({params}) {{\n  repository(owner: $owner, name: $name) {{\n    id\n    {base}\n    {pr}\n  }}\n}}\n\
         fragment Files on Commit {{\n  oid\n  {tree}\n  {files}\n}}\n",
        params = params.join(", "),
        files = files.join("\n  "),
    )
}

#[derive(Deserialize)]
struct Data {
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Repository {
    id: String,
    #[serde(default)]
    base: Option<Ref>,
    #[serde(default)]
    pr: Option<Ref>,
    #[serde(default)]
    pulls: Option<Pulls>,
    #[serde(default)]
    closed: Option<ClosedPulls>,
    #[serde(default)]
    leftovers: Option<Refs>,
}

#[derive(Deserialize)]
struct ClosedPulls {
    nodes: Vec<ClosedPull>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClosedPull {
    head_ref_oid: String,
}

#[derive(Deserialize)]
struct Refs {
    nodes: Vec<RefNode>,
}

#[derive(Deserialize)]
struct RefNode {
    prefix: String,
    name: String,
    target: Option<CommitDate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitDate {
    committed_date: Option<String>,
}

#[derive(Deserialize)]
struct Ref {
    name: String,
    target: Option<Value>,
}

#[derive(Deserialize)]
struct Pulls {
    nodes: Vec<PullNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullNode {
    id: String,
    number: u64,
    url: String,
    base_ref_name: String,
    head_ref_oid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> PathPattern {
        PathPattern::parse(s).expect("valid")
    }

    #[test]
    fn each_glob_segment_reads_one_more_level() {
        assert_eq!(depth(&pattern("apps/x/base")), 1);
        assert_eq!(depth(&pattern("apps/x/overlays/*")), 2);
        assert_eq!(depth(&pattern("apps/*/overlays/*")), 4);
        assert_eq!(depth(&pattern("*")), 2);
    }

    #[test]
    fn entries_nest_to_the_depth_asked() {
        assert_eq!(entries(2).matches("entries").count(), 2);
        assert_eq!(entries(1).matches("... on Tree").count(), 0);
    }

    #[test]
    fn the_query_reads_the_pr_branch_only_in_pull_request_mode() {
        let patterns = [pattern("apps/x/base"), pattern("apps/x/overlays/*")];
        let commit = query_text(&Request {
            branch: Some("main"),
            patterns: &patterns,
            pr_branch: None,
            leftovers: Some("x-tmp-"),
        });
        assert!(!commit.contains("pullRequests"));
        assert!(
            !commit.contains("refPrefix"),
            "leftovers only in pull request mode"
        );
        assert!(commit.contains("p1: file(path: $p1)"));
        let pr = query_text(&Request {
            branch: None,
            patterns: &patterns,
            pr_branch: Some("gitops-promote/x"),
            leftovers: Some("gitops-promote/x-tmp-"),
        });
        assert!(pr.contains("pullRequests(headRefName: $prName"));
        assert!(pr.contains("refs(refPrefix: $tmpDir, query: $tmpName"));
        assert!(pr.contains("defaultBranchRef"));
    }

    #[test]
    fn a_prefix_splits_into_the_ref_directory_and_the_name() {
        assert_eq!(
            split_prefix("gitops-promote/app-tmp-"),
            ("gitops-promote/", "app-tmp-")
        );
        assert_eq!(split_prefix("promote-tmp-"), ("", "promote-tmp-"));
    }

    #[test]
    fn entries_become_files_with_modes_and_text() {
        let entry = json!({
            "type": "tree", "mode": 16384, "object": { "entries": [
                { "name": "kustomization.yaml", "type": "blob", "mode": 33188,
                  "object": { "text": "images: []\n", "isBinary": false, "isTruncated": false } },
                { "name": "run.sh", "type": "blob", "mode": 33261,
                  "object": { "text": "#!/bin/sh\n", "isBinary": false, "isTruncated": false } },
                { "name": "logo.png", "type": "blob", "mode": 33188,
                  "object": { "text": null, "isBinary": true, "isTruncated": false } },
            ]}
        });
        let mut files = BTreeMap::new();
        collect("apps/x/base", &entry, &mut files).expect("collects");
        assert_eq!(files["apps/x/base/kustomization.yaml"].mode, "100644");
        assert_eq!(files["apps/x/base/run.sh"].mode, "100755");
        assert_eq!(files["apps/x/base/logo.png"].text, None);
        assert_eq!(
            files["apps/x/base/kustomization.yaml"].text.as_deref(),
            Some("images: []\n")
        );
    }
}
