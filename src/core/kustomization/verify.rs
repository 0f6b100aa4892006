//! The independent check: the edited text is read back by another YAML parser, libyaml (through
//! serde_norway, as kustomize's Go parser descends from it), which must see the original document
//! with only the planned `newTag` and `digest` values changed, and those holding the intended
//! values. It knows nothing of how the plan was made or applied: it gets the two texts, where each
//! changed `images:` item sits in the original, and what each should hold.
//!
//! # Reading only the changed lines, with the same guarantee
//!
//! libyaml reads about 120 instructions a byte, so reading a whole file twice would take a
//! 1 MB file well past 10 ms and even a 1 KB one past 20 µs. The check therefore first tries
//! to prove the property from the changed lines alone, and reads the whole document (as it
//! always used to) whenever that proof does not go through. The proof:
//!
//! 1. Each change gets a *window* of the original. In an item of a block list, every key of the
//!    item stands at the item's key column, and the item's lines run to the next line indented
//!    less (blank and comment lines aside). A changed pair's window is its lines: from the start
//!    of the line the change starts on, over the following lines indented deeper than the key
//!    column. Whole lines inserted at a line start are a window of their own, empty in the
//!    original; they must be indented exactly to the key column. The item's `name` line is a
//!    window too, unchanged. An item of a flow list (`images: [...]`) is one window, `{` to `}`.
//! 2. The edited text must equal the original outside the windows, byte for byte (checked here,
//!    not assumed from how the splices were applied); each window in the edited text is found from
//!    the original's window and the growth of the edits inside it.
//! 3. libyaml reads every window of both texts on its own, each as one document of one stream
//!    (one parser: its start-up costs more than a line): a changed window as the same keys and
//!    values in both texts except `newTag` and `digest`, which hold the intended values; inserted
//!    lines as only those keys, holding the intended values; the `name` line as the target's image.
//!    Every changed value must be seen so.
//!
//! Why a window read on its own is read the same inside the document: libyaml's scanner is in the
//! same state at the window's start in both texts (the bytes before it are identical, and a window
//! starts at a line start, where a new key starts in both), and nothing it reads in the window
//! carries past its end. A quoted scalar or flow collection left open would make the read of the
//! window fail at the next document's `---` or at the end of input (so the check falls back). A
//! plain or block scalar cannot continue onto the line after the window, which is indented no
//! deeper than the key column (a value continues only on lines deeper than its mapping's keys). A
//! flow window ends with the `}` that closes the item. So libyaml reads the edited document as the
//! original with only those values changed; everything outside the windows, comments and anchors
//! included, is the same bytes read in the same state. And the changed values are the item's whose
//! `name` libyaml reads as the image: its name line and changed lines are keys at the item's key
//! column, within the item's lines.
//!
//! What the fast path does not do is read the unchanged rest of the file with libyaml. Where that
//! matters it is not taken: a file with aliases anywhere is read whole, as libyaml refuses to
//! expand an alias bomb the editor's reader accepts (the caller says so with `read_whole`).
//! Otherwise a file that the editor's reader accepts and libyaml rejects elsewhere is edited
//! rather than refused; its unchanged bytes stay as unreadable to kustomize as before.

use std::ops::Range;

use serde_norway::{Mapping, Value};

use super::plan::{Item, Plan};
use super::splice::Splice;
use super::{EditError, Target};

/// Checks that `after` is `before` with exactly the planned values changed, as libyaml reads
/// them. `before` and `after` are without a BOM.
pub(super) fn verify(
    before: &str,
    after: &str,
    plan: &Plan,
    targets: &[Target],
    read_whole: bool,
) -> Result<(), EditError> {
    if !read_whole && windows_prove_it(before, after, plan) {
        return Ok(());
    }
    whole_document(before, after, plan, targets)
}

