//! Closing the loop (issue 12): after the commit lands, the real binary calls Flux's Receiver,
//! records a deployment on the application repository and waits for Flux's verdict in the
//! GitOps repository's commit statuses. The GitHub emulator plays GitHub and Flux: its Flux
//! simulator posts Flux-shaped statuses on the revision it applies (only the newest, skipping
//! superseded commits), and its Receiver checks the signature. Every request is validated
//! against GitHub's OpenAPI description and GraphQL schema. No test measures time: Flux is
//! driven by the Receiver, by faults, or by small delays, and the wait ends on a verdict.

use std::collections::BTreeMap;
use std::fs;

use serde_json::{Value, json};

use crate::github::promote;
use crate::support::github::Emulator;
use crate::support::{Result as RunResult, Run, repo_root};

const SECRET: &str = "receiver-token-0123456789";
const PLATFORM: &str = "kustomization/sample-saas-app-platform";
const ANALYTICS: &str = "kustomization/sample-saas-app-analytics";

/// The example GitOps repository on the emulator the tests share, watched by a Flux instance
/// of its own (with a Receiver at a path of its own), and an application repository beside it
/// with one commit and a workflow token that may write its deployments, as
/// `permissions: deployments: write` gives GITHUB_TOKEN. Each test's names are its own.
struct Loop {
    emu: Emulator,
    /// The application repository, `owner/sample-saas-app` (`GITHUB_REPOSITORY`).
    app: String,
    /// The workflow token (`github_token`) and its login.
    app_token: String,
    app_login: String,
    /// The application commit the workflow built (`GITHUB_SHA`).
    app_sha: String,
    /// The Flux simulator's instance: `contexts` by name and `webhook_path`.
    flux: Value,
}

impl Loop {
    fn start(flux: Value) -> Self {
        Self::with_deployments(flux, "write")
    }

    fn with_deployments(flux: Value, deployments: &str) -> Self {
        let emu = Emulator::shared(&repo_root().join("examples/flux-gitops-pipeline"));
        // Unique per test: the gitops repository's name (the shared emulator numbers them).
        let unique = emu.repo.clone();
        let owner = format!("example-org-{unique}");
        let app = emu.control(
            "POST",
            "/_emulator/repos",
            json!({ "owner": owner, "name": "sample-saas-app", "files": { "README.md": "the app\n" } }),
        );
        let app_token = format!("ghs_{:0>36}", unique.replace('-', ""));
        let app_login = format!("cd-workflow-{unique}");
        let app_repo = format!("{owner}/sample-saas-app");
        emu.control(
            "POST",
            "/_emulator/tokens",
            json!({
                "token": app_token, "login": app_login, "kind": "integration",
                "repos": { app_repo.clone(): "write" }, "permissions": { "deployments": deployments },
            }),
        );
        let mut config = flux;
        config["repo"] = json!(emu.full_name());
        config["branch"] = json!("main");
        if let Some(receiver) = config.get_mut("receiver") {
            receiver["name"] = json!(format!("gitops-promote-{unique}"));
        }
        let flux = emu.control("POST", "/_emulator/flux", config);
        Self {
            app_sha: app["head"].as_str().expect("head").to_owned(),
            app: app_repo,
            app_token,
            app_login,
            emu,
            flux,
        }
    }

    /// `https://host/hook/...`, the Receiver's URL.
    fn hook_url(&self) -> String {
        format!(
            "{}{}",
            self.emu.url,
            self.flux["webhook_path"].as_str().expect("a receiver")
        )
    }

    fn context(&self, name: &str) -> String {
        self.flux["contexts"][name]
            .as_str()
            .expect("context")
            .to_owned()
    }

    /// A promotion that waits for `wait_for` and records a `dev` deployment.
    fn run(&self, wait_for: &str) -> Run {
        promote(&self.emu)
            .env("GITHUB_SHA", &self.app_sha)
            .env("GITHUB_REPOSITORY", &self.app)
            .input("wait_for", wait_for)
            .input("deployment_environment", "dev")
            .input("deployment_url", "https://dev.sample-saas-app.example.com")
            .input("github_token", &self.app_token)
    }

