"""Commit statuses (REST and GraphQL), conditional requests, and deployments on a second
repository: the rules of statuses.py seen through the wire."""

import pytest

APP = "/repos/acme/app"


def fleet_head(emu):
    return emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main").json()["object"]["sha"]


def post_status(emu, sha, state, context=None, token="t-write", repo="/repos/acme/fleet", **kw):
    body = {"state": state, **kw}
    if context is not None:
        body["context"] = context
    return emu.rest("POST", f"{repo}/statuses/{sha}", token=token, json=body)


@pytest.fixture
def app_repo(emu):
    """The application repository (acme/app), beside the GitOps repository acme/fleet."""
    emu.repo("acme", "app", files={"src/main.rs": "fn main() {}\n", "README.md": "# app\n"})
    emu.token("t-app", "app-bot", {"acme/app": "write"})
    # GITHUB_TOKEN of a workflow in acme/app: that repository only
    emu.token("t-gh", "github-actions[bot]", {"acme/app": "write"}, kind="integration")
    return emu


def app_head(emu, branch="main"):
    return emu.rest("GET", f"{APP}/git/ref/heads/{branch}", token="t-app").json()["object"]["sha"]


def app_commit(emu, branch, files, message="change"):
    return emu.ctl("POST", "commit", {"repo": "acme/app", "branch": branch, "files": files, "message": message})["oid"]


# ---------------------------------------------------------------------- commit statuses, REST
def test_commit_status_shape_and_listing_newest_first(emu):
    sha = fleet_head(emu)
    r = post_status(emu, sha, "pending", "ci/build", description="building", target_url="https://ci.example/1")
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["state"] == "pending" and s["context"] == "ci/build" and s["description"] == "building"
    assert s["target_url"] == "https://ci.example/1" and s["creator"]["login"] == "promoter-bot"
    assert r.headers["location"] == s["url"] and s["url"].endswith(f"/repos/acme/fleet/statuses/{sha}")
    assert post_status(emu, sha, "success", "ci/build").status_code == 201
    # no context: GitHub files it under "default"
    assert post_status(emu, sha, "success").json()["context"] == "default"
    listed = emu.rest("GET", f"/repos/acme/fleet/commits/{sha}/statuses").json()
    assert [(x["context"], x["state"]) for x in listed] == [
        ("default", "success"), ("ci/build", "success"), ("ci/build", "pending")]
    # the ref may be a branch name or heads/BRANCH, as for GET /commits/{ref}
    assert len(emu.rest("GET", "/repos/acme/fleet/commits/main/statuses").json()) == 3
    assert len(emu.rest("GET", "/repos/acme/fleet/commits/heads/main/statuses").json()) == 3
    page = emu.rest("GET", f"/repos/acme/fleet/commits/{sha}/statuses", params={"per_page": 2})
    assert len(page.json()) == 2 and 'rel="next"' in page.headers["link"]
    assert emu.violations() == []


def test_combined_status_newest_per_context_wins(emu):
    sha = fleet_head(emu)
    combined = lambda: emu.rest("GET", f"/repos/acme/fleet/commits/{sha}/status").json()  # noqa: E731
    # no status at all: pending, with nothing in it
    c = combined()
    assert c["state"] == "pending" and c["total_count"] == 0 and c["statuses"] == [] and c["sha"] == sha
    post_status(emu, sha, "failure", "kustomization/apps/5f3c1e2a")
    assert combined()["state"] == "failure"
    # a newer status of the same context replaces the old verdict (contexts ignore case)
    post_status(emu, sha, "success", "Kustomization/Apps/5f3c1e2a")
    c = combined()
    assert c["state"] == "success" and c["total_count"] == 1
    assert c["statuses"][0]["context"] == "Kustomization/Apps/5f3c1e2a"
    post_status(emu, sha, "pending", "ci")
    assert combined()["state"] == "pending"
    post_status(emu, sha, "error", "lint")
    assert combined()["state"] == "failure"  # error counts as failure, before pending
    post_status(emu, sha, "success", "lint")
    post_status(emu, sha, "success", "ci")
    c = combined()
    assert c["state"] == "success" and c["total_count"] == 3
    assert c["repository"]["full_name"] == "acme/fleet"
    assert c["url"].endswith(f"/commits/{sha}/status") and c["commit_url"].endswith(f"/commits/{sha}")
    assert emu.rest("GET", "/repos/acme/fleet/commits/main/status").json()["state"] == "success"
    assert emu.violations() == []


