//! The fault matrix (issue 9, item 6): for every external call of a run (the OIDC token, STS,
//! ECR, and each GitHub call of commit mode, the REST Git Data path and pull request mode), a
//! fault injected at exactly that step: a 5xx (once, and on every attempt), a hang (accepted,
//! never answered), a connection reset (before the request is served, and for writes after),
//! rate limits (403 and 429, with and without `retry-after`, GitHub's primary limit and its
//! GraphQL forms), and a malformed body (before, and for writes after, the request is served).
//!
//! What must hold for every case: the run ends by itself (exit 0, or exit 1 with an `::error`
//! naming the step) within its deadline (`timeout_seconds`) plus a generous guard; no partial
//! commit; no duplicate commit or pull request after a re-sent write; no pull request closed;
//! the base branch only ever moves forward; and a run after a failed one, with the fault gone,
//! converges on exactly one promotion. Every case runs; the failures are reported together.
//!
//! The GitHub faults are the emulator's (`POST /_emulator/faults`); the AWS ones come from a
//! stand-in for the runner's OIDC endpoint and a proxy in front of moto, both in this file.

use std::collections::VecDeque;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Run;
use crate::support::aws::{Moto, OIDC_JWT, OIDC_REQUEST_TOKEN, REGION};
use crate::support::github::Emulator;

pub(crate) const OLD_TAG: &str = "sha-0000000";
const TAG: &str = "sha-1a2b3c4";
/// The tag of the run that opens the pull request a case then updates.
const PRIME_TAG: &str = "sha-0000001";
const PR_BRANCH: &str = "gitops-promote/sample-saas-app";
const BASE_FILE: &str = "apps/sample-saas-app/base/kustomization.yaml";
const OVERLAY_FILE: &str = "apps/sample-saas-app/overlays/platform/kustomization.yaml";
/// The run's deadline: long enough for a 1-3 s rate-limit wait on a loaded machine, shorter
/// than the minute GitHub asks for after a secondary limit without `retry-after`.
const TIMEOUT_S: u64 = 12;
/// The deadline of a run that meets a hang: short, as the hang costs all of it.
const HANG_TIMEOUT_S: u64 = 5;
/// How long past its deadline a run may take before the guard kills it (and the case fails).
const GUARD: Duration = Duration::from_secs(TIMEOUT_S + 15);
const WORKERS: usize = 12;

pub(crate) const BASE_TEXT: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\nimages:\n  - name: backend\n    newTag: sha-0000000\n  - name: frontend\n    newTag: sha-0000000 # keep\n";
const OVERLAY_TEXT: &str =
    "resources:\n  - ../../base\nimages:\n  - name: backend\n    newTag: sha-0000000\n";

// ------------------------------------------------------------------------------------------
// Steps and faults

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Oidc,
    Sts,
    Ecr,
    /// The one GraphQL read of the branch and its files.
    Snapshot,
    /// `createCommitOnBranch` in commit mode.
    Commit,
    /// The REST Git Data path (an executable kustomization file keeps its mode that way).
    RestTree,
    RestCommit,
    RestRef,
    /// Pull request mode: `createRef` + `createCommitOnBranch` on a temporary branch.
    BuildOffBranch,
    /// Pull request mode: the PR branch moves once (`updateRefs`).
    UpdateRefs,
    CreatePullRequest,
    UpdatePullRequest,
    Labels,
    Reviewers,
}

const STEPS: [Step; 14] = [
    Step::Oidc,
    Step::Sts,
    Step::Ecr,
    Step::Snapshot,
    Step::Commit,
    Step::RestTree,
    Step::RestCommit,
    Step::RestRef,
    Step::BuildOffBranch,
    Step::UpdateRefs,
    Step::CreatePullRequest,
    Step::UpdatePullRequest,
    Step::Labels,
    Step::Reviewers,
];

impl Step {
    fn aws(self) -> bool {
        matches!(self, Step::Oidc | Step::Sts | Step::Ecr)
    }

    fn pull_request_mode(self) -> bool {
        matches!(
            self,
            Step::BuildOffBranch
                | Step::UpdateRefs
                | Step::CreatePullRequest
                | Step::UpdatePullRequest
                | Step::Labels
                | Step::Reviewers
        )
    }

    /// Whether the call changes state, so that a lost answer leaves the question "did it land?".
    fn write(self) -> bool {
        !matches!(self, Step::Oidc | Step::Sts | Step::Ecr | Step::Snapshot)
    }

