//! What a run reports to the Actions runtime, rendered from the change record alone: the step
//! summary (markdown) and the values of the step outputs. Pure; `actions::files` writes them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_norway::Value;

use super::change::{ChangeSet, FileChange};
use super::flux::{Rollout, Verdict};

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

/// The step summary shows at most this much of the diff: the runner refuses a summary over
/// 1 MiB, and the `diff` output and the log carry all of it anyway.
pub const SUMMARY_DIFF_LIMIT: usize = 512 * 1024;

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
    let resolved: Vec<Resolved> = changes.files.iter().flat_map(references).collect();
    let mut out: Vec<String> = Vec::new();
    for r in &resolved {
        let overridden = !r.renamed
            && resolved
                .iter()
                .any(|other| other.renamed && other.image == r.image);
        if !overridden && !out.contains(&r.reference) {
            out.push(r.reference.clone());
        }
    }
    out
}

/// An entry's image name and the reference it renders.
struct Resolved<'a> {
    image: &'a str,
    /// Whether the entry gives a `newName`.
    renamed: bool,
    reference: String,
}

/// The resolved reference of each entry of `file`, in the record's order.
fn references(file: &FileChange) -> Vec<Resolved<'_>> {
    let listed = listed_entries(&file.after);
    // The record holds, in document order, one entry per `images:` item naming a promoted
    // image, so the n-th record for an image is the n-th item with that name.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    file.entries
        .iter()
        .map(|e| {
            let n = seen.entry(e.image.as_str()).or_default();
            let item = listed.iter().filter(|l| l.name == e.image).nth(*n);
            *n += 1;
            let new_name = item.and_then(|l| l.new_name.as_deref());
            let name = new_name.unwrap_or(&e.image);
            let digest = e
                .digest
                .as_ref()
                .map(|d| d.new.as_str())
                .or_else(|| item.and_then(|l| l.digest.as_deref()));
            let reference = match digest {
                Some(d) => format!("{name}:{}@{d}", e.tag.new),
                None => format!("{name}:{}", e.tag.new),
            };
            Resolved {
                image: &e.image,
                renamed: new_name.is_some(),
                reference,
            }
        })
        .collect()
}

/// The fields of a top-level `images:` item that the change record does not carry.
struct Listed {
    name: String,
    new_name: Option<String>,
    digest: Option<String>,
}

/// The top-level `images:` items of an edited kustomization. The editor has already had the
/// text re-read by this parser, so it parses; if not, no item is listed and references fall
/// back to the record (`name:tag`).
fn listed_entries(text: &str) -> Vec<Listed> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Ok(doc) = serde_norway::from_str::<Value>(body) else {
        return Vec::new();
    };
    let string = |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    doc.get("images")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|item| {
            Some(Listed {
                name: string(item, "name")?,
                new_name: string(item, "newName"),
                digest: string(item, "digest"),
            })
        })
        .collect()
}

/// The step summary: what happened, where it landed, a table of image, old, new, digest and
/// files, and the diff in a collapsed block. `written` is whether the files were written (or
/// committed); a change that was not is a dry run.
pub fn step_summary(changes: &ChangeSet, written: bool, landing: &Landing) -> String {
    summary_with_limit(changes, written, landing, SUMMARY_DIFF_LIMIT)
}

