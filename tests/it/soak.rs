//! Concurrency soak (issue 9, item 7): many promotions of different images and tags to one
//! branch at once, while another writer keeps committing to it, in commit mode and in pull
//! request mode. Every update lands and none is lost; the base branch only ever moves forward
//! (checked on the emulator's bare repository's reflog, move by move); at most one open pull
//! request per `pr_branch`, never closed. Retries and time to settle are measured and printed
//! (`-- --nocapture`), not asserted.
//!
//! The test command runs 12 at once; the 50 the issue asks for is `#[ignore]`d, run by hand:
//! `cargo test --test it soak -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::fs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::faults::{Git, Ran, action, forced_moves, input, moves, run_guarded};
use crate::support::github::Emulator;

const FILE: &str = "apps/sample-saas-app/base/kustomization.yaml";
const PR_BRANCH: &str = "gitops-promote/sample-saas-app";
/// Each run's own deadline; the guard kills a run this long after its start, plus a margin.
const TIMEOUT_S: u64 = 300;
/// How often the other writer commits: far more often than a GitOps repository sees, so that
/// nearly every run meets a moved branch at least once.
const OTHER_WRITER_EVERY_MS: u64 = 250;

fn image(i: usize) -> String {
    format!("img{i:02}")
}

fn tag(i: usize) -> String {
    format!("v1.{i}")
}

/// A kustomization with `n` images, each at `v0`.
fn kustomization(n: usize, tag_of: impl Fn(usize) -> String) -> String {
    let mut text =
        String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - name: {}\n    newTag: {}\n",
            image(i),
            tag_of(i)
        ));
    }
    text
}

fn seed(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(FILE);
    fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
    fs::write(&file, kustomization(n, |_| "v0".into())).expect("write");
    dir
}

/// The numbers the soak reports.
struct Figures {
    runs: usize,
    out_of_band: usize,
    settle: Duration,
    attempts: Vec<usize>,
    elapsed: Vec<Duration>,
}

