//! Test support: running the binary as the runner does, comparing trees byte for byte, and the
//! stand-ins for GitHub and AWS.
//!
//! # Stand-ins
//!
//! The Python stand-ins are installed by `./scripts/test` into `.venv-test`. Without them every
//! test that asks for one fails with one message saying so (`stand_in::require_installed`).
//!
//! One GitHub emulator and one moto server serve the whole test binary. Each starts when the
//! first test asks for it and stops when the binary exits, however it exits: it runs under a
//! `sh` wrapper that reads the binary's pipe and stops it at end of file (`stand_in::spawn`).
//! Tests run in parallel on them without seeing each other:
//!
//! - `github::Emulator::shared(seed)`: a repository of the test's own (`emu.full_name()`,
//!   seeded from the directory `seed`) and a token of its own (`emu.token`, for a login of its
//!   own, so rate limits are its own too). Through the handle, faults (`emu.fault(...)`) fire only
//!   for requests with that token, and `emu.requests()` and `emu.assert_no_violations()` see only
//!   those requests; limits (`/_emulator/limits`) and missing mutations (`/_emulator/schema`) set
//!   through it apply to that token only. `emu.add_token(login, permission)` makes further
//!   tokens for the repository (their requests: `GET /_emulator/requests?token=<it>` through
//!   `emu.control`). Pass `emu.url`, `emu.full_name()` and `emu.token` to the run; never the
//!   constants. Flux instances (`POST /_emulator/flux`) are scoped the same way: each watches the test's
//!   repository, and its Receiver's calls count as the test's requests. Endpoints that change
//!   every test's world (`/_emulator/reset`, clearing faults or the log) are refused.
//! - `aws::Moto::fresh_account()`: an AWS account of the test's own on the shared moto: push with
//!   `moto.push(region, None, repository, tag)`, run the action with `moto.role(name)` as
//!   `aws_role_arn` (and `moto.account_id()` as `ecr_registry_id` where needed).
//! - `aws::Moto::start()`: the default account (`DEFAULT_ACCOUNT`), which the static keys
//!   (`ACCESS_KEY_ID`) and the example's image names reach. One test holds it at a time, until
//!   the handle drops, and finds it empty; prefer `fresh_account` where the test allows.
//! - `aws::OidcIssuer` and `aws::FaultProxy` are small Rust servers, one per test.

pub mod aws;
pub mod github;
pub mod net;
pub mod stand_in;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The inputs action.yml declares (a test holds the two lists equal); the runner passes every
/// one, unset ones as "".
const INPUTS: &[&str] = gitops_promote::config::RawInputs::NAMES;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A run of the binary with a runner-like environment and nothing inherited but PATH.
pub struct Run {
    cmd: Command,
}

impl Run {
    /// As the Actions runner starts a Docker action: `GITHUB_*` set, every input present.
    pub fn actions() -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops-promote"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "example-org/sample-saas-app")
            .env("GITHUB_SHA", "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b");
        for input in INPUTS {
            cmd.env(format!("INPUT_{}", input.to_uppercase()), "");
        }
        Self { cmd }
    }

    /// As a person runs it from a shell: no runner variables at all.
    pub fn shell() -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitops-promote"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        Self { cmd }
    }

    /// Sets an input the way the runner does: `INPUT_<NAME>`.
    pub fn input(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd
            .env(format!("INPUT_{}", name.to_uppercase()), value);
        self
    }

    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(name, value);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// The command as configured, to run it another way (under limits, with a deadline).
    pub fn into_command(self) -> Command {
        self.cmd
    }

    pub fn output(mut self) -> Result {
        let out = self.cmd.output().expect("the binary runs");
        Result(out)
    }
}

pub struct Result(pub Output);

impl Result {
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Everything printed, for messages that may go to either stream.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code(), Some(0), "expected success:\n{}", self.all());
        self
    }
}

/// Every file under `dir`, relative path -> bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("inside")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, fs::read(&path).expect("readable file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Copies a directory tree into a fresh temporary directory.
pub fn copy_tree(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (rel, bytes) in snapshot(from) {
        let to = dir.path().join(&rel);
        fs::create_dir_all(to.parent().expect("has parent")).expect("mkdir");
        fs::write(to, bytes).expect("write");
    }
    dir
}

/// Describes how two snapshots differ, or `None` when they are byte-identical.
pub fn tree_diff(
    got: &BTreeMap<String, Vec<u8>>,
    want: &BTreeMap<String, Vec<u8>>,
) -> Option<String> {
    let mut out = String::new();
    for (path, bytes) in want {
        match got.get(path) {
            None => out.push_str(&format!("missing {path}\n")),
            Some(g) if g != bytes => out.push_str(&format!(
                "{path} differs:\n--- want\n{}\n--- got\n{}\n",
                String::from_utf8_lossy(bytes).escape_debug(),
                String::from_utf8_lossy(g).escape_debug()
            )),
            Some(_) => {}
        }
    }
    for path in got.keys().filter(|p| !want.contains_key(*p)) {
        out.push_str(&format!("unexpected {path}\n"));
    }
    (!out.is_empty()).then_some(out)
}
