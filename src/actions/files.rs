//! File commands: step outputs appended to the file `GITHUB_OUTPUT` names and markdown appended
//! to the file `GITHUB_STEP_SUMMARY` names. The paths always come from the environment: the
//! runner mounts them under `/github/file_commands`, act elsewhere. Outside Actions neither is
//! set and writing is a no-op.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why a file command could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FileCommandError {
    #[error("cannot append to {variable} (`{}`)", path.display())]
    Append {
        variable: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{0}` is not an output name: use A-Z, a-z, 0-9, `_` and `-`")]
    Name(String),
}

/// The runner's file-command files for this step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCommands {
    output: Option<PathBuf>,
    step_summary: Option<PathBuf>,
}

impl FileCommands {
    /// The files named by `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`; an unset or empty variable
    /// turns that command off.
    pub fn from_env() -> Self {
        let path = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self::new(path("GITHUB_OUTPUT"), path("GITHUB_STEP_SUMMARY"))
    }

    pub fn new(output: Option<PathBuf>, step_summary: Option<PathBuf>) -> Self {
        Self {
            output,
            step_summary,
        }
    }

    /// Checks that both files can be appended to, before the run writes anything, so a wrong
    /// path fails the step while nothing has changed yet.
    pub fn check(&self) -> Result<(), FileCommandError> {
        for (path, variable) in [
            (&self.output, "GITHUB_OUTPUT"),
            (&self.step_summary, "GITHUB_STEP_SUMMARY"),
        ] {
            if let Some(path) = path {
                append(path, variable, "")?;
            }
        }
        Ok(())
    }

    /// Appends every output in one write, each as `name<<DELIMITER`, the value, `DELIMITER`,
    /// with a fresh random delimiter that the value does not contain, so any value (multi-line,
    /// empty, with `=` or `<<`) reads back exactly.
    pub fn set_outputs<'a>(
        &self,
        outputs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), FileCommandError> {
        let mut text = String::new();
        for (name, value) in outputs {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            {
                return Err(FileCommandError::Name(name.to_owned()));
            }
            let delimiter = delimiter_for(value);
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        }
        match &self.output {
            Some(path) => append(path, "GITHUB_OUTPUT", &text),
            None => Ok(()),
        }
    }

    /// Appends markdown to the step summary.
    pub fn append_summary(&self, markdown: &str) -> Result<(), FileCommandError> {
        match &self.step_summary {
            Some(path) => append(path, "GITHUB_STEP_SUMMARY", markdown),
            None => Ok(()),
        }
    }
}

/// Appends to a file that must already exist: the runner creates it before the step, so a
/// missing one means a wrong path, which is reported rather than created somewhere else.
fn append(path: &Path, variable: &'static str, text: &str) -> Result<(), FileCommandError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| FileCommandError::Append {
            variable,
            path: path.to_owned(),
            source,
        })
}

/// `ghadelimiter_` and 32 random hex digits, as the Actions toolkit writes it, checked not to
/// occur in the value.
fn delimiter_for(value: &str) -> String {
    delimiter_from(value, || crate::random::hex(16))
}

fn delimiter_from(value: &str, mut random: impl FnMut() -> String) -> String {
    loop {
        let delimiter = format!("ghadelimiter_{}", random());
        if !value.contains(&delimiter) {
            return delimiter;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// Reads a file-command file the way the runner does (actions/runner,
    /// `FileCommandManager`: `NAME=VALUE` lines and `NAME<<DELIMITER` heredocs, lines split on
    /// LF as on Linux, the value ending before the newline that precedes the delimiter line).
    fn runner_parse(text: &str) -> Result<Vec<(String, String)>, String> {
        fn read_line<'a>(text: &'a str, index: &mut usize) -> Option<(&'a str, bool)> {
            if *index >= text.len() {
                return None;
            }
            let start = *index;
            match text[start..].find('\n') {
                Some(lf) => {
                    *index = start + lf + 1;
                    Some((&text[start..start + lf], true))
                }
                None => {
                    *index = text.len();
                    Some((&text[start..], false))
                }
            }
        }
        let mut out = Vec::new();
        let mut index = 0;
        while let Some((line, _)) = read_line(text, &mut index) {
            if line.is_empty() {
                continue;
            }
            let eq = line.find('=');
            let heredoc = line.find("<<");
            match (eq, heredoc) {
                (Some(e), h) if h.is_none_or(|h| e < h) => {
                    out.push((line[..e].to_owned(), line[e + 1..].to_owned()));
                }
                (_, Some(h)) => {
                    let (name, delimiter) = (&line[..h], &line[h + 2..]);
                    if name.is_empty() || delimiter.is_empty() {
                        return Err(format!("invalid format `{line}`"));
                    }
                    let start = index;
                    let mut end = index;
                    loop {
                        let Some((l, newline)) = read_line(text, &mut index) else {
                            return Err(format!("matching delimiter not found `{delimiter}`"));
                        };
                        if l == delimiter {
                            break;
                        }
                        if !newline {
                            return Err("EOF marker missing new line".into());
                        }
                        end = index - 1;
                    }
                    out.push((name.to_owned(), text[start..end].to_owned()));
                }
                _ => return Err(format!("invalid format `{line}`")),
            }
        }
        Ok(out)
    }

    fn commands() -> (tempfile::TempDir, FileCommands) {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = dir.path().join("set_output_1");
        let summary = dir.path().join("step_summary_1");
        fs::write(&output, "").expect("create");
        fs::write(&summary, "").expect("create");
        (dir, FileCommands::new(Some(output), Some(summary)))
    }

    /// Whatever a value holds, the runner reads back exactly that value.
    #[test]
    fn outputs_read_back_as_written() {
        let (dir, files) = commands();
        let values = [
            ("changed", "true"),
            ("empty", ""),
            ("diff", "--- a/k.yaml\n+++ b/k.yaml\n-a\n+b\n"),
            ("ends_without_newline", "one\ntwo"),
            ("tricky", "a=b<<EOF\nEOF\n\n\r\nlast=\n"),
            ("blank_lines", "\n\n"),
        ];
        files.set_outputs(values).expect("writes");
        files
            .set_outputs([("images", "x/backend:v2\nx/frontend:v2")])
            .expect("appends");
        let text = fs::read_to_string(dir.path().join("set_output_1")).expect("read");
        let mut want: Vec<(String, String)> = values
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        want.push(("images".into(), "x/backend:v2\nx/frontend:v2".into()));
        assert_eq!(runner_parse(&text), Ok(want), "{text}");
    }

    #[test]
    fn each_value_gets_its_own_random_delimiter() {
        let (dir, files) = commands();
        files.set_outputs([("a", "1"), ("b", "2")]).expect("writes");
        let text = fs::read_to_string(dir.path().join("set_output_1")).expect("read");
        let delimiters: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once("<<").map(|(_, d)| d))
            .collect();
        assert_eq!(delimiters.len(), 2);
        assert_ne!(delimiters[0], delimiters[1]);
        for d in delimiters {
            let hex = d.strip_prefix("ghadelimiter_").expect("prefix");
            assert_eq!(hex.len(), 32, "{d}");
            assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{d}");
        }
    }

    /// A value that happens to contain the first candidate gets the next one.
    #[test]
    fn a_value_never_contains_its_delimiter() {
        let mut candidates = ["0a1b", "2c3d"].into_iter().map(str::to_owned);
        let value = "x\nghadelimiter_0a1b\ny";
        let delimiter = delimiter_from(value, || candidates.next().expect("a candidate"));
        assert_eq!(delimiter, "ghadelimiter_2c3d");
    }

    #[test]
    fn check_fails_on_a_missing_file_and_writes_nothing() {
        let (dir, files) = commands();
        files.check().expect("both exist");
        assert_eq!(
            fs::read(dir.path().join("set_output_1")).expect("read"),
            b""
        );
        let missing = FileCommands::new(Some(dir.path().join("nope")), None);
        let err = missing.check().expect_err("missing");
        assert!(err.to_string().contains("GITHUB_OUTPUT"), "{err}");
        assert!(!dir.path().join("nope").exists());
    }

    #[test]
    fn the_summary_is_appended() {
        let (dir, files) = commands();
        files.append_summary("## one\n").expect("writes");
        files.append_summary("## two\n").expect("writes");
        let text = fs::read_to_string(dir.path().join("step_summary_1")).expect("read");
        assert_eq!(text, "## one\n## two\n");
    }

    #[test]
    fn without_the_variables_nothing_is_written() {
        let files = FileCommands::default();
        files.set_outputs([("changed", "true")]).expect("no-op");
        files.append_summary("x").expect("no-op");
    }

    #[test]
    fn a_missing_file_or_bad_name_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = FileCommands::new(Some(dir.path().join("gone")), None);
        let err = files
            .set_outputs([("changed", "true")])
            .expect_err("missing");
        assert!(
            err.to_string()
                .starts_with("cannot append to GITHUB_OUTPUT (`"),
            "{err}"
        );
        let (_dir, files) = commands();
        for name in ["", "a<<b", "a=b", "a\nb"] {
            let err = files.set_outputs([(name, "v")]).expect_err(name);
            assert!(matches!(err, FileCommandError::Name(_)), "{err}");
        }
    }
}