fn summary_with_limit(
    changes: &ChangeSet,
    written: bool,
    landing: &Landing,
    diff_limit: usize,
) -> String {
    let mut out = String::from("## gitops-promote\n\n");
    let changed = changes.changed().count();
    let files = |n: usize| format!("{n} file{}", if n == 1 { "" } else { "s" });
    if changed == 0 {
        out.push_str("Nothing to change: every image is already at its new tag.\n\n");
    } else if written {
        let _ = writeln!(
            out,
            "Promoted {} in {}.\n",
            image_list(changes),
            files(changed)
        );
    } else {
        let _ = writeln!(
            out,
            "Dry run: {} in {} would change; nothing was written.\n",
            image_list(changes),
            files(changed)
        );
    }

    if let Some(sha) = &landing.commit_sha {
        let short = code(sha.get(..7).unwrap_or(sha));
        match &landing.commit_url {
            Some(url) => {
                let _ = writeln!(out, "**Commit:** [{short}]({url})\n");
            }
            None => {
                let _ = writeln!(out, "**Commit:** {short}\n");
            }
        }
    }
    match (&landing.pull_request_number, &landing.pull_request_url) {
        (Some(n), Some(url)) => {
            let _ = writeln!(out, "**Pull request:** [#{n}]({url})\n");
        }
        (None, Some(url)) => {
            let _ = writeln!(out, "**Pull request:** {url}\n");
        }
        (Some(n), None) => {
            let _ = writeln!(out, "**Pull request:** #{n}\n");
        }
        (None, None) => {}
    }

    if changes.files.iter().any(|f| !f.entries.is_empty()) {
        out.push_str("| image | old | new | digest | files |\n| --- | --- | --- | --- | --- |\n");
        for (row, paths) in rows(changes) {
            let old = row.old.map_or_else(|| "(none)".to_owned(), code);
            let new = if row.current {
                format!("{} (already current)", code(row.new))
            } else {
                code(row.new)
            };
            let digest = row.digest.map(code).unwrap_or_default();
            let paths: Vec<String> = paths.into_iter().map(code).collect();
            let _ = writeln!(
                out,
                "| {} | {old} | {new} | {digest} | {} |",
                code(row.image),
                paths.join("<br>")
            );
        }
        out.push('\n');
    }

    let diff = changes.diff();
    if !diff.is_empty() {
        let (shown, cut) = if diff.len() <= diff_limit {
            (diff.as_str(), false)
        } else {
            let mut end = diff_limit;
            while !diff.is_char_boundary(end) {
                end -= 1;
            }
            let head = &diff[..end];
            (head.rfind('\n').map_or("", |i| &head[..=i]), true)
        };
        let fence = "`".repeat(longest_run(shown, '`').max(2) + 1);
        let _ = write!(
            out,
            "<details><summary>Diff</summary>\n\n{fence}diff\n{shown}{fence}\n\n"
        );
        if cut {
            let _ = writeln!(
                out,
                "The diff is cut at {} KiB here; the `diff` output and the log have all of it.\n",
                diff_limit / 1024
            );
        }
        out.push_str("</details>\n");
    }
    out
}

