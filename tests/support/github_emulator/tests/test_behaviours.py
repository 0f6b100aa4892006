"""GitHub's behaviour (behaviours.py), one test per rule: what GitHub does, not only what its
answers look like."""

import json

import pytest

from emu_harness import COMMIT, commit_input, head_oid

REPO_Q = '{ repository(owner: "acme", name: "fleet") { id } }'
PR_Q = """query($n: Int!) { repository(owner: "acme", name: "fleet") { pullRequest(number: $n) {
  id state closed merged headRefOid mergeable mergeStateStatus } } }"""
REF_ID_Q = 'query($q: String!) { repository(owner: "acme", name: "fleet") { ref(qualifiedName: $q) { id } } }'
UPDATE_REF = """mutation($i: UpdateRefInput!) { updateRef(input: $i) { ref { target { oid } } } }"""
DELETE_REF = """mutation($i: DeleteRefInput!) { deleteRef(input: $i) { clientMutationId } }"""
CREATE_REF = """mutation($i: CreateRefInput!) { createRef(input: $i) { ref { name } } }"""
REOPEN = """mutation($i: ReopenPullRequestInput!) { reopenPullRequest(input: $i) { pullRequest { state } } }"""
FORCE_PUSHED = "state cannot be changed. The promote/web branch was force-pushed or recreated."


def main_sha(emu):
    return emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main").json()["object"]["sha"]


def open_pr(emu, branch="promote/web", files=None):
    """A branch with one commit over main and an open pull request from it; returns the PR number."""
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": branch,
                               "files": files or {"apps/web/kustomization.yaml": "newTag: v9\n"}})
    r = emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": "Promote", "head": branch, "base": "main"})
    assert r.status_code == 201, r.text
    return r.json()["number"]


def pull(emu, number):
    return emu.rest("GET", f"/repos/acme/fleet/pulls/{number}").json()


def reopen_rest(emu, number):
    return emu.rest("PATCH", f"/repos/acme/fleet/pulls/{number}", json={"state": "open"})


def assert_closed_for_good(emu, number, message=FORCE_PUSHED):
    got = pull(emu, number)
    assert got["state"] == "closed" and got["merged"] is False and got["merged_at"] is None
    r = reopen_rest(emu, number)
    assert r.status_code == 422, r.text
    assert r.json()["message"] == "Validation Failed"
    assert r.json()["errors"] == [{"resource": "PullRequest", "code": "custom", "field": "state",
                                   "message": message}]
    assert pull(emu, number)["state"] == "closed"


def ref_id(emu, branch):
    return emu.gql(REF_ID_Q, {"q": f"refs/heads/{branch}"})["data"]["repository"]["ref"]["id"]


def repo_id(emu):
    return emu.gql(REPO_Q)["data"]["repository"]["id"]


# ---------------------------------------------------------------- a head with no commits closes the PR
def _force_rest(emu, base):
    r = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/promote/web", json={"sha": base, "force": True})
    assert r.status_code == 200, r.text


def _force_graphql(emu, base):
    r = emu.gql(UPDATE_REF, {"i": {"refId": ref_id(emu, "promote/web"), "oid": base, "force": True}})
    assert "errors" not in r, r


def _recreate_rest(emu, base):
    assert emu.rest("DELETE", "/repos/acme/fleet/git/refs/heads/promote/web").status_code == 204
    r = emu.rest("POST", "/repos/acme/fleet/git/refs", json={"ref": "refs/heads/promote/web", "sha": base})
    assert r.status_code == 201, r.text


def _recreate_graphql(emu, base):
    assert "errors" not in emu.gql(DELETE_REF, {"i": {"refId": ref_id(emu, "promote/web")}})
    r = emu.gql(CREATE_REF, {"i": {"repositoryId": repo_id(emu), "name": "refs/heads/promote/web", "oid": base}})
    assert "errors" not in r, r


