"""Commit statuses and deployments: state and GitHub's rules, one place.

REST (rest.py) and GraphQL (graphql_api.py) only render what this module holds;
the Flux simulator (flux.py) posts its statuses through the same calls, so every
reader sees one world. Each rule names the source it comes from.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .core import PERMS, WEB_FLOW, ApiError, Emulator, Repo, Token
from .gitstore import WEB_FLOW_SIGNATURE, Identity

DOCS_STATUSES = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
DOCS_DEPLOY = "https://docs.github.com/rest/deployments/deployments#create-a-deployment"
DOCS_DEPLOY_STATUS = "https://docs.github.com/rest/deployments/statuses#create-a-deployment-status"

# REST docs, commits/statuses: "state: error, failure, pending, success".
COMMIT_STATES = ("error", "failure", "pending", "success")
# REST docs, deployment statuses: the `state` enum of the request body.
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
# REST docs: "there is a limit of 1000 statuses per sha and context within a repository".
MAX_STATUSES_PER_CONTEXT = 1000
# GitHub answers 422 "description is too long (maximum is 140 characters)" for both a commit
# status (resource "Status") and a deployment status (resource "DeploymentStatus"); seen in
# sclorg/testing-farm-as-github-action#187 and Shopify/shipit-engine#1004, documented for
# deployment statuses ("The maximum description length is 140 characters").
MAX_DESCRIPTION = 140


@dataclass
class CommitStatus:
    id: int
    repo: str
    sha: str
    state: str
    context: str
    description: Optional[str]
    target_url: Optional[str]
    creator: str
    created_at: float
    updated_at: float


@dataclass
class DeploymentStatus:
    id: int
    deployment_id: int
    state: str
    description: str
    environment: str
    log_url: str
    environment_url: str
    creator: str
    created_at: float
    updated_at: float
    auto: bool = False  # added by auto_inactive, not by a client


@dataclass
class Deployment:
    id: int
    repo: str
    sha: str
    ref: str
    task: str
    payload: Any
    environment: str
    original_environment: str
    description: Optional[str]
    creator: str
    transient_environment: bool
    production_environment: bool
    created_at: float
    updated_at: float
    statuses: List[DeploymentStatus] = field(default_factory=list)

    @property
    def latest(self) -> Optional[DeploymentStatus]:
        return self.statuses[-1] if self.statuses else None


def _validation_failed(resource: str, field_: str, message: str, doc: str) -> ApiError:
    return ApiError(422, "Validation Failed", doc=doc,
                    errors=[{"resource": resource, "code": "custom", "field": field_, "message": message}])


def require_permission(emu: Emulator, token: Optional[Token], repo: Repo, scope: str, need: str) -> None:
    """A token may carry per-scope permissions (a GitHub App installation token or
    GITHUB_TOKEN with `permissions: {deployments: write}`); without one, the
    repository permission decides. Missing permission: 403 "Resource not accessible
    by integration" (GitHub docs, "Permissions required for GitHub Apps")."""
    emu.repo_for(token, repo.owner, repo.name, "read" if need == "read" else "write")
    perms = getattr(token, "permissions", None) or {}
    granted = perms.get(scope)
    if granted is not None and PERMS.get(granted, 0) < PERMS[need]:
        raise ApiError(403, token.forbidden_message())


def combined_state(latest: List[CommitStatus]) -> str:
    """REST docs, "Get the combined status for a specific reference": failure if any
    context reports error or failure; pending if there are no statuses or a context
    is pending; success if the latest status of every context is success."""
    states = [s.state for s in latest]
    if any(s in ("error", "failure") for s in states):
        return "failure"
    if not states or any(s == "pending" for s in states):
        return "pending"
    return "success"


