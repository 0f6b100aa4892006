"""GitHub's behaviour, not its schema: the rules, in one place, each with its source.

``core.py`` holds the state (repositories as bare git repos, pull requests, tokens) and
``rest.py`` / ``graphql_api.py`` the wire formats. What GitHub *does* around those calls lives
here (moto's habit: state and rules apart from the wire). ``core.py`` calls these functions at
its hooks: every ref move goes through :func:`after_branch_moved`, every pull request read
through :func:`observed_merge_state`, and so on. Each rule names where it comes from; "guess"
marks wording or details no source pins down.

Sources cited below (GitHub's own unless noted):
  REST docs       docs.github.com/rest (pulls, git/refs, git/trees, git/commits, rate limits)
  GraphQL docs    docs.github.com/graphql (mutations, Commit, rate and query limits)
  isaacs/github#361      GitHub support's reply on reopening after a force push
  dimikot/git-grok#30    zero-commit close, "merged" when the code reached the base
  genuinetools/binctr#2  a rebase that left no commits closed the PR, not reopenable
  gfx-rs/metal-rs#323    a fork's branch reset to upstream closed the PR
  cilium/cilium#47088    REST wording: "state cannot be changed. The B branch was force-pushed
                         or recreated." / "... has no history in common with ..."
  pytorch/pytorch#114423 REST shape: 422 Validation Failed, field state, "state cannot be
                         changed. The B branch has been deleted."
  MithrilJS/mithril.js#2862  "Cannot change the base branch of a closed pull request."
  cli/cli#14223, Mergify delete_head_branch docs: deleting a PR's base branch through the API
                         closes the PRs on it
  changesets/action#615  a force push through the API closes the PR (asynchronously)
  babarot/gh-infra#167   createCommitOnBranch writes every file as 100644
  gofri/go-github-ratelimit#38  content-creation 403: no retry-after, x-ratelimit-remaining > 0
  github/docs#22607      GraphQL rate limiting answers HTTP 200 with type RATE_LIMITED
  yanyongyu/githubkit#271  newer GraphQL shape: type RATE_LIMIT, code graphql_rate_limit
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

ZERO_OID = "0" * 40
PULLS_DOC = "https://docs.github.com/rest/pulls/pulls#update-a-pull-request"


class ApiError(Exception):
    """An error GitHub would return. ``status`` for REST, ``gql_type`` for GraphQL."""

    def __init__(self, status: int, message: str, gql_type: Optional[str] = None,
                 errors: Optional[List[Dict[str, Any]]] = None, doc: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.gql_type = gql_type or {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                                     409: "CONFLICT", 422: "UNPROCESSABLE"}.get(status, "INTERNAL")
        self.errors = errors
        self.doc = doc
        self.headers = headers or {}


def validation_failed(message: str, field: Optional[str] = None, code: str = "custom",
                      doc: str = PULLS_DOC, graphql: bool = False) -> ApiError:
    """GitHub's REST 422 ``Validation Failed`` with one entry in ``errors`` (GraphQL: the entry's
    message as an UNPROCESSABLE error)."""
    if graphql:
        return ApiError(422, message, gql_type="UNPROCESSABLE")
    err: Dict[str, Any] = {"message": message, "resource": "PullRequest"}
    if field:
        err["field"] = field
    err["code"] = code
    return ApiError(422, "Validation Failed", errors=[err], doc=doc)


# ============================================================================ limits
@dataclass
class Limits:
    """Configurable through ``POST /_emulator/limits`` and the config's ``"limits"``.
    0 turns a limit off."""

    # REST docs, git/trees "Get a tree": "If truncated is true in the response then the number of
    # items in the tree array exceeded our maximum limit ... The limit for the tree array is
    # 100,000 entries with a maximum size of 7 MB when using the recursive parameter."
    tree_entries: int = 100_000
    tree_bytes: int = 7 * 1024 * 1024
    # REST docs, "Rate limits for the REST API", secondary limits: "no more than 80
    # content-generating requests per minute and no more than 500 content-generating requests
    # per hour". Counted per login, for requests that created something (REST POST/PATCH/PUT/
    # DELETE answered 2xx, GraphQL mutations without errors).
    content_per_minute: int = 80
    content_per_hour: int = 500
    # REST docs, primary rate limit: 5,000 requests per hour for a user (a personal access
    # token); GraphQL: 5,000 points per hour (the emulator counts one point per request).
    core_per_hour: int = 5000
    graphql_per_hour: int = 5000
    # REST docs, pulls "Get a pull request": "The value of the mergeable attribute can be true,
    # false, or null. If the value is null, then GitHub has started a background job to compute
    # the mergeability." How many reads after a change answer null/UNKNOWN (0: never).
    mergeability_unknown_reads: int = 1

    def update(self, values: Dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown limits {sorted(unknown)}; known: {sorted(known)}")
        for key, val in values.items():
            if not isinstance(val, int) or isinstance(val, bool) or val < 0:
                raise ValueError(f"limit {key} must be a non-negative integer")
            setattr(self, key, val)

    def as_dict(self) -> Dict[str, int]:
        return asdict(self)


# ============================================================================ pull requests
# Reasons a pull request was closed by GitHub rather than by a user (kept on the PR, shown by
# GET /_emulator/repos/{o}/{r}).
CLOSED_HEAD_FORCE_PUSHED = "head_force_pushed_without_commits"
CLOSED_HEAD_DELETED = "head_branch_deleted"
CLOSED_BASE_DELETED = "base_branch_deleted"
MERGED_VIA_BASE = "merged_by_a_push_to_the_base"


def _close(pr, reason: str, head_at_close: Optional[str]) -> None:
    now = time.time()
    pr.state = "closed"
    pr.closed_at = now
    pr.updated_at = now
    pr.closed_reason = reason
    pr.auto_merge = None
    if head_at_close:
        pr.head_sha_at_close = head_at_close


def after_branch_moved(emu, repo, branch: str, old: Optional[str], new: Optional[str],
                       actor: Optional[str] = None) -> None:
    """What GitHub does to pull requests when ``refs/heads/<branch>`` moves from ``old`` to
    ``new`` (None: absent), by any path: REST git/refs, GraphQL createRef/updateRef/deleteRef,
    createCommitOnBranch, a merge, a push by someone else."""
    if old == new:
        return
    git = repo.git
    with emu.lock:
        pulls = [p for p in list(repo.pulls.values()) if p.state == "open"]
    for pr in pulls:
        if pr.head_ref == branch:
            if new is None:
                # GitHub docs, "Deleting and restoring branches in a pull request": deleting the
                # head branch of an open pull request closes it.
                with emu.lock:
                    _close(pr, CLOSED_HEAD_DELETED, old)
                continue
            base = emu.branch_head(repo, pr.base_ref)
            if base is not None and not git.commits_between(base, new):
                # isaacs/github#361, dimikot/git-grok#30, genuinetools/binctr#2,
                # gfx-rs/metal-rs#323: the head moved so that it has no commits its base lacks:
                # GitHub closes the pull request (not merged). The head it remembers stays the
                # last one with commits, so it can only be reopened if the branch is put back
                # there (see reopen_refusal), and pushes on top of the base never revive it.
                # GitHub applies this asynchronously (changesets/action#615); the emulator at
                # once, which is the stricter test.
                with emu.lock:
                    _close(pr, CLOSED_HEAD_FORCE_PUSHED, old)
                continue
            # an ordinary push (fast-forward or forced): the PR follows its branch, and GitHub
            # keeps refs/pull/N/head at the head (REST docs, "Checking out pull requests").
            git.cas_ref(f"refs/pull/{pr.number}/head", new, git.ref_oid(f"refs/pull/{pr.number}/head"))
            with emu.lock:
                pr.updated_at = time.time()
        elif pr.base_ref == branch:
            if new is None:
                # cli/cli#14223; Mergify delete_head_branch docs ("GitHub will therefore close
                # the dependent pull requests"): deleting a PR's base branch through the API
                # closes the PR. (The web UI's delete-after-merge retargets instead: see
                # retarget_on_auto_delete.)
                with emu.lock:
                    _close(pr, CLOSED_BASE_DELETED, emu.pull_head_oid(repo, pr))
                continue
            head = emu.branch_head(repo, pr.head_ref)
            if head is not None and git.is_ancestor(head, new):
                # dimikot/git-grok#30: when the head's commits all reach the base some other way
                # (a push to the base that contains the head), GitHub marks the PR merged.
                # merge_commit_sha: the commit the base was moved to (guess; the REST docs say
                # so for rebase merges).
                with emu.lock:
                    _close(pr, MERGED_VIA_BASE, head)
                    pr.merged = True
                    pr.merged_at = pr.closed_at
                    pr.merged_by = actor
                    pr.merge_commit_sha = new


def retarget_on_auto_delete(emu, repo, merged_pr) -> None:
    """GitHub docs, "Managing the automatic deletion of branches" / "Deleting and restoring
    branches in a pull request": when GitHub deletes a merged PR's head branch itself, open PRs
    based on that branch are retargeted to the merged PR's base instead of being closed."""
    with emu.lock:
        for pr in list(repo.pulls.values()):
            if pr.state == "open" and pr.base_ref == merged_pr.head_ref:
                pr.base_ref = merged_pr.base_ref
                pr.updated_at = time.time()