@pytest.mark.parametrize("move", [_force_rest, _force_graphql])
def test_head_reset_onto_base_closes_the_pr_for_good(emu, move):
    number = open_pr(emu)
    move(emu, main_sha(emu))
    assert_closed_for_good(emu, number)
    state = emu.ctl("GET", "repos/acme/fleet")["pulls"][0]
    assert state["closed_reason"] == "head_force_pushed_without_commits"
    # a later commit on the branch (the action's reset-then-commit) does not revive it
    head = head_oid(emu, "promote/web")
    c = emu.gql(COMMIT, commit_input(head, additions=[("apps/web/kustomization.yaml", "newTag: v10\n")],
                                     branch="promote/web"))
    assert "errors" not in c, c
    assert_closed_for_good(emu, number)
    assert emu.rest("GET", "/repos/acme/fleet/pulls",
                    params={"head": "acme:promote/web", "state": "open"}).json() == []
    # GraphQL says the same, and refuses to reopen with the same words
    pr_id = pull(emu, number)["node_id"]
    reopen = emu.gql(REOPEN, {"i": {"pullRequestId": pr_id}})
    assert reopen["errors"][0]["type"] == "UNPROCESSABLE"
    assert reopen["errors"][0]["message"] == FORCE_PUSHED
    upd = emu.gql("""mutation($i: UpdatePullRequestInput!) { updatePullRequest(input: $i) {
        pullRequest { state } } }""", {"i": {"pullRequestId": pr_id, "state": "OPEN"}})
    assert upd["errors"][0]["message"] == FORCE_PUSHED
    got = emu.gql(PR_Q, {"n": number})["data"]["repository"]["pullRequest"]
    assert got["state"] == "CLOSED" and got["closed"] is True and got["merged"] is False
    # a new pull request is needed: it gets a new number
    again = emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": "t", "head": "promote/web", "base": "main"})
    assert again.status_code == 201 and again.json()["number"] == number + 1
    assert emu.violations() == []


@pytest.mark.parametrize("move", [_recreate_rest, _recreate_graphql])
def test_head_deleted_and_recreated_at_base_stays_closed(emu, move):
    number = open_pr(emu)
    move(emu, main_sha(emu))
    # deleting the head closed it; recreating the branch at the base does not reopen it
    assert emu.ctl("GET", "repos/acme/fleet")["pulls"][0]["closed_reason"] == "head_branch_deleted"
    assert_closed_for_good(emu, number)
    assert emu.violations() == []


def test_a_force_push_that_keeps_commits_keeps_the_pr_open(emu):
    number = open_pr(emu)
    base = main_sha(emu)
    old_head = pull(emu, number)["head"]["sha"]
    # a commit built off the branch, on the base: the PR branch moves once, from its old head
    tree = emu.rest("GET", f"/repos/acme/fleet/git/commits/{base}").json()["tree"]["sha"]
    t = emu.rest("POST", "/repos/acme/fleet/git/trees", json={"base_tree": tree, "tree": [
        {"path": "apps/web/kustomization.yaml", "mode": "100644", "type": "blob", "content": "newTag: v11\n"}]})
    c = emu.rest("POST", "/repos/acme/fleet/git/commits", json={"message": "m", "tree": t.json()["sha"],
                                                               "parents": [base]}).json()
    assert emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/promote/web",
                    json={"sha": c["sha"], "force": True}).status_code == 200
    got = pull(emu, number)
    assert got["state"] == "open" and got["head"]["sha"] == c["sha"] != old_head
    assert got["commits"] == 1
    assert emu.git("acme/fleet", "rev-parse", f"refs/pull/{number}/head").strip() == c["sha"]
    assert emu.violations() == []


def test_an_ordinary_push_updates_the_open_pr(emu):
    number = open_pr(emu)
    head = head_oid(emu, "promote/web")
    c = emu.gql(COMMIT, commit_input(head, additions=[("apps/api/kustomization.yaml", "newTag: v3\n")],
                                     branch="promote/web"))
    new = c["data"]["createCommitOnBranch"]["commit"]["oid"]
    got = pull(emu, number)
    assert got["state"] == "open" and got["head"]["sha"] == new and got["commits"] == 2
    assert emu.violations() == []