def test_commit_status_refusals(emu):
    sha = fleet_head(emu)
    long = post_status(emu, sha, "success", "ci", description="x" * 141)
    assert long.status_code == 422
    assert long.json()["errors"] == [{"resource": "Status", "code": "custom", "field": "description",
                                      "message": "description is too long (maximum is 140 characters)"}]
    assert post_status(emu, sha, "success", "ci", description="x" * 140).status_code == 201
    unknown = post_status(emu, "0" * 40, "success", "ci")
    assert unknown.status_code == 422 and unknown.json()["message"] == f"No commit found for SHA: {'0' * 40}"
    # not in the state enum: the request does not match GitHub's description
    assert post_status(emu, sha, "done", "ci").status_code == 422
    emu.ctl("DELETE", "violations")
    assert post_status(emu, sha, "success", "ci", token="t-read").status_code == 403
    assert post_status(emu, sha, "success", "ci", token="t-none").status_code == 404
    assert emu.rest("GET", f"/repos/acme/fleet/commits/{sha}/status", token="t-none").status_code == 404
    assert emu.rest("GET", "/repos/acme/fleet/commits/nope/status").status_code == 404
    assert emu.violations() == []


def test_conditional_requests_answer_304_and_do_not_count(emu):
    sha = fleet_head(emu)
    post_status(emu, sha, "pending", "kustomization/apps/5f3c1e2a")
    url = f"/repos/acme/fleet/commits/{sha}/status"
    first = emu.rest("GET", url)
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    remaining = int(first.headers["x-ratelimit-remaining"])
    again = emu.rest("GET", url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    # GitHub: a 304 does not count against the primary rate limit
    assert int(again.headers["x-ratelimit-remaining"]) == remaining
    assert emu.rest("GET", "/rate_limit").json()["resources"]["core"]["remaining"] == remaining
    # a new status changes the answer, so the old tag no longer matches
    post_status(emu, sha, "success", "kustomization/apps/5f3c1e2a")
    changed = emu.rest("GET", url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["state"] == "success"
    listed = emu.rest("GET", f"/repos/acme/fleet/commits/{sha}/statuses")
    assert emu.rest("GET", f"/repos/acme/fleet/commits/{sha}/statuses",
                    headers={"If-None-Match": listed.headers["etag"]}).status_code == 304
    log = [e for e in emu.requests_log() if e.get("status") == 304]
    assert len(log) == 2 and all(e["not_modified"] for e in log)
    assert emu.violations() == []


# ---------------------------------------------------------------------- commit statuses, GraphQL
STATUS_QUERY = """
query($oid: GitObjectID!) { repository(owner: "acme", name: "fleet") { object(oid: $oid) { ... on Commit {
  status { state contexts { context state description targetUrl createdAt creator { login } } 
           context(name: "ci") { state } }
  statusCheckRollup { state contexts(first: 10) { totalCount statusContextCount
    nodes { __typename ... on StatusContext { context state } } } }
} } } }
"""


def test_graphql_commit_status_and_rollup(emu):
    sha = fleet_head(emu)
    empty = emu.gql(STATUS_QUERY, {"oid": sha})
    assert "errors" not in empty, empty
    commit = empty["data"]["repository"]["object"]
    assert commit["status"] is None and commit["statusCheckRollup"] is None
    post_status(emu, sha, "failure", "kustomization/apps/5f3c1e2a", description="health check failed")
    post_status(emu, sha, "success", "ci", target_url="https://ci.example/2")
    data = emu.gql(STATUS_QUERY, {"oid": sha})
    assert "errors" not in data, data
    st = data["data"]["repository"]["object"]["status"]
    assert st["state"] == "FAILURE" and st["context"] == {"state": "SUCCESS"}
    by_ctx = {c["context"]: c for c in st["contexts"]}
    assert by_ctx["kustomization/apps/5f3c1e2a"]["description"] == "health check failed"
    assert by_ctx["ci"]["targetUrl"] == "https://ci.example/2"
    assert by_ctx["ci"]["creator"]["login"] == "promoter-bot"
    roll = data["data"]["repository"]["object"]["statusCheckRollup"]
    assert roll["state"] == "FAILURE" and roll["contexts"]["statusContextCount"] == 2
    assert {n["__typename"] for n in roll["contexts"]["nodes"]} == {"StatusContext"}
    assert emu.violations() == []


# ---------------------------------------------------------------------- deployments
def create_deployment(emu, token="t-app", **body):
    body.setdefault("ref", app_head(emu))
    return emu.rest("POST", f"{APP}/deployments", token=token, json=body)


def dep_status(emu, dep_id, state, token="t-app", **body):
    return emu.rest("POST", f"{APP}/deployments/{dep_id}/statuses", token=token, json={"state": state, **body})


def test_deployment_required_contexts(app_repo):
    emu = app_repo
    sha = app_head(emu)
    post_status(emu, sha, "success", "build", token="t-app", repo=APP)
    post_status(emu, sha, "pending", "e2e", token="t-app", repo=APP)
    # default: every context must be successful
    r = create_deployment(emu, ref=sha, environment="dev")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["message"] == f"Conflict: Commit status checks failed for {sha}."
    assert body["errors"][0]["field"] == "required_contexts" and body["errors"][0]["code"] == "invalid"
    assert {"context": "e2e", "state": "pending"} in body["errors"][0]["contexts"]
    # a subset that is green passes; a context never reported fails
    assert create_deployment(emu, ref=sha, environment="dev", required_contexts=["build"]).status_code == 201
    assert create_deployment(emu, ref=sha, environment="dev", required_contexts=["deploy-check"]).status_code == 409
    # an empty list skips the check
    ok = create_deployment(emu, ref=sha, environment="dev", required_contexts=[],
                           payload={"gitops_commit": "abc", "images": ["web:v2"]}, description="promote web")
    assert ok.status_code == 201, ok.text
    d = ok.json()
    assert d["sha"] == sha and d["ref"] == sha and d["environment"] == "dev" and d["task"] == "deploy"
    assert d["payload"] == {"gitops_commit": "abc", "images": ["web:v2"]}
    assert d["production_environment"] is False and d["transient_environment"] is False
    assert d["creator"]["login"] == "app-bot" and r.headers.get("location") is None
    assert ok.headers["location"] == d["url"] and d["statuses_url"] == d["url"] + "/statuses"
    assert emu.rest("GET", f"{APP}/deployments/{d['id']}", token="t-app").json()["id"] == d["id"]
    assert emu.rest("GET", f"{APP}/deployments/999", token="t-app").status_code == 404
    # production_environment defaults to true only for "production"
    prod = create_deployment(emu, ref=sha, required_contexts=[])
    assert prod.json()["environment"] == "production" and prod.json()["production_environment"] is True
    assert emu.violations() == []


def test_deployment_auto_merge(app_repo):
    emu = app_repo
    old = app_head(emu)
    app_commit(emu, "main", {"CHANGELOG.md": "v2\n"})  # main moves on: `old` is behind it
    # GITHUB_SHA behind main: a SHA cannot take a merge, so GitHub answers 409
    behind = create_deployment(emu, ref=old, environment="dev", required_contexts=[])
    assert behind.status_code == 409
    assert behind.json()["message"] == f"Conflict merging main into {old}."
    # auto_merge: false deploys the exact commit
    exact = create_deployment(emu, ref=old, environment="dev", required_contexts=[], auto_merge=False)
    assert exact.status_code == 201 and exact.json()["sha"] == old
    # the head of main needs no merge
    assert create_deployment(emu, ref="main", environment="dev", required_contexts=[]).status_code == 201
    # a branch behind main merges cleanly: 202, a merge commit on the branch, no deployment
    emu.ctl("POST", "commit", {"repo": "acme/app", "branch": "topic", "files": {"feature.txt": "f\n"}})
    app_commit(emu, "main", {"CHANGELOG.md": "v3\n"})
    topic_before = app_head(emu, "topic")
    count = len(emu.rest("GET", f"{APP}/deployments", token="t-app").json())
    merged = create_deployment(emu, ref="topic", environment="dev", required_contexts=[])
    assert merged.status_code == 202, merged.text
    assert merged.json() == {"message": "Auto-merged main into topic on deployment."}
    topic_after = app_head(emu, "topic")
    parents = emu.git("acme/app", "log", "-1", "--format=%P", topic_after).split()
    assert parents == [topic_before, app_head(emu)]
    assert len(emu.rest("GET", f"{APP}/deployments", token="t-app").json()) == count
    # now the branch contains main: the deployment is created
    assert create_deployment(emu, ref="topic", environment="dev", required_contexts=[]).status_code == 201
    # a conflicting branch: 409
    emu.ctl("POST", "commit", {"repo": "acme/app", "branch": "clash", "files": {"README.md": "clash\n"}})
    app_commit(emu, "main", {"README.md": "main's readme\n"})
    clash = create_deployment(emu, ref="clash", environment="dev", required_contexts=[])
    assert clash.status_code == 409 and clash.json()["message"] == "Conflict merging main into clash."
    assert create_deployment(emu, ref="no-such-ref", required_contexts=[]).status_code == 422
    assert emu.violations() == []


def test_deployment_status_lifecycle_and_auto_inactive(app_repo):
    emu = app_repo
    sha = app_head(emu)
    first = create_deployment(emu, ref=sha, environment="dev", required_contexts=[]).json()
    assert dep_status(emu, first["id"], "success", environment_url="https://dev.example").status_code == 201
    other_env = create_deployment(emu, ref=sha, environment="staging", required_contexts=[]).json()
    dep_status(emu, other_env["id"], "success")
    second = create_deployment(emu, ref=sha, environment="dev", required_contexts=[]).json()
    for state in ("queued", "in_progress"):
        assert dep_status(emu, second["id"], state).json()["state"] == state
    # log_url sets target_url too
    r = dep_status(emu, second["id"], "success", description="Flux: reconciliation succeeded",
                   log_url="https://ci.example/run/7", environment_url="https://dev.example")
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["target_url"] == s["log_url"] == "https://ci.example/run/7"
    assert s["environment_url"] == "https://dev.example" and s["environment"] == "dev"
    assert s["deployment_url"] == second["url"] and s["creator"]["login"] == "app-bot"
    states = lambda d: [x["state"] for x in emu.rest(  # noqa: E731
        "GET", f"{APP}/deployments/{d['id']}/statuses", token="t-app").json()]
    assert states(second) == ["success", "in_progress", "queued"]  # newest first
    # the earlier successful dev deployment turned inactive; staging did not
    assert states(first) == ["inactive", "success"]
    assert states(other_env) == ["success"]
    one = emu.rest("GET", f"{APP}/deployments/{second['id']}/statuses/{s['id']}", token="t-app")
    assert one.status_code == 200 and one.json()["id"] == s["id"]
    # auto_inactive: false leaves the earlier one active
    third = create_deployment(emu, ref=sha, environment="dev", required_contexts=[]).json()
    dep_status(emu, third["id"], "success", auto_inactive=False)
    assert states(second)[0] == "success"
    # a failure does not touch the others
    fourth = create_deployment(emu, ref=sha, environment="dev", required_contexts=[]).json()
    failed = dep_status(emu, fourth["id"], "failure", description="health check failed")
    assert failed.json()["state"] == "failure" and states(third)[0] == "success"
    # 140 characters at most
    long = dep_status(emu, fourth["id"], "error", description="y" * 141)
    assert long.status_code == 422
    assert long.json()["errors"][0]["message"] == "description is too long (maximum is 140 characters)"
    assert long.json()["errors"][0]["resource"] == "DeploymentStatus"
    # the environment filter, newest first
    listed = emu.rest("GET", f"{APP}/deployments", token="t-app", params={"environment": "dev"}).json()
    assert [d["id"] for d in listed] == [fourth["id"], third["id"], second["id"], first["id"]]
    assert len(emu.rest("GET", f"{APP}/deployments", token="t-app", params={"sha": sha}).json()) == 5
    assert emu.violations() == []


def test_production_deployments_stay_active_as_documented(app_repo):
    emu = app_repo
    a = create_deployment(emu, required_contexts=[]).json()
    dep_status(emu, a["id"], "success")
    b = create_deployment(emu, required_contexts=[]).json()
    dep_status(emu, b["id"], "success")
    # REST docs: auto_inactive touches "non-transient, non-production environment deployments"
    assert emu.rest("GET", f"{APP}/deployments/{a['id']}/statuses", token="t-app").json()[0]["state"] == "success"


def test_delete_deployment_only_when_inactive_or_alone(app_repo):
    emu = app_repo
    a = create_deployment(emu, environment="dev", required_contexts=[]).json()
    dep_status(emu, a["id"], "success")
    b = create_deployment(emu, environment="dev", required_contexts=[]).json()
    dep_status(emu, b["id"], "success")  # a turns inactive
    refused = emu.rest("DELETE", f"{APP}/deployments/{b['id']}", token="t-app")
    assert refused.status_code == 422
    assert emu.rest("DELETE", f"{APP}/deployments/{a['id']}", token="t-app").status_code == 204
    assert emu.rest("DELETE", f"{APP}/deployments/{b['id']}", token="t-app").status_code == 204
    assert emu.violations() == []


def test_github_token_reaches_only_its_repository(app_repo):
    emu = app_repo
    sha = app_head(emu)
    assert create_deployment(emu, token="t-gh", ref=sha, environment="dev", required_contexts=[]).status_code == 201
    # the GitOps repository is private and not this token's: it does not exist for it
    fleet = fleet_head(emu)
    assert emu.rest("GET", f"/repos/acme/fleet/commits/{fleet}/status", token="t-gh").status_code == 404
    assert emu.rest("POST", "/repos/acme/fleet/deployments", token="t-gh",
                    json={"ref": "main", "required_contexts": []}).status_code == 404
    gql = emu.gql(STATUS_QUERY, {"oid": fleet}, token="t-gh")
    assert gql["data"]["repository"] is None and gql["errors"][0]["type"] == "NOT_FOUND"
    emu.ctl("DELETE", "violations")
    # a workflow without `deployments: write`
    emu.token("t-gh-ro", "github-actions[bot]", {"acme/app": "write"}, kind="integration",
              permissions={"deployments": "read", "statuses": "read"})
    denied = create_deployment(emu, token="t-gh-ro", ref=sha, environment="dev", required_contexts=[])
    assert denied.status_code == 403 and denied.json()["message"] == "Resource not accessible by integration"
    assert post_status(emu, sha, "success", "ci", token="t-gh-ro", repo=APP).status_code == 403
    assert emu.rest("GET", f"{APP}/deployments", token="t-gh-ro").status_code == 200
    assert emu.violations() == []


DEPLOYMENTS_QUERY = """
query { repository(owner: "acme", name: "app") {
  deployments(first: 10, environments: ["dev"], orderBy: {field: CREATED_AT, direction: DESC}) {
    totalCount nodes { databaseId environment state commitOid payload creator { login }
      latestStatus { state description environmentUrl logUrl }
      statuses(first: 5) { nodes { state } } } } } }
"""


def test_graphql_deployments(app_repo):
    emu = app_repo
    a = create_deployment(emu, environment="dev", required_contexts=[], payload={"k": "v"}).json()
    dep_status(emu, a["id"], "success", environment_url="https://dev.example", log_url="https://ci.example/1")
    b = create_deployment(emu, environment="dev", required_contexts=[]).json()
    dep_status(emu, b["id"], "in_progress")
    create_deployment(emu, environment="staging", required_contexts=[])
    data = emu.gql(DEPLOYMENTS_QUERY, token="t-app")
    assert "errors" not in data, data
    conn = data["data"]["repository"]["deployments"]
    assert conn["totalCount"] == 2
    newest, oldest = conn["nodes"]
    assert newest["databaseId"] == b["id"] and newest["state"] == "IN_PROGRESS"
    assert oldest["state"] == "ACTIVE" and oldest["payload"] == '{"k": "v"}'
    assert oldest["latestStatus"] == {"state": "SUCCESS", "description": "",
                                      "environmentUrl": "https://dev.example", "logUrl": "https://ci.example/1"}
    assert oldest["creator"]["login"] == "app-bot" and oldest["statuses"]["nodes"] == [{"state": "SUCCESS"}]
    assert emu.violations() == []
