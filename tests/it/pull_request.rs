//! Pull request mode against GitHub's behaviour (issue 9): a pull request whose head branch is
//! moved so that it has no commits its base lacks is closed by GitHub for good, so the action
//! must never leave its open pull request with zero commits, not even for a moment.

use serde_json::Value;

use crate::github::{commit_count, example, promote};
use crate::support::github::Emulator;

const BRANCH: &str = "gitops-promote/sample-saas-app";

fn pull_requests(emu: &Emulator) -> Vec<Value> {
    let state = emu.control(
        "GET",
        &format!("/_emulator/repos/{}", emu.full_name()),
        Value::Null,
    );
    state["pulls"].as_array().cloned().unwrap_or_default()
}

fn pr_run(emu: &Emulator, images: &str, tag: &str) -> crate::support::Result {
    promote(emu)
        .input("mode", "pull_request")
        .input("images", images)
        .input("tag", tag)
        .output()
}

fn show(emu: &Emulator, path: &str) -> String {
    emu.git(&["show", &format!("{BRANCH}:apps/sample-saas-app/{path}")])
}

/// Issue 9, defect 1: every second run closed the pull request (the branch was reset onto the
/// base before the commit), so reviews were lost and a new pull request opened.
#[test]
fn reruns_update_the_same_open_pull_request() {
    let emu = example();
    for tag in ["sha-1111111", "sha-2222222", "sha-3333333"] {
        pr_run(&emu, "backend,frontend", tag).success();
    }
    let prs = pull_requests(&emu);
    assert_eq!(prs.len(), 1, "one pull request, never closed: {prs:#?}");
    assert_eq!(prs[0]["state"], "open", "{prs:#?}");
    assert_eq!(prs[0]["merged"], false);
    assert!(show(&emu, "base/kustomization.yaml").contains("sha-3333333"));
    // One commit on the base's head: the pull request shows exactly this run's change.
    assert_eq!(
        emu.git(&["rev-parse", &format!("{BRANCH}^")]),
        emu.git(&["rev-parse", "main"])
    );
    assert_eq!(
        commit_count(&emu, "main"),
        1,
        "the base branch is untouched"
    );
    emu.assert_no_violations();
}