# ---------------------------------------------------------------- merged when the base contains the head
def test_a_fast_forward_of_the_base_to_the_head_marks_the_pr_merged(emu):
    number = open_pr(emu)
    head = pull(emu, number)["head"]["sha"]
    r = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/main", json={"sha": head})
    assert r.status_code == 200, r.text
    got = pull(emu, number)
    assert got["state"] == "closed" and got["merged"] is True and got["merged_by"]["login"] == "promoter-bot"
    assert got["merge_commit_sha"] == head
    assert emu.rest("GET", f"/repos/acme/fleet/pulls/{number}/merge").status_code == 204
    assert emu.ctl("GET", "repos/acme/fleet")["pulls"][0]["closed_reason"] == "merged_by_a_push_to_the_base"
    r = reopen_rest(emu, number)
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "Cannot reopen a merged pull request"
    assert emu.violations() == []


def test_a_merge_commit_pushed_to_the_base_marks_the_pr_merged(emu):
    number = open_pr(emu)
    head = pull(emu, number)["head"]["sha"]
    base = main_sha(emu)
    tree = emu.rest("GET", f"/repos/acme/fleet/git/commits/{head}").json()["tree"]["sha"]
    m = emu.rest("POST", "/repos/acme/fleet/git/commits", json={"message": "merge by hand", "tree": tree,
                                                               "parents": [base, head]}).json()
    r = emu.gql(UPDATE_REF, {"i": {"refId": ref_id(emu, "main"), "oid": m["sha"]}})
    assert "errors" not in r, r
    got = emu.gql(PR_Q, {"n": number})["data"]["repository"]["pullRequest"]
    assert got["state"] == "MERGED" and got["merged"] is True
    assert emu.violations() == []


def test_merging_one_pr_merges_a_pr_whose_head_it_contains(emu):
    first = open_pr(emu, "stack/a", {"a": "1\n"})
    head_a = pull(emu, first)["head"]["sha"]
    # stack/b = stack/a + one commit; a PR from stack/a's first commit's branch is contained in it
    emu.rest("POST", "/repos/acme/fleet/git/refs", json={"ref": "refs/heads/stack/a0", "sha": head_a})
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "stack/a", "files": {"a2": "1\n"}})
    inner = emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": "inner", "head": "stack/a0", "base": "main"})
    assert inner.status_code == 201
    assert pull(emu, first)["head"]["sha"] != head_a
    pull(emu, first)  # mergeability computed
    r = emu.rest("PUT", f"/repos/acme/fleet/pulls/{first}/merge", json={"merge_method": "merge"})
    assert r.status_code == 200, r.text
    got = pull(emu, inner.json()["number"])
    assert got["merged"] is True and got["state"] == "closed"
    assert emu.violations() == []


# ---------------------------------------------------------------- deleting branches
def test_deleting_the_head_branch_closes_the_pr_and_restoring_it_allows_a_reopen(emu):
    number = open_pr(emu)
    head = pull(emu, number)["head"]["sha"]
    assert emu.rest("DELETE", "/repos/acme/fleet/git/refs/heads/promote/web").status_code == 204
    assert_closed_for_good(emu, number, "state cannot be changed. The promote/web branch has been deleted.")
    # GitHub's "Restore branch": the same head again, so the PR may be reopened
    emu.rest("POST", "/repos/acme/fleet/git/refs", json={"ref": "refs/heads/promote/web", "sha": head})
    r = reopen_rest(emu, number)
    assert r.status_code == 200 and r.json()["state"] == "open" and r.json()["head"]["sha"] == head
    assert emu.violations() == []


