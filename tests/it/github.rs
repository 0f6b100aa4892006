//! Landing the change on GitHub: the real binary against the GitHub emulator, whose state is a
//! real git repository and whose every request and response is checked against GitHub's
//! official OpenAPI description and GraphQL schema.

use std::fs;

use serde_json::{Value, json};

use crate::support::github::Emulator;
use crate::support::{Run, repo_root};

const TAG: &str = "sha-1a2b3c4";
const SOURCE_SHA: &str = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
const FILES: [&str; 3] = [
    "apps/sample-saas-app/base/kustomization.yaml",
    "apps/sample-saas-app/overlays/analytics/kustomization.yaml",
    "apps/sample-saas-app/overlays/platform/kustomization.yaml",
];

/// The example GitOps repository, as a repository of the test's own on the shared emulator.
pub(crate) fn example() -> Emulator {
    Emulator::shared(&repo_root().join("examples/flux-gitops-pipeline"))
}

/// A run on GitHub Actions promoting into the emulated repository.
pub(crate) fn promote(emu: &Emulator) -> Run {
    Run::actions()
        .env("GITHUB_API_URL", &emu.url)
        .env("GITHUB_GRAPHQL_URL", format!("{}/graphql", emu.url))
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "777")
        .input("gitops_repo", emu.full_name())
        .input("gitops_repo_token", &emu.token)
        .input("images", "backend,frontend")
        .input("verify_images", "false")
        .input("tag", TAG)
        .input("paths", "apps/sample-saas-app/base, apps/sample-saas-app/overlays/platform, apps/sample-saas-app/overlays/analytics")
}

pub(crate) fn commit_count(emu: &Emulator, branch: &str) -> usize {
    emu.git(&["rev-list", "--count", branch])
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn promotes_three_files_in_one_verified_commit_on_the_branch() {
    let emu = example();
    let seed = emu.git(&["rev-parse", "main"]).trim().to_owned();
    let out = promote(&emu).output().success();

    assert_eq!(commit_count(&emu, "main"), 2);
    assert_eq!(
        emu.git(&["rev-parse", "main^"]).trim(),
        seed,
        "the commit's parent is the head it read"
    );
    let changed = emu.git(&["diff", "--name-only", "main^", "main"]);
    assert_eq!(changed.lines().collect::<Vec<_>>(), FILES);
    for file in FILES {
        let before = emu.git(&["show", &format!("main^:{file}")]);
        let after = emu.git(&["show", &format!("main:{file}")]);
        assert_eq!(
            before.replace("sha-0000000", TAG),
            after,
            "{file}: only the tags change"
        );
    }
    let message = emu.git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        message.starts_with(&format!(
            "chore(sample-saas-app): promote backend, frontend to {TAG}\n\n"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "apps/sample-saas-app/base/kustomization.yaml: backend sha-0000000 -> {TAG}"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "Source-Commit: https://github.com/example-org/sample-saas-app/commit/{SOURCE_SHA}"
        )),
        "{message}"
    );
    assert!(
        message.contains(
            "Workflow-Run: https://github.com/example-org/sample-saas-app/actions/runs/777"
        ),
        "{message}"
    );
    emu.git(&["fsck", "--strict"]);
    assert!(out.stdout().contains("(verified)"), "{}", out.stdout());
    assert!(
        !out.all()
            .lines()
            .any(|l| !l.starts_with("::add-mask::") && l.contains(&emu.token)),
        "the token leaked"
    );
    // Few round trips: head, tree, files, commit.
    let api_calls = emu.requests().len();
    assert!(api_calls <= 4, "{api_calls} requests");
    emu.assert_no_violations();
}

#[test]
fn the_same_promotion_again_changes_nothing_and_says_so() {
    let emu = example();
    promote(&emu).output().success();
    let out = promote(&emu).output().success();
    assert!(
        out.stdout().contains("::notice::nothing to change"),
        "{}",
        out.stdout()
    );
    assert_eq!(commit_count(&emu, "main"), 2);
    emu.assert_no_violations();
}

#[test]
fn another_writer_between_read_and_write_is_kept_and_the_run_retries() {
    let emu = example();
    emu.fault(json!({
        "method": "POST", "path_regex": "graphql$", "graphql_field": "createCommitOnBranch",
        "commit": { "repo": emu.full_name(), "branch": "main", "files": { "README.md": "edited by someone else\n" }, "message": "docs: another writer" },
    }));
    promote(&emu).output().success();
    assert_eq!(commit_count(&emu, "main"), 3);
    assert_eq!(
        emu.git(&["log", "-1", "--format=%s", "main^"]).trim(),
        "docs: another writer"
    );
    assert_eq!(
        emu.git(&["show", "main:README.md"]),
        "edited by someone else\n"
    );
    emu.assert_no_violations();
}

