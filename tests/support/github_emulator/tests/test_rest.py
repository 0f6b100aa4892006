"""REST: git data API path, refs, pulls, labels, reviewers, auth, GHES paths."""

import base64


def main_sha(emu):
    return emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main").json()["object"]["sha"]


def rest_commit(emu, parent, files, message="promote via REST", prefix=""):
    base_tree = emu.rest("GET", f"{prefix}/repos/acme/fleet/git/commits/{parent}").json()["tree"]["sha"]
    tree = []
    for path, content in files.items():
        if content is None:
            tree.append({"path": path, "mode": "100644", "type": "blob", "sha": None})
        else:
            tree.append({"path": path, "mode": "100644", "type": "blob", "content": content})
    t = emu.rest("POST", f"{prefix}/repos/acme/fleet/git/trees", json={"base_tree": base_tree, "tree": tree})
    assert t.status_code == 201, t.text
    c = emu.rest("POST", f"{prefix}/repos/acme/fleet/git/commits",
                 json={"message": message, "tree": t.json()["sha"], "parents": [parent]})
    assert c.status_code == 201, c.text
    return c.json()


def test_git_data_path_and_non_fast_forward(emu):
    head = main_sha(emu)
    blob = emu.rest("POST", "/repos/acme/fleet/git/blobs",
                    json={"content": base64.b64encode(b"newTag: v9\n").decode(), "encoding": "base64"})
    assert blob.status_code == 201
    blob_sha = blob.json()["sha"]
    assert emu.rest("GET", f"/repos/acme/fleet/git/blobs/{blob_sha}").json()["size"] == 11
    base_tree = emu.rest("GET", f"/repos/acme/fleet/git/commits/{head}").json()["tree"]["sha"]
    tree = emu.rest("POST", "/repos/acme/fleet/git/trees", json={"base_tree": base_tree, "tree": [
        {"path": "apps/web/kustomization.yaml", "mode": "100644", "type": "blob", "sha": blob_sha},
        {"path": "apps/api/kustomization.yaml", "mode": "100644", "type": "blob", "content": "newTag: v3\n"},
        {"path": "README.md", "mode": "100644", "type": "blob", "sha": None},
    ]})
    assert tree.status_code == 201, tree.text
    commit = emu.rest("POST", "/repos/acme/fleet/git/commits", json={
        "message": "promote", "tree": tree.json()["sha"], "parents": [head],
        "author": {"name": "Promoter", "email": "promoter@example.com", "date": "2026-01-02T03:04:05Z"}})
    assert commit.status_code == 201, commit.text
    c = commit.json()
    assert c["verification"]["verified"] is False and c["verification"]["reason"] == "unsigned"
    assert c["author"]["date"] == "2026-01-02T03:04:05Z"
    upd = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/main", json={"sha": c["sha"], "force": False})
    assert upd.status_code == 200, upd.text
    assert upd.json()["object"]["sha"] == c["sha"]
    assert emu.git("acme/fleet", "show", "main:apps/web/kustomization.yaml") == "newTag: v9\n"
    assert "README.md" not in emu.git("acme/fleet", "ls-tree", "--name-only", "main")
    emu.git("acme/fleet", "fsck", "--strict", "--no-dangling")
    # a commit on the old head is not a fast-forward any more
    stale = rest_commit(emu, head, {"x.txt": "x\n"})
    nff = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/main", json={"sha": stale["sha"]})
    assert nff.status_code == 422
    assert nff.json()["message"] == "Update is not a fast forward"
    assert main_sha(emu) == c["sha"]
    forced = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/main", json={"sha": stale["sha"], "force": True})
    assert forced.status_code == 200
    assert main_sha(emu) == stale["sha"]
    # recursive tree listing
    rt = emu.rest("GET", f"/repos/acme/fleet/git/trees/{stale['tree']['sha']}", params={"recursive": "1"}).json()
    paths = {e["path"] for e in rt["tree"]}
    assert {"apps", "apps/web", "apps/web/kustomization.yaml", "x.txt", "README.md"} <= paths
    assert emu.violations() == []


def test_refs_create_get_delete(emu):
    head = main_sha(emu)
    r = emu.rest("POST", "/repos/acme/fleet/git/refs", json={"ref": "refs/heads/promote/x", "sha": head})
    assert r.status_code == 201 and r.json()["ref"] == "refs/heads/promote/x"
    again = emu.rest("POST", "/repos/acme/fleet/git/refs", json={"ref": "refs/heads/promote/x", "sha": head})
    assert again.status_code == 422 and again.json()["message"] == "Reference already exists"
    assert emu.rest("GET", "/repos/acme/fleet/git/ref/heads/promote/x").json()["object"]["sha"] == head
    assert emu.rest("GET", "/repos/acme/fleet/git/ref/heads%2Fpromote%2Fx").status_code == 200
    missing = emu.rest("GET", "/repos/acme/fleet/git/ref/heads/nope")
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    assert emu.rest("DELETE", "/repos/acme/fleet/git/refs/heads/promote/x").status_code == 204
    assert emu.rest("GET", "/repos/acme/fleet/git/ref/heads/promote/x").status_code == 404
    gone = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/promote/x", json={"sha": head})
    assert gone.status_code == 422 and gone.json()["message"] == "Reference does not exist"
    assert emu.violations() == []


