//! A fast reader for the plain block style nearly every kustomization is written in, giving the
//! same tree as [`super::tree::read_document`] an order of magnitude sooner. saphyr-parser builds
//! every scalar a character at a time (about 200 instructions a byte), which alone would take a
//! 1 MB file past 10 ms.
//!
//! It reads line by line and understands only this: blank and comment lines; `key: value` and
//! `key:` lines; `- ` items holding a `key: value` pair or a value; plain keys; values that are
//! plain, or quoted and closed on their line (without `\` escapes); block mappings and lists
//! (indentless lists too) nested by indentation; a trailing `# comment`. Anything else (flow
//! collections, anchors, aliases, tags, block scalars, multi-line values, document markers,
//! directives, tabs, quoted keys, text that is not ASCII outside comments, odd indentation) makes
//! it answer `None`, and the caller reads the file with saphyr-parser instead. A test holds it to
//! giving saphyr-parser's tree wherever it answers.

use std::borrow::Cow;

use saphyr_parser::ScalarStyle;

use super::tree::{Kind, MAX_DEPTH, Node, Pos};

/// The document's tree, or `None` where the text is not in the style described above (or holds
/// no mapping).
pub(super) fn read_simple(body: &str) -> Option<Node<'_>> {
    if has_control_characters(body) {
        return None;
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    let mut line_start = 0;
    for (index, raw) in body.split_inclusive('\n').enumerate() {
        let line = Line::new(raw, line_start, index + 1);
        line_start += raw.len();
        let Some((indent, content)) = line.content() else {
            continue;
        };
        if indent == 0 && is_marker(content) {
            return None;
        }
        if let Some(rest) = content.strip_prefix('-') {
            if !(rest.is_empty() || rest.starts_with(' ')) {
                // `-1` and the like: a value, not an item.
                return None;
            }
            item(&mut stack, &line, indent, &mut root)?;
        } else {
            pair_line(&mut stack, &line, indent, &mut root)?;
        }
        if stack.len() > MAX_DEPTH {
            return None;
        }
    }
    while let Some(frame) = stack.pop() {
        close(&mut stack, frame, &mut root)?;
    }
    root.filter(|r: &Node| matches!(r.kind, Kind::Map { .. }))
}

/// Control characters, which YAML refuses, and a carriage return that does not end a line (a
/// line break of its own to YAML): left to the full parser to report or read.
fn has_control_characters(body: &str) -> bool {
    let bytes = body.as_bytes();
    // Branch-free over each chunk, so the compiler can test many bytes at once.
    let control = bytes.chunks(64).any(|chunk| {
        chunk.iter().fold(false, |found, &b| {
            found | ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')) | (b == 0x7f)
        })
    });
    control
        || body
            .match_indices('\r')
            .any(|(i, _)| bytes.get(i + 1) != Some(&b'\n'))
}

fn is_marker(content: &str) -> bool {
    content.starts_with('%') || content.starts_with("---") || content.starts_with("...")
}

/// A collection being read.
struct Frame<'a> {
    node: Node<'a>,
    /// The column (0-based) of its keys or `-`s.
    indent: usize,
    /// A mapping's last key, while its value is still to come on later lines.
    pending: Option<Node<'a>>,
}

/// One line of the text, without its line break.
struct Line<'a> {
    text: &'a str,
    start: usize,
    number: usize,
}

impl<'a> Line<'a> {
    fn new(raw: &'a str, start: usize, number: usize) -> Self {
        let text = raw.strip_suffix('\n').unwrap_or(raw);
        let text = text.strip_suffix('\r').unwrap_or(text);
        Self {
            text,
            start,
            number,
        }
    }

    /// The indentation and the content, or `None` for a blank or comment line.
    fn content(&self) -> Option<(usize, &'a str)> {
        let content = self.text.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            return None;
        }
        Some((self.text.len() - content.len(), content))
    }

    fn pos(&self, col: usize) -> Pos {
        Pos {
            byte: self.start + col,
            line: self.number,
            col: col + 1,
        }
    }
}

