"""GraphQL: reads, createCommitOnBranch, STALE_DATA, PR mutations, validation."""

import base64

from emu_harness import COMMIT, commit_input, head_oid

HEAD_AND_BLOBS = """
query Files($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    id
    nameWithOwner
    viewerPermission
    autoMergeAllowed
    defaultBranchRef { name target { oid ... on Commit { committedDate signature { isValid } } } }
    web: object(expression: "main:apps/web/kustomization.yaml") { ... on Blob { oid text byteSize isBinary isTruncated } }
    api: object(expression: "main:apps/api/kustomization.yaml") { ... on Blob { oid text } }
    tool: object(expression: "main:bin/tool.sh") { ... on Blob { text } }
    missing: object(expression: "main:nope.yaml") { oid }
    tree: object(expression: "main:apps") { ... on Tree { entries { name path type mode oid } } }
  }
  viewer { login }
}
"""

def test_seed_and_read_head_and_blobs_in_one_query(emu):
    r = emu.gql(HEAD_AND_BLOBS, {"owner": "acme", "name": "fleet"})
    assert "errors" not in r, r
    repo = r["data"]["repository"]
    assert repo["nameWithOwner"] == "acme/fleet"
    assert repo["viewerPermission"] == "WRITE"
    assert repo["defaultBranchRef"]["name"] == "main"
    head = repo["defaultBranchRef"]["target"]["oid"]
    assert head == emu.git("acme/fleet", "rev-parse", "refs/heads/main").strip()
    assert repo["defaultBranchRef"]["target"]["signature"] is None
    assert repo["web"]["text"] == "images:\n  - name: web\n    newTag: v1.0.0\n"
    assert repo["web"]["byteSize"] == len(repo["web"]["text"]) and repo["web"]["isBinary"] is False
    assert repo["api"]["text"].endswith("newTag: v2.0.0\n")
    assert repo["tool"]["text"].startswith("#!/bin/sh")
    assert repo["missing"] is None
    assert sorted(e["name"] for e in repo["tree"]["entries"]) == ["api", "web"]
    assert repo["tree"]["entries"][0]["path"] == "apps/api"
    assert r["data"]["viewer"]["login"] == "promoter-bot"
    # the executable bit of the seed survived
    assert "100755 blob" in emu.git("acme/fleet", "ls-tree", "main", "bin/tool.sh")
    assert emu.violations() == []


def test_create_commit_on_branch_three_files(emu):
    head = head_oid(emu)
    r = emu.gql(COMMIT, commit_input(head, additions=[
        ("apps/web/kustomization.yaml", "images:\n  - name: web\n    newTag: v1.1.0\n"),
        ("apps/api/kustomization.yaml", "images:\n  - name: api\n    newTag: v2.1.0\n"),
        ("apps/new/kustomization.yaml", "resources: []\n"),
    ], deletions=["README.md"]))
    assert "errors" not in r, r
    out = r["data"]["createCommitOnBranch"]
    new = out["commit"]["oid"]
    assert out["commit"]["signature"]["isValid"] is True
    assert out["ref"] == {"name": "main", "target": {"oid": new}}
    assert out["commit"]["url"].endswith(f"/acme/fleet/commit/{new}")
    git_dir = emu.git_dir("acme/fleet")
    assert git_dir.startswith(emu.state_dir)
    emu.git("acme/fleet", "fsck", "--strict", "--no-dangling")
    stat = emu.git("acme/fleet", "show", "--stat", "--format=%P%n%an <%ae>%n%cn <%ce>%n%B", new)
    assert stat.startswith(head + "\n")
    assert "promoter-bot <" in stat and "GitHub <noreply@github.com>" in stat
    assert "promote\n\nPromoted by gitops-promote" in stat
    assert "4 files changed" in stat
    assert emu.git("acme/fleet", "rev-list", "--count", "main").strip() == "2"
    assert emu.git("acme/fleet", "show", "main:apps/web/kustomization.yaml").endswith("v1.1.0\n")
    # the executable file kept its mode, the untouched file kept its blob
    assert "100755" in emu.git("acme/fleet", "ls-tree", "main", "bin/tool.sh")
    # REST sees the signature as verified (GitHub signs createCommitOnBranch commits)
    c = emu.rest("GET", f"/repos/acme/fleet/commits/{new}").json()
    assert c["commit"]["verification"]["verified"] is True
    assert c["commit"]["verification"]["reason"] == "valid"
    assert {f["filename"]: f["status"] for f in c["files"]} == {
        "README.md": "removed", "apps/api/kustomization.yaml": "modified",
        "apps/new/kustomization.yaml": "added", "apps/web/kustomization.yaml": "modified"}
    assert emu.violations() == []


