//! Secrets (issue 9, item 8): with every debug switch on (`ACTIONS_STEP_DEBUG=true`,
//! `RUNNER_DEBUG=1`, `RUST_LOG=trace`), on the success paths and on failure paths that carry the
//! secrets furthest (a refused token, STS and ECR failures after the token exchange, a deadline,
//! and answers that echo a secret back, as a debugging proxy or a verbose error page does), the
//! GitHub token, the OIDC request token and JWT, and the AWS secret key and session token appear
//! nowhere in stdout, stderr, `GITHUB_OUTPUT` or the step summary, apart from `::add-mask::`
//! lines; and each secret the run used was announced with `::add-mask::`.

use base64::Engine as _;
use serde_json::json;

use crate::faults::{Act, Bed, Fault, Ran, input, push_images, run_guarded, seed_dir};
use crate::support::aws::{ACCESS_KEY_ID, Moto, OIDC_JWT, OIDC_REQUEST_TOKEN, SECRET_ACCESS_KEY};

const TAG: &str = "sha-1a2b3c4";
/// A token the emulator does not know (401).
const UNKNOWN_TOKEN: &str = "ghp_unknown1111111111111111111111111111";
/// The session token the static-keys case sets.
const STATIC_SESSION_TOKEN: &str = "static-session-token-5e55";

/// The forms a secret could leak in: as is, percent-encoded (a URL), and base64 (a `Basic`
/// header), whole or from the middle of a longer base64 text (its whole 3-byte groups at each of
/// the three alignments).
fn forms(secret: &str) -> Vec<String> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let bytes = secret.as_bytes();
    let mut forms = vec![secret.to_owned(), b64.encode(bytes)];
    for shift in 0..3 {
        let whole = (bytes.len() - shift) / 3 * 3;
        forms.push(b64.encode(&bytes[shift..shift + whole]));
    }
    let encoded: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    if encoded != secret {
        forms.push(encoded);
    }
    forms
}

/// Where each secret shows outside `::add-mask::` lines.
fn leaks(ran: &Ran, secrets: &[(&str, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (place, text) in [
        ("stdout", &ran.stdout),
        ("stderr", &ran.stderr),
        ("GITHUB_OUTPUT", &ran.outputs),
        ("the step summary", &ran.summary),
    ] {
        for line in text.lines() {
            if place == "stdout" && line.starts_with("::add-mask::") {
                continue;
            }
            for (name, secret) in secrets {
                if forms(secret).iter().any(|f| line.contains(f.as_str())) {
                    found.push(format!("{name} in {place}: {line}"));
                }
            }
        }
    }
    found
}

/// The credentials STS handed out, as moto answered them through the proxy.
fn issued(bed: &Bed) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for answer in bed.sts.answers.lock().expect("lock").iter() {
        for (name, tag) in [
            ("the AWS secret access key", "SecretAccessKey"),
            ("the AWS session token", "SessionToken"),
        ] {
            let open = format!("<{tag}>");
            if let Some(start) = answer.find(&open) {
                let rest = &answer[start + open.len()..];
                if let Some(end) = rest.find(&format!("</{tag}>")) {
                    out.push((name, rest[..end].to_owned()));
                }
            }
        }
    }
    out
}

struct Case {
    name: &'static str,
    /// Exit code wanted.
    code: i32,
    /// Sets up the bed and the command; returns the GitHub token the run uses, when it is not
    /// the bed's own.
    setup: fn(&Bed, &mut std::process::Command) -> Option<String>,
    /// Whether STS issues credentials in this run (it always fetches the OIDC token).
    assumes_role: bool,
    /// Whether the run must have masked the JWT and STS's credentials: it got past the read,
    /// so it held them while it printed.
    masks_aws: bool,
    /// Static AWS keys, which reach moto's default account only.
    static_keys: bool,
}

fn debug_everything(cmd: &mut std::process::Command) {
    cmd.env("ACTIONS_STEP_DEBUG", "true")
        .env("ACTIONS_RUNNER_DEBUG", "true")
        .env("RUNNER_DEBUG", "1")
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "full");
}

