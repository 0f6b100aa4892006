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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{DIGEST, entry, file, promotion};
    use super::*;

    /// Only changed values are listed, file by file, a written digest after `@`, then the
    /// trailers after a blank line.
    #[test]
    fn a_commit_body_lists_each_changed_value_then_the_trailers() {
        let set = ChangeSet {
            files: vec![
                file(
                    "a/kustomization.yaml",
                    "v1\n",
                    "v2\n",
                    vec![
                        entry("backend", Some("v1"), "v2", Some(DIGEST)),
                        entry("frontend", Some("v2"), "v2", None),
                        entry("worker", None, "v2", None),
                    ],
                ),
                file(
                    "b/kustomization.yaml",
                    "same\n",
                    "same\n",
                    vec![entry("backend", Some("v2"), "v2", None)],
                ),
            ],
        };
        let trailers = [("Source-Commit", "o/app@1a2b3c4".to_owned())];
        assert_eq!(
            commit_body(&set, &trailers),
            format!(
                "a/kustomization.yaml: backend v1 -> v2 @ {DIGEST}\na/kustomization.yaml: worker (none) -> v2\n\nSource-Commit: o/app@1a2b3c4\n"
            )
        );
        assert_eq!(changed_image_names(&set), "backend, worker");
    }

    /// One row per image and values, the files sharing it in one cell; then the links.
    #[test]
    fn a_pull_request_body_is_the_table_of_changes_and_the_links() {
        let links = [(
            "Workflow run",
            "https://github.com/o/app/actions/runs/1".to_owned(),
        )];
        assert_eq!(
            pull_request_body(&promotion(), &links),
            "Promoted by gitops-promote.

| image | old | new | files |
| --- | --- | --- | --- |
| `backend` | `sha-0000000` | `sha-1a2b3c4` | `apps/a/base/kustomization.yaml`<br>`apps/a/overlays/platform/kustomization.yaml` |
| `frontend` | `sha-0000000` | `sha-1a2b3c4` | `apps/a/base/kustomization.yaml` |

- Workflow run: https://github.com/o/app/actions/runs/1
"
        );
    }
}
