//! Verifying images in ECR before anything is written: the real binary against moto, with the
//! OIDC token from a local issuer, as the runner (or act) provides them.

use std::fs;

use crate::support::aws::{
    ACCESS_KEY_ID, FaultProxy, Injected, Moto, OIDC_JWT, OIDC_REQUEST_TOKEN, OidcIssuer, REGION,
    SECRET_ACCESS_KEY,
};
use crate::support::{Run, snapshot};

const ROLE: &str = "arn:aws:iam::123456789012:role/gitops-promote";
const TAG: &str = "sha-1a2b3c4";

fn gitops() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().join("apps/sample-saas-app/base");
    fs::create_dir_all(&base).expect("mkdir");
    fs::write(
        base.join("kustomization.yaml"),
        "images:\n  - name: backend\n    newTag: sha-0000000\n  - name: frontend\n    newTag: sha-0000000 # keep\n",
    )
    .expect("write");
    dir
}

/// A run on GitHub: role assumed through OIDC (a role in the test's own account), nothing else
/// but the endpoint.
fn on_github(moto: &Moto, oidc: &OidcIssuer, tree: &std::path::Path) -> Run {
    Run::actions()
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", REGION)
        .env("GITHUB_RUN_ID", "4242")
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", &oidc.url)
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN)
        .input("gitops_path", tree)
        .input(
            "images",
            "backend=sample-saas-app/backend,frontend=sample-saas-app/frontend",
        )
        .input("aws_role_arn", moto.role("gitops-promote"))
        .input("tag", TAG)
}

/// The promoted file's text.
fn base_kustomization(tree: &std::path::Path) -> String {
    fs::read_to_string(tree.join("apps/sample-saas-app/base/kustomization.yaml")).expect("read")
}

/// A run with static keys (act, a shell), as the standard credential chain finds them.
fn with_static_keys(endpoint: &str, tree: &std::path::Path) -> Run {
    Run::actions()
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .input("gitops_path", tree)
        .input(
            "images",
            "backend=sample-saas-app/backend,frontend=sample-saas-app/frontend",
        )
        .input("tag", TAG)
}

/// Secrets may appear only in `::add-mask::` lines, which tell the runner to hide them.
#[track_caller]
fn assert_no_secret(output: &str, secrets: &[&str]) {
    for line in output.lines().filter(|l| !l.starts_with("::add-mask::")) {
        for secret in secrets {
            assert!(!line.contains(secret), "a secret leaked in: {line}");
        }
    }
}

#[test]
fn all_images_present_patches_the_files_with_their_digests() {
    let (moto, oidc, tree) = (Moto::fresh_account(), OidcIssuer::start(), gitops());
    let backend = moto.push(REGION, None, "sample-saas-app/backend", TAG);
    let frontend = moto.push(REGION, None, "sample-saas-app/frontend", TAG);
    let out = on_github(&moto, &oidc, tree.path())
        .input("pin_digest", "true")
        .output()
        .success();

    let text = base_kustomization(tree.path());
    assert_eq!(
        text,
        format!(
            "images:\n  - name: backend\n    newTag: {TAG}\n    digest: {backend}\n  - name: frontend\n    newTag: {TAG} # keep\n    digest: {frontend}\n"
        )
    );
    let requests = oidc.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].contains("&audience=sts.amazonaws.com"),
        "{requests:?}"
    );
    assert!(
        out.stdout().contains(&format!("::add-mask::{OIDC_JWT}")),
        "{}",
        out.stdout()
    );
    assert_eq!(
        out.stdout().matches("::add-mask::").count(),
        4,
        "the JWT and three credential parts"
    );
    let stdout = out.stdout();
    let masked: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .collect();
    assert_no_secret(&out.all(), &masked);
}

#[test]
fn every_missing_image_is_reported_together_and_nothing_is_written() {
    let (moto, oidc, tree) = (Moto::fresh_account(), OidcIssuer::start(), gitops());
    moto.push(REGION, None, "sample-saas-app/backend", "sha-other00");
    let before = snapshot(tree.path());
    let out = on_github(&moto, &oidc, tree.path())
        .input(
            "images",
            "backend=sample-saas-app/backend,frontend=sample-saas-app/frontend",
        )
        .output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    let all = out.all();
    assert!(all.contains("2 image(s) could not be verified"), "{all}");
    assert!(
        all.contains("image `backend`") && all.contains("ImageNotFoundException"),
        "{all}"
    );
    assert!(
        all.contains("image `frontend`") && all.contains("RepositoryNotFoundException"),
        "{all}"
    );
    assert!(
        all.contains(&format!("sample-saas-app/backend:{TAG}")) && all.contains("region us-east-1"),
        "{all}"
    );
    assert_eq!(snapshot(tree.path()), before);
}

