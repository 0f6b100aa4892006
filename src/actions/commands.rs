//! Workflow commands (`::error file=...::message`, `::group::`, `::add-mask::`), escaped per the
//! runner's rules: `%`, CR and LF in data; also `:` and `,` in properties.

use std::io::{self, Write};

/// Where an annotation points: a path relative to the repository, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub file: String,
    pub line: Option<usize>,
    pub col: Option<usize>,
}

/// Writes workflow commands when running under Actions, plain messages otherwise.
pub struct Workflow<W: Write> {
    out: W,
    actions: bool,
    debug: bool,
}

impl<W: Write> Workflow<W> {
    /// `actions` is true when `GITHUB_ACTIONS=true` (also under act); `debug` when `RUNNER_DEBUG=1`.
    pub fn new(out: W, actions: bool, debug: bool) -> Self {
        Self {
            out,
            actions,
            debug,
        }
    }

    pub fn error(&mut self, message: &str, at: Option<&Annotation>) -> io::Result<()> {
        self.annotate("error", message, at)
    }

    pub fn warning(&mut self, message: &str, at: Option<&Annotation>) -> io::Result<()> {
        self.annotate("warning", message, at)
    }

    pub fn notice(&mut self, message: &str) -> io::Result<()> {
        self.annotate("notice", message, None)
    }

    pub fn debug(&mut self, message: &str) -> io::Result<()> {
        match (self.actions, self.debug) {
            (true, _) => writeln!(self.out, "::debug::{}", escape_data(message)),
            (false, true) => writeln!(self.out, "debug: {message}"),
            (false, false) => Ok(()),
        }
    }

    /// Opens a collapsible group in the log; plain output gets a heading.
    pub fn group(&mut self, title: &str) -> io::Result<()> {
        if self.actions {
            writeln!(self.out, "::group::{}", escape_data(title))
        } else {
            writeln!(self.out, "== {title}")
        }
    }

    pub fn end_group(&mut self) -> io::Result<()> {
        if self.actions {
            writeln!(self.out, "::endgroup::")
        } else {
            Ok(())
        }
    }

    /// Asks the runner to mask a secret in every later log line; a no-op outside Actions.
    pub fn add_mask(&mut self, secret: &str) -> io::Result<()> {
        if self.actions && !secret.is_empty() {
            writeln!(self.out, "::add-mask::{}", escape_data(secret))?;
        }
        Ok(())
    }

    /// Plain log text.
    pub fn info(&mut self, text: &str) -> io::Result<()> {
        write!(self.out, "{text}")?;
        if !text.ends_with('\n') {
            writeln!(self.out)?;
        }
        Ok(())
    }

    /// Text from the repository (file names, a diff), which may hold lines that look like
    /// workflow commands (`::error::...` in a kustomization comment). Under Actions it is fenced
    /// with `::stop-commands::<random token>`, so the runner prints it and runs none of it.
    pub fn verbatim(&mut self, text: &str) -> io::Result<()> {
        if !self.actions || !text.contains("::") {
            return self.info(text);
        }
        let token = crate::random::hex(16);
        writeln!(self.out, "::stop-commands::{token}")?;
        self.info(text)?;
        writeln!(self.out, "::{token}::")
    }

    fn annotate(&mut self, level: &str, message: &str, at: Option<&Annotation>) -> io::Result<()> {
        if !self.actions {
            return match at {
                Some(a) => {
                    let place = match (a.line, a.col) {
                        (Some(l), Some(c)) => format!("{}:{l}:{c}", a.file),
                        (Some(l), None) => format!("{}:{l}", a.file),
                        _ => a.file.clone(),
                    };
                    writeln!(self.out, "{level}: {place}: {message}")
                }
                None => writeln!(self.out, "{level}: {message}"),
            };
        }
        let mut props = Vec::new();
        if let Some(a) = at {
            props.push(format!("file={}", escape_property(&a.file)));
            if let Some(l) = a.line {
                props.push(format!("line={l}"));
            }
            if let Some(c) = a.col {
                props.push(format!("col={c}"));
            }
        }
        let props = if props.is_empty() {
            String::new()
        } else {
            format!(" {}", props.join(","))
        };
        writeln!(self.out, "::{level}{props}::{}", escape_data(message))
    }
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(actions: bool, f: impl FnOnce(&mut Workflow<&mut Vec<u8>>) -> io::Result<()>) -> String {
        let mut buf = Vec::new();
        f(&mut Workflow::new(&mut buf, actions, false)).expect("writes");
        String::from_utf8(buf).expect("utf-8")
    }

    #[test]
    fn annotations_escape_data_and_properties() {
        let at = Annotation {
            file: "a,b:c.yaml".into(),
            line: Some(3),
            col: Some(7),
        };
        let out = run(true, |w| w.error("100% bad\r\nnext", Some(&at)));
        assert_eq!(
            out,
            "::error file=a%2Cb%3Ac.yaml,line=3,col=7::100%25 bad%0D%0Anext\n"
        );
    }

    /// Issue 9: a kustomization line such as `  ::error::x` became a workflow command when the
    /// diff was printed.
    #[test]
    fn repository_text_is_fenced_from_the_runner() {
        let out = run(true, |w| {
            w.verbatim("+  # ::error::injected\n+  ::set-output name=x::y")
        });
        let lines: Vec<&str> = out.lines().collect();
        let token = lines[0]
            .strip_prefix("::stop-commands::")
            .expect("fence opens");
        assert_eq!(token.len(), 32);
        assert_eq!(lines[1], "+  # ::error::injected");
        assert_eq!(lines.last().copied(), Some(format!("::{token}::").as_str()));
        assert!(!out[out.len() - 40..].contains("injected"));
        assert_eq!(run(false, |w| w.verbatim("a ::b")), "a ::b\n");
        assert_eq!(run(true, |w| w.verbatim("plain")), "plain\n");
    }

    #[test]
    fn outside_actions_messages_are_plain() {
        let at = Annotation {
            file: "k.yaml".into(),
            line: Some(3),
            col: Some(7),
        };
        assert_eq!(
            run(false, |w| w.error("bad", Some(&at))),
            "error: k.yaml:3:7: bad\n"
        );
        assert_eq!(run(false, |w| w.add_mask("s3cret")), "");
        assert_eq!(run(true, |w| w.add_mask("s3cret")), "::add-mask::s3cret\n");
        assert_eq!(run(false, |w| w.debug("x")), "");
    }
}
