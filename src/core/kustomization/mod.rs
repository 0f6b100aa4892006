//! The format-preserving kustomization editor.
//!
//! It never re-serializes: a span-aware parser finds the exact bytes of each `newTag` (and
//! `digest`) value in the top-level `images:` list, and new bytes are spliced into those spans,
//! keeping the value's quoting style. Every other byte (comments, blank lines, key order,
//! indentation, line endings, a BOM, a missing final newline, flow style) is left as it was.
//! The result is then re-read by an independent YAML parser, which must see the intended values
//! and nothing else changed.
//!
//! One concern per file, in the order an edit runs: [`tree`] reads the document with positions
//! ([`lines`] reads the common plain block style the same way, much faster), [`plan`] decides
//! the splices and returns them as data, [`splice`] applies them, [`scalar`] writes a value so
//! YAML reads it back as that string, and [`verify`] re-reads the result.

mod lines;
mod plan;
mod scalar;
mod splice;
mod tree;
mod verify;

use tree::{Kind, Node};

/// The document's tree: by the fast line reader where the file is in the style it knows, else
/// by saphyr-parser. `None` for an empty file. The flag says whether the tree may hold aliases
/// (the line reader declines any).
fn read_document(body: &str) -> Result<Option<(Node<'_>, bool)>, EditError> {
    refuse_lone_carriage_return(body)?;
    match lines::read_simple(body) {
        Some(root) => Ok(Some((root, false))),
        None => Ok(tree::read_document(body)
            .map_err(|e| within_text(body, e))?
            .map(|root| (root, true))),
    }
}

/// A carriage return without a line feed ends a line for YAML but not for the planner (nor for
/// most editors and diff tools): an inserted `newTag` would land where YAML does not read it
/// as the entry's. Such a file is refused where the carriage return is (fuzz finding F2).
fn refuse_lone_carriage_return(body: &str) -> Result<(), EditError> {
    let bytes = body.as_bytes();
    let Some(at) =
        (0..bytes.len()).find(|&i| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
    else {
        return Ok(());
    };
    let (line, col) = line_col(body, at);
    Err(EditError::Unsupported {
        line,
        col,
        reason: "a carriage return without a line feed: YAML reads it as a line break, most tools \
                 do not; use LF or CRLF line endings"
            .into(),
    })
}

/// 1-based line and column (in characters) of byte `at`.
fn line_col(body: &str, at: usize) -> (usize, usize) {
    let before = &body[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Both YAML readers put the end of a text without a final line break at column 1 of a line the
/// file does not have; an annotation must name a place that exists: the end of the last line
/// (fuzz finding F1).
fn within_text(body: &str, e: EditError) -> EditError {
    match e {
        EditError::Syntax { line, message, .. } if line > body.lines().count().max(1) => {
            let (line, col) = line_col(body, body.trim_end_matches(['\n', '\r']).len());
            EditError::Syntax { line, col, message }
        }
        e => e,
    }
}

/// The file names kustomize accepts for a kustomization, in the order it looks for them.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

const UTF8_BOM: &str = "\u{feff}";

/// What an image should be promoted to.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub image: &'a str,
    pub tag: &'a str,
    /// When known, the digest is written too, and replaces any digest already there.
    pub digest: Option<&'a str>,
}

/// One value before and after; `old` is `None` where the key was missing or null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub old: Option<String>,
    pub new: String,
}

impl Update {
    pub fn is_change(&self) -> bool {
        self.old.as_deref() != Some(self.new.as_str())
    }
}

/// One `images:` entry that names a promoted image, whether or not it needed a change: what it
/// held, and everything it holds after the edit, so what it renders to needs no second read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryUpdate {
    pub image: String,
    /// 1-based line of the entry's `name`.
    pub line: usize,
    /// The entry's `newName`, which the edit leaves as it is.
    pub new_name: Option<String>,
    /// `newTag`; after the edit it is always `tag.new`.
    pub tag: Update,
    /// The digest the run writes, when it writes one.
    pub digest: Option<Update>,
    /// The digest the entry holds after the edit: the one written, else the one it already had.
    pub final_digest: Option<String>,
}

impl EntryUpdate {
    pub fn is_change(&self) -> bool {
        self.tag.is_change() || self.digest.as_ref().is_some_and(Update::is_change)
    }
}

/// The edited text and the record of every entry it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub entries: Vec<EntryUpdate>,
}

