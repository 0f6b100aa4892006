//! An independent check of one edit, for the editor's property tests (`editor_props.rs`) and its
//! fuzz target (`fuzz/fuzz_targets/editor.rs`, which includes this file by path). It knows
//! nothing of the editor: it gets the text before and after and what each targeted image should
//! hold, and uses only std and `serde_norway`.
//!
//! Two properties:
//!
//! 1. **Bytes.** The text after must be the text before with, at most, the value of some
//!    `newTag` or `digest` keys replaced by a wanted value (a value runs from just after its
//!    key's `:` to its end on that line, as a small scanner of its own finds it), and whole
//!    `newTag: <tag>` / `digest: <digest>` keys inserted, after a line break (as a line of their
//!    own) or in a flow mapping (after a `,`). Everything else, comments, quoting, key order,
//!    line endings and the bytes of every other key, is identical. It is checked by matching the
//!    two texts with exactly those moves allowed, not by a diff: a byte diff is free to align
//!    bytes of a new digest with an old tag and report a change where there is none.
//! 2. **Meaning.** Where libyaml reads the text before as one document, it reads the text after
//!    as that same document with only the top-level `images` entries of the targeted images
//!    changed, and those holding the wanted `newTag` (and `digest`).

use std::collections::HashSet;
use std::ops::Range;

use serde_norway::Value;

/// What one image's entries should hold after the edit.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    pub image: &'a str,
    pub tag: &'a str,
    pub digest: Option<&'a str>,
}

/// Both properties; the error says which byte range or which value broke one.
pub fn only_values_changed(before: &str, after: &str, wants: &[Want<'_>]) -> Result<(), String> {
    bytes_only_in_values(before, after, wants)?;
    same_document(before, after, wants)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    NewTag,
    Digest,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::NewTag => "newTag",
            Key::Digest => "digest",
        }
    }
}

/// A value's bytes in the text before: from just after the key's `:` to the value's end.
#[derive(Debug, Clone)]
struct Span {
    key: Key,
    bytes: Range<usize>,
}

fn bytes_only_in_values(before: &str, after: &str, wants: &[Want<'_>]) -> Result<(), String> {
    let (b, a) = (before.as_bytes(), after.as_bytes());
    let spans = value_spans(before);
    // A depth-first search over (offset before, offset after): bytes are copied one by one; at
    // a value, the value may instead be replaced; at a line start, a line end or in a flow
    // mapping, keys may be inserted. States with a choice are visited once.
    let mut stack = vec![(0usize, 0usize)];
    let mut seen = HashSet::new();
    let mut furthest = (0usize, 0usize);
    'paths: while let Some((mut i, mut j)) = stack.pop() {
        loop {
            if i == b.len() && j == a.len() {
                return Ok(());
            }
            let mut next = Vec::new();
            if let Ok(k) = spans.binary_search_by_key(&i, |s| s.bytes.start) {
                let span = &spans[k];
                for rest in replaced_value(&b[span.bytes.clone()], &a[j..], span.key, wants) {
                    next.push((span.bytes.end, a.len() - rest.len()));
                }
            }
            for rest in inserted_keys(b, i, &a[j..], wants) {
                next.push((i, a.len() - rest.len()));
            }
            if !next.is_empty() {
                if !seen.insert((i, j)) {
                    continue 'paths;
                }
                stack.extend(next);
            }
            if i < b.len() && j < a.len() && b[i] == a[j] {
                i += 1;
                j += 1;
                continue;
            }
            if i >= furthest.0 {
                furthest = (i, j);
            }
            continue 'paths;
        }
    }
    let (i, j) = furthest;
    let show = |t: &[u8], at: usize| {
        let from = at.saturating_sub(20);
        String::from_utf8_lossy(&t[from..(at + 40).min(t.len())]).into_owned()
    };
    Err(format!(
        "the text after differs from the text before outside any newTag or digest value, at \
         line {} (byte {i} before, {j} after): {:?} became {:?}",
        line_of(before, i),
        show(b, i),
        show(a, j),
    ))
}

