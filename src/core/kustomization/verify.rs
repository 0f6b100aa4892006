//! The independent check: the edited text is read back by another YAML parser, libyaml (through
//! serde_norway, as kustomize's Go parser descends from it), which must see the original document
//! with only the planned `newTag` and `digest` values changed, and those holding the intended
//! values. It knows nothing of how the plan was made or applied: it gets the two texts, where each
//! changed `images:` item sits in the original, and what each should hold.
//!
//! # Reading only the changed items, with the same guarantee
//!
//! Reading a whole 1 MB file twice with libyaml costs tens of milliseconds, so the check first
//! tries to prove the property from the changed items alone, and reads the whole document (as it
//! always used to) whenever that proof does not go through. The proof:
//!
//! 1. Each changed item gets a *window* of the original: for an item of a block list, the lines
//!    from the one its first key is on, up to (not including) the next line that is indented
//!    less than that key and is neither blank nor a comment; for an item of a flow list, its
//!    bytes from `{` to `}`.
//! 2. The edited text must equal the original outside the windows, byte for byte (checked here,
//!    not assumed from how the splices were applied), and each window in the edited text is
//!    found from the original's window and the growth of the edits before it.
//! 3. libyaml must read each window of both texts, on its own, as one mapping (a one-item list
//!    when the window starts with the `-`), with the same `name`, the same keys and values except
//!    `newTag` and `digest`, and the intended `newTag` and `digest` in the edited one.
//!
//! Why a window read on its own is read the same inside the document: libyaml's scanner is in the
//! same state at the window's start in both texts (the bytes before it are identical), and it
//! consumes the window without carrying anything past its end. A quoted scalar or a flow
//! collection left open inside the window would make the standalone read fail at the end of input
//! (so the check falls back); a plain or block scalar cannot continue onto the next line, which
//! is indented less than the item's keys (plain scalars and block scalars continue only on lines
//! indented deeper than their mapping); and a flow window ends with the `}` that closes the item.
//! A window that holds more than the item (a second `-` item, a less indented key) does not read as
//! one item, or fails to read, and the check falls back. So libyaml reads the edited document as
//! the original with only those values changed. Everything outside the windows, comments and
//! anchors included, is the same bytes in the same parser state.
//!
//! What the fast path no longer does is read the unchanged rest of the file with libyaml at all:
//! a file that saphyr-parser accepts and libyaml rejects outside the changed items is edited
//! rather than refused. Its unchanged bytes stay as unreadable to kustomize as before.

use std::ops::Range;

use serde_norway::{Mapping, Value};

use super::plan::{Item, Plan};
use super::splice::Splice;
use super::{EditError, EntryUpdate, Target};

/// Checks that `after` is `before` with exactly the planned values changed, as libyaml reads
/// them. `before` and `after` are without a BOM.
pub(super) fn verify(
    before: &str,
    after: &str,
    plan: &Plan,
    targets: &[Target],
) -> Result<(), EditError> {
    if windows_prove_it(before, after, plan) {
        return Ok(());
    }
    whole_document(before, after, plan, targets)
}

/// Steps 1 to 3 of the module's proof; `false` when any step does not go through.
fn windows_prove_it(before: &str, after: &str, plan: &Plan) -> bool {
    // The end of the previous window, in `before` and in `after`.
    let (mut done_before, mut done_after) = (0, 0);
    for entry in plan.entries.iter().filter(|e| !e.splices.is_empty()) {
        let Some(window) = window(before, &entry.item) else {
            return false;
        };
        let inside = |s: &Splice| window.start <= s.range.start && s.range.end <= window.end;
        if window.start < done_before || !entry.splices.iter().all(inside) {
            return false;
        }
        let growth: isize = entry.splices.iter().map(Splice::growth).sum();
        let start_after = done_after + (window.start - done_before);
        let Some(end_after) = (window.end + start_after)
            .checked_sub(window.start)
            .and_then(|end| end.checked_add_signed(growth))
        else {
            return false;
        };
        let gap_unchanged =
            after.get(done_after..start_after) == Some(&before[done_before..window.start]);
        let Some(edited) = after.get(start_after..end_after) else {
            return false;
        };
        if !gap_unchanged || !item_reads_back(&before[window.clone()], edited, &entry.update) {
            return false;
        }
        (done_before, done_after) = (window.end, end_after);
    }
    after.get(done_after..) == Some(&before[done_before..])
}