/// Why a file could not be edited. Positions are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("invalid YAML: {message}")]
    Syntax {
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{reason}")]
    Unsupported {
        line: usize,
        col: usize,
        reason: String,
    },
    #[error(
        "image `{image}` is pinned to digest `{digest}`, which would keep the old image running \
         (kustomize renders name:tag@digest and the digest wins); enable verify_images and \
         pin_digest so the new digest is written, or remove the digest"
    )]
    StaleDigest {
        line: usize,
        col: usize,
        image: String,
        digest: String,
    },
    #[error("the edited file does not read back as intended ({0}); nothing was written")]
    Verification(String),
}

impl EditError {
    /// The 1-based line and column the error points at, if it has one.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Self::Syntax { line, col, .. }
            | Self::Unsupported { line, col, .. }
            | Self::StaleDigest { line, col, .. } => Some((*line, *col)),
            Self::Verification(_) => None,
        }
    }
}

/// Sets each target's tag (and digest) in every top-level `images:` entry whose `name` equals
/// the target's image. Entries that already hold the values are reported but left alone.
pub fn edit(text: &str, targets: &[Target]) -> Result<Edited, EditError> {
    let (bom, body) = match text.strip_prefix(UTF8_BOM) {
        Some(body) => (UTF8_BOM, body),
        None => ("", text),
    };
    let Some((root, may_alias)) = read_document(body)? else {
        return Ok(Edited {
            text: text.to_owned(),
            entries: Vec::new(),
        });
    };
    let plan = plan::plan(body, &root, targets)?;
    if plan.splices().next().is_none() {
        return Ok(Edited {
            text: text.to_owned(),
            entries: plan.into_updates(),
        });
    }
    let edited = splice::apply(body, plan.splices());
    // Aliases are where libyaml refuses what the editor's reader accepts (an alias bomb's
    // expansion), wherever in the file they are: such a file is always read whole.
    let read_whole = may_alias && root.has_alias();
    verify::verify(body, &edited, &plan, targets, read_whole)?;
    Ok(Edited {
        text: format!("{bom}{edited}"),
        entries: plan.into_updates(),
    })
}

/// An `images:` entry as written: its `name`, `newName`, `newTag` and `digest` where given, and
/// the line of `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    pub line: usize,
}

