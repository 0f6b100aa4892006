"""The REST subset of GitHub the action uses, in GitHub's JSON shapes."""

from __future__ import annotations

import base64
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from .core import PERMS, ApiError, Emulator, PullRequest, Repo, Token, User, iso, node_id, parse_iso, tz_of_iso
from . import behaviours as rules
from .gitstore import Identity

DOCS = "https://docs.github.com/rest"


@dataclass
class Req:
    method: str
    path: str
    query: Dict[str, List[str]]
    body: Any
    has_body: bool
    token: Optional[Token]
    headers: Dict[str, str]
    api: str  # e.g. http://127.0.0.1:1234 or http://127.0.0.1:1234/api/v3
    web: str  # e.g. http://127.0.0.1:1234
    params: Dict[str, str] = field(default_factory=dict)

    def q(self, name: str, default: Optional[str] = None) -> Optional[str]:
        vals = self.query.get(name)
        return vals[-1] if vals else default


Response = Tuple[int, Any, Dict[str, str]]


@dataclass
class Route:
    method: str
    regex: "re.Pattern[str]"
    template: str  # path template in GitHub's OpenAPI description
    handler: Callable[["RestApi", Req], Response]
    resource: str = "core"


ROUTES: List[Route] = []


def route(method: str, template: str, pattern: Optional[str] = None):
    """Register a handler. ``pattern`` overrides the regex derived from ``template``
    (for parameters that may contain slashes)."""

    def deco(fn):
        if pattern is not None:
            rx = pattern
        else:
            rx = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
        ROUTES.append(Route(method, re.compile("^" + rx + "$"), template, fn))
        return fn

    return deco


OWNER_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


def operations() -> List[Tuple[str, str]]:
    return sorted({(r.method, r.template) for r in ROUTES})


def match(method: str, path: str) -> Tuple[Optional[Route], Dict[str, str], bool]:
    """(route, params, path_known_for_other_method)"""
    known = False
    for r in ROUTES:
        m = r.regex.match(path)
        if m:
            known = True
            if r.method == method:
                return r, {k: urllib.parse.unquote(v) if v is not None else "" for k, v in m.groupdict().items()}, True
    return None, {}, known


def b64_lines(data: bytes) -> str:
    enc = base64.b64encode(data).decode()
    return "\n".join(enc[i:i + 60] for i in range(0, len(enc), 60)) + ("\n" if enc else "")