/// Finishes the frames deeper than `indent`, and an indentless list at `indent` when a key of
/// its mapping follows (`key_line`).
fn close_to<'a>(
    stack: &mut Vec<Frame<'a>>,
    indent: usize,
    key_line: bool,
    root: &mut Option<Node<'a>>,
) -> Option<()> {
    while let Some(top) = stack.last() {
        let indentless_done = key_line
            && top.indent == indent
            && matches!(top.node.kind, Kind::Seq { .. })
            && stack.len() >= 2;
        if top.indent <= indent && !indentless_done {
            break;
        }
        let frame = stack.pop()?;
        close(stack, frame, root)?;
    }
    Some(())
}

/// Finishes a frame and hands its node to its parent (or makes it the root).
fn close<'a>(
    stack: &mut [Frame<'a>],
    mut frame: Frame<'a>,
    root: &mut Option<Node<'a>>,
) -> Option<()> {
    if let Some(key) = frame.pending.take() {
        let value = empty_value(&key);
        push_pair(&mut frame.node, key, value);
    }
    match stack.last_mut() {
        None => {
            *root = Some(frame.node);
            Some(())
        }
        Some(parent) => attach(parent, frame.node),
    }
}

fn attach<'a>(parent: &mut Frame<'a>, node: Node<'a>) -> Option<()> {
    match &mut parent.node.kind {
        Kind::Seq { items, .. } => items.push(node),
        Kind::Map { pairs, .. } => pairs.push((parent.pending.take()?, node)),
        _ => return None,
    }
    Some(())
}

fn push_pair<'a>(map: &mut Node<'a>, key: Node<'a>, value: Node<'a>) {
    if let Kind::Map { pairs, .. } = &mut map.kind {
        pairs.push((key, value));
    }
}

/// The value of `key:` with nothing after it, where saphyr-parser puts it: at the colon.
fn empty_value<'a>(key: &Node<'a>) -> Node<'a> {
    let len = match &key.kind {
        Kind::Scalar { value, .. } => value.len(),
        _ => 0,
    };
    let pos = Pos {
        byte: key.pos.byte + len,
        line: key.pos.line,
        col: key.pos.col + len,
    };
    scalar(Cow::Borrowed(""), ScalarStyle::Plain, pos)
}