    fn graphql(self) -> Option<&'static str> {
        Some(match self {
            Step::Snapshot => "repository",
            Step::Commit => "createCommitOnBranch",
            Step::BuildOffBranch => "createRef",
            Step::UpdateRefs => "updateRefs",
            Step::CreatePullRequest => "createPullRequest",
            Step::UpdatePullRequest => "updatePullRequest",
            _ => return None,
        })
    }

    /// REST method and the end of the path.
    fn rest(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Step::RestTree => ("POST", "/git/trees"),
            Step::RestCommit => ("POST", "/git/commits"),
            Step::RestRef => ("PATCH", "/git/refs/heads/main"),
            Step::Labels => ("POST", "/labels"),
            Step::Reviewers => ("POST", "/requested_reviewers"),
            _ => return None,
        })
    }

    /// The emulator's matcher for this step's requests.
    fn matcher(self) -> Value {
        if let Some(field) = self.graphql() {
            let mut m = json!({ "path_regex": "^/graphql$", "graphql_field": field });
            if self == Step::Snapshot {
                m["body_regex"] = json!("query Snapshot");
            }
            m
        } else if let Some((method, end)) = self.rest() {
            json!({ "method": method, "path_regex": format!("{}$", end.replace('/', "\\/")) })
        } else {
            unreachable!("AWS steps have no emulator matcher")
        }
    }

    /// Whether a logged emulator request is one of this step's.
    fn matches(self, entry: &Value) -> bool {
        if let Some(field) = self.graphql() {
            let fields = entry["graphql"]["fields"].as_array();
            let named = entry["graphql"]["operation_name"].as_str();
            fields.is_some_and(|f| f.iter().any(|f| f == field))
                && (self != Step::Snapshot || named == Some("Snapshot"))
        } else if let Some((method, end)) = self.rest() {
            entry["method"] == method && entry["path"].as_str().is_some_and(|p| p.ends_with(end))
        } else {
            false
        }
    }

    /// Words one of which a failure's `::error` must contain: the step, named.
    fn names(self) -> &'static [&'static str] {
        match self {
            Step::Oidc => &["OIDC"],
            Step::Sts => &["STS"],
            Step::Ecr => &["ECR"],
            Step::Snapshot => &["reading example-org/flux-gitops-pipeline"],
            Step::Commit | Step::RestTree | Step::RestCommit | Step::RestRef => {
                &["committing to example-org/flux-gitops-pipeline"]
            }
            Step::BuildOffBranch => &["building the pull request commit"],
            Step::UpdateRefs => &["moving example-org/flux-gitops-pipeline"],
            Step::CreatePullRequest => &["opening the pull request"],
            Step::UpdatePullRequest => &["updating the pull request"],
            Step::Labels => &["labelling the pull request"],
            Step::Reviewers => &["requesting reviewers"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 500, once.
    ServerErrorOnce,
    /// 502 on every attempt.
    BadGatewayAlways,
    /// The connection is accepted and never answered.
    Hang,
    /// The connection is reset before the request is served, once.
    Reset,
    /// A write is served, then its connection reset: did it land?
    ResetAfterWrite,
    /// 403 and 429 with `retry-after: 1`, once.
    Limit403RetryAfter,
    Limit429RetryAfter,
    /// 403 and 429 without `retry-after`, once (GitHub: wait at least a minute).
    Limit403NoHint,
    Limit429NoHint,
    /// GitHub's primary limit: 403, `x-ratelimit-remaining: 0`, reset in 2 s.
    PrimaryLimit,
    /// GraphQL's limit: HTTP 200 and `RATE_LIMITED` (and the newer `RATE_LIMIT`), reset in 2 s.
    GraphQlRateLimited,
    GraphQlRateLimit,
    /// HTTP 200 with a truncated body, not served.
    Malformed,
    /// A write is served, and its answer arrives truncated.
    MalformedAfterWrite,
}

const KINDS: [Kind; 14] = [
    Kind::ServerErrorOnce,
    Kind::BadGatewayAlways,
    Kind::Hang,
    Kind::Reset,
    Kind::ResetAfterWrite,
    Kind::Limit403RetryAfter,
    Kind::Limit429RetryAfter,
    Kind::Limit403NoHint,
    Kind::Limit429NoHint,
    Kind::PrimaryLimit,
    Kind::GraphQlRateLimited,
    Kind::GraphQlRateLimit,
    Kind::Malformed,
    Kind::MalformedAfterWrite,
];

/// The secondary-limit message GitHub sends.
const SECONDARY: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.";

impl Kind {
    /// Whether the case is worth running: served-then-lost faults only on writes, GitHub's own
    /// limits only on GitHub, GraphQL's only on GraphQL; hangs on a few steps (each costs the
    /// whole deadline).
    fn applies(self, step: Step) -> bool {
        match self {
            Kind::ResetAfterWrite | Kind::MalformedAfterWrite => step.write(),
            Kind::PrimaryLimit => !step.aws(),
            Kind::GraphQlRateLimited | Kind::GraphQlRateLimit => step.graphql().is_some(),
            Kind::Hang => matches!(
                step,
                Step::Oidc
                    | Step::Sts
                    | Step::Ecr
                    | Step::Snapshot
                    | Step::Commit
                    | Step::UpdateRefs
                    | Step::CreatePullRequest
            ),
            _ => true,
        }
    }

    /// The emulator fault, merged into the step's matcher.
    fn github(self, step: Step) -> Value {
        let mut f = step.matcher();
        let extra = match self {
            Kind::ServerErrorOnce => json!({ "kind": "server_error" }),
            Kind::BadGatewayAlways => json!({ "kind": "bad_gateway", "count": -1 }),
            Kind::Hang => json!({ "connection": "hang", "count": -1 }),
            Kind::Reset => json!({ "connection": "reset" }),
            Kind::ResetAfterWrite => json!({ "connection": "reset", "lose_response": true }),
            Kind::Limit403RetryAfter => json!({ "kind": "secondary_rate_limit" }),
            Kind::Limit429RetryAfter => json!({ "kind": "secondary_rate_limit_429" }),
            Kind::Limit403NoHint => json!({ "kind": "secondary_rate_limit_no_retry_after" }),
            Kind::Limit429NoHint => json!({
                "status": 429,
                "headers": { "content-type": "application/json; charset=utf-8",
                             "x-ratelimit-remaining": "4990", "x-ratelimit-limit": "5000" },
                "body": { "message": SECONDARY,
                          "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api" },
            }),
            Kind::PrimaryLimit => json!({ "kind": "rate_limit_403" }),
            Kind::GraphQlRateLimited => json!({ "kind": "graphql_rate_limited" }),
            Kind::GraphQlRateLimit => json!({ "kind": "graphql_rate_limit" }),
            Kind::Malformed => json!({
                "status": 200, "headers": { "content-type": "application/json; charset=utf-8" },
                "body": "{\"data\": {\"repos",
            }),
            Kind::MalformedAfterWrite => json!({
                "status": 200, "lose_response": true,
                "headers": { "content-type": "application/json; charset=utf-8" },
                "body": "{\"data\": {\"creat",
            }),
        };
        for (k, v) in extra.as_object().expect("an object") {
            f[k] = v.clone();
        }
        f
    }

    /// The AWS stand-ins' fault for this step.
    fn aws(self, step: Step) -> Fault {
        let throttle = |status: u16, retry_after: bool| {
            let mut headers = Vec::new();
            if retry_after {
                headers.push(("Retry-After", "1".to_owned()));
            }
            let (content_type, body) = match step {
                Step::Oidc => (
                    "application/json",
                    r#"{"message":"Too many requests, try again later"}"#.to_owned(),
                ),
                Step::Sts => ("text/xml", sts_error("Throttling", "Rate exceeded")),
                _ => (
                    "application/x-amz-json-1.1",
                    r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
                ),
            };
            Act::Answer {
                status,
                content_type,
                headers,
                body,
            }
        };
        let server_error = |status: u16| Act::Answer {
            status,
            content_type: match step {
                Step::Sts => "text/xml",
                Step::Ecr => "application/x-amz-json-1.1",
                _ => "application/json",
            },
            headers: Vec::new(),
            body: match step {
                Step::Sts => sts_error("InternalFailure", "internal failure"),
                Step::Ecr => {
                    r#"{"__type":"ServerException","message":"internal failure"}"#.to_owned()
                }
                _ => r#"{"message":"internal failure"}"#.to_owned(),
            },
        };
        let malformed = Act::Answer {
            status: 200,
            content_type: match step {
                Step::Sts => "text/xml",
                Step::Ecr => "application/x-amz-json-1.1",
                _ => "application/json",
            },
            headers: Vec::new(),
            body: match step {
                Step::Sts => "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWeb".to_owned(),
                Step::Ecr => r#"{"imageDetails":[{"imageDig"#.to_owned(),
                _ => r#"{"val"#.to_owned(),
            },
        };
        let (act, times) = match self {
            Kind::ServerErrorOnce => (server_error(500), Some(1)),
            Kind::BadGatewayAlways => (server_error(502), None),
            Kind::Hang => (Act::Hang, None),
            Kind::Reset => (Act::Reset, Some(1)),
            Kind::Limit403RetryAfter => (throttle(403, true), Some(1)),
            Kind::Limit429RetryAfter => (throttle(429, true), Some(1)),
            Kind::Limit403NoHint => (throttle(403, false), Some(1)),
            Kind::Limit429NoHint => (throttle(429, false), Some(1)),
            Kind::Malformed => (malformed, Some(1)),
            other => unreachable!("{other:?} is not injected on AWS"),
        };
        Fault { act, times }
    }
}

fn sts_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>c0ffee</RequestId></ErrorResponse>"#
    )
}