    fn with_webhook(&self, run: Run) -> Run {
        run.input("flux_webhook_url", self.hook_url())
            .input("flux_webhook_secret", SECRET)
    }

    fn head(&self) -> String {
        self.emu.git(&["rev-parse", "main"]).trim().to_owned()
    }

    /// The deployments of the application repository, each with its statuses oldest first.
    fn deployments(&self) -> Vec<Value> {
        let all = self.emu.control("GET", "/_emulator/statuses", Value::Null);
        all["deployments"]
            .as_array()
            .expect("deployments")
            .iter()
            .filter(|d| {
                d["repo"]
                    .as_str()
                    .is_some_and(|r| r.eq_ignore_ascii_case(&self.app))
            })
            .cloned()
            .collect()
    }

    /// The one deployment, checked against what every run records, and its status states.
    #[track_caller]
    fn deployment(&self, gitops_commit: &str) -> (Value, Vec<String>) {
        let deployments = self.deployments();
        assert_eq!(deployments.len(), 1, "{deployments:#?}");
        let d = deployments[0].clone();
        assert_eq!(d["sha"], json!(self.app_sha));
        assert_eq!(
            d["ref"],
            json!(self.app_sha),
            "the exact commit, not a branch"
        );
        assert_eq!(d["environment"], json!("dev"));
        assert_eq!(d["creator"], json!(self.app_login));
        assert_eq!(
            d["payload"]["gitops_repository"],
            json!(self.emu.full_name())
        );
        assert_eq!(d["payload"]["gitops_commit"], json!(gitops_commit));
        assert_eq!(d["payload"]["gitops_branch"], json!("main"));
        let states = d["statuses"]
            .as_array()
            .expect("statuses")
            .iter()
            .map(|s| s["state"].as_str().expect("state").to_owned())
            .collect();
        for s in d["statuses"].as_array().expect("statuses") {
            assert_eq!(
                s["log_url"],
                json!(format!("https://github.com/{}/actions/runs/777", self.app)),
                "every status links the workflow run"
            );
            assert!(
                s["description"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .count()
                    <= 140,
                "{s}"
            );
        }
        (d, states)
    }

    /// No request of either token broke GitHub's contracts.
    #[track_caller]
    fn assert_no_violations(&self) {
        self.emu.assert_no_violations();
        let path = format!("/_emulator/violations?token={}", self.app_token);
        let v = self.emu.control("GET", &path, Value::Null);
        assert_eq!(
            v,
            json!([]),
            "contract violations of the workflow token: {v:#}"
        );
    }

    /// The Flux simulator's events for this test's repository.
    fn events(&self) -> Vec<Value> {
        let repo = self.emu.full_name();
        self.emu.control("GET", "/_emulator/flux", Value::Null)["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["repo"]
                    .as_str()
                    .is_some_and(|r| r.eq_ignore_ascii_case(&repo))
            })
            .cloned()
            .collect()
    }
}

/// The run with its outputs and step summary written to files, as the runner names them.
struct Finished {
    out: RunResult,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl Finished {
    #[track_caller]
    fn success(self) -> Self {
        assert_eq!(
            self.out.code(),
            Some(0),
            "expected success:\n{}",
            self.out.all()
        );
        self
    }

    fn flux_status(&self) -> Value {
        serde_json::from_str(&self.outputs["flux_status"]).expect("flux_status is JSON")
    }
}

fn finish(run: Run) -> Finished {
    let files = tempfile::tempdir().expect("temp dir");
    let (output, summary) = (files.path().join("output"), files.path().join("summary"));
    fs::write(&output, "").expect("create");
    fs::write(&summary, "").expect("create");
    let out = run
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output();
    let mut outputs = BTreeMap::new();
    let text = fs::read_to_string(&output).expect("outputs");
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delimiter) = line.split_once("<<").expect("heredoc form");
        let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
        outputs.insert(name.to_owned(), value.join("\n"));
    }
    Finished {
        out,
        outputs,
        summary: fs::read_to_string(&summary).expect("summary"),
    }
}

