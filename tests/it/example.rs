//! The bundled example GitOps repository, promoted and rendered by the real `kubectl kustomize`.

use std::process::Command;

use serde_norway::Value;

use crate::support::aws::{Moto, OIDC_REQUEST_TOKEN, OidcIssuer, REGION};
use crate::support::github::Emulator;
use crate::support::{Run, copy_tree, repo_root, snapshot};

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sample-saas-app";

/// Renders a kustomization directory offline and returns `(namespace, image)` of every
/// Deployment container.
fn rendered_images(dir: &std::path::Path) -> Vec<(String, String)> {
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(dir)
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("kubectl is installed (see TESTBED: /usr/bin/kubectl)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut images = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let obj: Value = serde::Deserialize::deserialize(doc).expect("rendered YAML");
        if obj["kind"] != "Deployment" {
            continue;
        }
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        for c in obj["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .expect("containers")
        {
            images.push((ns.clone(), c["image"].as_str().expect("image").to_owned()));
        }
    }
    images
}

#[test]
fn promoting_the_example_renders_the_new_images_in_every_tenant() {
    let tree = copy_tree(&repo_root().join("examples/flux-gitops-pipeline"));
    let out = Run::actions()
        .input("gitops_path", tree.path())
        .input("images", "backend,frontend")
        .input("verify_images", "false")
        .output()
        .success();
    assert!(out.stdout().contains("::group::"), "{}", out.all());

    for (tenant, ns) in [
        ("platform", "platform"),
        ("analytics", "analytics"),
        ("production", "production"),
    ] {
        let mut images = rendered_images(
            &tree
                .path()
                .join("apps/sample-saas-app/overlays")
                .join(tenant),
        );
        images.sort();
        assert_eq!(
            images,
            [
                (ns.to_owned(), format!("{REGISTRY}/backend:sha-1a2b3c4")),
                (ns.to_owned(), format!("{REGISTRY}/frontend:sha-1a2b3c4")),
            ],
            "{tenant}"
        );
    }
}

#[test]
fn promoting_the_example_by_default_changes_only_its_kustomization_files() {
    let original = repo_root().join("examples/flux-gitops-pipeline");
    let tree = copy_tree(&original);
    Run::shell()
        .args(["--gitops-path"])
        .args([tree.path()])
        .args([
            "--app",
            "sample-saas-app",
            "--images",
            "backend,frontend",
            "--tag",
            "v1.2.3",
            "--verify-images=false",
        ])
        .output()
        .success();
    let (before, after) = (snapshot(&original), snapshot(tree.path()));
    let changed: Vec<&String> = after
        .iter()
        .filter(|(p, b)| before.get(*p) != Some(b))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        changed,
        [
            "apps/sample-saas-app/base/kustomization.yaml",
            "apps/sample-saas-app/overlays/analytics/kustomization.yaml",
            "apps/sample-saas-app/overlays/platform/kustomization.yaml",
            "apps/sample-saas-app/overlays/production/kustomization.yaml",
        ]
    );
    for path in changed {
        let (b, a) = (
            String::from_utf8_lossy(&before[path]),
            String::from_utf8_lossy(&after[path]),
        );
        assert_eq!(
            b.replace("sha-0000000", "v1.2.3"),
            a,
            "{path}: only the tags change"
        );
    }
}

/// The mission's whole system: a CD run assumes its role through OIDC, finds both images in ECR,
/// commits the three kustomization files to the GitOps repository on GitHub, and what Flux
/// would then apply renders the new images, pinned by digest, in both tenants' namespaces.
#[test]
fn the_whole_pipeline_promotes_both_tenants_end_to_end() {
    const TAG: &str = "sha-9f8e7d6";
    let (moto, oidc) = (Moto::start(), OidcIssuer::start());
    let backend = moto.push(REGION, None, "sample-saas-app/backend", TAG);
    let frontend = moto.push(REGION, None, "sample-saas-app/frontend", TAG);
    let emu = Emulator::shared(&repo_root().join("examples/flux-gitops-pipeline"));

    let out = Run::actions()
        .env("GITHUB_API_URL", &emu.url)
        .env("GITHUB_GRAPHQL_URL", format!("{}/graphql", emu.url))
        .env("GITHUB_RUN_ID", "31337")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", REGION)
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", &oidc.url)
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN)
        .input("gitops_repo", emu.full_name())
        .input("gitops_repo_token", &emu.token)
        .input("aws_role_arn", "arn:aws:iam::123456789012:role/sample-saas-app-cd")
        .input("images", "backend=sample-saas-app/backend,frontend=sample-saas-app/frontend")
        .input("paths", "apps/sample-saas-app/base\napps/sample-saas-app/overlays/platform\napps/sample-saas-app/overlays/analytics")
        .input("tag", TAG)
        .input("pin_digest", "true")
        .output()
        .success();
    assert!(out.stdout().contains("(verified)"), "{}", out.stdout());

    // What Flux's GitRepository would fetch: the branch's tree.
    let checkout = tempfile::tempdir().expect("temp dir");
    let archive = Command::new("git")
        .arg("--git-dir")
        .arg(emu.git_dir())
        .args(["archive", "--format=tar", "main"])
        .output()
        .expect("git archive");
    assert!(archive.status.success());
    let mut tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(checkout.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("tar");
    std::io::Write::write_all(&mut tar.stdin.take().expect("stdin"), &archive.stdout)
        .expect("untar");
    assert!(tar.wait().expect("tar").success());

    for ns in ["platform", "analytics"] {
        let mut images = rendered_images(
            &checkout
                .path()
                .join("apps/sample-saas-app/overlays")
                .join(ns),
        );
        images.sort();
        assert_eq!(
            images,
            [
                (ns.to_owned(), format!("{REGISTRY}/backend:{TAG}@{backend}")),
                (
                    ns.to_owned(),
                    format!("{REGISTRY}/frontend:{TAG}@{frontend}")
                ),
            ],
            "what `kubectl get deployment -n {ns}` would show once Flux has synced"
        );
    }
    emu.assert_no_violations();
}
