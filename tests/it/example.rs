//! The bundled example GitOps repository, promoted and rendered by the real `kubectl kustomize`.

use std::process::Command;

use serde_norway::Value;

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
fn promoting_the_example_renders_the_new_images_in_both_tenants() {
    let tree = copy_tree(&repo_root().join("examples/flux-gitops-pipeline"));
    let out = Run::actions()
        .input("gitops_path", tree.path())
        .input("images", "backend,frontend")
        .input("verify_images", "false")
        .output()
        .success();
    assert!(out.stdout().contains("::group::"), "{}", out.all());

    for (tenant, ns) in [("platform", "platform"), ("analytics", "analytics")] {
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
fn promoting_the_example_changes_only_the_three_kustomization_files() {
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
