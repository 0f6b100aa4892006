//! The GitHub emulator (tests/support/github_emulator, installed by the test command): one per
//! test, its state in real bare git repositories, every request checked against GitHub's
//! OpenAPI description and GraphQL schema.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::repo_root;

pub const OWNER: &str = "example-org";
pub const REPO: &str = "flux-gitops-pipeline";
pub const TOKEN: &str = "ghp_writer0000000000000000000000000000";

pub struct Emulator {
    child: Child,
    pub url: String,
    _state: tempfile::TempDir,
}

impl Emulator {
    /// Starts an emulator with the repository seeded from `seed` and a token that can write it.
    pub fn start(seed: &Path) -> Self {
        let script = repo_root().join("tests/support/github_emulator/run.sh");
        let state = tempfile::tempdir().expect("state dir");
        let mut child = Command::new("bash")
            .arg(&script)
            .args(["--port", "0", "--state-dir"])
            .arg(state.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the emulator starts (run ./scripts/test, which installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the emulator says where it listens");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected: {line}"));
        let emulator = Self {
            child,
            url: format!("http://{addr}"),
            _state: state,
        };
        emulator.control("POST", "/_emulator/repos", json!({
            "owner": OWNER, "name": REPO, "default_branch": "main", "seed_dir": seed, "collaborators": ["octocat"],
        }));
        emulator.control("POST", "/_emulator/tokens", json!({
            "token": TOKEN, "login": "promoter", "repos": { format!("{OWNER}/{REPO}"): "write" },
        }));
        emulator
    }

    pub fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let url = format!("{}{path}", self.url);
        let mut resp = match method {
            "GET" => agent.get(&url).call(),
            "DELETE" => agent.delete(&url).call(),
            _ => agent.post(&url).send_json(&body),
        }
        .expect("control request");
        let status = resp.status();
        let value: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }

    pub fn git_dir(&self) -> PathBuf {
        let v = self.control(
            "GET",
            &format!("/_emulator/repos/{OWNER}/{REPO}/git-dir"),
            Value::Null,
        );
        PathBuf::from(v["git_dir"].as_str().expect("git_dir"))
    }

    /// `git --git-dir <bare repo> ARGS`, stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(self.git_dir())
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every contract violation recorded so far; a test ends by asserting there is none.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        let v = self.control("GET", "/_emulator/violations", Value::Null);
        assert_eq!(v, json!([]), "contract violations: {v:#}");
    }

    pub fn fault(&self, fault: Value) {
        self.control("POST", "/_emulator/faults", fault);
    }

    pub fn requests(&self) -> Vec<Value> {
        self.control("GET", "/_emulator/requests", Value::Null)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