fn scalar(value: Cow<'_, str>, style: ScalarStyle, pos: Pos) -> Node<'_> {
    Node {
        kind: Kind::Scalar { value, style },
        pos,
        end: pos.byte,
        anchor: 0,
        tagged: false,
    }
}

fn collection(kind: Kind<'_>, pos: Pos) -> Node<'_> {
    Node {
        kind,
        pos,
        end: pos.byte,
        anchor: 0,
        tagged: false,
    }
}

/// A `- ` line at `indent`.
fn item<'a>(
    stack: &mut Vec<Frame<'a>>,
    line: &Line<'a>,
    indent: usize,
    root: &mut Option<Node<'a>>,
) -> Option<()> {
    close_to(stack, indent, false, root)?;
    let top = stack.last()?;
    let continues = top.indent == indent && matches!(top.node.kind, Kind::Seq { .. });
    let after_dash = &line.text[indent + 1..];
    let content = after_dash.trim_start_matches(' ');
    let col = line.text.len() - content.len();
    if !continues {
        // A new list: the value of a mapping's pending key, at its indentation or deeper.
        if top.pending.is_none()
            || indent < top.indent
            || !matches!(top.node.kind, Kind::Map { .. })
        {
            return None;
        }
        let seq = Kind::Seq {
            items: Vec::new(),
            flow: false,
        };
        // saphyr-parser places an indentless list at its first item, an indented one at its `-`.
        let at = if indent == top.indent { col } else { indent };
        stack.push(Frame {
            node: collection(seq, line.pos(at)),
            indent,
            pending: None,
        });
    }
    if content.is_empty() || content.starts_with('#') || content.starts_with('-') {
        return None;
    }
    match split_pair(content) {
        Some((key, rest)) => {
            let map = Kind::Map {
                pairs: Vec::new(),
                flow: false,
            };
            stack.push(Frame {
                node: collection(map, line.pos(col)),
                indent: col,
                pending: None,
            });
            pair_from(stack.last_mut()?, line, col, key, rest)
        }
        None => {
            let value = value(line, col)?;
            match &mut stack.last_mut()?.node.kind {
                Kind::Seq { items, .. } => items.push(value),
                _ => return None,
            }
            Some(())
        }
    }
}

/// A `key: ...` line at `indent`.
fn pair_line<'a>(
    stack: &mut Vec<Frame<'a>>,
    line: &Line<'a>,
    indent: usize,
    root: &mut Option<Node<'a>>,
) -> Option<()> {
    close_to(stack, indent, true, root)?;
    let same_map = stack
        .last()
        .is_some_and(|top| top.indent == indent && matches!(top.node.kind, Kind::Map { .. }));
    if same_map {
        let top = stack.last_mut()?;
        if let Some(key) = top.pending.take() {
            let value = empty_value(&key);
            push_pair(&mut top.node, key, value);
        }
    } else {
        let opens = match stack.last() {
            None => root.is_none(),
            Some(top) => {
                top.pending.is_some()
                    && indent > top.indent
                    && matches!(top.node.kind, Kind::Map { .. })
            }
        };
        if !opens {
            return None;
        }
        let map = Kind::Map {
            pairs: Vec::new(),
            flow: false,
        };
        stack.push(Frame {
            node: collection(map, line.pos(indent)),
            indent,
            pending: None,
        });
    }
    pair(stack.last_mut()?, line, indent)
}

/// Reads `key: value` (or `key:`) starting at `col` into the mapping `frame`.
fn pair<'a>(frame: &mut Frame<'a>, line: &Line<'a>, col: usize) -> Option<()> {
    let (key, rest) = split_pair(&line.text[col..])?;
    pair_from(frame, line, col, key, rest)
}

fn pair_from<'a>(
    frame: &mut Frame<'a>,
    line: &Line<'a>,
    col: usize,
    key: &'a str,
    rest: &'a str,
) -> Option<()> {
    let key = scalar(Cow::Borrowed(key), ScalarStyle::Plain, line.pos(col));
    let value_text = rest.trim_start_matches(' ');
    if value_text.is_empty() || value_text.starts_with('#') {
        frame.pending = Some(key);
        return Some(());
    }
    let value = value(line, line.text.len() - value_text.len())?;
    push_pair(&mut frame.node, key, value);
    Some(())
}

/// A plain key and what follows its `: `, when `text` starts with one. One pass over the bytes.
fn split_pair(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    if !plain_start(bytes) {
        return None;
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b':' if i + 1 == bytes.len() || bytes[i + 1] == b' ' => {
                if bytes[i - 1] == b' ' {
                    return None;
                }
                return Some((&text[..i], &text[i + 1..]));
            }
            b'#' if bytes[i - 1] == b' ' => return None,
            b'\t' | b'\r' | 0x80.. => return None,
            _ => i += 1,
        }
    }
    None
}

/// Whether a plain scalar may start here: not with an indicator (`-` only before a non-space).
fn plain_start(bytes: &[u8]) -> bool {
    match bytes {
        [b'-', next, ..] => *next != b' ',
        [first, ..] => !matches!(
            first,
            b'?' | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
                | b'-'
                | b' '
                | b'\t'
                | 0x80..
        ),
        [] => false,
    }
}

