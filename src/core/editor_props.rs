//! Property tests for the editor: for generated kustomizations in many formatting styles, the
//! output equals the input with exactly the targeted values replaced (so every byte outside
//! those spans is identical), it reads back with the new values, and a second edit changes
//! nothing.

use proptest::prelude::*;

use super::kustomization::{Target, edit};

const TAG: &str = "sha-1a2b3c4";
const TARGETS: [Target<'static>; 2] = [
    Target {
        image: "backend",
        tag: TAG,
        digest: None,
    },
    Target {
        image: "frontend",
        tag: TAG,
        digest: None,
    },
];

#[derive(Debug, Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
}

impl Style {
    fn quote(self, v: &str) -> String {
        match self {
            Style::Plain => v.to_owned(),
            Style::Single => format!("'{v}'"),
            Style::Double => format!("\"{v}\""),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    image: &'static str,
    new_name: Option<String>,
    tag: String,
    style: Style,
    tag_first: bool,
    comment: Option<String>,
    blank_before: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Doc {
    eol: &'static str,
    bom: bool,
    final_newline: bool,
    indent: usize,
    indentless: bool,
    flow: bool,
    header_comment: Option<String>,
    entries: Vec<Entry>,
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![Just(Style::Plain), Just(Style::Single), Just(Style::Double)]
}

/// Comment text: printable, some non-ASCII, never a line break.
fn comment() -> impl Strategy<Value = String> {
    "[ -~éß日本—]{0,24}".prop_map(|s| s.replace(['\r', '\n'], ""))
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        prop_oneof![
            Just("backend"),
            Just("frontend"),
            Just("nginx"),
            Just("redis")
        ],
        proptest::option::of("[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}"),
        "v[a-z0-9.-]{0,12}",
        style(),
        any::<bool>(),
        proptest::option::of(comment()),
        any::<bool>(),
    )
        .prop_map(
            |(image, new_name, tag, style, tag_first, comment, blank_before)| Entry {
                image,
                new_name,
                tag,
                style,
                tag_first,
                comment,
                blank_before,
            },
        )
}

pub(super) fn doc() -> impl Strategy<Value = Doc> {
    (
        prop_oneof![Just("\n"), Just("\r\n")],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(2usize), Just(4usize)],
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(comment()),
        proptest::collection::vec(entry(), 1..6),
    )
        .prop_map(
            |(eol, bom, final_newline, indent, indentless, flow, header_comment, entries)| Doc {
                eol,
                bom,
                final_newline,
                indent,
                indentless,
                flow,
                header_comment,
                entries,
            },
        )
}

impl Doc {
    /// The document as generated, before any edit.
    pub(super) fn original(&self) -> String {
        self.render(|e| e.style.quote(&e.tag))
    }

    /// The document's text with each entry's tag rendered by `tag_of`.
    fn render(&self, tag_of: impl Fn(&Entry) -> String) -> String {
        let eol = self.eol;
        let mut out = String::new();
        if self.bom {
            out.push('\u{feff}');
        }
        if let Some(c) = &self.header_comment {
            out.push_str(&format!("# {c}{eol}"));
        }
        out.push_str(&format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1{eol}kind: Kustomization{eol}{eol}"
        ));
        if self.flow {
            let items: Vec<String> = self
                .entries
                .iter()
                .map(|e| {
                    let mut pairs = vec![format!("name: {}", e.image)];
                    if let Some(n) = &e.new_name {
                        pairs.push(format!("newName: {n}"));
                    }
                    let tag = format!("newTag: {}", tag_of(e));
                    if e.tag_first {
                        pairs.insert(0, tag)
                    } else {
                        pairs.push(tag)
                    }
                    format!("{{{}}}", pairs.join(", "))
                })
                .collect();
            out.push_str(&format!("images: [{}]", items.join(&format!(",{eol}  "))));
        } else {
            out.push_str("images:");
            let dash = if self.indentless {
                String::new()
            } else {
                " ".repeat(self.indent)
            };
            let key = format!("{dash}{}", " ".repeat(2));
            for e in &self.entries {
                out.push_str(eol);
                if e.blank_before {
                    out.push_str(eol);
                }
                let comment = e
                    .comment
                    .as_ref()
                    .map(|c| format!(" # {c}"))
                    .unwrap_or_default();
                let mut lines = vec![format!("name: {}", e.image)];
                if let Some(n) = &e.new_name {
                    lines.push(format!("newName: {n}"));
                }
                let tag = format!("newTag: {}{comment}", tag_of(e));
                if e.tag_first {
                    lines.insert(0, tag)
                } else {
                    lines.push(tag)
                }
                out.push_str(&format!("{dash}- {}", lines.join(&format!("{eol}{key}"))));
            }
        }
        if self.final_newline {
            out.push_str(eol);
        }
        out
    }
}

fn is_target(e: &Entry) -> bool {
    TARGETS.iter().any(|t| t.image == e.image)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn only_the_targeted_values_change(doc in doc()) {
        let input = doc.original();
        let want = doc.render(|e| e.style.quote(if is_target(e) { TAG } else { &e.tag }));
        let out = edit(&input, &TARGETS).map_err(|e| TestCaseError::fail(format!("{e}\n{input}")))?;
        prop_assert_eq!(&out.text, &want);
        prop_assert_eq!(out.entries.len(), doc.entries.iter().filter(|e| is_target(e)).count());
        for (update, entry) in out.entries.iter().zip(doc.entries.iter().filter(|e| is_target(e))) {
            prop_assert_eq!(update.tag.old.as_deref(), Some(entry.tag.as_str()));
        }
        let again = edit(&out.text, &TARGETS).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again.text, &out.text);
        prop_assert!(again.entries.iter().all(|e| !e.is_change()));
    }
}
