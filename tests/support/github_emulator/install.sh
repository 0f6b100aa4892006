#!/usr/bin/env bash
# Install what the GitHub emulator needs (idempotent):
#  - Python deps (requirements.txt) into $REPO_ROOT/.venv-test (created if missing,
#    never deleted: other parts of the suite install into it too);
#  - GitHub's contract sources (@octokit/openapi, @octokit/graphql-schema) with
#    `npm ci` into this directory's node_modules, pinned by package-lock.json.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${GITHUB_EMULATOR_VENV:-$REPO_ROOT/.venv-test}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# pip is quick when everything is already satisfied; skip it entirely when the
# requirements file has not changed since the last successful install.
stamp="$VENV/.github-emulator-requirements"
if [ ! -f "$stamp" ] || ! cmp -s "$HERE/requirements.txt" "$stamp"; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet --no-compile -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$stamp"
fi

lock_stamp="$HERE/node_modules/.package-lock.json"
if [ ! -f "$lock_stamp" ] \
   || [ ! -f "$HERE/node_modules/@octokit/openapi/generated/api.github.com.json" ] \
   || [ ! -f "$HERE/node_modules/@octokit/graphql-schema/schema.graphql" ] \
   || [ "$HERE/package-lock.json" -nt "$lock_stamp" ]; then
  (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

echo "github emulator ready: $VENV/bin/python -m github_emulator (PYTHONPATH=$REPO_ROOT/tests/support)"
