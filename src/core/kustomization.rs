//! The format-preserving kustomization editor.
//!
//! It never re-serializes: a span-aware parser finds the exact bytes of each `newTag` (and
//! `digest`) value in the top-level `images:` list, and new bytes are spliced into those spans,
//! keeping the value's quoting style. Every other byte (comments, blank lines, key order,
//! indentation, line endings, a BOM, a missing final newline, flow style) is left as it was.
//! The result is then re-read by an independent YAML parser, which must see the intended values
//! and nothing else changed.

use std::borrow::Cow;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, StrInput};
use serde_norway::Value;

/// The file names kustomize accepts for a kustomization, in the order it looks for them.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

const UTF8_BOM: &str = "\u{feff}";
const MAX_DEPTH: usize = 128;

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

/// One `images:` entry that names a promoted image, whether or not it needed a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryUpdate {
    pub image: String,
    /// 1-based line of the entry's `name`.
    pub line: usize,
    pub tag: Update,
    pub digest: Option<Update>,
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
    let Some(root) = read_document(body)? else {
        return Ok(Edited {
            text: text.to_owned(),
            entries: Vec::new(),
        });
    };
    let (splices, entries) = plan(body, &root, targets)?;
    if splices.is_empty() {
        return Ok(Edited {
            text: text.to_owned(),
            entries,
        });
    }
    let edited = apply(body, splices);
    verify(body, &edited, targets, &entries)?;
    Ok(Edited {
        text: format!("{bom}{edited}"),
        entries,
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
    let Some(root) = read_document(body)? else {
        return Ok(Vec::new());
    };
    if root.is_null() {
        return Ok(Vec::new());
    }
    let Some((_, items)) = image_list(&root)? else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::new();
    for entry in items {
        let item = match &entry.kind {
            Kind::Map { .. } => entry,
            // Listed by the name of its anchor; the editor refuses to edit it, by place.
            Kind::Alias(id) => match find_anchor(&root, *id) {
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

// ---------------------------------------------------------------------------------------------
// A small tree of the document, with positions.

#[derive(Debug, Clone, Copy)]
struct Pos {
    byte: usize,
    line: usize,
    col: usize,
}

#[derive(Debug)]
struct Node<'a> {
    kind: Kind<'a>,
    pos: Pos,
    anchor: usize,
    tagged: bool,
}

#[derive(Debug)]
enum Kind<'a> {
    Scalar {
        value: Cow<'a, str>,
        style: ScalarStyle,
    },
    Seq(Vec<Node<'a>>),
    Map {
        pairs: Vec<(Node<'a>, Node<'a>)>,
        flow: bool,
    },
    Alias(usize),
}

impl Node<'_> {
    fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, style: ScalarStyle::Plain }
            if matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL"))
    }

    fn unsupported(&self, reason: impl Into<String>) -> EditError {
        EditError::Unsupported {
            line: self.pos.line,
            col: self.pos.col,
            reason: reason.into(),
        }
    }

    /// The values of the keys equal to `key`; more than one is an error.
    fn get(&self, key: &str) -> Result<Option<(&Node<'_>, &Node<'_>)>, EditError> {
        let Kind::Map { pairs, .. } = &self.kind else {
            return Ok(None);
        };
        let mut found = pairs.iter().filter(|(k, _)| k.as_str() == Some(key));
        let first = found.next();
        if let Some((dup, _)) = found.next() {
            return Err(dup.unsupported(format!("duplicate `{key}` key")));
        }
        Ok(first.map(|(k, v)| (k, v)))
    }
}

/// Maps the parser's character indices to byte offsets.
struct Offsets(Option<Vec<usize>>);

impl Offsets {
    fn new(text: &str) -> Self {
        if text.is_ascii() {
            return Self(None);
        }
        let mut table: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        table.push(text.len());
        Self(Some(table))
    }

    fn pos(&self, m: &Marker) -> Pos {
        let byte = match &self.0 {
            None => m.index(),
            Some(table) => table[m.index().min(table.len() - 1)],
        };
        Pos {
            byte,
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

struct Reader<'a> {
    parser: Parser<'a, StrInput<'a>>,
    offsets: Offsets,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), EditError> {
        match self.parser.next() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(EditError::Syntax {
                line: e.marker().line(),
                col: e.marker().col() + 1,
                message: e.info().to_owned(),
            }),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node<'a>, EditError> {
        let pos = self.offsets.pos(&span.start);
        if depth > MAX_DEPTH {
            return Err(EditError::Unsupported {
                line: pos.line,
                col: pos.col,
                reason: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        let (kind, anchor, tagged) = match event {
            Event::Scalar(value, style, anchor, tag) => {
                (Kind::Scalar { value, style }, anchor, tag.is_some())
            }
            Event::Alias(id) => (Kind::Alias(id), 0, false),
            Event::SequenceStart(anchor, tag) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                (Kind::Seq(items), anchor, tag.is_some())
            }
            Event::MappingStart(anchor, tag) => {
                let mut pairs = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(event, span, depth + 1)?;
                    let (event, span) = self.next()?;
                    let value = self.node(event, span, depth + 1)?;
                    pairs.push((key, value));
                }
                let flow = span.start.index() != span.end.index();
                (Kind::Map { pairs, flow }, anchor, tag.is_some())
            }
            other => {
                return Err(EditError::Syntax {
                    line: pos.line,
                    col: pos.col,
                    message: format!("unexpected {other:?}"),
                });
            }
        };
        Ok(Node {
            kind,
            pos,
            anchor,
            tagged,
        })
    }
}

/// Reads the one document of a kustomization; `None` for an empty file.
fn read_document(body: &str) -> Result<Option<Node<'_>>, EditError> {
    let mut reader = Reader {
        parser: Parser::new_from_str(body),
        offsets: Offsets::new(body),
    };
    let mut root = None;
    loop {
        let (event, span) = reader.next()?;
        match event {
            Event::StreamEnd => return Ok(root),
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) if root.is_some() => {
                let pos = reader.offsets.pos(&span.start);
                return Err(EditError::Unsupported {
                    line: pos.line,
                    col: pos.col,
                    reason: "a second YAML document starts here; a kustomization file holds one \
                             document, and the editor will not guess which to change"
                        .into(),
                });
            }
            Event::DocumentStart(_) => {
                let (event, span) = reader.next()?;
                root = Some(reader.node(event, span, 0)?);
            }
            other => {
                let pos = reader.offsets.pos(&span.start);
                return Err(EditError::Syntax {
                    line: pos.line,
                    col: pos.col,
                    message: format!("unexpected {other:?}"),
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Planning the splices.

#[derive(Debug)]
struct Splice {
    start: usize,
    end: usize,
    text: String,
}

/// The top-level `images` list and its entries; `None` when there is none (or it is null).
fn image_list<'n>(root: &'n Node<'_>) -> Result<Option<(&'n Node<'n>, &'n [Node<'n>])>, EditError> {
    if !matches!(root.kind, Kind::Map { .. }) {
        return Err(
            root.unsupported("the top level is not a mapping, so this is not a kustomization")
        );
    }
    let Some((images_key, images)) = root.get("images")? else {
        return Ok(None);
    };
    match &images.kind {
        Kind::Seq(items) => Ok(Some((images, items))),
        _ if images.is_null() => Ok(None),
        Kind::Alias(_) => Err(images
            .unsupported("`images` is an alias; the editor will not guess where its entries live")),
        _ => Err(images_key.unsupported("`images` is not a list")),
    }
}

fn plan(
    body: &str,
    root: &Node,
    targets: &[Target],
) -> Result<(Vec<Splice>, Vec<EntryUpdate>), EditError> {
    let mut splices = Vec::new();
    let mut updates = Vec::new();
    if root.is_null() {
        return Ok((splices, updates));
    }
    let Some((images, entries)) = image_list(root)? else {
        return Ok((splices, updates));
    };
    for entry in entries {
        let Some(target) = match_entry(root, entry, targets)? else {
            continue;
        };
        if images.anchor != 0 {
            return Err(images.unsupported(
                "the `images` list carries an anchor (&), so other parts of the file may alias \
                 it; the editor will not guess",
            ));
        }
        let (update, entry_splices) = plan_entry(body, entry, target)?;
        splices.extend(entry_splices);
        updates.push(update);
    }
    Ok((splices, updates))
}

/// The target an entry names, if any; fails where only resolving anchors could tell.
fn match_entry<'t>(
    root: &Node,
    entry: &Node,
    targets: &'t [Target<'t>],
) -> Result<Option<&'t Target<'t>>, EditError> {
    let name = match &entry.kind {
        Kind::Map { .. } => match entry.get("name")? {
            Some((_, name)) => name,
            None if entry.get("<<")?.is_some() => {
                return Err(entry.unsupported(
                    "an `images` entry takes its keys from a merge key (<<); the editor will not \
                     guess its name",
                ));
            }
            None => return Ok(None),
        },
        Kind::Alias(id) => {
            let aliased = find_anchor(root, *id).and_then(|n| n.get("name").ok().flatten());
            let names_target = aliased
                .and_then(|(_, name)| name.as_str())
                .is_some_and(|name| targets.iter().any(|t| t.image == name));
            if names_target {
                return Err(entry.unsupported(
                    "an `images` entry is an alias (*); editing it would change its anchor's \
                     other uses, so the editor will not guess",
                ));
            }
            return Ok(None);
        }
        _ => return Err(entry.unsupported("an `images` entry is not a mapping")),
    };
    let Some(name_str) = name.as_str() else {
        return Ok(None);
    };
    let Some(target) = targets.iter().find(|t| t.image == name_str) else {
        return Ok(None);
    };
    if let Kind::Alias(_) = name.kind {
        return Err(name.unsupported("the image name is an alias (*)"));
    }
    if entry.anchor != 0 {
        return Err(entry.unsupported(format!(
            "the `images` entry for `{name_str}` carries an anchor (&), so other parts of the file \
             may alias it; the editor will not guess"
        )));
    }
    if entry.get("<<")?.is_some() {
        return Err(entry.unsupported(format!(
            "the `images` entry for `{name_str}` uses a merge key (<<); the editor will not guess \
             which value wins"
        )));
    }
    Ok(Some(target))
}

fn find_anchor<'n, 'a>(node: &'n Node<'a>, id: usize) -> Option<&'n Node<'a>> {
    if node.anchor == id {
        return Some(node);
    }
    match &node.kind {
        Kind::Seq(items) => items.iter().find_map(|n| find_anchor(n, id)),
        Kind::Map { pairs, .. } => pairs
            .iter()
            .find_map(|(k, v)| find_anchor(k, id).or_else(|| find_anchor(v, id))),
        _ => None,
    }
}

fn plan_entry(
    body: &str,
    entry: &Node,
    target: &Target,
) -> Result<(EntryUpdate, Vec<Splice>), EditError> {
    let Kind::Map { flow, .. } = entry.kind else {
        unreachable!("match_entry only returns mappings");
    };
    let (name_key, name) = entry.get("name")?.expect("matched entries have a name");
    let new_name = entry.get("newName")?;
    let new_tag = entry.get("newTag")?;
    let digest = entry.get("digest")?;

    let tag = Update {
        old: match new_tag {
            Some((_, v)) => editable(v, "newTag")?,
            None => None,
        },
        new: target.tag.to_owned(),
    };
    let old_digest = match digest {
        Some((_, v)) => editable(v, "digest")?,
        None => None,
    };
    let digest_update = match (target.digest, old_digest) {
        (Some(new), old) => Some(Update {
            old,
            new: new.to_owned(),
        }),
        (None, Some(old)) if tag.is_change() => {
            let (_, value) = digest.expect("an old digest has a key");
            return Err(EditError::StaleDigest {
                line: value.pos.line,
                col: value.pos.col,
                image: target.image.to_owned(),
                digest: old,
            });
        }
        (None, _) => None,
    };

    let mut splices = Vec::new();
    // Keys to insert, in order, after `anchor`'s value.
    let mut inserts: Vec<(&str, &str)> = Vec::new();
    let anchor = match new_tag {
        Some((key, value)) => {
            if tag.is_change() {
                splices.push(replace_value(body, key, value, &tag.new)?);
            }
            Some((key, value))
        }
        None => {
            inserts.push(("newTag", target.tag));
            None
        }
    };
    if let Some(update) = digest_update.as_ref().filter(|u| u.is_change()) {
        match digest {
            Some((key, value)) => splices.push(replace_value(body, key, value, &update.new)?),
            None => inserts.push(("digest", &update.new)),
        }
    }
    if !inserts.is_empty() {
        let (after_key, after_value) = anchor.or(new_name).unwrap_or((name_key, name));
        splices.push(insert_after(body, flow, after_key, after_value, &inserts)?);
    }

    let update = EntryUpdate {
        image: target.image.to_owned(),
        line: name_key.pos.line,
        tag,
        digest: digest_update,
    };
    Ok((update, splices))
}

/// The current value of a key the editor may rewrite, refusing what it would have to guess at.
fn editable(value: &Node, key: &str) -> Result<Option<String>, EditError> {
    if let Kind::Alias(_) = value.kind {
        return Err(value.unsupported(format!(
            "`{key}` is an alias (*); the editor will not guess whether to change the anchor"
        )));
    }
    if value.anchor != 0 {
        return Err(value.unsupported(format!(
            "`{key}` carries an anchor (&), so other parts of the file may alias it; the editor \
             will not guess"
        )));
    }
    if value.tagged {
        return Err(value.unsupported(format!("`{key}` has an explicit YAML tag (!)")));
    }
    if let Kind::Scalar {
        style: ScalarStyle::Literal | ScalarStyle::Folded,
        ..
    } = value.kind
    {
        // A block scalar's value ends in a line break (unless chomped), which no tag has; and
        // its bytes run to the next key's line. Issue 9: the splice ate that line break.
        return Err(value.unsupported(format!(
            "`{key}` is a block scalar (| or >); write it on one line, e.g. `{key}: v1`"
        )));
    }
    match &value.kind {
        _ if value.is_null() => Ok(None),
        Kind::Scalar { value, .. } => Ok(Some(value.to_string())),
        _ => Err(value.unsupported(format!("`{key}` is not a single value"))),
    }
}

/// Replaces a scalar's bytes, keeping its quoting style.
fn replace_value(body: &str, key: &Node, value: &Node, new: &str) -> Result<Splice, EditError> {
    let Kind::Scalar { value: old, style } = &value.kind else {
        unreachable!("editable values are scalars");
    };
    if old.is_empty() && *style == ScalarStyle::Plain {
        // `newTag:` with nothing after the colon: write the value after it.
        let colon = after_colon(body, key)?;
        let rest = &body[colon..];
        let (at, text) = if rest.starts_with([' ', '\t']) {
            let gap = if rest[1..].starts_with('#') { " " } else { "" };
            (colon + 1, format!("{}{gap}", plain_or_quoted(new)))
        } else {
            (colon, format!(" {}", plain_or_quoted(new)))
        };
        return Ok(Splice {
            start: at,
            end: at,
            text,
        });
    }
    let end = scalar_end(body, value)?;
    let text = match style {
        ScalarStyle::Plain => plain_or_quoted(new),
        ScalarStyle::SingleQuoted => format!("'{new}'"),
        ScalarStyle::DoubleQuoted => format!("\"{new}\""),
        ScalarStyle::Literal | ScalarStyle::Folded => new.to_owned(),
    };
    Ok(Splice {
        start: value.pos.byte,
        end,
        text,
    })
}

/// Adds `key: value` lines (block) or pairs (flow) right after an existing pair.
fn insert_after(
    body: &str,
    flow: bool,
    key: &Node,
    value: &Node,
    pairs: &[(&str, &str)],
) -> Result<Splice, EditError> {
    let value_end = if matches!(value.kind, Kind::Scalar { ref value, style: ScalarStyle::Plain } if value.is_empty())
    {
        after_colon(body, key)?
    } else {
        scalar_end(body, value)?
    };
    if flow {
        let text: String = pairs
            .iter()
            .map(|(k, v)| format!(", {k}: {}", plain_or_quoted(v)))
            .collect();
        return Ok(Splice {
            start: value_end,
            end: value_end,
            text,
        });
    }
    let indent = " ".repeat(key.pos.col - 1);
    let lines = |eol: &str| -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("{indent}{k}: {}{eol}", plain_or_quoted(v)))
            .collect()
    };
    Ok(match body[value_end..].find('\n') {
        Some(nl) => {
            let at = value_end + nl + 1;
            let eol = if body[..at].ends_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            Splice {
                start: at,
                end: at,
                text: lines(eol),
            }
        }
        None => {
            // The last line has no line break: start a new line, and end without one too.
            let eol = if body.contains("\r\n") { "\r\n" } else { "\n" };
            let text = lines(eol);
            Splice {
                start: body.len(),
                end: body.len(),
                text: format!("{eol}{}", &text[..text.len() - eol.len()]),
            }
        }
    })
}

/// The byte offset just past the `:` that follows a key.
fn after_colon(body: &str, key: &Node) -> Result<usize, EditError> {
    let end = scalar_end(body, key)?;
    let gap = body[end..].len() - body[end..].trim_start_matches([' ', '\t']).len();
    if body[end + gap..].starts_with(':') {
        Ok(end + gap + 1)
    } else {
        Err(key.unsupported("cannot find the `:` after this key"))
    }
}

/// The byte offset where a scalar's source text ends, found by reading its quoting: the parser's
/// own end positions are not exact for every style.
fn scalar_end(body: &str, node: &Node) -> Result<usize, EditError> {
    let Kind::Scalar { value, style } = &node.kind else {
        return Err(node.unsupported("expected a single value"));
    };
    let start = node.pos.byte;
    let src = &body[start..];
    let end = match style {
        ScalarStyle::Plain | ScalarStyle::Literal | ScalarStyle::Folded => {
            src.starts_with(value.as_ref()).then(|| value.len())
        }
        ScalarStyle::SingleQuoted => {
            let mut chars = src.char_indices().skip(1).peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|&(_, c)| c == '\'') {
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                }
            }
            end
        }
        ScalarStyle::DoubleQuoted => {
            let mut chars = src.char_indices().skip(1);
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    _ => {}
                }
            }
            end
        }
    };
    end.map(|len| start + len)
        .ok_or_else(|| node.unsupported("a value spread over several lines; write it on one line"))
}