def test_deleting_the_base_branch_closes_its_prs(emu):
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "release", "files": {"r": "1\n"}})
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "fix", "files": {"f": "1\n"}})
    pr = emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": "t", "head": "fix", "base": "release"}).json()
    assert emu.rest("DELETE", "/repos/acme/fleet/git/refs/heads/release").status_code == 204
    got = pull(emu, pr["number"])
    assert got["state"] == "closed" and got["merged"] is False
    assert emu.ctl("GET", "repos/acme/fleet")["pulls"][0]["closed_reason"] == "base_branch_deleted"
    assert emu.violations() == []


def test_automatic_deletion_after_a_merge_retargets_prs_based_on_the_head(tmp_path, emu):
    emu.repo("acme", "auto", files={"a": "1\n"}, delete_branch_on_merge=True)
    emu.token("t-auto", "promoter-bot", {"acme/auto": "write"})
    emu.ctl("POST", "commit", {"repo": "acme/auto", "branch": "feature", "files": {"a": "2\n"}})
    emu.ctl("POST", "commit", {"repo": "acme/auto", "branch": "feature-2", "files": {"a": "2\n"}})
    emu.ctl("POST", "commit", {"repo": "acme/auto", "branch": "feature-2", "files": {"b": "1\n"}})
    one = emu.rest("POST", "/repos/acme/auto/pulls", token="t-auto",
                   json={"title": "1", "head": "feature", "base": "main"}).json()
    # feature-2 was cut from main too; base it on feature
    two = emu.rest("POST", "/repos/acme/auto/pulls", token="t-auto",
                   json={"title": "2", "head": "feature-2", "base": "feature"}).json()
    r = emu.rest("PUT", f"/repos/acme/auto/pulls/{one['number']}/merge", token="t-auto", json={})
    assert r.status_code == 200, r.text
    assert emu.rest("GET", "/repos/acme/auto/git/ref/heads/feature", token="t-auto").status_code == 404
    got = emu.rest("GET", f"/repos/acme/auto/pulls/{two['number']}", token="t-auto").json()
    assert got["state"] == "open" and got["base"]["ref"] == "main"
    assert emu.violations() == []


# ---------------------------------------------------------------- reopening, base changes
def test_a_pr_closed_by_hand_reopens_after_a_fast_forward_but_not_after_a_force_push(emu):
    number = open_pr(emu)
    assert emu.rest("PATCH", f"/repos/acme/fleet/pulls/{number}", json={"state": "closed"}).json()["state"] == "closed"
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "promote/web", "files": {"more": "1\n"}})
    r = reopen_rest(emu, number)
    assert r.status_code == 200 and r.json()["state"] == "open"
    assert r.json()["head"]["sha"] == head_oid(emu, "promote/web")
    emu.rest("PATCH", f"/repos/acme/fleet/pulls/{number}", json={"state": "closed"})
    # while closed, the branch is rewritten (a different commit, still ahead of main)
    base = main_sha(emu)
    tree = emu.rest("GET", f"/repos/acme/fleet/git/commits/{head_oid(emu, 'promote/web')}").json()["tree"]["sha"]
    c = emu.rest("POST", "/repos/acme/fleet/git/commits",
                 json={"message": "rewritten", "tree": tree, "parents": [base]}).json()
    emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/promote/web", json={"sha": c["sha"], "force": True})
    assert_closed_for_good(emu, number)
    assert emu.violations() == []


def test_the_base_of_a_closed_pr_cannot_change(emu):
    number = open_pr(emu)
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "release", "files": {"r": "1\n"}})
    emu.rest("PATCH", f"/repos/acme/fleet/pulls/{number}", json={"state": "closed"})
    r = emu.rest("PATCH", f"/repos/acme/fleet/pulls/{number}", json={"state": "open", "base": "release"})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"message": "Cannot change the base branch of a closed pull request.",
                                   "resource": "PullRequest", "field": "base", "code": "invalid"}]
    got = pull(emu, number)
    assert got["state"] == "closed" and got["base"]["ref"] == "main"
    g = emu.gql("""mutation($i: UpdatePullRequestInput!) { updatePullRequest(input: $i) { pullRequest { id } } }""",
                {"i": {"pullRequestId": got["node_id"], "baseRefName": "release"}})
    assert g["errors"][0]["type"] == "UNPROCESSABLE"
    assert g["errors"][0]["message"] == "Cannot change the base branch of a closed pull request."
    assert emu.violations() == []