def reopen_refusal(emu, repo, pr) -> Optional[str]:
    """Why GitHub refuses to reopen ``pr`` (None: it may be reopened).

    isaacs/github#361 (GitHub support): "We're blocking the pull request reopen if the current
    head isn't a descendant of the stored head sha (which is what the head was when the pull
    request was closed)." Wording: cilium/cilium#47088, pytorch/pytorch#114423."""
    if pr.merged:
        # REST docs, pulls: a merged pull request cannot be reopened (wording: guess).
        return "Cannot reopen a merged pull request"
    head = emu.branch_head(repo, pr.head_ref)
    if head is None:
        return f"state cannot be changed. The {pr.head_ref} branch has been deleted."
    base = emu.branch_head(repo, pr.base_ref)
    if base is None:
        return f"state cannot be changed. The {pr.base_ref} branch has been deleted."  # guess
    stored = emu.pull_head_oid(repo, pr)
    if stored and stored != ZERO_OID and head != stored and not repo.git.is_ancestor(stored, head):
        return f"state cannot be changed. The {pr.head_ref} branch was force-pushed or recreated."
    if repo.git.merge_base(base, head) is None:
        return (f"state cannot be changed. The {repo.owner}:{pr.head_ref} branch has no history in "
                f"common with {repo.owner}:{pr.base_ref}.")
    if not repo.git.commits_between(base, head):
        # guess: GitHub would not reopen a PR that has no commits (it would close it again)
        return f"state cannot be changed. There are no new commits between {pr.base_ref} and {pr.head_ref}."
    return None


