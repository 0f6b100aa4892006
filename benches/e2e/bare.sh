#!/usr/bin/env bash
# The bare script, as the end-to-end benchmark times it: clone, sed the tags, commit, push.
# It checks nothing in ECR. Environment (set by benches/e2e/bench.py): GIT_URL, WORK, TAG.
set -euo pipefail

git clone --quiet --depth 1 --single-branch --branch main "$GIT_URL" "$WORK/gitops"
cd "$WORK/gitops/apps/sample-saas-app"
sed -i -E "s/^( *newTag: )sha-[0-9a-f]{7}/\1$TAG/" \
  base/kustomization.yaml overlays/platform/kustomization.yaml overlays/analytics/kustomization.yaml
git commit --quiet -am "chore(sample-saas-app): promote backend, frontend to $TAG"
git push --quiet origin HEAD:main
