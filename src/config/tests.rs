//! The two stages together: inputs and runner variables in, a validated Config or a named error out.

use super::*;

fn raw(pairs: &[(&str, &str)]) -> RawInputs {
    let mut raw = RawInputs {
        gitops_path: Some("gitops".into()),
        images: Some("backend".into()),
        ..RawInputs::default()
    };
    for (k, v) in pairs {
        let v = Some((*v).to_owned());
        match *k {
            "app" => raw.app = v,
            "paths" => raw.paths = v,
            "images" => raw.images = v,
            "tag" => raw.tag = v,
            "verify_images" => raw.verify_images = v,
            "pin_digest" => raw.pin_digest = v,
            _ => panic!("unknown input {k}"),
        }
    }
    raw
}

fn runner() -> RunnerEnv {
    RunnerEnv {
        github_repository: Some("Acme/Sample-SaaS-App".into()),
        github_sha: Some("1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b".into()),
        github_run_id: Some("42".into()),
        aws_default_region: Some("eu-west-1".into()),
        ..RunnerEnv::default()
    }
}

#[test]
fn defaults_come_from_the_runner() {
    let c = Config::from_inputs(raw(&[("tag", "")]), &runner()).expect("valid");
    assert_eq!(c.app.as_deref(), Some("sample-saas-app"));
    assert_eq!(c.tag.as_str(), "sha-1a2b3c4");
    let paths: Vec<_> = c.paths.iter().map(PathPattern::as_str).collect();
    assert_eq!(
        paths,
        [
            "apps/sample-saas-app/base",
            "apps/sample-saas-app/overlays/*"
        ]
    );
    assert!(c.verify_images && !c.pin_digest && !c.dry_run);
    assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
    assert_eq!(c.aws.session_name, "gitops-promote-Acme-Sample-SaaS-App-42");
    assert_eq!(c.aws.duration_seconds, 900);
    assert_eq!(c.aws.audience, "sts.amazonaws.com");
}

#[test]
fn lists_split_on_commas_and_newlines() {
    let c = Config::from_inputs(
        raw(&[("images", "backend=team/backend,\n frontend\n")]),
        &runner(),
    )
    .expect("valid");
    assert_eq!(c.images.len(), 2);
    assert_eq!(c.images[0].repository.as_deref(), Some("team/backend"));
}

#[test]
fn each_error_names_its_input() {
    let cases = [
        ("tag", "-bad"),
        ("images", "Backend"),
        ("images", "backend,backend"),
        ("paths", "../other"),
        ("app", "a/b"),
        ("verify_images", "yes"),
        ("pin_digest", "true"),
    ];
    for (input, value) in cases {
        let mut r = raw(&[(input, value)]);
        if input == "pin_digest" {
            r.verify_images = Some("false".into());
        }
        let err = Config::from_inputs(r, &runner()).expect_err(value);
        assert_eq!(err.input, input, "{err}");
    }
    let mut neither = raw(&[]);
    neither.gitops_path = None;
    let err = Config::from_inputs(neither, &runner()).expect_err("no repository");
    assert_eq!(err.input, "gitops_repo");
    let mut both = raw(&[]);
    both.gitops_repo = Some("o/r".into());
    assert_eq!(
        Config::from_inputs(both, &runner())
            .expect_err("both")
            .input,
        "gitops_repo"
    );
}

#[test]
fn a_remote_repository_takes_its_urls_from_the_runner() {
    let mut r = raw(&[]);
    r.gitops_path = None;
    r.gitops_repo = Some("acme/flux-gitops-pipeline".into());
    let err = Config::from_inputs(r.clone(), &runner()).expect_err("no token");
    assert_eq!(err.input, "gitops_repo_token");
    r.gitops_repo_token = Some("t0ken".into());
    r.mode = Some("pull_request".into());
    let env = RunnerEnv {
        github_api_url: Some("https://ghe.example.com/api/v3".into()),
        ..runner()
    };
    let c = Config::from_inputs(r, &env).expect("valid");
    let Gitops::Remote(remote) = c.gitops else {
        panic!("remote")
    };
    assert_eq!(remote.graphql_url, "https://ghe.example.com/api/graphql");
    assert_eq!(remote.mode, Mode::PullRequest);
    assert_eq!(remote.pull_request.branch, "gitops-promote/sample-saas-app");
    assert_eq!(
        remote.commit_message,
        "chore(sample-saas-app): promote {images} to sha-1a2b3c4"
    );
    assert_eq!(format!("{:?}", remote.token), "***");
}