def update_refusal(pr, new_base: Optional[str], new_state: Optional[str],
                   graphql: bool = False) -> Optional[ApiError]:
    """MithrilJS/mithril.js#2862: the base of a closed pull request cannot change, not even in
    the request that reopens it (422, field base, code invalid)."""
    if new_base is not None and new_base != pr.base_ref and pr.state == "closed":
        return validation_failed("Cannot change the base branch of a closed pull request.", field="base",
                                 code="invalid", graphql=graphql)
    return None


def create_refusal(emu, repo, head_branch: str, base: str, base_oid: str, head_oid: str,
                   graphql: bool) -> Optional[ApiError]:
    """REST docs, pulls "Create a pull request" (and createPullRequest)."""
    doc = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
    for pr in list(repo.pulls.values()):
        if pr.state == "open" and pr.head_ref == head_branch and pr.base_ref == base:
            # one open PR per head and base
            return validation_failed(f"A pull request already exists for {repo.owner}:{head_branch}.",
                                     doc=doc, graphql=graphql)
    if not repo.git.commits_between(base_oid, head_oid):
        # the head must have commits the base lacks
        return validation_failed(f"No commits between {base} and {head_branch}", doc=doc, graphql=graphql)
    return None


def reviewer_refusal(emu, repo, pr, logins: Iterable[str]) -> Optional[ApiError]:
    """REST docs, pulls/request-reviewers: never the author; only collaborators."""
    bad = []
    for login in logins:
        if login.lower() == pr.user.lower():
            return ApiError(422, "Review cannot be requested from pull request author.")
        if not emu.is_collaborator(repo, login):
            bad.append(login)
    if bad:
        return ApiError(422, "Reviews may only be requested from collaborators. One or more of the users or "
                             f"teams you specified is not a collaborator of the {repo.full_name} repository.")
    return None


