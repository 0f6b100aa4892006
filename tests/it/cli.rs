//! The input contract: `INPUT_*` variables and CLI flags, defaults, validation, exit codes, and
//! where messages go in Actions and in a shell.

use std::fs;

use crate::support::{Run, snapshot};

const KUSTOMIZATION: &str =
    "images:\n  - name: backend\n    newTag: v1\n  - name: frontend\n    newTag: v1\n";

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }
    dir
}

/// Every declared input is a long flag of the same name with dashes (issue 10: driven by the
/// declared list, not a hand-picked few).
#[test]
fn help_documents_every_input_as_a_flag() {
    let out = Run::shell().args(["--help"]).output().success();
    for input in gitops_promote::config::RawInputs::NAMES {
        let flag = format!("--{}", input.replace('_', "-"));
        assert!(
            out.stdout().contains(&flag),
            "--help lacks {flag}:\n{}",
            out.stdout()
        );
    }
}

/// A GITHUB_OUTPUT that cannot be written fails the step before any file is written, not after.
#[test]
fn an_unwritable_output_file_fails_before_anything_is_written() {
    let dir = tree(&[("apps/a/base/kustomization.yaml", KUSTOMIZATION)]);
    let before = snapshot(dir.path());
    let out = Run::actions()
        .env("GITHUB_OUTPUT", dir.path().join("missing/output"))
        .input("gitops_path", dir.path())
        .input("app", "a")
        .input("images", "backend,frontend")
        .input("tag", "v2")
        .input("verify_images", "false")
        .output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(out.all().contains("GITHUB_OUTPUT"), "{}", out.all());
    assert_eq!(snapshot(dir.path()), before, "nothing was written");
}

#[test]
fn a_missing_required_input_exits_2_and_names_it() {
    let t = tree(&[("kustomization.yaml", KUSTOMIZATION)]);
    let out = Run::actions().input("gitops_path", t.path()).output();
    assert_eq!(out.code(), Some(2), "{}", out.all());
    assert!(
        out.stdout().contains("::error::input `images`: required"),
        "{}",
        out.all()
    );
}

#[test]
fn an_invalid_tag_exits_2_and_names_the_rule() {
    let out = Run::actions()
        .input("gitops_path", ".")
        .input("images", "backend")
        .input("tag", "v1:2")
        .output();
    assert_eq!(out.code(), Some(2), "{}", out.all());
    assert!(
        out.all().contains("input `tag`: `v1:2` is not a valid tag"),
        "{}",
        out.all()
    );
}

#[test]
fn verify_images_is_on_by_default_and_needs_a_region() {
    let t = tree(&[(
        "apps/sample-saas-app/base/kustomization.yaml",
        KUSTOMIZATION,
    )]);
    let before = snapshot(t.path());
    let out = Run::actions()
        .input("gitops_path", t.path())
        .input("images", "backend")
        .output();
    assert_eq!(out.code(), Some(2), "{}", out.all());
    assert!(
        out.all().contains("input `aws_region`: not set"),
        "{}",
        out.all()
    );
    assert_eq!(snapshot(t.path()), before);
}

#[test]
fn default_paths_and_tag_come_from_the_runner() {
    let t = tree(&[
        (
            "apps/sample-saas-app/base/kustomization.yaml",
            KUSTOMIZATION,
        ),
        (
            "apps/sample-saas-app/overlays/prod/kustomization.yml",
            KUSTOMIZATION,
        ),
        ("apps/other/base/kustomization.yaml", KUSTOMIZATION),
    ]);
    Run::actions()
        .input("gitops_path", t.path())
        .input("images", "backend")
        .input("verify_images", "false")
        .output()
        .success();
    let after = snapshot(t.path());
    let promoted = KUSTOMIZATION.replacen("newTag: v1", "newTag: sha-1a2b3c4", 1);
    assert_eq!(
        after["apps/sample-saas-app/base/kustomization.yaml"],
        promoted.as_bytes()
    );
    assert_eq!(
        after["apps/sample-saas-app/overlays/prod/kustomization.yml"],
        promoted.as_bytes()
    );
    assert_eq!(
        after["apps/other/base/kustomization.yaml"],
        KUSTOMIZATION.as_bytes()
    );
}

