//! The configuration's two stages on arbitrary variables.
//!
//! Input: `NAME=VALUE` records separated by NUL bytes (which no environment variable can hold);
//! a value may hold any other byte, UTF-8 or not, as the runner's environment may. Names are
//! the action's `INPUT_*` variables, the runner's, or anything else (never read).
//!
//! Properties, for every input:
//! - `RawInputs::from_vars`, `RunnerEnv::from_vars` and `Config::from_inputs` never panic;
//! - each stage of `from_vars` fails exactly when a variable it reads is not UTF-8, and names it;
//! - every error names an input (one action.yml declares) or a runner variable, and says so.

#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use gitops_promote::config::{Config, ConfigError, RawInputs, RunnerEnv};
use libfuzzer_sys::fuzz_target;

/// The runner's variables the config reads.
const RUNNER: &[&str] = &RunnerEnv::NAMES;

fn input_var(name: &str) -> String {
    format!("INPUT_{}", name.to_uppercase())
}

fuzz_target!(|data: &[u8]| {
    let mut vars: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for record in data.split(|b| *b == 0) {
        let Some(eq) = record.iter().position(|b| *b == b'=') else {
            continue;
        };
        vars.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
    }
    // As the environment holds them: the last of a name wins.
    let get = |name: &str| -> Option<OsString> {
        vars.iter()
            .rev()
            .find(|(n, _)| n.as_slice() == name.as_bytes())
            .map(|(_, v)| OsString::from_vec(v.clone()))
    };
    let not_utf8 = |name: &str| get(name).is_some_and(|v| v.to_str().is_none());

    let raw = RawInputs::from_vars(get);
    let bad_input = RawInputs::NAMES.iter().find(|n| not_utf8(&input_var(n)));
    match (&raw, bad_input) {
        (Ok(_), None) => {}
        (Err(e), Some(name)) => {
            assert_eq!(e.input, *name, "{e}");
            assert!(!e.env && e.to_string().contains(&input_var(name)), "{e}");
        }
        (Err(e), None) => panic!("inputs refused though all are UTF-8: {e}"),
        (Ok(_), Some(name)) => panic!("input `{name}` is not UTF-8 and was read"),
    }

    let runner = RunnerEnv::from_vars(get);
    let bad_var = RUNNER.iter().find(|n| not_utf8(n));
    match (&runner, bad_var) {
        (Ok(_), None) => {}
        (Err(e), Some(name)) => {
            assert_eq!(e.input, *name, "{e}");
            assert!(e.env && e.to_string().contains(name), "{e}");
        }
        (Err(e), None) => panic!("runner variables refused though all are UTF-8: {e}"),
        (Ok(_), Some(name)) => panic!("`{name}` is not UTF-8 and was read"),
    }

    if let (Ok(raw), Ok(runner)) = (raw, runner)
        && let Err(e) = Config::from_inputs(raw, &runner)
    {
        names_an_input(&e);
    }
});

fn names_an_input(e: &ConfigError) {
    let known = if e.env {
        RUNNER.contains(&e.input)
    } else {
        RawInputs::NAMES.contains(&e.input)
    };
    assert!(known, "the error names no input: {e:?}");
    let shown = e.to_string();
    let kind = if e.env {
        "environment variable"
    } else {
        "input"
    };
    assert!(
        shown.starts_with(&format!("{kind} `{}`: ", e.input)) && !e.message.is_empty(),
        "{shown}"
    );
}