/// The value starting at `col`, which must be the last thing on the line but for a comment.
fn value<'a>(line: &Line<'a>, col: usize) -> Option<Node<'a>> {
    let text = &line.text[col..];
    let bytes = text.as_bytes();
    let pos = line.pos(col);
    let (node, end) = match bytes.first()? {
        b'\'' => {
            let close = closing_quote(&bytes[1..], b'\'')? + 1;
            let raw = &text[1..close];
            let value = if raw.contains("''") {
                Cow::Owned(raw.replace("''", "'"))
            } else {
                Cow::Borrowed(raw)
            };
            (scalar(value, ScalarStyle::SingleQuoted, pos), close + 1)
        }
        b'"' => {
            let close = closing_quote(&bytes[1..], b'"')? + 1;
            let value = Cow::Borrowed(&text[1..close]);
            (scalar(value, ScalarStyle::DoubleQuoted, pos), close + 1)
        }
        _ => {
            if !plain_start(bytes) {
                return None;
            }
            // The value runs to a ` #` comment; a `: ` inside it, a tab or text that is not
            // ASCII is left to saphyr-parser. Searched with memchr: values are most of the text.
            let end = comment_start(text).unwrap_or(text.len());
            let value = &text[..end];
            let colon = value
                .match_indices(':')
                .any(|(i, _)| bytes.get(i + 1).is_none_or(|&b| b == b' '));
            if colon || !value.is_ascii() || value.contains('\t') {
                return None;
            }
            let value = value.trim_end_matches(' ');
            (
                scalar(Cow::Borrowed(value), ScalarStyle::Plain, pos),
                value.len(),
            )
        }
    };
    // After the value: nothing, or spaces and a comment.
    let rest = &bytes[end..];
    let gap = rest.iter().take_while(|&&b| b == b' ').count();
    (rest.len() == gap || (gap > 0 && rest[gap] == b'#')).then_some(node)
}

