//! Golden directories (`tests/golden/<case>/original` -> `expected`), written by hand: the binary
//! must turn each original into its expected tree byte for byte, change nothing on a second
//! run, write nothing on a dry run, and leave every refused tree untouched.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::{Run, copy_tree, repo_root, snapshot, tree_diff};

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("original").is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no golden cases in {}", dir.display());
    cases
}

/// The default inputs of every case, then the case's own `inputs.env` lines.
fn promote(case: &Path, tree: &Path) -> Run {
    let mut run = Run::actions()
        .input("gitops_path", tree)
        .input("paths", ".")
        .input("images", "backend,frontend")
        .input("tag", "sha-1a2b3c4")
        .input("verify_images", "false");
    if let Ok(env) = fs::read_to_string(case.join("inputs.env")) {
        for (k, v) in env.lines().filter_map(|l| l.split_once('=')) {
            run = run.env(k.trim(), v.trim());
        }
    }
    run
}

fn name(case: &Path) -> String {
    case.file_name()
        .expect("named")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_original_becomes_its_expected_tree_byte_for_byte() {
    let mut failures = Vec::new();
    for case in cases(&repo_root().join("tests/golden")) {
        let tree = copy_tree(&case.join("original"));
        let out = promote(&case, tree.path()).output();
        if out.code() != Some(0) {
            failures.push(format!(
                "{}: exit {:?}\n{}",
                name(&case),
                out.code(),
                out.all()
            ));
            continue;
        }
        if let Some(diff) = tree_diff(&snapshot(tree.path()), &snapshot(&case.join("expected"))) {
            failures.push(format!("{}:\n{diff}", name(&case)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_second_run_with_the_same_tag_changes_nothing_and_says_so() {
    for case in cases(&repo_root().join("tests/golden")) {
        let tree = copy_tree(&case.join("expected"));
        let before = snapshot(tree.path());
        let out = promote(&case, tree.path()).output().success();
        assert_eq!(snapshot(tree.path()), before, "{}", name(&case));
        assert!(
            out.stdout().contains("::notice::nothing to change"),
            "{}: {}",
            name(&case),
            out.all()
        );
    }
}

#[test]
fn a_dry_run_prints_the_diff_and_writes_nothing() {
    for case in cases(&repo_root().join("tests/golden")) {
        let tree = copy_tree(&case.join("original"));
        let before = snapshot(tree.path());
        let out = promote(&case, tree.path())
            .input("dry_run", "true")
            .output()
            .success();
        assert_eq!(snapshot(tree.path()), before, "{}", name(&case));
        if before != snapshot(&case.join("expected")) {
            assert!(
                out.stdout().contains("+++ b/"),
                "{}: no diff in\n{}",
                name(&case),
                out.all()
            );
        }
    }
}

#[test]
fn refused_files_fail_with_their_place_and_stay_untouched() {
    let mut failures = Vec::new();
    for case in cases(&repo_root().join("tests/golden/errors")) {
        let tree = copy_tree(&case.join("original"));
        let before = snapshot(tree.path());
        let out = promote(&case, tree.path()).output();
        if out.code() != Some(1) {
            failures.push(format!(
                "{}: exit {:?}, want 1\n{}",
                name(&case),
                out.code(),
                out.all()
            ));
        }
        if snapshot(tree.path()) != before {
            failures.push(format!("{}: the tree changed", name(&case)));
        }
        let expected = fs::read_to_string(case.join("error.txt")).expect("error.txt");
        for needle in expected.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !out.all().to_lowercase().contains(&needle.to_lowercase()) {
                failures.push(format!(
                    "{}: output lacks `{needle}`:\n{}",
                    name(&case),
                    out.all()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} error case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