/// What a window's read must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Changed lines of a block item, read in both texts.
    Changed,
    /// Lines inserted at a line start, read in the edited text only.
    Inserted,
    /// The item's unchanged `name` line.
    Name,
    /// A whole item of a flow list, read in both texts.
    FlowItem,
}

#[derive(Debug)]
struct Window {
    before: Range<usize>,
    growth: isize,
    entry: usize,
    role: Role,
}

/// Steps 1 to 3 of the module's proof; `false` when any step does not go through.
fn windows_prove_it(before: &str, after: &str, plan: &Plan) -> bool {
    let Some(mut windows) = windows(before, plan) else {
        return false;
    };
    windows.sort_by_key(|w| (w.before.start, w.before.end));
    // Step 2: the bytes between windows are unchanged; each window's text in both.
    let mut texts: Vec<(&str, &str)> = Vec::with_capacity(windows.len());
    let (mut done_before, mut done_after) = (0, 0);
    for w in &windows {
        if w.before.start < done_before {
            return false;
        }
        let start_after = done_after + (w.before.start - done_before);
        let Some(end_after) = (start_after + w.before.len()).checked_add_signed(w.growth) else {
            return false;
        };
        let (Some(gap), Some(edited)) = (
            after.get(done_after..start_after),
            after.get(start_after..end_after),
        ) else {
            return false;
        };
        if gap != &before[done_before..w.before.start] {
            return false;
        }
        texts.push((&before[w.before.clone()], edited));
        (done_before, done_after) = (w.before.end, end_after);
    }
    if after.get(done_after..) != Some(&before[done_before..]) {
        return false;
    }
    reads_back(&windows, &texts, plan)
}

/// Step 1: the windows of every entry with splices, unsorted; `None` where one cannot be drawn.
fn windows(text: &str, plan: &Plan) -> Option<Vec<Window>> {
    let mut out = Vec::new();
    for (index, entry) in plan.entries.iter().enumerate() {
        if entry.splices.is_empty() {
            continue;
        }
        let item_range = item_window(text, &entry.item)?;
        let inside = |r: &Range<usize>| item_range.start <= r.start && r.end <= item_range.end;
        if entry.item.flow_end.is_some() {
            out.push(Window {
                before: item_range,
                growth: entry.splices.iter().map(Splice::growth).sum(),
                entry: index,
                role: Role::FlowItem,
            });
            continue;
        }
        let key_col = entry.item.col;
        let mut own: Vec<Window> = Vec::new();
        for s in &entry.splices {
            let at_line_start = s.range.is_empty()
                && (s.range.start == 0 || text.as_bytes()[s.range.start - 1] == b'\n');
            let window = if at_line_start && s.text.ends_with('\n') {
                if !indented_to(&s.text, key_col) {
                    return None;
                }
                Window {
                    before: s.range.clone(),
                    growth: s.growth(),
                    entry: index,
                    role: Role::Inserted,
                }
            } else {
                let start = pair_window(text, s.range.start, key_col).start;
                let end = pair_window(text, s.range.end, key_col).end;
                Window {
                    before: start..end,
                    growth: s.growth(),
                    entry: index,
                    role: Role::Changed,
                }
            };
            if !inside(&window.before) {
                return None;
            }
            // Two changes on one pair's lines share a window.
            match own.iter_mut().find(|w| {
                w.role == Role::Changed
                    && window.role == Role::Changed
                    && w.before.start < window.before.end
                    && window.before.start < w.before.end
            }) {
                Some(w) => {
                    w.before = w.before.start.min(window.before.start)
                        ..w.before.end.max(window.before.end);
                    w.growth += window.growth;
                }
                None => own.push(window),
            }
        }
        let name = pair_window(text, entry.item.name, key_col);
        let name_changed = own.iter().any(|w| {
            w.role == Role::Changed && w.before.start <= name.start && name.end <= w.before.end
        });
        if !name_changed {
            if !inside(&name) {
                return None;
            }
            own.push(Window {
                before: name,
                growth: 0,
                entry: index,
                role: Role::Name,
            });
        }
        out.extend(own);
    }
    Some(out)
}