/// The statuses reads (REST and GraphQL) the run made, in order.
fn status_reads(emu: &Emulator) -> Vec<Value> {
    emu.requests()
        .into_iter()
        .filter(|r| {
            r["path"].as_str().is_some_and(|p| p.ends_with("/status"))
                || r["graphql"]["operation_name"] == json!("FluxStatuses")
        })
        .collect()
}

/// The whole loop on the happy path: the Receiver call is signed and accepted, Flux applies
/// our commit and reports success on it, and the deployment goes in_progress -> success with
/// the environment's URL.
#[test]
fn waits_for_success_on_its_own_commit_and_records_the_deployment() {
    let l = Loop::start(json!({
        "kustomizations": ["sample-saas-app-platform", "sample-saas-app-analytics"],
        "delay_ms": -1,
        "receiver": { "secret": SECRET, "type": "generic-hmac" },
    }));
    let done = finish(
        l.with_webhook(l.run("sample-saas-app-platform\nKustomization/sample-saas-app-analytics")),
    );
    let done = done.success();
    let out = &done.out;
    let ours = l.head();
    assert_eq!(done.outputs["commit_sha"], ours);
    assert_eq!(done.outputs["reconciled"], "true");
    let status = done.flux_status();
    for (object, name) in [
        (PLATFORM, "sample-saas-app-platform"),
        (ANALYTICS, "sample-saas-app-analytics"),
    ] {
        assert_eq!(
            status[object],
            json!({
                "state": "success", "description": "reconciliation succeeded",
                "commit": ours, "context": l.context(name),
            }),
            "{status:#}"
        );
    }
    assert!(
        out.stdout().contains(&format!(
            "::notice::Flux reconciled {PLATFORM} on {short}, {ANALYTICS} on {short}",
            short = &ours[..7]
        )),
        "{}",
        out.stdout()
    );
    assert!(
        done.summary
            .contains("| object | state | description | commit |")
    );
    assert!(
        done.summary.contains(&format!(
            "| `{PLATFORM}` | success | reconciliation succeeded | `{}` |",
            &ours[..7]
        )),
        "{}",
        done.summary
    );

    // The Receiver saw one signed call, which it accepted, naming our commit.
    let calls: Vec<Value> = l
        .emu
        .requests()
        .into_iter()
        .filter(|r| r["api"] == json!("receiver"))
        .collect();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0]["status"], json!(200));
    assert!(
        calls[0]["headers"]["x-signature"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256=")),
        "{:#}",
        calls[0]
    );
    assert_eq!(calls[0]["body"]["commit"], json!(ours));
    assert!(
        !out.all()
            .lines()
            .any(|line| !line.starts_with("::add-mask::")
                && (line.contains(SECRET) || line.contains(&l.app_token))),
        "a secret leaked"
    );
    assert!(out.stdout().contains(&format!("::add-mask::{SECRET}")));

    let (d, states) = l.deployment(&ours);
    assert_eq!(states, ["in_progress", "success"]);
    let last = &d["statuses"][1];
    assert_eq!(
        last["environment_url"],
        json!("https://dev.sample-saas-app.example.com")
    );
    assert_eq!(d["payload"]["wait_for"], json!([PLATFORM, ANALYTICS]));
    assert!(
        done.summary.contains("**Deployment:** `dev`"),
        "{}",
        done.summary
    );
    l.assert_no_violations();
}

