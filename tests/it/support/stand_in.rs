//! Starting the Python stand-ins (moto, the GitHub emulator): the one check that they are
//! installed, and processes that never outlive the test binary.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::repo_root;

/// The virtualenv the stand-ins run in: `.venv-test`, or `GITHUB_EMULATOR_VENV` as `run.sh` reads it.
pub fn venv() -> PathBuf {
    std::env::var_os("GITHUB_EMULATOR_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-test"))
}

/// Every file the stand-ins need; a fresh clone has none of them.
fn required() -> Vec<PathBuf> {
    let emulator = repo_root().join("tests/support/github_emulator");
    vec![
        venv().join("bin/moto_server"),
        // written by install.sh once the emulator's Python packages are in
        venv().join(".github-emulator-requirements"),
        emulator.join("node_modules/@octokit/openapi/generated/api.github.com.json"),
        emulator.join("node_modules/@octokit/graphql-schema/schema.graphql"),
    ]
}

/// Fails the calling test with one clear message when the stand-ins are not installed, the same
/// message whichever stand-in the test wanted.
#[track_caller]
pub fn require_installed() {
    let missing: Vec<String> = required()
        .into_iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "the test stand-ins (moto, the GitHub emulator) are not installed: run ./scripts/test \
         once, which installs them into .venv-test; then `cargo test` runs these tests too \
         (missing: {})",
        missing.join(", ")
    );
}

/// The wrapper every stand-in runs under. It holds the test binary's pipe on its stdin and,
/// when that closes (the test binary exited, however it exited, or dropped the handle), stops
/// the stand-in and removes its state directory. A background job of `sh -c` reads /dev/null,
/// so the stand-in itself never sees the pipe.
const WRAPPER: &str = r#""$@" &
pid=$!
cat >/dev/null
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if [ -n "${STAND_IN_STATE:-}" ]; then rm -rf "$STAND_IN_STATE"; fi
"#;

/// Starts `argv` under the wrapper, with `stdout` and `stderr` as given. `stop` stops it; so
/// does the test binary's exit. `state` is removed after it stopped.
pub fn spawn(argv: &[&OsStr], state: Option<&Path>, stdout: Stdio, stderr: Stdio) -> Child {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(WRAPPER)
        .arg("sh")
        .args(argv)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr);
    if let Some(state) = state {
        cmd.env("STAND_IN_STATE", state);
    }
    cmd.spawn().expect("sh starts")
}

/// Stops a stand-in started by `spawn`: closes its pipe, then waits for the wrapper.
pub fn stop(child: &mut Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}