/// Whether every line of inserted text is indented exactly to the (1-based) key column.
fn indented_to(text: &str, key_col: usize) -> bool {
    text.split_inclusive('\n').all(|line| {
        let content = line.trim_start_matches(' ');
        line.len() - content.len() + 1 == key_col && !content.starts_with(['\r', '\n', '#', '\t'])
    })
}

/// The lines of the pair holding byte `at`: from its line's start, over the following lines
/// indented deeper than the (1-based) key column (and the blank and comment lines between them,
/// not after them).
fn pair_window(text: &str, at: usize, key_col: usize) -> Range<usize> {
    let start = text[..at].rfind('\n').map_or(0, |nl| nl + 1);
    let Some(first_end) = text[at..].find('\n') else {
        return start..text.len();
    };
    let mut end = at + first_end + 1;
    let mut line_start = end;
    while line_start < text.len() {
        let line = &text[line_start..];
        let line_end = line.find('\n').map_or(text.len(), |nl| line_start + nl + 1);
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let blank = content.is_empty() || content.starts_with(['\r', '\n', '#']);
        if !blank {
            if indent < key_col {
                break;
            }
            end = line_end;
        }
        line_start = line_end;
    }
    start..end
}

/// The offset of the first line from `from` that is neither blank nor a comment and whose
/// indentation (0-based) makes `ends` true; the text's length if none.
fn lines_until(text: &str, from: usize, ends: impl Fn(usize) -> bool) -> usize {
    let mut line_start = from;
    while line_start < text.len() {
        let line = &text[line_start..];
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let blank = content.is_empty() || content.starts_with(['\r', '\n', '#']);
        if !blank && ends(indent) {
            return line_start;
        }
        line_start = line.find('\n').map_or(text.len(), |nl| line_start + nl + 1);
    }
    text.len()
}

/// The bytes of an `images:` item in the original text: its lines, or its braces in a flow list.
fn item_window(text: &str, item: &Item) -> Option<Range<usize>> {
    if let Some(end) = item.flow_end {
        let bytes = text.get(item.start..end)?;
        return (bytes.starts_with('{') && bytes.ends_with('}')).then_some(item.start..end);
    }
    let start = text[..item.start].rfind('\n').map_or(0, |nl| nl + 1);
    let Some(first_end) = text[item.start..].find('\n') else {
        return Some(start..text.len());
    };
    let from = item.start + first_end + 1;
    Some(start..lines_until(text, from, |indent| indent + 1 < item.col))
}

