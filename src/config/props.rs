//! Property test for both stages, the fuzz target `fuzz/fuzz_targets/config.rs` in the test
//! command (issue 9): for any `INPUT_*` and runner variables, values UTF-8 or not, reading and
//! validating them never panics, each `from_vars` fails exactly when a variable it reads is not
//! UTF-8, and every error names an input or a runner variable.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use proptest::prelude::*;

use super::{Config, ConfigError, RawInputs, RunnerEnv};

/// The runner's variables the config reads.
const RUNNER: &[&str] = &RunnerEnv::NAMES;

/// Values that mean something to one input or another, and some that are nearly right.
const PLAUSIBLE: [&str; 28] = [
    "",
    " ",
    " , ",
    "backend",
    "backend,frontend",
    "backend=team/backend\nfrontend",
    "backend,backend",
    "sha-1a2b3c4",
    "-bad",
    "true",
    "false",
    "yes",
    "acme/sample-saas-app",
    "pull_request",
    "commit",
    "squash",
    "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
    "42",
    "0",
    "21601",
    "https://ghe.example.com/api/v3",
    "http://127.0.0.1:1/",
    "arn:aws:iam::123456789012:role/promote",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/backend",
    "us-east-1",
    "apps/*/overlays/*",
    "../outside",
    "kustomization/a\u{0}b",
];

fn input_var(name: &str) -> String {
    format!("INPUT_{}", name.to_uppercase())
}

fn names() -> Vec<String> {
    RawInputs::NAMES
        .iter()
        .map(|n| input_var(n))
        .chain(RUNNER.iter().map(|n| (*n).to_owned()))
        .chain(["PATH".to_owned(), "INPUT_UNKNOWN".to_owned()])
        .collect()
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(&PLAUSIBLE[..]).prop_map(|s| s.as_bytes().to_vec()),
        2 => "[ -~]{0,24}".prop_map(String::into_bytes),
        // Any bytes: not UTF-8 more often than not.
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ]
}

fn vars() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    let names = names();
    (
        any::<bool>(),
        prop::collection::vec((prop::sample::select(names), value()), 0..12),
    )
        .prop_map(|(valid_base, given)| {
            let mut vars = BTreeMap::new();
            if valid_base {
                // A configuration that validates, for the given variables to break or not.
                for (k, v) in [
                    ("INPUT_GITOPS_PATH", "gitops"),
                    ("INPUT_IMAGES", "backend,frontend"),
                    ("GITHUB_REPOSITORY", "acme/sample-saas-app"),
                    ("GITHUB_SHA", "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"),
                    ("INPUT_VERIFY_IMAGES", "false"),
                ] {
                    vars.insert(k.to_owned(), v.as_bytes().to_vec());
                }
            }
            vars.extend(given);
            vars
        })
}

fn names_an_input(e: &ConfigError) -> Result<(), TestCaseError> {
    let known = if e.env {
        RUNNER.contains(&e.input)
    } else {
        RawInputs::NAMES.contains(&e.input)
    };
    prop_assert!(known, "the error names no input: {:?}", e);
    let kind = if e.env {
        "environment variable"
    } else {
        "input"
    };
    prop_assert!(
        e.to_string()
            .starts_with(&format!("{kind} `{}`: ", e.input))
            && !e.message.is_empty(),
        "{}",
        e
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_variables_are_read_without_panic_and_refused_by_name(vars in vars()) {
        let get = |name: &str| vars.get(name).map(|v| OsString::from_vec(v.clone()));
        let not_utf8 = |name: &str| vars.get(name).is_some_and(|v| std::str::from_utf8(v).is_err());

        let raw = RawInputs::from_vars(get);
        match (&raw, RawInputs::NAMES.iter().find(|n| not_utf8(&input_var(n)))) {
            (Ok(_), None) => {}
            (Err(e), Some(name)) => {
                prop_assert_eq!(e.input, *name);
                prop_assert!(!e.env && e.to_string().contains(&input_var(name)), "{}", e);
            }
            (Err(e), None) => prop_assert!(false, "refused though all are UTF-8: {}", e),
            (Ok(_), Some(name)) => prop_assert!(false, "`{}` is not UTF-8 and was read", name),
        }

        let runner = RunnerEnv::from_vars(get);
        match (&runner, RUNNER.iter().find(|n| not_utf8(n))) {
            (Ok(_), None) => {}
            (Err(e), Some(name)) => {
                prop_assert_eq!(e.input, *name);
                prop_assert!(e.env, "{}", e);
            }
            (Err(e), None) => prop_assert!(false, "refused though all are UTF-8: {}", e),
            (Ok(_), Some(name)) => prop_assert!(false, "`{}` is not UTF-8 and was read", name),
        }

        if let (Ok(raw), Ok(runner)) = (raw, runner)
            && let Err(e) = Config::from_inputs(raw, &runner)
        {
            names_an_input(&e)?;
        }
    }
}