class RestApi:
    def __init__(self, emu: Emulator):
        self.emu = emu

    # ------------------------------------------------------------------ shapes
    def simple_user(self, req: Req, u: User) -> Dict[str, Any]:
        api = req.api
        return {
            "login": u.login, "id": u.id, "node_id": u.node_id,
            "avatar_url": f"{req.web}/avatars/u/{u.id}?v=4", "gravatar_id": "",
            "url": f"{api}/users/{u.login}", "html_url": f"{req.web}/{u.login}",
            "followers_url": f"{api}/users/{u.login}/followers",
            "following_url": f"{api}/users/{u.login}/following{{/other_user}}",
            "gists_url": f"{api}/users/{u.login}/gists{{/gist_id}}",
            "starred_url": f"{api}/users/{u.login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/users/{u.login}/subscriptions",
            "organizations_url": f"{api}/users/{u.login}/orgs",
            "repos_url": f"{api}/users/{u.login}/repos",
            "events_url": f"{api}/users/{u.login}/events{{/privacy}}",
            "received_events_url": f"{api}/users/{u.login}/received_events",
            "type": u.type, "user_view_type": "public", "site_admin": False,
        }

    def user_of(self, login: str) -> User:
        return self.emu.user(login) or self.emu.add_user(login)

    def repo_json(self, req: Req, repo: Repo, full: bool = True) -> Dict[str, Any]:
        api = f"{req.api}/repos/{repo.full_name}"
        web = f"{req.web}/{repo.full_name}"
        perm = self.emu.permission(req.token, repo)
        lvl = PERMS.get(perm, 0)
        d: Dict[str, Any] = {
            "id": repo.id, "node_id": repo.node_id, "name": repo.name, "full_name": repo.full_name,
            "private": repo.private, "owner": self.simple_user(req, self.user_of(repo.owner)),
            "html_url": web, "description": repo.description, "fork": False, "url": api,
            "archive_url": f"{api}/{{archive_format}}{{/ref}}", "assignees_url": f"{api}/assignees{{/user}}",
            "blobs_url": f"{api}/git/blobs{{/sha}}", "branches_url": f"{api}/branches{{/branch}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}", "comments_url": f"{api}/comments{{/number}}",
            "commits_url": f"{api}/commits{{/sha}}", "compare_url": f"{api}/compare/{{base}}...{{head}}",
            "contents_url": f"{api}/contents/{{+path}}", "contributors_url": f"{api}/contributors",
            "deployments_url": f"{api}/deployments", "downloads_url": f"{api}/downloads",
            "events_url": f"{api}/events", "forks_url": f"{api}/forks",
            "git_commits_url": f"{api}/git/commits{{/sha}}", "git_refs_url": f"{api}/git/refs{{/sha}}",
            "git_tags_url": f"{api}/git/tags{{/sha}}", "git_url": f"{req.web.replace('http', 'git', 1)}/"
                                                                 f"{repo.full_name}.git",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "issue_events_url": f"{api}/issues/events{{/number}}", "issues_url": f"{api}/issues{{/number}}",
            "keys_url": f"{api}/keys{{/key_id}}", "labels_url": f"{api}/labels{{/name}}",
            "languages_url": f"{api}/languages", "merges_url": f"{api}/merges",
            "milestones_url": f"{api}/milestones{{/number}}",
            "notifications_url": f"{api}/notifications{{?since,all,participating}}",
            "pulls_url": f"{api}/pulls{{/number}}", "releases_url": f"{api}/releases{{/id}}",
            "ssh_url": f"git@{urllib.parse.urlparse(req.web).hostname}:{repo.full_name}.git",
            "stargazers_url": f"{api}/stargazers", "statuses_url": f"{api}/statuses/{{sha}}",
            "subscribers_url": f"{api}/subscribers", "subscription_url": f"{api}/subscription",
            "tags_url": f"{api}/tags", "teams_url": f"{api}/teams", "trees_url": f"{api}/git/trees{{/sha}}",
            "clone_url": f"{web}.git", "mirror_url": None, "hooks_url": f"{api}/hooks",
            "svn_url": web, "homepage": None, "language": None, "forks_count": 0, "forks": 0,
            "stargazers_count": 0, "watchers_count": 0, "watchers": 0, "size": 1,
            "default_branch": repo.default_branch, "open_issues_count": sum(
                1 for p in list(repo.pulls.values()) if p.state == "open"),
            "open_issues": sum(1 for p in list(repo.pulls.values()) if p.state == "open"),
            "is_template": False, "topics": [], "has_issues": True, "has_projects": True, "has_wiki": False,
            "has_pages": False, "has_downloads": True, "has_discussions": False, "archived": False,
            "disabled": False, "visibility": "private" if repo.private else "public",
            "pushed_at": iso(repo.updated_at), "created_at": iso(repo.created_at), "updated_at": iso(repo.updated_at),
            "permissions": {"admin": lvl >= 3, "maintain": lvl >= 3, "push": lvl >= 2, "triage": lvl >= 1,
                            "pull": lvl >= 1},
            "allow_forking": True, "web_commit_signoff_required": False, "license": None,
        }
        if full:
            d.update({
                "allow_rebase_merge": repo.rebase_merge_allowed, "allow_squash_merge": repo.squash_merge_allowed,
                "allow_merge_commit": repo.merge_commit_allowed, "allow_auto_merge": repo.auto_merge_allowed,
                "delete_branch_on_merge": repo.delete_branch_on_merge, "allow_update_branch": False,
                "use_squash_pr_title_as_default": False, "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
                "squash_merge_commit_message": "COMMIT_MESSAGES", "merge_commit_title": "MERGE_MESSAGE",
                "merge_commit_message": "PR_TITLE", "network_count": 0, "subscribers_count": 0,
            })
        return d

    def commit_urls(self, req: Req, repo: Repo, sha: str) -> Dict[str, str]:
        return {"url": f"{req.api}/repos/{repo.full_name}/git/commits/{sha}",
                "html_url": f"{req.web}/{repo.full_name}/commit/{sha}"}

    def verification(self, repo: Repo, oid: str) -> Dict[str, Any]:
        info = repo.git.commit_info(oid)
        if info is None:
            return {"verified": False, "reason": "unsigned", "signature": None, "payload": None, "verified_at": None}
        if info.web_flow_signed:
            payload = info.raw_header
            payload = "\n".join(line for line in payload.split("\n") if not line.startswith(("gpgsig ", " ")))
            return {"verified": True, "reason": "valid", "signature": info.gpgsig,
                    "payload": payload + "\n\n" + info.message, "verified_at": iso(info.committer.timestamp)}
        if info.gpgsig:
            return {"verified": False, "reason": "unknown_key", "signature": info.gpgsig, "payload": None,
                    "verified_at": None}
        return {"verified": False, "reason": "unsigned", "signature": None, "payload": None, "verified_at": None}

    @staticmethod
    def git_actor(ident: Identity) -> Dict[str, Any]:
        return {"name": ident.name, "email": ident.email, "date": iso(ident.timestamp)}

    def git_commit_json(self, req: Req, repo: Repo, oid: str) -> Dict[str, Any]:
        info = repo.git.commit_info(oid)
        api = f"{req.api}/repos/{repo.full_name}"
        return {
            "sha": info.oid, "node_id": node_id("C", f"{repo.full_name}:{info.oid}"),
            **self.commit_urls(req, repo, info.oid),
            "author": self.git_actor(info.author), "committer": self.git_actor(info.committer),
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "parents": [{"sha": p, **self.commit_urls(req, repo, p)} for p in info.parents],
            "verification": self.verification(repo, info.oid),
        }

    def user_for_identity(self, req: Req, ident: Identity) -> Optional[Dict[str, Any]]:
        if ident.email == "noreply@github.com":
            u = self.emu.add_user("web-flow", name="GitHub")
            return self.simple_user(req, u)
        for u in list(self.emu.users.values()):
            if u.email.lower() == ident.email.lower():
                return self.simple_user(req, u)
        return None

    def commit_json(self, req: Req, repo: Repo, oid: str, with_files: bool = True) -> Dict[str, Any]:
        info = repo.git.commit_info(oid)
        api = f"{req.api}/repos/{repo.full_name}"
        d = {
            "url": f"{api}/commits/{info.oid}", "sha": info.oid,
            "node_id": node_id("C", f"{repo.full_name}:{info.oid}"),
            "html_url": f"{req.web}/{repo.full_name}/commit/{info.oid}",
            "comments_url": f"{api}/commits/{info.oid}/comments",
            "commit": {
                "url": f"{api}/git/commits/{info.oid}",
                "author": self.git_actor(info.author), "committer": self.git_actor(info.committer),
                "message": info.message, "comment_count": 0,
                "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
                "verification": self.verification(repo, info.oid),
            },
            "author": self.user_for_identity(req, info.author),
            "committer": self.user_for_identity(req, info.committer),
            "parents": [{"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{req.web}/{repo.full_name}/commit/{p}"}
                        for p in info.parents],
        }
        if with_files:
            files = []
            adds = dels = 0
            base = info.parents[0] if info.parents else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
            out = repo.git.git("diff-tree", "-r", "--no-commit-id", "--numstat", "-z", "--no-renames", base,
                               info.oid, check=False).decode("utf-8", "replace")
            raw = repo.git.git("diff-tree", "-r", "--no-commit-id", "--no-renames", base, info.oid,
                               check=False).decode("utf-8", "replace")
            statuses = {}
            for line in raw.splitlines():
                meta, _, path = line.partition("\t")
                parts = meta.split()
                if len(parts) >= 5:
                    statuses[path] = (parts[4], parts[3] if parts[4] != "D" else parts[2])
            for rec in out.split("\0"):
                if not rec.strip():
                    continue
                a, d_, path = rec.split("\t", 2)
                a_i = int(a) if a.isdigit() else 0
                d_i = int(d_) if d_.isdigit() else 0
                adds += a_i
                dels += d_i
                st, blob = statuses.get(path, ("M", "0" * 40))
                files.append({
                    "sha": blob, "filename": path,
                    "status": {"A": "added", "D": "removed", "M": "modified"}.get(st, "changed"),
                    "additions": a_i, "deletions": d_i, "changes": a_i + d_i,
                    "blob_url": f"{req.web}/{repo.full_name}/blob/{info.oid}/{path}",
                    "raw_url": f"{req.web}/{repo.full_name}/raw/{info.oid}/{path}",
                    "contents_url": f"{api}/contents/{path}?ref={info.oid}",
                })
            d["stats"] = {"additions": adds, "deletions": dels, "total": adds + dels}
            d["files"] = files
        return d

    def ref_json(self, req: Req, repo: Repo, ref: str, oid: str) -> Dict[str, Any]:
        typ = repo.git.object_type(oid) or "commit"
        api = f"{req.api}/repos/{repo.full_name}"
        plural = {"commit": "commits", "tag": "tags", "tree": "trees", "blob": "blobs"}[typ]
        return {"ref": ref, "node_id": node_id("REF", f"{repo.full_name}:{ref}"), "url": f"{api}/git/{ref}",
                "object": {"sha": oid, "type": typ, "url": f"{api}/git/{plural}/{oid}"}}

    def label_json(self, req: Req, repo: Repo, lab) -> Dict[str, Any]:
        return {"id": lab.id, "node_id": node_id("LA", f"{repo.full_name}:{lab.id}"),
                "url": f"{req.api}/repos/{repo.full_name}/labels/{urllib.parse.quote(lab.name)}",
                "name": lab.name, "description": lab.description, "color": lab.color, "default": lab.default}

    def pull_json(self, req: Req, repo: Repo, pr: PullRequest, simple: bool = False) -> Dict[str, Any]:
        api = f"{req.api}/repos/{repo.full_name}"
        web = f"{req.web}/{repo.full_name}/pull/{pr.number}"
        head_sha = self.emu.pull_head_oid(repo, pr)
        base_sha = self.emu.pull_base_oid(repo, pr)
        owner = self.simple_user(req, self.user_of(repo.owner))
        repo_simple = self.repo_json(req, repo, full=False)
        labels = [self.label_json(req, repo, lab) for lab in
                  (self.emu.label(repo, n) for n in pr.labels) if lab is not None]
        if simple:
            # pull-request-simple declares labels[].description as a non-null string
            for lab in labels:
                lab["description"] = lab["description"] or ""
        d: Dict[str, Any] = {
            "url": f"{api}/pulls/{pr.number}", "id": pr.id, "node_id": node_id("PR", f"{repo.full_name}#{pr.number}"),
            "html_url": web, "diff_url": f"{web}.diff", "patch_url": f"{web}.patch",
            "issue_url": f"{api}/issues/{pr.number}", "commits_url": f"{api}/pulls/{pr.number}/commits",
            "review_comments_url": f"{api}/pulls/{pr.number}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{pr.number}/comments", "statuses_url": f"{api}/statuses/{head_sha}",
            "number": pr.number, "state": pr.state, "locked": False, "title": pr.title,
            "user": self.simple_user(req, self.user_of(pr.user)), "body": pr.body, "labels": labels,
            "milestone": None, "active_lock_reason": None, "created_at": iso(pr.created_at),
            "updated_at": iso(pr.updated_at), "closed_at": iso(pr.closed_at), "merged_at": iso(pr.merged_at),
            "merge_commit_sha": pr.merge_commit_sha, "assignee": None, "assignees": [],
            "requested_reviewers": [self.simple_user(req, self.user_of(login)) for login in pr.requested_reviewers],
            "requested_teams": [],
            "head": {"label": f"{repo.owner}:{pr.head_ref}", "ref": pr.head_ref, "sha": head_sha, "user": owner,
                     "repo": repo_simple},
            "base": {"label": f"{repo.owner}:{pr.base_ref}", "ref": pr.base_ref, "sha": base_sha, "user": owner,
                     "repo": repo_simple},
            "_links": {"self": {"href": f"{api}/pulls/{pr.number}"}, "html": {"href": web},
                       "issue": {"href": f"{api}/issues/{pr.number}"},
                       "comments": {"href": f"{api}/issues/{pr.number}/comments"},
                       "review_comments": {"href": f"{api}/pulls/{pr.number}/comments"},
                       "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                       "commits": {"href": f"{api}/pulls/{pr.number}/commits"},
                       "statuses": {"href": f"{api}/statuses/{head_sha}"}},
            "author_association": "OWNER" if pr.user.lower() == repo.owner.lower() else "COLLABORATOR",
            "auto_merge": None, "draft": pr.draft,
        }
        if pr.auto_merge:
            am = pr.auto_merge
            d["auto_merge"] = {"enabled_by": self.simple_user(req, self.user_of(am["enabled_by"])),
                               "merge_method": am["merge_method"].lower(),
                               "commit_title": am.get("commit_title") or "",
                               "commit_message": am.get("commit_message") or ""}
        if simple:
            return d
        # the background mergeability job: null / "unknown" until it has run (behaviours.py)
        mergeable, status = self.emu.merge_state(repo, pr)
        known = pr.state == "open" and mergeable != "UNKNOWN"
        mb = repo.git.merge_base(base_sha, head_sha) if pr.state == "open" else None
        adds, dels, files = repo.git.diff_stat(mb or base_sha, head_sha) if head_sha != "0" * 40 else (0, 0, 0)
        d.update({
            "merged": pr.merged, "mergeable": mergeable == "MERGEABLE" if known else None,
            "rebaseable": mergeable == "MERGEABLE" if known else None,
            "mergeable_state": status.lower() if pr.state == "open" else "unknown",
            "merged_by": self.simple_user(req, self.user_of(pr.merged_by)) if pr.merged_by else None,
            "comments": 0, "review_comments": 0, "maintainer_can_modify": pr.maintainer_can_modify,
            "commits": len(repo.git.commits_between(mb or base_sha, head_sha)) if head_sha != "0" * 40 else 0,
            "additions": adds, "deletions": dels, "changed_files": files,
        })
        return d

    # ------------------------------------------------------------------ helpers
    def repo(self, req: Req, need: str = "read") -> Repo:
        return self.emu.repo_for(req.token, req.params["owner"], req.params["repo"], need)

    @staticmethod
    def not_found(doc: str = f"{DOCS}") -> ApiError:
        return ApiError(404, "Not Found", doc=doc)

    def resolve_commitish(self, repo: Repo, ref: str) -> Optional[str]:
        git = repo.git
        if re.fullmatch(r"[0-9a-fA-F]{4,40}", ref):
            oid = git.resolve(ref + "^{commit}")
            if oid:
                return oid
        # documented forms: SHA, branch name, heads/BRANCH, tags/TAG (and fully qualified refs)
        qualified = f"refs/{ref}" if ref.startswith(("heads/", "tags/")) else None
        for cand in (f"refs/heads/{ref}", f"refs/tags/{ref}", qualified, ref if ref.startswith("refs/") else None):
            if cand:
                oid = git.ref_oid(cand)
                if oid:
                    return git.resolve(oid + "^{commit}")
        return None


