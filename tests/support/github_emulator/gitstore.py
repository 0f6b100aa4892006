"""Bare git repositories, read and written in git's own on-disk formats.

Blobs, trees and commits are written by the emulator itself as loose objects in
git's format (zlib-compressed ``<type> <size>\\0<content>`` under ``objects/xx/``,
named by its SHA-1), byte for byte what ``git hash-object -w``, ``git mktree`` and
``git commit-tree`` would write; loose objects and loose or packed refs are read
the same way. Spawning a git process per object read or written cost most of the
test suite's CPU. Anything outside the plain cases reproduced here (a packed or
abbreviated object, a symbolic ref, an unusual mode, date or repository setting)
is left to the git CLI, and the tests check what was written with
``git fsck --strict``.

Every ref move is still a compare-and-swap ``git update-ref REF NEW OLD``, and
history questions (merge-base, diff, rev-list) still go to git, so a test can
inspect the result with ``git log``/``git show``/``git fsck`` on the bare repo.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import tempfile
import threading
import time
import zlib
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


# Objects and refs are named by full lowercase SHA-1 hex; anything else goes to git.
_HEX40 = re.compile(r"[0-9a-f]{40}")
_OBJECT_TYPES = ("blob", "tree", "commit", "tag")

# The tree entry modes written natively, each with the object type git derives
# from it (object_type(mode)); any other mode is left to ``git mktree``.
_TREE_MODES = {"100644": "blob", "100755": "blob", "120000": "blob", "160000": "commit", "040000": "tree"}

# Ref names read natively: a subset of what check_refname_format accepts (no
# component starting with '.', no control, space or ~^:?*[\ characters, no "@{"),
# so a ref git would call invalid is never looked up on disk. Others go to git.
_PLAIN_REF = re.compile(r"refs(?:/[A-Za-z0-9_+=,@-][A-Za-z0-9._+=,@-]*)+")

# Loose objects are compressed at git's default for them (core.looseCompression
# falls back to Z_BEST_SPEED); the level does not change an object's name.
_LOOSE_COMPRESSION = 1

# Config that would make git write something else than the plain case written
# here, or store objects or refs differently: with any of it, git does it all.
_PLAIN_EXTENSIONS = {(b"extensions.refstorage", b"files"), (b"extensions.objectformat", b"sha1")}
_UNPLAIN_SETTINGS = (b"i18n.commitencoding", b"commit.gpgsign", b"core.sharedrepository")

# Returned by the native readers when git must decide (as opposed to None: absent).
_ASK_GIT = object()


def _plain_config(listing: bytes) -> bool:
    """Whether ``git config --list -z`` output describes a repository in git's
    default formats (SHA-1 objects, files ref backend) with no setting that
    changes the bytes commit-tree or the object writer produce."""
    for item in listing.split(b"\0"):
        key, _, value = item.partition(b"\n")
        key = key.lower()
        if key.startswith(b"extensions.") and (key, value.lower()) not in _PLAIN_EXTENSIONS:
            return False
        if key in _UNPLAIN_SETTINGS:
            return False
    return True


# What ``git init`` writes to a bare repository's config (plus keys it adds on
# some file systems): a config holding nothing else needs no asking git.
_INIT_CORE_KEYS = ("repositoryformatversion", "filemode", "bare", "logallrefupdates", "ignorecase",
                   "precomposeunicode", "symlinks")


def _init_config(text: str) -> bool:
    """Whether a config file holds only what ``git init`` writes there."""
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.lower() == "[core]":
            section = "core"
            continue
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9-]*)\s*=\s*([A-Za-z0-9]+)", line)
        if section != "core" or m is None or m.group(1).lower() not in _INIT_CORE_KEYS:
            return False
        if m.group(1).lower() == "repositoryformatversion" and m.group(2) != "0":
            return False
    return True


def _plain_ref(ref: str) -> bool:
    return (_PLAIN_REF.fullmatch(ref) is not None and not ref.endswith(".")
            and not any(part.endswith(".lock") for part in ref.split("/")))


def _is_dotgit(name: bytes) -> bool:
    """Whether a tree entry name would check out as ``.git`` somewhere (fsck's
    hasDotgit: is_ntfs_dotgit, and is_hfs_dotgit's case folding and ignored
    code points)."""
    # NTFS: ".git" or its short name "git~1", any case, then only dots and spaces
    # up to the end or a backslash.
    m = re.match(rb"(?is)(?:\.git|git~1)[. ]*(.?)", name)
    if m and m.group(1) in (b"", b"\\"):
        return True
    # HFS+: case-insensitive, ignoring zero-width and direction code points.
    text = name.decode("utf-8", "replace")
    folded = re.sub("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]", "", text)
    return folded.lower() == ".git"


def _tree_name_error(name: bytes) -> Optional[str]:
    """Why a tree entry may not be called ``name`` (fsck's fullPathname, emptyName,
    hasDot, hasDotdot, hasDotgit), or None."""
    if not name:
        return "empty filename in tree entry"
    if b"/" in name or b"\0" in name:
        return f"path {name!r} contains a slash or NUL"
    if name in (b".", b".."):
        return f"path {name!r} is . or .."
    if _is_dotgit(name):
        return f"path {name!r} is .git"
    return None


# Characters git strips from both ends of an identity's name and email ("crud",
# ident.c), of which '\n', '<' and '>' are also dropped from the middle.
_CRUD = frozenset(b",:;<>\"\\'") | frozenset(range(33))


def _without_crud(value: bytes) -> bytes:
    """ident.c strbuf_addstr_without_crud."""
    start, end = 0, len(value)
    while start < end and value[start] in _CRUD:
        start += 1
    while end > start and value[end - 1] in _CRUD:
        end -= 1
    return bytes(c for c in value[start:end] if c not in b"\n<>")


def _commit_tree_ident(ident: "Identity") -> Optional[bytes]:
    """The identity line ``git commit-tree`` writes for ``ident`` passed through
    GIT_{AUTHOR,COMMITTER}_{NAME,EMAIL,DATE}, or None where git would refuse it or
    read it some other way (left to git)."""
    try:
        # subprocess encodes environment values this way.
        name, email = os.fsencode(ident.name), os.fsencode(ident.email)
    except (TypeError, UnicodeError):
        return None
    if b"\0" in name or b"\0" in email:
        return None  # not passable in the environment at all
    if not name or all(c in _CRUD for c in name):
        return None  # IDENT_STRICT: an empty name, or one of crud only, is refused
    ts, tz = ident.timestamp, ident.tz
    # "@<seconds> <+hhmm>" is the only date form reproduced (date.c
    # match_object_header_date); it normalises minutes past 59.
    if type(ts) is not int or not 0 <= ts < 1 << 40 or not isinstance(tz, str) \
            or not re.fullmatch(r"[+-][0-9]{4}", tz):
        return None
    minutes = int(tz[1:3]) * 60 + int(tz[3:5])
    sign = "-" if tz[0] == "-" and minutes else "+"
    date = f"{ts} {sign}{minutes // 60:02d}{minutes % 60:02d}".encode()
    return _without_crud(name) + b" <" + _without_crud(email) + b"> " + date


# Code points UTF-8 can encode but git's find_invalid_utf8 rejects: the
# noncharacters U+FDD0..U+FDEF and U+xxFFFE/U+xxFFFF.
_UTF8_NONCHARACTERS = re.compile(
    "[\ufdd0-\ufdef" + "".join(chr(p << 16 | 0xfffe) + chr(p << 16 | 0xffff) for p in range(17)) + "]")


def _utf8_sequence_length(buf: bytes, i: int) -> int:
    """Length of the valid UTF-8 sequence starting at ``buf[i]`` (a byte >= 0x80),
    0 if git's find_invalid_utf8 (utf8.c) calls it invalid."""
    c = buf[i]
    extra = 0
    while c & 0x40:
        c = (c << 1) & 0xFF
        extra += 1
    if not 1 <= extra <= 3 or len(buf) - i - 1 < extra:
        return 0
    codepoint = (c & 0x7F) >> extra
    for b in buf[i + 1 : i + 1 + extra]:
        if b & 0xC0 != 0x80:
            return 0
        codepoint = codepoint << 6 | (b & 0x3F)
    low, high = ((0x80, 0x7FF), (0x800, 0xFFFF), (0x10000, 0x10FFFF))[extra - 1]
    if not low <= codepoint <= high or codepoint & 0x1FF800 == 0xD800 \
            or codepoint & 0xFFFE == 0xFFFE or 0xFDD0 <= codepoint <= 0xFDEF:
        return 0
    return 1 + extra