/// The 1-based line of a byte offset, counting line breaks as YAML does (CRLF, CR or LF).
pub fn line_of(text: &str, offset: usize) -> usize {
    let b = &text.as_bytes()[..offset.min(text.len())];
    let mut line = 1;
    for (k, c) in b.iter().enumerate() {
        if *c == b'\n' || *c == b'\r' && b.get(k + 1) != Some(&b'\n') {
            line += 1;
        }
    }
    line
}

/// Whether a 1-based line and column name a place in `text`: a line it has (as YAML counts
/// them), a column up to one past that line's end.
pub fn names_a_place(text: &str, line: usize, col: usize) -> Result<(), String> {
    let lines = yaml_lines(text);
    let Some(at) = line.checked_sub(1).and_then(|l| lines.get(l)) else {
        return Err(format!("line {line} of a text of {} lines", lines.len()));
    };
    if col < 1 || col > at.len() + 1 {
        return Err(format!(
            "column {col} of line {line}, {} bytes long",
            at.len()
        ));
    }
    Ok(())
}

/// The lines of a text as YAML counts them (CRLF, CR or LF ends a line), without their breaks.
fn yaml_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(k) = rest.find(['\r', '\n']) {
        lines.push(&rest[..k]);
        let brk = if rest[k..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[k + brk..];
    }
    lines.push(rest);
    lines
}