/// The step summary's part for what followed the landing: a table of Flux's verdict per object
/// and the deployment recorded.
pub fn rollout_summary(rollout: &Rollout) -> String {
    let mut out = String::new();
    let short = |c: &str| code(c.get(..7).unwrap_or(c));
    if rollout.waited() {
        let headline = if rollout.reconciled() {
            "Flux reconciled every object"
        } else if rollout
            .objects
            .iter()
            .any(|(_, v)| matches!(v, Verdict::Failed(_)))
        {
            "Flux reports a failure"
        } else {
            "No verdict from Flux before `wait_timeout`"
        };
        let _ = writeln!(
            out,
            "\n### Flux\n\n{headline} (waited on {}).\n",
            short(&rollout.commit)
        );
        out.push_str("| object | state | description | commit |\n| --- | --- | --- | --- |\n");
        for (object, verdict) in &rollout.objects {
            let (description, commit) = verdict.reported().map_or_else(
                || ("(never reported)".to_owned(), String::new()),
                |r| {
                    (
                        r.description.replace(['\r', '\n'], " ").replace('|', "\\|"),
                        short(&r.commit),
                    )
                },
            );
            let _ = writeln!(
                out,
                "| {} | {} | {description} | {commit} |",
                code(&object.to_string()),
                verdict.state().as_str()
            );
        }
        out.push('\n');
    }
    if let Some(d) = &rollout.deployment {
        let url = d
            .environment_url
            .as_ref()
            .map(|u| format!(", {u}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "**Deployment:** {} (id {}): {}{url}\n",
            code(&d.environment),
            d.id,
            d.state
        );
    }
    out
}

/// `backend` and `frontend` (to `sha-1a2b3c4`): the images whose entries change.
fn image_list(changes: &ChangeSet) -> String {
    let mut tags: Vec<&str> = Vec::new();
    for e in changes
        .changed()
        .flat_map(|f| &f.entries)
        .filter(|e| e.is_change())
    {
        if !tags.contains(&e.tag.new.as_str()) {
            tags.push(&e.tag.new);
        }
    }
    let names: Vec<String> = changed_images(changes).into_iter().map(code).collect();
    let names = match names.as_slice() {
        [] => String::from("no image"),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    match tags.as_slice() {
        [tag] => format!("{names} to {}", code(tag)),
        _ => names,
    }
}

/// A table row: entries with the same values share a row, and their files a cell.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Row<'a> {
    image: &'a str,
    old: Option<&'a str>,
    new: &'a str,
    digest: Option<&'a str>,
    current: bool,
}

fn rows(changes: &ChangeSet) -> Vec<(Row<'_>, Vec<&str>)> {
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

/// A markdown code span that shows `s` literally, also inside a table cell.
fn code(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ").replace('|', "\\|");
    let ticks = "`".repeat(longest_run(&s, '`') + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for x in s.chars() {
        run = if x == c { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// The names of the images a change promotes, for `{images}` in a commit headline.
pub fn changed_image_names(changes: &ChangeSet) -> String {
    changed_images(changes).join(", ")
}

/// The images whose entries change, in first-seen order.
fn changed_images(changes: &ChangeSet) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for e in changes
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
    use super::*;
    use crate::core::kustomization::{EntryUpdate, Update};

    const REGISTRY: &str = "123.dkr.ecr.us-east-1.amazonaws.com/x";
    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn entry(image: &str, old: Option<&str>, new: &str, digest: Option<&str>) -> EntryUpdate {
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

    fn file(path: &str, before: &str, after: &str, entries: Vec<EntryUpdate>) -> FileChange {
        FileChange {
            path: path.into(),
            before: before.into(),
            after: after.into(),
            entries,
        }
    }

    /// The example's shape: a base naming the ECR repositories with `newName`, two overlays.
    fn promotion() -> ChangeSet {
        let base_before = format!(
            "images:\n  - name: backend\n    newName: {REGISTRY}/backend\n    newTag: sha-0000000\n  - name: frontend\n    newName: {REGISTRY}/frontend\n    newTag: sha-0000000\n"
        );
        let base_after = base_before.replace("sha-0000000", "sha-1a2b3c4");
        let overlay_before = format!(
            "images:\n  - name: backend\n    newName: {REGISTRY}/backend\n    newTag: sha-0000000\n"
        );
        let overlay_after = overlay_before.replace("sha-0000000", "sha-1a2b3c4");
        ChangeSet {
            files: vec![
                file(
                    "apps/a/base/kustomization.yaml",
                    &base_before,
                    &base_after,
                    vec![
                        entry("backend", Some("sha-0000000"), "sha-1a2b3c4", None),
                        entry("frontend", Some("sha-0000000"), "sha-1a2b3c4", None),
                    ],
                ),
                file(
                    "apps/a/overlays/platform/kustomization.yaml",
                    &overlay_before,
                    &overlay_after,
                    vec![entry("backend", Some("sha-0000000"), "sha-1a2b3c4", None)],
                ),
            ],
        }
    }

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
        let base = "images:\n- name: backend\n  newTag: v2\n- name: worker\n  newTag: v2\n";
        let overlay = "images:\n- name: backend\n  newName: r/backend\n  newTag: v2\n";
        let set = ChangeSet {
            files: vec![
                file(
                    "base/kustomization.yaml",
                    base,
                    base,
                    vec![
                        entry("backend", Some("v2"), "v2", None),
                        entry("worker", Some("v2"), "v2", None),
                    ],
                ),
                file(
                    "overlays/a/kustomization.yaml",
                    overlay,
                    overlay,
                    vec![entry("backend", Some("v2"), "v2", None)],
                ),
            ],
        };
        assert_eq!(images(&set), ["worker:v2", "r/backend:v2"]);
    }

    /// `images` is what kustomize renders: `name` without `newName`, and `@digest` both when
    /// the run writes a digest and when the entry keeps one it already had.
    #[test]
    fn images_resolve_new_name_and_digests() {
        let kept = format!("images:\n- name: worker\n  newTag: v2\n  digest: {DIGEST}\n");
        let set = ChangeSet {
            files: vec![
                file(
                    "a.yaml",
                    "images:\n- name: api\n  newTag: v1\n- name: backend\n  newName: r/backend\n  newTag: v1\n",
                    &format!(
                        "images:\n- name: api\n  newTag: v2\n  digest: {DIGEST}\n- name: backend\n  newName: r/backend\n  newTag: v2\n  digest: {DIGEST}\n"
                    ),
                    vec![
                        entry("api", Some("v1"), "v2", Some(DIGEST)),
                        entry("backend", Some("v1"), "v2", Some(DIGEST)),
                    ],
                ),
                file(
                    "b.yaml",
                    &kept,
                    &kept,
                    vec![entry("worker", Some("v2"), "v2", None)],
                ),
                file(
                    "c.yaml",
                    "images:\n- name: backend\n  newTag: v1\n",
                    "images:\n- name: backend\n  newTag: v2\n  digest: x\n",
                    vec![entry("backend", Some("v1"), "v2", Some(DIGEST))],
                ),
                // Two entries for one image: the n-th record is the n-th item of that name.
                file(
                    "d.yaml",
                    "x\n",
                    "images:\n- name: db\n  newName: r/db1\n  newTag: v2\n- name: other\n- name: db\n  newName: r/db2\n  newTag: v2\n",
                    vec![
                        entry("db", Some("v1"), "v2", None),
                        entry("db", Some("v1"), "v2", None),
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

    #[test]
    fn summary_of_a_promotion_has_the_table_link_and_diff() {
        let landing = Landing {
            commit_sha: Some("1a2b3c4d5e6f".into()),
            commit_url: Some("https://github.com/o/gitops/commit/1a2b3c4d5e6f".into()),
            ..Landing::default()
        };
        let summary = step_summary(&promotion(), true, &landing);
        let expected = format!(
            "## gitops-promote

Promoted `backend` and `frontend` to `sha-1a2b3c4` in 2 files.

**Commit:** [`1a2b3c4`](https://github.com/o/gitops/commit/1a2b3c4d5e6f)

| image | old | new | digest | files |
| --- | --- | --- | --- | --- |
| `backend` | `sha-0000000` | `sha-1a2b3c4` |  | `apps/a/base/kustomization.yaml`<br>`apps/a/overlays/platform/kustomization.yaml` |
| `frontend` | `sha-0000000` | `sha-1a2b3c4` |  | `apps/a/base/kustomization.yaml` |

<details><summary>Diff</summary>

```diff
{}```

</details>
",
            promotion().diff()
        );
        assert_eq!(summary, expected);
    }

    #[test]
    fn summary_of_a_dry_run_says_nothing_was_written_and_links_a_pull_request() {
        let set = ChangeSet {
            files: vec![file(
                "k.yaml",
                "images:\n- name: backend\n",
                "images:\n- name: backend\n  newTag: v2\n",
                vec![entry("backend", None, "v2", Some(DIGEST))],
            )],
        };
        let landing = Landing {
            pull_request_number: Some(7),
            pull_request_url: Some("https://github.com/o/gitops/pull/7".into()),
            ..Landing::default()
        };
        let summary = step_summary(&set, false, &landing);
        assert_eq!(
            summary,
            format!(
                "## gitops-promote

Dry run: `backend` to `v2` in 1 file would change; nothing was written.

**Pull request:** [#7](https://github.com/o/gitops/pull/7)

| image | old | new | digest | files |
| --- | --- | --- | --- | --- |
| `backend` | (none) | `v2` | `{DIGEST}` | `k.yaml` |

<details><summary>Diff</summary>

```diff
--- a/k.yaml
+++ b/k.yaml
@@ -1,2 +1,3 @@
 images:
 - name: backend
+  newTag: v2
```

</details>
"
            )
        );
    }

    #[test]
    fn summary_of_a_noop_has_no_diff_block() {
        let text = "images:\n- name: backend\n  newTag: v2\n";
        let set = ChangeSet {
            files: vec![file(
                "k.yaml",
                text,
                text,
                vec![entry("backend", Some("v2"), "v2", None)],
            )],
        };
        assert_eq!(
            step_summary(&set, false, &Landing::default()),
            "## gitops-promote

Nothing to change: every image is already at its new tag.

| image | old | new | digest | files |
| --- | --- | --- | --- | --- |
| `backend` | `v2` | `v2` (already current) |  | `k.yaml` |

"
        );
        let got = outputs(&set, &Landing::default(), None);
        assert_eq!(got[0], ("changed", "false".to_owned()));
        assert_eq!(got[7], ("changed_files", String::new()));
        assert_eq!(got[8], ("diff", String::new()));
    }

    /// Text from the files cannot break out of a table cell or a code fence.
    #[test]
    fn markdown_escapes_pipes_backticks_and_fences() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code("a\nb"), "`a b`");

        let before = "images:\n- name: backend\n  newTag: v1\n# ````\n";
        let after = "images:\n- name: backend\n  newTag: v2\n# ````\n";
        let set = ChangeSet {
            files: vec![file(
                "k.yaml",
                before,
                after,
                vec![entry("backend", Some("v1"), "v2", None)],
            )],
        };
        let summary = step_summary(&set, true, &Landing::default());
        assert!(summary.contains("\n`````diff\n"), "{summary}");
        assert!(summary.contains("\n`````\n\n</details>\n"), "{summary}");
    }

    /// A huge diff is cut at a line boundary so the runner still accepts the summary.
    #[test]
    fn summary_cuts_a_long_diff_at_a_line() {
        let lines = |c: char| (0..600).map(|i| format!("{c}{i}\n")).collect::<String>();
        let set = ChangeSet {
            files: vec![file(
                "k.yaml",
                &lines('a'),
                &lines('b'),
                vec![entry("backend", Some("v1"), "v2", None)],
            )],
        };
        let diff = set.diff();
        assert!(diff.len() > 4096 && diff.len() < 16384, "{}", diff.len());

        let whole = summary_with_limit(&set, true, &Landing::default(), diff.len());
        assert!(whole.contains(&format!("```diff\n{diff}```\n\n</details>\n")));

        let summary = summary_with_limit(&set, true, &Landing::default(), 4096);
        let head = &diff[..diff[..4096].rfind('\n').expect("a line") + 1];
        assert!(
            summary.ends_with(&format!(
                "```diff\n{head}```\n\nThe diff is cut at 4 KiB here; the `diff` output and the log have all of it.\n\n</details>\n"
            )),
            "{summary}"
        );
    }
}