# ---------------------------------------------------------------------------- mergeability
def compute_merge_state(emu, repo, pr) -> Tuple[str, str]:
    """(mergeable, mergeStateStatus) in GraphQL terms, as GitHub's background job finds them."""
    if pr.state != "open":
        return "UNKNOWN", "UNKNOWN"
    head = emu.pull_head_oid(repo, pr)
    base = emu.pull_base_oid(repo, pr)
    tree = repo.git.git("merge-tree", "--write-tree", base, head, check=False)
    if tree.decode().strip() == "" or b"CONFLICT" in tree:
        return "CONFLICTING", "DIRTY"
    if pr.draft:
        return "MERGEABLE", "DRAFT"
    prot = repo.protections.get(pr.base_ref)
    if prot is not None and (prot.require_pull_request or prot.required_status_checks):
        return "MERGEABLE", "BLOCKED"
    if not repo.git.is_ancestor(base, head):
        return "MERGEABLE", "BEHIND" if prot is not None else "CLEAN"
    return "MERGEABLE", "CLEAN"


def observed_merge_state(emu, repo, pr) -> Tuple[str, str]:
    """What a read of a pull request's mergeability answers.

    REST docs, pulls "Get a pull request": mergeability is computed by a background job; the
    first read after the head or the base changed answers ``mergeable: null`` (GraphQL
    ``mergeable: UNKNOWN``, ``mergeStateStatus: UNKNOWN``), a later read the result. The
    emulator's job finishes after ``limits.mergeability_unknown_reads`` reads, never by time."""
    if pr.state != "open":
        return "UNKNOWN", "UNKNOWN"
    key = (emu.pull_head_oid(repo, pr), emu.pull_base_oid(repo, pr))
    with emu.lock:
        if pr.mergeability_key != key:
            pr.mergeability_key = key
            pr.mergeability_unknown_left = emu.limits.mergeability_unknown_reads
        if pr.mergeability_unknown_left > 0:
            pr.mergeability_unknown_left -= 1
            return "UNKNOWN", "UNKNOWN"
    return compute_merge_state(emu, repo, pr)


def auto_merge_refusal(emu, repo, pr, method: str, expected_head: Optional[str]) -> Optional[str]:
    """GraphQL docs, enablePullRequestAutoMerge; wording from create-pull-request and
    automerge-action issues. The mutation computes mergeability itself (never UNKNOWN)."""
    if not repo.auto_merge_allowed:
        return "Pull request Auto merge is not allowed for this repository"
    if pr.state != "open":
        return "Pull request Pull request is closed"
    allowed = {"MERGE": repo.merge_commit_allowed, "SQUASH": repo.squash_merge_allowed,
               "REBASE": repo.rebase_merge_allowed}
    if not allowed.get(method, False):
        word = {"MERGE": "Merge commits", "SQUASH": "Squash merges", "REBASE": "Rebase merges"}[method]
        return f"Pull request {word} are not allowed on this repository."
    if expected_head and expected_head != emu.pull_head_oid(repo, pr):
        return "Pull request Head sha didn't match expected head oid"
    _, status = compute_merge_state(emu, repo, pr)
    if status == "CLEAN":
        # it could be merged right now, so there is nothing to wait for
        return "Pull request Pull request is in clean status"
    if status == "DIRTY":
        return "Pull request Pull request is in dirty status"
    return None


