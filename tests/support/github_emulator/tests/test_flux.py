"""The Flux simulator and its Receiver (flux.py): statuses shaped like notification-controller's
github provider, only on the revision applied, and a webhook that checks its signature."""

import hashlib
import hmac
import json
import sys
import time

from emu_harness import COMMIT, SUPPORT, commit_input, head_oid

sys.path.insert(0, SUPPORT)
from github_emulator import flux  # noqa: E402 - the pure helpers, tested in-process

UID = "8e2b7c14-0d3f-4a6e-9c51-7f0a2d9b6e33"
CTX_APPS = "kustomization/apps/8e2b7c14"
CTX_INFRA = "kustomization/infra/8e2b7c14"


def configure(emu, **kw):
    spec = {"repo": "acme/fleet", "kustomizations": ["apps"], "provider_uid": UID, "delay_ms": -1}
    spec.update(kw)
    return emu.ctl("POST", "flux", spec)


def promote(emu, tag):
    """A commit the way the action lands one (createCommitOnBranch)."""
    r = emu.gql(COMMIT, commit_input(head_oid(emu), additions=[
        ("apps/web/kustomization.yaml", f"images:\n  - name: web\n    newTag: {tag}\n")]))
    assert "errors" not in r, r
    return r["data"]["createCommitOnBranch"]["commit"]["oid"]


def statuses(emu, sha):
    return emu.rest("GET", f"/repos/acme/fleet/commits/{sha}/statuses").json()


def flush(emu, **kw):
    return emu.ctl("POST", "flux/flush", kw)["events"]


def hook(emu, path, body=b'{"reason":"promoted"}', signature=None, method="POST", **headers):
    if signature is not None:
        headers["X-Signature"] = signature
    return emu.http.request(method, emu.url + path, data=body, headers=headers, timeout=30)


def sign(secret, body, algo="sha256"):
    return f"{algo}=" + hmac.new(secret.encode(), body, getattr(hashlib, algo)).hexdigest()