#[test]
fn another_writer_that_set_the_same_values_leaves_nothing_to_do() {
    let emu = example();
    let mut files = serde_json::Map::new();
    for file in FILES {
        files.insert(
            file.into(),
            Value::String(
                emu.git(&["show", &format!("main:{file}")])
                    .replace("sha-0000000", TAG),
            ),
        );
    }
    emu.fault(json!({
        "method": "POST", "path_regex": "graphql$", "graphql_field": "createCommitOnBranch",
        "commit": { "repo": emu.full_name(), "branch": "main", "files": files, "message": "a concurrent promotion" },
    }));
    let out = promote(&emu).output().success();
    assert!(
        out.stdout()
            .contains("another run already set these values"),
        "{}",
        out.stdout()
    );
    assert_eq!(commit_count(&emu, "main"), 2);
    emu.assert_no_violations();
}

#[test]
fn bad_gateways_and_rate_limits_are_waited_out_without_a_duplicate_commit() {
    let emu = example();
    emu.fault(json!({ "method": "POST", "path_regex": "graphql$", "graphql_field": "repository", "kind": "bad_gateway", "count": 2 }));
    emu.fault(json!({ "method": "POST", "path_regex": "graphql$", "graphql_field": "createCommitOnBranch", "kind": "secondary_rate_limit" }));
    emu.fault(json!({ "method": "GET", "path_regex": "/git/trees/", "kind": "rate_limit" }));
    promote(&emu).output().success();
    assert_eq!(commit_count(&emu, "main"), 2, "exactly one commit");
    emu.assert_no_violations();
}

#[test]
fn a_commit_whose_answer_was_lost_is_found_not_repeated() {
    let emu = example();
    // The commit lands, but the client sees a 502 (a proxy dropped the answer).
    emu.fault(json!({ "method": "POST", "path_regex": "graphql$", "graphql_field": "createCommitOnBranch", "status": 502, "body": "bad gateway", "lose_response": true }));
    let out = promote(&emu).output();
    assert_eq!(out.code(), Some(0), "{}", out.all());
    assert_eq!(commit_count(&emu, "main"), 2, "exactly one commit");
}

#[test]
fn a_protected_branch_suggests_a_pull_request() {
    let emu = example();
    emu.control(
        "POST",
        "/_emulator/protect",
        json!({ "repo": emu.full_name(), "branch": "main" }),
    );
    let out = promote(&emu).output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(out.all().contains("mode: pull_request"), "{}", out.all());
    assert_eq!(commit_count(&emu, "main"), 1);
    emu.assert_no_violations();
}

#[test]
fn token_problems_say_what_the_token_needs() {
    let emu = example();
    let (reader, stranger) = (
        emu.add_token("reader", "read"),
        emu.add_token("stranger", "none"),
    );
    for (token, needle) in [
        ("ghp_unknown", "401"),
        (reader.as_str(), "contents: write"),
        (stranger.as_str(), "not visible to this token"),
    ] {
        let out = promote(&emu).input("gitops_repo_token", token).output();
        assert_eq!(out.code(), Some(1), "{token}: {}", out.all());
        assert!(out.all().contains(needle), "{token}: {}", out.all());
        assert!(
            !out.all()
                .lines()
                .any(|l| !l.starts_with("::add-mask::") && l.contains(token)),
            "the token leaked"
        );
    }
    assert_eq!(commit_count(&emu, "main"), 1);
}

/// On GitHub Enterprise Server, GraphQL lives at `/api/graphql`. The happy path is two GitHub
/// requests (issue 11): one snapshot read and one mutation.
#[test]
fn enterprise_server_urls_work_in_two_requests() {
    let emu = example();
    promote(&emu)
        .env("GITHUB_API_URL", format!("{}/api/v3", emu.url))
        .env("GITHUB_GRAPHQL_URL", "")
        .output()
        .success();
    assert_eq!(commit_count(&emu, "main"), 2);
    let paths: Vec<String> = emu
        .requests()
        .iter()
        .filter_map(|r| r["path"].as_str().map(str::to_owned))
        .filter(|p| !p.starts_with("/_emulator"))
        .collect();
    assert_eq!(paths, ["/api/graphql", "/api/graphql"]);
    emu.assert_no_violations();
}

