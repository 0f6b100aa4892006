//! The document as the span-aware parser (saphyr-parser) reads it: a small tree of nodes, each
//! with the byte offset, line and column where it starts in the source, so the planner can name
//! exact bytes to replace. Also the two source-reading helpers the planner needs where the
//! parser's own end positions are not exact: where a scalar's text ends, and where the `:` after
//! a key is.

use std::borrow::Cow;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, StrInput};

use super::EditError;

/// Deeper documents are refused rather than risk the stack.
pub(super) const MAX_DEPTH: usize = 128;

/// Where a node starts: a byte offset into the text, and the 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub byte: usize,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug)]
pub(super) struct Node<'a> {
    pub kind: Kind<'a>,
    pub pos: Pos,
    /// The byte offset where the parser says the node ends: for a flow collection, just past its
    /// closing bracket. Exact for flow collections only; [`scalar_end`] finds a scalar's end.
    pub end: usize,
    /// The parser's anchor id, 0 for none.
    pub anchor: usize,
    /// Whether the node carries an explicit tag (`!!str`, `!x`).
    pub tagged: bool,
}

#[derive(Debug)]
pub(super) enum Kind<'a> {
    Scalar {
        value: Cow<'a, str>,
        style: ScalarStyle,
    },
    Seq {
        items: Vec<Node<'a>>,
        flow: bool,
    },
    Map {
        pairs: Vec<(Node<'a>, Node<'a>)>,
        flow: bool,
    },
    Alias(usize),
}

impl Node<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// A plain scalar that YAML reads as null (an empty value included).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, style: ScalarStyle::Plain }
            if matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A plain scalar with no text: `key:` with nothing after the colon.
    pub fn is_empty_plain(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, style: ScalarStyle::Plain } if value.is_empty())
    }

    pub fn unsupported(&self, reason: impl Into<String>) -> EditError {
        EditError::Unsupported {
            line: self.pos.line,
            col: self.pos.col,
            reason: reason.into(),
        }
    }

    /// The key and value of the pair whose key is `key`; a second such key is an error.
    pub fn get(&self, key: &str) -> Result<Option<(&Node<'_>, &Node<'_>)>, EditError> {
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

    /// Whether an alias (`*name`) occurs anywhere in the node.
    pub fn has_alias(&self) -> bool {
        match &self.kind {
            Kind::Alias(_) => true,
            Kind::Scalar { .. } => false,
            Kind::Seq { items, .. } => items.iter().any(Node::has_alias),
            Kind::Map { pairs, .. } => pairs.iter().any(|(k, v)| k.has_alias() || v.has_alias()),
        }
    }

    /// The node that carries anchor `id`, searched depth first.
    pub fn find_anchor(&self, id: usize) -> Option<&Self> {
        if self.anchor == id {
            return Some(self);
        }
        match &self.kind {
            Kind::Seq { items, .. } => items.iter().find_map(|n| n.find_anchor(id)),
            Kind::Map { pairs, .. } => pairs
                .iter()
                .find_map(|(k, v)| k.find_anchor(id).or_else(|| v.find_anchor(id))),
            _ => None,
        }
    }
}

/// Turns the parser's character indices into byte offsets. The parser reports positions in
/// characters; for ASCII text they are the byte offsets. Otherwise a cursor walks from the last
/// position asked: the parser reports positions nearly in order, so the walks add up to about
/// one pass over the text, with no table.
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    /// A character index and its byte offset.
    cursor: (usize, usize),
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            ascii: text.is_ascii(),
            cursor: (0, 0),
        }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        let (mut chars, mut byte) = self.cursor;
        while chars < char_index {
            let Some(c) = self.text[byte..].chars().next() else {
                break;
            };
            byte += c.len_utf8();
            chars += 1;
        }
        while chars > char_index {
            let Some(c) = self.text[..byte].chars().next_back() else {
                break;
            };
            byte -= c.len_utf8();
            chars -= 1;
        }
        self.cursor = (chars, byte);
        byte
    }

    fn pos(&mut self, m: &Marker) -> Pos {
        Pos {
            byte: self.byte(m.index()),
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

struct Reader<'a> {
    parser: Parser<'a, StrInput<'a>>,
    offsets: Offsets<'a>,
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

    /// Just past a flow collection's closing bracket (one byte, which its end event starts at);
    /// for a block collection, where its end event starts.
    fn end_of_collection(&mut self, end_event: Span, flow: bool) -> usize {
        self.offsets.byte(end_event.start.index()) + usize::from(flow)
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
        // A collection's start event spans its opening bracket in flow style, nothing in block.
        let flow = span.start.index() != span.end.index();
        let (kind, end, anchor, tagged) = match event {
            Event::Scalar(value, style, anchor, tag) => {
                let end = self.offsets.byte(span.end.index());
                (Kind::Scalar { value, style }, end, anchor, tag.is_some())
            }
            Event::Alias(id) => {
                let end = self.offsets.byte(span.end.index());
                (Kind::Alias(id), end, 0, false)
            }
            Event::SequenceStart(anchor, tag) => {
                let mut items = Vec::new();
                let end = loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break self.end_of_collection(span, flow);
                    }
                    items.push(self.node(event, span, depth + 1)?);
                };
                (Kind::Seq { items, flow }, end, anchor, tag.is_some())
            }
            Event::MappingStart(anchor, tag) => {
                let mut pairs = Vec::new();
                let end = loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break self.end_of_collection(span, flow);
                    }
                    let key = self.node(event, span, depth + 1)?;
                    let (event, span) = self.next()?;
                    let value = self.node(event, span, depth + 1)?;
                    pairs.push((key, value));
                };
                (Kind::Map { pairs, flow }, end, anchor, tag.is_some())
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
            end,
            anchor,
            tagged,
        })
    }
}

