#!/usr/bin/env bash
# Start the GitHub emulator with the test venv (run install.sh first).
# Usage: tests/support/github_emulator/run.sh --port 0 --state-dir DIR [--config FILE]
# Prints "listening on 127.0.0.1:PORT" once ready; serves until killed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${GITHUB_EMULATOR_VENV:-$REPO_ROOT/.venv-test}"
export PYTHONPATH="$REPO_ROOT/tests/support${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m github_emulator "$@"
