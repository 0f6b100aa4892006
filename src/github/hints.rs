//! What to do about GitHub's refusals that have a known fix. These read GitHub's message only to
//! add advice; no decision of the run depends on message text.

use super::GitHubError;

/// A refusal of a direct write to a protected branch (classic protection or a ruleset).
pub fn is_protected_branch(e: &GitHubError) -> bool {
    let lower = e.message().to_lowercase();
    e.has_graphql_type("BRANCH_PROTECTION_RULE_VIOLATION")
        || lower.contains("protected branch")
        || lower.contains("rule violation")
        || lower.contains("must be made through a pull request")
}

/// A failed commit to the base branch, with the fix when the branch is protected.
pub fn commit_refused(e: GitHubError) -> anyhow::Error {
    if is_protected_branch(&e) {
        return anyhow::anyhow!(
            "{e}; the branch is protected: use `mode: pull_request` to promote through a pull request"
        );
    }
    e.into()
}

/// Why enabling auto-merge failed, and what to do.
pub fn auto_merge_refused(e: &GitHubError, number: u64, url: &str) -> String {
    let m = e.message();
    let lower = m.to_lowercase();
    if lower.contains("auto merge is not allowed") {
        format!(
            "pull request #{number} ({url}) is open, but this repository does not allow \
             auto-merge ({m}); enable \"Allow auto-merge\" in its settings, or set auto_merge: none"
        )
    } else if lower.contains("clean status") {
        format!(
            "pull request #{number} ({url}) is open, but GitHub enables auto-merge only while \
             something blocks the merge (here nothing does: {m}); protect the base branch with a \
             required review or check, or merge it"
        )
    } else {
        format!("pull request #{number} is open, but enabling auto-merge failed: {e}")
    }
}
