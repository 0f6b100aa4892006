"""Fault injection, out-of-band writers, concurrency, control API, start-up."""

import json
import subprocess
import threading
import time

import requests

from emu_harness import COMMIT, commit_input, head_oid, start_emulator, stop_emulator


def test_startup_is_fast(server):
    assert server.startup_s < 5.0, server.startup_s


def test_injected_502_then_success(emu):
    emu.ctl("POST", "faults", {"kind": "bad_gateway", "method": "GET", "path_regex": r"/git/ref/heads/main$",
                               "count": 1})
    first = emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main")
    assert first.status_code == 502 and "text/html" in first.headers["content-type"]
    second = emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main")
    assert second.status_code == 200
    log = [e for e in emu.requests_log() if e["path"].endswith("/git/ref/heads/main")]
    assert [e["status"] for e in log] == [502, 200] and "fault" in log[0]
    assert emu.violations() == []


def test_a_reset_or_a_hang_answers_nothing(emu):
    emu.ctl("POST", "faults", {"method": "GET", "path_regex": r"/git/ref/heads/main$", "connection": "reset"})
    try:
        emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main")
        raise AssertionError("the connection should have been reset")
    except requests.ConnectionError:
        pass
    emu.ctl("POST", "faults", {"method": "GET", "path_regex": r"/git/ref/heads/main$", "connection": "hang"})
    t0 = time.time()
    try:
        emu.http.get(emu.url + "/repos/acme/fleet/git/ref/heads/main", timeout=0.5,
                     headers={"Authorization": "bearer t-write"})
        raise AssertionError("a hung request should time out")
    except requests.Timeout:
        pass
    assert time.time() - t0 >= 0.5
    assert emu.rest("GET", "/repos/acme/fleet/git/ref/heads/main").status_code == 200
    log = [e for e in emu.requests_log() if e["path"].endswith("/git/ref/heads/main")]
    assert [e.get("connection") for e in log] == ["reset", "hang", None]
    assert emu.violations() == []


def test_a_reset_after_a_write_was_served(emu):
    emu.ctl("POST", "faults", {"path_regex": "^/graphql$", "graphql_field": "createCommitOnBranch",
                               "connection": "reset", "lose_response": True})
    head = head_oid(emu)
    try:
        emu.http.post(emu.url + "/graphql", json={"query": COMMIT, "variables": commit_input(
            head, additions=[("apps/web/kustomization.yaml", "newTag: reset\n")])},
            headers={"Authorization": "bearer t-write"})
        raise AssertionError("the connection should have been reset")
    except requests.ConnectionError:
        pass
    assert head_oid(emu) != head, "the write took effect"
    entry = [e for e in emu.requests_log() if e.get("fault")][-1]
    assert entry["connection"] == "reset" and entry["served_status"] == 200
    assert emu.violations() == []


def test_secondary_and_primary_rate_limits(emu):
    emu.ctl("POST", "faults", {"kind": "secondary_rate_limit", "path_regex": "^/graphql$", "count": 1})
    r = emu.http.post(emu.url + "/graphql", json={"query": "{ viewer { login } }"},
                      headers={"Authorization": "bearer t-write"})
    assert r.status_code == 403 and r.headers["retry-after"] == "1"
    assert "secondary rate limit" in r.json()["message"]
    assert emu.gql("{ viewer { login } }")["data"]["viewer"]["login"] == "promoter-bot"
    emu.ctl("POST", "faults", {"kind": "rate_limit", "path_regex": "^/repos/acme/fleet$", "count": 2})
    for _ in range(2):
        r = emu.rest("GET", "/repos/acme/fleet")
        assert r.status_code == 429
        assert r.headers["x-ratelimit-remaining"] == "0"
        assert int(r.headers["x-ratelimit-reset"]) >= int(time.time())
    ok = emu.rest("GET", "/repos/acme/fleet")
    assert ok.status_code == 200 and int(ok.headers["x-ratelimit-remaining"]) > 0
    assert emu.violations() == []


def test_latency_and_nth_match(emu):
    # No upper bound on a time: a loaded machine may take long over any request. The fault's
    # counters say which request it delayed.
    emu.ctl("POST", "faults", {"path_regex": "^/user$", "delay_ms": 300, "nth": 2, "count": 1})
    emu.rest("GET", "/user")
    [fault] = emu.ctl("GET", "faults")
    assert (fault["seen"], fault["fired"]) == (1, 0)
    t0 = time.time()
    emu.rest("GET", "/user")
    assert time.time() - t0 >= 0.3
    [fault] = emu.ctl("GET", "faults")
    assert (fault["seen"], fault["fired"]) == (2, 1)