# ============================================================================ commits and refs
def ref_update_refusal(git, cur: str, new: str, force: bool) -> Optional[str]:
    """REST docs, git/refs "Update a reference": without ``force: true`` only a fast-forward."""
    if not force and cur != new and not git.is_ancestor(cur, new):
        return "Update is not a fast forward"
    return None


def stale_head_message(expected_head: str) -> str:
    """GraphQL docs, createCommitOnBranch ``expectedHeadOid``: type STALE_DATA, nothing changes."""
    return f"Expected branch to point to \"{expected_head}\" but it did not. Pull and try again."


# GraphQL docs, FileAddition has only path and contents; babarot/gh-infra#167: createCommitOnBranch
# writes every file it adds or changes as a regular file, so an executable or a symlink becomes
# a plain 100644 file. (Files it does not touch keep their mode.)
COMMIT_ON_BRANCH_FILE_MODE = "100644"


def protection_refusal(repo, ref: str, old: Optional[str], new: Optional[str], via: str) -> Optional[ApiError]:
    """GitHub docs, "About protected branches" and the rulesets docs: a direct update that breaks
    a rule is refused. ``via``: "graphql-commit" (createCommitOnBranch), "rest" (git refs API),
    "graphql-ref" (updateRef) or "merge" (a pull request merge, which the rules allow)."""
    if not ref.startswith("refs/heads/"):
        return None
    branch = ref[len("refs/heads/"):]
    prot = repo.protections.get(branch)
    if prot is None:
        return None
    reasons = []
    if prot.require_pull_request:
        reasons.append("Changes must be made through a pull request.")
    if new is None:
        reasons.append("Cannot delete this protected branch.")
    if prot.require_signed_commits and new is not None and via != "graphql-commit":
        revs = repo.git.git("rev-list", new, *([f"^{old}"] if old else []), check=False).decode().split()
        unsigned = [oid for oid in revs
                    if (repo.git.commit_info(oid) is None or not repo.git.commit_info(oid).web_flow_signed)]
        if unsigned:
            reasons.append("Commits must have verified signatures.")
    if prot.required_status_checks and via != "merge":
        for ctx in prot.required_status_checks:
            reasons.append(f"Required status check \"{ctx}\" is expected.")
    if via == "merge":
        reasons = [r for r in reasons if "pull request" not in r and "status check" not in r]
    if not reasons:
        return None
    if prot.kind == "ruleset":
        msg = "Repository rule violations found\n\n" + "\n\n".join(reasons) + "\n\n"
        return ApiError(422, msg, gql_type="UNPROCESSABLE", doc="https://docs.github.com/rest/git/refs#update-a-reference")
    msg = f"Protected branch update failed for {ref}."
    if via.startswith("graphql"):
        return ApiError(422, msg + "\n\n" + "\n".join(reasons), gql_type="BRANCH_PROTECTION_RULE_VIOLATION")
    return ApiError(422, msg, doc="https://docs.github.com/rest/git/refs#update-a-reference")


def recursive_tree_listing(git, tree_oid: str, limits: Limits,
                           entry_json) -> Tuple[List[Dict[str, Any]], bool]:
    """REST docs, git/trees: a recursive listing stops past ``tree_entries`` entries or
    ``tree_bytes`` bytes of JSON (the ``tree`` array as served) and says ``truncated: true``;
    the entries it has are a prefix of the full listing (git's order: a tree, then what it
    holds)."""
    out: List[Dict[str, Any]] = []
    size = 2  # "[]"
    for path, mode, typ, oid, blob_size in ls_tree_recursive(git, tree_oid):
        entry = entry_json(path, mode, typ, oid, blob_size)
        cost = len(json.dumps(entry, ensure_ascii=False).encode("utf-8")) + 2  # ", " between entries
        if (limits.tree_entries and len(out) >= limits.tree_entries) or \
                (limits.tree_bytes and size + cost > limits.tree_bytes):
            return out, True
        out.append(entry)
        size += cost
    return out, False