def _pagination(req: Req) -> Tuple[int, int]:
    try:
        per_page = min(100, max(1, int(req.q("per_page", "30"))))
        page = max(1, int(req.q("page", "1")))
    except ValueError:
        raise ApiError(422, "Validation Failed")
    return per_page, page


# ---------------------------------------------------------------------- users
@route("GET", "/user")
def get_user(api: RestApi, req: Req) -> Response:
    u = api.user_of(req.token.login)
    d = api.simple_user(req, u)
    d.update({
        "name": u.name, "company": None, "blog": "", "location": None, "email": u.email, "hireable": None,
        "bio": None, "twitter_username": None, "notification_email": u.email, "public_repos": 0, "public_gists": 0,
        "followers": 0, "following": 0, "created_at": iso(u.created_at), "updated_at": iso(u.created_at),
        "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0, "disk_usage": 0,
        "collaborators": 0, "two_factor_authentication": True,
    })
    return 200, d, {}


@route("GET", "/users/{username}")
def get_user_by_name(api: RestApi, req: Req) -> Response:
    u = api.emu.user(req.params["username"])
    if u is None:
        raise api.not_found(f"{DOCS}/users/users#get-a-user")
    d = api.simple_user(req, u)
    d.update({"name": u.name, "company": None, "blog": "", "location": None, "email": None, "hireable": None,
              "bio": None, "public_repos": 0, "public_gists": 0, "followers": 0, "following": 0,
              "created_at": iso(u.created_at), "updated_at": iso(u.created_at)})
    return 200, d, {}