/// Lists the top-level `images:` entries without changing anything: what a run will make the
/// cluster pull, to verify before any edit. A file the editor would refuse for its shape (the
/// top level, `images` or an entry of the wrong kind) is refused here too, by place, rather than
/// read as having no entries (issue 9).
pub fn image_entries(text: &str) -> Result<Vec<ImageEntry>, EditError> {
    let body = text.strip_prefix(UTF8_BOM).unwrap_or(text);
    let Some((root, _)) = read_document(body)? else {
        return Ok(Vec::new());
    };
    if root.is_null() {
        return Ok(Vec::new());
    }
    let Some((_, items)) = plan::image_list(&root)? else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::new();
    for entry in items {
        let item = match &entry.kind {
            Kind::Map { .. } => entry,
            // Listed by the name of its anchor; the editor refuses to edit it, by place.
            Kind::Alias(id) => match root.find_anchor(*id) {
                Some(aliased) if matches!(aliased.kind, Kind::Map { .. }) => aliased,
                _ => continue,
            },
            _ => return Err(entry.unsupported("an `images` entry is not a mapping")),
        };
        let Some((key, name)) = item.get("name")? else {
            continue;
        };
        let Some(name) = name.as_str() else {
            continue;
        };
        let text_of = |key: &str| -> Result<Option<String>, EditError> {
            Ok(item
                .get(key)?
                .and_then(|(_, v)| v.as_str())
                .map(str::to_owned))
        };
        entries.push(ImageEntry {
            name: name.to_owned(),
            new_name: text_of("newName")?,
            new_tag: text_of("newTag")?,
            digest: text_of("digest")?,
            line: key.pos.line,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn promote(text: &str) -> Result<Edited, EditError> {
        edit(
            text,
            &[
                Target {
                    image: "backend",
                    tag: "v2",
                    digest: None,
                },
                Target {
                    image: "frontend",
                    tag: "v2",
                    digest: None,
                },
            ],
        )
    }

    fn with_digest(text: &str) -> Result<Edited, EditError> {
        edit(
            text,
            &[Target {
                image: "backend",
                tag: "v2",
                digest: Some(DIGEST),
            }],
        )
    }

    #[test]
    fn replaces_only_the_tag_bytes_in_every_quoting_style() {
        let src = "images:\n- name: backend\n  newTag: v1 # {\"$imagepolicy\": \"x\"}\n- name: frontend\n  newTag: 'v1'\n- name: other\n  newTag: \"v1\"\n";
        let out = promote(src).expect("edits");
        assert_eq!(
            out.text,
            "images:\n- name: backend\n  newTag: v2 # {\"$imagepolicy\": \"x\"}\n- name: frontend\n  newTag: 'v2'\n- name: other\n  newTag: \"v1\"\n"
        );
        assert_eq!(out.entries.len(), 2);
        assert_eq!(out.entries[0].tag.old.as_deref(), Some("v1"));
        assert_eq!(out.entries[0].line, 2);
    }

    #[test]
    fn double_quoted_value_followed_by_a_comment_keeps_the_comment() {
        let src = "images:\n  - name: backend\n    newTag: \"v1\" # keep \"me\"\n";
        let out = promote(src).expect("edits");
        assert_eq!(
            out.text,
            "images:\n  - name: backend\n    newTag: \"v2\" # keep \"me\"\n"
        );
    }

    #[test]
    fn inserts_a_missing_tag_after_new_name_with_the_files_line_ending() {
        let src = "images:\r\n  - name: backend\r\n    newName: repo/backend # c\r\n";
        let out = promote(src).expect("edits");
        assert_eq!(
            out.text,
            "images:\r\n  - name: backend\r\n    newName: repo/backend # c\r\n    newTag: v2\r\n"
        );
    }

    #[test]
    fn inserts_into_a_last_line_without_a_line_break() {
        let out = promote("images:\n- name: backend").expect("edits");
        assert_eq!(out.text, "images:\n- name: backend\n  newTag: v2");
    }

    #[test]
    fn edits_flow_style_in_place() {
        let out =
            promote("images: [{name: backend, newTag: v1}, {name: frontend}]\n").expect("edits");
        assert_eq!(
            out.text,
            "images: [{name: backend, newTag: v2}, {name: frontend, newTag: v2}]\n"
        );
    }

    #[test]
    fn keeps_a_bom_and_non_ascii_text() {
        let src = "\u{feff}# déploiement\nimages:\n- name: backend # 日本\n  newTag: v1 # é\n";
        let out = promote(src).expect("edits");
        assert_eq!(
            out.text,
            "\u{feff}# déploiement\nimages:\n- name: backend # 日本\n  newTag: v2 # é\n"
        );
    }

    #[test]
    fn fills_an_empty_or_null_tag() {
        let out =
            promote("images:\n- name: backend\n  newTag:\n- name: frontend\n  newTag: ~ # c\n")
                .expect("edits");
        assert_eq!(
            out.text,
            "images:\n- name: backend\n  newTag: v2\n- name: frontend\n  newTag: v2 # c\n"
        );
        let out = promote("images:\n- name: backend\n  newTag: # c\n").expect("edits");
        assert_eq!(out.text, "images:\n- name: backend\n  newTag: v2 # c\n");
    }

    #[test]
    fn quotes_a_plain_tag_that_would_read_as_a_number() {
        let out = edit(
            "images:\n- name: backend\n  newTag: v1\n",
            &[Target {
                image: "backend",
                tag: "1.10",
                digest: None,
            }],
        )
        .expect("edits");
        assert_eq!(out.text, "images:\n- name: backend\n  newTag: \"1.10\"\n");
    }

    #[test]
    fn the_same_tag_again_changes_nothing() {
        let src = "images:\n- name: backend\n  newTag: v2\n";
        let out = promote(src).expect("edits");
        assert_eq!(out.text, src);
        assert_eq!(out.entries.len(), 1);
        assert!(!out.entries[0].is_change());
    }

    #[test]
    fn replaces_or_adds_a_known_digest() {
        let out = with_digest("images:\n- name: backend\n  newTag: v1\n  digest: sha256:old\n")
            .expect("edits");
        assert_eq!(
            out.text,
            format!("images:\n- name: backend\n  newTag: v2\n  digest: {DIGEST}\n")
        );
        let out = with_digest("images:\n- name: backend\n  newName: x/y\n").expect("edits");
        assert_eq!(
            out.text,
            format!("images:\n- name: backend\n  newName: x/y\n  newTag: v2\n  digest: {DIGEST}\n")
        );
        let out = with_digest("images: [{name: backend, newTag: v1}]").expect("edits");
        assert_eq!(
            out.text,
            format!("images: [{{name: backend, newTag: v2, digest: {DIGEST}}}]")
        );
    }

    #[test]
    fn a_stale_digest_without_a_new_one_is_refused() {
        let err = promote("images:\n- name: backend\n  newTag: v1\n  digest: sha256:abc\n")
            .expect_err("refuses");
        assert!(
            matches!(
                err,
                EditError::StaleDigest {
                    line: 4,
                    col: 11,
                    ..
                }
            ),
            "{err:?}"
        );
        // With the tag unchanged, the digest still belongs to it.
        assert!(promote("images:\n- name: backend\n  newTag: v2\n  digest: sha256:abc\n").is_ok());
    }

    #[test]
    fn refuses_what_it_would_have_to_guess() {
        let cases = [
            (
                "t: &t v1\nimages:\n- name: backend\n  newTag: *t\n",
                4,
                "alias",
            ),
            (
                "images:\n- &b\n  name: backend\n  newTag: v1\nx: *b\n",
                2,
                "anchor",
            ),
            ("images: &i\n- name: backend\n  newTag: v1\n", 1, "anchor"),
            (
                "b: &b {name: backend, newTag: v1}\nimages:\n- *b\n",
                3,
                "alias",
            ),
            (
                "b: &b {name: backend}\nimages:\n- <<: *b\n  newTag: v1\n",
                3,
                "merge key",
            ),
            (
                "images: []\n---\nimages:\n- name: backend\n",
                2,
                "second YAML document",
            ),
            ("images: []\nimages: []\n", 2, "duplicate `images`"),
            (
                "images:\n- name: backend\n  newTag: v1\n  newTag: v0\n",
                4,
                "duplicate `newTag`",
            ),
            (
                "images:\n- name: backend\n  newTag: !!str v1\n",
                3,
                "explicit YAML tag",
            ),
            ("- a\n", 1, "not a mapping"),
        ];
        for (src, line, needle) in cases {
            let err = promote(src).expect_err(src);
            assert_eq!(err.position().map(|p| p.0), Some(line), "{src}: {err}");
            assert!(err.to_string().contains(needle), "{src}: {err}");
        }
    }

    /// A file with aliases is read back whole, so libyaml's refusal of an alias bomb anywhere in
    /// it (which the changed lines alone would not show) still refuses the edit.
    #[test]
    fn an_alias_bomb_elsewhere_in_the_file_is_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            src.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        src.push_str("images:\n- name: backend\n  newTag: v1\n");
        let err = promote(&src).expect_err("refused");
        assert!(err.to_string().contains("repetition limit"), "{err}");
    }

    #[test]
    fn anchors_elsewhere_in_the_file_are_fine() {
        let src = "common: &c {app: x}\nlabels: *c\nimages:\n- name: backend\n  newTag: v1\n";
        let out = promote(src).expect("edits");
        assert_eq!(out.text, src.replace("v1", "v2"));
    }

    #[test]
    fn malformed_yaml_points_at_the_line() {
        let err = promote("images:\n- name: backend\n  newTag: [v1\n").expect_err("invalid");
        assert!(matches!(err, EditError::Syntax { .. }), "{err:?}");
        assert!(err.position().is_some());
    }

    #[test]
    fn lists_entries_with_their_new_names() {
        let entries = image_entries(
            "images:\n- name: backend\n  newName: r/b\n  newTag: '1.0'\n  digest: sha256:ab\n- {name: x}\n",
        )
        .expect("lists");
        assert_eq!(
            entries,
            [
                ImageEntry {
                    name: "backend".into(),
                    new_name: Some("r/b".into()),
                    new_tag: Some("1.0".into()),
                    digest: Some("sha256:ab".into()),
                    line: 2
                },
                ImageEntry {
                    name: "x".into(),
                    new_name: None,
                    new_tag: None,
                    digest: None,
                    line: 6
                },
            ]
        );
    }

    #[test]
    fn files_without_images_or_empty_files_are_left_alone() {
        for src in [
            "",
            "# only a comment\n",
            "resources: [a.yaml]\n",
            "images:\n",
        ] {
            let out = promote(src).expect(src);
            assert_eq!(out.text, src);
            assert!(out.entries.is_empty());
        }
    }
}
