//! The change record: file -> image -> old value -> new value, and what each entry renders to.
//! The log lines, the diff, the commit message, PR body, step summary and outputs are all
//! rendered from it.

use std::fmt::Write as _;

use similar::TextDiff;

use super::kustomization::EntryUpdate;

/// A kustomization file before and after the edit, and the entries the edit looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path relative to the GitOps repository root, with `/` separators.
    pub path: String,
    pub before: String,
    pub after: String,
    pub entries: Vec<EntryUpdate>,
}

impl FileChange {
    pub fn is_changed(&self) -> bool {
        self.before != self.after
    }
}

/// Every file a run selected, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pub files: Vec<FileChange>,
}

impl ChangeSet {
    /// The files whose bytes change.
    pub fn changed(&self) -> impl Iterator<Item = &FileChange> {
        self.files.iter().filter(|f| f.is_changed())
    }

    pub fn is_noop(&self) -> bool {
        self.changed().next().is_none()
    }

    /// The images whose entries change, in first-seen order.
    pub fn changed_images(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for e in self
            .changed()
            .flat_map(|f| &f.entries)
            .filter(|e| e.is_change())
        {
            if !names.contains(&e.image.as_str()) {
                names.push(&e.image);
            }
        }
        names
    }

    /// One line per entry: `path:line: image old -> new`, noting entries already current.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            for e in &file.entries {
                let old = e.tag.old.as_deref().unwrap_or("(none)");
                let _ = write!(
                    out,
                    "{}:{}: {} {old} -> {}",
                    file.path, e.line, e.image, e.tag.new
                );
                if let Some(d) = e.digest.as_ref().filter(|d| d.is_change()) {
                    let _ = write!(out, " (digest {})", d.new);
                }
                if !e.is_change() {
                    out.push_str(" (already current)");
                }
                out.push('\n');
            }
        }
        out
    }

    /// A unified diff of every changed file, as `git diff` prints paths.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for file in self.changed() {
            let diff = TextDiff::from_lines(&file.before, &file.after);
            let _ = write!(
                out,
                "{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{}", file.path), &format!("b/{}", file.path))
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::kustomization::Update;

    fn file(path: &str, before: &str, after: &str, old: &str) -> FileChange {
        FileChange {
            path: path.into(),
            before: before.into(),
            after: after.into(),
            entries: vec![EntryUpdate {
                image: "backend".into(),
                line: 2,
                new_name: None,
                tag: Update {
                    old: Some(old.into()),
                    new: "v2".into(),
                },
                digest: None,
                final_digest: None,
            }],
        }
    }

    #[test]
    fn renders_summary_and_diff_from_the_record() {
        let set = ChangeSet {
            files: vec![
                file(
                    "a/kustomization.yaml",
                    "images:\n- name: backend\n  newTag: v1\n",
                    "images:\n- name: backend\n  newTag: v2\n",
                    "v1",
                ),
                file("b/kustomization.yaml", "x\n", "x\n", "v2"),
            ],
        };
        assert_eq!(
            set.summary(),
            "a/kustomization.yaml:2: backend v1 -> v2\nb/kustomization.yaml:2: backend v2 -> v2 (already current)\n"
        );
        let diff = set.diff();
        assert!(
            diff.starts_with("--- a/a/kustomization.yaml\n+++ b/a/kustomization.yaml\n"),
            "{diff}"
        );
        assert!(diff.contains("-  newTag: v1\n+  newTag: v2\n"), "{diff}");
        assert!(!diff.contains("b/kustomization.yaml"));
        assert_eq!(set.changed_images(), ["backend"]);
        assert!(!set.is_noop());
    }
}