def test_out_of_band_commit_between_read_and_write(emu):
    # another writer lands a commit just before our createCommitOnBranch is served
    emu.ctl("POST", "faults", {"path_regex": "graphql$", "graphql_field": "createCommitOnBranch", "nth": 1,
                               "commit": {"repo": "acme/fleet", "branch": "main",
                                          "files": {"apps/web/kustomization.yaml": "other: writer\n"},
                                          "message": "someone else"}})
    head = head_oid(emu)
    r = emu.gql(COMMIT, commit_input(head, additions=[("apps/api/kustomization.yaml", "mine\n")]))
    assert r["errors"][0]["type"] == "STALE_DATA"
    new_head = head_oid(emu)
    assert new_head != head
    assert emu.git("acme/fleet", "log", "-1", "--format=%s", "main").strip() == "someone else"
    retry = emu.gql(COMMIT, commit_input(new_head, additions=[("apps/api/kustomization.yaml", "mine\n")]))
    assert "errors" not in retry
    assert emu.git("acme/fleet", "show", "main:apps/web/kustomization.yaml") == "other: writer\n"
    assert emu.git("acme/fleet", "show", "main:apps/api/kustomization.yaml") == "mine\n"
    log = emu.requests_log()
    faulted = [e for e in log if e.get("fault_commits")]
    assert len(faulted) == 1 and faulted[0]["graphql"]["operation_name"] == "Promote"
    assert emu.violations() == []


HEAD_Q = '{ repository(owner: "acme", name: "fleet") { ref(qualifiedName: "refs/heads/main") { target { oid } } } }'


def test_twenty_concurrent_writers_lose_nothing(emu):
    results = {}
    errors = []

    barrier = threading.Barrier(20)

    def writer(i):
        # one client (own connection) per writer
        http = requests.Session()
        auth = {"Authorization": "bearer t-write"}

        def gql(query, variables):
            resp = http.post(emu.url + "/graphql", json={"query": query, "variables": variables}, headers=auth,
                             timeout=60)
            assert resp.status_code == 200, resp.text
            return resp.json()

        try:
            barrier.wait(30)
            attempts = 0
            while True:
                attempts += 1
                assert attempts < 200, "too many retries"
                head = gql(HEAD_Q, {})["data"]["repository"]["ref"]["target"]["oid"]
                r = gql(COMMIT, commit_input(head, additions=[(f"apps/w{i:02d}/tag.txt", f"v{i}\n")],
                                             headline=f"writer {i}"))
                if "errors" not in r:
                    results[i] = (r["data"]["createCommitOnBranch"]["commit"]["oid"], attempts)
                    return
                assert r["errors"][0]["type"] == "STALE_DATA", r
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            http.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(results) == 20
    names = emu.git("acme/fleet", "ls-tree", "-r", "--name-only", "main").split()
    assert all(f"apps/w{i:02d}/tag.txt" in names for i in range(20))
    history = emu.git("acme/fleet", "rev-list", "--first-parent", "main").split()
    assert len(history) == 21  # seed + 20, linear
    assert set(oid for oid, _ in results.values()) <= set(history)
    emu.git("acme/fleet", "fsck", "--strict", "--no-dangling")
    assert sum(a for _, a in results.values()) > 20  # there was contention
    assert time.time() - t0 < 120
    assert emu.violations() == []


def test_config_file_and_reset(tmp_path):
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "x.yaml").write_text("a: 1\n")
    cfg = {"repos": [{"owner": "o", "name": "r", "seed_dir": str(seed), "default_branch": "trunk"}],
           "tokens": [{"token": "tk", "login": "bot", "repos": {"o/r": "write"}}],
           "protect": [{"repo": "o/r", "branch": "trunk"}]}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    e = start_emulator(str(tmp_path / "state"), ["--config", str(tmp_path / "cfg.json")])
    try:
        r = e.gql('{ repository(owner: "o", name: "r") { defaultBranchRef { name } } }', token="tk")
        assert r["data"]["repository"]["defaultBranchRef"]["name"] == "trunk"
        git_dir = e.git_dir("o/r")
        out = subprocess.run(["git", "--git-dir", git_dir, "show", "trunk:x.yaml"], capture_output=True, text=True)
        assert out.stdout == "a: 1\n"
        e.ctl("POST", "commit", {"repo": "o/r", "branch": "trunk", "files": {"y": "1"}})
        e.ctl("POST", "reset")
        # reset reloads the config: the repo is back to its seed
        out = subprocess.run(["git", "--git-dir", e.git_dir("o/r"), "rev-list", "--count", "trunk"],
                             capture_output=True, text=True)
        assert out.stdout.strip() == "1"
        assert e.ctl("GET", "repos/o/r")["protections"]["trunk"]["require_pull_request"] is True
    finally:
        stop_emulator(e)


def test_request_log_records_graphql_operation(emu):
    emu.gql("query Lookup { viewer { login } }")
    emu.rest("GET", "/repos/acme/fleet")
    log = emu.requests_log()
    gql = [e for e in log if e["api"] == "graphql"][-1]
    assert gql["graphql"] == {"operation_name": "Lookup", "operation_type": "query", "fields": ["viewer"]}
    assert gql["status"] == 200 and gql["login"] == "promoter-bot"
    rest = log[-1]
    assert rest["operation"] == "/repos/{owner}/{repo}" and rest["status"] == 200 and "validate_ms" in rest