#[test]
fn flags_override_inputs_and_a_shell_gets_the_diff_on_stdout() {
    let t = tree(&[("kustomization.yaml", KUSTOMIZATION)]);
    let out = Run::shell()
        .input("tag", "from-env")
        .input("images", "backend")
        .args([
            "--paths",
            ".",
            "--tag",
            "from-flag",
            "--verify-images=false",
            "--dry-run",
            "--gitops-path",
        ])
        .args([t.path()])
        .output()
        .success();
    assert!(
        out.stdout()
            .starts_with("--- a/kustomization.yaml\n+++ b/kustomization.yaml\n"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout().contains("+    newTag: from-flag\n"),
        "{}",
        out.stdout()
    );
    assert!(
        !out.stdout().contains("::"),
        "no workflow commands outside Actions"
    );
    assert!(
        out.stderr().contains("dry run: nothing was written"),
        "{}",
        out.stderr()
    );
    assert_eq!(
        fs::read_to_string(t.path().join("kustomization.yaml")).expect("read"),
        KUSTOMIZATION
    );
}

#[test]
fn every_broken_file_is_annotated_and_none_is_written() {
    let t = tree(&[
        ("a/kustomization.yaml", KUSTOMIZATION),
        (
            "b/kustomization.yaml",
            "images:\n  - name: backend\n    newTag: [v1\n",
        ),
        (
            "c/kustomization.yaml",
            "images:\n  - name: backend\n    newTag: v1\n    digest: sha256:aa\n",
        ),
    ]);
    let before = snapshot(t.path());
    let out = Run::actions()
        .input("gitops_path", t.path())
        .input("paths", "a, b, c")
        .input("images", "backend")
        .input("verify_images", "false")
        .output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(
        out.stdout()
            .contains("::error file=b/kustomization.yaml,line="),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout()
            .contains("::error file=c/kustomization.yaml,line=4,col=13::image `backend` is pinned"),
        "{}",
        out.stdout()
    );
    assert_eq!(snapshot(t.path()), before);
}

#[test]
fn paths_cannot_leave_the_checkout_even_through_a_symlink() {
    let outside = tree(&[("kustomization.yaml", KUSTOMIZATION)]);
    let t = tree(&[("a/kustomization.yaml", KUSTOMIZATION)]);
    std::os::unix::fs::symlink(outside.path(), t.path().join("escape")).expect("symlink");
    for paths in ["../x", "/etc", "escape"] {
        let out = Run::actions()
            .input("gitops_path", t.path())
            .input("paths", paths)
            .input("images", "backend")
            .input("verify_images", "false")
            .output();
        assert_ne!(out.code(), Some(0), "{paths}: {}", out.all());
        assert!(out.all().contains("paths"), "{paths}: {}", out.all());
    }
    assert_eq!(
        fs::read_to_string(outside.path().join("kustomization.yaml")).expect("read"),
        KUSTOMIZATION
    );
}

/// Reads a `GITHUB_OUTPUT` file the way the runner does: `name<<DELIMITER`, lines, `DELIMITER`.
fn parse_outputs(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delimiter) = line.split_once("<<").expect("heredoc form");
        let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
        out.insert(name.to_owned(), value.join("\n"));
    }
    out
}

#[test]
fn outputs_and_the_step_summary_go_to_the_files_the_runner_names() {
    let t = tree(&[("kustomization.yaml", KUSTOMIZATION)]);
    let files = tempfile::tempdir().expect("temp dir");
    let (output, summary) = (files.path().join("output"), files.path().join("summary"));
    fs::write(&output, "").expect("create");
    fs::write(&summary, "").expect("create");
    Run::actions()
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .input("gitops_path", t.path())
        .input("paths", ".")
        .input("images", "backend")
        .input("tag", "v2")
        .input("verify_images", "false")
        .output()
        .success();
    let outputs = parse_outputs(&fs::read_to_string(&output).expect("read"));
    assert_eq!(outputs["changed"], "true");
    assert_eq!(outputs["changed_files"], "kustomization.yaml");
    assert_eq!(outputs["images"], "backend:v2");
    assert_eq!(outputs["commit_sha"], "");
    assert!(
        outputs["diff"].contains("-    newTag: v1\n+    newTag: v2"),
        "{}",
        outputs["diff"]
    );
    let summary = fs::read_to_string(&summary).expect("read");
    assert!(
        summary.contains("backend") && summary.contains("<details>"),
        "{summary}"
    );
}

/// A Docker action runs as root on a workspace the runner's user owns: a rewritten file keeps
/// its owner, so later steps can still change it. (Checked where the tests run as root, as CI
/// does; elsewhere files cannot be given to another user.)
#[test]
fn a_rewritten_file_keeps_its_owner() {
    use std::os::unix::fs::MetadataExt;
    let t = tree(&[("kustomization.yaml", KUSTOMIZATION)]);
    let file = t.path().join("kustomization.yaml");
    if std::os::unix::fs::chown(&file, Some(1001), Some(1001)).is_err() {
        eprintln!("not root: cannot hand the file to another user, so ownership is not checked");
        return;
    }
    Run::actions()
        .input("gitops_path", t.path())
        .input("paths", ".")
        .input("images", "backend")
        .input("tag", "v2")
        .input("verify_images", "false")
        .output()
        .success();
    let meta = fs::metadata(&file).expect("metadata");
    assert_eq!((meta.uid(), meta.gid()), (1001, 1001));
    assert!(
        fs::read_to_string(&file)
            .expect("read")
            .contains("newTag: v2")
    );
}