def wait_for(predicate, timeout=20.0):
    """Polls until the background reconcile has happened (no timing is asserted)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_flux_reports_the_applied_revision_like_the_github_provider(emu):
    cfg = configure(emu, kustomizations=["apps", {"name": "infra", "outcome": "failure"}])
    assert cfg["contexts"] == {"apps": CTX_APPS, "infra": CTX_INFRA}
    before = head_oid(emu)
    ours = promote(emu, "v1.1.0")
    assert statuses(emu, ours) == []  # nothing before the reconcile
    events = flush(emu)
    assert {(e["name"], e["event"]) for e in events} == {("apps", "status"), ("infra", "status")}
    by_ctx = {s["context"]: s for s in statuses(emu, ours)}
    assert by_ctx[CTX_APPS]["state"] == "success"
    assert by_ctx[CTX_APPS]["description"] == "reconciliation succeeded"
    assert by_ctx[CTX_INFRA]["state"] == "failure" and by_ctx[CTX_INFRA]["description"] == "health check failed"
    assert by_ctx[CTX_APPS]["target_url"] is None and by_ctx[CTX_APPS]["creator"]["login"] == "flux"
    # the earlier head was applied before Flux was configured: no status is made up for it
    assert statuses(emu, before) == []
    assert emu.rest("GET", f"/repos/acme/fleet/commits/{ours}/status").json()["state"] == "failure"
    state = emu.ctl("GET", "flux")["instances"][0]
    assert {k["name"]: k["applied"] for k in state["kustomizations"]} == {"apps": ours, "infra": ours}
    assert emu.violations() == []


def test_a_superseded_commit_gets_no_status(emu):
    configure(emu)
    first = promote(emu, "v1.1.0")
    second = emu.ctl("POST", "commit", {"repo": "acme/fleet", "branch": "main",
                                        "files": {"apps/api/kustomization.yaml": "images: []\n"}})["oid"]
    events = flush(emu)
    assert [(e["event"], e["revision"]) for e in events] == [("superseded", first), ("status", second)]
    assert statuses(emu, first) == []
    assert [s["context"] for s in statuses(emu, second)] == [CTX_APPS]
    # nothing pending any more: a second flush does nothing
    assert flush(emu) == []


def test_interval_reconcile_runs_in_the_background(emu):
    configure(emu, delay_ms=50)
    ours = promote(emu, "v1.2.0")
    got = wait_for(lambda: statuses(emu, ours))
    assert got[0]["context"] == CTX_APPS and got[0]["state"] == "success"


def test_outcomes_reasons_and_silent_objects(emu):
    cfg = configure(emu, kustomizations=[
        "apps", {"name": "infra", "reason": "BuildFailed", "outcome": "failure"},
        {"name": "monitoring", "outcome": "none"},
        {"name": "web", "kind": "HelmRelease", "description": "custom words"}])
    assert cfg["contexts"]["web"] == "helmrelease/web/8e2b7c14"
    ours = promote(emu, "v2")
    events = {e["name"]: e for e in flush(emu)}
    assert events["monitoring"]["event"] == "unreported"
    by_ctx = {s["context"]: s for s in statuses(emu, ours)}
    assert set(by_ctx) == {CTX_APPS, CTX_INFRA, "helmrelease/web/8e2b7c14"}
    assert by_ctx[CTX_INFRA]["description"] == "build failed"
    assert by_ctx["helmrelease/web/8e2b7c14"]["description"] == "custom words"
    # Flux never posts pending
    assert all(s["state"] in ("success", "failure") for s in by_ctx.values())


def test_reconfigure_keeps_what_runs_and_force_reposts_without_duplicates(emu):
    configure(emu, outcome="failure")
    ours = promote(emu, "v3")
    flush(emu)
    assert [s["state"] for s in statuses(emu, ours)] == ["failure"]
    # the same revision again: notification-controller skips a duplicate status
    assert [e["event"] for e in flush(emu, force=True)] == ["duplicate"]
    assert len(statuses(emu, ours)) == 1
    # the cluster recovers (a retry succeeds): a new verdict on the same commit
    configure(emu, outcome="success")
    assert [e["event"] for e in flush(emu, force=True)] == ["status"]
    assert [s["state"] for s in statuses(emu, ours)] == ["success", "failure"]


def test_initial_report_gives_the_current_head_its_statuses(emu):
    head = head_oid(emu)
    configure(emu, initial="report", outcome={"apps": "failure"})
    assert [(s["context"], s["state"]) for s in statuses(emu, head)] == [(CTX_APPS, "failure")]
    configure(emu, repo="acme/fleet", branch="release", initial="pending")  # a branch that does not exist yet
    assert flush(emu, branch="release") == []


def test_receiver_generic_hmac_checks_the_signature_and_triggers_a_reconcile(emu):
    cfg = configure(emu, receiver={"secret": "s3cret", "name": "gitops-promote", "namespace": "flux-system"})
    path = cfg["webhook_path"]
    # api/v1 Receiver.GetWebhookPath: /hook/ + sha256(token + name + namespace)
    assert path == "/hook/" + hashlib.sha256(b"s3cretgitops-promoteflux-system").hexdigest()
    ours = promote(emu, "v4")
    body = json.dumps({"commit": ours}).encode()
    for bad in (None, "", "sha256=00", sign("wrong", body), "md5=" + hashlib.md5(body).hexdigest(),
                "sha256", sign("s3cret", body + b" ")):
        r = hook(emu, path, body, signature=bad)
        assert r.status_code == 400 and r.content == b"", bad
    assert statuses(emu, ours) == []  # refused calls trigger nothing
    assert hook(emu, "/hook/" + "0" * 64, body, signature=sign("s3cret", body)).status_code == 404
    assert hook(emu, path + "?x=1", body, signature=sign("s3cret", body)).status_code == 404
    ok = hook(emu, path, body, signature=sign("s3cret", body))
    assert ok.status_code == 200 and ok.content == b""
    # delay_ms -1: only the Receiver made this reconcile happen
    got = wait_for(lambda: statuses(emu, ours))
    assert got[0]["context"] == CTX_APPS
    for algo in ("sha1", "sha512"):
        assert hook(emu, path, body, signature=sign("s3cret", body, algo)).status_code == 200
    log = [e for e in emu.requests_log() if e["api"] == "receiver"]
    assert [e["status"] for e in log] == [400] * 7 + [404, 404, 200, 200, 200]
    assert log[0]["receiver"]["reason"] == "unable to validate HMAC signature: missing signature"
    assert log[-1]["headers"]["x-signature"].startswith("sha512=")
    assert emu.ctl("GET", "flux")["instances"][0]["receiver"]["calls"] == 3
    # the repeated calls re-reconciled the same revision: duplicates, not new statuses
    wait_for(lambda: sum(e["event"] == "duplicate" for e in emu.ctl("GET", "flux")["events"]) >= 2)
    assert len(statuses(emu, ours)) == 1
    assert emu.violations() == []


def test_receiver_suspended_not_ready_and_generic(emu):
    cfg = configure(emu, receiver={"secret": "tok", "type": "generic"})
    path = cfg["webhook_path"]
    ours = promote(emu, "v5")
    emu.ctl("POST", "flux/receiver", {"webhook_path": path, "suspended": True})
    assert hook(emu, path).status_code == 503
    emu.ctl("POST", "flux/receiver", {"webhook_path": path, "suspended": False, "ready": False})
    assert hook(emu, path).status_code == 503
    emu.ctl("POST", "flux/receiver", {"webhook_path": path, "ready": True})
    # generic: any request will do, signed or not, any method
    assert hook(emu, path, body=b"", method="GET").status_code == 200
    wait_for(lambda: statuses(emu, ours))


def test_a_receiver_configured_with_a_token_joins_its_scope(emu):
    """Tests sharing one emulator: the Receiver's calls carry no GitHub token, so they are logged
    and faulted under the token of the test that configured the instance."""
    cfg = configure(emu, receiver={"secret": "tok", "type": "generic"}, token="ghp_scopeowner")
    path = cfg["webhook_path"]
    emu.ctl("POST", "faults", {"path_regex": "^/hook/", "status": 503, "token": "ghp_scopeowner"})
    emu.ctl("POST", "faults", {"path_regex": "^/hook/", "status": 500, "token": "ghp_another"})
    assert hook(emu, path).status_code == 503
    assert hook(emu, path).status_code == 200
    ours = emu.ctl("GET", "requests?token=ghp_scopeowner")
    assert [(e["api"], e["status"]) for e in ours] == [("receiver", 503), ("receiver", 200)]
    assert emu.ctl("GET", "requests?token=ghp_another") == []


def test_reset_switches_flux_off(emu):
    configure(emu, receiver={"secret": "tok"})
    emu.ctl("POST", "reset")
    assert emu.ctl("GET", "flux") == {"instances": [], "events": []}


def test_split_camelcase_matches_flux():
    assert flux.split_camelcase("ReconciliationSucceeded") == ["Reconciliation", "Succeeded"]
    assert flux.split_camelcase("HealthCheckFailed") == ["Health", "Check", "Failed"]
    assert flux.split_camelcase("PDFLoader") == ["PDF", "Loader"]
    assert flux.split_camelcase("GL11Version") == ["GL", "11", "Version"]
    assert flux.description_for("DependencyNotReady") == "dependency not ready"
    assert flux.status_context("Kustomization", "Sample-SaaS", "ABCD-1") == "kustomization/sample-saas/abcd"


def test_config_file_configures_flux(tmp_path):
    """`--config` takes a "flux" list, applied after repos and tokens."""
    from github_emulator.core import Emulator
    emu = Emulator(str(tmp_path))
    try:
        emu.apply_config({"repos": [{"owner": "acme", "name": "fleet", "files": {"a.txt": "a\n"}}],
                          "flux": [{"repo": "acme/fleet", "kustomizations": ["apps"], "provider_uid": UID,
                                    "delay_ms": -1, "receiver": {"secret": "tok"}}]})
        state = emu.flux.state()["instances"][0]
        assert state["contexts"] == {"apps": CTX_APPS}
        assert state["webhook_path"] == flux.webhook_path("tok", "gitops-promote", "flux-system")
        new = emu.out_of_band_commit("acme/fleet", "main", {"a.txt": "b\n"})
        assert [(e["event"], e["revision"]) for e in emu.flux.flush()] == [("status", new)]
    finally:
        emu.flux.stop()