def ls_tree_recursive(git, tree_oid: str) -> Iterator[Tuple[str, str, str, str, Optional[int]]]:
    """(path, mode, type, oid, size or None) for every entry below ``tree_oid``, trees included,
    from one ``git ls-tree -r -t -l -z``."""
    raw = git.git("ls-tree", "-r", "-t", "-l", "-z", tree_oid)
    for rec in raw.split(b"\0"):
        if not rec:
            continue
        meta, _, path = rec.partition(b"\t")
        mode, typ, oid, size = meta.decode().split()
        yield (path.decode("utf-8", "surrogateescape"), "040000" if typ == "tree" else mode, typ, oid,
               int(size) if size.isdigit() else None)


# ============================================================================ limits and errors
class RateWindows:
    """Primary rate limits (REST docs, "Rate limits for the REST API"; GraphQL docs, "Rate limits
    and query limits"): a budget per login and resource that resets an hour after the window
    opened. ``x-ratelimit-reset`` is that moment."""

    def __init__(self) -> None:
        self.windows: Dict[Tuple[str, str], Tuple[float, int]] = {}  # (login, resource) -> (start, used)

    def tick(self, login: str, resource: str, limit: int, count: bool = True) -> Tuple[int, int, int, bool]:
        """(limit, remaining, reset, exceeded). ``exceeded``: this request is over the budget."""
        now = time.time()
        start, used = self.windows.get((login, resource), (now, 0))
        if now >= start + 3600:
            start, used = now, 0
        exceeded = bool(limit) and count and used >= limit
        if count and not exceeded:
            used += 1
        self.windows[(login, resource)] = (start, used)
        shown = limit or 5000
        return shown, max(0, shown - used), int(start + 3600), exceeded


class ContentCreation:
    """Secondary limit on content creation (REST docs, "Rate limits for the REST API": 80
    content-generating requests per minute, 500 per hour; it covers the REST and GraphQL APIs)."""

    def __init__(self) -> None:
        self.created: Dict[str, Deque[float]] = {}

    def blocked(self, login: str, limits: Limits) -> bool:
        now = time.time()
        times = self.created.get(login)
        if not times:
            return False
        while times and times[0] <= now - 3600:
            times.popleft()
        last_minute = sum(1 for t in times if t > now - 60)
        return bool((limits.content_per_minute and last_minute >= limits.content_per_minute) or
                    (limits.content_per_hour and len(times) >= limits.content_per_hour))

    def record(self, login: str) -> None:
        self.created.setdefault(login, deque()).append(time.time())


def is_write(api: str, method: str, graphql_operation_type: Optional[str]) -> bool:
    """Requests that may create content: REST POST/PATCH/PUT/DELETE, GraphQL mutations."""
    if api == "graphql":
        return graphql_operation_type == "mutation"
    return method.upper() in ("POST", "PATCH", "PUT", "DELETE")


REQUEST_ID = "EMUL:0000:0000000:0000000:00000000"
SUPPORT = f"If you reach out to GitHub Support for help, please include the request ID {REQUEST_ID}."


def primary_limit_answer(api: str, user_id: int) -> Tuple[int, Dict[str, Any]]:
    """REST: 403 "API rate limit exceeded for user ID N." (REST docs, "Exceeding the primary rate
    limit"); GraphQL: HTTP 200 with ``errors[].type == "RATE_LIMITED"`` (github/docs#22607)."""
    msg = f"API rate limit exceeded for user ID {user_id}."
    if api == "graphql":
        return 200, {"errors": [{"type": "RATE_LIMITED", "message": msg}]}
    return 403, {"message": f"{msg} {SUPPORT}",
                 "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                 "status": "403"}


CONTENT_CREATION_BODY = {
    # gofri/go-github-ratelimit#38: 403, x-ratelimit-remaining not 0, no retry-after
    "message": "You have exceeded a secondary rate limit and have been temporarily blocked from content "
               "creation. Please retry your request again later. " + SUPPORT,
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                         "#about-secondary-rate-limits",
    "status": "403"}

_SECONDARY_BODY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
               + SUPPORT,
    "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/"
                         "rate-limits-for-the-rest-api#about-secondary-rate-limits",
    "status": "403"}

