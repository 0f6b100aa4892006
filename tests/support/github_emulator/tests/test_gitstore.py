"""gitstore reads and writes git's formats itself: each result checked against git.

Every object written here must carry the name git gives the same input (hash-object,
mktree, commit-tree), refs and objects read natively must match what git reads, and
the repository must pass ``git fsck --strict`` afterwards."""

import os
import subprocess
import sys

import pytest

from emu_harness import SUPPORT

sys.path.insert(0, SUPPORT)
from github_emulator.gitstore import EMPTY_TREE, GitError, GitRepo, Identity, TreeEntry  # noqa: E402

MISSING = "1234567890abcdef1234567890abcdef12345678"


def git(repo: GitRepo, *args: str, input: bytes = None, env: dict = None) -> bytes:
    return subprocess.run(["git", *args], input=input, capture_output=True, check=True,
                          env=repo._env(env), cwd=repo.path).stdout


def fsck(repo: GitRepo) -> None:
    git(repo, "fsck", "--strict", "--no-dangling")
    leftovers = [n for _, _, names in os.walk(os.path.join(repo.path, "objects")) for n in names
                 if n.startswith("tmp_obj_")]
    assert leftovers == []


def git_mktree(repo: GitRepo, entries) -> str:
    data = b"".join(f"{e.mode} {e.type} {e.oid}\t{e.name}".encode("utf-8", "surrogateescape") + b"\0"
                    for e in entries)
    return git(repo, "mktree", "-z", "--missing", input=data).decode().strip()


def git_commit_tree(repo: GitRepo, tree, parents, message, author, committer) -> str:
    """What gitstore did before writing commits itself."""
    args = ["commit-tree", tree]
    for p in parents:
        args += ["-p", p]
    env = {
        "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
        "GIT_AUTHOR_DATE": f"@{author.timestamp} {author.tz}",
        "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
        "GIT_COMMITTER_DATE": f"@{committer.timestamp} {committer.tz}",
    }
    return git(repo, *args, "-F", "-", input=message.encode("utf-8"), env=env).decode().strip()


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    r = GitRepo.init(str(tmp_path / "r.git"), "main")
    assert r._native()
    return r


@pytest.fixture
def spawns(repo) -> list:
    """The git commands ``repo`` runs from here on (what native reading and
    writing must not need)."""
    calls = []
    run = repo.git
    repo._native_ok = None  # settled again, from the config git init wrote: no asking git

    def recording(*args, **kw):
        calls.append(args[0])
        return run(*args, **kw)

    repo.git = recording
    return calls


@pytest.fixture
def base(repo):
    """A blob, a tree holding it and a commit of that tree."""
    blob = repo.write_blob(b"hello\n")
    tree = repo.mktree([TreeEntry("100644", "blob", blob, "f")])
    ident = Identity("A U Thor", "a@example.com", 1_700_000_000)
    commit = repo.commit_tree(tree, [], "base\n", ident, ident)
    return blob, tree, commit


def test_blobs_are_named_and_stored_as_git_stores_them(repo, spawns, tmp_path):
    contents = [b"", b"x", b"hello\n", b"crlf\r\nline\r\n", bytes(range(256)) * 300]
    for content in contents:
        oid = repo.write_blob(content)
        assert oid == git(repo, "hash-object", "--stdin", input=content).decode().strip()
        assert git(repo, "cat-file", "blob", oid) == content
        assert repo.write_blob(content) == oid  # already there: nothing rewritten
        assert oct(os.stat(repo._loose_path(oid)).st_mode & 0o777) == oct(0o444 & ~current_umask())
    files = []
    for i, content in enumerate(contents):
        p = tmp_path / f"file {i}.txt"
        p.write_bytes(content)
        files.append(str(p))
    (tmp_path / ".gitattributes").write_text("* text=auto eol=crlf\n")  # --no-filters: ignored
    oids = repo.write_blobs_from_paths(files)
    assert oids == git(repo, "hash-object", "--no-filters", *files).decode().split()
    assert repo.read_object(oids[3]) == ("blob", contents[3])
    assert spawns == []
    fsck(repo)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_trees_match_git_mktree_in_content_and_order(repo, base, spawns):
    blob, tree, commit = base
    entries = [
        TreeEntry("100644", "blob", blob, "a.b"),
        TreeEntry("040000", "tree", tree, "a"),
        TreeEntry("100644", "blob", blob, "a-"),
        TreeEntry("100755", "blob", blob, "a0"),
        TreeEntry("040000", "tree", tree, "a-b"),
        TreeEntry("120000", "blob", blob, "link"),
        TreeEntry("160000", "commit", MISSING, "submodule"),
        TreeEntry("160000", "commit", commit, "submodule.b"),
        TreeEntry("100644", "blob", blob, "\u00e4 \t\n\r~"),
        TreeEntry("100644", "blob", blob, "B"),
        TreeEntry("100644", "blob", blob, ".github"),
        TreeEntry("100644", "blob", blob, "gitx"),
    ]
    oid = repo.mktree(entries)
    assert oid == git_mktree(repo, entries)
    assert [e.name for e in repo.tree_entries(oid)] == [e.name for e in GitRepo(repo.path).tree_entries(oid)]
    assert repo.mktree([]) == EMPTY_TREE
    assert git(repo, "cat-file", "-t", EMPTY_TREE) == b"tree\n"
    assert spawns == ["cat-file"]  # is the submodule's commit here? (it may be absent)
    fsck(repo)


