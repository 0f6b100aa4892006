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
            (true, _) => self.line(format_args!("::debug::{}", escape_data(message))),
            (false, true) => self.line(format_args!("debug: {message}")),
            (false, false) => Ok(()),
        }
    }

    /// Opens a collapsible group in the log; plain output gets a heading.
    pub fn group(&mut self, title: &str) -> io::Result<()> {
        if self.actions {
            self.line(format_args!("::group::{}", escape_data(title)))
        } else {
            self.line(format_args!("== {title}"))
        }
    }

    pub fn end_group(&mut self) -> io::Result<()> {
        if self.actions {
            self.line(format_args!("::endgroup::"))
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
        let text = redact(text);
        self.out.write_all(text.as_bytes())?;
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
        self.line(format_args!("::stop-commands::{token}"))?;
        self.info(text)?;
        self.line(format_args!("::{token}::"))
    }

    /// Writes one line with every secret the run holds replaced by `***`: what GitHub or AWS
    /// echo back (an error page quoting a header, a refusal quoting a token) never reaches the
    /// log, masked or not.
    fn line(&mut self, text: std::fmt::Arguments<'_>) -> io::Result<()> {
        writeln!(self.out, "{}", redact(&text.to_string()))
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
                    self.line(format_args!("{level}: {place}: {message}"))
                }
                None => self.line(format_args!("{level}: {message}")),
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
        self.line(format_args!("::{level}{props}::{}", escape_data(message)))
    }
}

/// `text` with every secret the run holds ([`crate::secret::held`]), as is, escaped as workflow
/// command data, or encoded ([`crate::secret::encoded_forms`]), replaced by `***`.
fn redact(text: &str) -> String {
    let mut text = text.to_owned();
    for secret in crate::secret::held() {
        let mut forms = vec![escape_data(&secret)];
        forms.extend(crate::secret::encoded_forms(&secret));
        forms.push(secret);
        for form in forms {
            if text.contains(&form) {
                text = text.replace(&form, "***");
            }
        }
    }
    text
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

    /// Issue 9: an answer that quoted a secret (a gateway's error page echoing the request's
    /// `Authorization` header, STS quoting the web identity token) was printed as it came.
    #[test]
    fn secrets_the_run_holds_never_reach_the_log_but_through_add_mask() {
        let token = crate::secret::Secret::new("ghp_redact%me0000000000000000000000000000");
        let out = run(true, |w| {
            w.add_mask(token.expose())?;
            w.error(
                &format!("502: Authorization: bearer {}", token.expose()),
                None,
            )?;
            w.info(&format!("echo {}", token.expose()))
        });
        assert_eq!(
            out,
            "::add-mask::ghp_redact%25me0000000000000000000000000000
::error::502: Authorization: bearer ***
echo ***
"
        );
    }
}
