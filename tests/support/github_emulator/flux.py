"""A Flux stand-in: Kustomizations that "apply" a branch of a GitOps repository and
report back through notification-controller's `github` provider, and a Receiver
that triggers a reconcile from a webhook.

What is modelled, each with its source:

- The github provider posts one commit status per object on the revision the event
  names; context `<kind>/<name>/<first segment of the Provider UID>`, lowercased;
  state `success` (info event) or `failure` (error event), never `pending`
  (Progressing events are skipped); description from the event reason split at
  camel case and lowercased ("ReconciliationSucceeded" -> "reconciliation
  succeeded"); no target_url. Before posting it lists the commit's statuses and
  skips a duplicate (the newest status of that context already has that state and
  description). Source: fluxcd/notification-controller internal/notifier/github.go
  (Post, toGitHubState, duplicateGithubStatus) and internal/notifier/util.go
  (formatNameAndDescription, generateCommitStatusID, splitCamelcase).
- A Kustomization applies whatever the branch head is when its reconcile runs, so a
  commit superseded before that gets no status at all (notification-controller#327).
  The emulator notices a head change at once (every ref move goes through
  GitRepo.cas_ref) and runs the reconcile `delay_ms` after the first unapplied
  change, standing in for the GitRepository/Kustomization intervals.
- The Receiver (`/hook/<digest>`, digest = sha256 of token + name + namespace, hex;
  api/v1 Receiver.GetWebhookPath) matches the request URI exactly (404 otherwise),
  answers 503 when suspended or not ready, checks `generic-hmac` signatures with
  go-github's ValidateSignature (`X-Signature: sha1=|sha256=|sha512=<hex HMAC of the
  raw body>`; missing, malformed or wrong -> 400), accepts anything for `generic`,
  and on success requests a reconcile of its resources at once; every answer has an
  empty body. Source: internal/server/receiver_handlers.go (handlePayload, validate),
  docs/spec/v1/receivers.md.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .core import Emulator, Repo

DEFAULT_PROVIDER_UID = "5f3c1e2a-9b7d-4c8e-a1f0-6d2b4e8c9a71"
DEFAULT_DELAY_MS = 1000
# The event reasons kustomize-controller emits for a healthy and a failed rollout.
REASONS = {"success": "ReconciliationSucceeded", "failure": "HealthCheckFailed"}
OUTCOMES = ("success", "failure", "none")


def split_camelcase(src: str) -> List[str]:
    """fatih/camelcase Split, as vendored by notification-controller (util.go)."""
    runes: List[List[str]] = []
    last = 0
    for ch in src:
        if ch.islower():
            cls = 1
        elif ch.isupper():
            cls = 2
        elif unicodedata.category(ch) == "Nd":
            cls = 3
        else:
            cls = 4
        if cls == last and runes:
            runes[-1].append(ch)
        else:
            runes.append([ch])
        last = cls
    # "PDFL", "oader" -> "PDF", "Loader"
    for i in range(len(runes) - 1):
        if runes[i][0].isupper() and runes[i + 1][0].islower():
            runes[i + 1].insert(0, runes[i].pop())
    return ["".join(r) for r in runes if r]


def description_for(reason: str) -> str:
    return " ".join(split_camelcase(reason)).lower()


def status_context(kind: str, name: str, provider_uid: str) -> str:
    return f"{kind}/{name}/{provider_uid.split('-')[0]}".lower()


def webhook_path(token: str, name: str, namespace: str) -> str:
    return "/hook/" + hashlib.sha256((token + name + namespace).encode()).hexdigest()


def validate_signature(signature: str, payload: bytes, secret: bytes) -> Optional[str]:
    """go-github ValidateSignature: None when valid, else the reason."""
    if not signature:
        return "missing signature"
    prefix, sep, hexsig = signature.partition("=")
    if not sep:
        return f"error parsing signature {signature!r}"
    algo = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}.get(prefix)
    if algo is None:
        return f"unknown hash type prefix: {prefix!r}"
    try:
        given = bytes.fromhex(hexsig)
    except ValueError:
        return f"error decoding signature {signature!r}"
    if not hmac.compare_digest(given, hmac.new(secret, payload, algo).digest()):
        return "payload signature check failed"
    return None


@dataclass
class FluxObject:
    """A Kustomization (or another kind) whose events an Alert forwards to the Provider."""
    name: str
    kind: str = "Kustomization"
    outcome: str = "success"  # success | failure | none (no Alert covers it: it never reports)
    reason: Optional[str] = None
    description: Optional[str] = None
    delay_ms: int = DEFAULT_DELAY_MS  # -1: never by itself, only by the Receiver or a flush
    applied: Optional[str] = None
    due: Optional[float] = None
    force: bool = False  # a Receiver/flush asked for a reconcile even without a new revision
    seen: List[str] = field(default_factory=list)  # heads seen since the last apply


@dataclass
class Receiver:
    name: str
    namespace: str
    type: str
    secret: str
    path: str
    suspended: bool = False
    ready: bool = True
    delay_ms: int = 0
    calls: int = 0


@dataclass
class FluxInstance:
    repo: str
    branch: str
    provider_uid: str
    creator: str
    objects: List[FluxObject]
    receiver: Optional[Receiver] = None
    # the Repo itself, so the reconcile thread never takes the emulator's lock: a ref move
    # may hold that lock while the watcher takes ours
    repo_obj: Any = None
    # On an emulator tests share: the token of the test that configured this instance. The
    # Receiver's calls carry no GitHub token, so they join that test's scope (faults, log).
    scope_token: Optional[str] = None

    @property
    def key(self) -> Tuple[str, str]:
        return self.repo.lower(), self.branch


class FluxSim:
    def __init__(self, emu: Emulator):
        self.emu = emu
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.instances: Dict[Tuple[str, str], FluxInstance] = {}
        self.events: List[Dict[str, Any]] = []
        self._thread: Optional[threading.Thread] = None
        self._stopped = False

    # ------------------------------------------------------------------ configuration
    def configure(self, spec: Dict[str, Any]) -> Dict[str, Any]:
        allowed = {"repo", "branch", "kustomizations", "provider_uid", "delay_ms", "outcome", "reason",
                   "description", "creator", "initial", "receiver", "token"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown flux fields {sorted(unknown)}")
        repo = self._repo(spec["repo"])
        branch = spec.get("branch") or repo.default_branch
        delay = int(spec.get("delay_ms", DEFAULT_DELAY_MS))

        def per(key: str, name: str) -> Any:
            val = spec.get(key)
            return val.get(name) if isinstance(val, dict) else val

        objects = []
        for item in spec.get("kustomizations") or []:
            d = {"name": item} if isinstance(item, str) else dict(item)
            name = d.pop("name")
            kind = d.pop("kind", "Kustomization")
            obj = FluxObject(name=name, kind=kind, outcome=d.pop("outcome", per("outcome", name) or "success"),
                             reason=d.pop("reason", per("reason", name)),
                             description=d.pop("description", per("description", name)),
                             delay_ms=int(d.pop("delay_ms", delay)))
            if d:
                raise ValueError(f"unknown kustomization fields {sorted(d)}")
            if obj.outcome not in OUTCOMES:
                raise ValueError(f"outcome must be one of {OUTCOMES}, not {obj.outcome!r}")
            objects.append(obj)
        if not objects:
            raise ValueError("kustomizations: name at least one")
        receiver = None
        if spec.get("receiver") is not None:
            r = dict(spec["receiver"])
            rtype = r.pop("type", "generic-hmac")
            if rtype not in ("generic", "generic-hmac"):
                raise ValueError("receiver type must be generic or generic-hmac")
            secret = str(r.pop("secret", ""))
            name = r.pop("name", "gitops-promote")
            namespace = r.pop("namespace", "flux-system")
            path = r.pop("path", None) or webhook_path(secret, name, namespace)
            if not path.startswith("/hook/"):
                path = "/hook/" + path.lstrip("/")
            receiver = Receiver(name=name, namespace=namespace, type=rtype, secret=secret, path=path,
                                suspended=bool(r.pop("suspended", False)), ready=bool(r.pop("ready", True)),
                                delay_ms=int(r.pop("delay_ms", 0)))
            if r:
                raise ValueError(f"unknown receiver fields {sorted(r)}")
        initial = spec.get("initial", "applied")
        if initial not in ("applied", "report", "pending"):
            raise ValueError("initial must be applied, report or pending")
        inst = FluxInstance(repo=repo.full_name, branch=branch,
                            provider_uid=str(spec.get("provider_uid") or DEFAULT_PROVIDER_UID),
                            creator=str(spec.get("creator") or "flux"), objects=objects, receiver=receiver,
                            repo_obj=repo, scope_token=spec.get("token"))
        head = repo.git.ref_oid(f"refs/heads/{branch}")
        with self.lock:
            if receiver is not None:
                for other in self.instances.values():
                    if other.key != inst.key and other.receiver and other.receiver.path == receiver.path:
                        raise ValueError(f"receiver path {receiver.path} is already in use")
            old = self.instances.get(inst.key)
            prior = {(o.kind, o.name): o for o in (old.objects if old else [])}
            for obj in objects:
                before = prior.get((obj.kind, obj.name))
                if before is not None:
                    # reconfiguring keeps what the cluster already runs
                    obj.applied, obj.due, obj.seen = before.applied, before.due, list(before.seen)
                elif initial == "pending" and head is not None:
                    obj.seen = [head]
                    obj.due = time.time() + obj.delay_ms / 1000.0 if obj.delay_ms >= 0 else None
                else:
                    obj.applied = head
            self.instances[inst.key] = inst
            repo.git.on_ref_change = self._ref_changed_for(repo)
            if initial == "report" and head is not None:
                for obj in objects:
                    if (obj.kind, obj.name) not in prior:
                        self._report(inst, obj, head, "initial")
            self._ensure_thread()
            self.cond.notify_all()
        return self.describe(inst)

    def describe(self, inst: FluxInstance) -> Dict[str, Any]:
        return {
            "id": f"{inst.repo}@{inst.branch}", "repo": inst.repo, "branch": inst.branch,
            "provider_uid": inst.provider_uid, "creator": inst.creator,
            "contexts": {o.name: status_context(o.kind, o.name, inst.provider_uid) for o in inst.objects},
            "kustomizations": [{"name": o.name, "kind": o.kind, "outcome": o.outcome,
                                "reason": o.reason or REASONS.get(o.outcome),
                                "context": status_context(o.kind, o.name, inst.provider_uid),
                                "delay_ms": o.delay_ms, "applied": o.applied,
                                "pending": o.due is not None or bool(o.seen),
                                "due_in_ms": None if o.due is None else max(0, round((o.due - time.time()) * 1000))}
                               for o in inst.objects],
            "receiver": None if inst.receiver is None else {
                "name": inst.receiver.name, "namespace": inst.receiver.namespace, "type": inst.receiver.type,
                "webhook_path": inst.receiver.path, "suspended": inst.receiver.suspended,
                "ready": inst.receiver.ready, "calls": inst.receiver.calls},
            "webhook_path": inst.receiver.path if inst.receiver else None,
        }

    def state(self) -> Dict[str, Any]:
        with self.lock:
            return {"instances": [self.describe(i) for i in self.instances.values()], "events": list(self.events)}

    def set_receiver(self, path: str, suspended: Optional[bool] = None, ready: Optional[bool] = None) -> None:
        with self.lock:
            for inst in self.instances.values():
                if inst.receiver and inst.receiver.path == path:
                    if suspended is not None:
                        inst.receiver.suspended = bool(suspended)
                    if ready is not None:
                        inst.receiver.ready = bool(ready)
                    return
        raise ValueError(f"no receiver at {path}")

    def clear(self) -> None:
        with self.lock:
            for inst in self.instances.values():
                inst.repo_obj.git.on_ref_change = None
            self.instances.clear()
            self.events.clear()

    def stop(self) -> None:
        with self.lock:
            self._stopped = True
            self.cond.notify_all()

    # ------------------------------------------------------------------ watching the branch
    def _repo(self, full: str) -> Repo:
        owner, _, name = str(full).partition("/")
        repo = self.emu.get_repo(owner, name)
        if repo is None:
            raise ValueError(f"no repository {full}")
        return repo

    def _ref_changed_for(self, repo: Repo):
        full = repo.full_name.lower()

        def changed(ref: str, old: Optional[str], new: Optional[str]) -> None:
            if new is None or not ref.startswith("refs/heads/"):
                return
            inst = self.instances.get((full, ref[len("refs/heads/"):]))
            if inst is None:
                return
            now = time.time()
            with self.lock:
                for obj in inst.objects:
                    if new == obj.applied:
                        continue
                    obj.seen.append(new)
                    if obj.due is None and obj.delay_ms >= 0:
                        obj.due = now + obj.delay_ms / 1000.0
                self.cond.notify_all()

        return changed

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="flux-sim", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        with self.lock:
            while not self._stopped:
                now = time.time()
                dues = [o.due for i in self.instances.values() for o in i.objects if o.due is not None]
                if dues and min(dues) <= now:
                    for inst in list(self.instances.values()):
                        for obj in inst.objects:
                            if obj.due is not None and obj.due <= now:
                                self._fire(inst, obj, "interval")
                    continue
                self.cond.wait(timeout=None if not dues else max(0.001, min(dues) - now))

    # ------------------------------------------------------------------ reconcile and report
    def _fire(self, inst: FluxInstance, obj: FluxObject, trigger: str) -> None:
        obj.due = None
        force, obj.force = obj.force, False
        head = inst.repo_obj.git.ref_oid(f"refs/heads/{inst.branch}")
        if head is None:
            return
        if head == obj.applied and not force:
            return
        for old in obj.seen:
            if old != head and old != obj.applied:
                self._event(inst, obj, old, "superseded", trigger)
        obj.seen = []
        obj.applied = head
        self._report(inst, obj, head, trigger)

    def _report(self, inst: FluxInstance, obj: FluxObject, revision: str, trigger: str) -> None:
        if obj.outcome == "none":
            self._event(inst, obj, revision, "unreported", trigger)
            return
        repo = inst.repo_obj
        state = "success" if obj.outcome == "success" else "failure"
        desc = obj.description if obj.description is not None else description_for(
            obj.reason or REASONS[obj.outcome])
        context = status_context(obj.kind, obj.name, inst.provider_uid)
        book = self.emu.statuses
        # duplicateGithubStatus: the newest status of this context among the first 50 listed
        for s in book.statuses(repo, revision)[:50]:
            if s.context == context:
                if s.state == state and s.description == desc:
                    self._event(inst, obj, revision, "duplicate", trigger, state=state, description=desc)
                    return
                break
        try:
            book.create_status(repo, revision, state, context, desc, None, inst.creator)
        except Exception as e:  # noqa: BLE001 - Flux logs a failed post and carries on
            self._event(inst, obj, revision, "post_failed", trigger, error=str(e))
            return
        self._event(inst, obj, revision, "status", trigger, state=state, description=desc, context=context)

    def _event(self, inst: FluxInstance, obj: FluxObject, revision: str, what: str, trigger: str,
               **extra: Any) -> None:
        self.events.append({"time": time.time(), "repo": inst.repo, "branch": inst.branch, "kind": obj.kind,
                            "name": obj.name, "revision": revision, "event": what, "trigger": trigger, **extra})

    def flush(self, repo: Optional[str] = None, branch: Optional[str] = None, force: bool = False) -> List[Dict]:
        """Run every pending reconcile now (with force: every object, like `flux
        reconcile`). Returns the events it produced."""
        with self.lock:
            start = len(self.events)
            for inst in list(self.instances.values()):
                if repo is not None and inst.repo.lower() != repo.lower():
                    continue
                if branch is not None and inst.branch != branch:
                    continue
                for obj in inst.objects:
                    # pending: a reconcile is scheduled, or a new head waits (delay_ms -1)
                    if obj.due is not None or obj.seen or force:
                        obj.force = obj.force or force
                        self._fire(inst, obj, "flush")
            return self.events[start:]

    # ------------------------------------------------------------------ the Receiver
    def scope_token(self, uri: str) -> Optional[str]:
        """The token whose scope a call to the Receiver at ``uri`` joins (see FluxInstance)."""
        with self.lock:
            inst = next((i for i in self.instances.values() if i.receiver and i.receiver.path == uri), None)
            return inst.scope_token if inst else None

    def receive(self, uri: str, headers: Dict[str, str], body: bytes) -> Tuple[int, Dict[str, Any]]:
        """(HTTP status, details for the request log)."""
        with self.lock:
            inst = next((i for i in self.instances.values() if i.receiver and i.receiver.path == uri), None)
            if inst is None:
                return 404, {"reason": "no receiver has this webhook path"}
            rec = inst.receiver
            info: Dict[str, Any] = {"receiver": f"{rec.namespace}/{rec.name}", "type": rec.type,
                                    "target": f"{inst.repo}@{inst.branch}"}
            if rec.suspended or not rec.ready:
                info["reason"] = "receiver is suspended" if rec.suspended else "receiver is not ready"
                return 503, info
            if rec.type == "generic-hmac":
                problem = validate_signature(headers.get("x-signature", ""), body, rec.secret.encode())
                if problem is not None:
                    info["reason"] = f"unable to validate HMAC signature: {problem}"
                    return 400, info
            rec.calls += 1
            due = time.time() + rec.delay_ms / 1000.0
            for obj in inst.objects:
                obj.force = True
                obj.due = due if obj.due is None else min(obj.due, due)
            self.cond.notify_all()
            info["reconcile_requested"] = [o.name for o in inst.objects]
            return 200, info
