"""Fixtures: a session-wide emulator subprocess, reset and seeded per test."""

import os

import pytest

from emu_harness import start_emulator, stop_emulator


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    emu = start_emulator(str(tmp_path_factory.mktemp("emu-state")))
    yield emu
    stop_emulator(emu)


@pytest.fixture
def emu(server, tmp_path):
    """A reset emulator with repo acme/fleet (seeded from a directory) and three tokens."""
    server.ctl("POST", "reset")
    seed = tmp_path / "seed"
    (seed / "apps" / "web").mkdir(parents=True)
    (seed / "apps" / "api").mkdir(parents=True)
    (seed / "apps" / "web" / "kustomization.yaml").write_text(
        "images:\n  - name: web\n    newTag: v1.0.0\n")
    (seed / "apps" / "api" / "kustomization.yaml").write_text(
        "images:\n  - name: api\n    newTag: v2.0.0\n")
    (seed / "README.md").write_text("# fleet\n")
    (seed / "bin").mkdir()
    (seed / "bin" / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(seed / "bin" / "tool.sh", 0o755)
    server.repo("acme", "fleet", default_branch="main", seed_dir=str(seed), auto_merge_allowed=True)
    server.token("t-write", "promoter-bot", {"acme/fleet": "write"})
    server.token("t-read", "reader", {"acme/fleet": "read"})
    server.token("t-none", "stranger", {})
    server.token("t-reviewer", "alice", {"acme/fleet": "read"})
    return server