#[test]
fn one_missing_image_fails_the_run_and_names_it() {
    let (moto, oidc, tree) = (Moto::fresh_account(), OidcIssuer::start(), gitops());
    moto.push(REGION, None, "sample-saas-app/backend", TAG);
    moto.push(REGION, None, "sample-saas-app/frontend", "sha-0000000");
    let before = snapshot(tree.path());
    let out = on_github(&moto, &oidc, tree.path()).output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(
        out.all().contains("1 image(s) could not be verified"),
        "{}",
        out.all()
    );
    assert!(out.all().contains("image `frontend`"), "{}", out.all());
    assert!(!out.all().contains("image `backend` ("), "{}", out.all());
    assert_eq!(snapshot(tree.path()), before);
}

#[test]
fn an_image_in_another_region_is_not_found_in_the_configured_one() {
    let (moto, oidc, tree) = (Moto::fresh_account(), OidcIssuer::start(), gitops());
    moto.push("eu-west-1", None, "sample-saas-app/backend", TAG);
    moto.push("eu-west-1", None, "sample-saas-app/frontend", TAG);
    let out = on_github(&moto, &oidc, tree.path()).output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(
        out.all().contains("RepositoryNotFoundException"),
        "{}",
        out.all()
    );
    let ok = on_github(&moto, &oidc, tree.path())
        .input("aws_region", "eu-west-1")
        .output();
    assert_eq!(ok.code(), Some(0), "{}", ok.all());
}