def test_stale_expected_head_oid(emu):
    head = head_oid(emu)
    ok = emu.gql(COMMIT, commit_input(head, additions=[("a.txt", "1\n")]))
    assert "errors" not in ok
    r = emu.gql(COMMIT, commit_input(head, additions=[("a.txt", "2\n")]))
    assert r["data"] == {"createCommitOnBranch": None}
    (err,) = r["errors"]
    assert err["type"] == "STALE_DATA"
    assert err["path"] == ["createCommitOnBranch"]
    assert err["message"] == f'Expected branch to point to "{head}" but it did not. Pull and try again.'
    assert emu.git("acme/fleet", "show", "main:a.txt") == "1\n"
    assert emu.violations() == []


def test_deleting_a_missing_path_fails(emu):
    head = head_oid(emu)
    r = emu.gql(COMMIT, commit_input(head, deletions=["does/not/exist.yaml"]))
    assert r["errors"][0]["message"].startswith("A path was requested for deletion which does not exist")
    assert head_oid(emu) == head


def test_invalid_document_is_a_violation(emu):
    r = emu.gql("query { repository(owner: \"acme\", name: \"fleet\") { headOid } }")
    assert "data" not in r
    assert "headOid" in r["errors"][0]["message"]
    bad_var = emu.gql(COMMIT, {"input": {"branch": {}, "message": {"headline": "x"}, "expectedHeadOid": "nothex"}})
    assert bad_var["errors"] and "GitObjectID" in bad_var["errors"][0]["message"]
    kinds = [(v["kind"], v["method"], v["path"]) for v in emu.violations()]
    assert kinds == [("graphql", "POST", "/graphql"), ("graphql", "POST", "/graphql")]
    emu.ctl("DELETE", "violations")