_PRIMARY_BODY = {
    "message": "API rate limit exceeded for user ID 1. " + SUPPORT,
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    "status": "429"}

# Fault presets (``POST /_emulator/faults {"kind": ...}``). ``reset_in``: the fault sets
# ``x-ratelimit-reset`` to that many seconds after it fires. REST docs, "Rate limits for the REST
# API" > "Handle rate limit errors appropriately": primary limit: 403 or 429 with
# x-ratelimit-remaining 0, wait until x-ratelimit-reset; secondary limit: 403 or 429, with
# retry-after wait that long, without it and x-ratelimit-remaining not 0 wait at least a minute.
FAULT_PRESETS: Dict[str, Dict[str, Any]] = {
    "bad_gateway": {"status": 502, "headers": {"content-type": "text/html"},
                    "body": "<html><body><h1>502 Bad Gateway</h1></body></html>"},
    "server_error": {"status": 500, "body": {"message": "Server Error"}},
    # primary limit, 429 and 403
    "rate_limit": {"status": 429, "reset_in": 2,
                   "headers": {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                               "x-ratelimit-used": "5000", "x-ratelimit-resource": "core"},
                   "body": _PRIMARY_BODY},
    "rate_limit_403": {"status": 403, "reset_in": 2,
                       "headers": {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                                   "x-ratelimit-used": "5000", "x-ratelimit-resource": "core"},
                       "body": dict(_PRIMARY_BODY, status="403")},
    # secondary limit with retry-after (403 and 429)
    "secondary_rate_limit": {"status": 403, "reset_in": 3600,
                             "headers": {"retry-after": "1", "x-ratelimit-limit": "5000",
                                         "x-ratelimit-remaining": "4990", "x-ratelimit-used": "10",
                                         "x-ratelimit-resource": "core"},
                             "body": _SECONDARY_BODY},
    "secondary_rate_limit_429": {"status": 429, "reset_in": 3600,
                                 "headers": {"retry-after": "1", "x-ratelimit-limit": "5000",
                                             "x-ratelimit-remaining": "4990", "x-ratelimit-used": "10",
                                             "x-ratelimit-resource": "core"},
                                 "body": dict(_SECONDARY_BODY, status="429")},
    # secondary limit without retry-after: x-ratelimit-remaining is not 0 (wait at least a minute)
    "secondary_rate_limit_no_retry_after": {"status": 403, "reset_in": 3600,
                                            "headers": {"x-ratelimit-limit": "5000",
                                                        "x-ratelimit-remaining": "4990",
                                                        "x-ratelimit-used": "10",
                                                        "x-ratelimit-resource": "core"},
                                            "body": _SECONDARY_BODY},
    # the content-creation limit, as the emulator answers it when it is reached
    "content_creation_limit": {"status": 403, "reset_in": 3600,
                               "headers": {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990",
                                           "x-ratelimit-used": "10", "x-ratelimit-resource": "core"},
                               "body": CONTENT_CREATION_BODY},
    # GraphQL: HTTP 200 and an errors list (github/docs#22607)
    "graphql_rate_limited": {"status": 200, "reset_in": 2,
                             "headers": {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                                         "x-ratelimit-used": "5000", "x-ratelimit-resource": "graphql"},
                             "body": {"errors": [{"type": "RATE_LIMITED",
                                                  "message": "API rate limit exceeded for user ID 1."}]}},
    # the newer GraphQL shape (yanyongyu/githubkit#271)
    "graphql_rate_limit": {"status": 200, "reset_in": 2,
                           "headers": {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                                       "x-ratelimit-used": "5000", "x-ratelimit-resource": "graphql"},
                           "body": {"errors": [{"type": "RATE_LIMIT", "code": "graphql_rate_limit",
                                                "message": "API rate limit already exceeded for user ID 1."}]}},
}