@pytest.mark.parametrize("name", ["", ".", "..", ".git", ".GIT", ".Git. .", "git~1", ".git\\x", "a/b",
                                  "nul\0", "\u200c.git"])
def test_trees_refuse_names_fsck_refuses(repo, base, name):
    blob = base[0]
    with pytest.raises(GitError):
        repo.mktree([TreeEntry("100644", "blob", blob, name)])


def test_trees_refuse_duplicates_missing_objects_and_wrong_types(repo, base):
    blob, tree, commit = base
    with pytest.raises(GitError):
        repo.mktree([TreeEntry("100644", "blob", blob, "x"), TreeEntry("040000", "tree", tree, "x")])
    with pytest.raises(GitError, match="unavailable"):
        repo.mktree([TreeEntry("100644", "blob", MISSING, "x")])
    with pytest.raises(GitError, match="is a tree"):
        repo.mktree([TreeEntry("100644", "blob", tree, "x")])
    with pytest.raises(GitError):
        repo.mktree([TreeEntry("160000", "commit", blob, "x")])
    with pytest.raises(GitError):  # mode and type disagree: git says so
        repo.mktree([TreeEntry("100644", "commit", commit, "x")])


IDENTS = [
    Identity("A U Thor", "a@example.com", 1_700_000_000),
    Identity("  Crud, <Name>; ", " <mail@example.com>: ", 0, "-0000"),
    Identity("J\u00f6rg \u2713", "j\u00f6rg@example.com", 1_234_567_890, "+0530"),
    Identity("Odd Zone", "z@example.com", 1_600_000_000, "+0090"),
    Identity("West", "", 1_600_000_001, "-1200"),
    Identity("Non\ufffe\x80char", "n@example.com", 5),
    Identity("Bad \udcff\udcc3 bytes \udce2\udc9c", "b\udcfe@example.com", 7),  # not UTF-8: git re-encodes them
]

MESSAGES = ["base\n", "", "no newline", "lines\n\n\n", "caf\u00e9 \u2713\n", "nonchar \uffff \ufdd0 \U0010ffff\n",
            "  leading spaces\n# not a comment\n"]


@pytest.mark.parametrize("ident", IDENTS)
def test_commits_match_git_commit_tree_for_identities(repo, base, spawns, ident):
    _, tree, commit = base
    other = Identity("Committer", "c@example.com", 1_700_000_100, "+0100")
    for author, committer in ((ident, other), (other, ident)):
        expected = git_commit_tree(repo, tree, [commit], "message\n", author, committer)
        assert repo.commit_tree(tree, [commit], "message\n", author, committer) == expected
    assert spawns == []
    fsck(repo)


@pytest.mark.parametrize("message", MESSAGES)
def test_commits_match_git_commit_tree_for_messages(repo, base, spawns, message):
    _, tree, commit = base
    ident = IDENTS[0]
    second = repo.commit_tree(tree, [commit], "second", ident, ident)
    for parents in ([], [commit], [commit, second], [commit, commit]):
        expected = git_commit_tree(repo, tree, parents, message, ident, ident)
        assert repo.commit_tree(tree, parents, message, ident, ident) == expected
    info = repo.commit_info(expected.upper())
    assert info.oid == expected and info.tree == tree
    assert spawns == []
    fsck(repo)


def test_commits_git_would_refuse_or_read_otherwise_are_left_to_it(repo, base):
    blob, tree, commit = base
    ok = IDENTS[0]
    for bad in (Identity("", "e@example.com", 1), Identity(" <>", "e@example.com", 1)):
        with pytest.raises(GitError):
            repo.commit_tree(tree, [], "m", bad, ok)
    with pytest.raises(GitError):
        repo.commit_tree(tree, [], "nul \0 in message", ok, ok)
    with pytest.raises(GitError):
        repo.commit_tree(MISSING, [], "m", ok, ok)
    with pytest.raises(GitError):
        repo.commit_tree(tree, [blob], "m", ok, ok)
    with pytest.raises(GitError):  # a commit given for the tree
        repo.commit_tree(commit, [], "m", ok, ok)
    odd_zone = Identity("Z", "z@example.com", 1_700_000_000, "+05:30")
    assert repo.commit_tree(tree, [], "m", odd_zone, ok) == git_commit_tree(repo, tree, [], "m", odd_zone, ok)