def test_pagination_boundaries_like_github(emu):
    r = emu.gql('{ repository(owner: "acme", name: "fleet") { pullRequests(states: [OPEN]) { totalCount } } }')
    assert r["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    assert emu.violations() == []


def test_create_ref_and_pr_mutations_and_reviews(emu):
    repo = emu.gql('{ repository(owner: "acme", name: "fleet") { id defaultBranchRef { target { oid } } } }')
    repo_id = repo["data"]["repository"]["id"]
    head = repo["data"]["repository"]["defaultBranchRef"]["target"]["oid"]
    r = emu.gql("""mutation($i: CreateRefInput!) { createRef(input: $i) { ref { id name prefix target { oid } } } }""",
                {"i": {"repositoryId": repo_id, "name": "refs/heads/promote/web", "oid": head}})
    assert r["data"]["createRef"]["ref"]["name"] == "promote/web", r
    dup = emu.gql("""mutation($i: CreateRefInput!) { createRef(input: $i) { ref { id } } }""",
                  {"i": {"repositoryId": repo_id, "name": "refs/heads/promote/web", "oid": head}})
    assert 'A ref named "refs/heads/promote/web" already exists' in dup["errors"][0]["message"]
    c = emu.gql(COMMIT, commit_input(head, additions=[("apps/web/kustomization.yaml", "x: 1\n")],
                                     branch="promote/web"))
    assert "errors" not in c, c
    pr = emu.gql("""mutation($i: CreatePullRequestInput!) { createPullRequest(input: $i) {
        pullRequest { id number url title body isDraft headRefName baseRefName state } } }""",
                 {"i": {"repositoryId": repo_id, "baseRefName": "main", "headRefName": "promote/web",
                        "title": "Promote web", "body": "body"}})
    assert "errors" not in pr, pr
    p = pr["data"]["createPullRequest"]["pullRequest"]
    assert p["number"] == 1 and p["state"] == "OPEN" and p["headRefName"] == "promote/web"
    found = emu.gql("""query { repository(owner: "acme", name: "fleet") {
        pullRequests(headRefName: "promote/web", baseRefName: "main", states: [OPEN], first: 10) {
          nodes { id number url title body isDraft headRefName baseRefName state } } } }""")
    assert found["data"]["repository"]["pullRequests"]["nodes"] == [p]
    upd = emu.gql("""mutation($i: UpdatePullRequestInput!) { updatePullRequest(input: $i) {
        pullRequest { title body } } }""", {"i": {"pullRequestId": p["id"], "title": "Promote web v2",
                                                  "body": "new body"}})
    assert upd["data"]["updatePullRequest"]["pullRequest"] == {"title": "Promote web v2", "body": "new body"}
    # labels: create one, then add it by id
    lab = emu.gql("""mutation($i: CreateLabelInput!) { createLabel(input: $i) { label { id name } } }""",
                  {"i": {"repositoryId": repo_id, "name": "promotion", "color": "00ff00"}})
    lab_id = lab["data"]["createLabel"]["label"]["id"]
    added = emu.gql("""mutation($i: AddLabelsToLabelableInput!) { addLabelsToLabelable(input: $i) {
        labelable { ... on PullRequest { labels(first: 10) { nodes { name } } } } } }""",
                    {"i": {"labelableId": p["id"], "labelIds": [lab_id]}})
    assert added["data"]["addLabelsToLabelable"]["labelable"]["labels"]["nodes"] == [{"name": "promotion"}]
    # reviewers by login -> node id
    uid = emu.gql('{ user(login: "alice") { id login } }')["data"]["user"]["id"]
    rr = emu.gql("""mutation($i: RequestReviewsInput!) { requestReviews(input: $i) {
        pullRequest { reviewRequests(first: 10) { nodes { requestedReviewer { ... on User { login } } } } } } }""",
                 {"i": {"pullRequestId": p["id"], "userIds": [uid], "union": True}})
    assert "errors" not in rr, rr
    nodes = rr["data"]["requestReviews"]["pullRequest"]["reviewRequests"]["nodes"]
    assert nodes == [{"requestedReviewer": {"login": "alice"}}]
    state = emu.ctl("GET", "repos/acme/fleet")
    assert state["pulls"][0]["labels"] == ["promotion"] and state["pulls"][0]["requested_reviewers"] == ["alice"]
    assert emu.violations() == []


def _open_pr(emu):
    head = head_oid(emu)
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "promote/api", "files": {"x": "1\n"}})
    del head
    r = emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": "t", "head": "promote/api", "base": "main"})
    assert r.status_code == 201, r.text
    return r.json()["node_id"]


ENABLE = """mutation($i: EnablePullRequestAutoMergeInput!) { enablePullRequestAutoMerge(input: $i) {
  pullRequest { autoMergeRequest { mergeMethod enabledBy { login } } } } }"""


def test_auto_merge_not_allowed(emu, tmp_path):
    emu.repo("acme", "strict", files={"a": "1\n"}, auto_merge_allowed=False)
    emu.token("t-strict", "promoter-bot", {"acme/strict": "write"})
    emu.ctl("POST", "commit", {"repo": "acme/strict", "branch": "feature", "files": {"a": "2\n"}})
    pr = emu.rest("POST", "/repos/acme/strict/pulls", token="t-strict",
                  json={"title": "t", "head": "acme:feature", "base": "main"}).json()
    r = emu.gql(ENABLE, {"i": {"pullRequestId": pr["node_id"], "mergeMethod": "SQUASH"}}, token="t-strict")
    assert r["errors"][0]["message"] == "Pull request Auto merge is not allowed for this repository"
    assert r["data"]["enablePullRequestAutoMerge"] is None
    assert emu.violations() == []


