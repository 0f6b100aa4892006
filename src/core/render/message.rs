//! The commit message body and the pull request body.

use std::fmt::Write as _;

use super::super::change::ChangeSet;
use super::markdown::code;
use super::table::rows;

/// The names of the images a change promotes, for `{images}` in a commit headline.
pub fn changed_image_names(changes: &ChangeSet) -> String {
    changes.changed_images().join(", ")
}

/// A commit message body: each changed value, file by file, then git trailers that link the
/// source (`Source-Commit`, `Workflow-Run`).
pub fn commit_body(changes: &ChangeSet, trailers: &[(&str, String)]) -> String {
    let mut out = String::new();
    for file in changes.changed() {
        for e in file.entries.iter().filter(|e| e.is_change()) {
            let old = e.tag.old.as_deref().unwrap_or("(none)");
            let _ = write!(out, "{}: {} {old} -> {}", file.path, e.image, e.tag.new);
            if let Some(d) = e.digest.as_ref().filter(|d| d.is_change()) {
                let _ = write!(out, " @ {}", d.new);
            }
            out.push('\n');
        }
    }
    if !trailers.is_empty() {
        out.push('\n');
        for (key, value) in trailers {
            let _ = writeln!(out, "{key}: {value}");
        }
    }
    out
}

/// A pull request body: a table of image, old, new and files, then the source links.
pub fn pull_request_body(changes: &ChangeSet, links: &[(&str, String)]) -> String {
    let mut out = String::from(
        "Promoted by gitops-promote.\n\n| image | old | new | files |\n| --- | --- | --- | --- |\n",
    );
    for (row, paths) in rows(changes).into_iter().filter(|(r, _)| !r.current) {
        let old = row.old.map_or_else(|| "(none)".to_owned(), code);
        let new = match row.digest {
            Some(d) => format!("{} ({})", code(row.new), code(d)),
            None => code(row.new),
        };
        let files: Vec<String> = paths.iter().map(|p| code(p)).collect();
        let _ = writeln!(
            out,
            "| {} | {old} | {new} | {} |",
            code(row.image),
            files.join("<br>")
        );
    }
    if !links.is_empty() {
        out.push('\n');
        for (label, url) in links {
            let _ = writeln!(out, "- {label}: {url}");
        }
    }
    out
}
