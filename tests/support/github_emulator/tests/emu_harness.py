"""Start the emulator as a subprocess and talk to it over HTTP (shared by the self-tests)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from typing import Any, Dict, Optional

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
SUPPORT = os.path.dirname(PKG)


class Emu:
    """A running emulator plus small helpers for the control API."""

    def __init__(self, proc: subprocess.Popen, port: int, state_dir: str, startup_s: float):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.state_dir = state_dir
        self.startup_s = startup_s
        self.http = requests.Session()

    # control API
    def ctl(self, method: str, path: str, json: Any = None) -> Any:
        r = self.http.request(method, f"{self.url}/_emulator/{path}", json=json, timeout=30)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json() if r.content else None

    def repo(self, owner: str = "acme", name: str = "fleet", **kw: Any) -> Dict[str, Any]:
        return self.ctl("POST", "repos", dict(owner=owner, name=name, **kw))

    def token(self, token: str, login: str, repos: Dict[str, str], **kw: Any) -> None:
        self.ctl("POST", "tokens", dict(token=token, login=login, repos=repos, **kw))

    def violations(self) -> list:
        return self.ctl("GET", "violations")

    def requests_log(self) -> list:
        return self.ctl("GET", "requests")

    def git_dir(self, full: str) -> str:
        return self.ctl("GET", f"repos/{full}/git-dir")["git_dir"]

    def git(self, full: str, *args: str) -> str:
        return subprocess.run(["git", "--git-dir", self.git_dir(full), *args], check=True, capture_output=True,
                              text=True).stdout

    # API calls
    def gql(self, query: str, variables: Optional[Dict[str, Any]] = None, token: str = "t-write",
            path: str = "/graphql") -> Dict[str, Any]:
        r = self.http.post(self.url + path, json={"query": query, "variables": variables or {}},
                           headers={"Authorization": f"bearer {token}"}, timeout=60)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def rest(self, method: str, path: str, token: Optional[str] = "t-write", **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"token {token}"
        headers.setdefault("Accept", "application/vnd.github+json")
        return self.http.request(method, self.url + path, headers=headers, timeout=60, **kw)


def start_emulator(state_dir: str, extra_args: Optional[list] = None) -> Emu:
    env = dict(os.environ)
    env["PYTHONPATH"] = SUPPORT + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "github_emulator", "--port", "0", "--state-dir", state_dir,
                             *(extra_args or [])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stdout.readline()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line!r} {proc.stderr.read()}")
    return Emu(proc, int(line.strip().rsplit(":", 1)[1]), state_dir, time.time() - t0)


def stop_emulator(emu: Emu) -> None:
    emu.proc.terminate()
    try:
        emu.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        emu.proc.kill()
        emu.proc.wait()


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


COMMIT = """
mutation Promote($input: CreateCommitOnBranchInput!) {
  createCommitOnBranch(input: $input) {
    commit { oid url signature { isValid } }
    ref { name target { oid } }
  }
}
"""


def head_oid(emu: Emu, branch: str = "main") -> str:
    q = 'query($q: String!) { repository(owner: "acme", name: "fleet") { ref(qualifiedName: $q) { target { oid } } } }'
    return emu.gql(q, {"q": f"refs/heads/{branch}"})["data"]["repository"]["ref"]["target"]["oid"]


def commit_input(expected, additions=(), deletions=(), branch="main", headline="promote"):
    return {"input": {
        "branch": {"repositoryNameWithOwner": "acme/fleet", "branchName": branch},
        "message": {"headline": headline, "body": "Promoted by gitops-promote"},
        "expectedHeadOid": expected,
        "fileChanges": {"additions": [{"path": p, "contents": b64(c)} for p, c in additions],
                        "deletions": [{"path": p} for p in deletions]},
    }}