def test_auto_merge_needs_a_blocked_pr(emu):
    pr_id = _open_pr(emu)
    clean = emu.gql(ENABLE, {"i": {"pullRequestId": pr_id, "mergeMethod": "SQUASH"}})
    assert clean["errors"][0]["message"] == "Pull request Pull request is in clean status"
    emu.ctl("POST", "protect", {"repo": "acme/fleet", "branch": "main"})
    ok = emu.gql(ENABLE, {"i": {"pullRequestId": pr_id, "mergeMethod": "SQUASH"}})
    assert ok["data"]["enablePullRequestAutoMerge"]["pullRequest"]["autoMergeRequest"] == {
        "mergeMethod": "SQUASH", "enabledBy": {"login": "promoter-bot"}}
    merged = emu.ctl("POST", "merge", {"repo": "acme/fleet", "number": 1})
    assert emu.git("acme/fleet", "rev-parse", "main").strip() == merged["sha"]
    assert emu.rest("GET", "/repos/acme/fleet/pulls/1").json()["merged"] is True
    assert emu.violations() == []


def test_graphql_auth_errors(emu):
    q = '{ repository(owner: "acme", name: "fleet") { id } }'
    r = emu.http.post(emu.url + "/graphql", json={"query": q}, headers={"Authorization": "bearer nope"})
    assert r.status_code == 401 and r.json()["message"] == "Bad credentials"
    hidden = emu.gql(q, token="t-none")
    assert hidden["data"] == {"repository": None}
    assert hidden["errors"][0]["type"] == "NOT_FOUND"
    assert hidden["errors"][0]["message"] == "Could not resolve to a Repository with the name 'acme/fleet'."
    head = head_oid(emu)
    ro = emu.gql(COMMIT, commit_input(head, additions=[("x", "y")]), token="t-read")
    assert ro["errors"][0]["type"] == "FORBIDDEN"
    assert ro["errors"][0]["message"] == "Resource not accessible by personal access token"
    assert emu.violations() == []


def test_protected_branch_rejects_create_commit_on_branch(emu):
    emu.ctl("POST", "protect", {"repo": "acme/fleet", "branch": "main"})
    head = head_oid(emu)
    r = emu.gql(COMMIT, commit_input(head, additions=[("x", "y")]))
    assert r["errors"][0]["type"] == "BRANCH_PROTECTION_RULE_VIOLATION"
    assert r["errors"][0]["message"].startswith("Protected branch update failed for refs/heads/main.")
    emu.ctl("POST", "protect", {"repo": "acme/fleet", "branch": "main", "kind": "ruleset"})
    r = emu.gql(COMMIT, commit_input(head, additions=[("x", "y")]))
    assert r["errors"][0]["message"].startswith("Repository rule violations found")
    assert head_oid(emu) == head
    assert emu.violations() == []


def test_ghes_graphql_path(emu):
    r = emu.gql('{ viewer { login } repository(owner: "acme", name: "fleet") { url } }', path="/api/graphql")
    assert r["data"]["viewer"]["login"] == "promoter-bot"
    log = emu.requests_log()
    assert log[-1]["path"] == "/api/graphql"
    assert log[-1]["graphql"]["fields"] == ["viewer", "repository"]
    assert emu.violations() == []


def test_node_lookup_and_commit_file(emu):
    q = """{ repository(owner: "acme", name: "fleet") { defaultBranchRef { target { ... on Commit {
             oid file(path: "apps/web/kustomization.yaml") { name path object { ... on Blob { text } } }
             parents(first: 1) { totalCount } tree { oid } } } } } }"""
    r = emu.gql(q)
    t = r["data"]["repository"]["defaultBranchRef"]["target"]
    assert t["file"]["name"] == "kustomization.yaml" and t["file"]["path"] == "apps/web/kustomization.yaml"
    assert "newTag: v1.0.0" in t["file"]["object"]["text"]
    assert t["parents"]["totalCount"] == 0
    rid = emu.gql('{ repository(owner: "acme", name: "fleet") { id } }')["data"]["repository"]["id"]
    n = emu.gql('query($id: ID!) { node(id: $id) { ... on Repository { nameWithOwner } } }', {"id": rid})
    assert n["data"]["node"] == {"nameWithOwner": "acme/fleet"}
    assert emu.violations() == []


