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

/// A refused read of the GitOps repository's commit statuses, with the permission it needs.
pub fn statuses_refused(e: GitHubError) -> anyhow::Error {
    match e {
        GitHubError::Forbidden { what, message, .. } => anyhow::anyhow!(
            "{what}: forbidden (403 {message}); to wait for Flux, gitops_repo_token must also \
             read commit statuses (a fine-grained token: \"Commit statuses: read\" on the GitOps \
             repository)"
        ),
        e => e.into(),
    }
}

/// A refused deployment write on the application repository, with what the token lacks.
pub fn deployment_refused(e: &GitHubError) -> String {
    let needs = "recording a deployment needs github_token with `deployments: write` on the \
                 application repository: add `permissions: deployments: write` to the job";
    match e {
        GitHubError::Forbidden { what, message, .. } => {
            format!("{what}: forbidden (403 {message}); {needs}")
        }
        GitHubError::NotFound { what, message, .. } => format!(
            "{what}: not found (404 {message}); {needs} (GITHUB_REPOSITORY and GITHUB_SHA name \
             the repository and commit; a token for another repository cannot see it)"
        ),
        GitHubError::Unauthorized { what, message } => format!(
            "{what}: GitHub rejected github_token (401 {message}); leave github_token at its \
             default, the workflow's own token"
        ),
        e => e.to_string(),
    }
}
