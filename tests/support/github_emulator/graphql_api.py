"""GraphQL: GitHub's official schema (@octokit/graphql-schema) with resolvers.

Every document is parsed and validated against the real schema by graphql-core
before anything executes, so a query or mutation that would not validate on
GitHub fails here too. Resolvers are plain Python objects whose attribute (or
method) names are the GraphQL field names; a field the emulator does not
implement yields an ``EMULATOR_UNSUPPORTED`` error and a recorded gap instead of
a made-up value.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
import traceback
from typing import Any, Dict, List, Optional, Tuple

from graphql import (GraphQLError, GraphQLInterfaceType, GraphQLScalarType, GraphQLSchema, GraphQLUnionType,
                     OperationDefinitionNode, StringValueNode, build_schema, execute, parse, validate)
from graphql.language import FieldNode

from .core import PERMS, ApiError, Emulator, PullRequest, Repo, Token, decode_node_id, iso, node_id
from . import behaviours as rules
from .gitstore import Identity

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, "node_modules", "@octokit", "graphql-schema", "schema.graphql")
BLOB_TEXT_LIMIT = 512 * 1024


class GQLError(Exception):
    def __init__(self, type_: str, message: str):
        super().__init__(message)
        self.type = type_
        self.message = message


class Unsupported(Exception):
    def __init__(self, where: str):
        super().__init__(f"github-emulator does not implement {where}")
        self.where = where


_MISSING = object()


def field_resolver(source: Any, info, **args: Any) -> Any:
    name = info.field_name
    if isinstance(source, dict):
        value = source.get(name, _MISSING)
    else:
        value = getattr(source, name, _MISSING)
    if value is _MISSING:
        raise Unsupported(f"{info.parent_type.name}.{name}")
    if callable(value):
        return value(info, **args)
    return value


def _resolve_type(value: Any, info, abstract_type) -> Optional[str]:
    if isinstance(value, dict):
        return value.get("__typename")
    return getattr(value, "TYPENAME", None)


def _parse_oid(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{40}", value):
        raise ValueError(f"Could not coerce value {value!r} to GitObjectID")
    return value.lower()


def _parse_b64(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"Could not coerce value {value!r} to Base64String")
    try:
        base64.b64decode(re.sub(r"\s+", "", value), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"Could not coerce value {value[:40]!r} to Base64String")
    return value


def _literal(parser):
    def parse_literal(node, _variables=None):
        if not isinstance(node, StringValueNode):
            raise ValueError("Expected a string literal")
        return parser(node.value)

    return parse_literal


def load_schema(path: Optional[str] = None) -> GraphQLSchema:
    with open(path or DEFAULT_SCHEMA, "r", encoding="utf-8") as f:
        sdl = f.read()
    # The published SDL repeats two EnterpriseOwnerInfo fields verbatim, which
    # strict SDL validation rejects; the types are otherwise valid.
    schema = build_schema(sdl, assume_valid_sdl=True, no_location=True)
    for t in schema.type_map.values():
        if isinstance(t, (GraphQLInterfaceType, GraphQLUnionType)):
            t.resolve_type = _resolve_type
    oid = schema.type_map.get("GitObjectID")
    if isinstance(oid, GraphQLScalarType):
        oid.parse_value = _parse_oid
        oid.parse_literal = _literal(_parse_oid)
    b64 = schema.type_map.get("Base64String")
    if isinstance(b64, GraphQLScalarType):
        b64.parse_value = _parse_b64
        b64.parse_literal = _literal(_parse_b64)
    return schema


class Ctx:
    def __init__(self, emu: Emulator, token: Token, api: str, web: str):
        self.emu = emu
        self.token = token
        self.api = api
        self.web = web

    def repo(self, owner: str, name: str, need: str = "read") -> Repo:
        try:
            return self.emu.repo_for(self.token, owner, name, need)
        except ApiError as e:
            if e.status == 404:
                raise GQLError("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.")
            raise GQLError("FORBIDDEN", e.message)

    def repo_by_full(self, full: str, need: str = "read") -> Repo:
        owner, _, name = full.partition("/")
        return self.repo(owner, name, need)


def _gql(e: ApiError) -> GQLError:
    return GQLError(e.gql_type, e.message)


def connection(items: List[Any], first: Optional[int] = None, last: Optional[int] = None,
               after: Optional[str] = None, before: Optional[str] = None, name: str = "nodes") -> Dict[str, Any]:
    if first is None and last is None:
        raise GQLError("MISSING_PAGINATION_BOUNDARIES",
                       f"You must provide a `first` or `last` value to properly paginate the `{name}` connection.")
    for arg, val in (("first", first), ("last", last)):
        if val is not None and val > 100:
            raise GQLError("EXCESSIVE_PAGINATION",
                           f"Requesting {val} records on the `{name}` connection exceeds the `{arg}` limit of 100 "
                           "records.")
        if val is not None and val < 0:
            raise GQLError("INVALID_PAGINATION", f"`{arg}` on the `{name}` connection cannot be less than zero.")

    def cur(i: int) -> str:
        return base64.b64encode(f"cursor:v2:{i}".encode()).decode()

    def uncur(c: str) -> int:
        try:
            return int(base64.b64decode(c).decode().rsplit(":", 1)[1])
        except Exception:  # noqa: BLE001
            raise GQLError("INVALID_CURSOR_ARGUMENTS", f"`{c}` does not appear to be a valid cursor.")

    start, end = 0, len(items)
    if after:
        start = max(start, uncur(after) + 1)
    if before:
        end = min(end, uncur(before))
    idx = list(range(start, end))
    has_next = has_prev = False
    if first is not None:
        has_next = len(idx) > first
        idx = idx[:first]
    if last is not None:
        has_prev = len(idx) > last
        idx = idx[-last:] if last else []
    edges = [{"node": items[i], "cursor": cur(i)} for i in idx]
    return {
        "nodes": [items[i] for i in idx], "edges": edges, "totalCount": len(items),
        "pageInfo": {"hasNextPage": has_next, "hasPreviousPage": has_prev or start > 0,
                     "startCursor": edges[0]["cursor"] if edges else None,
                     "endCursor": edges[-1]["cursor"] if edges else None},
    }


def _avatar(url: str):
    return lambda info, size=None: url + (f"&s={size}" if size else "")


# -------------------------------------------------------------------------- objects
class GUser:
    TYPENAME = "User"

    def __init__(self, ctx: Ctx, login: str):
        u = ctx.emu.user(login, create=True) or ctx.emu.add_user(login)
        self._ctx = ctx
        self.id = u.node_id
        self.login = u.login
        self.name = u.name
        self.email = u.email
        self.databaseId = u.id
        self.url = f"{ctx.web}/{u.login}"
        self.resourcePath = f"/{u.login}"
        self.avatarUrl = _avatar(f"{ctx.web}/avatars/u/{u.id}?v=4")
        self.isViewer = ctx.token is not None and ctx.token.login.lower() == u.login.lower()
        self.createdAt = iso(u.created_at)
        self.updatedAt = iso(u.created_at)
        self.company = self.bio = self.location = self.websiteUrl = self.twitterUsername = None
        self.isSiteAdmin = False
        self.isBountyHunter = self.isCampusExpert = self.isDeveloperProgramMember = self.isEmployee = False
        self.isGitHubStar = self.isHireable = False


class GLabel:
    TYPENAME = "Label"

    def __init__(self, ctx: Ctx, repo: Repo, lab):
        self.id = node_id("LA", f"{repo.full_name}:{lab.id}")
        self.name = lab.name
        self.color = lab.color
        self.description = lab.description
        self.isDefault = lab.default
        self.createdAt = self.updatedAt = iso(lab.created_at)
        self.url = f"{ctx.web}/{repo.full_name}/labels/{lab.name}"
        self.resourcePath = f"/{repo.full_name}/labels/{lab.name}"
        self.repository = lambda info: GRepository(ctx, repo)


def git_object(ctx: Ctx, repo: Repo, oid: str):
    typ = repo.git.object_type(oid)
    if typ == "commit":
        return GCommit(ctx, repo, oid)
    if typ == "tree":
        return GTree(ctx, repo, oid)
    if typ == "blob":
        return GBlob(ctx, repo, oid)
    if typ == "tag":
        return {"__typename": "Tag", "oid": oid, "id": node_id("TAG", f"{repo.full_name}:{oid}"),
                "abbreviatedOid": oid[:7]}
    return None


class _GitObj:
    def __init__(self, ctx: Ctx, repo: Repo, oid: str, kind: str):
        self._ctx = ctx
        self._repo = repo
        self.oid = oid
        self.abbreviatedOid = oid[:7]
        self.id = node_id(kind, f"{repo.full_name}:{oid}")
        self.commitUrl = f"{ctx.web}/{repo.full_name}/commit/{oid}"
        self.commitResourcePath = f"/{repo.full_name}/commit/{oid}"

    def repository(self, info):
        return GRepository(self._ctx, self._repo)


class GBlob(_GitObj):
    TYPENAME = "Blob"

    def __init__(self, ctx: Ctx, repo: Repo, oid: str):
        super().__init__(ctx, repo, oid, "B")
        data = repo.git.read_object(oid)[1]
        self.byteSize = len(data)
        self.isBinary = b"\0" in data[:8000]
        self.isTruncated = (not self.isBinary) and len(data) > BLOB_TEXT_LIMIT
        self.text = None if self.isBinary else data[:BLOB_TEXT_LIMIT].decode("utf-8", "replace")


class GTreeEntry:
    TYPENAME = "TreeEntry"

    def __init__(self, ctx: Ctx, repo: Repo, path: str, e):
        self._ctx, self._repo, self._e = ctx, repo, e
        self.name = e.name
        self.path = path
        self.type = e.type
        self.mode = int(e.mode, 8)
        self.oid = e.oid
        self.nameRaw = base64.b64encode(e.name.encode("utf-8", "surrogateescape")).decode()
        self.pathRaw = base64.b64encode(path.encode("utf-8", "surrogateescape")).decode()
        self.extension = ("." + e.name.rsplit(".", 1)[1]) if "." in e.name.lstrip(".") else None
        self.isGenerated = False
        self.language = None
        self.submodule = None

    def object(self, info):
        if self._e.type == "commit":
            return None
        return git_object(self._ctx, self._repo, self._e.oid)

    def repository(self, info):
        return GRepository(self._ctx, self._repo)

    @property
    def size(self):
        if self._e.type != "blob":
            return 0
        return len(self._repo.git.read_object(self._e.oid)[1])

    @property
    def lineCount(self):
        if self._e.type != "blob":
            return None
        data = self._repo.git.read_object(self._e.oid)[1]
        if b"\0" in data[:8000]:
            return None
        return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


class GTree(_GitObj):
    TYPENAME = "Tree"

    def __init__(self, ctx: Ctx, repo: Repo, oid: str, path: str = ""):
        super().__init__(ctx, repo, oid, "T")
        self._path = path

    def entries(self, info):
        prefix = self._path + "/" if self._path else ""
        return [GTreeEntry(self._ctx, self._repo, prefix + e.name, e)
                for e in self._repo.git.tree_entries(self.oid) or []]


def _git_actor(ctx: Ctx, ident: Identity) -> Dict[str, Any]:
    user = None
    if ident.email == "noreply@github.com":
        user = None
    else:
        for u in list(ctx.emu.users.values()):
            if u.email.lower() == ident.email.lower():
                user = GUser(ctx, u.login)
                break
    return {"name": ident.name, "email": ident.email, "date": _git_ts(ident), "user": user,
            "avatarUrl": _avatar(f"{ctx.web}/avatars/e/{ident.email}?v=4")}


def _git_ts(ident: Identity) -> str:
    import datetime as _dt
    sign = 1 if ident.tz[0] == "+" else -1
    off = _dt.timedelta(hours=int(ident.tz[1:3]), minutes=int(ident.tz[3:5])) * sign
    d = _dt.datetime.fromtimestamp(ident.timestamp, _dt.timezone(off))
    return d.isoformat()


class GCommit(_GitObj):
    TYPENAME = "Commit"

    def __init__(self, ctx: Ctx, repo: Repo, oid: str):
        super().__init__(ctx, repo, oid, "C")
        info = repo.git.commit_info(oid)
        self._info = info
        self.message = info.message
        headline, _, body = info.message.partition("\n")
        self.messageHeadline = headline
        self.messageBody = body.strip("\n")
        self.url = f"{ctx.web}/{repo.full_name}/commit/{oid}"
        self.resourcePath = f"/{repo.full_name}/commit/{oid}"
        self.treeUrl = f"{ctx.web}/{repo.full_name}/tree/{oid}"
        self.treeResourcePath = f"/{repo.full_name}/tree/{oid}"
        self.tarballUrl = f"{ctx.web}/{repo.full_name}/tarball/{oid}"
        self.zipballUrl = f"{ctx.web}/{repo.full_name}/zipball/{oid}"
        self.committedDate = iso(info.committer.timestamp)
        self.authoredDate = iso(info.author.timestamp)
        self.pushedDate = None
        self.committedViaWeb = info.web_flow_signed
        self.authoredByCommitter = (info.author.name, info.author.email) == (info.committer.name,
                                                                            info.committer.email)
        self.author = _git_actor(ctx, info.author)
        self.committer = _git_actor(ctx, info.committer)
        self.onBehalfOf = None

    def tree(self, info):
        return GTree(self._ctx, self._repo, self._info.tree)

    def parents(self, info, first=None, last=None, after=None, before=None):
        return connection([GCommit(self._ctx, self._repo, p) for p in self._info.parents], first, last, after,
                          before, "parents")

    def file(self, info, path):
        clean = path.strip("/")
        if not clean:
            return None
        e = self._repo.git.entry_at(self._info.tree, clean)
        if e is None:
            return None
        return GTreeEntry(self._ctx, self._repo, clean, e)

    def signature(self, info):
        i = self._info
        if not i.gpgsig:
            return None
        valid = i.web_flow_signed
        payload = "\n".join(line for line in i.raw_header.split("\n") if not line.startswith(("gpgsig ", " ")))
        return {"__typename": "GpgSignature", "email": i.committer.email, "isValid": valid,
                "payload": payload + "\n\n" + i.message, "signature": i.gpgsig, "signer": None,
                "state": "VALID" if valid else "UNKNOWN_KEY", "wasSignedByGitHub": valid,
                "verifiedAt": iso(i.committer.timestamp) if valid else None,
                "keyId": "B5690EEEBB952194" if valid else None}

    def _diff(self) -> Tuple[int, int, int]:
        base = self._info.parents[0] if self._info.parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        return self._repo.git.diff_stat(base, self.oid)

    @property
    def additions(self):
        return self._diff()[0]

    @property
    def deletions(self):
        return self._diff()[1]

    @property
    def changedFiles(self):
        return self._diff()[2]

    @property
    def changedFilesIfAvailable(self):
        return self._diff()[2]

    def history(self, info, first=None, last=None, after=None, before=None, path=None, author=None, since=None,
                until=None):
        if first is None and last is None:
            raise GQLError("MISSING_PAGINATION_BOUNDARIES",
                           "You must provide a `first` or `last` value to properly paginate the `history` "
                           "connection.")
        args = ["rev-list", "--max-count=1000", self.oid]
        if path:
            args += ["--", path]
        oids = self._repo.git.git(*args).decode().split()
        return connection([GCommit(self._ctx, self._repo, o) for o in oids], first, last, after, before, "history")

    def associatedPullRequests(self, info, first=None, last=None, after=None, before=None, orderBy=None):
        prs = [p for p in list(self._repo.pulls.values())
               if self._ctx.emu.pull_head_oid(self._repo, p) == self.oid or p.merge_commit_sha == self.oid]
        return connection([GPullRequest(self._ctx, self._repo, p) for p in prs], first, last, after, before,
                          "associatedPullRequests")


def _pulls_filtered(ctx: Ctx, repo: Repo, states=None, headRefName=None, baseRefName=None, labels=None,
                    orderBy=None) -> List[PullRequest]:
    prs = list(repo.pulls.values())
    if states:
        prs = [p for p in prs if _pr_state(p) in states]
    if headRefName is not None:
        prs = [p for p in prs if p.head_ref == headRefName]
    if baseRefName is not None:
        prs = [p for p in prs if p.base_ref == baseRefName]
    if labels:
        prs = [p for p in prs if any(lab.lower() in (x.lower() for x in p.labels) for lab in labels)]
    field = (orderBy or {}).get("field", "CREATED_AT")
    direction = (orderBy or {}).get("direction", "ASC")
    key = (lambda p: p.updated_at) if field == "UPDATED_AT" else (lambda p: (p.created_at, p.number))
    prs.sort(key=key, reverse=direction == "DESC")
    return prs


def _pr_state(p: PullRequest) -> str:
    return "MERGED" if p.merged else p.state.upper()


class GRef:
    TYPENAME = "Ref"

    def __init__(self, ctx: Ctx, repo: Repo, qualified: str, oid: Optional[str] = None):
        self._ctx, self._repo = ctx, repo
        self._qualified = qualified
        parts = qualified.split("/")
        self.prefix = "/".join(parts[:2]) + "/"
        self.name = "/".join(parts[2:])
        self.id = node_id("REF", f"{repo.full_name}:{qualified}")
        self._oid = oid
        self.branchProtectionRule = None
        self.refUpdateRule = None

    def target(self, info):
        oid = self._oid or self._repo.git.ref_oid(self._qualified)
        return git_object(self._ctx, self._repo, oid) if oid else None

    def repository(self, info):
        return GRepository(self._ctx, self._repo)

    def associatedPullRequests(self, info, first=None, last=None, after=None, before=None, states=None,
                               baseRefName=None, headRefName=None, labels=None, orderBy=None):
        prs = _pulls_filtered(self._ctx, self._repo, states, headRefName, baseRefName, labels, orderBy)
        if self.prefix == "refs/heads/":
            prs = [p for p in prs if p.head_ref == self.name]
        return connection([GPullRequest(self._ctx, self._repo, p) for p in prs], first, last, after, before,
                          "associatedPullRequests")


class GPullRequest:
    TYPENAME = "PullRequest"

    def __init__(self, ctx: Ctx, repo: Repo, pr: PullRequest):
        self._ctx, self._repo, self._pr = ctx, repo, pr
        emu = ctx.emu
        self.id = node_id("PR", f"{repo.full_name}#{pr.number}")
        self.databaseId = pr.id
        self.fullDatabaseId = str(pr.id)
        self.number = pr.number
        self.url = f"{ctx.web}/{repo.full_name}/pull/{pr.number}"
        self.permalink = self.url
        self.resourcePath = f"/{repo.full_name}/pull/{pr.number}"
        self.title = pr.title
        self.body = pr.body or ""
        self.bodyText = pr.body or ""
        self.isDraft = pr.draft
        self.headRefName = pr.head_ref
        self.baseRefName = pr.base_ref
        self.headRefOid = emu.pull_head_oid(repo, pr)
        self.baseRefOid = emu.pull_base_oid(repo, pr)
        self.state = _pr_state(pr)
        self.closed = pr.state == "closed"
        self.merged = pr.merged
        self.mergedAt = iso(pr.merged_at)
        self.closedAt = iso(pr.closed_at)
        self.createdAt = iso(pr.created_at)
        self.updatedAt = iso(pr.updated_at)
        self.publishedAt = iso(pr.created_at)
        self.lastEditedAt = None
        self.locked = False
        self.activeLockReason = None
        self.maintainerCanModify = pr.maintainer_can_modify
        self.isCrossRepository = False
        self.isInMergeQueue = False
        self.isMergeQueueEnabled = False
        self.authorAssociation = "OWNER" if pr.user.lower() == repo.owner.lower() else "COLLABORATOR"
        self.milestone = None
        self.mergeQueueEntry = None
        self.reviewDecision = "REVIEW_REQUIRED" if pr.requested_reviewers else None
        self.viewerDidAuthor = ctx.token is not None and ctx.token.login.lower() == pr.user.lower()
        self.totalCommentsCount = 0
        self.statusCheckRollup = None
        self._merge_state = None

    def _state(self):
        # one observation per PullRequest object, so mergeable and mergeStateStatus agree
        # (behaviours.observed_merge_state: UNKNOWN while the background job runs)
        if self._merge_state is None:
            self._merge_state = self._ctx.emu.merge_state(self._repo, self._pr)
        return self._merge_state

    @property
    def mergeable(self):
        return self._state()[0]

    @property
    def mergeStateStatus(self):
        return self._state()[1]

    @property
    def viewerCanEnableAutoMerge(self):
        return self._repo.auto_merge_allowed and self._pr.state == "open" and self._pr.auto_merge is None

    @property
    def viewerCanDisableAutoMerge(self):
        return self._pr.auto_merge is not None

    @property
    def viewerCanUpdate(self):
        return PERMS[self._ctx.emu.permission(self._ctx.token, self._repo)] >= 2

    def author(self, info):
        return GUser(self._ctx, self._pr.user)

    def mergedBy(self, info):
        return GUser(self._ctx, self._pr.merged_by) if self._pr.merged_by else None

    def mergeCommit(self, info):
        return GCommit(self._ctx, self._repo, self._pr.merge_commit_sha) if self._pr.merge_commit_sha else None

    def repository(self, info):
        return GRepository(self._ctx, self._repo)

    baseRepository = repository
    headRepository = repository

    def headRepositoryOwner(self, info):
        return GUser(self._ctx, self._repo.owner)

    def headRef(self, info):
        if self._ctx.emu.branch_head(self._repo, self._pr.head_ref) is None:
            return None
        return GRef(self._ctx, self._repo, f"refs/heads/{self._pr.head_ref}")

    def baseRef(self, info):
        if self._ctx.emu.branch_head(self._repo, self._pr.base_ref) is None:
            return None
        return GRef(self._ctx, self._repo, f"refs/heads/{self._pr.base_ref}")

    def labels(self, info, first=None, last=None, after=None, before=None, orderBy=None):
        labs = [self._ctx.emu.label(self._repo, n) for n in self._pr.labels]
        return connection([GLabel(self._ctx, self._repo, lab) for lab in labs if lab], first, last, after, before,
                          "labels")

    def reviewRequests(self, info, first=None, last=None, after=None, before=None):
        items = [{"__typename": "ReviewRequest", "id": node_id("RR", f"{self._repo.full_name}#{self._pr.number}:{lg}"),
                  "asCodeOwner": False, "databaseId": None, "requestedReviewer": GUser(self._ctx, lg),
                  "pullRequest": self} for lg in self._pr.requested_reviewers]
        return connection(items, first, last, after, before, "reviewRequests")

    def assignees(self, info, first=None, last=None, after=None, before=None):
        return connection([], first, last, after, before, "assignees")

    def autoMergeRequest(self, info):
        am = self._pr.auto_merge
        if not am:
            return None
        return {"__typename": "AutoMergeRequest", "enabledAt": iso(am["enabled_at"]),
                "enabledBy": GUser(self._ctx, am["enabled_by"]), "mergeMethod": am["merge_method"],
                "commitHeadline": am.get("commit_title"), "commitBody": am.get("commit_message"),
                "authorEmail": am.get("author_email"), "pullRequest": self}

    @property
    def _diff(self):
        mb = self._repo.git.merge_base(self.baseRefOid, self.headRefOid) or self.baseRefOid
        return self._repo.git.diff_stat(mb, self.headRefOid)

    @property
    def additions(self):
        return self._diff[0]

    @property
    def deletions(self):
        return self._diff[1]

    @property
    def changedFiles(self):
        return self._diff[2]


class GRepository:
    TYPENAME = "Repository"

    def __init__(self, ctx: Ctx, repo: Repo):
        self._ctx, self._repo = ctx, repo
        self.id = repo.node_id
        self.databaseId = repo.id
        self.name = repo.name
        self.nameWithOwner = repo.full_name
        self.url = f"{ctx.web}/{repo.full_name}"
        self.resourcePath = f"/{repo.full_name}"
        self.sshUrl = f"git@{ctx.web.split('://', 1)[1].split(':')[0]}:{repo.full_name}.git"
        self.description = repo.description
        self.homepageUrl = None
        self.isPrivate = repo.private
        self.visibility = "PRIVATE" if repo.private else "PUBLIC"
        self.isArchived = self.isDisabled = self.isFork = self.isLocked = self.isMirror = self.isTemplate = False
        self.isInOrganization = False
        self.autoMergeAllowed = repo.auto_merge_allowed
        self.mergeCommitAllowed = repo.merge_commit_allowed
        self.squashMergeAllowed = repo.squash_merge_allowed
        self.rebaseMergeAllowed = repo.rebase_merge_allowed
        self.deleteBranchOnMerge = repo.delete_branch_on_merge
        self.allowUpdateBranch = False
        self.webCommitSignoffRequired = False
        self.createdAt = iso(repo.created_at)
        self.updatedAt = iso(repo.updated_at)
        self.pushedAt = iso(repo.updated_at)
        self.forkCount = 0
        self.stargazerCount = 0
        self.archivedAt = None
        self.lockReason = None
        self.parent = None
        self.templateRepository = None
        self.primaryLanguage = None
        self.licenseInfo = None

    @property
    def isEmpty(self):
        return not self._repo.git.list_refs("refs/heads/")

    @property
    def viewerPermission(self):
        perm = self._ctx.emu.permission(self._ctx.token, self._repo)
        return {"read": "READ", "triage": "TRIAGE", "write": "WRITE", "maintain": "MAINTAIN",
                "admin": "ADMIN"}.get(perm)

    @property
    def viewerCanAdminister(self):
        return self._ctx.emu.permission(self._ctx.token, self._repo) == "admin"

    @property
    def viewerDefaultMergeMethod(self):
        r = self._repo
        return "MERGE" if r.merge_commit_allowed else ("SQUASH" if r.squash_merge_allowed else "REBASE")

    def owner(self, info):
        return GUser(self._ctx, self._repo.owner)

    def defaultBranchRef(self, info):
        ref = f"refs/heads/{self._repo.default_branch}"
        if self._repo.git.ref_oid(ref) is None:
            return None
        return GRef(self._ctx, self._repo, ref)

    def ref(self, info, qualifiedName):
        cands = [qualifiedName] if qualifiedName.startswith("refs/") else [f"refs/heads/{qualifiedName}",
                                                                           f"refs/tags/{qualifiedName}"]
        for c in cands:
            if c.count("/") >= 2:
                oid = self._repo.git.ref_oid(c)
                if oid:
                    return GRef(self._ctx, self._repo, c, oid)
        return None

    def refs(self, info, refPrefix, first=None, last=None, after=None, before=None, query=None, direction=None,
             orderBy=None):
        if not refPrefix.endswith("/"):
            raise GQLError("UNPROCESSABLE", "refPrefix must end with '/'")
        items = [(n, o) for n, o in self._repo.git.list_refs(refPrefix) if not n.startswith("refs/pull/")]
        if query:
            items = [(n, o) for n, o in items if query in n[len(refPrefix):]]
        if direction == "DESC":
            items.reverse()
        return connection([GRef(self._ctx, self._repo, n, o) for n, o in items], first, last, after, before,
                          "refs")

    def object(self, info, expression=None, oid=None):
        git = self._repo.git
        if oid is not None:
            if git.object_type(oid) is None:
                return None
            return git_object(self._ctx, self._repo, oid)
        if expression is None:
            raise GQLError("UNPROCESSABLE", "Either oid or expression must be provided")
        rev, sep, path = expression.partition(":")
        if rev.startswith("-") or path.startswith("-"):
            return None
        found = git.resolve(expression if sep else expression)
        if found is None:
            return None
        obj = git_object(self._ctx, self._repo, found)
        if isinstance(obj, GTree) and sep:
            obj._path = path.strip("/")
        return obj

    def pullRequests(self, info, first=None, last=None, after=None, before=None, states=None, headRefName=None,
                     baseRefName=None, labels=None, orderBy=None):
        prs = _pulls_filtered(self._ctx, self._repo, states, headRefName, baseRefName, labels, orderBy)
        return connection([GPullRequest(self._ctx, self._repo, p) for p in prs], first, last, after, before,
                          "pullRequests")

    def pullRequest(self, info, number):
        pr = self._repo.pulls.get(number)
        if pr is None:
            raise GQLError("NOT_FOUND", f"Could not resolve to a PullRequest with the number of {number}.")
        return GPullRequest(self._ctx, self._repo, pr)

    def label(self, info, name):
        lab = self._ctx.emu.label(self._repo, name)
        return GLabel(self._ctx, self._repo, lab) if lab else None

    def labels(self, info, first=None, last=None, after=None, before=None, orderBy=None, query=None):
        labs = sorted(list(self._repo.labels.values()), key=lambda x: x.name.lower())
        if query:
            labs = [lab for lab in labs if query.lower() in lab.name.lower()]
        return connection([GLabel(self._ctx, self._repo, lab) for lab in labs], first, last, after, before,
                          "labels")

    def collaborators(self, info, first=None, last=None, after=None, before=None, affiliation=None, login=None,
                      query=None):
        users = [self._repo.owner] + [c for c in self._repo.collaborators]
        for t in list(self._ctx.emu.tokens.values()):
            if PERMS[self._ctx.emu.permission(t, self._repo)] >= 1 and t.login not in users:
                users.append(t.login)
        if login:
            users = [u for u in users if u.lower() == login.lower()]
        conn = connection([GUser(self._ctx, u) for u in users], first, last, after, before, "collaborators")
        conn["edges"] = [dict(e, permission="WRITE") for e in conn["edges"]]
        return conn


# -------------------------------------------------------------------------- roots
def _node(ctx: Ctx, nid: str):
    dec = decode_node_id(nid)
    if dec is None:
        return None
    kind, payload = dec
    try:
        if kind == "U":
            u = ctx.emu.user(payload, create=False)
            return GUser(ctx, u.login) if u else None
        if kind == "R":
            return GRepository(ctx, ctx.repo_by_full(payload))
        if kind in ("PR", "REF", "C", "T", "B", "LA"):
            sep = "#" if kind == "PR" else ":"
            full, _, rest = payload.partition(sep)
            repo = ctx.repo_by_full(full)
            if kind == "PR":
                pr = repo.pulls.get(int(rest))
                return GPullRequest(ctx, repo, pr) if pr else None
            if kind == "REF":
                oid = repo.git.ref_oid(rest)
                return GRef(ctx, repo, rest, oid) if oid else None
            if kind == "LA":
                lab = ctx.emu.label_by_id(repo, int(rest))
                return GLabel(ctx, repo, lab) if lab else None
            obj = git_object(ctx, repo, rest) if repo.git.object_type(rest) else None
            return obj
    except GQLError:
        return None
    except ValueError:
        return None
    return None


def _node_or_error(ctx: Ctx, nid: str, want: Optional[type] = None, what: str = "node"):
    obj = _node(ctx, nid)
    if obj is None or (want is not None and not isinstance(obj, want)):
        raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{nid}'")
    return obj


class Query:
    def __init__(self, ctx: Ctx):
        self._ctx = ctx

    def repository(self, info, owner, name, followRenames=True):
        return GRepository(self._ctx, self._ctx.repo(owner, name))

    def user(self, info, login):
        u = self._ctx.emu.user(login)
        if u is None:
            raise GQLError("NOT_FOUND", f"Could not resolve to a User with the login of '{login}'.")
        return GUser(self._ctx, u.login)

    def viewer(self, info):
        return GUser(self._ctx, self._ctx.token.login)

    def node(self, info, id):  # noqa: A002 - GraphQL argument name
        obj = _node(self._ctx, id)
        if obj is None:
            raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{id}'")
        return obj

    def nodes(self, info, ids):
        return [_node(self._ctx, i) for i in ids]

    def rateLimit(self, info, dryRun=False):
        limit, remaining, reset, _ = self._ctx.emu.rate_limit_tick(self._ctx.token.login, "graphql", count=False)
        return {"cost": 1, "limit": limit, "nodeCount": 1, "remaining": remaining, "resetAt": iso(reset),
                "used": limit - remaining}


class Mutation:
    def __init__(self, ctx: Ctx):
        self._ctx = ctx

    # -- helpers
    def _pr(self, nid: str, need_write: bool = True) -> Tuple[Repo, PullRequest]:
        dec = decode_node_id(nid)
        if dec is None or dec[0] != "PR":
            raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{nid}'")
        full, _, num = dec[1].partition("#")
        owner, _, name = full.partition("/")
        repo = self._ctx.repo(owner, name, "read")
        if need_write:
            try:
                self._ctx.emu.require_pr_write(self._ctx.token, repo)
            except ApiError as e:
                raise _gql(e)
        pr = repo.pulls.get(int(num)) if num.isdigit() else None
        if pr is None:
            raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{nid}'")
        return repo, pr

    def _repo_by_id(self, rid: str, need: str) -> Repo:
        dec = decode_node_id(rid)
        if dec is None or dec[0] != "R":
            raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{rid}'")
        owner, _, name = dec[1].partition("/")
        return self._ctx.repo(owner, name, need)

    # -- mutations
    def createCommitOnBranch(self, info, input):  # noqa: A002
        ctx = self._ctx
        branch = input["branch"]
        if branch.get("id"):
            dec = decode_node_id(branch["id"])
            if dec is None or dec[0] != "REF":
                raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{branch['id']}'")
            full, _, qualified = dec[1].partition(":")
            repo = ctx.repo_by_full(full, "write")
            if not qualified.startswith("refs/heads/"):
                raise GQLError("UNPROCESSABLE", "The ref must be a branch")
            branch_name = qualified[len("refs/heads/"):]
        else:
            nwo = branch.get("repositoryNameWithOwner")
            branch_name = branch.get("branchName")
            if not nwo or not branch_name:
                raise GQLError("UNPROCESSABLE", "Either `id` or both `repositoryNameWithOwner` and `branchName` "
                                                "must be provided to identify the branch.")
            if "/" not in nwo:
                raise GQLError("NOT_FOUND", f"Could not resolve to a Repository with the name '{nwo}'.")
            repo = ctx.repo_by_full(nwo, "write")
        changes = input.get("fileChanges") or {}
        additions = []
        for a in changes.get("additions") or []:
            additions.append((a["path"], base64.b64decode(re.sub(r"\s+", "", a["contents"]))))
        deletions = [d["path"] for d in changes.get("deletions") or []]
        msg = input["message"]
        headline = msg["headline"]
        if not headline.strip():
            raise GQLError("UNPROCESSABLE", "A commit message headline is required.")
        message = headline + ("\n\n" + msg["body"] if msg.get("body") else "")
        try:
            oid = ctx.emu.commit_on_branch(repo, branch_name, input["expectedHeadOid"], additions, deletions,
                                           message, ctx.token.login)
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId"), "commit": GCommit(ctx, repo, oid),
                "ref": GRef(ctx, repo, f"refs/heads/{branch_name}", oid)}

    def createRef(self, info, input):  # noqa: A002
        repo = self._repo_by_id(input["repositoryId"], "write")
        try:
            self._ctx.emu.create_ref(repo, input["name"], input["oid"], graphql=True, actor=self._ctx.token.login)
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId"),
                "ref": GRef(self._ctx, repo, input["name"], input["oid"])}

    def updateRef(self, info, input):  # noqa: A002
        dec = decode_node_id(input["refId"])
        if dec is None or dec[0] != "REF":
            raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{input['refId']}'")
        full, _, qualified = dec[1].partition(":")
        repo = self._ctx.repo_by_full(full, "write")
        try:
            self._ctx.emu.update_ref(repo, qualified, input["oid"], bool(input.get("force")), via="graphql-ref",
                                     actor=self._ctx.token.login)
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId"),
                "ref": GRef(self._ctx, repo, qualified, input["oid"])}

    def updateRefs(self, info, input):  # noqa: A002
        repo = self._repo_by_id(input["repositoryId"], "write")
        try:
            self._ctx.emu.update_refs(repo, input["refUpdates"], actor=self._ctx.token.login)
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId")}

    def deleteRef(self, info, input):  # noqa: A002
        dec = decode_node_id(input["refId"])
        if dec is None or dec[0] != "REF":
            raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{input['refId']}'")
        full, _, qualified = dec[1].partition(":")
        repo = self._ctx.repo_by_full(full, "write")
        try:
            self._ctx.emu.delete_ref(repo, qualified, actor=self._ctx.token.login)
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId")}

    def createPullRequest(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo = self._repo_by_id(input["repositoryId"], "read")
        try:
            ctx.emu.require_pr_write(ctx.token, repo)
            pr = ctx.emu.create_pull(repo, ctx.token.login, input["headRefName"], input["baseRefName"],
                                     input["title"], input.get("body"), draft=bool(input.get("draft")),
                                     maintainer_can_modify=input.get("maintainerCanModify", True), graphql=True)
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": GPullRequest(ctx, repo, pr)}

    def updatePullRequest(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo, pr = self._pr(input["pullRequestId"])
        try:
            ctx.emu.update_pull(repo, pr, title=input.get("title"), body=input.get("body"),
                                state=input.get("state"), base=input.get("baseRefName"),
                                maintainer_can_modify=input.get("maintainerCanModify"), graphql=True)
        except ApiError as e:
            raise _gql(e)
        if input.get("labelIds") is not None:
            pr.labels = [self._label(repo, lid).name for lid in input["labelIds"]]
        if input.get("assigneeIds"):
            raise Unsupported("UpdatePullRequestInput.assigneeIds")
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": GPullRequest(ctx, repo, pr),
                "actor": GUser(ctx, ctx.token.login)}

    def closePullRequest(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo, pr = self._pr(input["pullRequestId"])
        ctx.emu.update_pull(repo, pr, state="closed")
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": GPullRequest(ctx, repo, pr)}

    def reopenPullRequest(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo, pr = self._pr(input["pullRequestId"])
        try:
            # behaviours.reopen_refusal: e.g. the head branch was force-pushed or recreated
            ctx.emu.update_pull(repo, pr, state="open", graphql=True)
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": GPullRequest(ctx, repo, pr)}

    def enablePullRequestAutoMerge(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo, pr = self._pr(input["pullRequestId"])
        method = input.get("mergeMethod") or "MERGE"
        refusal = rules.auto_merge_refusal(ctx.emu, repo, pr, method, input.get("expectedHeadOid"))
        if refusal is not None:
            raise GQLError("UNPROCESSABLE", refusal)
        pr.auto_merge = {"merge_method": method, "enabled_by": ctx.token.login, "enabled_at": time.time(),
                         "commit_title": input.get("commitHeadline"), "commit_message": input.get("commitBody"),
                         "author_email": input.get("authorEmail")}
        pr.updated_at = time.time()
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": GPullRequest(ctx, repo, pr),
                "actor": GUser(ctx, ctx.token.login)}

    def disablePullRequestAutoMerge(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo, pr = self._pr(input["pullRequestId"])
        pr.auto_merge = None
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": GPullRequest(ctx, repo, pr),
                "actor": GUser(ctx, ctx.token.login)}

    def mergePullRequest(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo, pr = self._pr(input["pullRequestId"])
        try:
            ctx.emu.repo_for(ctx.token, repo.owner, repo.name, "write")
            ctx.emu.merge_pull(repo, pr, ctx.token.login, (input.get("mergeMethod") or "MERGE").lower(),
                               input.get("commitHeadline"), input.get("commitBody"), input.get("expectedHeadOid"))
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": GPullRequest(ctx, repo, pr),
                "actor": GUser(ctx, ctx.token.login)}

    def _label(self, repo: Repo, lid: str):
        dec = decode_node_id(lid)
        lab = None
        if dec and dec[0] == "LA":
            full, _, num = dec[1].partition(":")
            if full == repo.full_name and num.isdigit():
                lab = self._ctx.emu.label_by_id(repo, int(num))
        if lab is None:
            raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{lid}'")
        return lab

    def addLabelsToLabelable(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo, pr = self._pr(input["labelableId"])
        labs = [self._label(repo, lid) for lid in input["labelIds"]]
        with ctx.emu.lock:
            for lab in labs:
                if lab.name not in pr.labels:
                    pr.labels.append(lab.name)
            pr.updated_at = time.time()
        return {"clientMutationId": input.get("clientMutationId"), "labelable": GPullRequest(ctx, repo, pr)}

    def createLabel(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo = self._repo_by_id(input["repositoryId"], "write")
        if ctx.emu.label(repo, input["name"]) is not None:
            raise GQLError("UNPROCESSABLE", "Name has already been taken")
        lab = ctx.emu.label(repo, input["name"], create=True, color=input["color"],
                            description=input.get("description"))
        return {"clientMutationId": input.get("clientMutationId"), "label": GLabel(ctx, repo, lab)}

    def requestReviews(self, info, input):  # noqa: A002
        ctx = self._ctx
        repo, pr = self._pr(input["pullRequestId"])
        logins = []
        for uid in input.get("userIds") or []:
            dec = decode_node_id(uid)
            u = ctx.emu.user(dec[1], create=False) if dec and dec[0] == "U" else None
            if u is None:
                raise GQLError("NOT_FOUND", f"Could not resolve to a node with the global id of '{uid}'")
            logins.append(u.login)
        if input.get("teamIds"):
            raise Unsupported("RequestReviewsInput.teamIds")
        try:
            ctx.emu.request_reviewers(repo, pr, logins, union=bool(input.get("union")))
        except ApiError as e:
            raise _gql(e)
        return {"clientMutationId": input.get("clientMutationId"), "pullRequest": GPullRequest(ctx, repo, pr),
                "actor": GUser(ctx, ctx.token.login), "requestedReviewersEdge": None}


# -------------------------------------------------------------------------- execution
def operation_info(document, operation_name: Optional[str]) -> Tuple[Optional[str], Optional[str], List[str]]:
    """(operation name, operation type, top-level field names)"""
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    op = None
    if operation_name:
        op = next((o for o in ops if o.name and o.name.value == operation_name), None)
    elif len(ops) == 1:
        op = ops[0]
    if op is None:
        return operation_name, None, []
    fields = [s.name.value for s in op.selection_set.selections if isinstance(s, FieldNode)]
    return (op.name.value if op.name else None), op.operation.value, fields


class GraphQLApi:
    def __init__(self, emu: Emulator, schema: GraphQLSchema):
        self.emu = emu
        self.schema = schema

    def _format(self, err: GraphQLError, method: str, path: str, op: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        orig = err.original_error
        if isinstance(orig, GQLError):
            out["type"] = orig.type
        elif isinstance(orig, Unsupported):
            out["type"] = "EMULATOR_UNSUPPORTED"
            self.emu.violation("emulator_gap", method, path, [str(orig)], graphql=op)
        elif orig is not None:
            out["type"] = "INTERNAL"
            self.emu.violation("emulator_bug", method, path,
                               [f"{type(orig).__name__}: {orig}", "".join(traceback.format_exception(orig))[-2000:]],
                               graphql=op)
        else:
            # e.g. null returned for a non-null field: the emulator broke the schema
            self.emu.violation("response", method, path, [err.message], graphql=op)
        if err.path is not None:
            out["path"] = list(err.path)
        if err.locations:
            out["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
        out["message"] = orig.message if isinstance(orig, GQLError) else (
            str(orig) if isinstance(orig, Unsupported) else (
                "Something went wrong while executing your query." if orig is not None else err.message))
        return out

    def handle(self, body: Any, token: Token, api: str, web: str, method: str,
               path: str) -> Tuple[int, Dict[str, Any], Dict[str, Any]]:
        """Returns (status, response body, operation info for the request log)."""
        op_info: Dict[str, Any] = {}
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            self.emu.violation("graphql", method, path, ["request body has no string `query`"])
            return 200, {"errors": [{"message": "A query attribute must be specified and must be a string."}]}, op_info
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            self.emu.violation("graphql", method, path, ["`variables` must be an object"])
            return 200, {"errors": [{"message": "Variables are invalid JSON."}]}, op_info
        operation_name = body.get("operationName") or None
        try:
            document = parse(body["query"])
        except GraphQLError as e:
            msg = e.message
            self.emu.violation("graphql", method, path, [f"parse error: {msg}"])
            errs = {"message": msg}
            if e.locations:
                errs["locations"] = [{"line": loc.line, "column": loc.column} for loc in e.locations]
            return 200, {"errors": [errs]}, op_info
        name, op_type, fields = operation_info(document, operation_name)
        op_info = {"operation_name": name, "operation_type": op_type, "fields": fields}
        missing = [f for f in fields if op_type == "mutation" and f in self.emu.hidden_mutations]
        if missing:
            # graphql-ruby's answer on a server without the field (GitHub Enterprise Server
            # before the mutation shipped): HTTP 200, `extensions.code: undefinedField`.
            return 200, {"errors": [{
                "path": [f"mutation {name or ''}".strip(), f],
                "extensions": {"code": "undefinedField", "typeName": "Mutation", "fieldName": f},
                "message": f"Field '{f}' doesn't exist on type 'Mutation'"} for f in missing]}, op_info
        verrors = validate(self.schema, document)
        if verrors:
            self.emu.violation("graphql", method, path, [e.message for e in verrors][:10], graphql=op_info)
            return 200, {"errors": [
                {"locations": [{"line": loc.line, "column": loc.column} for loc in (e.locations or [])],
                 "message": e.message} for e in verrors]}, op_info
        ctx = Ctx(self.emu, token, api, web)
        root = Mutation(ctx) if op_type == "mutation" else Query(ctx)
        result = execute(self.schema, document, root_value=root, context_value=ctx, variable_values=variables,
                         operation_name=operation_name, field_resolver=field_resolver)
        out: Dict[str, Any] = {}
        if result.errors:
            if result.data is None:
                # request-level failure (variable coercion, unknown operation): the client's fault
                self.emu.violation("graphql", method, path, [e.message for e in result.errors][:10],
                                   graphql=op_info)
                return 200, {"errors": [{"message": e.message, "locations": [
                    {"line": loc.line, "column": loc.column} for loc in (e.locations or [])]}
                    for e in result.errors]}, op_info
        out["data"] = result.data
        if result.errors:
            out["errors"] = [self._format(e, method, path, op_info) for e in result.errors]
        return 200, out, op_info


# -------------------------------------------------------------------------- commit statuses and deployments
# State and rules live in statuses.py (shared with REST and the Flux simulator); the
# classes below only render it. Commit.status / Commit.statusCheckRollup and
# Repository.deployments are attached to the classes above at the end.
def _status_state(state: str) -> str:
    return state.upper()


class GStatusContext:
    TYPENAME = "StatusContext"

    def __init__(self, ctx: Ctx, repo: Repo, s):
        self._ctx, self._repo, self._s = ctx, repo, s
        u = ctx.emu.user(s.creator, create=True) or ctx.emu.add_user(s.creator)
        self.id = node_id("SC", f"{repo.full_name}:{s.id}")
        self.context = s.context
        self.state = _status_state(s.state)
        self.description = s.description
        self.targetUrl = s.target_url
        self.createdAt = iso(s.created_at)
        self.avatarUrl = _avatar(f"{ctx.web}/avatars/u/{u.id}?v=4")

    def creator(self, info):
        return GUser(self._ctx, self._s.creator)

    def commit(self, info):
        return GCommit(self._ctx, self._repo, self._s.sha)

    def isRequired(self, info, pullRequestId=None, pullRequestNumber=None):
        # required when the pull request's base branch protection names the context
        pr = None
        if pullRequestNumber is not None:
            pr = self._repo.pulls.get(pullRequestNumber)
        elif pullRequestId is not None:
            obj = _node(self._ctx, pullRequestId)
            pr = getattr(obj, "_pr", None)
        if pr is None:
            raise GQLError("NOT_FOUND", "Could not resolve to a PullRequest.")
        prot = self._repo.protections.get(pr.base_ref)
        return bool(prot) and self._s.context.lower() in (c.lower() for c in prot.required_status_checks)


def _rollup_connection(ctx: Ctx, repo: Repo, latest, first, last, after, before, name):
    conn = connection([GStatusContext(ctx, repo, s) for s in latest], first, last, after, before, name)
    counts: Dict[str, int] = {}
    for s in latest:
        counts[_status_state(s.state)] = counts.get(_status_state(s.state), 0) + 1
    conn.update(checkRunCount=0, checkRunCountsByState=[], statusContextCount=len(latest),
                statusContextCountsByState=[{"state": k, "count": v} for k, v in sorted(counts.items())])
    return conn


class GStatus:
    """Commit.status: the combined status (REST's rule: statuses.combined_state)."""
    TYPENAME = "Status"

    def __init__(self, ctx: Ctx, repo: Repo, oid: str, state: str, latest):
        self._ctx, self._repo, self._oid, self._latest = ctx, repo, oid, latest
        self.id = node_id("S", f"{repo.full_name}:{oid}")
        self.state = _status_state(state)

    @property
    def contexts(self):
        return [GStatusContext(self._ctx, self._repo, s) for s in self._latest]

    def context(self, info, name):
        for s in self._latest:
            if s.context.lower() == name.lower():
                return GStatusContext(self._ctx, self._repo, s)
        return None

    def combinedContexts(self, info, first=None, last=None, after=None, before=None):
        return _rollup_connection(self._ctx, self._repo, self._latest, first, last, after, before,
                                  "combinedContexts")

    def commit(self, info):
        return GCommit(self._ctx, self._repo, self._oid)


class GStatusCheckRollup(GStatus):
    """Commit.statusCheckRollup: statuses only (the emulator has no check runs)."""
    TYPENAME = "StatusCheckRollup"

    def __init__(self, ctx: Ctx, repo: Repo, oid: str, state: str, latest):
        super().__init__(ctx, repo, oid, state, latest)
        self.id = node_id("SCR", f"{repo.full_name}:{oid}")

    def contexts(self, info, first=None, last=None, after=None, before=None):
        return _rollup_connection(self._ctx, self._repo, self._latest, first, last, after, before, "contexts")


def _commit_status(self, info):
    # GitHub answers null when the commit has no status at all
    state, latest = self._ctx.emu.statuses.combined(self._repo, self.oid)
    return GStatus(self._ctx, self._repo, self.oid, state, latest) if latest else None


def _commit_rollup(self, info):
    state, latest = self._ctx.emu.statuses.combined(self._repo, self.oid)
    return GStatusCheckRollup(self._ctx, self._repo, self.oid, state, latest) if latest else None


# GraphQL docs, DeploymentState; the emulator derives it from the latest status (guess):
# none yet -> PENDING, success -> ACTIVE, inactive -> INACTIVE (DESTROYED when transient).
def _deployment_state(d) -> str:
    latest = d.latest
    if latest is None:
        return "PENDING"
    if latest.state == "success":
        return "ACTIVE"
    if latest.state == "inactive":
        return "DESTROYED" if d.transient_environment else "INACTIVE"
    return latest.state.upper()


class GDeploymentStatus:
    TYPENAME = "DeploymentStatus"

    def __init__(self, ctx: Ctx, repo: Repo, d, s):
        self._ctx, self._repo, self._d, self._s = ctx, repo, d, s
        self.id = node_id("DES", f"{repo.full_name}:{s.id}")
        self.state = s.state.upper()
        self.description = s.description
        self.environment = s.environment
        self.environmentUrl = s.environment_url or None
        self.logUrl = s.log_url or None
        self.createdAt = iso(s.created_at)
        self.updatedAt = iso(s.updated_at)

    def creator(self, info):
        return GUser(self._ctx, self._s.creator)

    def deployment(self, info):
        return GDeployment(self._ctx, self._repo, self._d)


class GDeployment:
    TYPENAME = "Deployment"

    def __init__(self, ctx: Ctx, repo: Repo, d):
        import json as _json
        self._ctx, self._repo, self._d = ctx, repo, d
        self.id = node_id("DE", f"{repo.full_name}:{d.id}")
        self.databaseId = d.id
        self.commitOid = d.sha
        self.createdAt = iso(d.created_at)
        self.updatedAt = iso(d.updated_at)
        self.description = d.description
        self.environment = d.environment
        self.originalEnvironment = d.original_environment
        self.latestEnvironment = d.latest.environment if d.latest else d.environment
        self.payload = d.payload if isinstance(d.payload, str) else _json.dumps(d.payload)
        self.task = d.task
        self.state = _deployment_state(d)

    def commit(self, info):
        return GCommit(self._ctx, self._repo, self._d.sha)

    def creator(self, info):
        return GUser(self._ctx, self._d.creator)

    def repository(self, info):
        return GRepository(self._ctx, self._repo)

    def ref(self, info):
        # the deployed ref when it names a branch or tag; null for a bare SHA
        ref = self._d.ref
        for cand in ((ref,) if ref.startswith("refs/") else (f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/{ref}")):
            oid = self._repo.git.ref_oid(cand) if cand.count("/") >= 2 else None
            if oid:
                return GRef(self._ctx, self._repo, cand, oid)
        return None

    def latestStatus(self, info):
        return GDeploymentStatus(self._ctx, self._repo, self._d, self._d.latest) if self._d.latest else None

    def statuses(self, info, first=None, last=None, after=None, before=None):
        items = [GDeploymentStatus(self._ctx, self._repo, self._d, s) for s in reversed(self._d.statuses)]
        return connection(items, first, last, after, before, "statuses")


def _repo_deployments(self, info, first=None, last=None, after=None, before=None, environments=None,
                      orderBy=None):
    deps = self._ctx.emu.statuses.deployments(self._repo)
    if environments:
        deps = [d for d in deps if d.environment in environments]
    if (orderBy or {}).get("direction") == "DESC":
        deps = list(reversed(deps))
    return connection([GDeployment(self._ctx, self._repo, d) for d in deps], first, last, after, before,
                      "deployments")


GCommit.status = _commit_status
GCommit.statusCheckRollup = _commit_rollup
GRepository.deployments = _repo_deployments