def test_unimplemented_field_is_reported_as_gap(emu):
    r = emu.gql('{ repository(owner: "acme", name: "fleet") { stargazers(first: 1) { totalCount } } }')
    assert r["errors"][0]["type"] == "EMULATOR_UNSUPPORTED"
    (v,) = emu.violations()
    assert v["kind"] == "emulator_gap" and "Repository.stargazers" in v["problems"][0]
    emu.ctl("DELETE", "violations")


def test_binary_blob(emu):
    head = head_oid(emu)
    data = bytes(range(256))
    inp = commit_input(head)
    inp["input"]["fileChanges"]["additions"] = [{"path": "bin.dat",
                                                 "contents": base64.b64encode(data).decode()}]
    assert "errors" not in emu.gql(COMMIT, inp)
    r = emu.gql('{ repository(owner: "acme", name: "fleet") { object(expression: "main:bin.dat") {'
                ' ... on Blob { isBinary text byteSize } } } }')
    assert r["data"]["repository"]["object"] == {"isBinary": True, "text": None, "byteSize": 256}


def test_update_ref_force_and_fast_forward(emu):
    head = head_oid(emu)
    ok = emu.gql(COMMIT, commit_input(head, additions=[("a", "1\n")]))
    new = ok["data"]["createCommitOnBranch"]["commit"]["oid"]
    ref_id = emu.gql('{ repository(owner: "acme", name: "fleet") { ref(qualifiedName: "main") { id } } }')[
        "data"]["repository"]["ref"]["id"]
    upd = """mutation($i: UpdateRefInput!) { updateRef(input: $i) { ref { target { oid } } } }"""
    back = emu.gql(upd, {"i": {"refId": ref_id, "oid": head}})
    assert back["errors"][0]["message"] == "Update is not a fast forward"
    forced = emu.gql(upd, {"i": {"refId": ref_id, "oid": head, "force": True}})
    assert forced["data"]["updateRef"]["ref"]["target"]["oid"] == head
    again = emu.gql(upd, {"i": {"refId": ref_id, "oid": new}})
    assert again["data"]["updateRef"]["ref"]["target"]["oid"] == new
    assert emu.violations() == []


def test_request_log_keeps_variables(emu):
    head = head_oid(emu)
    emu.gql(COMMIT, commit_input(head, additions=[("apps/web/kustomization.yaml", "newTag: v7\n")]))
    entry = [e for e in emu.requests_log() if (e.get("graphql") or {}).get("operation_name") == "Promote"][-1]
    adds = entry["body"]["variables"]["input"]["fileChanges"]["additions"]
    assert base64.b64decode(adds[0]["contents"]) == b"newTag: v7\n"
    assert emu.ctl("GET", f"requests?since={entry['seq']}") == []


def test_commit_by_ref_id_and_nodes(emu):
    r = emu.gql('{ repository(owner: "acme", name: "fleet") { id ref(qualifiedName: "refs/heads/main") { id '
                'target { oid } } } }')
    ref = r["data"]["repository"]["ref"]
    inp = commit_input(ref["target"]["oid"], additions=[("by-id.txt", "1\n")])
    inp["input"]["branch"] = {"id": ref["id"]}
    out = emu.gql(COMMIT, inp)
    assert "errors" not in out, out
    assert out["data"]["createCommitOnBranch"]["ref"]["name"] == "main"
    ids = [r["data"]["repository"]["id"], ref["id"], "bogus"]
    nodes = emu.gql('query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }', {"ids": ids})["data"]["nodes"]
    assert [n and n["__typename"] for n in nodes] == ["Repository", "Ref", None]
    assert emu.violations() == []