/// The branch moves once per run, straight to the new commit: one `updateRefs`, no reset, no
/// commit made on the branch itself, and no temporary branch left behind.
#[test]
fn the_branch_moves_once_per_run_and_no_temporary_branch_is_left() {
    let emu = example();
    pr_run(&emu, "backend,frontend", "sha-1111111").success();
    let since = emu.requests().len();
    pr_run(&emu, "backend,frontend", "sha-2222222").success();
    let run: Vec<Value> = emu.requests().into_iter().skip(since).collect();
    let fields: Vec<String> = run
        .iter()
        .flat_map(|r| {
            r["graphql"]["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        fields.iter().filter(|f| *f == "updateRefs").count(),
        1,
        "{fields:?}"
    );
    assert!(
        !run.iter().any(|r| r["method"] == "PATCH"),
        "no REST ref update: {run:#?}"
    );
    let branches = emu.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    assert_eq!(
        branches.lines().collect::<Vec<_>>(),
        [BRANCH, "main"],
        "{branches}"
    );
    emu.assert_no_violations();
}

/// A run stopped between building its commit and moving the pull request branch (its deadline,
/// or a cancelled job) leaves its temporary branch. A later run deletes those named as the
/// action names them whose commit is over an hour old: never a fresh one (a run in flight may
/// hold it) nor a branch that only looks alike.
#[test]
fn a_later_run_deletes_the_temporary_branches_earlier_runs_left() {
    let emu = example();
    let two_hours_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        - 2 * 60 * 60;
    let leave = |suffix: &str, date: u64| {
        emu.control(
            "POST",
            "/_emulator/commit",
            serde_json::json!({
                "repo": emu.full_name(), "branch": format!("{BRANCH}-tmp-{suffix}"),
                "files": { "README.md": "built, never moved\n" }, "author": { "date": date },
            }),
        );
    };
    leave("0123456789ab", two_hours_ago);
    leave("c0ffee00c0ff", two_hours_ago);
    leave("abcdefabcdef", two_hours_ago + 2 * 60 * 60 - 60);
    leave("not-ours", two_hours_ago);

    let out = pr_run(&emu, "backend,frontend", "sha-1111111").success();
    assert!(
        out.stdout().contains(&format!(
            "deleting `{BRANCH}-tmp-0123456789ab`, a temporary branch an earlier run left"
        )),
        "{}",
        out.stdout()
    );
    let branches = emu.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    assert_eq!(
        branches.lines().collect::<Vec<_>>(),
        [
            BRANCH,
            &format!("{BRANCH}-tmp-abcdefabcdef"),
            &format!("{BRANCH}-tmp-not-ours"),
            "main"
        ],
        "{branches}"
    );
    emu.assert_no_violations();
}

/// A run moved the PR branch but has not opened the pull request yet (or failed to): a run
/// meanwhile keeps that promotion too. (The soak caught it losing one: only an open pull
/// request's promotions were replayed.) A branch a closed pull request left is not replayed.
#[test]
fn a_pr_branch_whose_pull_request_is_not_open_yet_keeps_its_promotions() {
    let emu = example();
    emu.fault(serde_json::json!({
        "path_regex": "^/graphql$", "graphql_field": "createPullRequest", "count": -1,
        "status": 502, "body": "<html>502</html>",
    }));
    let first = pr_run(&emu, "backend", "sha-1111111");
    assert_eq!(first.code(), Some(1), "{}", first.all());
    assert!(pull_requests(&emu).is_empty());
    // The fault stays, scoped to this token: the second run uses another.
    let writer = emu.add_token("second", "write");
    promote(&emu)
        .input("gitops_repo_token", &writer)
        .input("mode", "pull_request")
        .input("images", "frontend")
        .input("tag", "sha-2222222")
        .output()
        .success();
    let base = show(&emu, "base/kustomization.yaml");
    assert!(base.contains("newTag: sha-1111111"), "{base}");
    assert!(base.contains("newTag: sha-2222222"), "{base}");
    assert_eq!(pull_requests(&emu).len(), 1);
    emu.assert_no_violations();
}

/// A branch a closed pull request left keeps its old values: a later run does not carry them
/// into its new pull request.
#[test]
fn a_pr_branch_a_closed_pull_request_left_is_not_replayed() {
    let emu = example();
    pr_run(&emu, "backend", "sha-1111111").success();
    let number = pull_requests(&emu)[0]["number"].as_u64().expect("a number");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let closed = agent
        .patch(&format!(
            "{}/repos/{}/pulls/{number}",
            emu.url,
            emu.full_name()
        ))
        .header("Authorization", &format!("Bearer {}", emu.token))
        .send_json(serde_json::json!({ "state": "closed" }))
        .expect("closed");
    assert_eq!(closed.status(), 200);
    pr_run(&emu, "frontend", "sha-2222222").success();
    let base = show(&emu, "base/kustomization.yaml");
    assert!(!base.contains("sha-1111111"), "{base}");
    assert!(base.contains("newTag: sha-2222222"), "{base}");
    emu.assert_no_violations();
}

/// Runs promoting different images into one pull request keep each other's promotions: the
/// rebuilt commit replays what the open pull request already carried.
#[test]
fn a_later_run_keeps_the_promotions_the_pull_request_already_carries() {
    let emu = example();
    pr_run(&emu, "backend", "sha-1111111").success();
    pr_run(&emu, "frontend", "sha-2222222").success();
    let platform = show(&emu, "overlays/platform/kustomization.yaml");
    // backend from the first run, frontend from the second.
    assert_eq!(platform.matches("sha-1111111").count(), 1, "{platform}");
    assert_eq!(platform.matches("sha-2222222").count(), 1, "{platform}");
    assert_eq!(pull_requests(&emu).len(), 1);
    emu.assert_no_violations();
}

/// When the base already carries the values, the pull request is left as it is.
#[test]
fn when_the_base_already_has_the_values_the_pull_request_is_left_alone() {
    let emu = example();
    pr_run(&emu, "backend,frontend", "sha-1111111").success();
    let head = emu.git(&["rev-parse", BRANCH]);
    // Someone promotes the same values on the base directly.
    let mut files = serde_json::Map::new();
    for path in [
        "apps/sample-saas-app/base/kustomization.yaml",
        "apps/sample-saas-app/overlays/platform/kustomization.yaml",
        "apps/sample-saas-app/overlays/analytics/kustomization.yaml",
    ] {
        let text = emu.git(&["show", &format!("{BRANCH}:{path}")]);
        files.insert(path.to_owned(), Value::String(text));
    }
    emu.control(
        "POST",
        "/_emulator/commit",
        serde_json::json!({ "repo": emu.full_name(), "branch": "main", "files": files }),
    );
    let out = pr_run(&emu, "backend,frontend", "sha-1111111").success();
    assert!(out.all().contains("already carries"), "{}", out.all());
    assert_eq!(
        emu.git(&["rev-parse", BRANCH]),
        head,
        "the branch did not move"
    );
    emu.assert_no_violations();
}

/// A re-run with the values the pull request already has changes nothing.
#[test]
fn the_same_values_again_leave_the_pull_request_as_it_is() {
    let emu = example();
    pr_run(&emu, "backend,frontend", "sha-1111111").success();
    let head = emu.git(&["rev-parse", BRANCH]);
    let out = pr_run(&emu, "backend,frontend", "sha-1111111").success();
    assert!(out.all().contains("already carries"), "{}", out.all());
    assert_eq!(emu.git(&["rev-parse", BRANCH]), head);
    assert_eq!(pull_requests(&emu).len(), 1);
    emu.assert_no_violations();
}

/// An older GitHub Enterprise Server without `createCommitOnBranch` and `updateRefs`: the commit
/// goes through the REST Git Data API and the branch moves by REST, the pull request stays open.
#[test]
fn an_older_enterprise_server_without_the_mutations_uses_rest() {
    let emu = example();
    emu.control(
        "POST",
        "/_emulator/schema",
        serde_json::json!({ "hide_mutations": ["createCommitOnBranch", "updateRefs"] }),
    );
    for tag in ["sha-1111111", "sha-2222222"] {
        pr_run(&emu, "backend,frontend", tag).success();
    }
    let prs = pull_requests(&emu);
    assert_eq!(prs.len(), 1, "{prs:#?}");
    assert_eq!(prs[0]["state"], "open");
    assert!(show(&emu, "base/kustomization.yaml").contains("sha-2222222"));
    let branches = emu.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    assert_eq!(branches.lines().count(), 2, "{branches}");
    emu.assert_no_violations();
}