fn soak(n: usize, pull_request: bool) -> Figures {
    let seed = seed(n);
    let emu = Emulator::shared(seed.path());
    let git = Git::of(&emu);
    git.run(&["config", "core.logAllRefUpdates", "always"]);
    // One token writing 50 times in a few seconds passes GitHub's content-creation limit (80 a
    // minute) in pull request mode; that limit has its own case in the fault matrix.
    emu.control(
        "POST",
        "/_emulator/limits",
        json!({ "content_per_minute": 0, "content_per_hour": 0 }),
    );
    // The other writer also lands a commit just before some of the runs' writes.
    let write_field = if pull_request {
        "updateRefs"
    } else {
        "createCommitOnBranch"
    };
    emu.fault(json!({
        "path_regex": "^/graphql$", "graphql_field": write_field, "nth": 2, "count": 5,
        "commit": { "repo": emu.full_name(), "branch": "main",
                    "files": { "docs/racing-writer.md": "landed between a read and a write\n" },
                    "message": "docs: a writer racing the runs" },
    }));

    let done = AtomicBool::new(false);
    let out_of_band = AtomicUsize::new(0);
    let results: Mutex<BTreeMap<usize, Ran>> = Mutex::new(BTreeMap::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        // Another writer: a commit on the branch every few hundred ms, on a file of its own.
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                let k = out_of_band.fetch_add(1, Ordering::SeqCst);
                emu.control(
                    "POST",
                    "/_emulator/commit",
                    json!({ "repo": emu.full_name(), "branch": "main",
                            "files": { format!("notes/other-writer-{k:03}.md"): format!("{k}\n") },
                            "message": format!("notes: other writer {k}") }),
                );
                std::thread::sleep(Duration::from_millis(OTHER_WRITER_EVERY_MS));
            }
        });
        let runs: Vec<_> = (0..n)
            .map(|i| {
                let (emu, results) = (&emu, &results);
                scope.spawn(move || {
                    let mut cmd = action(emu, "", "", "");
                    input(&mut cmd, "verify_images", "false");
                    input(&mut cmd, "aws_role_arn", "");
                    input(&mut cmd, "images", image(i));
                    input(&mut cmd, "tag", tag(i));
                    input(&mut cmd, "timeout_seconds", TIMEOUT_S.to_string());
                    if pull_request {
                        input(&mut cmd, "mode", "pull_request");
                    }
                    let ran = run_guarded(cmd, Duration::from_secs(TIMEOUT_S + 30));
                    results.lock().expect("lock").insert(i, ran);
                })
            })
            .collect();
        for run in runs {
            run.join().expect("a run's thread");
        }
        done.store(true, Ordering::SeqCst);
    });
    let settle = started.elapsed();
    let results = results.into_inner().expect("results");

    let mut failures = Vec::new();
    for (i, ran) in &results {
        if ran.code != Some(0) {
            failures.push(format!(
                "run {i} ({}): exit {:?}{}\n{}",
                image(*i),
                ran.code,
                if ran.killed { " (killed)" } else { "" },
                ran.errors()
            ));
        }
    }
    // Every update landed: the branch carries all of them (and, in pull request mode, only the
    // pull request's branch does; the base keeps its seed values).
    let want = kustomization(n, tag);
    let carrier = if pull_request { PR_BRANCH } else { "main" };
    let got = git.run(&["show", &format!("{carrier}:{FILE}")]);
    if got != want {
        failures.push(format!("{carrier}:{FILE} lost updates:\n{got}"));
    }
    let forced = forced_moves(&git, "main");
    if !forced.is_empty() {
        failures.push(format!("main moved without a fast-forward: {forced:?}"));
    }
    // Every other writer's commit is still on the branch.
    let others = out_of_band.load(Ordering::SeqCst);
    let listed = git.run(&["ls-tree", "--name-only", "main", "notes/"]);
    if listed.lines().count() != others {
        failures.push(format!(
            "{others} out-of-band commits, {} of their files on main",
            listed.lines().count()
        ));
    }
    if pull_request {
        if git.run(&["show", &format!("main:{FILE}")]) != kustomization(n, |_| "v0".into()) {
            failures.push("pull request mode changed the base branch's file".into());
        }
        let state = emu.control(
            "GET",
            &format!("/_emulator/repos/{}", emu.full_name()),
            Value::Null,
        );
        let pulls = state["pulls"].as_array().cloned().unwrap_or_default();
        let open = pulls.iter().filter(|p| p["state"] == "open").count();
        if pulls.len() != 1 || open != 1 {
            failures.push(format!(
                "{} pull requests, {open} open: {pulls:#?}",
                pulls.len()
            ));
        }
        // Every move of the PR branch kept what it had: no promotion lost on the way.
        for (old, new) in moves(&git, PR_BRANCH) {
            if old.starts_with("00000") || new.starts_with("00000") {
                continue;
            }
            let (before, after) = (
                git.run(&["show", &format!("{old}:{FILE}")]),
                git.run(&["show", &format!("{new}:{FILE}")]),
            );
            let lost: Vec<&str> = before
                .lines()
                .filter(|l| l.contains("newTag: v1.") && !after.contains(&format!("{l}\n")))
                .collect();
            if !lost.is_empty() {
                failures.push(format!("the move {old} -> {new} dropped {lost:?}"));
            }
        }
    } else {
        let ours: usize = git
            .run(&["log", "--format=%s", "main"])
            .lines()
            .filter(|s| s.starts_with("chore(sample-saas-app): promote"))
            .count();
        if ours != n {
            failures.push(format!("{ours} promotion commits for {n} runs"));
        }
    }
    let temporary: Vec<String> = git
        .run(&["for-each-ref", "--format=%(refname:short)", "refs/heads/"])
        .lines()
        .filter(|r| r.contains("-tmp-"))
        .map(str::to_owned)
        .collect();
    if !temporary.is_empty() {
        failures.push(format!("temporary branches left: {temporary:?}"));
    }
    git.run(&["fsck", "--strict"]);
    let violations = emu.control("GET", "/_emulator/violations", Value::Null);
    if violations != json!([]) {
        failures.push(format!("contract violations: {violations:#}"));
    }

    let figures = Figures {
        runs: n,
        out_of_band: others,
        settle,
        // Each attempt reads the branch once, in its own log group.
        attempts: results
            .values()
            .map(|r| r.stdout.matches("::group::Read ").count())
            .collect(),
        elapsed: results.values().map(|r| r.elapsed).collect(),
    };
    print(&figures, pull_request);
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    figures
}

fn print(f: &Figures, pull_request: bool) {
    let mut attempts = f.attempts.clone();
    attempts.sort_unstable();
    let mut elapsed = f.elapsed.clone();
    elapsed.sort_unstable();
    let pct = |v: &[Duration], p: usize| v[(v.len() - 1) * p / 100].as_secs_f64();
    let retries: usize = attempts.iter().map(|a| a.saturating_sub(1)).sum();
    eprintln!(
        "\nsoak ({}): {} runs, {} out-of-band commits, settled in {:.1} s\n  attempts per run: min {} median {} max {}; {} retries in all\n  run time: median {:.1} s, p90 {:.1} s, max {:.1} s\n",
        if pull_request {
            "pull request mode"
        } else {
            "commit mode"
        },
        f.runs,
        f.out_of_band,
        f.settle.as_secs_f64(),
        attempts[0],
        attempts[attempts.len() / 2],
        attempts[attempts.len() - 1],
        retries,
        pct(&elapsed, 50),
        pct(&elapsed, 90),
        pct(&elapsed, 100),
    );
}

/// Issue 9, item 7, at the test command's size.
#[test]
fn twelve_concurrent_promotions_with_another_writer_all_land_in_commit_mode() {
    soak(12, false);
}

#[test]
fn twelve_concurrent_promotions_with_another_writer_all_land_in_one_pull_request() {
    soak(12, true);
}

/// Issue 9, item 7, as asked: 50 at once. Run by hand (see the module's doc).
#[test]
#[ignore = "the full soak, one to two minutes: run with --ignored"]
fn fifty_concurrent_promotions_with_another_writer_all_land_in_commit_mode() {
    soak(50, false);
}

#[test]
#[ignore = "the full soak, one to two minutes: run with --ignored"]
fn fifty_concurrent_promotions_with_another_writer_all_land_in_one_pull_request() {
    soak(50, true);
}