/// What the run must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Within its retry budget.
    Success,
    /// Exit 1, the step named.
    Failure,
    /// Either, cleanly (a malformed answer may be retried or reported).
    Either,
}

fn expect(step: Step, kind: Kind) -> Expect {
    match kind {
        Kind::BadGatewayAlways | Kind::Hang => Expect::Failure,
        // GitHub asks for a minute, longer than the deadline: fail at once, and say so. AWS
        // and the runner's OIDC endpoint ask for nothing: back off and try again.
        Kind::Limit403NoHint | Kind::Limit429NoHint if !step.aws() => Expect::Failure,
        // The OIDC endpoint refuses with a client error: no use asking again.
        Kind::Limit403NoHint | Kind::Limit403RetryAfter if step == Step::Oidc => Expect::Either,
        Kind::Malformed | Kind::MalformedAfterWrite => Expect::Either,
        _ => Expect::Success,
    }
}

// ------------------------------------------------------------------------------------------
// AWS stand-ins with faults

/// What a stand-in does with a request a fault matches.
#[derive(Debug, Clone)]
pub(crate) enum Act {
    Answer {
        status: u16,
        content_type: &'static str,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Keep the connection, answer nothing, until the client gives up.
    Hang,
    /// Close the connection with a TCP RST, the request unread.
    Reset,
}

#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub act: Act,
    /// How many matching requests it hits (`None`: all).
    pub times: Option<usize>,
}