def test_repo_branch_commit_contents(emu):
    repo = emu.rest("GET", "/repos/acme/fleet").json()
    assert repo["default_branch"] == "main" and repo["allow_auto_merge"] is True
    assert repo["permissions"]["push"] is True
    br = emu.rest("GET", "/repos/acme/fleet/branches/main").json()
    assert br["protected"] is False and br["commit"]["sha"] == main_sha(emu)
    c = emu.rest("GET", "/repos/acme/fleet/commits/main").json()
    assert c["sha"] == main_sha(emu) and c["commit"]["verification"]["verified"] is False
    assert emu.rest("GET", "/repos/acme/fleet/commits/heads/main").json()["sha"] == c["sha"]
    f = emu.rest("GET", "/repos/acme/fleet/contents/apps/web/kustomization.yaml", params={"ref": "main"}).json()
    assert base64.b64decode(f["content"]).decode().endswith("newTag: v1.0.0\n")
    d = emu.rest("GET", "/repos/acme/fleet/contents/apps").json()
    assert sorted(x["name"] for x in d) == ["api", "web"]
    raw = emu.rest("GET", "/repos/acme/fleet/contents/README.md",
                   headers={"Accept": "application/vnd.github.raw+json"})
    assert raw.text == "# fleet\n"
    assert emu.rest("GET", "/repos/acme/fleet/contents/nope").status_code == 404
    user = emu.rest("GET", "/user").json()
    assert user["login"] == "promoter-bot"
    assert emu.violations() == []


def test_pull_request_lifecycle(emu):
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "promote/web", "files": {"f": "1\n"}})
    r = emu.rest("POST", "/repos/acme/fleet/pulls", json={
        "title": "Promote web", "head": "promote/web", "base": "main", "body": "auto", "draft": False})
    assert r.status_code == 201, r.text
    pr = r.json()
    assert pr["number"] == 1 and pr["head"]["ref"] == "promote/web" and pr["state"] == "open"
    assert pr["commits"] == 1 and pr["changed_files"] == 1
    # mergeability is computed in the background: unknown in the answer to the create, known on the next read
    assert pr["mergeable"] is None and pr["mergeable_state"] == "unknown"
    again = emu.rest("GET", "/repos/acme/fleet/pulls/1").json()
    assert again["mergeable"] is True and again["mergeable_state"] == "clean"
    dup = emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": "x", "head": "promote/web", "base": "main"})
    assert dup.status_code == 422
    assert dup.json()["errors"][0]["message"] == "A pull request already exists for acme:promote/web."
    found = emu.rest("GET", "/repos/acme/fleet/pulls", params={"head": "acme:promote/web", "base": "main",
                                                               "state": "open"}).json()
    assert [p["number"] for p in found] == [1]
    assert emu.rest("GET", "/repos/acme/fleet/pulls", params={"head": "acme:other"}).json() == []
    upd = emu.rest("PATCH", "/repos/acme/fleet/pulls/1", json={"title": "Promote web v2", "body": "b2"})
    assert upd.status_code == 200 and upd.json()["title"] == "Promote web v2"
    lab = emu.rest("POST", "/repos/acme/fleet/issues/1/labels", json={"labels": ["promotion", "env:prod"]})
    assert lab.status_code == 200 and [x["name"] for x in lab.json()] == ["promotion", "env:prod"]
    rv = emu.rest("POST", "/repos/acme/fleet/pulls/1/requested_reviewers", json={"reviewers": ["alice"]})
    assert rv.status_code == 201, rv.text
    assert [u["login"] for u in rv.json()["requested_reviewers"]] == ["alice"]
    bad = emu.rest("POST", "/repos/acme/fleet/pulls/1/requested_reviewers", json={"reviewers": ["mallory"]})
    assert bad.status_code == 422 and "collaborators" in bad.json()["message"]
    got = emu.rest("GET", "/repos/acme/fleet/pulls/1").json()
    assert got["title"] == "Promote web v2" and [x["name"] for x in got["labels"]] == ["promotion", "env:prod"]
    closed = emu.rest("PATCH", "/repos/acme/fleet/pulls/1", json={"state": "closed"})
    assert closed.json()["state"] == "closed"
    assert emu.rest("GET", "/repos/acme/fleet/pulls", params={"head": "acme:promote/web"}).json() == []
    assert emu.violations() == []


