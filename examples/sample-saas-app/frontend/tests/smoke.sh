#!/usr/bin/env bash
# Smoke test of the frontend image: checks the nginx configuration, then serves the site and asks
# it for /, /healthz, /version.txt and a missing page. Needs docker. Usage: tests/smoke.sh [image]
# (default: builds frontend:smoke from this directory).
set -euo pipefail
cd "$(dirname "$0")/.."

image="${1:-}"
if [ -z "$image" ]; then
  image=frontend:smoke
  docker build --quiet --tag "$image" . >/dev/null
fi

echo "== nginx -t"
docker run --rm "$image" nginx -t

container="$(docker run --detach --publish 127.0.0.1::80 "$image")"
trap 'docker rm --force "$container" >/dev/null' EXIT
port="$(docker port "$container" 80/tcp | head -n1 | sed 's/.*://')"
base="http://127.0.0.1:$port"

# nginx starts in well under a second; allow some slack on a busy runner.
for _ in $(seq 1 50); do
  curl --silent --fail --output /dev/null "$base/healthz" && break
  sleep 0.2
done

fail=0
expect() {
  local path="$1" want_status="$2" want_text="$3" status body
  body="$(mktemp)"
  status="$(curl --silent --output "$body" --write-out '%{http_code}' "$base$path")"
  if [ "$status" = "$want_status" ] && grep -q -- "$want_text" "$body"; then
    echo "ok   GET $path -> $status"
  else
    echo "FAIL GET $path -> $status (want $want_status and \"$want_text\")"
    fail=1
  fi
  rm -f "$body"
}
expect / 200 '<title>sample-saas-app</title>'
expect /healthz 200 '^ok$'
expect /version.txt 200 '.'
expect /no-such-page 404 'Not Found'
exit "$fail"