/// Flux reports only the revision it applied: another commit lands on top of ours before the
/// reconcile, so our commit never gets a status, and the success on the later commit (which
/// contains ours) counts. Containment comes from the branch's history in the same query.
#[test]
fn success_only_on_a_later_commit_that_contains_ours_counts() {
    let l = Loop::start(json!({
        "kustomizations": ["sample-saas-app-platform"],
        "delay_ms": -1,
        "receiver": { "secret": SECRET, "type": "generic-hmac" },
    }));
    // Another writer's commit lands just before the Receiver call is served: Flux then
    // reconciles that head.
    l.emu.fault(json!({
        "method": "POST", "path_regex": "^/hook/",
        "commit": { "repo": l.emu.full_name(), "branch": "main", "files": { "README.md": "another writer\n" }, "message": "docs: another writer" },
    }));
    let done = finish(l.with_webhook(l.run("sample-saas-app-platform")));
    let done = done.success();
    let later = l.head();
    let ours = done.outputs["commit_sha"].clone();
    assert_ne!(ours, later);
    assert_eq!(
        l.emu.git(&["rev-parse", "main^"]).trim(),
        ours,
        "the later commit sits on ours"
    );
    assert_eq!(done.outputs["reconciled"], "true");
    assert_eq!(done.flux_status()[PLATFORM]["commit"], json!(later));

    // Flux never reported on our commit itself.
    let events = l.events();
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == json!("status") && e["revision"] == json!(ours)),
        "{events:#?}"
    );
    // Once the head had moved, each round was one GraphQL query, and REST was not read again.
    let reads = status_reads(&l.emu);
    let first_history = reads
        .iter()
        .position(|r| r["api"] == json!("graphql"))
        .expect("the history was read");
    assert!(
        reads[first_history..]
            .iter()
            .all(|r| r["api"] == json!("graphql")),
        "{reads:#?}"
    );
    let (_, states) = l.deployment(&ours);
    assert_eq!(states, ["in_progress", "success"]);
    l.assert_no_violations();
}

/// Flux's failure fails the step with its description and the context; the outputs and the
/// summary are still written, and the deployment ends in failure with the reason.
#[test]
fn a_failure_fails_the_step_with_fluxs_words() {
    let l = Loop::start(json!({
        "kustomizations": [{ "name": "sample-saas-app-platform", "outcome": "failure" }],
        "delay_ms": -1,
        "receiver": { "secret": SECRET, "type": "generic-hmac" },
    }));
    let done = finish(l.with_webhook(l.run("sample-saas-app-platform")));
    assert_eq!(done.out.code(), Some(1), "{}", done.out.all());
    let ours = l.head();
    let context = l.context("sample-saas-app-platform");
    let stdout = done.out.stdout();
    assert!(
        stdout.contains(&format!(
            "::error::Flux reports failure for {PLATFORM} on {}: health check failed (status `{context}`)",
            &ours[..7]
        )),
        "{stdout}"
    );
    assert_eq!(done.outputs["commit_sha"], ours, "the promotion landed");
    assert_eq!(done.outputs["reconciled"], "false");
    assert_eq!(done.flux_status()[PLATFORM]["state"], json!("failure"));
    assert!(
        done.summary.contains("Flux reports a failure"),
        "{}",
        done.summary
    );

    let (d, states) = l.deployment(&ours);
    assert_eq!(states, ["in_progress", "failure"]);
    assert_eq!(
        d["statuses"][1]["description"],
        json!(format!("{PLATFORM}: health check failed"))
    );
    assert_eq!(d["statuses"][1]["environment_url"], json!(""));
    l.assert_no_violations();
}