/// act's environment: `ACT=true`, no OIDC variables, file commands mounted under its own paths.
#[test]
fn act_with_static_credentials_needs_no_oidc() {
    let (moto, tree) = (Moto::start(), gitops());
    moto.push(REGION, None, "sample-saas-app/backend", TAG);
    let frontend = moto.push(REGION, None, "sample-saas-app/frontend", TAG);
    let act = tempfile::tempdir().expect("temp dir");
    let workflow = act.path().join("var/run/act/workflow");
    fs::create_dir_all(&workflow).expect("mkdir");
    let (output, summary) = (workflow.join("outputcmd.txt"), workflow.join("SUMMARY.md"));
    fs::write(&output, "").expect("create");
    fs::write(&summary, "").expect("create");
    let out = with_static_keys(&moto.endpoint, tree.path())
        .env("ACT", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .input("pin_digest", "true")
        .output()
        .success();
    assert_no_secret(&out.all(), &[SECRET_ACCESS_KEY, ACCESS_KEY_ID]);
    let text = base_kustomization(tree.path());
    assert!(text.contains(&format!("newTag: {TAG}")), "{text}");
    let outputs = fs::read_to_string(&output).expect("read");
    assert!(
        outputs.contains(&format!("\nfrontend:{TAG}@{frontend}\n")),
        "{outputs}"
    );
    assert!(outputs.starts_with("changed<<ghadelimiter_"), "{outputs}");
    let summary = fs::read_to_string(&summary).expect("read");
    assert!(summary.contains(&frontend), "{summary}");
}

#[test]
fn a_role_without_oidc_variables_says_what_to_grant() {
    let tree = gitops();
    let run = || {
        Run::actions()
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .input("gitops_path", tree.path())
            .input("images", "backend,frontend")
            .input("aws_role_arn", ROLE)
    };
    let out = run().output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(
        out.all().contains("permissions: id-token: write"),
        "{}",
        out.all()
    );
    let out = run().env("ACT", "true").output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(
        out.all().contains("pass static credentials"),
        "{}",
        out.all()
    );
}

#[test]
fn a_cross_account_registry_is_named_by_ecr_registry_id() {
    let (moto, oidc, tree) = (Moto::fresh_account(), OidcIssuer::start(), gitops());
    let other = Moto::fresh_account();
    other.push(REGION, None, "sample-saas-app/backend", TAG);
    other.push(REGION, None, "sample-saas-app/frontend", TAG);
    let out = on_github(&moto, &oidc, tree.path())
        .input("aws_role_arn", other.role("gitops-promote"))
        .input("ecr_registry_id", other.account_id())
        .output();
    assert_eq!(out.code(), Some(0), "{}", out.all());
    let without = on_github(&moto, &oidc, gitops().path()).output();
    assert_eq!(
        without.code(),
        Some(1),
        "the default account has no such repositories: {}",
        without.all()
    );
}

#[test]
fn transient_sts_failures_are_retried_and_then_succeed() {
    let (moto, oidc, tree) = (Moto::fresh_account(), OidcIssuer::start(), gitops());
    moto.push(REGION, None, "sample-saas-app/backend", TAG);
    moto.push(REGION, None, "sample-saas-app/frontend", TAG);
    let proxy = FaultProxy::start(
        &moto.endpoint,
        "Action=AssumeRoleWithWebIdentity",
        vec![
            Injected::sts(400, "Throttling", "Rate exceeded"),
            Injected::sts(503, "ServiceUnavailable", "Service is unavailable"),
            Injected::sts(
                400,
                "IDPCommunicationError",
                "Couldn't reach the identity provider",
            ),
            Injected::sts(
                400,
                "InvalidIdentityToken",
                "Couldn't retrieve verification key from your identity provider",
            ),
        ],
    );
    let out = on_github(&moto, &oidc, tree.path())
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .output();
    assert_eq!(out.code(), Some(0), "{}", out.all());
    assert_eq!(proxy.seen(), 5, "four transient failures, then the answer");
}

#[test]
fn access_denied_fails_at_once_with_a_trust_policy_hint() {
    let (moto, oidc, tree) = (Moto::fresh_account(), OidcIssuer::start(), gitops());
    let denied = Injected::sts(
        403,
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    );
    let proxy = FaultProxy::start(
        &moto.endpoint,
        "Action=AssumeRoleWithWebIdentity",
        vec![denied; 5],
    );
    let before = snapshot(tree.path());
    let out = on_github(&moto, &oidc, tree.path())
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(
        out.all().contains("AccessDenied") && out.all().contains("trust policy"),
        "{}",
        out.all()
    );
    assert_eq!(proxy.seen(), 1, "no retry of a refusal");
    assert_eq!(snapshot(tree.path()), before);
    assert_no_secret(&out.all(), &[OIDC_JWT]);
}

#[test]
fn ecr_throttling_and_server_errors_are_retried() {
    let (moto, tree) = (Moto::start(), gitops());
    moto.push(REGION, None, "sample-saas-app/backend", TAG);
    moto.push(REGION, None, "sample-saas-app/frontend", TAG);
    let proxy = FaultProxy::start(
        &moto.endpoint,
        "DescribeImages",
        vec![
            Injected::ecr(400, "ThrottlingException", "Rate exceeded"),
            Injected::ecr(500, "ServerException", "Internal error"),
        ],
    );
    let out = with_static_keys(&proxy.endpoint, tree.path()).output();
    assert_eq!(out.code(), Some(0), "{}", out.all());
    assert_eq!(proxy.seen(), 4, "two lookups, two of them retried once");
}

/// For a multi-arch image the digest is the index's, which is what the cluster pulls by.
#[test]
fn a_multi_arch_image_is_pinned_by_its_index_digest() {
    let (moto, tree) = (Moto::start(), gitops());
    moto.push(REGION, None, "sample-saas-app/backend", TAG);
    let index = moto.push_index(REGION, "sample-saas-app/frontend", TAG);
    with_static_keys(&moto.endpoint, tree.path())
        .input("pin_digest", "true")
        .output()
        .success();
    let text = base_kustomization(tree.path());
    assert!(
        text.contains(&format!("newTag: {TAG} # keep\n    digest: {index}\n")),
        "{text}"
    );
}

/// The base's entry without `newName` and an overlay's ECR URI of the same repository in the
/// role's account are one image: it is looked up once, not once per spelling (issue 11).
#[test]
fn one_repository_named_two_ways_is_looked_up_once() {
    let (moto, oidc, tree) = (Moto::fresh_account(), OidcIssuer::start(), gitops());
    moto.push(REGION, None, "sample-saas-app/backend", TAG);
    moto.push(REGION, None, "sample-saas-app/frontend", TAG);
    let overlay = tree.path().join("apps/sample-saas-app/overlays/platform");
    fs::create_dir_all(&overlay).expect("mkdir");
    let registry = format!("{}.dkr.ecr.{REGION}.amazonaws.com", moto.account_id());
    fs::write(
        overlay.join("kustomization.yaml"),
        format!(
            "resources: [../../base]\nimages:\n  - name: backend\n    newName: {registry}/sample-saas-app/backend\n    newTag: sha-0000000\n  - name: frontend\n    newName: {registry}/sample-saas-app/frontend\n    newTag: sha-0000000\n"
        ),
    )
    .expect("write");
    let proxy = FaultProxy::start(&moto.endpoint, "DescribeImages", vec![]);
    on_github(&moto, &oidc, tree.path())
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .output()
        .success();
    assert_eq!(proxy.seen(), 2, "backend and frontend, once each");
}