def _as_git_utf8(buf: bytes) -> bytes:
    """commit.c verify_utf8: commit-tree writes every byte that is not part of a
    valid UTF-8 sequence as if it were Latin-1 (two bytes)."""
    if buf.isascii():
        return buf
    try:
        if not _UTF8_NONCHARACTERS.search(buf.decode("utf-8")):
            return buf
    except UnicodeDecodeError:
        pass
    out = bytearray()
    i = 0
    while i < len(buf):
        c = buf[i]
        n = 1 if c < 0x80 else _utf8_sequence_length(buf, i)
        if n:
            out += buf[i : i + n]
            i += n
        else:
            out += bytes((0xC0 + (c >> 6), 0x80 + (c & 0x3F)))
            i += 1
    return bytes(out)


def _fsck_ident_ok(ident: "Identity") -> bool:
    """Whether ``ident.git_line()`` surely passes fsck's strict ident check (what
    ``git hash-object`` applies to a commit before writing it)."""
    return (isinstance(ident.name, str) and isinstance(ident.email, str)
            and not any(c in ident.name or c in ident.email for c in "<>\n\0")
            and type(ident.timestamp) is int and 0 <= ident.timestamp < 1 << 40
            and isinstance(ident.tz, str) and re.fullmatch(r"[+-][0-9]{4}", ident.tz) is not None)


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
        self._types = _LRU(1 << 16)  # oid -> type, for the existence checks of mktree
        self._native_ok: Optional[bool] = None  # see _native
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

    def _native(self) -> bool:
        """Whether objects and refs may be read and written here directly (see
        _plain_config). Settled once per repository: the config file as git init
        wrote it (the only config git reads here, see _env) says yes; any other
        is asked of git."""
        ok = self._native_ok
        if ok is None:
            try:
                with open(os.path.join(self.path, "config"), encoding="utf-8") as f:
                    ok = _init_config(f.read())
            except (OSError, UnicodeDecodeError):
                ok = False
            if not ok:
                try:
                    ok = _plain_config(self.git("config", "--list", "-z"))
                except GitError:
                    ok = False
            self._native_ok = ok
        return ok

    def _loose_path(self, oid: str) -> str:
        return os.path.join(self.path, "objects", oid[:2], oid[2:])

    def _read_loose(self, oid: str) -> Optional[Tuple[str, bytes]]:
        """Object ``oid`` (full hex) from its loose file; None when it is not
        stored loose (packed, or absent) or looks wrong, for git to judge."""
        try:
            with open(self._loose_path(oid), "rb") as f:
                raw = f.read()
            data = zlib.decompress(raw)
        except (OSError, zlib.error):
            return None
        header, nul, content = data.partition(b"\0")
        typ, _, size = header.partition(b" ")
        if not nul or typ.decode("ascii", "replace") not in _OBJECT_TYPES or not size.isdigit() \
                or int(size) != len(content):
            return None
        return typ.decode(), content

    def _loose_type(self, oid: str) -> Optional[str]:
        """The type of loose object ``oid`` from its header alone (a blob may be
        large), None when it is not stored loose."""
        try:
            with open(self._loose_path(oid), "rb") as f:
                head = zlib.decompressobj().decompress(f.read(512), 64)
        except (OSError, zlib.error):
            return None
        typ = head.partition(b" ")[0].decode("ascii", "replace")
        return typ if typ in _OBJECT_TYPES and b"\0" in head else None

    def _object_type_quick(self, oid: str) -> Optional[str]:
        """The type of object ``oid`` (full hex), None if it does not exist."""
        cached = self._objects.get(oid)
        if cached is not None:
            return cached[0]
        typ = self._types.get(oid) or self._loose_type(oid)
        if typ is None:
            typ = self.object_type(oid)  # packed, or absent: git knows
        if typ is not None:
            self._types.put(oid, typ)
        return typ

    def _write_object(self, typ: str, content: bytes) -> str:
        """Store an object the way git writes a loose one and return its oid:
        compressed to a temporary file next to its final name, then linked there
        (a name taken already holds the same bytes), read-only."""
        header = f"{typ} {len(content)}\0".encode()
        digest = hashlib.sha1(header)
        digest.update(content)
        oid = digest.hexdigest()
        path = self._loose_path(oid)
        if not os.path.exists(path):
            directory = os.path.dirname(path)
            os.makedirs(directory, exist_ok=True)
            # git's prefix for these, which fsck passes over if one is left behind.
            fd, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    z = zlib.compressobj(_LOOSE_COMPRESSION)
                    f.write(z.compress(header))
                    f.write(z.compress(content))
                    f.write(z.flush())
                os.chmod(tmp, 0o444)
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    pass  # written meanwhile by another thread or process
                except OSError:
                    os.replace(tmp, path)  # no hard links here: rename, as git does
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        self._types.put(oid, typ)
        return oid

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
        if len(oid) == 40 and self._native():
            loose = self._read_loose(oid)
            if loose is not None:
                self._objects.put(oid, loose)
                return loose
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
        if _plain_ref(ref) and self._native():
            found = self._read_ref(ref)
            if found is not _ASK_GIT:
                return found
        out = self.git("show-ref", "--verify", ref, check=False).decode().strip()
        if not out:
            return None
        return out.split(" ", 1)[0]

    def _read_ref(self, ref: str) -> object:
        """What the files ref backend holds for ``ref``: its loose file (git writes
        one to a lock file and renames it into place, so it is never half written),
        else its packed-refs line; None if neither exists, _ASK_GIT for a symbolic
        ref or anything unexpected."""
        try:
            # A symlink is an old-style symbolic ref: O_NOFOLLOW leaves it to git.
            fd = os.open(os.path.join(self.path, ref), os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            return self._read_packed_ref(ref)
        except OSError:
            return _ASK_GIT
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                return self._read_packed_ref(ref)  # a directory of refs is no ref
            content = os.read(fd, 256)
        finally:
            os.close(fd)
        m = re.fullmatch(rb"([0-9a-f]{40})\n?", content)
        if m is None or m.group(1) == ZERO_OID.encode():
            return _ASK_GIT
        return m.group(1).decode()

    def _read_packed_ref(self, ref: str) -> object:
        try:
            with open(os.path.join(self.path, "packed-refs"), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError:
            return _ASK_GIT
        if data and not data.endswith(b"\n"):
            return _ASK_GIT
        want = ref.encode()
        for i, line in enumerate(data.split(b"\n")[:-1]):
            if line.startswith(b"^") or (i == 0 and line.startswith(b"# pack-refs with:")):
                continue  # a peeled tag, the header
            m = re.fullmatch(rb"([0-9a-f]{40}) (\S+)", line)
            if m is None:
                return _ASK_GIT
            if m.group(2) == want:
                return m.group(1).decode() if m.group(1) != ZERO_OID.encode() else _ASK_GIT
        return None

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
        # A full oid names itself (rev-parse would only lowercase it).
        full_oid = oid.lower() if re.fullmatch(r"[0-9a-fA-F]{40}", oid) else (self.resolve(oid) or oid)
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
        if isinstance(content, bytes) and self._native():
            return self._write_object("blob", content)
        return self.git("hash-object", "-w", "-t", "blob", "--stdin", input=content).decode().strip()

    def write_blobs_from_paths(self, paths: List[str]) -> List[str]:
        if not paths:
            return []
        listing = ("\n".join(paths) + "\n").encode("utf-8", "surrogateescape")
        lines = listing.split(b"\n")[:-1]
        # hash-object --stdin-paths reads one path a line, drops a trailing CR and
        # unquotes a C-quoted one: a path it would read differently stays its call.
        if self._native() and not any(p.endswith(b"\r") or p.startswith(b'"') for p in lines) \
                and len(lines) == len(paths):
            try:
                oids = []
                for p in lines:
                    # --no-filters: the file's bytes as they are; a relative path is
                    # relative to the repository, git's working directory.
                    with open(os.path.join(os.fsencode(self.path), p), "rb") as f:
                        oids.append(self._write_object("blob", f.read()))
                return oids
            except OSError:
                pass  # let git report it, as it always did
        out = self.git("hash-object", "-w", "--no-filters", "--stdin-paths", input=listing)
        return out.decode().split()

    def mktree(self, entries: List[TreeEntry]) -> str:
        rows: List[Tuple[str, str, str, bytes]] = []  # (mode, type, oid, name)
        names = set()
        for e in entries:
            mode = "040000" if e.type == "tree" else f"{e.mode}"
            name = f"{e.name}".encode("utf-8", "surrogateescape")
            # fsck --strict refuses these (git mktree itself only refuses a slash).
            why = _tree_name_error(name) or (f"duplicate entry {name!r}" if name in names else None)
            if why:
                raise GitError(("mktree", "-z"), 128, f"fatal: {why}")
            names.add(name)
            rows.append((mode, f"{e.type}", f"{e.oid}", name))
        if not self._native() or any(_TREE_MODES.get(mode) != typ or not _HEX40.fullmatch(oid)
                                     for mode, typ, oid, _ in rows):
            # An unusual mode, a mode/type mismatch or an oid git would parse
            # differently: git mktree decides, byte for byte as before.
            data = b"".join(f"{mode} {typ} {oid}\t".encode("utf-8", "surrogateescape") + name + b"\0"
                            for mode, typ, oid, name in rows)
            return self.git("mktree", "-z", input=data).decode().strip()
        for mode, typ, oid, name in rows:
            # As git mktree without --missing: every entry names an existing object
            # of its type, except that a submodule's commit may be absent.
            found = self._object_type_quick(oid)
            shown = name.decode("utf-8", "replace")
            if found is None and typ != "commit":
                raise GitError(("mktree", "-z"), 128, f"fatal: entry '{shown}' object {oid} is unavailable")
            if found is not None and found != typ:
                raise GitError(("mktree", "-z"), 128, f"fatal: entry '{shown}' object {oid} is a {found} "
                                                      f"but specified type was ({typ})")
        # git's tree order: by name bytes, a subtree's name compared as if it ended in '/'.
        rows.sort(key=lambda r: (r[3] + b"/") if r[0] == "040000" else r[3])
        data = b"".join(b"%o %s\0%s" % (int(mode, 8), name, bytes.fromhex(oid)) for mode, _, oid, name in rows)
        oid = self._write_object("tree", data)
        self._objects.put(oid, ("tree", data))
        return oid

    def commit_tree(self, tree: str, parents: List[str], message: str, author: Identity,
                    committer: Identity, gpgsig: Optional[str] = None) -> str:
        if gpgsig is None:
            raw = self._commit_tree_bytes(tree, parents, message, author, committer)
            if raw is not None:
                return self._write_commit(raw)
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
        # without a key: the raw object is written as given, as hash-object would
        # after its fsck check, which the plain cases checked here surely pass.
        lines = [f"tree {tree}"]
        lines += [f"parent {p}" for p in parents]
        lines.append(f"author {author.git_line()}")
        lines.append(f"committer {committer.git_line()}")
        sig_lines = gpgsig.split("\n")
        lines.append("gpgsig " + sig_lines[0])
        lines += [" " + line for line in sig_lines[1:]]
        raw = ("\n".join(lines) + "\n\n" + message).encode("utf-8")
        if self._native() and isinstance(tree, str) and _HEX40.fullmatch(tree) \
                and all(isinstance(p, str) and _HEX40.fullmatch(p) for p in parents) \
                and _fsck_ident_ok(author) and _fsck_ident_ok(committer) and b"\0" not in raw:
            return self._write_commit(raw)
        return self.git("hash-object", "-w", "-t", "commit", "--stdin", input=raw).decode().strip()

    def _commit_tree_bytes(self, tree: str, parents: List[str], message: str, author: Identity,
                           committer: Identity) -> Optional[bytes]:
        """The commit ``git commit-tree TREE -p P... -F -`` would write, or None
        for anything it would resolve, peel, refuse or read otherwise (git's call)."""
        if not self._native() or not isinstance(message, str):
            return None
        if not isinstance(tree, str) or not _HEX40.fullmatch(tree) or self._object_type_quick(tree) != "tree":
            return None
        unique: List[str] = []
        for p in parents:
            if not isinstance(p, str) or not _HEX40.fullmatch(p) or self._object_type_quick(p) != "commit":
                return None
            if p not in unique:
                unique.append(p)  # commit-tree drops a repeated parent ("duplicate parent ignored")
        author_line, committer_line = _commit_tree_ident(author), _commit_tree_ident(committer)
        body = message.encode("utf-8")
        if author_line is None or committer_line is None or b"\0" in body:
            return None
        raw = (b"tree " + tree.encode() + b"\n" + b"".join(b"parent " + p.encode() + b"\n" for p in unique)
               + b"author " + author_line + b"\ncommitter " + committer_line + b"\n\n" + body)
        return _as_git_utf8(raw)

    def _write_commit(self, raw: bytes) -> str:
        oid = self._write_object("commit", raw)
        self._objects.put(oid, ("commit", raw))
        return oid

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
