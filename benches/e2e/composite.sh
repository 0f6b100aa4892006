#!/usr/bin/env bash
# The composite script users run today, as the end-to-end benchmark times it: check both
# images in ECR with the aws CLI, clone the GitOps repository over HTTP, `kustomize edit set
# image` in each kustomization directory, commit, push.
# Environment (set by benches/e2e/bench.py): AWS_CLI, KUSTOMIZE, GIT_URL, WORK, TAG, and the
# standard AWS_* variables (static keys, region, AWS_ENDPOINT_URL).
set -euo pipefail

"$AWS_CLI" ecr describe-images --repository-name sample-saas-app/backend \
  --image-ids "imageTag=$TAG" --output json >/dev/null
"$AWS_CLI" ecr describe-images --repository-name sample-saas-app/frontend \
  --image-ids "imageTag=$TAG" --output json >/dev/null

git clone --quiet --depth 1 --single-branch --branch main "$GIT_URL" "$WORK/gitops"
cd "$WORK/gitops/apps/sample-saas-app"
for dir in base overlays/platform overlays/analytics; do
  # kustomize v4.5.4 refuses the base (`labels[].includeTemplates` is a kustomize v5 field):
  # there the script falls back to sed, after paying for the attempt.
  if ! (cd "$dir" && "$KUSTOMIZE" edit set image "backend=*:$TAG" "frontend=*:$TAG" 2>/dev/null); then
    sed -i -E "s/^( *newTag: )sha-[0-9a-f]{7}/\1$TAG/" "$dir/kustomization.yaml"
  fi
done
git commit --quiet -am "chore(sample-saas-app): promote backend, frontend to $TAG"
git push --quiet origin HEAD:main