#[test]
fn pull_request_mode_opens_one_pull_request_and_updates_it() {
    let emu = example();
    let pr = |tag: &str| {
        promote(&emu)
            .input("mode", "pull_request")
            .input("tag", tag)
            .input("pr_labels", "promotion")
            .input("pr_reviewers", "octocat")
            .output()
    };
    let first = pr("sha-1111111");
    assert_eq!(first.code(), Some(0), "{}", first.all());
    let second = pr("sha-2222222");
    assert_eq!(second.code(), Some(0), "{}", second.all());

    assert_eq!(
        commit_count(&emu, "main"),
        1,
        "the base branch is untouched"
    );
    let state = emu.control(
        "GET",
        &format!("/_emulator/repos/{}", emu.full_name()),
        Value::Null,
    );
    let prs = state["pulls"].as_array().cloned().unwrap_or_default();
    assert_eq!(prs.len(), 1, "one pull request, updated: {state:#}");
    assert_eq!(
        prs[0]["title"],
        "chore(sample-saas-app): promote backend, frontend to sha-2222222"
    );
    assert_eq!(prs[0]["requested_reviewers"], json!(["octocat"]));
    assert!(
        prs[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("| `backend` | `sha-0000000` | `sha-2222222` |")),
        "{state:#}"
    );
    let head = emu.git(&[
        "show",
        "gitops-promote/sample-saas-app:apps/sample-saas-app/base/kustomization.yaml",
    ]);
    assert!(head.contains("sha-2222222"), "{head}");
    assert_eq!(
        emu.git(&["rev-parse", "gitops-promote/sample-saas-app^"]),
        emu.git(&["rev-parse", "main"])
    );
    emu.assert_no_violations();
}

#[test]
fn auto_merge_that_the_repository_does_not_allow_is_a_clear_error() {
    let emu = example();
    let files = tempfile::tempdir().expect("temp dir");
    let output = files.path().join("output");
    fs::write(&output, "").expect("create");
    let out = promote(&emu)
        .env("GITHUB_OUTPUT", &output)
        .input("mode", "pull_request")
        .input("auto_merge", "squash")
        .output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(
        out.all().contains("does not allow auto-merge"),
        "{}",
        out.all()
    );
    // The pull request is open all the same, and the outputs say where.
    let outputs = fs::read_to_string(&output).expect("read");
    assert!(
        outputs.contains("pull_request_number<<") && outputs.contains("/pull/1\n"),
        "{outputs}"
    );
    emu.assert_no_violations();
}

/// Issue 9: fields missing from GitHub's answers became empty strings, so a run could report
/// `commit_sha=""` as a success. An answer without the commit is no clear answer: the run looks
/// at the branch, finds no commit of its own there, and commits once.
#[test]
fn an_answer_without_the_commit_is_never_a_success_with_empty_outputs() {
    let emu = example();
    emu.fault(json!({
        "method": "POST", "path_regex": "^/graphql$", "graphql_field": "createCommitOnBranch",
        "status": 200, "body": { "data": { "createCommitOnBranch": { "commit": null } } },
    }));
    let files = tempfile::tempdir().expect("temp dir");
    let output = files.path().join("output");
    fs::write(&output, "").expect("create");
    promote(&emu)
        .env("GITHUB_OUTPUT", &output)
        .output()
        .success();
    assert_eq!(commit_count(&emu, "main"), 2, "one commit, not two");
    let head = emu.git(&["rev-parse", "main"]);
    let outputs = fs::read_to_string(&output).expect("read");
    assert!(
        outputs.contains(&format!("\n{}\n", head.trim())),
        "commit_sha is the commit made: {outputs}"
    );
    emu.assert_no_violations();
}

/// An older GitHub Enterprise Server without `createCommitOnBranch`: the REST Git Data path.
#[test]
fn without_create_commit_on_branch_the_rest_path_commits() {
    let emu = example();
    emu.control(
        "POST",
        "/_emulator/schema",
        json!({ "hide_mutations": ["createCommitOnBranch"] }),
    );
    let out = promote(&emu).output().success();
    assert!(out.all().contains("not signed"), "{}", out.all());
    assert_eq!(commit_count(&emu, "main"), 2);
    emu.assert_no_violations();
}