/// Reads the one document of a kustomization (without its BOM); `None` for an empty file.
pub(super) fn read_document(body: &str) -> Result<Option<Node<'_>>, EditError> {
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

/// The byte offset where a scalar's source text ends, found by reading its quoting: the parser's
/// own end positions are not exact for every style. A plain value spread over several lines, or a
/// quoted one that never closes, is refused.
pub(super) fn scalar_end(body: &str, node: &Node) -> Result<usize, EditError> {
    let Kind::Scalar { value, style } = &node.kind else {
        return Err(node.unsupported("expected a single value"));
    };
    let start = node.pos.byte;
    let src = &body[start..];
    let end = match style {
        ScalarStyle::Plain | ScalarStyle::Literal | ScalarStyle::Folded => {
            src.starts_with(value.as_ref()).then(|| value.len())
        }
        ScalarStyle::SingleQuoted => closing_quote(src, b'\'', None),
        ScalarStyle::DoubleQuoted => closing_quote(src, b'"', Some(b'\\')),
    };
    end.map(|len| start + len)
        .ok_or_else(|| node.unsupported("a value spread over several lines; write it on one line"))
}

/// The length of a quoted scalar's source, quotes included, if it closes. Inside single quotes
/// `''` is a quote; inside double quotes `\` escapes the next character.
fn closing_quote(src: &str, quote: u8, escape: Option<u8>) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if Some(b) == escape {
            i += 2;
            continue;
        } else if b == quote {
            if escape.is_none() && bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The byte offset just past the `:` that follows a key.
pub(super) fn after_colon(body: &str, key: &Node) -> Result<usize, EditError> {
    let end = scalar_end(body, key)?;
    let gap = body[end..].len() - body[end..].trim_start_matches([' ', '\t']).len();
    if body[end + gap..].starts_with(':') {
        Ok(end + gap + 1)
    } else {
        Err(key.unsupported("cannot find the `:` after this key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node<'_> {
        read_document(text).expect("parses").expect("a document")
    }

    /// Positions are bytes, also after multi-byte characters, and lines and columns are 1-based.
    #[test]
    fn positions_are_byte_offsets_after_non_ascii_text() {
        let text = "# é日本\nimages:\n- name: bäckend # ü\n  newTag: 'v1'\n";
        let doc = root(text);
        let (_, images) = doc.get("images").expect("one").expect("present");
        let Kind::Seq { items, flow } = &images.kind else {
            panic!("a list: {images:?}");
        };
        assert!(!flow);
        let (_, name) = items[0].get("name").expect("one").expect("present");
        assert_eq!(
            &text[name.pos.byte..scalar_end(text, name).expect("ends")],
            "bäckend"
        );
        assert_eq!((name.pos.line, name.pos.col), (3, 9));
        let (key, tag) = items[0].get("newTag").expect("one").expect("present");
        assert_eq!(
            &text[tag.pos.byte..scalar_end(text, tag).expect("ends")],
            "'v1'"
        );
        assert_eq!(
            &text[..after_colon(text, key).expect("colon")],
            &text[..text.len() - 6]
        );
    }

    #[test]
    fn a_flow_mapping_ends_past_its_closing_brace() {
        let text = "images: [ {name: a, newTag: \"v1\"} , {name: b}]\n";
        let doc = root(text);
        let (_, images) = doc.get("images").expect("one").expect("present");
        let Kind::Seq { items, flow: true } = &images.kind else {
            panic!("a flow list: {images:?}");
        };
        let spans: Vec<&str> = items.iter().map(|i| &text[i.pos.byte..i.end]).collect();
        assert_eq!(spans, ["{name: a, newTag: \"v1\"}", "{name: b}"]);
    }

    /// Quoted values end at their own closing quote, not at an escaped or doubled one; a plain
    /// value that goes on to the next line is refused.
    #[test]
    fn quoted_scalars_end_at_their_closing_quote() {
        let text = "a: 'it''s' # 'x'\nb: \"say \\\"hi\\\"\" # \"y\"\nc: two\n  lines\n";
        let doc = root(text);
        let end = |key: &str| {
            let (_, v) = doc.get(key).expect("one").expect("present");
            scalar_end(text, v).map(|e| &text[v.pos.byte..e])
        };
        assert_eq!(end("a"), Ok("'it''s'"));
        assert_eq!(end("b"), Ok("\"say \\\"hi\\\"\""));
        assert!(end("c").is_err());
    }

    #[test]
    fn refuses_a_second_document_and_deep_nesting() {
        let err = read_document("a: 1\n---\nb: 2\n").expect_err("two documents");
        assert_eq!(err.position(), Some((2, 1)));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        let err = read_document(&deep).expect_err("too deep");
        assert!(err.to_string().contains("nesting"), "{err}");
    }

    #[test]
    fn an_empty_or_comment_only_file_has_no_document() {
        assert!(read_document("").expect("parses").is_none());
        assert!(read_document("# nothing\n").expect("parses").is_none());
    }

    #[test]
    fn duplicate_keys_are_refused_at_the_second() {
        let err = root("images: []\nimages: []\n")
            .get("images")
            .expect_err("duplicate");
        assert_eq!(err.position(), Some((2, 1)));
    }
}