/// Every `newTag` and `digest` key of the text, as a block or flow mapping key, with the span of
/// its value: to the line's end for a plain value, to the closing quote for a quoted one (which
/// may run over lines).
fn value_spans(text: &str) -> Vec<Span> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    // How deep in flow collections the scan is, over lines: a flow value ends at `,`, `}`, `]`.
    let mut flow_depth = 0usize;
    // A byte order mark is not part of the first line's text.
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut line_start = bom;
    let mut in_comment = false;
    // The last byte of content (not a blank, not in a comment) before this line, and so far.
    let (mut line_before, mut last) = (None, None);
    let mut i = bom;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' || c == b'\r' {
            i += 1;
            line_start = i;
            in_comment = false;
            line_before = last;
            continue;
        }
        if in_comment {
            i += 1;
            continue;
        }
        let line_end = b[i..]
            .iter()
            .position(|c| matches!(c, b'\n' | b'\r'))
            .map_or(b.len(), |p| i + p);
        let prefix = &b[line_start..i];
        // Where a node can start: after `: `, a flow indicator, or only `- ` and indentation.
        let trimmed = skip_blanks_back(prefix);
        let after_indicator = match trimmed.last() {
            None => true,
            Some(b'{' | b'[' | b',') => flow_depth > 0,
            Some(b':' | b'?') => trimmed.len() < prefix.len(),
            Some(b'-') => {
                trimmed.len() < prefix.len()
                    && trimmed.iter().all(|c| matches!(c, b' ' | b'\t' | b'-'))
            }
            _ => false,
        };
        if let Some((key, colon)) = key_at(&b[line_start..line_end], i - line_start) {
            let colon = line_start + colon;
            let end = value_end(b, colon + 1, flow_depth > 0, i - line_start);
            spans.push(Span {
                key,
                bytes: colon + 1..end,
            });
            // Go on from the value's end, on whatever line that is.
            if let Some(nl) = b[colon + 1..end]
                .iter()
                .rposition(|c| matches!(c, b'\n' | b'\r'))
            {
                line_start = colon + 1 + nl + 1;
            }
            last = skip_blanks_back(&b[..end]).last().copied();
            i = end.max(i + 1);
            continue;
        }
        let starts_comment = c == b'#' && matches!(prefix.last(), None | Some(b' ' | b'\t'));
        if !matches!(c, b' ' | b'\t') && !starts_comment {
            last = Some(c);
        }
        match c {
            b'#' if prefix.is_empty() || matches!(prefix.last(), Some(b' ' | b'\t')) => {
                in_comment = true;
            }
            // A block scalar: its lines, deeper than its parent, are text.
            b'|' | b'>' if after_indicator && flow_depth == 0 => {
                let line = &b[line_start..line_end];
                let parent = if trimmed.last() == Some(&b'-') {
                    trimmed.len() - 1
                } else {
                    line.iter()
                        .position(|c| !matches!(c, b' ' | b'\t' | b'-'))
                        .unwrap_or(0)
                };
                let mut next = line_end;
                while let Some((at, col)) = next_content(b, next) {
                    if col <= parent {
                        break;
                    }
                    next = at;
                }
                // Resume at the start of the first line after the scalar.
                let resume = next_content(b, next).map_or(b.len(), |(at, col)| at - col);
                line_start = resume;
                line_before = Some(b'|');
                last = Some(b'|');
                in_comment = false;
                i = resume.max(i + 1);
                continue;
            }
            b'{' | b'[' if after_indicator => flow_depth += 1,
            b'}' | b']' if flow_depth > 0 => flow_depth -= 1,
            // A quoted scalar, where one can start: skipped whole, `#` and brackets in it included.
            b'\'' | b'"' if after_indicator => {
                let end = value_end(b, i, true, 0);
                let lines = b[i..end].iter().rposition(|c| matches!(c, b'\n' | b'\r'));
                // At the start of a block line after a plain value, a quote that does not close
                // on its line continues that value rather than opening a quoted one.
                let continues_plain = trimmed.is_empty()
                    && flow_depth == 0
                    && lines.is_some()
                    && !matches!(line_before, None | Some(b':' | b'-' | b'?'));
                if !continues_plain {
                    if let Some(nl) = lines {
                        line_start = i + nl + 1;
                    }
                    i = end.max(i + 1);
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    spans
}

/// A `newTag` or `digest` key (plain or quoted) starting at `i`, where a key can start: after
/// only indentation and `- `, after a flow mapping's `{` or `,`, or after `? `. Returns it and
/// its `:`.
fn key_at(line: &[u8], i: usize) -> Option<(Key, usize)> {
    let mut before = skip_blanks_back(&line[..i]);
    // A key may carry properties: a tag (`!!str newTag`) or an anchor.
    while let Some(start) = before
        .iter()
        .rposition(|c| matches!(c, b' ' | b'\t' | b'{' | b','))
        .map(|p| p + 1)
        .or(Some(0))
        .filter(|s| matches!(before.get(*s), Some(b'!' | b'&')))
    {
        before = skip_blanks_back(&before[..start]);
    }
    let key_position = before.is_empty()
        || before.ends_with(b"-") && before.iter().all(|b| matches!(b, b' ' | b'\t' | b'-'))
        || before.ends_with(b"{")
        || before.ends_with(b",")
        || before.ends_with(b"?") && before.len() < line[..i].len();
    if !key_position {
        return None;
    }
    for key in [Key::NewTag, Key::Digest] {
        for quote in ["", "'", "\""] {
            let spelled = format!("{quote}{}{quote}", key.name());
            if let Some(rest) = line[i..].strip_prefix(spelled.as_bytes()) {
                let rest_trimmed = skip_blanks(rest);
                if let Some(after_colon) = rest_trimmed.strip_prefix(b":")
                    && (after_colon.is_empty()
                        || matches!(after_colon[0], b' ' | b'\t' | b',' | b'}'))
                {
                    return Some((key, line.len() - after_colon.len() - 1));
                }
            }
        }
    }
    None
}

/// The end of the value that starts at `from`, just after its key's `:`, for a key at column
/// `key_col`: a quoted value at its closing quote (or the text's end); a plain one before a
/// comment or, in flow, `,` `}` `]`, over the lines that continue it (indented deeper than the
/// key, in block style); an empty one after the blanks. The value may start on a later line.
fn value_end(b: &[u8], from: usize, in_flow: bool, key_col: usize) -> usize {
    let mut i = from;
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    let empty = i;
    if matches!(b.get(i), None | Some(b'#' | b'\n' | b'\r')) {
        // The value, if any, is on a later line: the next one with content, past comment lines.
        match next_content(b, i) {
            Some((at, col))
                if (in_flow || col > key_col)
                    && !matches!(b[at], b',' | b'}' | b']' | b'#')
                    && !is_key(&b[at..plain_line_end(b, at, in_flow)]) =>
            {
                i = at;
            }
            _ => return empty,
        }
    }
    match b[i] {
        b'"' => {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 2,
                    b'"' => return j + 1,
                    _ => j += 1,
                }
            }
            b.len()
        }
        b'\'' => {
            let mut j = i + 1;
            while j < b.len() {
                if b[j] == b'\'' {
                    if b.get(j + 1) == Some(&b'\'') {
                        j += 2;
                        continue;
                    }
                    return j + 1;
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut end = plain_line_end(b, i, in_flow);
            // Continuation lines: in flow up to an indicator, in block deeper than the key.
            while matches!(b.get(end), None | Some(b'\n' | b'\r')) {
                let Some((at, col)) = next_content(b, end) else {
                    break;
                };
                let line_end = plain_line_end(b, at, in_flow);
                let line = &b[at..line_end];
                let a_key = is_key(line);
                let an_item = b[at] == b'-' && matches!(b.get(at + 1), Some(b' ' | b'\t'));
                let goes_on = (in_flow || col > key_col)
                    && !matches!(b[at], b'#' | b',' | b'}' | b']')
                    && !a_key
                    && !an_item;
                if !goes_on {
                    break;
                }
                end = line_end;
            }
            end
        }
    }
}

/// Whether a line's text holds a key: a `:` before a blank or at its end.
fn is_key(line: &[u8]) -> bool {
    line.windows(2)
        .any(|w| w[0] == b':' && matches!(w[1], b' ' | b'\t'))
        || line.ends_with(b":")
}

/// The end of a plain value's text on the line it starts at: before a comment, a line break,
/// and in flow `,` `}` `]`, trailing blanks left out.
fn plain_line_end(b: &[u8], from: usize, in_flow: bool) -> usize {
    let mut j = from;
    while j < b.len() {
        let c = b[j];
        if matches!(c, b'\n' | b'\r')
            || c == b'#' && j > from && matches!(b[j - 1], b' ' | b'\t')
            || in_flow && matches!(c, b',' | b'}' | b']')
        {
            break;
        }
        j += 1;
    }
    from + skip_blanks_back(&b[from..j]).len()
}

/// The first byte of content after the line `from` is on (blank lines skipped) and its column.
fn next_content(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    // To the end of this line.
    while i < b.len() && !matches!(b[i], b'\n' | b'\r') {
        i += 1;
    }
    loop {
        while i < b.len() && matches!(b[i], b'\n' | b'\r') {
            i += 1;
        }
        let line_start = i;
        while i < b.len() && matches!(b[i], b' ' | b'\t') {
            i += 1;
        }
        match b.get(i) {
            None => return None,
            Some(b'\n' | b'\r') => continue,
            Some(_) => return Some((i, i - line_start)),
        }
    }
}

fn skip_blanks(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    &s[n..]
}

fn skip_blanks_back(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    &s[..s.len() - n]
}

/// Where what follows may continue after keys inserted at `at` of `before` (at most one
/// insertion of one or more keys): as lines of their own at a line start, or after a line
/// break or a flow `,` where a line or a flow mapping's entry can end.
fn inserted_keys<'s>(before: &[u8], at: usize, s: &'s [u8], wants: &[Want<'_>]) -> Vec<&'s [u8]> {
    let mut found = Vec::new();
    if at == 0 || matches!(before[at - 1], b'\n' | b'\r') {
        let mut rest = s;
        while let Some(r) = key_line(rest, wants) {
            found.push(r);
            rest = r;
        }
    }
    if at == before.len() || matches!(before[at], b'\r' | b'\n' | b',' | b'}' | b' ' | b'\t') {
        let mut rest = s;
        while let Some(r) = key_inserted(rest, wants) {
            found.push(r);
            rest = r;
        }
    }
    found
}

/// A wanted value in place of a value: blanks, the value, blanks; every way to end it.
fn replaced_value<'s>(was: &[u8], s: &'s [u8], key: Key, wants: &[Want<'_>]) -> Vec<&'s [u8]> {
    // A value on a line after its key's (past a comment, maybe) stays there: what came before
    // its line is kept byte for byte.
    let lead = was.len() - skip_space_and_comments(was).len();
    let kept = was[..lead]
        .iter()
        .rposition(|c| matches!(c, b'\r' | b'\n'))
        .map_or(0, |p| p + 1);
    let Some(s) = s.strip_prefix(&was[..kept]) else {
        return Vec::new();
    };
    let Some(rest) = value(skip_blanks(s), key, wants) else {
        return Vec::new();
    };
    let blanks = rest.len() - skip_blanks(rest).len();
    (0..=blanks).map(|n| &rest[n..]).collect()
}

/// `s` past blanks, line breaks and comments.
fn skip_space_and_comments(s: &[u8]) -> &[u8] {
    let mut n = 0;
    while n < s.len() {
        match s[n] {
            b' ' | b'\t' | b'\r' | b'\n' => n += 1,
            b'#' if n == 0 || matches!(s[n - 1], b' ' | b'\t' | b'\r' | b'\n') => {
                while n < s.len() && !matches!(s[n], b'\r' | b'\n') {
                    n += 1;
                }
            }
            _ => break,
        }
    }
    &s[n..]
}

/// One inserted key as a line of its own: indentation, `newTag: <tag>` or `digest: <digest>`,
/// a line break.
fn key_line<'s>(s: &'s [u8], wants: &[Want<'_>]) -> Option<&'s [u8]> {
    let rest = skip_blanks(s);
    for key in [Key::NewTag, Key::Digest] {
        if let Some(r) = rest
            .strip_prefix(key.name().as_bytes())
            .and_then(|r| r.strip_prefix(b":"))
            && r.first().is_some_and(|b| matches!(b, b' ' | b'\t'))
        {
            let r = value(skip_blanks(r), key, wants)?;
            return r.strip_prefix(b"\r\n").or_else(|| r.strip_prefix(b"\n"));
        }
    }
    None
}

/// One inserted key at the start of `s`: a line break and indentation, or a flow `,` and blanks,
/// then `newTag: <tag>` or `digest: <digest>`; returns what follows it.
fn key_inserted<'s>(s: &'s [u8], wants: &[Want<'_>]) -> Option<&'s [u8]> {
    let rest = s
        .strip_prefix(b",")
        .or_else(|| s.strip_prefix(b"\r\n"))
        .or_else(|| s.strip_prefix(b"\n"))?;
    let rest = skip_blanks(rest);
    for key in [Key::NewTag, Key::Digest] {
        if let Some(r) = rest
            .strip_prefix(key.name().as_bytes())
            .and_then(|r| r.strip_prefix(b":"))
            && r.first().is_some_and(|b| matches!(b, b' ' | b'\t'))
        {
            return value(skip_blanks(r), key, wants);
        }
    }
    None
}

/// A wanted value for `key` at the start of `s`, plain, single- or double-quoted; returns what
/// follows it.
fn value<'s>(s: &'s [u8], key: Key, wants: &[Want<'_>]) -> Option<&'s [u8]> {
    let wanted = wants.iter().filter_map(|w| match key {
        Key::NewTag => Some(w.tag),
        Key::Digest => w.digest,
    });
    for v in wanted {
        let spellings = [
            v.to_owned(),
            format!("'{}'", v.replace('\'', "''")),
            format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
        ];
        for spelled in spellings {
            if let Some(rest) = s.strip_prefix(spelled.as_bytes()) {
                // A plain value must end there, not run on into more value characters.
                let ends = rest.is_empty()
                    || matches!(rest[0], b' ' | b'\t' | b'\r' | b'\n' | b',' | b'}' | b']');
                if ends {
                    return Some(rest);
                }
            }
        }
    }
    None
}

/// A value with the non-specific tag `!` taken as the value itself, everywhere: YAML resolves
/// `! images` to the string `images` (serde_norway keeps the tag).
fn untag(v: Value) -> Value {
    match v {
        Value::Tagged(t) if t.tag == "!" => untag(t.value),
        Value::Tagged(mut t) => {
            t.value = untag(t.value);
            Value::Tagged(t)
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(untag).collect()),
        Value::Mapping(m) => {
            Value::Mapping(m.into_iter().map(|(k, v)| (untag(k), untag(v))).collect())
        }
        other => other,
    }
}

/// Property 2, where libyaml reads the text before as one document.
fn same_document(before: &str, after: &str, wants: &[Want<'_>]) -> Result<(), String> {
    let Ok(mut expected) = serde_norway::from_str::<Value>(before).map(untag) else {
        return Ok(());
    };
    let got: Value = serde_norway::from_str(after)
        .map(untag)
        .map_err(|e| format!("the text before reads as YAML, the text after does not: {e}"))?;
    if let Some(items) = expected
        .as_mapping_mut()
        .and_then(|m| m.get_mut("images"))
        .and_then(Value::as_sequence_mut)
    {
        for item in items.iter_mut().filter_map(Value::as_mapping_mut) {
            let name = item.get("name").and_then(Value::as_str).map(str::to_owned);
            let Some(want) = wants.iter().find(|w| Some(w.image) == name.as_deref()) else {
                continue;
            };
            item.insert("newTag".into(), want.tag.into());
            if let Some(d) = want.digest {
                item.insert("digest".into(), d.into());
            }
        }
    }
    if expected == got {
        Ok(())
    } else {
        Err(format!(
            "libyaml reads the text after as {got:?}, not as the text before with only the wanted values: {expected:?}"
        ))
    }
}

/// The check itself: it lets through exactly the changes an edit may make.
#[cfg(test)]
mod tests {
    use super::*;

    const WANT: [Want<'static>; 1] = [Want {
        image: "backend",
        tag: "v2",
        digest: None,
    }];
    const WITH_DIGEST: [Want<'static>; 1] = [Want {
        image: "backend",
        tag: "1.10",
        digest: Some("sha256:abc"),
    }];

    #[test]
    fn lets_through_values_replaced_and_keys_inserted() {
        let cases: [(&str, &str, &[Want]); 12] = [
            (
                "images:\n- name: backend\n  newTag: v1 # c\n",
                "images:\n- name: backend\n  newTag: v2 # c\n",
                &WANT,
            ),
            (
                "images:\r\n- name: backend\r\n",
                "images:\r\n- name: backend\r\n  newTag: v2\r\n",
                &WANT,
            ),
            (
                "images: [{name: backend}]",
                "images: [{name: backend, newTag: v2}]",
                &WANT,
            ),
            (
                "images:\n- name: backend\n  newTag: v1\n",
                "images:\n- name: backend\n  newTag: \"1.10\"\n  digest: sha256:abc\n",
                &WITH_DIGEST,
            ),
            (
                "images:\n- name: backend\n  newTag: 'a\n    b'\n",
                "images:\n- name: backend\n  newTag: 'v2'\n",
                &WANT,
            ),
            (
                "images:\n- name: backend\n  newTag:\n    v1\n",
                "images:\n- name: backend\n  newTag:\n    v2\n",
                &WANT,
            ),
            // Found by the fuzz target: a value after a comment, on the next line of a flow.
            (
                "images: [{name: backend,\n  newTag: # c\"\n  5}]\n",
                "images: [{name: backend,\n  newTag: # c\"\n  v2}]\n",
                &WANT,
            ),
            // Found by the fuzz target: a quote that continues a plain value opens nothing.
            (
                "a: b\n  \"c\nimages:\n- name: backend\n  newTag: v1 # \"\n",
                "a: b\n  \"c\nimages:\n- name: backend\n  newTag: v2 # \"\n",
                &WANT,
            ),
            // Found by the fuzz target: a block scalar's lines are text.
            (
                "p: |-\n  - 'op\n  newTag: x\nimages:\n- name: backend\n  newTag: v1\n",
                "p: |-\n  - 'op\n  newTag: x\nimages:\n- name: backend\n  newTag: v2\n",
                &WANT,
            ),
            // Found by the fuzz target: the non-specific tag `!` makes a string.
            (
                "! images:\n- name: ! backend\n  newTag: v1\n",
                "! images:\n- name: ! backend\n  newTag: v2\n",
                &WANT,
            ),
            // Found by the fuzz target: `, "` in block style does not open a quote.
            (
                "images:\n- name: backend\n  a: b, \"c\n  newTag: v1\n",
                "images:\n- name: backend\n  a: b, \"c\n  newTag: v2\n",
                &WANT,
            ),
            // Found by the fuzz target: `-'a` is a plain scalar, not a quote left open.
            (
                "resources:\n  -'a.yaml\nimages:\n- name: backend\n  newTag: 'v1'\n",
                "resources:\n  -'a.yaml\nimages:\n- name: backend\n  newTag: 'v2'\n",
                &WANT,
            ),
        ];
        for (before, after, wants) in cases {
            assert_eq!(
                only_values_changed(before, after, wants),
                Ok(()),
                "{before:?}"
            );
        }
    }

    #[test]
    fn catches_any_other_change() {
        let before = "images:\r\n- name: backend # c\r\n  newName: r/b\r\n  newTag: v1 # c\r\n";
        for after in [
            // A comment, another key's value, a line ending, a value not wanted.
            "images:\r\n- name: backend # d\r\n  newName: r/b\r\n  newTag: v2 # c\r\n",
            "images:\r\n- name: backend # c\r\n  newName: r/c\r\n  newTag: v2 # c\r\n",
            "images:\r\n- name: backend # c\r\n  newName: r/b\n  newTag: v2 # c\r\n",
            "images:\r\n- name: backend # c\r\n  newName: r/b\r\n  newTag: v3 # c\r\n",
            // A line that is not a wanted key.
            "images:\r\n- name: backend # c\r\n  newName: r/b\r\n  newTag: v2 # c\r\n  x: y\r\n",
            // The right bytes in the wrong entry: libyaml sees it.
            "images:\r\n- name: backend # c\r\n  newName: r/b\r\n  newTag: v1 # c\r\nx:\r\n  newTag: v2\r\n",
        ] {
            assert!(
                only_values_changed(before, after, &WANT).is_err(),
                "{after:?}"
            );
        }
        let next_line = "images:\n- name: backend\n  newTag: # c\n    v1\n";
        for after in [
            "images:\n- name: backend\n  newTag: # d\n    v2\n",
            "images:\n- name: backend\n  newTag:\n    v2\n",
        ] {
            assert!(
                only_values_changed(next_line, after, &WANT).is_err(),
                "{after:?}"
            );
        }
        let other = "images:\n- name: other\n  newTag: v1\n";
        let err = only_values_changed(other, &other.replace("v1", "v2"), &WANT);
        assert!(err.is_err_and(|e| e.contains("libyaml")));
    }
}