/// An object that never reports fails the step at wait_timeout, naming it and what to check.
/// While nothing changes, every round after the first is a conditional read answered 304.
#[test]
fn no_verdict_fails_at_the_timeout_naming_the_silent_objects() {
    let l = Loop::start(json!({
        "kustomizations": [
            "sample-saas-app-platform",
            { "name": "sample-saas-app-analytics", "outcome": "none" },
        ],
        "delay_ms": -1,
        "receiver": { "secret": SECRET, "type": "generic-hmac" },
    }));
    let done = finish(
        l.with_webhook(l.run("sample-saas-app-platform, sample-saas-app-analytics"))
            .input("wait_timeout", "4"),
    );
    assert_eq!(done.out.code(), Some(1), "{}", done.out.all());
    let error = done
        .out
        .stdout()
        .lines()
        .find(|l| l.starts_with("::error::no verdict from Flux"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{}", done.out.stdout()));
    assert!(error.contains("wait_timeout (4 s)"), "{error}");
    assert!(error.contains(&format!("`{ANALYTICS}`")), "{error}");
    assert!(!error.contains(PLATFORM), "platform did report: {error}");
    for hint in ["Provider", "Alert", "commitStatusExpr"] {
        assert!(error.contains(hint), "{hint}: {error}");
    }
    assert_eq!(done.outputs["reconciled"], "false");
    let status = done.flux_status();
    assert_eq!(status[PLATFORM]["state"], json!("success"));
    assert_eq!(
        status[ANALYTICS],
        json!({ "state": "pending", "description": "", "commit": "", "context": "" })
    );
    assert!(
        done.summary.contains(&format!(
            "| `{ANALYTICS}` | pending | (never reported) |  |"
        )),
        "{}",
        done.summary
    );

    // The branch stayed at our commit: REST reads only, the later ones 304 (free).
    let reads = status_reads(&l.emu);
    assert!(reads.len() >= 3, "{reads:#?}");
    assert!(
        reads.iter().all(|r| r["api"] != json!("graphql")),
        "{reads:#?}"
    );
    let unchanged = reads
        .iter()
        .filter(|r| r["not_modified"] == json!(true))
        .count();
    assert!(unchanged >= 1, "{reads:#?}");
    assert_eq!(
        reads.iter().filter(|r| r["status"] == json!(200)).count() + unchanged,
        reads.len()
    );

    let (d, states) = l.deployment(&l.head());
    assert_eq!(states, ["in_progress", "failure"]);
    assert_eq!(
        d["statuses"][1]["description"],
        json!(format!("no verdict from Flux within 4 s: {ANALYTICS}"))
    );
    l.assert_no_violations();
}

/// A refused webhook is a warning: Flux still reconciles at its interval (a short delay here),
/// and the step succeeds.
#[test]
fn a_refused_webhook_is_a_warning_and_the_interval_still_applies() {
    let l = Loop::start(json!({
        "kustomizations": ["sample-saas-app-platform"],
        "delay_ms": 200,
        "receiver": { "secret": SECRET, "type": "generic-hmac" },
    }));
    let done = finish(
        l.run("sample-saas-app-platform")
            .input("flux_webhook_url", l.hook_url())
            .input("flux_webhook_secret", "not-the-receivers-token"),
    );
    let done = done.success();
    let out = &done.out;
    assert!(
        out.stdout().contains(
            "::warning::the Flux Receiver refused the call (400): the signature does not match"
        ),
        "{}",
        out.stdout()
    );
    let calls: Vec<Value> = l
        .emu
        .requests()
        .into_iter()
        .filter(|r| r["api"] == json!("receiver"))
        .collect();
    assert_eq!(calls.len(), 1, "a refusal is not retried: {calls:#?}");
    assert_eq!(calls[0]["status"], json!(400));
    assert_eq!(done.outputs["reconciled"], "true");
    let (_, states) = l.deployment(&l.head());
    assert_eq!(states, ["in_progress", "success"]);
    l.assert_no_violations();
}

/// Statuses of other Kustomizations (one whose name only starts like ours among them) and a
/// stale success of ours on the commit before the promotion decide nothing: the object we wait
/// for never reports, so the wait ends without a verdict.
#[test]
fn other_objects_and_stale_statuses_are_ignored() {
    let l = Loop::start(json!({
        "kustomizations": [
            { "name": "sample-saas-app-platform", "outcome": "none" },
            "sample-saas-app-analytics",
            "sample-saas-app-platform-canary",
        ],
        "delay_ms": -1,
        "receiver": { "secret": SECRET, "type": "generic-hmac" },
    }));
    // An earlier promotion's success, on the commit ours will sit on.
    let parent = l.head();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let resp = agent
        .post(&format!(
            "{}/repos/{}/statuses/{parent}",
            l.emu.url,
            l.emu.full_name()
        ))
        .header("Authorization", &format!("Bearer {}", l.emu.token))
        .send_json(json!({
            "state": "success",
            "context": l.context("sample-saas-app-platform"),
            "description": "reconciliation succeeded",
        }))
        .expect("status posted");
    assert_eq!(resp.status(), 201);

    let done = finish(
        l.with_webhook(l.run("sample-saas-app-platform"))
            .input("wait_timeout", "3"),
    );
    assert_eq!(done.out.code(), Some(1), "{}", done.out.all());
    assert!(
        done.out.stdout().contains(&format!(
            "::error::no verdict from Flux within wait_timeout (3 s) for `{PLATFORM}`"
        )),
        "{}",
        done.out.stdout()
    );
    // The others did report on our commit.
    let ours = done.outputs["commit_sha"].clone();
    let reported: Vec<&str> = l
        .events()
        .iter()
        .filter(|e| e["event"] == json!("status") && e["revision"] == json!(ours))
        .filter_map(|e| e["name"].as_str())
        .map(|n| match n {
            "sample-saas-app-analytics" => "analytics",
            "sample-saas-app-platform-canary" => "canary",
            other => panic!("{other} reported"),
        })
        .collect();
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert_eq!(done.flux_status()[PLATFORM]["state"], json!("pending"));
    let (_, states) = l.deployment(&ours);
    assert_eq!(states, ["in_progress", "failure"]);
    l.assert_no_violations();
}

/// A rate limit while polling is waited out (until `x-ratelimit-reset`), not hammered, and the
/// wait goes on to the verdict.
#[test]
fn a_rate_limit_while_polling_is_waited_out() {
    let l = Loop::start(json!({
        "kustomizations": ["sample-saas-app-platform"],
        "delay_ms": -1,
        "receiver": { "secret": SECRET, "type": "generic-hmac" },
    }));
    l.emu.fault(json!({
        "kind": "rate_limit", "method": "GET", "path_regex": "/commits/main/status",
    }));
    let done = finish(l.with_webhook(l.run("sample-saas-app-platform")));
    let done = done.success();
    assert_eq!(done.outputs["reconciled"], "true");
    let reads = status_reads(&l.emu);
    assert_eq!(reads[0]["status"], json!(429), "{reads:#?}");
    assert_eq!(
        reads.iter().filter(|r| r["status"] == json!(429)).count(),
        1,
        "one refusal, then a wait: {reads:#?}"
    );
    assert_eq!(reads[1]["status"], json!(200));
    let (_, states) = l.deployment(&l.head());
    assert_eq!(states, ["in_progress", "success"]);
    l.assert_no_violations();
}

/// Without `wait_for` the deployment succeeds at once. A token without `deployments: write`
/// fails the step after the promotion landed, naming the permission; in `pull_request` mode
/// nothing is recorded, and the run says why.
#[test]
fn the_deployment_without_waiting_and_when_it_is_refused() {
    let l = Loop::start(json!({ "kustomizations": ["sample-saas-app-platform"], "delay_ms": -1 }));
    let done = finish(l.run(""));
    let done = done.success();
    assert_eq!(done.outputs["reconciled"], "", "not waiting");
    assert_eq!(done.outputs["flux_status"], "");
    let (_, states) = l.deployment(&l.head());
    assert_eq!(states, ["in_progress", "success"]);
    l.assert_no_violations();

    let refused = Loop::with_deployments(
        json!({ "kustomizations": ["sample-saas-app-platform"], "delay_ms": -1 }),
        "read",
    );
    let done = finish(refused.run(""));
    assert_eq!(done.out.code(), Some(1), "{}", done.out.all());
    assert!(
        done.out
            .stdout()
            .contains("recording a deployment needs github_token with `deployments: write`"),
        "{}",
        done.out.stdout()
    );
    assert_eq!(
        done.outputs["commit_sha"],
        refused.head(),
        "the promotion landed"
    );
    assert!(refused.deployments().is_empty());

    let pr = finish(
        refused
            .run("sample-saas-app-platform")
            .input("mode", "pull_request"),
    );
    let pr = pr.success();
    let out = &pr.out;
    assert!(
        out.stdout()
            .contains("::notice::pull_request mode: nothing reaches the cluster"),
        "{}",
        out.stdout()
    );
    assert!(refused.deployments().is_empty());
    assert_eq!(pr.outputs["reconciled"], "");
    refused.assert_no_violations();
}