@route("GET", "/rate_limit")
def rate_limit(api: RestApi, req: Req) -> Response:
    # REST docs, rate-limit: "Accessing this endpoint does not count against your REST API rate limit."
    limit, remaining, reset, _ = api.emu.rate_limit_tick(req.token.login, "core", count=False)
    core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
    gql_l, gql_r, gql_reset, _ = api.emu.rate_limit_tick(req.token.login, "graphql", count=False)
    gql = {"limit": gql_l, "remaining": gql_r, "reset": gql_reset, "used": gql_l - gql_r}
    return 200, {"resources": {"core": core, "graphql": gql, "search": dict(core, limit=30, remaining=30, used=0)},
                 "rate": core}, {}


# ---------------------------------------------------------------------- repos
@route("GET", "/repos/{owner}/{repo}")
def get_repo(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    return 200, api.repo_json(req, repo), {}


@route("GET", "/repos/{owner}/{repo}/branches/{branch}", OWNER_REPO + r"/branches/(?P<branch>.+)")
def get_branch(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    branch = req.params["branch"]
    oid = api.emu.branch_head(repo, branch)
    if oid is None:
        raise ApiError(404, "Branch not found", doc=f"{DOCS}/branches/branches#get-a-branch")
    base = f"{req.api}/repos/{repo.full_name}/branches/{urllib.parse.quote(branch, safe='')}"
    prot = repo.protections.get(branch)
    d = {
        "name": branch, "commit": api.commit_json(req, repo, oid, with_files=False),
        "_links": {"html": f"{req.web}/{repo.full_name}/tree/{branch}", "self": base},
        "protected": prot is not None, "protection_url": f"{base}/protection",
        "protection": {
            "enabled": prot is not None,
            "required_status_checks": {
                "enforcement_level": "non_admins" if prot and prot.required_status_checks else "off",
                "contexts": list(prot.required_status_checks) if prot else [],
                "checks": [{"context": c, "app_id": None} for c in (prot.required_status_checks if prot else [])],
            },
        },
    }
    return 200, d, {}


# ---------------------------------------------------------------------- refs
@route("GET", "/repos/{owner}/{repo}/git/ref/{ref}", OWNER_REPO + r"/git/ref/(?P<ref>.+)")
def get_ref(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    ref = "refs/" + req.params["ref"]
    oid = repo.git.ref_oid(ref)
    if oid is None:
        raise api.not_found(f"{DOCS}/git/refs#get-a-reference")
    return 200, api.ref_json(req, repo, ref, oid), {}


@route("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}", OWNER_REPO + r"/git/matching-refs/(?P<ref>.*)")
def matching_refs(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    prefix = "refs/" + req.params["ref"]
    out = [api.ref_json(req, repo, name, oid) for name, oid in repo.git.list_refs("refs/")
           if name.startswith(prefix) and not name.startswith("refs/pull/")]
    return 200, out, {}


def _ref_body_str(req: Req, key: str, doc: str) -> str:
    if not isinstance(req.body, dict) or req.body.get(key) is None:
        raise ApiError(422, f"Invalid request.\n\n\"{key}\" wasn't supplied.", doc=doc)
    return req.body[key]


@route("POST", "/repos/{owner}/{repo}/git/refs")
def create_ref(api: RestApi, req: Req) -> Response:
    repo = api.repo(req, "write")
    doc = f"{DOCS}/git/refs#create-a-reference"
    ref = _ref_body_str(req, "ref", doc)
    sha = _ref_body_str(req, "sha", doc)
    api.emu.create_ref(repo, ref, sha.lower(), actor=req.token.login)
    body = api.ref_json(req, repo, ref, sha.lower())
    return 201, body, {"Location": body["url"]}


@route("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", OWNER_REPO + r"/git/refs/(?P<ref>.+)")
def update_ref(api: RestApi, req: Req) -> Response:
    repo = api.repo(req, "write")
    sha = _ref_body_str(req, "sha", f"{DOCS}/git/refs#update-a-reference").lower()
    ref = "refs/" + req.params["ref"]
    api.emu.update_ref(repo, ref, sha, bool(req.body.get("force", False)), actor=req.token.login)
    return 200, api.ref_json(req, repo, ref, sha), {}


@route("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}", OWNER_REPO + r"/git/refs/(?P<ref>.+)")
def delete_ref(api: RestApi, req: Req) -> Response:
    repo = api.repo(req, "write")
    api.emu.delete_ref(repo, "refs/" + req.params["ref"], actor=req.token.login)
    return 204, None, {}


# ---------------------------------------------------------------------- blobs
@route("POST", "/repos/{owner}/{repo}/git/blobs")
def create_blob(api: RestApi, req: Req) -> Response:
    repo = api.repo(req, "write")
    doc = f"{DOCS}/git/blobs#create-a-blob"
    content = _ref_body_str(req, "content", doc)
    enc = req.body.get("encoding", "utf-8")
    if enc == "base64":
        try:
            data = base64.b64decode(content, validate=False)
        except Exception:  # noqa: BLE001
            raise ApiError(422, "Invalid request.\n\ncontent is not valid Base64.", doc=doc)
    elif enc in ("utf-8", "utf8"):
        data = content.encode("utf-8")
    else:
        raise ApiError(422, f"encoding must be one of utf-8, base64 (got {enc!r})", doc=doc)
    sha = repo.git.write_blob(data)
    url = f"{req.api}/repos/{repo.full_name}/git/blobs/{sha}"
    return 201, {"url": url, "sha": sha}, {"Location": url}


@route("GET", "/repos/{owner}/{repo}/git/blobs/{file_sha}")
def get_blob(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    sha = req.params["file_sha"].lower()
    obj = repo.git.read_object(sha) if re.fullmatch(r"[0-9a-f]{40}", sha) else None
    if obj is None or obj[0] != "blob":
        raise api.not_found(f"{DOCS}/git/blobs#get-a-blob")
    return 200, {"content": b64_lines(obj[1]), "encoding": "base64",
                 "url": f"{req.api}/repos/{repo.full_name}/git/blobs/{sha}", "sha": sha, "size": len(obj[1]),
                 "node_id": node_id("B", f"{repo.full_name}:{sha}")}, {}


# ---------------------------------------------------------------------- trees
def tree_entry_json(req: Req, repo: Repo, path: str, e) -> Dict[str, Any]:
    api = f"{req.api}/repos/{repo.full_name}"
    d = {"path": path, "mode": e.mode, "type": e.type, "sha": e.oid}
    if e.type == "blob":
        obj = repo.git.read_object(e.oid)
        d["size"] = len(obj[1]) if obj else 0
        d["url"] = f"{api}/git/blobs/{e.oid}"
    elif e.type == "tree":
        d["url"] = f"{api}/git/trees/{e.oid}"
    return d


def tree_json(req: Req, repo: Repo, tree_oid: str, recursive: bool, limits=None) -> Dict[str, Any]:
    truncated = False
    if recursive:
        api = f"{req.api}/repos/{repo.full_name}"

        def entry(path: str, mode: str, typ: str, oid: str, size: Optional[int]) -> Dict[str, Any]:
            d: Dict[str, Any] = {"path": path, "mode": mode, "type": typ, "sha": oid}
            if typ == "blob":
                d["size"] = size or 0
                d["url"] = f"{api}/git/blobs/{oid}"
            elif typ == "tree":
                d["url"] = f"{api}/git/trees/{oid}"
            return d

        # GitHub truncates a recursive listing (behaviours.recursive_tree_listing)
        entries, truncated = rules.recursive_tree_listing(repo.git, tree_oid, limits or rules.Limits(), entry)
    else:
        entries = [tree_entry_json(req, repo, e.name, e) for e in repo.git.tree_entries(tree_oid) or []]
    return {"sha": tree_oid, "url": f"{req.api}/repos/{repo.full_name}/git/trees/{tree_oid}", "tree": entries,
            "truncated": truncated}


@route("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}", OWNER_REPO + r"/git/trees/(?P<tree_sha>.+)")
def get_tree(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    rev = req.params["tree_sha"]
    oid = None
    if re.fullmatch(r"[0-9a-fA-F]{40}", rev):
        oid = repo.git.resolve(rev.lower() + "^{tree}")
    else:
        commit = api.resolve_commitish(repo, rev)
        if commit:
            oid = repo.git.commit_info(commit).tree
    if oid is None:
        raise api.not_found(f"{DOCS}/git/trees#get-a-tree")
    # REST docs, git/trees: "Setting this parameter to any value returns the objects or subtrees
    # referenced by the tree ... 0, 1, "true", and "false". Omit this parameter to prevent [it]."
    recursive = "recursive" in req.query
    return 200, tree_json(req, repo, oid, recursive, api.emu.limits), {}


MODE_TYPES = {"100644": "blob", "100755": "blob", "040000": "tree", "160000": "commit", "120000": "blob"}


@route("POST", "/repos/{owner}/{repo}/git/trees")
def create_tree(api: RestApi, req: Req) -> Response:
    repo = api.repo(req, "write")
    doc = f"{DOCS}/git/trees#create-a-tree"
    body = req.body if isinstance(req.body, dict) else {}
    items = body.get("tree")
    if not isinstance(items, list):
        raise ApiError(422, "Invalid request.\n\n\"tree\" wasn't supplied.", doc=doc)
    git = repo.git
    base_tree = body.get("base_tree")
    if base_tree is not None:
        if not re.fullmatch(r"[0-9a-f]{40}", str(base_tree).lower()) or \
                git.object_type(str(base_tree).lower()) != "tree":
            raise ApiError(422, "Invalid request.\n\nbase_tree is not a valid tree oid.", doc=doc)
        base_tree = base_tree.lower()
    changes: Dict[str, Optional[Tuple[str, str]]] = {}
    for idx, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(422, f"Invalid request.\n\ntree[{idx}] must be an object.", doc=doc)
        path = item.get("path")
        mode = item.get("mode")
        typ = item.get("type") or MODE_TYPES.get(mode or "", "blob")
        if (not path or path.startswith("/") or path.endswith("/") or "//" in path
                or any(part in (".", "..", ".git") for part in path.split("/"))):
            raise ApiError(422, "tree.path contains a malformed path component", doc=doc)
        if mode not in MODE_TYPES:
            raise ApiError(422, f"Invalid request.\n\ntree[{idx}].mode must be one of "
                                f"{', '.join(MODE_TYPES)}.", doc=doc)
        if MODE_TYPES[mode] != typ:
            raise ApiError(422, f"Invalid request.\n\ntree[{idx}] mode {mode} does not match type {typ}.", doc=doc)
        has_sha = "sha" in item
        has_content = "content" in item
        if has_sha and has_content:
            raise ApiError(422, "Invalid request.\n\nOnly one of \"sha\" or \"content\" may be given.", doc=doc)
        if has_content:
            if typ != "blob":
                raise ApiError(422, "Invalid request.\n\n\"content\" can only be used with blobs.", doc=doc)
            changes[path] = (mode, git.write_blob(str(item["content"]).encode("utf-8")))
        elif has_sha and item["sha"] is None:
            if base_tree is None or git.entry_at(base_tree, path) is None:
                raise ApiError(422, "GitRPC::BadObjectState", doc=doc)
            changes[path] = None
        elif has_sha:
            sha = str(item["sha"]).lower()
            actual = git.object_type(sha) if re.fullmatch(r"[0-9a-f]{40}", sha) else None
            if typ == "commit":
                actual = "commit" if re.fullmatch(r"[0-9a-f]{40}", sha) else None
            if actual != typ:
                raise ApiError(422, f"tree.sha {item['sha']} is not a valid {typ}", doc=doc)
            changes[path] = (mode, sha)
        else:
            raise ApiError(422, "Invalid request.\n\nMust supply either tree.sha or tree.content.", doc=doc)
    new_tree = git.apply_changes(base_tree, changes)
    body = tree_json(req, repo, new_tree, recursive=False)
    return 201, body, {"Location": body["url"]}


# ---------------------------------------------------------------------- commits
@route("POST", "/repos/{owner}/{repo}/git/commits")
def create_commit(api: RestApi, req: Req) -> Response:
    repo = api.repo(req, "write")
    doc = f"{DOCS}/git/commits#create-a-commit"
    body = req.body if isinstance(req.body, dict) else {}
    git = repo.git
    message = _ref_body_str(req, "message", doc)
    tree = _ref_body_str(req, "tree", doc).lower()
    if not re.fullmatch(r"[0-9a-f]{40}", tree) or git.object_type(tree) != "tree":
        raise ApiError(422, "Tree SHA does not exist", doc=doc)
    parents = []
    for p in body.get("parents") or []:
        p = str(p).lower()
        if not re.fullmatch(r"[0-9a-f]{40}", p) or git.object_type(p) != "commit":
            raise ApiError(422, "Parent SHA does not exist or is not a commit object", doc=doc)
        parents.append(p)
    now = int(time.time())
    default = api.emu.identity_for(req.token.login, now)

    def ident(d: Optional[Dict[str, Any]], fallback: Identity) -> Identity:
        if not d:
            return fallback
        if not d.get("name") or not d.get("email"):
            raise ApiError(422, "Invalid request.\n\nauthor/committer need \"name\" and \"email\".", doc=doc)
        ts, tz = fallback.timestamp, "+0000"
        if d.get("date"):
            try:
                ts, tz = parse_iso(d["date"]), tz_of_iso(d["date"])
            except ValueError:
                raise ApiError(422, f"Invalid request.\n\n{d['date']!r} is not a valid date-time.", doc=doc)
        return Identity(d["name"], d["email"], ts, tz)

    author = ident(body.get("author"), default)
    committer = ident(body.get("committer"), author)
    oid = git.commit_tree(tree, parents, message, author, committer, gpgsig=body.get("signature"))
    d = api.git_commit_json(req, repo, oid)
    return 201, d, {"Location": d["url"]}


@route("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}")
def get_git_commit(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    sha = req.params["commit_sha"].lower()
    if not re.fullmatch(r"[0-9a-f]{40}", sha) or repo.git.object_type(sha) != "commit":
        raise api.not_found(f"{DOCS}/git/commits#get-a-commit-object")
    return 200, api.git_commit_json(req, repo, sha), {}


@route("GET", "/repos/{owner}/{repo}/commits/{ref}", OWNER_REPO + r"/commits/(?P<ref>.+)")
def get_commit(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    oid = api.resolve_commitish(repo, req.params["ref"])
    if oid is None:
        raise ApiError(422, f"No commit found for SHA: {req.params['ref']}",
                       doc=f"{DOCS}/commits/commits#get-a-commit")
    return 200, api.commit_json(req, repo, oid), {}


# ---------------------------------------------------------------------- contents
@route("GET", "/repos/{owner}/{repo}/contents/{path}", OWNER_REPO + r"/contents(?:/(?P<path>.*))?")
def get_content(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    path = (req.params.get("path") or "").strip("/")
    ref = req.q("ref") or repo.default_branch
    commit = api.resolve_commitish(repo, ref)
    doc = f"{DOCS}/repos/contents#get-repository-content"
    if commit is None:
        raise ApiError(404, f"No commit found for the ref {ref}", doc=doc)
    info = repo.git.commit_info(commit)
    entry = repo.git.entry_at(info.tree, path)
    if entry is None:
        raise api.not_found(doc)
    base = f"{req.api}/repos/{repo.full_name}"

    def item(p: str, e, with_content: bool) -> Dict[str, Any]:
        typ = {"blob": "file", "tree": "dir", "commit": "submodule"}[e.type]
        if e.mode == "120000":
            typ = "symlink"
        q = urllib.parse.quote(p)
        git_url = f"{base}/git/{'trees' if e.type == 'tree' else 'blobs'}/{e.oid}"
        html = f"{req.web}/{repo.full_name}/{'tree' if e.type == 'tree' else 'blob'}/{ref}/{p}"
        size = 0
        data = b""
        if e.type == "blob":
            obj = repo.git.read_object(e.oid)
            data = obj[1] if obj else b""
            size = len(data)
        d = {"type": typ, "size": size, "name": p.rsplit("/", 1)[-1], "path": p, "sha": e.oid,
             "url": f"{base}/contents/{q}?ref={urllib.parse.quote(ref)}", "git_url": git_url, "html_url": html,
             "download_url": f"{req.web}/{repo.full_name}/raw/{ref}/{q}" if e.type == "blob" else None,
             "_links": {"self": f"{base}/contents/{q}?ref={urllib.parse.quote(ref)}", "git": git_url,
                        "html": html}}
        if with_content and typ == "file":
            d["content"] = b64_lines(data)
            d["encoding"] = "base64"
        if with_content and typ == "symlink":
            d["target"] = data.decode("utf-8", "replace")
        return d

    if entry.type == "tree":
        entries = repo.git.tree_entries(entry.oid) or []
        return 200, [item(f"{path}/{e.name}" if path else e.name, e, False) for e in entries], {}
    accept = req.headers.get("accept", "")
    if "raw" in accept and entry.type == "blob":
        obj = repo.git.read_object(entry.oid)
        return 200, obj[1], {"content-type": "application/vnd.github.raw; charset=utf-8"}
    return 200, item(path, entry, True), {}


# ---------------------------------------------------------------------- pulls
@route("GET", "/repos/{owner}/{repo}/pulls")
def list_pulls(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    state = req.q("state", "open")
    if state not in ("open", "closed", "all"):
        raise ApiError(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "state",
                                                          "code": "invalid"}])
    head = req.q("head")
    base = req.q("base")
    pulls = list(repo.pulls.values())
    if state != "all":
        pulls = [p for p in pulls if p.state == state]
    if head:
        if ":" in head:
            h_owner, h_branch = head.split(":", 1)
            pulls = [p for p in pulls if h_owner.lower() == repo.owner.lower() and p.head_ref == h_branch]
        else:
            # GitHub only honours ``user:ref-name``: a bare branch name is silently
            # ignored (all PRs come back). Do the same, and flag it.
            api.emu.violation("semantic", req.method, req.path,
                              [f"head={head!r} has no 'owner:' prefix; GitHub ignores such a head filter"])
    if base:
        pulls = [p for p in pulls if p.base_ref == base]
    sort = req.q("sort", "created")
    reverse = req.q("direction", "desc" if sort in ("created", None) else "asc") == "desc"
    key = {"created": lambda p: (p.created_at, p.number), "updated": lambda p: (p.updated_at, p.number),
           "popularity": lambda p: p.number, "long-running": lambda p: p.created_at}.get(
        sort, lambda p: (p.created_at, p.number))
    pulls.sort(key=key, reverse=reverse)
    per_page, page = _pagination(req)
    chunk = pulls[(page - 1) * per_page: page * per_page]
    headers = {}
    if len(pulls) > page * per_page:
        q = dict((k, v[-1]) for k, v in req.query.items())
        q.update(page=str(page + 1), per_page=str(per_page))
        headers["link"] = f"<{req.api}{req.path}?{urllib.parse.urlencode(q)}>; rel=\"next\""
    return 200, [api.pull_json(req, repo, p, simple=True) for p in chunk], headers


@route("POST", "/repos/{owner}/{repo}/pulls")
def create_pull(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    api.emu.require_pr_write(req.token, repo)
    body = req.body if isinstance(req.body, dict) else {}
    doc = f"{DOCS}/pulls/pulls#create-a-pull-request"
    for key in ("head", "base"):
        if not body.get(key):
            raise ApiError(422, f"Invalid request.\n\n\"{key}\" wasn't supplied.", doc=doc)
    if not body.get("title") and not body.get("issue"):
        raise ApiError(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "title",
                                                          "code": "missing_field"}], doc=doc)
    pr = api.emu.create_pull(repo, req.token.login, body["head"], body["base"], body.get("title") or "",
                             body.get("body"), draft=bool(body.get("draft", False)),
                             maintainer_can_modify=bool(body.get("maintainer_can_modify", True)))
    d = api.pull_json(req, repo, pr)
    return 201, d, {"Location": d["url"]}


def _pull(api: RestApi, req: Req, repo: Repo) -> PullRequest:
    try:
        number = int(req.params.get("pull_number") or req.params.get("issue_number"))
    except (TypeError, ValueError):
        raise api.not_found()
    pr = repo.pulls.get(number)
    if pr is None:
        raise api.not_found(f"{DOCS}/pulls/pulls#get-a-pull-request")
    return pr


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")
def get_pull(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    return 200, api.pull_json(req, repo, _pull(api, req, repo)), {}


@route("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}")
def update_pull(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    api.emu.require_pr_write(req.token, repo)
    pr = _pull(api, req, repo)
    body = req.body if isinstance(req.body, dict) else {}
    api.emu.update_pull(repo, pr, title=body.get("title"), body=body.get("body"), state=body.get("state"),
                        base=body.get("base"), maintainer_can_modify=body.get("maintainer_can_modify"))
    return 200, api.pull_json(req, repo, pr), {}


@route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")
def merge_pull(api: RestApi, req: Req) -> Response:
    repo = api.repo(req, "write")
    pr = _pull(api, req, repo)
    body = req.body if isinstance(req.body, dict) else {}
    sha = api.emu.merge_pull(repo, pr, req.token.login, body.get("merge_method") or "merge",
                             body.get("commit_title"), body.get("commit_message"), body.get("sha"))
    return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")
def check_merged(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    pr = _pull(api, req, repo)
    if pr.merged:
        return 204, None, {}
    raise api.not_found()


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def list_reviewers(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    pr = _pull(api, req, repo)
    return 200, {"users": [api.simple_user(req, api.user_of(login)) for login in pr.requested_reviewers],
                 "teams": []}, {}


@route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def request_reviewers(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    api.emu.require_pr_write(req.token, repo)
    pr = _pull(api, req, repo)
    body = req.body if isinstance(req.body, dict) else {}
    reviewers = body.get("reviewers") or []
    if body.get("team_reviewers"):
        raise ApiError(422, "Reviews may only be requested from collaborators. One or more of the users or teams "
                            f"you specified is not a collaborator of the {repo.full_name} repository.")
    api.emu.request_reviewers(repo, pr, list(reviewers), union=True)
    return 201, api.pull_json(req, repo, pr, simple=True), {}


# ---------------------------------------------------------------------- labels
@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def list_issue_labels(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    pr = _pull(api, req, repo)
    return 200, [api.label_json(req, repo, api.emu.label(repo, n)) for n in pr.labels], {}


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def add_issue_labels(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    api.emu.require_pr_write(req.token, repo)
    pr = _pull(api, req, repo)
    body = req.body
    names: List[str] = []
    if isinstance(body, dict):
        body = body.get("labels", [])
    if isinstance(body, str):
        body = [body]
    for item in body or []:
        if isinstance(item, dict):
            item = item.get("name")
        if not isinstance(item, str) or not item:
            raise ApiError(422, "Invalid request.\n\nlabels must be names.")
        names.append(item)
    with api.emu.lock:
        for n in names:
            lab = api.emu.label(repo, n, create=True)
            if lab.name not in pr.labels:
                pr.labels.append(lab.name)
        pr.updated_at = time.time()
    return 200, [api.label_json(req, repo, api.emu.label(repo, n)) for n in pr.labels], {}


# ---------------------------------------------------------------------- commit statuses and deployments
# State and rules live in statuses.py; these handlers only speak the wire format.
from . import statuses as status_rules  # noqa: E402 - kept with the routes that use it


def route_first(method: str, template: str, pattern: str):
    """Like ``route``, but tried before the routes registered so far: ``/commits/{ref}``
    takes any ref with slashes, so ``/commits/{ref}/status`` must match first."""

    def deco(fn):
        ROUTES.insert(0, Route(method, re.compile("^" + pattern + "$"), template, fn))
        return fn

    return deco


def status_json(api: RestApi, req: Req, repo: Repo, s, simple: bool = False) -> Dict[str, Any]:
    u = api.user_of(s.creator)
    d = {"url": f"{req.api}/repos/{repo.full_name}/statuses/{s.sha}",
         "avatar_url": f"{req.web}/avatars/u/{u.id}?v=4", "id": s.id,
         "node_id": node_id("SC", f"{repo.full_name}:{s.id}"), "state": s.state, "description": s.description,
         "target_url": s.target_url, "context": s.context, "created_at": iso(s.created_at),
         "updated_at": iso(s.updated_at)}
    if not simple:
        d["creator"] = api.simple_user(req, u)
    return d


def deployment_json(api: RestApi, req: Req, repo: Repo, d) -> Dict[str, Any]:
    url = f"{req.api}/repos/{repo.full_name}/deployments/{d.id}"
    return {"url": url, "id": d.id, "node_id": node_id("DE", f"{repo.full_name}:{d.id}"), "sha": d.sha,
            "ref": d.ref, "task": d.task, "payload": d.payload, "original_environment": d.original_environment,
            "environment": d.environment, "description": d.description,
            "creator": api.simple_user(req, api.user_of(d.creator)), "created_at": iso(d.created_at),
            "updated_at": iso(d.updated_at), "statuses_url": f"{url}/statuses",
            "repository_url": f"{req.api}/repos/{repo.full_name}", "transient_environment": d.transient_environment,
            "production_environment": d.production_environment, "performed_via_github_app": None}


def deployment_status_json(api: RestApi, req: Req, repo: Repo, d, s) -> Dict[str, Any]:
    dep_url = f"{req.api}/repos/{repo.full_name}/deployments/{d.id}"
    return {"url": f"{dep_url}/statuses/{s.id}", "id": s.id, "node_id": node_id("DES", f"{repo.full_name}:{s.id}"),
            "state": s.state, "creator": api.simple_user(req, api.user_of(s.creator)), "description": s.description,
            "environment": s.environment, "target_url": s.log_url, "created_at": iso(s.created_at),
            "updated_at": iso(s.updated_at), "deployment_url": dep_url,
            "repository_url": f"{req.api}/repos/{repo.full_name}", "environment_url": s.environment_url,
            "log_url": s.log_url, "performed_via_github_app": None}


def _paged(req: Req, items: List[Any]) -> Tuple[List[Any], Dict[str, str]]:
    """One page of ``items`` and GitHub's ``Link`` header (REST docs, "Using pagination")."""
    per_page, page = _pagination(req)
    chunk = items[(page - 1) * per_page: page * per_page]
    last = max(1, -(-len(items) // per_page))
    links = []
    q = dict((k, v[-1]) for k, v in req.query.items())
    for rel, p in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
        if (rel == "prev" and page > 1) or (rel in ("next", "last") and page < last) or (rel == "first" and page > 1):
            q.update(page=str(p), per_page=str(per_page))
            links.append(f"<{req.api}{req.path}?{urllib.parse.urlencode(q)}>; rel=\"{rel}\"")
    return chunk, ({"link": ", ".join(links)} if links else {})


def _status_ref(api: RestApi, req: Req, repo: Repo) -> str:
    oid = api.resolve_commitish(repo, req.params["ref"])
    if oid is None:
        raise ApiError(404, f"No commit found for SHA: {req.params['ref']}",
                       doc=f"{DOCS}/commits/statuses#get-the-combined-status-for-a-specific-reference")
    return oid


@route("POST", "/repos/{owner}/{repo}/statuses/{sha}")
def create_commit_status(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "statuses", "write")
    body = req.body if isinstance(req.body, dict) else {}
    s = api.emu.statuses.create_status(repo, req.params["sha"], body.get("state"), body.get("context"),
                                       body.get("description"), body.get("target_url"), req.token.login)
    d = status_json(api, req, repo, s)
    return 201, d, {"Location": d["url"]}


@route_first("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses", OWNER_REPO + r"/commits/(?P<ref>.+)/statuses")
def list_commit_statuses(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "statuses", "read")
    oid = _status_ref(api, req, repo)
    chunk, headers = _paged(req, api.emu.statuses.statuses(repo, oid))
    return 200, [status_json(api, req, repo, s) for s in chunk], headers


@route_first("GET", "/repos/{owner}/{repo}/commits/{ref}/status", OWNER_REPO + r"/commits/(?P<ref>.+)/status")
def combined_commit_status(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "statuses", "read")
    oid = _status_ref(api, req, repo)
    state, latest = api.emu.statuses.combined(repo, oid)
    chunk, headers = _paged(req, latest)
    base = f"{req.api}/repos/{repo.full_name}"
    return 200, {"state": state, "statuses": [status_json(api, req, repo, s, simple=True) for s in chunk],
                 "sha": oid, "total_count": len(latest), "repository": api.repo_json(req, repo, full=False),
                 "commit_url": f"{base}/commits/{oid}", "url": f"{base}/commits/{oid}/status"}, headers


@route("POST", "/repos/{owner}/{repo}/deployments")
def create_deployment(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "deployments", "write")
    body = req.body if isinstance(req.body, dict) else {}
    if not body.get("ref"):
        raise ApiError(422, "Invalid request.\n\n\"ref\" wasn't supplied.", doc=status_rules.DOCS_DEPLOY)
    status, out = api.emu.statuses.create_deployment(
        repo, req.token.login, body["ref"], task=body.get("task", "deploy"), auto_merge=body.get("auto_merge", True),
        required_contexts=body.get("required_contexts"), payload=body.get("payload", ""),
        environment=body.get("environment", "production"), description=body.get("description", ""),
        transient_environment=body.get("transient_environment", False),
        production_environment=body.get("production_environment"))
    if status == 202:
        return 202, {"message": out}, {}
    d = deployment_json(api, req, repo, out)
    return 201, d, {"Location": d["url"]}


@route("GET", "/repos/{owner}/{repo}/deployments")
def list_deployments(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "deployments", "read")
    deps = list(reversed(api.emu.statuses.deployments(repo)))  # newest first
    for key, attr in (("sha", "sha"), ("ref", "ref"), ("task", "task"), ("environment", "environment")):
        val = req.q(key)
        # the documented default "none" means no filter
        if val not in (None, "", "none"):
            deps = [d for d in deps if getattr(d, attr) == val]
    chunk, headers = _paged(req, deps)
    return 200, [deployment_json(api, req, repo, d) for d in chunk], headers


@route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}")
def get_deployment(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "deployments", "read")
    return 200, deployment_json(api, req, repo, api.emu.statuses.deployment(repo, req.params["deployment_id"])), {}


@route("DELETE", "/repos/{owner}/{repo}/deployments/{deployment_id}")
def delete_deployment(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "deployments", "write")
    api.emu.statuses.delete_deployment(repo, api.emu.statuses.deployment(repo, req.params["deployment_id"]))
    return 204, None, {}


@route("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
def create_deployment_status(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "deployments", "write")
    dep = api.emu.statuses.deployment(repo, req.params["deployment_id"])
    body = req.body if isinstance(req.body, dict) else {}
    s = api.emu.statuses.create_deployment_status(
        repo, dep, req.token.login, body.get("state"), description=body.get("description", ""),
        log_url=body.get("log_url"), target_url=body.get("target_url"), environment=body.get("environment"),
        environment_url=body.get("environment_url", ""), auto_inactive=body.get("auto_inactive"))
    d = deployment_status_json(api, req, repo, dep, s)
    return 201, d, {"Location": d["url"]}


@route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
def list_deployment_statuses(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "deployments", "read")
    dep = api.emu.statuses.deployment(repo, req.params["deployment_id"])
    chunk, headers = _paged(req, list(reversed(dep.statuses)))  # newest first
    return 200, [deployment_status_json(api, req, repo, dep, s) for s in chunk], headers


@route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses/{status_id}")
def get_deployment_status(api: RestApi, req: Req) -> Response:
    repo = api.repo(req)
    status_rules.require_permission(api.emu, req.token, repo, "deployments", "read")
    dep = api.emu.statuses.deployment(repo, req.params["deployment_id"])
    for s in dep.statuses:
        if str(s.id) == req.params["status_id"]:
            return 200, deployment_status_json(api, req, repo, dep, s), {}
    raise api.not_found(f"{DOCS}/deployments/statuses#get-a-deployment-status")