/// Step 3: libyaml reads each window as the module's proof requires.
fn reads_back(windows: &[Window], texts: &[(&str, &str)], plan: &Plan) -> bool {
    // One stream: each window's text in the original (where read), then in the edited file.
    let mut stream = String::new();
    let mut push = |text: &str| {
        stream.push_str("---\n");
        stream.push_str(text);
        if !text.ends_with('\n') {
            stream.push('\n');
        }
    };
    for (w, (old, new)) in windows.iter().zip(texts) {
        match w.role {
            Role::Changed => {
                let (old, new) = without_shared_comment(old, new);
                push(old);
                push(new);
            }
            Role::FlowItem => {
                push(old);
                push(new);
            }
            Role::Inserted => push(new),
            Role::Name => {
                if old != new {
                    return false;
                }
                push(without_shared_comment(old, new).1);
            }
        }
    }
    let mut docs = serde_norway::Deserializer::from_str(&stream).map(|doc| {
        use serde::Deserialize as _;
        Value::deserialize(doc).ok().and_then(item_of)
    });
    let mut next = || docs.next().flatten();
    // Per entry: whether its name, new tag and new digest were seen.
    let mut seen = vec![(false, false, false); plan.entries.len()];
    for w in windows {
        let update = &plan.entries[w.entry].update;
        let seen = &mut seen[w.entry];
        let (mut old, mut new) = match w.role {
            Role::Changed | Role::FlowItem => match (next(), next()) {
                (Some(old), Some(new)) => (old, new),
                _ => return false,
            },
            Role::Inserted | Role::Name => match next() {
                Some(new) => (Mapping::new(), new),
                None => return false,
            },
        };
        if new.contains_key("name") {
            let name =
                |m: &Mapping| m.get("name").and_then(Value::as_str) == Some(update.image.as_str());
            if !name(&new) || (w.role != Role::Name && !name(&old)) {
                return false;
            }
            seen.0 = true;
        }
        if w.role == Role::Name {
            continue;
        }
        let (old_tag, tag) = (old.remove("newTag"), new.remove("newTag"));
        let (old_digest, digest) = (old.remove("digest"), new.remove("digest"));
        if old != new {
            return false;
        }
        match tag {
            Some(tag) if tag.as_str() == Some(update.tag.new.as_str()) => seen.1 = true,
            Some(_) => return false,
            None if old_tag.is_some() => return false,
            None => {}
        }
        match (digest, &update.digest) {
            (Some(digest), Some(want)) if digest.as_str() == Some(want.new.as_str()) => {
                seen.2 = true;
            }
            (digest, None) if digest == old_digest => {}
            (None, Some(_)) if old_digest.is_none() => {}
            _ => return false,
        }
    }
    if docs.next().is_some() {
        return false;
    }
    plan.entries
        .iter()
        .zip(&seen)
        .all(|(e, &(name, tag, digest))| {
            let u = &e.update;
            e.splices.is_empty()
                || (name
                    && (tag || !u.tag.is_change())
                    && (digest || !u.digest.as_ref().is_some_and(|d| d.is_change())))
        })
}

/// A one-line window's two texts without the trailing comment they share (libyaml reads a
/// comment byte by byte, and Flux's `# {"$imagepolicy": ...}` markers are most of such a line).
/// The cut is at the first ` #` in the bytes both texts end with, so what is cut is the same in
/// both; were that ` #` inside a quoted value rather than a comment, the quote would be left open
/// and the read would fail, so the check would fall back. Longer windows are left whole.
fn without_shared_comment<'t>(old: &'t str, new: &'t str) -> (&'t str, &'t str) {
    let one_line = |t: &str| t.find('\n').is_none_or(|nl| nl + 1 == t.len());
    if !one_line(old) || !one_line(new) {
        return (old, new);
    }
    let shared = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut tail = old.len() - shared;
    while !old.is_char_boundary(tail) {
        tail += 1;
    }
    match old[tail..].find(" #") {
        Some(at) => {
            let cut = old.len() - (tail + at);
            (&old[..old.len() - cut], &new[..new.len() - cut])
        }
        None => (old, new),
    }
}

/// A window read on its own: one mapping, or a list of exactly one mapping.
fn item_of(value: Value) -> Option<Mapping> {
    match value {
        Value::Mapping(m) => Some(m),
        Value::Sequence(items) if items.len() == 1 => match items.into_iter().next() {
            Some(Value::Mapping(m)) => Some(m),
            _ => None,
        },
        _ => None,
    }
}