/// Issue 9: `images: " , "` promoted nothing and succeeded.
#[test]
fn a_list_that_names_nothing_is_refused() {
    for input in ["images", "paths"] {
        for value in [" , ", ",", "\n,\n"] {
            let err = Config::from_inputs(raw(&[(input, value)]), &runner()).expect_err(value);
            assert_eq!(err.input, input, "{err}");
            assert!(err.to_string().contains("names nothing"), "{err}");
        }
    }
    let c = Config::from_inputs(raw(&[("images", "backend,,frontend,")]), &runner())
        .expect("empty parts between names are dropped");
    assert_eq!(c.images.len(), 2);
}

/// Issue 9: any variable that was not UTF-8 made the binary panic, as envy reads them all.
#[test]
fn only_the_named_variables_are_read() {
    use std::os::unix::ffi::OsStringExt;
    let bad = || OsString::from_vec(vec![b'v', 0xff, b'1']);
    let vars = |name: &str| match name {
        "INPUT_IMAGES" => Some(OsString::from("backend")),
        "SOMETHING_ELSE" => Some(bad()),
        _ => None,
    };
    let raw = RawInputs::from_vars(vars).expect("only INPUT_* names are looked up");
    assert_eq!(raw.images.as_deref(), Some("backend"));
    assert!(RunnerEnv::from_vars(vars).is_ok());

    let err = RawInputs::from_vars(|n: &str| (n == "INPUT_TAG").then(bad)).expect_err("tag");
    assert_eq!(
        err.to_string(),
        "input `tag`: `INPUT_TAG` is not UTF-8 text; give the input as UTF-8"
    );
    let err = RunnerEnv::from_vars(|n: &str| (n == "GITHUB_SHA").then(bad)).expect_err("sha");
    assert_eq!(
        err.to_string(),
        "environment variable `GITHUB_SHA`: is not UTF-8 text"
    );
}

/// Sets one runner variable.
type Setter = fn(&mut RunnerEnv, String);

#[test]
fn malformed_runner_variables_are_named() {
    let cases: [(&str, Setter); 3] = [
        ("GITHUB_SHA", |e, v| e.github_sha = Some(v)),
        ("GITHUB_REPOSITORY", |e, v| e.github_repository = Some(v)),
        ("GITHUB_RUN_ID", |e, v| e.github_run_id = Some(v)),
    ];
    for (name, set) in cases {
        for value in ["zzzzzzz", "a/b/c", "ééééééééé", "1a2b3c4", "../x", "12 34"] {
            let mut env = runner();
            set(&mut env, value.to_owned());
            let Err(err) = Config::from_inputs(raw(&[]), &env) else {
                panic!("{name}={value} was accepted");
            };
            assert!(err.env && err.input == name, "{name}={value}: {err}");
        }
    }
}

#[test]
fn a_repository_part_is_a_name_not_a_path() {
    for repo in ["../x", "./x", "o/..", "o/r/s", "/r", "o/", "o r/x"] {
        let mut r = raw(&[]);
        r.gitops_path = None;
        r.gitops_repo = Some(repo.into());
        r.gitops_repo_token = Some("t0ken".into());
        let err = Config::from_inputs(r, &runner()).expect_err(repo);
        assert_eq!(err.input, "gitops_repo", "{repo}: {err}");
    }
}

