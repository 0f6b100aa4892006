//! Configuration in two stages. Stage one, [`RawInputs`], keeps every input exactly as given:
//! the action's `INPUT_<NAME>` variables (read through envy), overlaid by CLI long flags of the
//! same names. Stage two, [`Config::from_inputs`], applies defaults and validates each input
//! into a typed [`Config`], naming the input and the rule when one is wrong.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

use crate::core::image::{ImageSpec, Tag};
use crate::core::paths::{PathPattern, default_patterns};

/// Declares the inputs once: the struct envy and clap both fill, and the list of their names.
macro_rules! inputs {
    ($( $(#[$meta:meta])* $name:ident ),* $(,)?) => {
        /// The inputs as given. `None` and `""` both mean "use the default", as the runner passes
        /// unset inputs as empty strings.
        #[derive(Debug, Default, Clone, Deserialize, Parser)]
        #[command(name = "gitops-promote", version, about, long_about = None)]
        pub struct RawInputs {
            $(
                $(#[$meta])*
                #[arg(long, value_name = "VALUE")]
                #[serde(default)]
                pub $name: Option<String>,
            )*
        }

        impl RawInputs {
            /// Every input name, as action.yml declares them.
            pub const NAMES: &[&str] = &[$(stringify!($name)),*];

            /// `self` with the values `over` gives taking precedence.
            fn overlay(self, over: Self) -> Self {
                Self { $( $name: over.$name.or(self.$name), )* }
            }
        }
    };
}

inputs! {
    /// A local checkout of the GitOps repository; its kustomization files are patched in place.
    gitops_path,
    /// The application's name in the GitOps repository [default: the name part of
    /// GITHUB_REPOSITORY, lowercased].
    app,
    /// Kustomization directories or files, relative to the GitOps repository root, comma or
    /// newline separated; globs allowed [default: apps/{app}/base, apps/{app}/overlays/*].
    paths,
    /// Images to promote, comma or newline separated, each `name` (as in the kustomization's
    /// `images:` entries) or `name=ecr-repository` [required].
    images,
    /// The new tag [default: sha- and the first 7 characters of GITHUB_SHA].
    tag,
    /// Check in Amazon ECR that every image exists at the new tag before writing [default: true].
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    verify_images,
    /// Write each image's digest beside its tag (needs verify_images) [default: false].
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    pin_digest,
    /// Compute and print the change without writing anything [default: false].
    #[arg(num_args = 0..=1, default_missing_value = "true")]
    dry_run,
}

/// Variables the runner sets for every step.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RunnerEnv {
    pub github_repository: Option<String>,
    pub github_sha: Option<String>,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub gitops_path: PathBuf,
    /// Needed only where it is used: to default `paths`.
    pub app: Option<String>,
    pub paths: Vec<PathPattern>,
    pub images: Vec<ImageSpec>,
    pub tag: Tag,
    pub verify_images: bool,
    pub pin_digest: bool,
    pub dry_run: bool,
}

/// A wrong input, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}`: {message}")]
pub struct ConfigError {
    pub input: &'static str,
    pub message: String,
}

fn invalid(input: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        input,
        message: message.into(),
    }
}

/// Reads the inputs from the environment and the command line (flags win) and validates them.
/// Clap's own errors (and `--help`, `--version`) are returned as `clap::Error`.
pub fn load(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> anyhow::Result<Config> {
    let from_env: RawInputs = envy::prefixed("INPUT_").from_env()?;
    let from_flags = RawInputs::try_parse_from(args)?;
    let runner: RunnerEnv = envy::from_env()?;
    Ok(Config::from_inputs(from_env.overlay(from_flags), &runner)?)
}

impl Config {
    pub fn from_inputs(raw: RawInputs, env: &RunnerEnv) -> Result<Self, ConfigError> {
        let given = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());

        let gitops_path = given(raw.gitops_path).map(PathBuf::from).ok_or_else(|| {
            invalid(
                "gitops_path",
                "no GitOps repository given: set it to a local checkout of the GitOps repository",
            )
        })?;

        let app = given(raw.app).or_else(|| {
            given(env.github_repository.clone())
                .and_then(|r| r.rsplit('/').next().map(str::to_lowercase))
        });
        if let Some(app) = &app {
            let app_ok = !matches!(app.as_str(), "." | "..")
                && app
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !app_ok {
                return Err(invalid(
                    "app",
                    format!(
                        "`{app}` must be one directory name of A-Z, a-z, 0-9, `.`, `_` and `-`"
                    ),
                ));
            }
        }

        let paths = match (given(raw.paths), &app) {
            (Some(p), _) => list(&p),
            (None, Some(app)) => default_patterns(app),
            (None, None) => {
                return Err(invalid(
                    "app",
                    "not set, and GITHUB_REPOSITORY is not set to default it; it names the \
                     default paths apps/{app}/base and apps/{app}/overlays/*",
                ));
            }
        }
        .iter()
        .map(|p| PathPattern::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid("paths", m))?;

        let images = list(&given(raw.images).ok_or_else(|| {
            invalid(
                "images",
                "required: name the images to promote, e.g. `backend,frontend`",
            )
        })?)
        .iter()
        .map(|s| ImageSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid("images", m))?;
        if let Some(dup) = images
            .iter()
            .enumerate()
            .find(|(i, a)| images[..*i].iter().any(|b| b.name == a.name))
        {
            return Err(invalid(
                "images",
                format!("`{}` is listed twice", dup.1.name),
            ));
        }

        let tag = match given(raw.tag) {
            Some(t) => Tag::parse(&t),
            None => match given(env.github_sha.clone()) {
                Some(sha) if sha.len() >= 7 && sha.is_ascii() => {
                    Tag::parse(&format!("sha-{}", &sha[..7]))
                }
                _ => {
                    Err("not set, and GITHUB_SHA is not set to default it to sha-<first 7>".into())
                }
            },
        }
        .map_err(|m| invalid("tag", m))?;

        let verify_images = boolean("verify_images", given(raw.verify_images), true)?;
        let pin_digest = boolean("pin_digest", given(raw.pin_digest), false)?;
        let dry_run = boolean("dry_run", given(raw.dry_run), false)?;
        if pin_digest && !verify_images {
            return Err(invalid(
                "pin_digest",
                "needs verify_images: the digest is what the registry reports for the new tag",
            ));
        }

        Ok(Self {
            gitops_path,
            app,
            paths,
            images,
            tag,
            verify_images,
            pin_digest,
            dry_run,
        })
    }
}

/// Comma- or newline-separated values, trimmed, empty ones dropped.
fn list(s: &str) -> Vec<String> {
    s.split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The booleans the Actions toolkit accepts (`getBooleanInput`).
fn boolean(input: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref() {
        None => Ok(default),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some("false" | "False" | "FALSE") => Ok(false),
        Some(other) => Err(invalid(
            input,
            format!("`{other}` is not a boolean: use true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
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
            github_sha: Some("1a2b3c4d5e6f".into()),
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
        let err = Config::from_inputs(RawInputs::default(), &runner()).expect_err("missing");
        assert_eq!(err.input, "gitops_path");
    }

    #[test]
    fn flags_override_the_environment() {
        let env = raw(&[("tag", "from-env")]);
        let flags =
            RawInputs::try_parse_from(["gitops-promote", "--tag", "from-flag", "--dry-run"])
                .expect("parses");
        let merged = env.overlay(flags);
        assert_eq!(merged.tag.as_deref(), Some("from-flag"));
        assert_eq!(merged.dry_run.as_deref(), Some("true"));
        assert_eq!(merged.images.as_deref(), Some("backend"));
    }
}