const CASES: &[Case] = &[
    Case {
        name: "commit mode, role through OIDC, digests pinned: success",
        code: 0,
        setup: |_, cmd| {
            input(cmd, "pin_digest", "true");
            None
        },
        assumes_role: true,
        masks_aws: true,
        static_keys: false,
    },
    Case {
        name: "pull request mode with labels and reviewers: success",
        code: 0,
        setup: |_, cmd| {
            input(cmd, "mode", "pull_request");
            input(cmd, "pr_labels", "promotion");
            input(cmd, "pr_reviewers", "octocat");
            None
        },
        assumes_role: true,
        masks_aws: true,
        static_keys: false,
    },
    Case {
        name: "static AWS keys (act, a shell): success",
        code: 0,
        setup: |_, cmd| {
            input(cmd, "aws_role_arn", "");
            cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
                .env("AWS_SESSION_TOKEN", STATIC_SESSION_TOKEN);
            None
        },
        assumes_role: false,
        masks_aws: false,
        static_keys: true,
    },
    Case {
        name: "a token GitHub does not know (401)",
        code: 1,
        setup: |_, cmd| {
            input(cmd, "gitops_repo_token", UNKNOWN_TOKEN);
            Some(UNKNOWN_TOKEN.to_owned())
        },
        assumes_role: true,
        masks_aws: false,
        static_keys: false,
    },
    Case {
        name: "a read-only token (the commit is refused)",
        code: 1,
        setup: |bed, cmd| {
            let token = bed.emu.add_token("reader", "read");
            input(cmd, "gitops_repo_token", &token);
            Some(token)
        },
        assumes_role: true,
        masks_aws: true,
        static_keys: false,
    },
    Case {
        name: "a gateway error page that echoes the request's Authorization header",
        code: 1,
        setup: |bed, _| {
            let token = &bed.emu.token;
            bed.emu.fault(json!({
                "path_regex": "^/graphql$", "count": -1, "status": 502,
                "headers": { "content-type": "text/html" },
                "body": format!("<html><h1>502</h1><pre>POST /graphql\nAuthorization: bearer {token}\nAuthorization: Basic {}</pre></html>",
                    base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"))),
            }));
            None
        },
        assumes_role: true,
        masks_aws: false,
        static_keys: false,
    },
    Case {
        name: "a GitHub refusal that quotes the token",
        code: 1,
        setup: |bed, _| {
            bed.emu.fault(json!({
                "path_regex": "^/graphql$", "graphql_field": "createCommitOnBranch", "count": -1,
                "status": 422, "body": { "message": format!("Validation failed for token {}", bed.emu.token),
                                         "documentation_url": "https://docs.github.com/graphql" },
            }));
            None
        },
        assumes_role: true,
        masks_aws: true,
        static_keys: false,
    },
    Case {
        name: "STS refuses and quotes the web identity token",
        code: 1,
        setup: |bed, _| {
            bed.sts.set(Some(Fault {
                act: Act::Answer {
                    status: 400,
                    content_type: "text/xml",
                    headers: Vec::new(),
                    body: format!(
                        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token audience in {OIDC_JWT}</Message></Error><RequestId>c0ffee</RequestId></ErrorResponse>"#
                    ),
                },
                times: None,
            }));
            None
        },
        assumes_role: false,
        masks_aws: false,
        static_keys: false,
    },
    Case {
        name: "ECR fails after the role was assumed",
        code: 1,
        setup: |bed, _| {
            bed.ecr.set(Some(Fault {
                act: Act::Answer {
                    status: 500,
                    content_type: "application/x-amz-json-1.1",
                    headers: Vec::new(),
                    body: r#"{"__type":"ServerException","message":"internal failure"}"#.into(),
                },
                times: None,
            }));
            None
        },
        assumes_role: true,
        masks_aws: true,
        static_keys: false,
    },
    Case {
        name: "the image is missing in ECR",
        code: 1,
        setup: |_, cmd| {
            input(cmd, "tag", "sha-fffffff");
            None
        },
        assumes_role: true,
        masks_aws: true,
        static_keys: false,
    },
    Case {
        name: "the deadline passes during the commit",
        code: 1,
        setup: |bed, cmd| {
            input(cmd, "timeout_seconds", "4");
            bed.emu.fault(json!({
                "path_regex": "^/graphql$", "graphql_field": "createCommitOnBranch", "count": -1,
                "connection": "hang",
            }));
            None
        },
        assumes_role: true,
        masks_aws: true,
        static_keys: false,
    },
];

/// Issue 9, item 8.
#[test]
fn no_secret_appears_in_any_output_on_success_or_failure() {
    let moto = Moto::fresh_account();
    push_images(&moto, &[TAG]);
    let seed = seed_dir(false);
    // The cases are independent (a repository and a token each): they run side by side.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = CASES
            .iter()
            .map(|case| scope.spawn(|| check(&moto, seed.path(), case)))
            .collect();
        runs.into_iter()
            .filter_map(|run| run.join().expect("a case's thread"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases leaked or misbehaved:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// One case: its problems, if any, as one report.
fn check(moto: &Moto, seed: &std::path::Path, case: &Case) -> Option<String> {
    let bed = Bed::new(moto, seed);
    let mut cmd = bed.command(false);
    debug_everything(&mut cmd);
    let token = (case.setup)(&bed, &mut cmd).unwrap_or_else(|| bed.emu.token.clone());
    // Static keys reach moto's default account only: that case holds it while it runs.
    let default_account = case.static_keys.then(|| {
        let moto = Moto::start();
        push_images(&moto, &[TAG]);
        moto
    });
    let ran = run_guarded(cmd, std::time::Duration::from_secs(60));
    drop(default_account);
    let mut problems = Vec::new();
    if ran.code != Some(case.code) {
        problems.push(format!(
            "exit {:?}, wanted {}:\n{}",
            ran.code,
            case.code,
            ran.all()
        ));
    }
    let issued = issued(&bed);
    if case.assumes_role && issued.len() != 2 {
        problems.push(format!("STS issued {} secrets, 2 expected", issued.len()));
    }
    let mut secrets: Vec<(&str, String)> = vec![
        ("the GitHub token", token.clone()),
        ("the bed's GitHub token", bed.emu.token.clone()),
        ("the OIDC JWT", OIDC_JWT.to_owned()),
        ("the OIDC request token", OIDC_REQUEST_TOKEN.to_owned()),
        ("the static AWS secret key", SECRET_ACCESS_KEY.to_owned()),
        (
            "the static AWS session token",
            STATIC_SESSION_TOKEN.to_owned(),
        ),
    ];
    secrets.extend(issued.iter().cloned());
    problems.extend(leaks(&ran, &secrets));
    // What the run held while it printed, it announced.
    let masks: Vec<&str> = ran
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .collect();
    let mut held = vec![token.as_str()];
    if case.masks_aws {
        held.push(OIDC_JWT);
        held.extend(issued.iter().map(|(_, s)| s.as_str()));
    }
    for secret in held {
        if !masks.contains(&secret) {
            problems.push(format!(
                "never masked: {}...",
                &secret[..secret.len().min(12)]
            ));
        }
    }
    (!problems.is_empty()).then(|| format!("{}:\n    {}", case.name, problems.join("\n    ")))
}