# ---------------------------------------------------------------- mergeability in the background
def test_mergeability_is_unknown_on_the_first_read_after_a_change(emu):
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "promote/web", "files": {"x": "1\n"}})
    pr = emu.gql("""mutation($i: CreatePullRequestInput!) { createPullRequest(input: $i) {
        pullRequest { number } } }""", {"i": {"repositoryId": repo_id(emu), "baseRefName": "main",
                                              "headRefName": "promote/web", "title": "t"}})
    number = pr["data"]["createPullRequest"]["pullRequest"]["number"]
    first = emu.gql(PR_Q, {"n": number})["data"]["repository"]["pullRequest"]
    assert (first["mergeable"], first["mergeStateStatus"]) == ("UNKNOWN", "UNKNOWN")
    second = emu.gql(PR_Q, {"n": number})["data"]["repository"]["pullRequest"]
    assert (second["mergeable"], second["mergeStateStatus"]) == ("MERGEABLE", "CLEAN")
    # a push to the head starts the job again; REST says null, then the value
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "promote/web", "files": {"y": "1\n"}})
    r1 = pull(emu, number)
    assert r1["mergeable"] is None and r1["rebaseable"] is None and r1["mergeable_state"] == "unknown"
    r2 = pull(emu, number)
    assert r2["mergeable"] is True and r2["mergeable_state"] == "clean"
    # so does a push to the base; a conflict shows once the job ran
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "main", "files": {"y": "2\n"}})
    assert pull(emu, number)["mergeable"] is None
    r4 = pull(emu, number)
    assert r4["mergeable"] is False and r4["mergeable_state"] == "dirty"
    # tests that do not care turn the job off
    emu.ctl("POST", "limits", {"mergeability_unknown_reads": 0})
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "promote/web", "files": {"z": "1\n"}})
    assert pull(emu, number)["mergeable_state"] == "dirty"
    assert emu.violations() == []


def test_auto_merge_decides_on_the_computed_state(emu):
    # enablePullRequestAutoMerge right after the PR exists: GitHub knows it is clean
    number = open_pr(emu)
    r = emu.gql("""mutation($i: EnablePullRequestAutoMergeInput!) { enablePullRequestAutoMerge(input: $i) {
        pullRequest { id } } }""", {"i": {"pullRequestId": pull(emu, number)["node_id"], "mergeMethod": "SQUASH"}})
    assert r["errors"][0]["message"] == "Pull request Pull request is in clean status"
    assert emu.violations() == []


# ---------------------------------------------------------------- commits and trees
def test_create_commit_on_branch_writes_plain_files(emu):
    head = head_oid(emu)
    r = emu.gql(COMMIT, commit_input(head, additions=[("bin/tool.sh", "#!/bin/sh\necho changed\n")]))
    assert "errors" not in r, r
    assert emu.git("acme/fleet", "ls-tree", "main", "bin/tool.sh").startswith("100644 blob ")
    assert emu.violations() == []