/// The whole-document check: libyaml reads both texts in full; they must be equal once `newTag`
/// and `digest` are taken out of the targeted `images` entries, and each changed entry's image
/// must read back with the intended values.
fn whole_document(
    before: &str,
    after: &str,
    plan: &Plan,
    targets: &[Target],
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
        let changed = plan
            .entries
            .iter()
            .any(|e| e.update.image == image && e.update.is_change());
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
    use super::super::plan::plan;
    use super::super::splice::apply;
    use super::super::tree::read_document;
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const TARGETS: [Target<'static>; 2] = [
        Target {
            image: "backend",
            tag: "v2",
            digest: Some(DIGEST),
        },
        Target {
            image: "frontend",
            tag: "v2",
            digest: None,
        },
    ];

    fn planned(text: &str) -> (Plan, String) {
        let root = read_document(text).expect("parses").expect("a document");
        let plan = plan(text, &root, &TARGETS).expect("plans");
        let after = apply(text, plan.splices());
        (plan, after)
    }

    /// Files of every layout the editor meets; each has something to change.
    const LAYOUTS: [&str; 9] = [
        "images:\n- name: backend\n  newTag: v1\n- name: frontend\n  newTag: v1\n",
        "images:\n  -   name: backend # c\n      newName: r/b\n\n      newTag: 'v1'\n  - name: x\n  - name: frontend\n",
        "images:\r\n- name: backend\r\n  newTag: \"v1\"\r\n# between\r\n- name: frontend\r\nresources: [a.yaml]\r\n",
        "images:\n-\n  name: backend\n  newTag: v1\n-\n  name: frontend\n  newTag: v1",
        "images: [{name: backend, newTag: v1}, {name: other},\n  {name: frontend}]\n",
        "images:\n- {name: backend, newTag: v1}\n- name: frontend\n",
        "a: &a {x: 1}\nimages:\n- name: frontend\n  newTag: ~\n- name: backend\n  newTag: v1\n  digest: sha256:old\nb: *a\n",
        "\n# é 日本\nimages:\n- name: frontend # ü\n  newTag: v1\n- name: backend\n  newTag: v1",
        "images:\n- name: backend # {\"$imagepolicy\": \"ns:b:name\"}\n  newTag: v1 # {\"$imagepolicy\": \"ns:b:tag\"}\n- name: frontend\n  newTag: 'v1' # c\n",
    ];

    /// The read-back of the changed items alone proves a correct edit of each layout, so a large
    /// file is never read in full; the whole-document check agrees.
    #[test]
    fn the_changed_items_alone_prove_a_correct_edit() {
        for text in LAYOUTS {
            let (plan, after) = planned(text);
            assert!(plan.splices().count() > 0, "{text}");
            assert!(
                windows_prove_it(text, &after, &plan),
                "{text}\n---\n{after}"
            );
            assert_eq!(
                whole_document(text, &after, &plan, &TARGETS),
                Ok(()),
                "{text}"
            );
        }
    }

    /// Edited text that differs from the plan's intent anywhere, inside a changed item or
    /// outside it, is refused, whatever the plan says.
    #[test]
    fn any_other_change_is_refused() {
        let text = LAYOUTS[0];
        let (plan, after) = planned(text);
        let tampered = [
            // Outside the items: another key.
            format!("{after}x: 1\n"),
            // Inside an item: another key of the entry.
            after.replacen("- name: frontend", "- name: frontend\n  newName: r/f", 1),
            // The tag reads back as a number.
            after.replacen(
                &format!("newTag: v2\n  digest: {DIGEST}"),
                &format!("newTag: 2\n  digest: {DIGEST}"),
                1,
            ),
            // The digest is not the one planned.
            after.replacen(DIGEST, "sha256:1", 1),
            // An unterminated quote swallows what follows.
            after.replacen(
                "- name: frontend\n  newTag: v2",
                "- name: frontend\n  newTag: \"v2",
                1,
            ),
        ];
        for bad in tampered {
            assert_ne!(bad, after);
            assert!(!windows_prove_it(text, &bad, &plan), "{bad}");
            let err = verify(text, &bad, &plan, &TARGETS, false).expect_err(&bad);
            assert!(matches!(err, EditError::Verification(_)), "{err:?}");
        }
    }

    /// Where a window cannot be read on its own (an alias to an anchor outside it), the whole
    /// document is read instead, and a correct edit still passes.
    #[test]
    fn a_window_that_cannot_stand_alone_falls_back_to_the_whole_document() {
        let text = "reg: &r registry/backend\nimages: [{name: backend, newName: *r, newTag: v1}]\n";
        let (plan, after) = planned(text);
        assert!(!windows_prove_it(text, &after, &plan));
        assert_eq!(verify(text, &after, &plan, &TARGETS, false), Ok(()));
        let bad = after.replace("registry/backend", "registry/other");
        assert!(verify(text, &bad, &plan, &TARGETS, false).is_err());
    }

    /// Only the comment both texts share is cut, at its ` #`; a window of more lines is whole.
    #[test]
    fn the_shared_comment_is_cut_from_one_line_windows() {
        let cut = without_shared_comment;
        assert_eq!(
            cut(
                "  newTag: v1 # {\"$imagepolicy\": \"x\"}\n",
                "  newTag: v22 # {\"$imagepolicy\": \"x\"}\n"
            ),
            ("  newTag: v1", "  newTag: v22")
        );
        assert_eq!(
            cut("  newTag: # c\n", "  newTag: v2 # c\n"),
            ("  newTag:", "  newTag: v2")
        );
        assert_eq!(cut("a: é # c\n", "a: ɩ # c\n"), ("a: é", "a: ɩ"));
        assert_eq!(cut("a: v1\n", "a: v2\n"), ("a: v1\n", "a: v2\n"));
        let two = "a: v1 # c\n  b\n";
        assert_eq!(cut(two, two), (two, two));
    }

    /// A block item's window runs from its first key's line to the next line indented less than
    /// that key, skipping blank and comment lines; a flow item's is its braces.
    #[test]
    fn windows_cover_the_item_and_nothing_of_the_next() {
        let text = "images:\n  - name: a\n\n# c\n    newTag: v1\n  - name: b\nx: 1\n";
        let item = |start: usize, col: usize| Item {
            start,
            col,
            flow_end: None,
            name: start,
        };
        let first = item_window(text, &item(12, 5)).expect("a window");
        assert_eq!(&text[first], "  - name: a\n\n# c\n    newTag: v1\n");
        let last = item_window(text, &item(text.find("name: b").expect("b"), 5)).expect("a window");
        assert_eq!(&text[last], "  - name: b\n");
        let flow = "images: [{name: a}, {name: b}]";
        let w = item_window(
            flow,
            &Item {
                start: 9,
                col: 10,
                flow_end: Some(18),
                name: 10,
            },
        )
        .expect("a window");
        assert_eq!(&flow[w], "{name: a}");
        assert_eq!(
            item_window(
                flow,
                &Item {
                    start: 9,
                    col: 10,
                    flow_end: Some(17),
                    name: 10,
                }
            ),
            None
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// The fast path is sound: whenever the changed items alone prove an edited text, the
        /// whole-document read agrees. Edited texts get one character inserted or removed
        /// anywhere, from the characters that change how YAML reads.
        #[test]
        fn the_fast_path_never_accepts_what_the_whole_read_refuses(
            layout in 0..LAYOUTS.len(),
            at in 0usize..400,
            insert in proptest::option::of(proptest::sample::select(
                vec!['"', '\'', '\n', ' ', '#', ':', '-', '{', '}', '[', ']', '|', '&', '*', ',', 'x', '\t'],
            )),
        ) {
            let text = LAYOUTS[layout];
            let (plan, after) = planned(text);
            let boundaries: Vec<usize> = after.char_indices().map(|(i, _)| i).collect();
            let at = boundaries[at % boundaries.len()];
            let mut bad = after.clone();
            match insert {
                Some(c) => bad.insert(at, c),
                None => {
                    bad.remove(at);
                }
            }
            if windows_prove_it(text, &bad, &plan) {
                proptest::prop_assert_eq!(whole_document(text, &bad, &plan, &TARGETS), Ok(()), "{}", bad);
            }
        }
    }
}
