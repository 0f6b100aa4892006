//! What a run reports, rendered from the change record alone: the values of the step outputs,
//! the step summary (markdown), the commit message body and the pull request body. Every
//! function here is pure formatting: the record carries what each entry renders to, so nothing
//! is parsed again. `actions::files` writes the outputs and the summary.
//!
//! One concern per file: [`outputs`] (the step outputs and the `images` list), [`summary`] (the
//! step summary), [`message`] (commit message and pull request body), [`table`] (the image table
//! both markdown renderings share) and [`markdown`] (code spans and fences).

mod markdown;
mod message;
mod outputs;
mod summary;
mod table;

pub use message::{changed_image_names, commit_body, pull_request_body};
pub use outputs::{OUTPUT_NAMES, images, outputs};
pub use summary::{SUMMARY_DIFF_LIMIT, step_summary};

/// Where the change landed in the GitOps repository. All `None` (the default) for a dry run, a
/// no-op, and until commits and pull requests are made through the GitHub API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Landing {
    pub commit_sha: Option<String>,
    pub commit_url: Option<String>,
    /// Whether GitHub marks the commit verified (signed by GitHub through the API).
    pub verified: Option<bool>,
    pub pull_request_number: Option<u64>,
    pub pull_request_url: Option<String>,
}

/// Change records for the renderers' tests.
#[cfg(test)]
mod fixtures {
    use crate::core::change::{ChangeSet, FileChange};
    use crate::core::kustomization::{EntryUpdate, Update};

    pub const REGISTRY: &str = "123.dkr.ecr.us-east-1.amazonaws.com/x";
    pub const DIGEST: &str =
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// An entry without `newName`; `digest` is written by the run.
    pub fn entry(image: &str, old: Option<&str>, new: &str, digest: Option<&str>) -> EntryUpdate {
        EntryUpdate {
            image: image.into(),
            line: 2,
            new_name: None,
            tag: Update {
                old: old.map(str::to_owned),
                new: new.into(),
            },
            digest: digest.map(|d| Update {
                old: None,
                new: d.into(),
            }),
            final_digest: digest.map(str::to_owned),
        }
    }

    /// The same entry with a `newName`.
    pub fn renamed(entry: EntryUpdate, new_name: &str) -> EntryUpdate {
        EntryUpdate {
            new_name: Some(new_name.into()),
            ..entry
        }
    }

    pub fn file(path: &str, before: &str, after: &str, entries: Vec<EntryUpdate>) -> FileChange {
        FileChange {
            path: path.into(),
            before: before.into(),
            after: after.into(),
            entries,
        }
    }

    /// The example's shape: a base naming the ECR repositories with `newName`, two overlays.
    pub fn promotion() -> ChangeSet {
        let base_before = format!(
            "images:\n  - name: backend\n    newName: {REGISTRY}/backend\n    newTag: sha-0000000\n  - name: frontend\n    newName: {REGISTRY}/frontend\n    newTag: sha-0000000\n"
        );
        let base_after = base_before.replace("sha-0000000", "sha-1a2b3c4");
        let overlay_before = format!(
            "images:\n  - name: backend\n    newName: {REGISTRY}/backend\n    newTag: sha-0000000\n"
        );
        let overlay_after = overlay_before.replace("sha-0000000", "sha-1a2b3c4");
        let promoted = |image: &str| {
            renamed(
                entry(image, Some("sha-0000000"), "sha-1a2b3c4", None),
                &format!("{REGISTRY}/{image}"),
            )
        };
        ChangeSet {
            files: vec![
                file(
                    "apps/a/base/kustomization.yaml",
                    &base_before,
                    &base_after,
                    vec![promoted("backend"), promoted("frontend")],
                ),
                file(
                    "apps/a/overlays/platform/kustomization.yaml",
                    &overlay_before,
                    &overlay_after,
                    vec![promoted("backend")],
                ),
            ],
        }
    }
}