/// Writes a value plain unless YAML would read it back as something other than a string.
fn plain_or_quoted(value: &str) -> String {
    if needs_quotes(value) {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

/// True when a plain scalar would resolve to null, a boolean or a number under YAML 1.1 or 1.2
/// (kustomize's Go YAML reads 1.1 booleans such as `yes` and `on`).
fn needs_quotes(value: &str) -> bool {
    const WORDS: [&str; 26] = [
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y",
        "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    ];
    WORDS.contains(&value) || value == "OFF" || looks_numeric(value)
}

fn looks_numeric(value: &str) -> bool {
    let v = value.strip_prefix(['+', '-']).unwrap_or(value);
    for prefix in ["0x", "0o", "0b"] {
        if let Some(digits) = v.strip_prefix(prefix) {
            return !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
        }
    }
    let (mantissa, exponent) = match v.find(['e', 'E']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let mantissa_ok = mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_');
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

fn apply(body: &str, mut splices: Vec<Splice>) -> String {
    splices.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(body.len() + 64);
    let mut at = 0;
    for s in splices {
        debug_assert!(s.start >= at, "splices overlap");
        out.push_str(&body[at..s.start]);
        out.push_str(&s.text);
        at = s.end;
    }
    out.push_str(&body[at..]);
    out
}

// ---------------------------------------------------------------------------------------------
// Reading the result back with an independent parser.

/// Checks, with serde_norway (libyaml), that the edited document equals the original except for
/// the `newTag` and `digest` of the entries named by the targets, and that those hold the
/// intended values.
fn verify(
    before: &str,
    after: &str,
    targets: &[Target],
    entries: &[EntryUpdate],
) -> Result<(), EditError> {
    let mut before: Value = serde_norway::from_str(before).map_err(|e| {
        let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        EditError::Syntax {
            line,
            col,
            message: e.to_string(),
        }
    })?;
    let mut after: Value = serde_norway::from_str(after)
        .map_err(|e| EditError::Verification(format!("it no longer parses: {e}")))?;
    take_edited(&mut before, targets);
    let landed = take_edited(&mut after, targets);
    if before != after {
        return Err(EditError::Verification(
            "something besides the image values changed".into(),
        ));
    }
    for (image, tag, digest) in landed {
        let Some(target) = targets.iter().find(|t| t.image == image) else {
            continue;
        };
        let changed = entries.iter().any(|e| e.image == image && e.is_change());
        if !changed {
            continue;
        }
        if tag.as_ref().and_then(Value::as_str) != Some(target.tag) {
            return Err(EditError::Verification(format!(
                "`{image}` reads back with newTag {tag:?}, not `{}`",
                target.tag
            )));
        }
        if let Some(want) = target.digest
            && digest.as_ref().and_then(Value::as_str) != Some(want)
        {
            return Err(EditError::Verification(format!(
                "`{image}` reads back with digest {digest:?}, not `{want}`"
            )));
        }
    }
    Ok(())
}

/// Removes `newTag` and `digest` from the targeted `images` entries and returns them.
fn take_edited(doc: &mut Value, targets: &[Target]) -> Vec<(String, Option<Value>, Option<Value>)> {
    let mut taken = Vec::new();
    let Some(entries) = doc.get_mut("images").and_then(Value::as_sequence_mut) else {
        return taken;
    };
    for entry in entries.iter_mut().filter_map(Value::as_mapping_mut) {
        let Some(name) = entry.get("name").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        if targets.iter().any(|t| t.image == name) {
            let tag = entry.remove("newTag");
            let digest = entry.remove("digest");
            taken.push((name, tag, digest));
        }
    }
    taken
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
        for word in ["1.10", "123", "1e3", "0x1F", "yes", "on", "null", "1_000"] {
            assert!(needs_quotes(word), "{word}");
        }
        for word in ["v1", "sha-1a2b3c4", "1.2.3-rc1", "e3", "latest", "1a"] {
            assert!(!needs_quotes(word), "{word}");
        }
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