class StatusBook:
    """Commit statuses and deployments of every repository of one emulator."""

    def __init__(self, emu: Emulator):
        self.emu = emu
        self.lock = threading.RLock()
        self._statuses: Dict[Tuple[str, str], List[CommitStatus]] = {}  # (repo lower, sha) -> oldest first
        self._deployments: Dict[str, List[Deployment]] = {}  # repo lower -> oldest first
        self._next = 900_000_000  # GraphQL databaseId is a 32-bit Int

    def _id(self) -> int:
        with self.lock:
            self._next += 1
            return self._next

    @staticmethod
    def _key(repo: Repo) -> str:
        return repo.full_name.lower()

    # ------------------------------------------------------------------ commit statuses
    def create_status(self, repo: Repo, sha: str, state: str, context: Optional[str] = None,
                      description: Optional[str] = None, target_url: Optional[str] = None,
                      creator: str = "ghost") -> CommitStatus:
        # REST docs: POST /repos/{owner}/{repo}/statuses/{sha} takes a commit SHA; an
        # unknown SHA is refused with 422 "No commit found for SHA: <sha>".
        sha_l = (sha or "").lower()
        if not re.fullmatch(r"[0-9a-f]{40}", sha_l) or repo.git.object_type(sha_l) != "commit":
            raise ApiError(422, f"No commit found for SHA: {sha}", doc=DOCS_STATUSES)
        if state not in COMMIT_STATES:
            raise ApiError(422, "Validation Failed", doc=DOCS_STATUSES,
                           errors=[{"resource": "Status", "field": "state", "code": "invalid"}])
        # REST docs: context defaults to "default".
        context = "default" if context is None or context == "" else context
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise _validation_failed("Status", "description",
                                     f"description is too long (maximum is {MAX_DESCRIPTION} characters)",
                                     DOCS_STATUSES)
        now = time.time()
        with self.lock:
            lst = self._statuses.setdefault((self._key(repo), sha_l), [])
            same = sum(1 for s in lst if s.context.lower() == context.lower())
            if same >= MAX_STATUSES_PER_CONTEXT:
                raise _validation_failed("Status", "context",
                                         "This SHA and context has reached the maximum number of statuses.",
                                         DOCS_STATUSES)
            st = CommitStatus(id=self._id(), repo=repo.full_name, sha=sha_l, state=state, context=context,
                              description=description, target_url=target_url, creator=creator,
                              created_at=now, updated_at=now)
            lst.append(st)
        return st

    def statuses(self, repo: Repo, sha: str) -> List[CommitStatus]:
        """Every status of a commit, newest first (REST docs, "List commit statuses for a
        reference": "reverse chronological order. The first status in the list will be the
        latest one")."""
        with self.lock:
            return list(reversed(self._statuses.get((self._key(repo), sha.lower()), [])))

    def latest_per_context(self, repo: Repo, sha: str) -> List[CommitStatus]:
        """The newest status of each context, newest first. Contexts compare
        case-insensitively (REST docs: "This field is case-insensitive")."""
        seen = set()
        out = []
        for s in self.statuses(repo, sha):
            k = s.context.lower()
            if k not in seen:
                seen.add(k)
                out.append(s)
        return out

    def combined(self, repo: Repo, sha: str) -> Tuple[str, List[CommitStatus]]:
        latest = self.latest_per_context(repo, sha)
        return combined_state(latest), latest

    # ------------------------------------------------------------------ deployments
    def deployments(self, repo: Repo) -> List[Deployment]:
        with self.lock:
            return list(self._deployments.get(self._key(repo), []))

    def deployment(self, repo: Repo, deployment_id: Any) -> Deployment:
        try:
            did = int(deployment_id)
        except (TypeError, ValueError):
            raise ApiError(404, "Not Found")
        for d in self.deployments(repo):
            if d.id == did:
                return d
        raise ApiError(404, "Not Found", doc="https://docs.github.com/rest/deployments/deployments#get-a-deployment")

    @staticmethod
    def _branch_of(repo: Repo, ref: str) -> Optional[str]:
        for cand in (ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else None,
                     ref[len("heads/"):] if ref.startswith("heads/") else None, ref):
            if cand and repo.git.ref_oid(f"refs/heads/{cand}") is not None:
                return cand
        return None

    def _resolve_ref(self, repo: Repo, ref: str) -> Optional[str]:
        git = repo.git
        if re.fullmatch(r"[0-9a-fA-F]{7,40}", ref):
            oid = git.resolve(ref.lower() + "^{commit}")
            if oid:
                return oid
        qualified = f"refs/{ref}" if ref.startswith(("heads/", "tags/")) else None
        for cand in (f"refs/heads/{ref}", f"refs/tags/{ref}", qualified, ref if ref.startswith("refs/") else None):
            if cand:
                oid = git.ref_oid(cand)
                if oid:
                    return git.resolve(oid + "^{commit}")
        return None

    def _auto_merge(self, repo: Repo, ref: str, sha: str, actor: str) -> Optional[Tuple[int, str]]:
        """REST docs, "Create a deployment" (`auto_merge`, default true): "If the ref is
        behind the default branch for the repository, we will attempt to merge it for you.
        If the merge succeeds, the API will return a successful merge commit" (202
        "Auto-merged master into topic-branch on deployment.", no deployment is created);
        "If merge conflicts prevent the merge from succeeding, the API will return a
        failure response" (409 "Conflict merging <default> into <ref>.", wording from
        chrnorm/deployment-action#1).

        The emulator's reading: the ref needs a merge when the default branch head is not
        an ancestor of the ref's commit. A branch ref is merged (merge commit by web-flow,
        parents [ref head, default head]) when `git merge-tree` is clean. A SHA or a tag
        cannot take a merge commit, so it gets the 409 like a conflict: a CD run deploying
        `GITHUB_SHA` after `main` moved on hits this. Returns (status, message) or None."""
        git = repo.git
        default_head = git.ref_oid(f"refs/heads/{repo.default_branch}")
        if default_head is None or default_head == sha or git.is_ancestor(default_head, sha):
            return None
        conflict = (409, f"Conflict merging {repo.default_branch} into {ref}.")
        branch = self._branch_of(repo, ref)
        if branch is None or branch == repo.default_branch:
            return conflict
        out = git.git("merge-tree", "--write-tree", sha, default_head, check=False).decode()
        tree = out.split("\n", 1)[0].strip()
        if not re.fullmatch(r"[0-9a-f]{40}", tree) or "CONFLICT" in out:
            return conflict
        now = int(time.time())
        author = self.emu.identity_for(actor, now)
        committer = Identity(WEB_FLOW.name, WEB_FLOW.email, now)
        new = git.commit_tree(tree, [sha, default_head], f"Merge {repo.default_branch} into {branch}", author,
                              committer, gpgsig=WEB_FLOW_SIGNATURE)
        if not git.cas_ref(f"refs/heads/{branch}", new, sha):
            return conflict
        return 202, f"Auto-merged {repo.default_branch} into {branch} on deployment."

    def create_deployment(self, repo: Repo, actor: str, ref: str, task: str = "deploy", auto_merge: bool = True,
                          required_contexts: Optional[List[str]] = None, payload: Any = "",
                          environment: str = "production", description: Optional[str] = "",
                          transient_environment: bool = False,
                          production_environment: Optional[bool] = None) -> Tuple[int, Any]:
        """(201, Deployment) or (202, message). Raises ApiError for 409/422."""
        sha = self._resolve_ref(repo, ref)
        if sha is None:
            raise ApiError(422, f"No ref found for: {ref}", doc=DOCS_DEPLOY)
        if auto_merge:
            merged = self._auto_merge(repo, ref, sha, actor)
            if merged is not None:
                status, message = merged
                if status == 202:
                    return 202, message
                raise ApiError(409, message, doc=DOCS_DEPLOY)
        # REST docs: "By default, commit statuses for every submitted context must be in a
        # success state. The required_contexts parameter allows you to specify a subset of
        # contexts that must be success, or to specify contexts that have not yet been
        # submitted." "To bypass checking entirely, pass an empty array."
        # Wording: 409 "Conflict: Commit status checks failed for <ref>." with the contexts
        # and their states (drevops/vortex#1903, remind101/slashdeploy#1).
        latest = self.latest_per_context(repo, sha)
        by_ctx = {s.context.lower(): s for s in latest}
        if required_contexts is None:
            failing = [s for s in latest if s.state != "success"]
            missing: List[str] = []
        else:
            failing = [by_ctx[c.lower()] for c in required_contexts
                       if c.lower() in by_ctx and by_ctx[c.lower()].state != "success"]
            missing = [c for c in required_contexts if c.lower() not in by_ctx]
        if failing or missing:
            raise ApiError(409, f"Conflict: Commit status checks failed for {ref}.", doc=DOCS_DEPLOY, errors=[{
                "contexts": [{"context": s.context, "state": s.state} for s in reversed(latest)],
                "resource": "Deployment", "field": "required_contexts", "code": "invalid"}])
        if isinstance(payload, str):
            # the payload is stored as JSON text; a JSON object string comes back as the object
            try:
                parsed = json.loads(payload) if payload.strip() else {}
                payload = parsed if isinstance(parsed, dict) else payload
            except ValueError:
                pass
        # REST docs: production_environment defaults to true when environment is
        # "production", false otherwise.
        production = (environment == "production") if production_environment is None else bool(
            production_environment)
        now = time.time()
        with self.lock:
            d = Deployment(id=self._id(), repo=repo.full_name, sha=sha, ref=ref, task=task or "deploy",
                           payload=payload, environment=environment, original_environment=environment,
                           description=description, creator=actor, transient_environment=bool(transient_environment),
                           production_environment=production, created_at=now, updated_at=now)
            self._deployments.setdefault(self._key(repo), []).append(d)
        return 201, d

    def create_deployment_status(self, repo: Repo, deployment: Deployment, actor: str, state: str,
                                 description: Optional[str] = "", log_url: Optional[str] = None,
                                 target_url: Optional[str] = None, environment: Optional[str] = None,
                                 environment_url: Optional[str] = "",
                                 auto_inactive: Optional[bool] = None) -> DeploymentStatus:
        if state not in DEPLOYMENT_STATES:
            raise ApiError(422, "Validation Failed", doc=DOCS_DEPLOY_STATUS,
                           errors=[{"resource": "DeploymentStatus", "field": "state", "code": "invalid"}])
        description = description or ""
        if len(description) > MAX_DESCRIPTION:
            raise _validation_failed("DeploymentStatus", "description",
                                     f"description is too long (maximum is {MAX_DESCRIPTION} characters)",
                                     DOCS_DEPLOY_STATUS)
        # REST docs: "Setting log_url will automatically set target_url to the same value."
        url = log_url if log_url is not None else (target_url or "")
        now = time.time()
        with self.lock:
            # REST docs: environment "can be changed when setting a deploy status"; "If not
            # defined, the environment of the previous status on the deployment will be used,
            # if it exists. Otherwise, the environment of the deployment will be used."
            env = environment or (deployment.latest.environment if deployment.latest else deployment.environment)
            st = DeploymentStatus(id=self._id(), deployment_id=deployment.id, state=state, description=description,
                                  environment=env, log_url=url, environment_url=environment_url or "",
                                  creator=actor, created_at=now, updated_at=now)
            deployment.statuses.append(st)
            deployment.environment = env
            deployment.updated_at = now
            # REST docs, auto_inactive (default true): "Adds a new inactive status to all prior
            # non-transient, non-production environment deployments with the same repository
            # and environment name as the created status's deployment. An inactive status is
            # only added to deployments that had a success state." Read literally: prior
            # deployments whose latest state is success; production and transient ones are
            # left alone. Same environment only (github/docs#2429).
            if state == "success" and (auto_inactive is None or auto_inactive):
                for other in self._deployments.get(self._key(repo), []):
                    if other.id >= deployment.id or other.environment != env:
                        continue
                    if other.transient_environment or other.production_environment:
                        continue
                    if other.latest is None or other.latest.state != "success":
                        continue
                    other.statuses.append(DeploymentStatus(
                        id=self._id(), deployment_id=other.id, state="inactive", description="",
                        environment=other.environment, log_url=other.latest.log_url,
                        environment_url=other.latest.environment_url, creator=actor, created_at=now,
                        updated_at=now, auto=True))
                    other.updated_at = now
        return st

    def delete_deployment(self, repo: Repo, deployment: Deployment) -> None:
        """REST docs, "Delete a deployment": "If the repository only has one deployment, you
        can delete the deployment regardless of its status. If the repository has more than
        one deployment, you can only delete inactive deployments"; a deployment turns
        inactive with "any non-successful deployment status". Wording of the 422: guess."""
        with self.lock:
            deps = self._deployments.get(self._key(repo), [])
            active = deployment.latest is not None and deployment.latest.state == "success"
            if active and len(deps) > 1:
                raise ApiError(422, "We cannot delete an active deployment unless it is the only deployment in a "
                                    "given environment.",
                               doc="https://docs.github.com/rest/deployments/deployments#delete-a-deployment")
            deps.remove(deployment)

    # ------------------------------------------------------------------ control API view
    def snapshot(self) -> Dict[str, Any]:
        with self.lock:
            return {
                "statuses": [{"id": s.id, "repo": s.repo, "sha": s.sha, "state": s.state, "context": s.context,
                              "description": s.description, "target_url": s.target_url, "creator": s.creator}
                             for lst in self._statuses.values() for s in lst],
                "deployments": [{"id": d.id, "repo": d.repo, "sha": d.sha, "ref": d.ref, "environment": d.environment,
                                 "task": d.task, "payload": d.payload, "creator": d.creator,
                                 "statuses": [{"id": s.id, "state": s.state, "description": s.description,
                                               "environment": s.environment, "environment_url": s.environment_url,
                                               "log_url": s.log_url, "auto": s.auto, "creator": s.creator}
                                              for s in d.statuses]}
                                for lst in self._deployments.values() for d in lst],
            }
