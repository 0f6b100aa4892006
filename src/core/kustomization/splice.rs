//! Applying a plan: the mechanical part. A splice replaces a byte range of the original text
//! with new text (an empty range inserts); every byte outside the ranges is copied as it was.

use std::ops::Range;

/// Replace the bytes `range` of the original text with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Splice {
    pub range: Range<usize>,
    pub text: String,
}

impl Splice {
    pub fn insert(at: usize, text: String) -> Self {
        Self {
            range: at..at,
            text,
        }
    }

    /// How many bytes longer the text gets.
    pub fn growth(&self) -> isize {
        self.text.len() as isize - self.range.len() as isize
    }
}

/// The text with every splice applied. The splices must not overlap; they may come in any
/// order, and insertions at the same offset keep their order.
pub(super) fn apply<'s>(text: &str, splices: impl IntoIterator<Item = &'s Splice>) -> String {
    let mut splices: Vec<&Splice> = splices.into_iter().collect();
    splices.sort_by_key(|s| (s.range.start, s.range.end));
    let growth: isize = splices.iter().map(|s| s.growth()).sum();
    let mut out = String::with_capacity(text.len().saturating_add_signed(growth));
    let mut at = 0;
    for s in splices {
        assert!(
            s.range.start >= at,
            "splices overlap at byte {}",
            s.range.start
        );
        out.push_str(&text[at..s.range.start]);
        out.push_str(&s.text);
        at = s.range.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(range: Range<usize>, text: &str) -> Splice {
        Splice {
            range,
            text: text.into(),
        }
    }

    #[test]
    fn replaces_and_inserts_and_copies_everything_else() {
        let text = "newTag: v1 # c\nnext: x";
        let out = apply(
            text,
            &[
                Splice::insert(text.len(), "\nadded: y".into()),
                replace(8..10, "v22"),
                Splice::insert(15, "inserted: z\n".into()),
            ],
        );
        assert_eq!(out, "newTag: v22 # c\ninserted: z\nnext: x\nadded: y");
    }

    #[test]
    fn insertions_at_one_offset_keep_their_order() {
        let out = apply(
            "ab",
            &[Splice::insert(1, "1".into()), Splice::insert(1, "2".into())],
        );
        assert_eq!(out, "a12b");
    }

    #[test]
    fn no_splices_copy_the_text() {
        assert_eq!(apply("a: b\n", &[]), "a: b\n");
    }

    #[test]
    #[should_panic(expected = "splices overlap")]
    fn overlapping_splices_are_a_bug() {
        apply("abcdef", &[replace(1..4, "x"), replace(3..5, "y")]);
    }
}