/// Where a stand-in sends what no fault hits.
#[derive(Clone)]
pub(crate) enum Upstream {
    /// Answers as the runner's OIDC endpoint does, checking the request token.
    Oidc,
    /// Forwards to moto.
    Forward(String),
}

/// A small HTTP/1.1 server: the runner's OIDC endpoint, or a proxy in front of moto. Requests
/// whose head or body contain `matching` get the fault (while it lasts); the rest are served.
pub(crate) struct Front {
    pub url: String,
    /// Requests that matched, whether or not the fault still hit them.
    pub matched: Arc<AtomicUsize>,
    /// The answers it forwarded, as text (what moto said).
    pub answers: Arc<Mutex<Vec<String>>>,
    pub fault: Arc<Mutex<Option<(Fault, usize)>>>,
}

impl Front {
    pub fn start(upstream: Upstream, matching: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let matched = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let fault: Arc<Mutex<Option<(Fault, usize)>>> = Arc::new(Mutex::new(None));
        let (m, s, f, up) = (
            Arc::clone(&matched),
            Arc::clone(&answers),
            Arc::clone(&fault),
            upstream.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (m, s, f, up) = (Arc::clone(&m), Arc::clone(&s), Arc::clone(&f), up.clone());
                std::thread::spawn(move || {
                    let _ = handle(client, &up, matching, &f, &m, &s);
                });
            }
        });
        let url = match upstream {
            Upstream::Oidc => {
                format!("http://127.0.0.1:{port}/_apis/distributedtask/token?api-version=2.0")
            }
            Upstream::Forward(_) => format!("http://127.0.0.1:{port}"),
        };
        Self {
            url,
            matched,
            answers,
            fault,
        }
    }

    pub fn set(&self, fault: Option<Fault>) {
        *self.fault.lock().expect("lock") = fault.map(|f| (f, 0));
    }

    pub fn matched(&self) -> usize {
        self.matched.load(Ordering::SeqCst)
    }
}