#[test]
fn github_urls_must_be_http_urls() {
    let mut r = raw(&[]);
    r.gitops_path = None;
    r.gitops_repo = Some("acme/flux-gitops-pipeline".into());
    r.gitops_repo_token = Some("t0ken".into());
    let cases: [(&str, Setter); 3] = [
        ("GITHUB_API_URL", |e, v| e.github_api_url = Some(v)),
        ("GITHUB_GRAPHQL_URL", |e, v| e.github_graphql_url = Some(v)),
        ("GITHUB_SERVER_URL", |e, v| e.github_server_url = Some(v)),
    ];
    for (name, set) in cases {
        for value in [
            "api.github.com",
            "ftp://api.github.com",
            "javascript:alert(1)",
            "https://",
            "http://[::1",
            "https://user:pass@api.github.com",
            "https://api.github.com/?x=1",
            "https://api github.com",
        ] {
            let mut env = runner();
            set(&mut env, value.to_owned());
            let err = Config::from_inputs(r.clone(), &env).expect_err(value);
            assert!(err.env && err.input == name, "{name}={value}: {err}");
        }
        let mut env = runner();
        set(&mut env, "http://127.0.0.1:8080/api/v3/".to_owned());
        Config::from_inputs(r.clone(), &env).expect("a local URL");
    }
}

#[test]
fn flags_override_the_environment() {
    let env = raw(&[("tag", "from-env")]);
    let flags = RawInputs::try_parse_from(["gitops-promote", "--tag", "from-flag", "--dry-run"])
        .expect("parses");
    let merged = env.overlay(flags);
    assert_eq!(merged.tag.as_deref(), Some("from-flag"));
    assert_eq!(merged.dry_run.as_deref(), Some("true"));
    assert_eq!(merged.images.as_deref(), Some("backend"));
}

/// Issue 12: what follows the landing is off by default and checked input by input.
#[test]
fn flux_inputs_default_off_and_name_themselves_when_wrong() {
    let mut r = raw(&[]);
    r.gitops_path = None;
    r.gitops_repo = Some("acme/flux-gitops-pipeline".into());
    r.gitops_repo_token = Some("t0ken".into());
    let c = Config::from_inputs(r.clone(), &runner()).expect("valid");
    assert!(!c.flux.is_set());
    assert_eq!(c.flux.wait_timeout, Duration::from_secs(600));

    r.wait_for = Some("sample-saas-app-platform, HelmRelease/podinfo".into());
    r.deployment_environment = Some("dev".into());
    r.github_token = Some("ghs_x".into());
    r.flux_webhook_url = Some("https://flux.example.com/hook/abc".into());
    r.flux_webhook_secret = Some("s3cret".into());
    let c = Config::from_inputs(r.clone(), &runner()).expect("valid");
    let names: Vec<String> = c.flux.wait_for.iter().map(|o| o.to_string()).collect();
    assert_eq!(
        names,
        [
            "kustomization/sample-saas-app-platform",
            "helmrelease/podinfo"
        ]
    );
    let d = c.flux.deployment.expect("a deployment");
    assert_eq!(
        (d.owner.as_str(), d.name.as_str()),
        ("Acme", "Sample-SaaS-App")
    );
    assert_eq!(format!("{:?}", d.token), "***");

    type Break = fn(&mut RawInputs);
    let cases: [(&str, Break); 7] = [
        ("wait_for", |r| r.wait_for = Some("flux-system/app".into())),
        ("wait_for", |r| {
            r.wait_for = Some("a, kustomization/a".into())
        }),
        ("wait_timeout", |r| r.wait_timeout = Some("0".into())),
        ("flux_webhook_url", |r| {
            r.flux_webhook_url = Some("flux.example.com".into())
        }),
        ("flux_webhook_secret", |r| r.flux_webhook_url = None),
        ("github_token", |r| r.github_token = Some(" ".into())),
        ("deployment_url", |r| {
            r.deployment_url = Some("ftp://x".into())
        }),
    ];
    for (input, break_it) in cases {
        let mut wrong = r.clone();
        break_it(&mut wrong);
        let err = Config::from_inputs(wrong, &runner()).expect_err(input);
        assert_eq!(err.input, input, "{err}");
    }
    let local = RawInputs {
        wait_for: Some("app".into()),
        ..raw(&[])
    };
    let err = Config::from_inputs(local, &runner()).expect_err("local");
    assert_eq!(err.input, "wait_for", "{err}");
    assert!(err.to_string().contains("needs gitops_repo"), "{err}");
}