/// The offset of the first `#` that follows a space: where a comment starts after a plain value.
fn comment_start(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find('#') {
        let i = from + at;
        if i > 0 && text.as_bytes()[i - 1] == b' ' {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// The offset of the quote closing a quoted scalar, in the bytes after its opening quote; `None`
/// where it does not close on the line, or holds what the fast reader leaves to saphyr-parser
/// (an escape, a tab, text that is not ASCII). In single quotes `''` is a quote.
fn closing_quote(bytes: &[u8], quote: u8) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b if b == quote => {
                if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                return Some(i);
            }
            b'\\' | b'\t' | b'\r' | 0x80.. => return None,
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tree::read_document;
    use super::*;

    /// Where the two trees differ, if they do.
    fn difference(fast: &Node, full: &Node, at: &str) -> Option<String> {
        let here = format!("{at}@{}:{}", full.pos.line, full.pos.col);
        if fast.pos != full.pos || fast.anchor != full.anchor || fast.tagged != full.tagged {
            return Some(format!("{here}: {:?} != {:?}", fast.pos, full.pos));
        }
        match (&fast.kind, &full.kind) {
            (Kind::Scalar { value: a, style: s }, Kind::Scalar { value: b, style: t }) => {
                (a != b || s != t).then(|| format!("{here}: {a:?} {s:?} != {b:?} {t:?}"))
            }
            (Kind::Seq { items: a, flow: f }, Kind::Seq { items: b, flow: g }) => {
                if a.len() != b.len() || f != g {
                    return Some(format!("{here}: {} items != {}", a.len(), b.len()));
                }
                a.iter()
                    .zip(b)
                    .enumerate()
                    .find_map(|(i, (x, y))| difference(x, y, &format!("{at}[{i}]")))
            }
            (Kind::Map { pairs: a, flow: f }, Kind::Map { pairs: b, flow: g }) => {
                if a.len() != b.len() || f != g {
                    return Some(format!("{here}: {} pairs != {}", a.len(), b.len()));
                }
                a.iter().zip(b).find_map(|((k, v), (l, w))| {
                    let key = format!("{at}.{}", l.as_str().unwrap_or("?"));
                    difference(k, l, &key).or_else(|| difference(v, w, &key))
                })
            }
            (a, b) => Some(format!("{here}: {a:?} != {b:?}")),
        }
    }

    /// `Some` when the fast reader reads `text`; then its tree is saphyr-parser's, exactly.
    fn agrees(text: &str) -> Option<()> {
        let fast = read_simple(text)?;
        let full = read_document(text)
            .unwrap_or_else(|e| panic!("saphyr refuses what the fast reader read: {e}\n{text}"))
            .expect("a document");
        if let Some(diff) = difference(&fast, &full, "") {
            panic!("{diff}\n{text}");
        }
        Some(())
    }

    fn files(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kustomization") || n == "Kustomization")
            {
                out.push(std::fs::read_to_string(&path).expect("text"));
            }
        }
    }

    /// Every kustomization in the golden fixtures and the example that the fast reader reads,
    /// it reads as saphyr-parser does; and it reads the plain ones, so the fast path is used.
    #[test]
    fn reads_the_fixtures_and_examples_as_saphyr_does() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        files(&root.join("tests/golden"), &mut texts);
        files(&root.join("examples"), &mut texts);
        assert!(texts.len() > 40, "{}", texts.len());
        let read = texts
            .iter()
            .map(|t| t.strip_prefix('\u{feff}').unwrap_or(t))
            .filter(|t| agrees(t).is_some())
            .count();
        assert!(
            read * 2 > texts.len(),
            "only {read} of {} read fast",
            texts.len()
        );
    }

    #[test]
    fn reads_the_block_shapes_it_knows_as_saphyr_does() {
        let texts = [
            "a: b\n",
            "a: b\r\nc: 'd''e' # x\r\n",
            "images:\n- name: a\n  newTag: v1 # é\n- name: b\n  newTag:\n  digest: # c\nx: y",
            "images:\n  -   name: a\n      newTag: \"1\"\n  - name: b\nz:\n",
            "a:\n  b:\n    c: d\n  e:\n  - f\n  - g: h\n    i: j\n  k: l\nm: ~\n",
            "  indented: root\n  other: 1\n",
            "a: b#c\nd: http://x/y?z=1\ne: -1\n",
            "key:\n# between\n\n  nested: 1\n",
        ];
        for text in texts {
            assert_eq!(agrees(text), Some(()), "{text}");
        }
    }

    /// What the fast reader does not know it leaves to saphyr-parser, rather than guess.
    #[test]
    fn leaves_everything_else_to_saphyr() {
        let texts = [
            "",
            "# only\n",
            "- a\n",
            "a: [b]\n",
            "a: {b: c}\n",
            "a: &x b\nc: *x\n",
            "a: !!str b\n",
            "a: |\n  b\n",
            "a: b\n  c\n",
            "---\na: b\n",
            "%YAML 1.2\n---\na: b\n",
            "a: 'b\n  c'\n",
            "a: \"b\\\"c\"\n",
            "\"a\": b\n",
            "a:\tb\n",
            "a: b\t# c\n",
            "a: b: c\n",
            "a: b\n  c: d\n",
            "a:\n  - b\n  c: d\n",
            "a: bä\n",
            "a: b\n b: c\n",
            "? a\n: b\n",
            "a: b\u{1}\n",
            "a: b # \u{7f}\n",
            "a: b # c\rd: e\n",
            "a:\n-\n  b: c\n",
            "  a: b\nc: d\n",
        ];
        for text in texts {
            assert!(read_simple(text).is_none(), "{text}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// On the editor property tests' generated files (block and flow, quoting styles,
        /// comments, CRLF, indentless lists), the fast reader either declines or agrees.
        #[test]
        fn generated_files_read_as_saphyr_does(doc in crate::core::editor_props::doc()) {
            let text = doc.original();
            let _ = agrees(text.strip_prefix('\u{feff}').unwrap_or(&text));
        }
    }
}
