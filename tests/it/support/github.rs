//! The GitHub emulator (tests/support/github_emulator, installed by the test command): its state
//! in real bare git repositories, every request checked against GitHub's OpenAPI description and
//! GraphQL schema.
//!
//! `Emulator::shared` gives a test a repository and a token of its own on the one emulator this
//! test binary shares (see `support/mod.rs`).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::{repo_root, stand_in};

/// The owner of every test's repository; the name is `REPO` numbered per test.
pub const OWNER: &str = "example-org";
pub const REPO: &str = "flux-gitops-pipeline";

/// Control endpoints that change what every repository sees; the handle refuses them, as
/// every test shares the emulator.
const GLOBAL: &[(&str, &str)] = &[
    ("POST", "/_emulator/reset"),
    ("DELETE", "/_emulator/flux"),
    ("POST", "/_emulator/flux/flush"),
    ("POST", "/_emulator/flux/receiver"),
    ("DELETE", "/_emulator/faults"),
    ("DELETE", "/_emulator/requests"),
    ("DELETE", "/_emulator/violations"),
];

/// A repository on an emulator, with a token that can write it.
pub struct Emulator {
    pub url: String,
    pub owner: String,
    pub repo: String,
    /// Writes the repository; also the key of this test's faults, request log and violations.
    pub token: String,
}

/// The shared emulator: started by the first test that asks, once per test binary, and stopped
/// when the binary exits (its wrapper sees the pipe close; see `stand_in::spawn`).
struct Shared {
    url: String,
    _process: Child,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(1);

/// Starts an emulator process with its state in `state`; returns it and its URL.
fn launch(state: &Path) -> Result<(Child, String), String> {
    stand_in::require_installed();
    let script = repo_root().join("tests/support/github_emulator/run.sh");
    let argv: [&OsStr; 6] = [
        "bash".as_ref(),
        script.as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--state-dir".as_ref(),
        state.as_ref(),
    ];
    let mut child = stand_in::spawn(&argv, Some(state), Stdio::piped(), Stdio::inherit());
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
    match line.trim().strip_prefix("listening on ") {
        Some(addr) => Ok((child, format!("http://{addr}"))),
        None => {
            stand_in::stop(&mut child);
            Err(format!(
                "the GitHub emulator did not start (its error is above); run ./scripts/test, \
                 which installs it: {line:?}"
            ))
        }
    }
}

fn shared_url() -> String {
    let shared = SHARED.get_or_init(|| {
        let state = tempfile::tempdir().expect("state dir").keep();
        launch(&state).map(|(process, url)| Shared {
            url,
            _process: process,
        })
    });
    match shared {
        Ok(shared) => shared.url.clone(),
        Err(e) => panic!("{e}"),
    }
}

impl Emulator {
    /// A repository of this test's own, seeded from `seed`, on the emulator the test binary
    /// shares, with a token (and login) of its own. Faults set through this handle fire only for
    /// that token, and `requests()` and `assert_no_violations()` see only its requests, so tests
    /// run in parallel without seeing each other.
    pub fn shared(seed: &Path) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let emulator = Self {
            url: shared_url(),
            owner: OWNER.to_owned(),
            repo: format!("{REPO}-{n}"),
            token: format!("ghp_writer{n:030}"),
        };
        emulator.seed(seed, &format!("promoter-{n}"));
        emulator
    }

    fn seed(&self, seed: &Path, login: &str) {
        self.control("POST", "/_emulator/repos", json!({
            "owner": self.owner, "name": self.repo, "default_branch": "main", "seed_dir": seed, "collaborators": ["octocat"],
        }));
        self.control(
            "POST",
            "/_emulator/tokens",
            json!({ "token": self.token, "login": login, "repos": { self.full_name(): "write" } }),
        );
    }

    /// `owner/name`, as the `gitops_repo` input takes it.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    /// Another token, for a login of its own, with `permission` ("read", "write", ...) on this
    /// repository, or none at all for "none".
    pub fn add_token(&self, login: &str, permission: &str) -> String {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let token = format!("ghp_{login}{n:0>width$}", width = 36 - login.len().min(30));
        let repos = if permission == "none" {
            json!({})
        } else {
            json!({ self.full_name(): permission })
        };
        self.control(
            "POST",
            "/_emulator/tokens",
            json!({ "token": token, "login": format!("{login}-{n}"), "repos": repos }),
        );
        token
    }

    /// A control request (`/_emulator/...`). Faults, limits, missing mutations (`/schema`) and
    /// Flux instances are scoped to this test's token and the request log and violations
    /// filtered by it; endpoints that change every repository's world are refused.
    #[track_caller]
    pub fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let mut path = path.to_owned();
        let mut body = body;
        assert!(
            !GLOBAL
                .iter()
                .any(|(m, p)| *m == method && path.split('?').next() == Some(*p)),
            "{method} {path} changes the emulator for every test sharing it"
        );
        // (A Flux instance watches one repository; with the token, its Receiver's calls,
        // which carry none, join this test's scope.)
        let scoped = [
            "/_emulator/faults",
            "/_emulator/limits",
            "/_emulator/schema",
            "/_emulator/flux",
        ];
        if method == "POST" && scoped.contains(&path.as_str()) && body.get("token").is_none() {
            body["token"] = Value::String(self.token.clone());
        }
        if method == "GET"
            && (path.starts_with("/_emulator/requests")
                || path.starts_with("/_emulator/violations"))
            && !path.contains("token=")
        {
            let sep = if path.contains('?') { '&' } else { '?' };
            path = format!("{path}{sep}token={}", self.token);
        }
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
            &format!("/_emulator/repos/{}/git-dir", self.full_name()),
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

    /// Every contract violation recorded so far (on the shared emulator: of requests carrying
    /// this test's token); a test ends by asserting there is none.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        let v = self.control("GET", "/_emulator/violations", Value::Null);
        assert_eq!(v, json!([]), "contract violations: {v:#}");
    }

    /// Adds a fault (`POST /_emulator/faults`); on the shared emulator it fires only for this
    /// test's token.
    pub fn fault(&self, fault: Value) {
        self.control("POST", "/_emulator/faults", fault);
    }

    /// The request log (on the shared emulator: requests carrying this test's token).
    pub fn requests(&self) -> Vec<Value> {
        self.control("GET", "/_emulator/requests", Value::Null)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}