/// Issue 11: GitHub truncates a recursive listing past 100,000 entries or 7 MB, which a large
/// monorepo passes. The action never lists the repository: it reads each pattern's directory,
/// so it works however large the repository is. A `**` pattern lists only its own subtree, and
/// says so clearly when even that is too large.
#[test]
fn a_monorepo_past_githubs_listing_limit_is_read_by_directory() {
    let seed = crate::support::copy_tree(&repo_root().join("examples/flux-gitops-pipeline"));
    for i in 0..200 {
        let dir = seed.path().join(format!("apps/other-{i:03}/base"));
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("kustomization.yaml"), "resources: []\n").expect("write");
    }
    let emu = Emulator::shared(seed.path());
    // The emulator truncates as GitHub does; here already past 50 entries.
    emu.control("POST", "/_emulator/limits", json!({ "tree_entries": 50 }));
    promote(&emu).output().success();
    assert_eq!(commit_count(&emu, "main"), 2);
    let truncated_listings = emu
        .requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.contains("/git/trees/"))
        })
        .count();
    assert_eq!(truncated_listings, 0, "no listing was asked for");

    // `**` lists only its subtree, which is small enough.
    let out = promote(&emu)
        .input("tag", "sha-3333333")
        .input("paths", "apps/sample-saas-app/**")
        .output()
        .success();
    assert!(
        out.all()
            .contains("apps/sample-saas-app/overlays/production/kustomization.yaml"),
        "{}",
        out.all()
    );
    assert_eq!(commit_count(&emu, "main"), 3);

    let out = promote(&emu)
        .input("tag", "sha-2222222")
        .input("paths", "apps/**")
        .output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(out.all().contains("too many files"), "{}", out.all());
    assert_eq!(commit_count(&emu, "main"), 3, "nothing written");
    emu.assert_no_violations();
}

/// A kustomization that is a symbolic link in the repository is refused, never edited as text.
#[test]
fn a_symlinked_kustomization_on_github_is_refused() {
    let seed = tempfile::tempdir().expect("temp dir");
    let base = seed.path().join("apps/sample-saas-app/base");
    fs::create_dir_all(&base).expect("mkdir");
    fs::write(
        seed.path().join("real.yaml"),
        "images:\n- name: backend\n  newTag: v1\n- name: frontend\n  newTag: v1\n",
    )
    .expect("write");
    std::os::unix::fs::symlink("../../../real.yaml", base.join("kustomization.yaml"))
        .expect("symlink");
    let emu = Emulator::shared(seed.path());
    let out = promote(&emu)
        .input("paths", "apps/sample-saas-app/base")
        .output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(out.all().contains("symbolic link"), "{}", out.all());
    assert_eq!(commit_count(&emu, "main"), 1);
    emu.assert_no_violations();
}

/// An executable kustomization file would lose its mode through `createCommitOnBranch`, so the
/// REST Git Data path commits it: a tree on the base tree, a commit, a fast-forward ref update.
#[test]
fn a_file_mode_graphql_would_lose_goes_through_rest_and_is_kept() {
    use std::os::unix::fs::PermissionsExt;
    let seed = tempfile::tempdir().expect("temp dir");
    let dir = seed.path().join("apps/sample-saas-app/base");
    fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("kustomization.yaml");
    fs::write(
        &file,
        "images:\n  - name: backend\n    newTag: v1\n  - name: frontend\n    newTag: v1\n",
    )
    .expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).expect("chmod");
    let emu = Emulator::shared(seed.path());
    promote(&emu)
        .input("paths", "apps/sample-saas-app/base")
        .output()
        .success();

    assert_eq!(commit_count(&emu, "main"), 2);
    let entry = emu.git(&[
        "ls-tree",
        "main",
        "apps/sample-saas-app/base/kustomization.yaml",
    ]);
    assert!(entry.starts_with("100755 "), "{entry}");
    let text = emu.git(&["show", "main:apps/sample-saas-app/base/kustomization.yaml"]);
    assert_eq!(
        text,
        format!(
            "images:\n  - name: backend\n    newTag: {TAG}\n  - name: frontend\n    newTag: {TAG}\n"
        )
    );
    let requests = emu.requests();
    assert!(
        requests.iter().any(|r| r["method"] == "PATCH"
            && r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/git/refs/heads/main"))),
        "{requests:#?}"
    );
    let patch = requests
        .iter()
        .find(|r| r["method"] == "PATCH")
        .expect("a ref update");
    assert_eq!(patch["body"]["force"], json!(false), "never forced");
    emu.git(&["fsck", "--strict"]);
    emu.assert_no_violations();
}