def test_head_filter_without_owner_is_ignored_and_flagged(emu):
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "a", "files": {"a": "1\n"}})
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "b", "files": {"b": "1\n"}})
    for h in ("a", "b"):
        assert emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": h, "head": h, "base": "main"}).ok
    got = emu.rest("GET", "/repos/acme/fleet/pulls", params={"head": "a"}).json()
    assert len(got) == 2  # GitHub silently ignores it
    (v,) = emu.violations()
    assert v["kind"] == "semantic"
    emu.ctl("DELETE", "violations")


def test_auth_errors(emu):
    r = emu.rest("GET", "/repos/acme/fleet", token="bogus")
    assert r.status_code == 401 and r.json()["message"] == "Bad credentials"
    assert emu.rest("GET", "/repos/acme/fleet", token=None).status_code == 401
    hidden = emu.rest("GET", "/repos/acme/fleet", token="t-none")
    assert hidden.status_code == 404 and hidden.json()["message"] == "Not Found"
    ro = emu.rest("POST", "/repos/acme/fleet/git/refs", token="t-read",
                  json={"ref": "refs/heads/x", "sha": main_sha(emu)})
    assert ro.status_code == 403
    assert ro.json()["message"] == "Resource not accessible by personal access token"
    emu.token("t-nopr", "nopr", {"acme/fleet": "write"}, pull_requests=False)
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "f", "files": {"f": "1\n"}})
    nopr = emu.rest("POST", "/repos/acme/fleet/pulls", token="t-nopr",
                    json={"title": "t", "head": "f", "base": "main"})
    assert nopr.status_code == 403
    emu.token("t-app", "github-actions[bot]", {"acme/fleet": "read"}, kind="integration")
    app = emu.rest("POST", "/repos/acme/fleet/git/blobs", token="t-app", json={"content": "x"})
    assert app.json()["message"] == "Resource not accessible by integration"
    assert emu.violations() == []


def test_protected_branch_rest(emu):
    emu.ctl("POST", "protect", {"repo": "acme/fleet", "branch": "main"})
    head = main_sha(emu)
    c = rest_commit(emu, head, {"x": "1\n"})
    r = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/main", json={"sha": c["sha"]})
    assert r.status_code == 422
    assert r.json()["message"] == "Protected branch update failed for refs/heads/main."
    assert emu.rest("GET", "/repos/acme/fleet/branches/main").json()["protected"] is True
    # signature rule only: REST commits are unsigned and get rejected, web-flow commits pass
    emu.ctl("POST", "protect", {"repo": "acme/fleet", "branch": "main", "require_pull_request": False,
                                "require_signed_commits": True})
    r = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/main", json={"sha": c["sha"]})
    assert r.status_code == 422
    assert r.json()["message"] == "Protected branch update failed for refs/heads/main."
    emu.ctl("POST", "protect", {"repo": "acme/fleet", "branch": "main", "require_pull_request": False,
                                "require_signed_commits": True, "kind": "ruleset"})
    r = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/main", json={"sha": c["sha"]})
    assert r.status_code == 422
    assert r.json()["message"] == ("Repository rule violations found\n\nCommits must have verified signatures."
                                   "\n\n")
    q = """mutation($i: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $i) { commit { oid } } }"""
    ok = emu.gql(q, {"i": {"branch": {"repositoryNameWithOwner": "acme/fleet", "branchName": "main"},
                           "message": {"headline": "signed"}, "expectedHeadOid": head,
                           "fileChanges": {"additions": [{"path": "x", "contents": "MQo="}]}}})
    assert "errors" not in ok, ok
    assert main_sha(emu) == ok["data"]["createCommitOnBranch"]["commit"]["oid"]
    assert emu.violations() == []


def test_ghes_rest_paths(emu):
    r = emu.rest("GET", "/api/v3/repos/acme/fleet")
    assert r.status_code == 200
    assert r.json()["url"] == f"{emu.url}/api/v3/repos/acme/fleet"
    assert r.json()["html_url"] == f"{emu.url}/acme/fleet"
    head = emu.rest("GET", "/api/v3/repos/acme/fleet/git/ref/heads/main").json()["object"]["sha"]
    c = rest_commit(emu, head, {"ghes.txt": "1\n"}, prefix="/api/v3")
    assert c["url"].startswith(f"{emu.url}/api/v3/")
    upd = emu.rest("PATCH", "/api/v3/repos/acme/fleet/git/refs/heads/main", json={"sha": c["sha"]})
    assert upd.status_code == 200
    assert emu.violations() == []