def test_recursive_tree_listing_is_truncated_past_the_limits(emu):
    full = emu.rest("GET", "/repos/acme/fleet/git/trees/main", params={"recursive": "1"}).json()
    assert full["truncated"] is False and len(full["tree"]) == 8
    assert emu.ctl("GET", "limits")["tree_entries"] == 100_000
    emu.ctl("POST", "limits", {"tree_entries": 4})
    cut = emu.rest("GET", "/repos/acme/fleet/git/trees/main", params={"recursive": "1"}).json()
    assert cut["truncated"] is True and cut["tree"] == full["tree"][:4]
    emu.ctl("POST", "limits", {"tree_entries": 0, "tree_bytes": 700})
    small = emu.rest("GET", "/repos/acme/fleet/git/trees/main", params={"recursive": "1"}).json()
    assert small["truncated"] is True and 0 < len(small["tree"]) < 8
    assert small["tree"] == full["tree"][:len(small["tree"])]
    assert len(json.dumps(small["tree"])) <= 700 < len(json.dumps(full["tree"][:len(small["tree"]) + 1]))
    # GitHub: any value of `recursive` recurses, "0" and "false" included
    zero = emu.rest("GET", "/repos/acme/fleet/git/trees/main", params={"recursive": "0"}).json()
    assert zero["truncated"] is True
    # a listing of one level is not truncated
    top = emu.rest("GET", "/repos/acme/fleet/git/trees/main").json()
    assert top["truncated"] is False and {e["path"] for e in top["tree"]} == {"README.md", "apps", "bin"}
    assert emu.violations() == []


def test_commit_file_is_null_for_a_missing_path(emu):
    q = """{ repository(owner: "acme", name: "fleet") { object(expression: "main") { ... on Commit {
        present: file(path: "apps/web/kustomization.yaml") { path mode object { ... on Blob { text } } }
        missing: file(path: "apps/nope/kustomization.yaml") { path }
        under_a_file: file(path: "README.md/x") { path } } } } }"""
    r = emu.gql(q)
    assert "errors" not in r, r
    c = r["data"]["repository"]["object"]
    assert c["present"]["path"] == "apps/web/kustomization.yaml" and c["present"]["mode"] == 0o100644
    assert c["missing"] is None and c["under_a_file"] is None
    assert emu.violations() == []


# ---------------------------------------------------------------- rate limits
def test_rate_limit_presets(emu):
    cases = {
        "rate_limit_403": (403, "0", False),
        "rate_limit": (429, "0", False),
        "secondary_rate_limit": (403, "4990", True),
        "secondary_rate_limit_429": (429, "4990", True),
        "secondary_rate_limit_no_retry_after": (403, "4990", False),
        "content_creation_limit": (403, "4990", False),
    }
    for kind, (status, remaining, retry_after) in cases.items():
        emu.ctl("POST", "faults", {"kind": kind, "path_regex": "^/repos/acme/fleet$", "count": 1})
        r = emu.rest("GET", "/repos/acme/fleet")
        assert r.status_code == status, kind
        assert r.headers["x-ratelimit-remaining"] == remaining, kind
        assert ("retry-after" in r.headers) is retry_after, kind
        assert int(r.headers["x-ratelimit-reset"]) > 0
        assert "rate limit" in r.json()["message"], kind
    assert "content creation" in r.json()["message"]
    assert emu.rest("GET", "/repos/acme/fleet").status_code == 200
    for kind, typ in (("graphql_rate_limited", "RATE_LIMITED"), ("graphql_rate_limit", "RATE_LIMIT")):
        emu.ctl("POST", "faults", {"kind": kind, "path_regex": "^/graphql$", "count": 1})
        r = emu.gql("{ viewer { login } }")  # HTTP 200
        assert "data" not in r and r["errors"][0]["type"] == typ
    assert emu.gql("{ viewer { login } }")["data"]["viewer"]["login"] == "promoter-bot"
    assert emu.violations() == []


