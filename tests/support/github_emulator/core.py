"""Emulator state: repositories (bare git), tokens, users, pull requests, labels,
branch protection, faults, the request log and recorded contract violations.

REST and GraphQL handlers share these operations, so both APIs see one world.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from . import behaviours as rules
from .behaviours import ApiError  # noqa: F401 - re-exported: rest.py, graphql_api.py, server.py import it from here
from .gitstore import EMPTY_TREE, WEB_FLOW_SIGNATURE, GitRepo, Identity, ZERO_OID

PERMS = {"none": 0, "read": 1, "triage": 1, "write": 2, "maintain": 2, "admin": 3}
WEB_FLOW = Identity("GitHub", "noreply@github.com", 0)
OTHER_WRITER = ("Another Writer", "another-writer@example.com")


def iso(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(int(ts), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s: str) -> int:
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    d = _dt.datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return int(d.timestamp())


def tz_of_iso(s: str) -> str:
    s = s.strip()
    if s.endswith("Z"):
        return "+0000"
    m = re.search(r"([+-])(\d\d):?(\d\d)$", s)
    return f"{m.group(1)}{m.group(2)}{m.group(3)}" if m else "+0000"


def token_id(token: Optional[str]) -> Optional[str]:
    """What the request log and violations record of the token a request carried: a short hash,
    never the token itself. Tests sharing one emulator filter by it (``?token=``)."""
    if not token:
        return None
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def node_id(kind: str, payload: str) -> str:
    enc = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{kind}_{enc}"


def decode_node_id(nid: str) -> Optional[Tuple[str, str]]:
    if not isinstance(nid, str) or "_" not in nid:
        return None
    kind, enc = nid.split("_", 1)
    try:
        payload = base64.urlsafe_b64decode(enc + "=" * (-len(enc) % 4)).decode()
    except Exception:  # noqa: BLE001 - any garbage id is simply unknown
        return None
    return kind, payload


@dataclass
class User:
    login: str
    id: int
    name: str
    email: str
    type: str = "User"
    created_at: float = field(default_factory=time.time)

    @property
    def node_id(self) -> str:
        return node_id("U", self.login)


@dataclass
class Token:
    token: str
    login: str
    repos: Dict[str, str]
    pull_requests: bool = True
    kind: str = "pat"  # "pat" | "integration" (GITHUB_TOKEN / app) | "classic"
    # per-scope permissions of an app token or GITHUB_TOKEN, e.g. {"deployments": "write",
    # "statuses": "read"}; a scope not named follows the repository permission (statuses.py)
    permissions: Dict[str, str] = field(default_factory=dict)

    def forbidden_message(self) -> str:
        return "Resource not accessible by integration" if self.kind == "integration" else \
            "Resource not accessible by personal access token"


@dataclass
class Protection:
    branch: str
    require_pull_request: bool = True
    require_signed_commits: bool = False
    required_status_checks: List[str] = field(default_factory=list)
    kind: str = "classic"  # "classic" branch protection or "ruleset"


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: Optional[str] = None
    default: bool = False
    created_at: float = field(default_factory=time.time)


@dataclass
class PullRequest:
    number: int
    id: int
    title: str
    body: Optional[str]
    head_ref: str
    base_ref: str
    user: str
    draft: bool = False
    state: str = "open"
    merged: bool = False
    merged_at: Optional[float] = None
    merged_by: Optional[str] = None
    merge_commit_sha: Optional[str] = None
    closed_at: Optional[float] = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    maintainer_can_modify: bool = True
    labels: List[str] = field(default_factory=list)
    requested_reviewers: List[str] = field(default_factory=list)
    auto_merge: Optional[Dict[str, Any]] = None
    head_sha_at_close: Optional[str] = None
    # set when GitHub (not a user) closed or merged it: behaviours.CLOSED_* / MERGED_VIA_BASE
    closed_reason: Optional[str] = None
    # the background mergeability job (behaviours.observed_merge_state)
    mergeability_key: Optional[Tuple[str, str]] = None
    mergeability_unknown_left: int = 0


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    git: GitRepo
    default_branch: str
    private: bool = True
    auto_merge_allowed: bool = False
    merge_commit_allowed: bool = True
    squash_merge_allowed: bool = True
    rebase_merge_allowed: bool = True
    delete_branch_on_merge: bool = False
    description: Optional[str] = None
    collaborators: List[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    pulls: Dict[int, PullRequest] = field(default_factory=dict)
    labels: Dict[str, Label] = field(default_factory=dict)  # lower(name) -> Label
    protections: Dict[str, Protection] = field(default_factory=dict)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def node_id(self) -> str:
        return node_id("R", self.full_name)


@dataclass
class Fault:
    id: int
    method: str = "*"
    path_regex: str = ".*"
    body_regex: Optional[str] = None
    graphql_field: Optional[str] = None
    status: Optional[int] = None
    headers: Dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay_ms: int = 0
    nth: int = 1
    count: int = 1  # -1: unlimited
    commit: Optional[Dict[str, Any]] = None
    kind: Optional[str] = None
    # Serve the request for real, then answer with `status` instead (a proxy lost the answer).
    lose_response: bool = False
    # set x-ratelimit-reset to this many seconds after the fault fires
    reset_in: Optional[int] = None
    # "hang": accept, never answer (until the client gives up, or `delay_ms` if set);
    # "reset": close the connection with a TCP RST. With `lose_response`, after serving.
    connection: Optional[str] = None
    # Fire only for requests carrying this token (tests sharing one emulator scope faults so).
    token: Optional[str] = None
    seen: int = 0
    fired: int = 0


class Emulator:
    def __init__(self, state_dir: str):
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.lock = threading.RLock()
        # The request being served on this thread: violations are recorded with its token_id.
        self.scope = threading.local()
        self.started_at = time.time()
        self.strict_users = False
        self._reset_memory()

    # ------------------------------------------------------------------ admin
    def _reset_memory(self) -> None:
        self.repos: Dict[str, Repo] = {}
        self.tokens: Dict[str, Token] = {}
        self.users: Dict[str, User] = {}
        self.faults: List[Fault] = []
        self.requests: List[Dict[str, Any]] = []
        self.violations: List[Dict[str, Any]] = []
        self.limits = rules.Limits()
        # Mutations this "server" lacks, as an older GitHub Enterprise Server would.
        self.hidden_mutations: set = set()
        # The same two settings for one token's requests only (tests sharing one emulator).
        self._scoped_limits: Dict[str, rules.Limits] = {}
        self._scoped_hidden: Dict[str, set] = {}
        self.rate_windows = rules.RateWindows()
        self.content = rules.ContentCreation()
        self._ids = 1000
        self._seq = 0
        # commit statuses, deployments and the Flux simulator live in statuses.py and flux.py
        from .flux import FluxSim
        from .statuses import StatusBook
        old_flux = getattr(self, "flux", None)
        if old_flux is not None:
            old_flux.stop()
        self.statuses = StatusBook(self)
        self.flux = FluxSim(self)

    # The limits and the missing mutations of the request being served: its token's own when set
    # with `token` (POST /_emulator/limits, /_emulator/schema), else the server's.
    @property
    def limits(self) -> rules.Limits:
        scoped = self._scoped_limits.get(getattr(self.scope, "token_id", None))
        return self._limits if scoped is None else scoped

    @limits.setter
    def limits(self, value: rules.Limits) -> None:
        self._limits = value

    @property
    def hidden_mutations(self) -> set:
        scoped = self._scoped_hidden.get(getattr(self.scope, "token_id", None))
        return self._hidden_mutations if scoped is None else scoped

    @hidden_mutations.setter
    def hidden_mutations(self, value: set) -> None:
        self._hidden_mutations = value

    def hide_mutations(self, names: List[str], token: Optional[str] = None) -> List[str]:
        with self.lock:
            if token:
                self._scoped_hidden[token_id(token)] = set(names)
            else:
                self._hidden_mutations = set(names)
        return sorted(set(names))

    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    def reset(self) -> None:
        with self.lock:
            for repo in self.repos.values():
                shutil.rmtree(repo.git.path, ignore_errors=True)
            shutil.rmtree(os.path.join(self.state_dir, "repos"), ignore_errors=True)
            self._reset_memory()

    def apply_config(self, cfg: Dict[str, Any]) -> None:
        if "strict_users" in cfg:
            self.strict_users = bool(cfg["strict_users"])
        for u in cfg.get("users", []):
            self.add_user(**u)
        for r in cfg.get("repos", []):
            self.create_repo(**r)
        for t in cfg.get("tokens", []):
            self.add_token(**t)
        for p in cfg.get("protect", cfg.get("protections", [])):
            self.protect(**p)
        for f in cfg.get("faults", []):
            self.add_fault(f)
        for f in cfg.get("flux", []):
            self.flux.configure(f)
        if cfg.get("limits"):
            self.limits.update(cfg["limits"])

    # ------------------------------------------------------------------ users
    def add_user(self, login: str, name: Optional[str] = None, email: Optional[str] = None,
                 type: str = "User") -> User:  # noqa: A002 - GitHub's field name
        with self.lock:
            u = self.users.get(login.lower())
            if u is None:
                uid = zlib.crc32(login.lower().encode()) % 90_000_000 + 1_000_000
                u = User(login=login, id=uid, name=name or login,
                         email=email or f"{uid}+{login}@users.noreply.github.com", type=type)
                self.users[login.lower()] = u
            else:
                if name:
                    u.name = name
                if email:
                    u.email = email
            return u

    def user(self, login: str, create: bool = True) -> Optional[User]:
        with self.lock:
            u = self.users.get(login.lower())
            if u is None and create and not self.strict_users and re.fullmatch(
                    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(\[bot\])?", login):
                u = self.add_user(login)
            return u

    # ------------------------------------------------------------------ tokens
    def add_token(self, token: str, login: str, repos: Optional[Dict[str, str]] = None,
                  pull_requests: bool = True, kind: str = "pat", name: Optional[str] = None,
                  email: Optional[str] = None, permissions: Optional[Dict[str, str]] = None) -> Token:
        for full, perm in list((repos or {}).items()) + list((permissions or {}).items()):
            if perm not in PERMS:
                raise ValueError(f"unknown permission {perm!r} for {full}")
        self.add_user(login, name=name, email=email, type="Bot" if login.endswith("[bot]") else "User")
        t = Token(token=token, login=login, repos=dict(repos or {}), pull_requests=pull_requests, kind=kind,
                  permissions=dict(permissions or {}))
        with self.lock:
            self.tokens[token] = t
        return t

    def permission(self, token: Optional[Token], repo: Repo) -> str:
        if token is None:
            return "none"
        perm = token.repos.get(repo.full_name)
        if perm is None:
            perm = token.repos.get(repo.full_name.lower())
        if perm is None:
            perm = token.repos.get(f"{repo.owner}/*", token.repos.get("*", "none"))
        if perm == "none" and not repo.private:
            return "read"
        return perm

    # ------------------------------------------------------------------ repos
    def repo_path(self, owner: str, name: str) -> str:
        return os.path.join(self.state_dir, "repos", owner, f"{name}.git")

    def create_repo(self, owner: str, name: str, default_branch: str = "main", seed_dir: Optional[str] = None,
                    files: Optional[Dict[str, str]] = None, auto_merge_allowed: bool = False,
                    private: bool = True, message: str = "Initial commit", **settings: Any) -> Repo:
        full = f"{owner}/{name}"
        if seed_dir is not None and not os.path.isdir(seed_dir):
            raise ValueError(f"seed_dir {seed_dir!r} is not a directory")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", owner) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"invalid repository name {full!r}")
        with self.lock:
            if full.lower() in {k.lower() for k in self.repos}:
                raise ValueError(f"repository {full} already exists")
            path = self.repo_path(owner, name)
            if os.path.exists(path):
                shutil.rmtree(path)
            git = GitRepo.init(path, default_branch)
            repo = Repo(owner=owner, name=name, id=self.next_id() + 500_000_000, git=git,
                        default_branch=default_branch, private=private, auto_merge_allowed=auto_merge_allowed)
            for key, val in settings.items():
                if not hasattr(repo, key) or key in ("pulls", "labels", "protections", "git", "id"):
                    raise ValueError(f"unknown repository setting {key!r}")
                setattr(repo, key, val)
            self.add_user(owner)
            self.repos[full] = repo
        if seed_dir is not None or files is not None:
            tree = git.build_tree_from_dir(seed_dir) if seed_dir is not None else EMPTY_TREE
            if files:
                changes = {p: ("100644", git.write_blob(c.encode("utf-8") if isinstance(c, str) else c))
                           for p, c in files.items()}
                tree = git.apply_changes(tree, changes)
            owner_user = self.user(owner)
            ident = Identity(owner_user.name, owner_user.email, int(time.time()))
            oid = git.commit_tree(tree, [], message, ident, ident)
            if not git.cas_ref(f"refs/heads/{default_branch}", oid, None):
                raise RuntimeError("could not create the default branch")
        return repo

    def get_repo(self, owner: str, name: str) -> Optional[Repo]:
        with self.lock:
            repo = self.repos.get(f"{owner}/{name}")
            if repo is None:
                for k, v in self.repos.items():
                    if k.lower() == f"{owner}/{name}".lower():
                        return v
            return repo

    def repo_for(self, token: Optional[Token], owner: str, name: str, need: str = "read") -> Repo:
        """The repository if ``token`` may ``need`` it, else the error GitHub gives."""
        repo = self.get_repo(owner, name)
        if repo is None or PERMS[self.permission(token, repo)] < PERMS["read"]:
            raise ApiError(404, "Not Found")
        if PERMS[self.permission(token, repo)] < PERMS[need]:
            raise ApiError(403, token.forbidden_message() if token else "Forbidden")
        return repo

    def require_pr_write(self, token: Optional[Token], repo: Repo) -> None:
        self.repo_for(token, repo.owner, repo.name, "write")
        if token is not None and not token.pull_requests:
            raise ApiError(403, token.forbidden_message())

    def protect(self, repo: str, branch: str, require_signed_commits: bool = False,
                require_pull_request: bool = True, required_status_checks: Optional[List[str]] = None,
                kind: str = "classic", enabled: bool = True) -> Optional[Protection]:
        r = self.get_repo(*repo.split("/", 1))
        if r is None:
            raise ValueError(f"no repository {repo}")
        if kind not in ("classic", "ruleset"):
            raise ValueError("kind must be 'classic' or 'ruleset'")
        with self.lock:
            if not enabled:
                r.protections.pop(branch, None)
                return None
            p = Protection(branch=branch, require_pull_request=require_pull_request,
                           require_signed_commits=require_signed_commits,
                           required_status_checks=list(required_status_checks or []), kind=kind)
            r.protections[branch] = p
            return p

    # ------------------------------------------------------------------ git helpers
    def identity_for(self, login: str, ts: Optional[int] = None) -> Identity:
        u = self.user(login) or self.add_user(login)
        return Identity(u.name, u.email, int(ts if ts is not None else time.time()))

    def branch_head(self, repo: Repo, branch: str) -> Optional[str]:
        return repo.git.ref_oid(f"refs/heads/{branch}")

    def check_update_allowed(self, repo: Repo, ref: str, old: Optional[str], new: Optional[str],
                             via: str) -> None:
        """Apply branch protection to a direct ref update (behaviours.protection_refusal)."""
        err = rules.protection_refusal(repo, ref, old, new, via)
        if err is not None:
            raise err

    def branch_moved(self, repo: Repo, ref: str, old: Optional[str], new: Optional[str],
                     actor: Optional[str] = None) -> None:
        """Every successful move of a ref ends here: GitHub's consequences for pull requests."""
        self._touch(repo)
        if ref.startswith("refs/heads/"):
            rules.after_branch_moved(self, repo, ref[len("refs/heads/"):], old, new, actor)

    def commit_on_branch(self, repo: Repo, branch: str, expected_head: str,
                         additions: List[Tuple[str, bytes]], deletions: List[str], message: str,
                         actor: str) -> str:
        """createCommitOnBranch: one signed commit, guarded by expectedHeadOid."""
        ref = f"refs/heads/{branch}"
        git = repo.git
        head = git.ref_oid(ref)
        if head is None:
            raise ApiError(404, f"A ref named \"{ref}\" does not exist.", gql_type="NOT_FOUND")
        stale = rules.stale_head_message(expected_head)
        if head != expected_head.lower():
            raise ApiError(409, stale, gql_type="STALE_DATA")
        self.check_update_allowed(repo, ref, head, head, "graphql-commit")
        base_info = git.commit_info(head)
        changes: Dict[str, Optional[Tuple[str, str]]] = {}
        for path in deletions:
            clean = _clean_path(path)
            entry = git.entry_at(base_info.tree, clean)
            if entry is None or entry.type == "tree":
                raise ApiError(422, "A path was requested for deletion which does not exist as of commit oid "
                                    f"`{head}`", gql_type="UNPROCESSABLE")
            changes[clean] = None
        for path, content in additions:
            clean = _clean_path(path)
            changes[clean] = (rules.COMMIT_ON_BRANCH_FILE_MODE, git.write_blob(content))
        tree = git.apply_changes(base_info.tree, changes) if changes else base_info.tree
        now = int(time.time())
        author = self.identity_for(actor, now)
        committer = Identity(WEB_FLOW.name, WEB_FLOW.email, now)
        oid = git.commit_tree(tree, [head], message, author, committer, gpgsig=WEB_FLOW_SIGNATURE)
        with git.ref_lock:
            if git.ref_oid(ref) != head or not git.cas_ref(ref, oid, head):
                raise ApiError(409, stale, gql_type="STALE_DATA")
        self.branch_moved(repo, ref, head, oid, actor)
        return oid

    def out_of_band_commit(self, repo_full: str, branch: str, files: Dict[str, Optional[str]],
                           message: str = "Out-of-band change", author: Optional[Dict[str, str]] = None,
                           signed: bool = False) -> str:
        """Another writer pushes a commit (bypasses protection, like an admin push)."""
        repo = self.get_repo(*repo_full.split("/", 1))
        if repo is None:
            raise ValueError(f"no repository {repo_full}")
        git = repo.git
        ref = f"refs/heads/{branch}"
        for _ in range(50):
            head = git.ref_oid(ref)
            if head is None:
                # a new branch starts at the default branch, like `git checkout -b`
                start = git.ref_oid(f"refs/heads/{repo.default_branch}")
                base_tree = git.commit_info(start).tree if start else None
                parents = [start] if start else []
            else:
                base_tree = git.commit_info(head).tree
                parents = [head]
            changes = {}
            for path, content in files.items():
                if content is None:
                    changes[_clean_path(path)] = None
                else:
                    data = content.encode("utf-8") if isinstance(content, str) else content
                    changes[_clean_path(path)] = ("100644", git.write_blob(data))
            tree = git.apply_changes(base_tree, changes)
            now = int(time.time())
            name, email = (author or {}).get("name", OTHER_WRITER[0]), (author or {}).get("email", OTHER_WRITER[1])
            # `date` (seconds since the epoch): a commit made earlier, e.g. a branch left long ago
            ident = Identity(name, email, int((author or {}).get("date", now)))
            oid = git.commit_tree(tree, parents, message, ident, ident,
                                  gpgsig=WEB_FLOW_SIGNATURE if signed else None)
            if git.cas_ref(ref, oid, head):
                self.branch_moved(repo, ref, head, oid)
                return oid
        raise RuntimeError("could not land the out-of-band commit")

    def _touch(self, repo: Repo) -> None:
        repo.updated_at = time.time()

    # ------------------------------------------------------------------ refs
    def create_ref(self, repo: Repo, ref: str, oid: str, graphql: bool = False, actor: Optional[str] = None) -> None:
        if not ref.startswith("refs/") or ref.count("/") < 2 or not _valid_refname(ref):
            if graphql:
                raise ApiError(422, f"Reference name \"{ref}\" is not fully qualified or is invalid.")
            raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes."
                           if not ref.startswith("refs/") or ref.count("/") < 2 else f"{ref} is not a valid ref name.",
                           doc="https://docs.github.com/rest/git/refs#create-a-reference")
        if not _is_oid(oid) or repo.git.object_type(oid) is None:
            raise ApiError(422, "Object does not exist", doc="https://docs.github.com/rest/git/refs#create-a-reference")
        if ref.startswith("refs/heads/") and repo.git.object_type(oid) != "commit":
            raise ApiError(422, "Object does not exist", doc="https://docs.github.com/rest/git/refs#create-a-reference")
        if not repo.git.cas_ref(ref, oid, None):
            if graphql:
                raise ApiError(422, f"A ref named \"{ref}\" already exists in the repository.")
            raise ApiError(422, "Reference already exists",
                           doc="https://docs.github.com/rest/git/refs#create-a-reference")
        self.branch_moved(repo, ref, None, oid, actor)

    def update_ref(self, repo: Repo, ref: str, oid: str, force: bool, via: str = "rest",
                   actor: Optional[str] = None) -> None:
        doc = "https://docs.github.com/rest/git/refs#update-a-reference"
        git = repo.git
        for _ in range(20):
            cur = git.ref_oid(ref)
            if cur is None:
                raise ApiError(422, "Reference does not exist", doc=doc)
            typ = git.object_type(oid) if _is_oid(oid) else None
            if typ is None or (ref.startswith("refs/heads/") and typ != "commit"):
                raise ApiError(422, "Object does not exist", doc=doc)
            refusal = rules.ref_update_refusal(git, cur, oid, force)
            if refusal:
                raise ApiError(422, refusal, doc=doc)
            self.check_update_allowed(repo, ref, cur, oid, via)
            if git.cas_ref(ref, oid, cur):
                self.branch_moved(repo, ref, cur, oid, actor)
                return
        raise ApiError(409, "Reference update failed", doc=doc)

    def update_refs(self, repo: Repo, updates: List[Dict[str, Any]], actor: Optional[str] = None) -> None:
        """GraphQL updateRefs: create, move or delete several refs atomically. Each update's
        `beforeOid` (all zeros: must not exist) must match, and a non-fast-forward needs `force`;
        if one is refused, none is applied (GraphQL docs, Mutation.updateRefs)."""
        git = repo.git
        zero = "0" * 40
        with git.ref_lock:
            planned = []
            for u in updates:
                ref = u["name"]
                if not ref.startswith("refs/") or not _valid_refname(ref):
                    raise ApiError(422, f"Reference name \"{ref}\" is not fully qualified or is invalid.",
                                   gql_type="UNPROCESSABLE")
                cur = git.ref_oid(ref)
                before = u.get("beforeOid")
                if before is not None and (cur or zero) != before.lower():
                    raise ApiError(422, f"A ref was not updated: {ref} does not point to {before}.",
                                   gql_type="UNPROCESSABLE")
                after = u["afterOid"].lower()
                new = None if after == zero else after
                if new is not None:
                    if git.object_type(new) != "commit" and ref.startswith("refs/heads/"):
                        raise ApiError(422, "Object does not exist", gql_type="UNPROCESSABLE")
                    if cur is not None:
                        refusal = rules.ref_update_refusal(git, cur, new, bool(u.get("force")))
                        if refusal:
                            raise ApiError(422, refusal, gql_type="UNPROCESSABLE")
                elif cur is None:
                    raise ApiError(422, f"Reference {ref} does not exist.", gql_type="UNPROCESSABLE")
                self.check_update_allowed(repo, ref, cur, new, "graphql-ref")
                planned.append((ref, cur, new))
            for ref, cur, new in planned:
                if not git.cas_ref(ref, new, cur):
                    raise ApiError(409, "Reference update failed", gql_type="UNPROCESSABLE")
            for ref, cur, new in planned:
                self.branch_moved(repo, ref, cur, new, actor)

    def delete_ref(self, repo: Repo, ref: str, actor: Optional[str] = None) -> None:
        cur = repo.git.ref_oid(ref)
        if cur is None:
            raise ApiError(422, "Reference does not exist",
                           doc="https://docs.github.com/rest/git/refs#delete-a-reference")
        self.check_update_allowed(repo, ref, cur, None, "rest")
        if not repo.git.cas_ref(ref, None, cur):
            raise ApiError(422, "Reference update failed")
        self.branch_moved(repo, ref, cur, None, actor)

    # ------------------------------------------------------------------ labels
    def label(self, repo: Repo, name: str, create: bool = False, color: str = "ededed",
              description: Optional[str] = None) -> Optional[Label]:
        with self.lock:
            lab = repo.labels.get(name.lower())
            if lab is None and create:
                lab = Label(id=self.next_id() + 3_000_000_000, name=name, color=color, description=description)
                repo.labels[name.lower()] = lab
            return lab

    def label_by_id(self, repo: Repo, lid: int) -> Optional[Label]:
        for lab in list(repo.labels.values()):
            if lab.id == lid:
                return lab
        return None

    # ------------------------------------------------------------------ pulls
    def find_pull(self, repo: Repo, number: int) -> PullRequest:
        pr = repo.pulls.get(number)
        if pr is None:
            raise ApiError(404, "Not Found")
        return pr

    def create_pull(self, repo: Repo, actor: str, head: str, base: str, title: str, body: Optional[str],
                    draft: bool = False, maintainer_can_modify: bool = True, graphql: bool = False) -> PullRequest:
        head_branch = head.split(":", 1)[1] if ":" in head else head
        head_owner = head.split(":", 1)[0] if ":" in head else repo.owner
        errors = []
        if head_owner.lower() != repo.owner.lower():
            errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
        head_oid = self.branch_head(repo, head_branch)
        base_oid = self.branch_head(repo, base)
        if head_oid is None and not errors:
            errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if base_oid is None:
            errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if errors:
            if graphql:
                field_names = ", ".join(e["field"] for e in errors)
                raise ApiError(422, f"{field_names.capitalize()} sha can't be blank, {field_names} ref must be a "
                                    "branch" if head_oid is None else "Base ref must be a branch")
            raise ApiError(422, "Validation Failed", errors=errors,
                           doc="https://docs.github.com/rest/pulls/pulls#create-a-pull-request")
        with self.lock:
            refusal = rules.create_refusal(self, repo, head_branch, base, base_oid, head_oid, graphql)
            if refusal is not None:
                raise refusal
            number = repo.next_number
            repo.next_number += 1
            pr = PullRequest(number=number, id=self.next_id() + 1_000_000_000, title=title, body=body,
                             head_ref=head_branch, base_ref=base, user=actor, draft=draft,
                             maintainer_can_modify=maintainer_can_modify)
            repo.pulls[number] = pr
        repo.git.cas_ref(f"refs/pull/{number}/head", head_oid, None)
        self._touch(repo)
        return pr

    def pull_head_oid(self, repo: Repo, pr: PullRequest) -> str:
        if pr.state == "open":
            oid = self.branch_head(repo, pr.head_ref)
            if oid:
                return oid
        return repo.git.ref_oid(f"refs/pull/{pr.number}/head") or pr.head_sha_at_close or ZERO_OID

    def pull_base_oid(self, repo: Repo, pr: PullRequest) -> str:
        return self.branch_head(repo, pr.base_ref) or ZERO_OID

    def merge_state(self, repo: Repo, pr: PullRequest, observe: bool = True) -> Tuple[str, str]:
        """(mergeable, mergeStateStatus) in GraphQL terms. ``observe``: a client reads it, so the
        background job's UNKNOWN may come first (behaviours.observed_merge_state); otherwise the
        computed value (what GitHub itself acts on)."""
        if observe:
            return rules.observed_merge_state(self, repo, pr)
        return rules.compute_merge_state(self, repo, pr)

    def update_pull(self, repo: Repo, pr: PullRequest, title: Optional[str] = None, body: Optional[str] = None,
                    state: Optional[str] = None, base: Optional[str] = None,
                    maintainer_can_modify: Optional[bool] = None, graphql: bool = False) -> PullRequest:
        with self.lock:
            state = state.lower() if state is not None else None
            refusal = rules.update_refusal(pr, base, state, graphql)
            if refusal is not None:
                raise refusal
            reopen = state == "open" and pr.state == "closed"
            if reopen:
                why = rules.reopen_refusal(self, repo, pr)
                if why is not None:
                    raise rules.validation_failed(why, field="state", graphql=graphql)
            if base is not None and base != pr.base_ref:
                if self.branch_head(repo, base) is None:
                    raise ApiError(422, "Validation Failed",
                                   errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}])
                pr.base_ref = base
            if title is not None:
                pr.title = title
            if body is not None:
                pr.body = body
            if maintainer_can_modify is not None:
                pr.maintainer_can_modify = maintainer_can_modify
            if state == "closed" and pr.state == "open":
                pr.state = "closed"
                pr.closed_at = time.time()
                pr.head_sha_at_close = self.pull_head_oid(repo, pr)
                pr.closed_reason = None
                pr.auto_merge = None
            elif reopen:
                pr.state = "open"
                pr.closed_at = None
                pr.closed_reason = None
                head = self.branch_head(repo, pr.head_ref)
                repo.git.cas_ref(f"refs/pull/{pr.number}/head", head, repo.git.ref_oid(f"refs/pull/{pr.number}/head"))
            pr.updated_at = time.time()
        return pr

    def merge_pull(self, repo: Repo, pr: PullRequest, actor: str, method: str = "merge",
                   title: Optional[str] = None, message: Optional[str] = None,
                   sha: Optional[str] = None) -> str:
        if pr.state != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        method = method.lower()
        allowed = {"merge": repo.merge_commit_allowed, "squash": repo.squash_merge_allowed,
                   "rebase": repo.rebase_merge_allowed}
        if not allowed.get(method, False):
            raise ApiError(405, f"{method.capitalize()} merges are not allowed on this repository.")
        git = repo.git
        head = self.pull_head_oid(repo, pr)
        if sha is not None and sha != head:
            raise ApiError(409, "Head branch was modified. Review and try the merge again.")
        base_ref = f"refs/heads/{pr.base_ref}"
        for _ in range(20):
            base = git.ref_oid(base_ref)
            out = git.git("merge-tree", "--write-tree", base, head, check=False).decode()
            tree = out.split("\n", 1)[0].strip()
            if not re.fullmatch(r"[0-9a-f]{40}", tree) or "CONFLICT" in out:
                raise ApiError(405, "Pull Request is not mergeable")
            now = int(time.time())
            committer = Identity(WEB_FLOW.name, WEB_FLOW.email, now)
            author = self.identity_for(actor, now)
            if method == "merge":
                msg = (title or f"Merge pull request #{pr.number} from {repo.owner}/{pr.head_ref}") + "\n\n" + (
                    message if message is not None else pr.title)
                new = git.commit_tree(tree, [base, head], msg, author, committer, gpgsig=WEB_FLOW_SIGNATURE)
            else:
                msg = (title or f"{pr.title} (#{pr.number})") + ("\n\n" + message if message else "")
                new = git.commit_tree(tree, [base], msg, self.identity_for(pr.user, now), committer,
                                      gpgsig=WEB_FLOW_SIGNATURE)
            self.check_update_allowed(repo, base_ref, base, new, "merge")
            if git.cas_ref(base_ref, new, base):
                break
        else:
            raise ApiError(409, "Base branch was modified. Review and try the merge again.")
        with self.lock:
            pr.state = "closed"
            pr.merged = True
            pr.merged_at = pr.closed_at = time.time()
            pr.merged_by = actor
            pr.merge_commit_sha = new
            pr.head_sha_at_close = head
            pr.auto_merge = None
            pr.updated_at = time.time()
        self.branch_moved(repo, base_ref, base, new, actor)
        if repo.delete_branch_on_merge:
            rules.retarget_on_auto_delete(self, repo, pr)
            if git.cas_ref(f"refs/heads/{pr.head_ref}", None, head):
                self.branch_moved(repo, f"refs/heads/{pr.head_ref}", head, None, actor)
        return new

    def request_reviewers(self, repo: Repo, pr: PullRequest, logins: List[str], union: bool = True) -> None:
        refusal = rules.reviewer_refusal(self, repo, pr, logins)
        if refusal is not None:
            raise refusal
        with self.lock:
            current = pr.requested_reviewers if union else []
            for login in logins:
                u = self.user(login)
                if u and u.login not in current:
                    current.append(u.login)
            pr.requested_reviewers = current
            pr.updated_at = time.time()

    def is_collaborator(self, repo: Repo, login: str) -> bool:
        if login.lower() == repo.owner.lower() or login.lower() in (c.lower() for c in repo.collaborators):
            return True
        for t in list(self.tokens.values()):
            if t.login.lower() == login.lower() and PERMS[self.permission(t, repo)] >= PERMS["read"]:
                return True
        return False

    # ------------------------------------------------------------------ faults
    PRESETS = rules.FAULT_PRESETS

    def add_fault(self, spec: Dict[str, Any]) -> Fault:
        spec = dict(spec)
        kind = spec.get("kind")
        if kind:
            if kind not in self.PRESETS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(self.PRESETS)}")
            preset = json.loads(json.dumps(self.PRESETS[kind]))
            headers = preset.get("headers", {})
            headers.update(spec.get("headers") or {})
            spec["headers"] = headers
            for k, v in preset.items():
                spec.setdefault(k, v)
        allowed = {"method", "path_regex", "body_regex", "graphql_field", "status", "headers", "body", "delay_ms",
                   "nth", "count", "commit", "kind", "lose_response", "reset_in", "connection",
                   "token"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        if spec.get("connection") not in (None, "hang", "reset"):
            raise ValueError("fault `connection` is \"hang\" or \"reset\"")
        re.compile(spec.get("path_regex", ".*"))
        if spec.get("body_regex"):
            re.compile(spec["body_regex"])
        spec["headers"] = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
        with self.lock:
            f = Fault(id=self.next_id(), **spec)
            self.faults.append(f)
        return f

    def match_faults(self, method: str, path: str, body_text: str, graphql_fields: List[str],
                     token: Optional[str] = None) -> List[Fault]:
        """Faults firing for this request (counters updated); `token` is the one it carried."""
        fired = []
        with self.lock:
            for f in self.faults:
                if f.token is not None and f.token != token:
                    continue
                if f.method not in ("*", "", None) and f.method.upper() != method.upper():
                    continue
                if not re.search(f.path_regex, path):
                    continue
                if f.body_regex and not re.search(f.body_regex, body_text or ""):
                    continue
                if f.graphql_field and f.graphql_field not in graphql_fields:
                    continue
                f.seen += 1
                if f.seen < f.nth:
                    continue
                if f.count != -1 and f.fired >= f.count:
                    continue
                f.fired += 1
                fired.append(f)
        return fired

    # ------------------------------------------------------------------ log
    def log_request(self, entry: Dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def violation(self, kind: str, method: str, path: str, problems: List[str], **extra: Any) -> None:
        with self.lock:
            scoped = getattr(self.scope, "token_id", None)
            self.violations.append({"kind": kind, "method": method, "path": path, "problems": problems,
                                    "time": iso(time.time()), **({"token_id": scoped} if scoped else {}),
                                    **extra})

    def rate_limit_tick(self, login: str, resource: str, count: bool = True) -> Tuple[int, int, int, bool]:
        """(limit, remaining, reset, exceeded) of the primary rate limit (behaviours.RateWindows)."""
        limit = self.limits.graphql_per_hour if resource == "graphql" else self.limits.core_per_hour
        with self.lock:
            return self.rate_windows.tick(login, resource, limit, count)

    def set_limits(self, values: Dict[str, Any]) -> Dict[str, int]:
        values = dict(values)
        token = values.pop("token", None)
        with self.lock:
            if token:
                scoped = self._scoped_limits.get(token_id(token)) or rules.Limits(**self._limits.as_dict())
                scoped.update(values)
                self._scoped_limits[token_id(token)] = scoped
                return scoped.as_dict()
            self._limits.update(values)
            return self._limits.as_dict()


def _is_oid(s: Any) -> bool:
    return isinstance(s, str) and re.fullmatch(r"[0-9a-f]{40}", s) is not None


def _clean_path(path: str) -> str:
    p = path.strip()
    if p.startswith("/") or not p or any(part in ("", ".", "..", ".git") for part in p.split("/")):
        raise ApiError(422, f"Invalid path: {path!r}", gql_type="UNPROCESSABLE")
    return p


def _valid_refname(ref: str) -> bool:
    if any(s in ref for s in ("..", "@{", "\\", " ", "~", "^", ":", "?", "*", "[")) or ref.endswith(
            (".", "/", ".lock")):
        return False
    return all(part and not part.startswith(".") for part in ref.split("/"))
