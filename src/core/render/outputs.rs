//! The values of the step outputs action.yml declares, and the `images` list: the references
//! kustomize renders for the entries the run set.

use super::super::change::ChangeSet;
use super::super::flux::Rollout;
use super::super::kustomization::EntryUpdate;
use super::Landing;

/// Every output action.yml declares, in its order.
pub const OUTPUT_NAMES: [&str; 11] = [
    "changed",
    "commit_sha",
    "commit_url",
    "verified",
    "pull_request_number",
    "pull_request_url",
    "images",
    "changed_files",
    "diff",
    "reconciled",
    "flux_status",
];

/// The value of every output in [`OUTPUT_NAMES`], in that order. Values not known are `""`,
/// which is what a workflow reads for an output that was never set.
///
/// `changed` is `true` when at least one file's bytes change, in a dry run too (where nothing
/// is written): it answers "is there something to promote". `reconciled` and `flux_status` are
/// set when the run waited for Flux (`rollout` names objects).
pub fn outputs(
    changes: &ChangeSet,
    landing: &Landing,
    rollout: Option<&Rollout>,
) -> Vec<(&'static str, String)> {
    let waited = rollout.filter(|r| r.waited());
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let values = [
        (!changes.is_noop()).to_string(),
        text(&landing.commit_sha),
        text(&landing.commit_url),
        landing.verified.map(|v| v.to_string()).unwrap_or_default(),
        landing
            .pull_request_number
            .map(|n| n.to_string())
            .unwrap_or_default(),
        text(&landing.pull_request_url),
        images(changes).join("\n"),
        changes
            .changed()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        changes.diff(),
        waited
            .map(|r| r.reconciled().to_string())
            .unwrap_or_default(),
        waited.map(Rollout::status_json).unwrap_or_default(),
    ];
    OUTPUT_NAMES.into_iter().zip(values).collect()
}

/// The image references kustomize renders for every entry the run set, changed or already
/// current, in first-seen order without repeats: `newName` (else `name`), `:newTag`, and
/// `@digest` where the entry has one.
///
/// A bare `name:tag` is left out when another entry for the same image gives a `newName`: that
/// is a base that sets only the tag, overridden by overlays that point the image at their
/// registry, and the bare reference is never pulled.
pub fn images(changes: &ChangeSet) -> Vec<String> {
    let entries: Vec<&EntryUpdate> = changes.files.iter().flat_map(|f| &f.entries).collect();
    let mut out: Vec<String> = Vec::new();
    for e in &entries {
        let overridden = e.new_name.is_none()
            && entries
                .iter()
                .any(|other| other.new_name.is_some() && other.image == e.image);
        let reference = reference(e);
        if !overridden && !out.contains(&reference) {
            out.push(reference);
        }
    }
    out
}

/// What an entry renders to after the edit: `newName` (else `name`), `:newTag`, `@digest`.
fn reference(e: &EntryUpdate) -> String {
    let name = e.new_name.as_deref().unwrap_or(&e.image);
    match &e.final_digest {
        Some(d) => format!("{name}:{}@{d}", e.tag.new),
        None => format!("{name}:{}", e.tag.new),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{DIGEST, REGISTRY, entry, file, promotion, renamed};
    use super::*;

    /// Every output is present, in action.yml's order, and the landing fields are empty until
    /// they are known.
    #[test]
    fn outputs_render_every_value_from_the_record() {
        let got = outputs(&promotion(), &Landing::default(), None);
        let names: Vec<_> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, OUTPUT_NAMES);
        let value = |name: &str| {
            got.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .expect("present")
        };
        assert_eq!(value("changed"), "true");
        assert_eq!(
            value("changed_files"),
            "apps/a/base/kustomization.yaml\napps/a/overlays/platform/kustomization.yaml"
        );
        assert_eq!(
            value("images"),
            format!("{REGISTRY}/backend:sha-1a2b3c4\n{REGISTRY}/frontend:sha-1a2b3c4")
        );
        assert_eq!(value("diff"), promotion().diff());
        for name in [
            "commit_sha",
            "commit_url",
            "verified",
            "pull_request_number",
            "pull_request_url",
        ] {
            assert_eq!(value(name), "", "{name}");
        }
    }

    #[test]
    fn outputs_carry_the_landing_when_known() {
        let landing = Landing {
            commit_sha: Some("1a2b3c4d".into()),
            commit_url: Some("https://github.com/o/gitops/commit/1a2b3c4d".into()),
            verified: Some(true),
            pull_request_number: Some(12),
            pull_request_url: Some("https://github.com/o/gitops/pull/12".into()),
        };
        let got = outputs(&ChangeSet::default(), &landing, None);
        assert_eq!(
            got[..6],
            [
                ("changed", "false".to_owned()),
                ("commit_sha", "1a2b3c4d".to_owned()),
                (
                    "commit_url",
                    "https://github.com/o/gitops/commit/1a2b3c4d".to_owned()
                ),
                ("verified", "true".to_owned()),
                ("pull_request_number", "12".to_owned()),
                (
                    "pull_request_url",
                    "https://github.com/o/gitops/pull/12".to_owned()
                ),
            ]
        );
    }

    /// The example's layout: the base sets only the tag, the overlays add `newName`. Only the
    /// overlays' references are pulled, so only they are listed.
    #[test]
    fn images_leave_out_a_base_reference_that_overlays_rename() {
        let set = ChangeSet {
            files: vec![
                file(
                    "base/kustomization.yaml",
                    "",
                    "",
                    vec![
                        entry("backend", Some("v2"), "v2", None),
                        entry("worker", Some("v2"), "v2", None),
                    ],
                ),
                file(
                    "overlays/a/kustomization.yaml",
                    "",
                    "",
                    vec![renamed(
                        entry("backend", Some("v2"), "v2", None),
                        "r/backend",
                    )],
                ),
            ],
        };
        assert_eq!(images(&set), ["worker:v2", "r/backend:v2"]);
    }

    /// `images` is what kustomize renders: `name` without `newName`, and `@digest` both when
    /// the run writes a digest and when the entry keeps one it already had. Only the record is
    /// read: the files' texts play no part.
    #[test]
    fn images_render_new_name_and_digests_from_the_record() {
        let kept = crate::core::kustomization::EntryUpdate {
            final_digest: Some(DIGEST.into()),
            ..entry("worker", Some("v2"), "v2", None)
        };
        let set = ChangeSet {
            files: vec![
                file(
                    "a.yaml",
                    "",
                    "",
                    vec![
                        entry("api", Some("v1"), "v2", Some(DIGEST)),
                        renamed(
                            entry("backend", Some("v1"), "v2", Some(DIGEST)),
                            "r/backend",
                        ),
                    ],
                ),
                file("b.yaml", "", "", vec![kept]),
                // The same reference twice is listed once.
                file(
                    "c.yaml",
                    "",
                    "",
                    vec![renamed(
                        entry("backend", Some("v1"), "v2", Some(DIGEST)),
                        "r/backend",
                    )],
                ),
                file(
                    "d.yaml",
                    "",
                    "",
                    vec![
                        renamed(entry("db", Some("v1"), "v2", None), "r/db1"),
                        renamed(entry("db", Some("v1"), "v2", None), "r/db2"),
                    ],
                ),
            ],
        };
        assert_eq!(
            images(&set),
            [
                format!("api:v2@{DIGEST}"),
                format!("r/backend:v2@{DIGEST}"),
                format!("worker:v2@{DIGEST}"),
                "r/db1:v2".to_owned(),
                "r/db2:v2".to_owned(),
            ]
        );
    }
}
