//! action.yml is the action's public contract: it must declare exactly the inputs the binary
//! reads and the outputs it writes, each described.

use gitops_promote::config::RawInputs;
use gitops_promote::core::render::OUTPUT_NAMES;
use serde_norway::{Mapping, Value};

use crate::support::repo_root;

fn action() -> Value {
    let text = std::fs::read_to_string(repo_root().join("action.yml")).expect("action.yml");
    serde_norway::from_str(&text).expect("action.yml is YAML")
}

fn section<'a>(action: &'a Value, key: &str) -> &'a Mapping {
    action[key]
        .as_mapping()
        .unwrap_or_else(|| panic!("action.yml has a `{key}` mapping"))
}

fn names(map: &Mapping) -> Vec<&str> {
    map.keys()
        .map(|k| k.as_str().expect("names are strings"))
        .collect()
}

fn described(value: &Value) -> bool {
    value["description"]
        .as_str()
        .is_some_and(|d| !d.trim().is_empty())
}

/// Inputs and `RawInputs::NAMES` are the same set, so no input is declared that the binary
/// ignores, and none is read that a workflow cannot set.
#[test]
fn action_yml_declares_exactly_the_inputs_the_binary_reads() {
    let action = action();
    let mut declared = names(section(&action, "inputs"));
    declared.sort_unstable();
    let mut read = RawInputs::NAMES.to_vec();
    read.sort_unstable();
    assert_eq!(declared, read);
}

/// Each input says what it does and what happens when it is not given.
#[test]
fn every_input_is_described_with_its_default_or_required() {
    let action = action();
    for (name, input) in section(&action, "inputs") {
        let name = name.as_str().expect("name");
        assert!(described(input), "input `{name}` has no description");
        let required = input["required"].as_bool() == Some(true);
        let default = input.get("default").is_some_and(Value::is_string);
        assert!(
            required != default,
            "input `{name}` must be either required or have a string default"
        );
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "input `{name}` is not snake_case"
        );
    }
}

/// Outputs are exactly what the binary writes, in the same order, each described.
#[test]
fn action_yml_declares_and_describes_every_output() {
    let action = action();
    let outputs = section(&action, "outputs");
    assert_eq!(names(outputs), OUTPUT_NAMES);
    for (name, output) in outputs {
        assert!(described(output), "output `{name:?}` has no description");
    }
}

/// On main the action builds its Dockerfile; a release pins a prebuilt image by digest.
#[test]
fn action_yml_runs_a_docker_image() {
    let action = action();
    assert!(described(&action), "action.yml has no description");
    assert_eq!(action["runs"]["using"].as_str(), Some("docker"));
    let image = action["runs"]["image"].as_str().expect("runs.image");
    let prebuilt = image
        .strip_prefix("docker://ghcr.io/")
        .is_some_and(|r| r.contains("/gitops-promote:") && r.contains("@sha256:"));
    assert!(image == "Dockerfile" || prebuilt, "runs.image: {image}");
    for key in ["name", "author"] {
        assert!(action[key].as_str().is_some(), "action.yml lacks `{key}`");
    }
    assert!(action["branding"]["icon"].as_str().is_some());
    assert!(action["branding"]["color"].as_str().is_some());
}

/// The rows of the markdown table under `heading` in the README: (first cell, second cell).
fn readme_rows(heading: &str) -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let section = readme
        .split(&format!("\n## {heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has a `## {heading}` section"));
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let name = cells[0]
                .trim_start_matches("| ")
                .trim_matches('`')
                .to_owned();
            (name, cells.get(1).copied().unwrap_or_default().to_owned())
        })
        .collect()
}

/// The README's inputs and outputs tables list what action.yml declares, in its order, with
/// its defaults, so the Marketplace page cannot drift from the contract.
#[test]
fn the_readme_tables_match_action_yml() {
    let action = action();
    let inputs: Vec<(String, String)> = section(&action, "inputs")
        .iter()
        .map(|(k, v)| {
            let default = match (v["required"].as_bool(), v["default"].as_str()) {
                (Some(true), _) => "**required**".to_owned(),
                (_, None | Some("")) => "—".to_owned(),
                (_, Some(d)) => format!("`{d}`"),
            };
            (k.as_str().expect("name").to_owned(), default)
        })
        .collect();
    assert_eq!(readme_rows("Inputs"), inputs);
    let outputs: Vec<String> = names(section(&action, "outputs"))
        .into_iter()
        .map(str::to_owned)
        .collect();
    let listed: Vec<String> = readme_rows("Outputs")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(listed, outputs);
}
