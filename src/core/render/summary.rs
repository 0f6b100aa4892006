//! The step summary: what happened, where it landed, the image table, what Flux said, and the
//! diff.

use std::fmt::Write as _;

use super::super::change::ChangeSet;
use super::super::flux::{Rollout, Verdict};
use super::Landing;
use super::markdown::{code, longest_run};
use super::table::rows;

/// The step summary shows at most this much of the diff: the runner refuses a summary over
/// 1 MiB, and the `diff` output and the log carry all of it anyway.
pub const SUMMARY_DIFF_LIMIT: usize = 512 * 1024;

/// The step summary: what happened, where it landed, a table of image, old, new, digest and
/// files, what followed the landing (Flux's verdict, the deployment), and the diff in a collapsed
/// block. `written` is whether the files were written (or committed); a change that was not is
/// a dry run.
pub fn step_summary(
    changes: &ChangeSet,
    written: bool,
    landing: &Landing,
    rollout: Option<&Rollout>,
) -> String {
    summary_with_limit(changes, written, landing, rollout, SUMMARY_DIFF_LIMIT)
}

fn summary_with_limit(
    changes: &ChangeSet,
    written: bool,
    landing: &Landing,
    rollout: Option<&Rollout>,
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

    if let Some(rollout) = rollout {
        out.push_str(&rollout_summary(rollout));
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
fn rollout_summary(rollout: &Rollout) -> String {
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
    let names: Vec<String> = changes.changed_images().into_iter().map(code).collect();
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{DIGEST, entry, file, promotion};
    use super::super::outputs;
    use super::*;

    #[test]
    fn summary_of_a_promotion_has_the_table_link_and_diff() {
        let landing = Landing {
            commit_sha: Some("1a2b3c4d5e6f".into()),
            commit_url: Some("https://github.com/o/gitops/commit/1a2b3c4d5e6f".into()),
            ..Landing::default()
        };
        let summary = step_summary(&promotion(), true, &landing, None);
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
        let summary = step_summary(&set, false, &landing, None);
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
            step_summary(&set, false, &Landing::default(), None),
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
        let summary = step_summary(&set, true, &Landing::default(), None);
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

        let whole = summary_with_limit(&set, true, &Landing::default(), None, diff.len());
        assert!(whole.contains(&format!("```diff\n{diff}```\n\n</details>\n")));

        let summary = summary_with_limit(&set, true, &Landing::default(), None, 4096);
        let head = &diff[..diff[..4096].rfind('\n').expect("a line") + 1];
        assert!(
            summary.ends_with(&format!(
                "```diff\n{head}```\n\nThe diff is cut at 4 KiB here; the `diff` output and the log have all of it.\n\n</details>\n"
            )),
            "{summary}"
        );
    }

    #[test]
    fn what_flux_said_comes_before_the_diff() {
        let rollout = Rollout {
            commit: "0123456789abcdef".into(),
            objects: vec![(
                crate::core::flux::FluxObject::parse("apps").expect("valid"),
                Verdict::Pending,
            )],
            deployment: None,
        };
        let summary = step_summary(&promotion(), true, &Landing::default(), Some(&rollout));
        let flux = summary.find("### Flux").expect("a Flux section");
        let diff = summary.find("<summary>Diff</summary>").expect("a diff");
        assert!(flux < diff, "{summary}");
        assert!(summary.contains("| `kustomization/apps` | pending | (never reported) |  |"));
    }
}
