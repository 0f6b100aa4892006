//! The image table the step summary and the pull request body share: one row per distinct
//! image, old, new and digest, with the files that hold it.

use super::super::change::ChangeSet;

/// A table row: entries with the same values share a row, and their files a cell.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Row<'a> {
    pub image: &'a str,
    pub old: Option<&'a str>,
    pub new: &'a str,
    pub digest: Option<&'a str>,
    pub current: bool,
}

pub(super) fn rows(changes: &ChangeSet) -> Vec<(Row<'_>, Vec<&str>)> {
    let mut rows: Vec<(Row, Vec<&str>)> = Vec::new();
    for file in &changes.files {
        for e in &file.entries {
            let row = Row {
                image: &e.image,
                old: e.tag.old.as_deref(),
                new: &e.tag.new,
                digest: e.digest.as_ref().map(|d| d.new.as_str()),
                current: !e.is_change(),
            };
            match rows.iter_mut().find(|(r, _)| *r == row) {
                Some((_, paths)) => {
                    if !paths.contains(&file.path.as_str()) {
                        paths.push(&file.path);
                    }
                }
                None => rows.push((row, vec![&file.path])),
            }
        }
    }
    // Image by image, in the order they were first seen; within an image, changes first.
    let order: Vec<&str> = rows
        .iter()
        .map(|(r, _)| r.image)
        .fold(Vec::new(), |mut v, i| {
            if !v.contains(&i) {
                v.push(i);
            }
            v
        });
    rows.sort_by_key(|(r, _)| (order.iter().position(|i| *i == r.image), r.current));
    rows
}