def test_invalid_rest_body_is_rejected_and_recorded(emu):
    r = emu.rest("POST", "/repos/acme/fleet/git/refs", json={"ref": "refs/heads/x", "sha": 12})
    assert r.status_code == 422 and r.json()["message"].startswith("Invalid request.")
    r2 = emu.rest("PATCH", "/repos/acme/fleet/git/refs/heads/main", json={"force": True})
    assert r2.status_code == 422
    r3 = emu.rest("POST", "/repos/acme/fleet/git/trees", json={"tree": [{"path": "a", "mode": "100600",
                                                                       "type": "blob", "content": "x"}]})
    assert r3.status_code == 422
    r4 = emu.rest("POST", "/repos/acme/fleet/git/blobs", data="{not json",
                  headers={"Content-Type": "application/json"})
    assert r4.status_code == 400 and r4.json()["message"] == "Problems parsing JSON"
    vs = emu.violations()
    assert [v["kind"] for v in vs] == ["request"] * 4
    assert vs[0]["operation"] == "/repos/{owner}/{repo}/git/refs"
    assert any("sha" in p for p in vs[0]["problems"])
    emu.ctl("DELETE", "violations")


def test_unknown_path_is_recorded(emu):
    r = emu.rest("GET", "/repos/acme/fleet/actions/runs")
    assert r.status_code == 404
    (v,) = emu.violations()
    assert v["kind"] == "unsupported"
    emu.ctl("DELETE", "violations")


def test_merge_pull_request_via_rest(emu):
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "promote/m", "files": {"m": "1\n"}})
    pr = emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": "M", "head": "promote/m", "base": "main"}).json()
    r = emu.rest("PUT", "/repos/acme/fleet/pulls/1/merge", json={"merge_method": "squash", "sha": pr["head"]["sha"]})
    assert r.status_code == 200 and r.json()["merged"] is True
    sha = r.json()["sha"]
    assert main_sha(emu) == sha
    c = emu.rest("GET", f"/repos/acme/fleet/commits/{sha}").json()
    assert c["commit"]["message"] == "M (#1)" and c["commit"]["verification"]["verified"] is True
    assert len(c["parents"]) == 1
    assert emu.rest("GET", "/repos/acme/fleet/pulls/1/merge").status_code == 204
    assert emu.rest("GET", "/repos/acme/fleet/pulls/1").json()["state"] == "closed"
    assert emu.violations() == []


def test_user_agent_is_required(emu):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    conn.request("GET", "/repos/acme/fleet", headers={"Authorization": "token t-write"})
    r = conn.getresponse()
    assert r.status == 403 and b"User-Agent" in r.read()
    conn.close()
    (v,) = emu.violations()
    assert "User-Agent" in v["problems"][0]
    emu.ctl("DELETE", "violations")


def test_misc_endpoints_conform(emu):
    emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "promote/z", "files": {"z": "1\n"}})
    assert emu.rest("POST", "/repos/acme/fleet/pulls", json={"title": "Z", "head": "acme:promote/z",
                                                             "base": "main", "draft": True}).status_code == 201
    emu.rest("POST", "/repos/acme/fleet/issues/1/labels", json={"labels": ["a", {"name": "b"}]})
    emu.rest("POST", "/repos/acme/fleet/pulls/1/requested_reviewers", json={"reviewers": ["alice"]})
    for path, params in [
        ("/users/alice", None), ("/rate_limit", None), ("/repos/acme/fleet/git/matching-refs/heads/promote", None),
        ("/repos/acme/fleet/pulls/1/requested_reviewers", None), ("/repos/acme/fleet/issues/1/labels", None),
        ("/repos/acme/fleet/pulls", {"state": "all", "per_page": "1", "page": "1"}),
        ("/repos/acme/fleet/contents", None), ("/repos/acme/fleet/branches/promote/z", None),
        ("/repos/acme/fleet/git/trees/promote/z", None), ("/repos/acme/fleet/commits/promote/z", None),
        ("/api/v3/repos/acme/fleet/pulls/1", None),
    ]:
        r = emu.rest("GET", path, params=params)
        assert r.status_code == 200, (path, r.status_code, r.text)
    refs = emu.rest("GET", "/repos/acme/fleet/git/matching-refs/heads/promote").json()
    assert [x["ref"] for x in refs] == ["refs/heads/promote/z"]
    pr = emu.rest("GET", "/repos/acme/fleet/pulls/1").json()
    assert pr["draft"] is True and pr["mergeable_state"] == "draft"
    assert emu.rest("GET", "/repos/acme/fleet/pulls/1/merge").status_code == 404
    assert emu.rest("GET", "/repos/acme/fleet/pulls/99").status_code == 404
    assert emu.rest("GET", "/repos/acme/fleet/commits/nope").status_code == 422
    assert emu.violations() == []
