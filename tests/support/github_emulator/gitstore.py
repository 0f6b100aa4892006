"""Bare git repositories driven through the git CLI.

Every object is written by git itself (hash-object -w, mktree, commit-tree) and
every ref move is a compare-and-swap ``git update-ref REF NEW OLD``, so a test can
inspect the result with ``git log``/``git show``/``git fsck`` on the bare repo.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

ZERO_OID = "0" * 40

# Marker placed in the gpgsig header of commits the emulator "signs" the way
# GitHub signs web-flow commits (createCommitOnBranch, merges made by GitHub).
WEB_FLOW_SIGNATURE = (
    "-----BEGIN PGP SIGNATURE-----\n"
    "\n"
    "wsBcBAABCAAQBQJnZ2l0aHViLWVtdWxhdG9yIHdlYi1mbG93IHNpZ25hdHVyZQ==\n"
    "=EMUL\n"
    "-----END PGP SIGNATURE-----"
)
WEB_FLOW_MARKER = "wsBcBAABCAAQBQJnZ2l0aHViLWVtdWxhdG9yIHdlYi1mbG93IHNpZ25hdHVyZQ=="


class GitError(Exception):
    """A git command failed."""

    def __init__(self, args, returncode, stderr):
        super().__init__(f"git {' '.join(args)} failed ({returncode}): {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass
class Identity:
    name: str
    email: str
    timestamp: int  # seconds since epoch
    tz: str = "+0000"

    def git_line(self) -> str:
        return f"{self.name} <{self.email}> {self.timestamp} {self.tz}"

    @staticmethod
    def parse(line: str) -> "Identity":
        # "Name <email> 1700000000 +0000"
        lt = line.rfind("<")
        gt = line.rfind(">")
        name = line[:lt].strip()
        email = line[lt + 1 : gt]
        rest = line[gt + 1 :].split()
        ts = int(rest[0]) if rest else 0
        tz = rest[1] if len(rest) > 1 else "+0000"
        return Identity(name, email, ts, tz)


@dataclass
class CommitInfo:
    oid: str
    tree: str
    parents: List[str]
    author: Identity
    committer: Identity
    message: str
    gpgsig: Optional[str]
    raw_header: str

    @property
    def web_flow_signed(self) -> bool:
        return bool(self.gpgsig) and WEB_FLOW_MARKER in self.gpgsig


@dataclass
class TreeEntry:
    mode: str
    type: str
    oid: str
    name: str


class _LRU:
    def __init__(self, size: int = 4096):
        self.size = size
        self.data: "OrderedDict[str, object]" = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            val = self.data.get(key)
            if val is not None:
                self.data.move_to_end(key)
            return val

    def put(self, key, val):
        with self.lock:
            self.data[key] = val
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


class GitRepo:
    """One bare repository on disk."""

    def __init__(self, path: str):
        self.path = path
        # Per-repo lock held around every ref compare-and-swap.
        self.ref_lock = threading.RLock()
        self._objects = _LRU()  # oid -> (type, bytes); objects are immutable
        # Called as on_ref_change(ref, old, new) after every successful ref move (the
        # Flux simulator watches branch heads through it). Must not block.
        self.on_ref_change: Optional[Callable[[str, Optional[str], Optional[str]], None]] = None

    # ------------------------------------------------------------------ plumbing
    def _env(self, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.path,
            "GIT_DIR": self.path,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
        }
        if extra:
            env.update(extra)
        return env

    def git(self, *args: str, input: Optional[bytes] = None, env: Optional[Dict[str, str]] = None,
            check: bool = True) -> bytes:
        proc = subprocess.run(
            ["git", *args], input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self._env(env), cwd=self.path,
        )
        if check and proc.returncode != 0:
            raise GitError(args, proc.returncode, proc.stderr.decode("utf-8", "replace"))
        return proc.stdout

    @classmethod
    def init(cls, path: str, default_branch: str) -> "GitRepo":
        os.makedirs(path, exist_ok=True)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", f"--initial-branch={default_branch}", path],
            check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
                 "GIT_CONFIG_GLOBAL": os.devnull, "HOME": path},
        )
        return cls(path)

    # ------------------------------------------------------------------ reading
    def read_object(self, oid: str) -> Optional[Tuple[str, bytes]]:
        """Return (type, content) or None if the object does not exist.

        Only (possibly abbreviated) hex object names are looked up: a ref name
        or revision expression is never accepted where GitHub wants a SHA."""
        if not isinstance(oid, str) or not re.fullmatch(r"[0-9a-fA-F]{4,64}", oid):
            return None
        oid = oid.lower()
        cached = self._objects.get(oid)
        if cached is not None:
            return cached
        out = self.git("cat-file", "--batch", input=(oid + "\n").encode(), check=False)
        header, _, rest = out.partition(b"\n")
        parts = header.split()
        if len(parts) != 3 or parts[1] == b"missing":
            return None
        size = int(parts[2])
        full_oid = parts[0].decode()
        val = (parts[1].decode(), rest[:size])
        self._objects.put(full_oid, val)
        return val

    def object_type(self, oid: str) -> Optional[str]:
        obj = self.read_object(oid)
        return obj[0] if obj else None

    def resolve(self, rev: str) -> Optional[str]:
        """Resolve a revision expression to a full oid (or None)."""
        if not rev or rev.startswith("-"):
            return None
        out = self.git("rev-parse", "--verify", "--quiet", "--end-of-options", rev, check=False)
        oid = out.decode().strip()
        return oid or None

    def ref_oid(self, ref: str) -> Optional[str]:
        """The oid an exact, fully qualified ref points to (None if absent)."""
        if not ref.startswith("refs/") or ".." in ref:
            return None
        out = self.git("show-ref", "--verify", ref, check=False).decode().strip()
        if not out:
            return None
        return out.split(" ", 1)[0]

    def list_refs(self, prefix: str = "refs/") -> List[Tuple[str, str]]:
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        refs = []
        for line in out.decode().splitlines():
            name, oid = line.split(" ", 1)
            refs.append((name, oid))
        return refs

    def head_branch(self) -> str:
        out = self.git("symbolic-ref", "HEAD", check=False).decode().strip()
        return out[len("refs/heads/"):] if out.startswith("refs/heads/") else out

    def set_head_branch(self, branch: str) -> None:
        self.git("symbolic-ref", "HEAD", f"refs/heads/{branch}")

    def commit_info(self, oid: str) -> Optional[CommitInfo]:
        obj = self.read_object(oid)
        if not obj or obj[0] != "commit":
            return None
        raw = obj[1].decode("utf-8", "replace")
        header, _, message = raw.partition("\n\n")
        tree = ""
        parents: List[str] = []
        author = committer = None
        gpgsig_lines: List[str] = []
        in_sig = False
        for line in header.split("\n"):
            if in_sig:
                if line.startswith(" "):
                    gpgsig_lines.append(line[1:])
                    continue
                in_sig = False
            if line.startswith("tree "):
                tree = line[5:]
            elif line.startswith("parent "):
                parents.append(line[7:])
            elif line.startswith("author "):
                author = Identity.parse(line[7:])
            elif line.startswith("committer "):
                committer = Identity.parse(line[10:])
            elif line.startswith("gpgsig "):
                in_sig = True
                gpgsig_lines = [line[7:]]
        full_oid = self.resolve(oid) or oid
        return CommitInfo(
            oid=full_oid, tree=tree, parents=parents,
            author=author or Identity("", "", 0), committer=committer or Identity("", "", 0),
            message=message, gpgsig="\n".join(gpgsig_lines) if gpgsig_lines else None, raw_header=header,
        )

    def tree_entries(self, oid: str) -> Optional[List[TreeEntry]]:
        obj = self.read_object(oid)
        if not obj or obj[0] != "tree":
            return None
        data = obj[1]
        entries = []
        i = 0
        while i < len(data):
            sp = data.index(b" ", i)
            nul = data.index(b"\0", sp)
            mode = data[i:sp].decode()
            name = data[sp + 1 : nul].decode("utf-8", "surrogateescape")
            eoid = data[nul + 1 : nul + 21].hex()
            i = nul + 21
            if mode.startswith("4"):
                mode, typ = "040000", "tree"
            elif mode == "160000":
                typ = "commit"
            else:
                typ = "blob"
            entries.append(TreeEntry(mode, typ, eoid, name))
        return entries

    def walk_tree(self, oid: str, prefix: str = "") -> List[Tuple[str, TreeEntry]]:
        """All entries below tree ``oid`` (trees included), with full paths."""
        out = []
        for e in self.tree_entries(oid) or []:
            path = prefix + e.name
            out.append((path, e))
            if e.type == "tree":
                out.extend(self.walk_tree(e.oid, path + "/"))
        return out

    def entry_at(self, tree_oid: str, path: str) -> Optional[TreeEntry]:
        """The tree entry at ``path`` (relative, '/'-separated) inside ``tree_oid``."""
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts:
            return TreeEntry("040000", "tree", tree_oid, "")
        cur = tree_oid
        entry = None
        for i, part in enumerate(parts):
            entries = self.tree_entries(cur)
            if entries is None:
                return None
            entry = next((e for e in entries if e.name == part), None)
            if entry is None:
                return None
            if i < len(parts) - 1:
                if entry.type != "tree":
                    return None
                cur = entry.oid
        return entry

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, descendant],
                              env=self._env(), cwd=self.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return proc.returncode == 0

    def diff_stat(self, base: str, head: str) -> Tuple[int, int, int]:
        """(additions, deletions, changed_files) between two commits."""
        out = self.git("diff", "--numstat", base, head, check=False).decode()
        adds = dels = files = 0
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                files += 1
                adds += int(parts[0]) if parts[0].isdigit() else 0
                dels += int(parts[1]) if parts[1].isdigit() else 0
        return adds, dels, files

    def merge_base(self, a: str, b: str) -> Optional[str]:
        out = self.git("merge-base", a, b, check=False).decode().strip()
        return out or None

    def commits_between(self, base: str, head: str) -> List[str]:
        out = self.git("rev-list", "--reverse", f"{base}..{head}", check=False).decode()
        return out.split()

    # ------------------------------------------------------------------ writing
    def write_blob(self, content: bytes) -> str:
        return self.git("hash-object", "-w", "-t", "blob", "--stdin", input=content).decode().strip()

    def write_blobs_from_paths(self, paths: List[str]) -> List[str]:
        if not paths:
            return []
        out = self.git("hash-object", "-w", "--no-filters", "--stdin-paths",
                       input=("\n".join(paths) + "\n").encode("utf-8", "surrogateescape"))
        return out.decode().split()

    def mktree(self, entries: List[TreeEntry]) -> str:
        lines = []
        for e in entries:
            mode = e.mode
            if e.type == "tree":
                mode = "040000"
            lines.append(f"{mode} {e.type} {e.oid}\t{e.name}".encode("utf-8", "surrogateescape"))
        data = b"\0".join(lines) + (b"\0" if lines else b"")
        return self.git("mktree", "-z", input=data).decode().strip()

    def commit_tree(self, tree: str, parents: List[str], message: str, author: Identity,
                    committer: Identity, gpgsig: Optional[str] = None) -> str:
        if gpgsig is None:
            args = ["commit-tree", tree]
            for p in parents:
                args += ["-p", p]
            env = {
                "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
                "GIT_AUTHOR_DATE": f"@{author.timestamp} {author.tz}",
                "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
                "GIT_COMMITTER_DATE": f"@{committer.timestamp} {committer.tz}",
            }
            # -F - keeps the message byte-exact (no stripping of a trailing newline by -m).
            return self.git(*args, "-F", "-", input=message.encode("utf-8"), env=env).decode().strip()
        # A signed commit needs the gpgsig header, which commit-tree cannot add
        # without a key: write the raw object with hash-object (git validates it).
        lines = [f"tree {tree}"]
        lines += [f"parent {p}" for p in parents]
        lines.append(f"author {author.git_line()}")
        lines.append(f"committer {committer.git_line()}")
        sig_lines = gpgsig.split("\n")
        lines.append("gpgsig " + sig_lines[0])
        lines += [" " + line for line in sig_lines[1:]]
        raw = "\n".join(lines) + "\n\n" + message
        return self.git("hash-object", "-w", "-t", "commit", "--stdin", input=raw.encode("utf-8")).decode().strip()

    def cas_ref(self, ref: str, new: Optional[str], old: Optional[str]) -> bool:
        """Compare-and-swap a ref. ``old=None`` means the ref must not exist;
        ``new=None`` deletes it. Returns False when the ref was not at ``old``."""
        with self.ref_lock:
            if new is None:
                proc = subprocess.run(["git", "update-ref", "-d", ref, old or ""], env=self._env(),
                                      cwd=self.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            else:
                proc = subprocess.run(["git", "update-ref", ref, new, old or ZERO_OID], env=self._env(),
                                      cwd=self.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if proc.returncode != 0:
                return False
            hook = self.on_ref_change
            if hook is not None:
                hook(ref, old, new)
            return True

    # ------------------------------------------------------------------ helpers
    def build_tree_from_dir(self, directory: str) -> str:
        """Write every file below ``directory`` (not .git) and return the root tree oid."""
        files: List[Tuple[str, str]] = []  # (relpath, abspath)
        links: Dict[str, str] = {}
        modes: Dict[str, str] = {}
        for root, dirs, names in os.walk(directory):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            for name in sorted(names):
                ap = os.path.join(root, name)
                rp = os.path.relpath(ap, directory).replace(os.sep, "/")
                st = os.lstat(ap)
                if stat.S_ISLNK(st.st_mode):
                    links[rp] = os.readlink(ap)
                elif stat.S_ISREG(st.st_mode):
                    files.append((rp, ap))
                    modes[rp] = "100755" if st.st_mode & 0o111 else "100644"
            # symlinked directories are stored as links, not followed
            for d in list(dirs):
                ap = os.path.join(root, d)
                if os.path.islink(ap):
                    links[os.path.relpath(ap, directory).replace(os.sep, "/")] = os.readlink(ap)
                    dirs.remove(d)
        oids = self.write_blobs_from_paths([ap for _, ap in files])
        changes: Dict[str, Optional[Tuple[str, str]]] = {}
        for (rp, _), oid in zip(files, oids):
            changes[rp] = (modes[rp], oid)
        for rp, target in links.items():
            changes[rp] = ("120000", self.write_blob(target.encode("utf-8", "surrogateescape")))
        return self.apply_changes(None, changes)

    def apply_changes(self, base_tree: Optional[str],
                      changes: Dict[str, Optional[Tuple[str, str]]]) -> str:
        """Return a new tree: ``base_tree`` with each path set to (mode, oid), or
        removed when the value is None. Subtrees left empty are dropped."""
        nested: Dict[str, Dict[str, Optional[Tuple[str, str]]]] = {}
        direct: Dict[str, Optional[Tuple[str, str]]] = {}
        for path, val in changes.items():
            path = path.strip("/")
            if "/" in path:
                head, rest = path.split("/", 1)
                nested.setdefault(head, {})[rest] = val
            else:
                direct[path] = val
        entries = {e.name: e for e in (self.tree_entries(base_tree) or [])} if base_tree else {}
        for name, val in direct.items():
            if val is None:
                entries.pop(name, None)
            else:
                mode, oid = val
                typ = "tree" if mode.startswith("04") or mode == "40000" else ("commit" if mode == "160000" else "blob")
                entries[name] = TreeEntry("040000" if typ == "tree" else mode, typ, oid, name)
        for name, sub in nested.items():
            existing = entries.get(name)
            sub_base = existing.oid if existing is not None and existing.type == "tree" else None
            new_sub = self.apply_changes(sub_base, sub)
            if new_sub == EMPTY_TREE:
                entries.pop(name, None)
            else:
                entries[name] = TreeEntry("040000", "tree", new_sub, name)
        return self.mktree(list(entries.values()))


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def now() -> int:
    return int(time.time())