/// Step 1: the bytes of an `images:` item in the original text.
fn window(text: &str, item: &Item) -> Option<Range<usize>> {
    if let Some(end) = item.flow_end {
        let bytes = text.get(item.start..end)?;
        return (bytes.starts_with('{') && bytes.ends_with('}')).then_some(item.start..end);
    }
    let start = text[..item.start].rfind('\n').map_or(0, |nl| nl + 1);
    let Some(first_end) = text[item.start..].find('\n') else {
        return Some(start..text.len());
    };
    let mut line_start = item.start + first_end + 1;
    while line_start < text.len() {
        let line = &text[line_start..];
        let line_end = line.find('\n').map_or(text.len(), |nl| line_start + nl + 1);
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let blank = content.starts_with(['\r', '\n', '#']) || content.is_empty();
        if !blank && indent + 1 < item.col {
            return Some(start..line_start);
        }
        line_start = line_end;
    }
    Some(start..text.len())
}

/// Step 3: libyaml reads both windows as the one item, unchanged but for the intended values.
fn item_reads_back(before: &str, after: &str, update: &EntryUpdate) -> bool {
    let (Some(mut before), Some(mut after)) = (read_item(before), read_item(after)) else {
        return false;
    };
    let name = |m: &Mapping| m.get("name").and_then(Value::as_str) == Some(update.image.as_str());
    if !name(&before) || !name(&after) {
        return false;
    }
    let (_, old_digest) = (before.remove("newTag"), before.remove("digest"));
    let (tag, digest) = (after.remove("newTag"), after.remove("digest"));
    let digest_ok = match &update.digest {
        Some(d) => digest.as_ref().and_then(Value::as_str) == Some(d.new.as_str()),
        None => digest == old_digest,
    };
    before == after && digest_ok && tag.as_ref().and_then(Value::as_str) == Some(&update.tag.new)
}

/// A window read on its own: one mapping, or a list of exactly one mapping.
fn read_item(text: &str) -> Option<Mapping> {
    match serde_norway::from_str::<Value>(text).ok()? {
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
    const LAYOUTS: [&str; 8] = [
        "images:\n- name: backend\n  newTag: v1\n- name: frontend\n  newTag: v1\n",
        "images:\n  -   name: backend # c\n      newName: r/b\n\n      newTag: 'v1'\n  - name: x\n  - name: frontend\n",
        "images:\r\n- name: backend\r\n  newTag: \"v1\"\r\n# between\r\n- name: frontend\r\nresources: [a.yaml]\r\n",
        "images:\n-\n  name: backend\n  newTag: v1\n-\n  name: frontend\n  newTag: v1",
        "images: [{name: backend, newTag: v1}, {name: other},\n  {name: frontend}]\n",
        "images:\n- {name: backend, newTag: v1}\n- name: frontend\n",
        "a: &a {x: 1}\nimages:\n- name: frontend\n  newTag: ~\n- name: backend\n  newTag: v1\n  digest: sha256:old\nb: *a\n",
        "\n# é 日本\nimages:\n- name: frontend # ü\n  newTag: v1\n- name: backend\n  newTag: v1",
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
            let err = verify(text, &bad, &plan, &TARGETS).expect_err(&bad);
            assert!(matches!(err, EditError::Verification(_)), "{err:?}");
        }
    }

    /// Where a window cannot be read on its own (an alias to an anchor outside it), the whole
    /// document is read instead, and a correct edit still passes.
    #[test]
    fn a_window_that_cannot_stand_alone_falls_back_to_the_whole_document() {
        let text =
            "reg: &r registry/backend\nimages:\n- name: backend\n  newName: *r\n  newTag: v1\n";
        let (plan, after) = planned(text);
        assert!(!windows_prove_it(text, &after, &plan));
        assert_eq!(verify(text, &after, &plan, &TARGETS), Ok(()));
        let bad = after.replace("registry/backend", "registry/other");
        assert!(verify(text, &bad, &plan, &TARGETS).is_err());
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
        };
        let first = window(text, &item(12, 5)).expect("a window");
        assert_eq!(&text[first], "  - name: a\n\n# c\n    newTag: v1\n");
        let last = window(text, &item(text.find("name: b").expect("b"), 5)).expect("a window");
        assert_eq!(&text[last], "  - name: b\n");
        let flow = "images: [{name: a}, {name: b}]";
        let w = window(
            flow,
            &Item {
                start: 9,
                col: 10,
                flow_end: Some(18),
            },
        )
        .expect("a window");
        assert_eq!(&flow[w], "{name: a}");
        assert_eq!(
            window(
                flow,
                &Item {
                    start: 9,
                    col: 10,
                    flow_end: Some(17)
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