def test_primary_rate_limit_by_load(emu):
    emu.ctl("POST", "limits", {"core_per_hour": 3, "graphql_per_hour": 2})
    seen = [emu.rest("GET", "/repos/acme/fleet") for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining"] for r in seen] == ["2", "1", "0"]
    # GET /rate_limit does not count
    assert emu.rest("GET", "/rate_limit").json()["resources"]["core"]["remaining"] == 0
    over = emu.rest("GET", "/repos/acme/fleet")
    assert over.status_code == 403 and over.headers["x-ratelimit-remaining"] == "0"
    assert over.json()["message"].startswith("API rate limit exceeded for user ID ")
    assert int(over.headers["x-ratelimit-reset"]) == int(seen[0].headers["x-ratelimit-reset"])
    for _ in range(2):
        assert "errors" not in emu.gql("{ viewer { login } }")
    r = emu.gql("{ viewer { login } }")  # still HTTP 200
    assert r["errors"][0]["type"] == "RATE_LIMITED" and "data" not in r
    # other logins have their own budget
    assert emu.rest("GET", "/repos/acme/fleet", token="t-read").status_code == 200
    assert emu.violations() == []


def test_content_creation_limit_by_load(emu):
    emu.ctl("POST", "limits", {"content_per_minute": 2})
    assert emu.ctl("GET", "limits")["content_per_hour"] == 500
    # a write that fails creates nothing and does not count
    assert emu.rest("POST", "/repos/acme/fleet/git/refs", json={"ref": "refs/heads/main",
                                                                "sha": main_sha(emu)}).status_code == 422
    for i in range(2):
        assert emu.rest("POST", "/repos/acme/fleet/git/blobs", json={"content": str(i)}).status_code == 201
    blocked = emu.rest("POST", "/repos/acme/fleet/git/blobs", json={"content": "3"})
    assert blocked.status_code == 403
    assert "temporarily blocked from content creation" in blocked.json()["message"]
    assert "retry-after" not in blocked.headers and blocked.headers["x-ratelimit-remaining"] != "0"
    # GraphQL mutations count against the same budget; reads go on
    head = head_oid(emu)
    r = emu.http.post(emu.url + "/graphql", json={"query": COMMIT, "variables": commit_input(head)},
                      headers={"Authorization": "bearer t-write"})
    assert r.status_code == 403 and "content creation" in r.json()["message"]
    assert emu.rest("GET", "/repos/acme/fleet").status_code == 200
    assert head_oid(emu) == head
    assert emu.violations() == []


def test_limits_are_validated_and_reset(emu):
    bad = emu.http.post(emu.url + "/_emulator/limits", json={"tree_rows": 1})
    assert bad.status_code == 400 and "unknown limits" in bad.json()["error"]
    assert emu.http.post(emu.url + "/_emulator/limits", json={"tree_entries": -1}).status_code == 400
    emu.ctl("POST", "limits", {"tree_entries": 7})
    emu.ctl("POST", "reset")
    assert emu.ctl("GET", "limits") == {"tree_entries": 100_000, "tree_bytes": 7 * 1024 * 1024,
                                        "content_per_minute": 80, "content_per_hour": 500,
                                        "core_per_hour": 5000, "graphql_per_hour": 5000,
                                        "mergeability_unknown_reads": 1}


# ---------------------------------------------------------------- a lost answer after a write
def test_a_lost_answer_after_a_write_may_have_taken_effect(emu):
    emu.ctl("POST", "faults", {"kind": "bad_gateway", "path_regex": "^/graphql$",
                               "graphql_field": "createCommitOnBranch", "lose_response": True})
    head = head_oid(emu)
    r = emu.http.post(emu.url + "/graphql", json={"query": COMMIT, "variables": commit_input(
        head, additions=[("apps/web/kustomization.yaml", "newTag: lost\n")])},
        headers={"Authorization": "bearer t-write"})
    assert r.status_code == 502
    # the commit landed: re-sending blindly would now fail (STALE_DATA) or duplicate it
    assert head_oid(emu) != head
    assert emu.git("acme/fleet", "show", "main:apps/web/kustomization.yaml") == "newTag: lost\n"
    entry = [e for e in emu.requests_log() if e.get("fault")][-1]
    assert entry["status"] == 502 and entry["served_status"] == 200
    again = emu.gql(COMMIT, commit_input(head, additions=[("apps/web/kustomization.yaml", "newTag: lost\n")]))
    assert again["errors"][0]["type"] == "STALE_DATA"
    assert emu.violations() == []