def signed_raw(tree, parents, message, author, committer, sig) -> bytes:
    lines = [f"tree {tree}"] + [f"parent {p}" for p in parents]
    lines += [f"author {author.git_line()}", f"committer {committer.git_line()}"]
    sig_lines = sig.split("\n")
    lines += ["gpgsig " + sig_lines[0]] + [" " + line for line in sig_lines[1:]]
    return ("\n".join(lines) + "\n\n" + message).encode("utf-8")


@pytest.mark.parametrize("message", MESSAGES)
def test_signed_commits_are_the_bytes_given(repo, base, spawns, message):
    _, tree, commit = base
    sig = "-----BEGIN PGP SIGNATURE-----\n\nabc\n=x\n-----END PGP SIGNATURE-----"
    author, committer = IDENTS[2], IDENTS[0]
    oid = repo.commit_tree(tree, [commit], message, author, committer, gpgsig=sig)
    raw = signed_raw(tree, [commit], message, author, committer, sig)
    assert oid == git(repo, "hash-object", "-t", "commit", "--stdin", input=raw).decode().strip()
    assert GitRepo(repo.path).commit_info(oid).gpgsig == sig
    assert spawns == []
    fsck(repo)
    with pytest.raises(GitError):  # hash-object's fsck check still applies
        repo.commit_tree(tree, [commit], "m", Identity("a<b", "e", 1), committer, gpgsig=sig)


def test_refs_read_as_git_reads_them(repo, base, spawns):
    _, _, commit = base
    assert repo.cas_ref("refs/heads/main", commit, None)
    assert repo.cas_ref("refs/heads/feature/x-1", commit, None)
    git(repo, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
    names = ["refs/heads/main", "refs/heads/feature/x-1", "refs/heads/feature", "refs/heads", "refs/heads/alias",
             "refs/heads/absent", "refs/heads/main/below", "refs/heads/x.lock", "refs/heads/a b", "refs/tags/v1"]

    def show_ref(name):
        out = subprocess.run(["git", "show-ref", "--verify", name], capture_output=True, env=repo._env(),
                             cwd=repo.path).stdout.decode().strip()
        return out.split(" ", 1)[0] if out else None

    expected = {"refs/heads/main": commit, "refs/heads/feature/x-1": commit, "refs/heads/alias": commit}
    for name in names:
        assert repo.ref_oid(name) == show_ref(name) == expected.get(name), name
    assert spawns == ["show-ref"] * 3  # the symbolic ref, and two names git must judge
    git(repo, "tag", "-a", "-m", "t", "v1", commit,
        env={"GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"})
    git(repo, "pack-refs", "--all")
    assert not os.path.exists(os.path.join(repo.path, "refs/heads/main"))
    tag = show_ref("refs/tags/v1")
    assert tag and tag != commit
    expected["refs/tags/v1"] = tag
    for name in names:
        assert repo.ref_oid(name) == show_ref(name) == expected.get(name), name
    # A loose ref overrides its packed value; a deleted one is gone from both.
    second = repo.commit_tree(base[1], [commit], "second", IDENTS[0], IDENTS[0])
    assert repo.cas_ref("refs/heads/main", second, commit)
    assert repo.ref_oid("refs/heads/main") == second
    assert repo.cas_ref("refs/heads/feature/x-1", None, commit)
    assert repo.ref_oid("refs/heads/feature/x-1") is None


def test_packed_and_abbreviated_objects_are_still_read(repo, base):
    blob, tree, commit = base
    assert repo.cas_ref("refs/heads/main", commit, None)
    git(repo, "repack", "-a", "-d")
    git(repo, "prune-packed")
    assert not os.path.exists(repo._loose_path(commit))
    fresh = GitRepo(repo.path)
    assert fresh.read_object(blob) == ("blob", b"hello\n")
    assert fresh.commit_info(commit).tree == tree
    assert GitRepo(repo.path).read_object(commit[:10])[0] == "commit"
    assert fresh.read_object(MISSING) is None
    # Trees written over packed objects still check that they exist.
    assert fresh.mktree([TreeEntry("100644", "blob", blob, "f")]) == tree
    fsck(fresh)


def test_unusual_config_leaves_everything_to_git(repo, base):
    blob, tree, commit = base
    git(repo, "config", "gc.auto", "0")  # harmless, but not what git init wrote: git is asked
    assert GitRepo(repo.path)._native()
    git(repo, "config", "i18n.commitEncoding", "ISO-8859-1")
    fresh = GitRepo(repo.path)
    assert not fresh._native()
    assert fresh.write_blob(b"hello\n") == blob
    assert fresh.mktree([TreeEntry("100644", "blob", blob, "f")]) == tree
    assert fresh.read_object(commit)[0] == "commit"