/// Peeks until one whole request (head and `Content-Length` body) has arrived, leaving it unread.
fn peek_request(client: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 1 << 20];
    let started = Instant::now();
    loop {
        let n = client.peek(&mut buf)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let got = &buf[..n];
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if n >= end + 4 + length {
                return Ok(got[..end + 4 + length].to_vec());
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Ok(got.to_vec());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn handle(
    mut client: TcpStream,
    upstream: &Upstream,
    matching: &str,
    fault: &Mutex<Option<(Fault, usize)>>,
    matched: &AtomicUsize,
    answers: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let request = peek_request(&client)?;
    if request.is_empty() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    let mut act = None;
    if text.contains(matching) {
        matched.fetch_add(1, Ordering::SeqCst);
        let mut slot = fault.lock().expect("lock");
        if let Some((f, used)) = slot.as_mut()
            && f.times.is_none_or(|t| *used < t)
        {
            *used += 1;
            act = Some(f.act.clone());
        }
    }
    if let Some(Act::Reset) = act {
        // Unread bytes in the receive queue: closing now sends a RST, not a FIN.
        drop(client);
        return Ok(());
    }
    client.read_exact(&mut vec![0u8; request.len()])?;
    match act {
        Some(Act::Hang) => {
            client.set_read_timeout(Some(Duration::from_secs(120)))?;
            let mut sink = [0u8; 1024];
            while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
            Ok(())
        }
        Some(Act::Answer {
            status,
            content_type,
            headers,
            body,
        }) => {
            let extra: String = headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\r\n"))
                .collect();
            write!(
                client,
                "HTTP/1.1 {status} Injected\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                body.len()
            )
        }
        Some(Act::Reset) => unreachable!("handled above"),
        None => match upstream {
            Upstream::Oidc => answer_oidc(client, &text),
            Upstream::Forward(to) => {
                let answer = forward(client, to, &request)?;
                answers.lock().expect("lock").push(answer);
                Ok(())
            }
        },
    }
}

fn answer_oidc(mut client: TcpStream, request: &str) -> std::io::Result<()> {
    let authorized = request.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("authorization:")
            && l.trim_end()
                .ends_with(&format!("Bearer {OIDC_REQUEST_TOKEN}"))
    });
    let (status, body) = if authorized {
        ("200 OK", format!(r#"{{"count":1,"value":"{OIDC_JWT}"}}"#))
    } else {
        ("401 Unauthorized", r#"{"message":"bad token"}"#.to_owned())
    };
    write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One request to moto with `Connection: close`, its answer back the same way; returns it.
fn forward(mut client: TcpStream, upstream: &str, request: &[u8]) -> std::io::Result<String> {
    let end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..end]);
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut up = TcpStream::connect(upstream.trim_start_matches("http://"))?;
    up.write_all(head.join("\r\n").as_bytes())?;
    up.write_all(b"\r\nConnection: close\r\n\r\n")?;
    up.write_all(&request[(end + 4).min(request.len())..])?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let resp_head = String::from_utf8_lossy(&response[..split]);
    let kept: Vec<&str> = resp_head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    client.write_all(kept.join("\r\n").as_bytes())?;
    client.write_all(b"\r\nConnection: close\r\n\r\n")?;
    client.write_all(&response[(split + 4).min(response.len())..])?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

// ------------------------------------------------------------------------------------------
// Running the binary under a guard

/// A promotion on GitHub Actions into `emu`'s repository with its token: the role `role` through
/// OIDC at `oidc`, AWS (STS, ECR) at `aws`.
pub(crate) fn action(emu: &Emulator, oidc: &str, aws: &str, role: &str) -> Command {
    let github = &emu.url;
    let mut cmd = Run::actions().into_command();
    cmd.env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_API_URL", github)
        .env("GITHUB_GRAPHQL_URL", format!("{github}/graphql"))
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", oidc)
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN)
        .env("AWS_ENDPOINT_URL", aws)
        .env("AWS_REGION", REGION);
    for (name, value) in [
        ("gitops_repo", emu.full_name()),
        ("gitops_repo_token", emu.token.clone()),
        (
            "images",
            "backend=sample-saas-app/backend,frontend=sample-saas-app/frontend".to_owned(),
        ),
        ("aws_role_arn", role.to_owned()),
        ("tag", TAG.to_owned()),
        ("timeout_seconds", TIMEOUT_S.to_string()),
    ] {
        input(&mut cmd, name, value);
    }
    cmd
}

pub(crate) fn input(cmd: &mut Command, name: &str, value: impl AsRef<std::ffi::OsStr>) {
    cmd.env(format!("INPUT_{}", name.to_uppercase()), value);
}

/// A finished (or killed) run.
pub(crate) struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// Killed by the guard: it ran too long.
    pub killed: bool,
    /// `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` as written.
    pub outputs: String,
    pub summary: String,
}

impl Ran {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The `::error` annotations' text.
    pub fn errors(&self) -> String {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("::error"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// An output's value (`name<<DELIMITER` form).
    pub fn output(&self, name: &str) -> Option<String> {
        let mut lines = self.outputs.lines();
        while let Some(line) = lines.next() {
            if let Some(delimiter) = line.strip_prefix(&format!("{name}<<")) {
                let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
                return Some(value.join("\n"));
            }
        }
        None
    }
}

/// Runs `cmd` with output and summary files, killing it `guard` after the start.
pub(crate) fn run_guarded(mut cmd: Command, guard: Duration) -> Ran {
    let files = tempfile::tempdir().expect("temp dir");
    let (output, summary) = (files.path().join("output"), files.path().join("summary"));
    fs::write(&output, "").expect("write");
    fs::write(&summary, "").expect("write");
    cmd.env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the binary starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > guard {
            killed = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    Ran {
        code: status.code(),
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
        elapsed,
        killed,
        outputs: fs::read_to_string(&output).unwrap_or_default(),
        summary: fs::read_to_string(&summary).unwrap_or_default(),
    }
}

// ------------------------------------------------------------------------------------------
// The test bed: one emulator, an OIDC stand-in and a proxy in front of (a shared) moto per worker

pub(crate) fn seed_dir(executable: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in [(BASE_FILE, BASE_TEXT), (OVERLAY_FILE, OVERLAY_TEXT)] {
        let file = dir.path().join(path);
        fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
        fs::write(&file, text).expect("write");
    }
    if executable {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            dir.path().join(BASE_FILE),
            fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
    dir
}

/// Pushes the images every case promotes.
pub(crate) fn push_images(moto: &Moto, tags: &[&str]) {
    for tag in tags {
        for repository in ["sample-saas-app/backend", "sample-saas-app/frontend"] {
            moto.push(REGION, None, repository, tag);
        }
    }
}

/// One case's world: a repository and token of its own on the shared emulator (faults and the
/// request log scoped to that token), with a reflog on every branch; the runner's OIDC endpoint;
/// and a proxy in front of moto that faults STS and forwards the rest to `ecr`, which faults ECR
/// and forwards to moto.
pub(crate) struct Bed {
    pub emu: Emulator,
    pub oidc: Front,
    pub sts: Front,
    pub ecr: Front,
    /// The role the run assumes, in the test's moto account.
    pub role: String,
    pub git: Git,
}

impl Bed {
    pub fn new(moto: &Moto, seed: &Path) -> Self {
        let emu = Emulator::shared(seed);
        let git = Git::of(&emu);
        git.run(&["config", "core.logAllRefUpdates", "always"]);
        let ecr = Front::start(Upstream::Forward(moto.endpoint.clone()), "DescribeImages");
        let sts = Front::start(
            Upstream::Forward(ecr.url.clone()),
            "AssumeRoleWithWebIdentity",
        );
        let oidc = Front::start(Upstream::Oidc, "GET /_apis/distributedtask/token");
        Self {
            emu,
            oidc,
            sts,
            ecr,
            role: moto.role("gitops-promote"),
            git,
        }
    }

    pub fn command(&self, pull_request: bool) -> Command {
        let mut cmd = action(&self.emu, &self.oidc.url, &self.sts.url, &self.role);
        if pull_request {
            input(&mut cmd, "mode", "pull_request");
            input(&mut cmd, "pr_labels", "promotion");
            input(&mut cmd, "pr_reviewers", "octocat");
        }
        cmd
    }

    /// The same run with another token (and login): faults scoped to the case's token miss it.
    pub fn command_unfaulted(&self, pull_request: bool, login: &str) -> Command {
        let mut cmd = self.command(pull_request);
        input(
            &mut cmd,
            "gitops_repo_token",
            self.emu.add_token(login, "write"),
        );
        cmd
    }
}

// ------------------------------------------------------------------------------------------
// One case

struct Row {
    step: Step,
    kind: Kind,
    code: Option<i32>,
    elapsed: Duration,
    /// Requests the faulted step received (first run).
    attempts: usize,
    /// What the first run's `::error` said, shortened.
    error: String,
    /// Whether a second run, fault gone, was needed and converged.
    rerun: Option<bool>,
    problems: Vec<String>,
}

fn step_requests(bed: &Bed, step: Step) -> usize {
    match step {
        Step::Oidc => bed.oidc.matched(),
        Step::Sts => bed.sts.matched(),
        Step::Ecr => bed.ecr.matched(),
        _ => bed
            .emu
            .requests()
            .iter()
            .filter(|e| step.matches(e))
            .count(),
    }
}

pub(crate) fn emu_state(emu: &Emulator) -> Value {
    emu.control(
        "GET",
        &format!("/_emulator/repos/{}", emu.full_name()),
        Value::Null,
    )
}

/// `git --git-dir <the emulated repository>`, its path asked for once.
pub(crate) struct Git(PathBuf);

impl Git {
    pub fn of(emu: &Emulator) -> Self {
        Self(emu.git_dir())
    }

    fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new("git")
            .arg("--git-dir")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("git runs")
    }

    /// Stdout of a git command that must succeed.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command(args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn ok(&self, args: &[&str]) -> bool {
        self.command(args).status.success()
    }
}

/// Every recorded move of `branch` (reflog): `(old, new)`.
pub(crate) fn moves(git: &Git, branch: &str) -> Vec<(String, String)> {
    let log = git.0.join("logs/refs/heads").join(branch);
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

/// The moves of `branch` that were not fast-forwards.
pub(crate) fn forced_moves(git: &Git, branch: &str) -> Vec<String> {
    const ZERO: &str = "0000000000000000000000000000000000000000";
    moves(git, branch)
        .into_iter()
        .filter(|(old, new)| {
            old != ZERO && new != ZERO && !git.ok(&["merge-base", "--is-ancestor", old, new])
        })
        .map(|(old, new)| format!("{old} -> {new}"))
        .collect()
}

fn promoted(text: &str, tag: &str) -> String {
    text.replace(OLD_TAG, tag)
}

/// The state checks after a run: what landed, and that nothing else did.
fn check_state(
    bed: &Bed,
    step: Step,
    seed: &str,
    ran: &Ran,
    primed: Option<&Value>,
) -> Vec<String> {
    let (emu, git) = (&bed.emu, &bed.git);
    let mut problems = Vec::new();
    let succeeded = ran.code == Some(0);
    let main = git.run(&["rev-parse", "main"]).trim().to_owned();
    if !forced_moves(git, "main").is_empty() {
        problems.push(format!(
            "main moved without a fast-forward: {:?}",
            forced_moves(git, "main")
        ));
    }
    if step.pull_request_mode() {
        if main != seed {
            problems.push("pull request mode moved the base branch".into());
        }
        let pulls: Vec<Value> = emu_state(emu)["pulls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for pr in &pulls {
            if pr["state"] != "open" {
                problems.push(format!(
                    "pull request #{} is {} ({})",
                    pr["number"], pr["state"], pr["closed_reason"]
                ));
            }
        }
        let open: Vec<&Value> = pulls.iter().filter(|p| p["state"] == "open").collect();
        if open.len() > 1 || pulls.len() > 1 {
            problems.push(format!(
                "{} pull requests ({} open), one expected",
                pulls.len(),
                open.len()
            ));
        }
        if let (Some(primed), Some(pr)) = (primed, open.first())
            && primed["number"] != pr["number"]
        {
            problems.push(format!(
                "the open pull request #{} is not the one opened before, #{}",
                pr["number"], primed["number"]
            ));
        }
        if succeeded {
            match open.first() {
                None => problems.push("success without an open pull request".into()),
                Some(pr) => {
                    if ran.output("pull_request_number").as_deref()
                        != Some(&pr["number"].to_string())
                    {
                        problems.push(format!(
                            "output pull_request_number is {:?}, the PR is #{}",
                            ran.output("pull_request_number"),
                            pr["number"]
                        ));
                    }
                    // A run that finds nothing to change leaves the pull request as it is,
                    // its labels and reviewers included (see docs/reliability.md).
                    let labels = pr["labels"].to_string();
                    let unchanged = ran.stdout.contains("nothing to change");
                    if !labels.contains("promotion") && !unchanged {
                        problems.push(format!("the pull request lacks its label: {labels}"));
                    }
                    if !pr["requested_reviewers"].to_string().contains("octocat") && !unchanged {
                        problems.push(format!(
                            "the pull request lacks its reviewer: {}",
                            pr["requested_reviewers"]
                        ));
                    }
                }
            }
            let head = git.run(&["rev-parse", PR_BRANCH]).trim().to_owned();
            let parent = git
                .run(&["rev-parse", &format!("{PR_BRANCH}^")])
                .trim()
                .to_owned();
            if parent != main {
                problems.push("the pull request's commit does not sit on the base's head".into());
            }
            // A run that finds the values already on the PR branch commits nothing, and says so.
            let sha = ran.output("commit_sha").unwrap_or_default();
            let unchanged = sha.is_empty() && ran.stdout.contains("nothing to change");
            if sha != head && !unchanged {
                problems.push(format!(
                    "output commit_sha {sha:?} is not the PR branch head {head}"
                ));
            }
            for (file, text) in [(BASE_FILE, BASE_TEXT), (OVERLAY_FILE, OVERLAY_TEXT)] {
                if git.run(&["show", &format!("{PR_BRANCH}:{file}")]) != promoted(text, TAG) {
                    problems.push(format!("{file} on the PR branch is not fully promoted"));
                }
            }
        }
    } else {
        let landed: usize = git
            .run(&["rev-list", "--count", &format!("{seed}..main")])
            .trim()
            .parse()
            .expect("a count");
        if landed > 1 {
            problems.push(format!("{landed} commits landed: a duplicate"));
        }
        if landed == 1 {
            for (file, text) in [(BASE_FILE, BASE_TEXT), (OVERLAY_FILE, OVERLAY_TEXT)] {
                if git.run(&["show", &format!("main:{file}")]) != promoted(text, TAG) {
                    problems.push(format!("{file}: a partial commit"));
                }
            }
        }
        if succeeded {
            if landed != 1 {
                problems.push(format!("success, but {landed} commits landed"));
            }
            if ran.output("commit_sha").as_deref() != Some(main.as_str()) {
                problems.push(format!(
                    "output commit_sha {:?} is not main's head {main}",
                    ran.output("commit_sha")
                ));
            }
        }
    }
    let violations = emu.control("GET", "/_emulator/violations", Value::Null);
    if violations != json!([]) {
        problems.push(format!("contract violations: {violations}"));
    }
    problems
}

/// The run of a case: with ECR verification (OIDC, STS, ECR) only where the fault is on AWS,
/// as it adds nothing to a GitHub case but time.
fn case_command(bed: &Bed, step: Step, login: Option<&str>) -> Command {
    let mut cmd = match login {
        None => bed.command(step.pull_request_mode()),
        Some(login) => bed.command_unfaulted(step.pull_request_mode(), login),
    };
    if !step.aws() {
        input(&mut cmd, "verify_images", "false");
        input(&mut cmd, "aws_role_arn", "");
    }
    cmd
}

fn run_case(moto: &Moto, seeds: &[PathBuf; 2], step: Step, kind: Kind) -> Row {
    let rest_path = matches!(step, Step::RestTree | Step::RestCommit | Step::RestRef);
    let bed = &Bed::new(moto, &seeds[usize::from(rest_path)]);
    let seed = bed.git.run(&["rev-parse", "main"]).trim().to_owned();
    let mut problems = Vec::new();

    // Updating a pull request needs one open: a first run opens it.
    let primed = if step == Step::UpdatePullRequest {
        let mut cmd = case_command(bed, step, Some("primer"));
        input(&mut cmd, "tag", PRIME_TAG);
        let first = run_guarded(cmd, GUARD);
        if first.code != Some(0) {
            problems.push(format!(
                "the run opening the pull request failed: {}",
                first.all()
            ));
        }
        emu_state(&bed.emu)["pulls"]
            .as_array()
            .and_then(|p| p.first().cloned())
    } else {
        None
    };

    match step {
        Step::Oidc => bed.oidc.set(Some(kind.aws(step))),
        Step::Sts => bed.sts.set(Some(kind.aws(step))),
        Step::Ecr => bed.ecr.set(Some(kind.aws(step))),
        _ => bed.emu.fault(kind.github(step)),
    }
    let mut cmd = case_command(bed, step, None);
    if kind == Kind::Hang {
        input(&mut cmd, "timeout_seconds", HANG_TIMEOUT_S.to_string());
    }
    let ran = run_guarded(cmd, GUARD);
    let attempts = step_requests(bed, step);
    // The AWS faults off; the emulator's stay, scoped to the case's token, which the re-run
    // does not use.
    for front in [&bed.oidc, &bed.sts, &bed.ecr] {
        front.set(None);
    }

    if ran.killed {
        problems.push(format!(
            "still running {} s after its start (deadline {} s): killed",
            GUARD.as_secs(),
            if kind == Kind::Hang {
                HANG_TIMEOUT_S
            } else {
                TIMEOUT_S
            }
        ));
    }
    if !matches!(ran.code, Some(0 | 1)) && !ran.killed {
        problems.push(format!("exit {:?}", ran.code));
    }
    if ran.all().contains("panicked") {
        problems.push("panicked".into());
    }
    let errors = ran.errors();
    match (expect(step, kind), ran.code) {
        (Expect::Success, Some(0)) | (Expect::Either, Some(0)) | (Expect::Failure, Some(1)) => {}
        (Expect::Either, Some(1)) => {}
        (want, got) => problems.push(format!("expected {want:?}, exit {got:?}")),
    }
    if ran.code == Some(1) {
        if errors.is_empty() {
            problems.push("failed without an ::error".into());
        }
        if !step.names().iter().any(|n| errors.contains(n)) {
            problems.push(format!(
                "the error does not name the step ({:?})",
                step.names()
            ));
        }
        let limited = matches!(kind, Kind::Limit403NoHint | Kind::Limit429NoHint) && !step.aws();
        if limited && !errors.contains("rate limit") {
            problems.push("a rate limit not reported as one".into());
        }
    }
    problems.extend(check_state(bed, step, &seed, &ran, primed.as_ref()));

    // A failed run, then one without the fault: it must converge on exactly one promotion.
    // (A failed read leaves nothing behind to converge from.)
    let rerun = if ran.code == Some(0) || !step.write() {
        None
    } else {
        let again = run_guarded(case_command(bed, step, Some("rerun")), GUARD);
        let mut more = check_state(bed, step, &seed, &again, primed.as_ref());
        if again.code != Some(0) {
            more.push(format!(
                "the run after the fault failed: {}",
                again.errors()
            ));
        }
        let ok = more.is_empty();
        problems.extend(more.into_iter().map(|p| format!("re-run: {p}")));
        Some(ok)
    };
    let temporary: Vec<String> = bed
        .git
        .run(&["for-each-ref", "--format=%(refname:short)", "refs/heads/"])
        .lines()
        .filter(|r| r.contains("-tmp-"))
        .map(str::to_owned)
        .collect();
    // A run stopped by its deadline between building its commit and moving the branch leaves
    // its temporary branch; any other leaves none.
    let stopped = ran.killed || errors.contains("timeout_seconds");
    if !temporary.is_empty() && !stopped {
        problems.push(format!("temporary branches left: {temporary:?}"));
    }
    let error: String = errors
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("::error::")
        .chars()
        .take(140)
        .collect();
    Row {
        step,
        kind,
        code: ran.code,
        elapsed: ran.elapsed,
        attempts,
        error,
        rerun,
        problems,
    }
}

/// Issue 9, item 6: every external call, every fault; all cases run, failures reported together.
#[test]
fn every_external_call_survives_or_fails_cleanly_under_every_fault() {
    let moto = Moto::fresh_account();
    push_images(&moto, &[TAG, PRIME_TAG]);
    let (plain, executable) = (seed_dir(false), seed_dir(true));
    let seeds = [plain.path().to_path_buf(), executable.path().to_path_buf()];
    let only = std::env::var("FAULTS_ONLY").unwrap_or_default();
    let cases: VecDeque<(Step, Kind)> = STEPS
        .iter()
        .flat_map(|s| KINDS.iter().map(move |k| (*s, *k)))
        .filter(|(s, k)| k.applies(*s))
        .filter(|(s, k)| only.is_empty() || format!("{s:?}/{k:?}").contains(&only))
        .collect();
    let total = cases.len();
    let queue = Mutex::new(cases);
    let rows = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(total) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("lock").pop_front();
                    let Some((step, kind)) = next else { break };
                    let row = run_case(&moto, &seeds, step, kind);
                    rows.lock().expect("lock").push(row);
                }
            });
        }
    });
    let mut rows = rows.into_inner().expect("rows");
    rows.sort_by_key(|r| {
        (
            STEPS.iter().position(|s| *s == r.step),
            KINDS.iter().position(|k| *k == r.kind),
        )
    });
    report(&rows, started.elapsed());
    let failures: Vec<String> = rows
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| {
            format!(
                "{:?} / {:?}:\n    {}",
                r.step,
                r.kind,
                r.problems.join("\n    ")
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The matrix as a table on stderr (`-- --nocapture`), for docs/reliability.md.
fn report(rows: &[Row], took: Duration) {
    let mut out = String::from(
        "\n| step | fault | exit | s | attempts | re-run | error |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {:?} | {:?} | {} | {:.1} | {} | {} | {} |\n",
            r.step,
            r.kind,
            r.code.map_or("killed".into(), |c| c.to_string()),
            r.elapsed.as_secs_f64(),
            r.attempts,
            match r.rerun {
                None => "-",
                Some(true) => "converged",
                Some(false) => "FAILED",
            },
            r.error.replace('|', "\\|"),
        ));
    }
    out.push_str(&format!(
        "\n{} cases in {:.0} s\n",
        rows.len(),
        took.as_secs_f64()
    ));
    eprintln!("{out}");
}
