//! Flux's verdict on a promotion, read from the GitOps repository's commit statuses. Pure.
//!
//! Flux's notification-controller, with a `github` Provider and an Alert, posts one commit
//! status per object on the revision it applied: context `<kind>/<name>/<first segment of the
//! Provider's UID>`, lowercased; state `success` or `failure`, never `pending`; description from
//! the event's reason ("reconciliation succeeded", "health check failed"). It reports only the
//! revision it applied, so a commit superseded before a reconcile never gets a status of its
//! own: a verdict on a later commit of the branch that contains ours counts too.

use std::fmt;

/// A Flux object to wait for, as `wait_for` names it: `name` or `kind/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxObject {
    /// Lowercase, as Flux writes it into the status context (`kustomization`, `helmrelease`).
    pub kind: String,
    pub name: String,
}

impl FluxObject {
    /// `sample-saas-app-platform` (a Kustomization) or `kind/name`, the kind in any case.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (kind, name) = match s.split_once('/') {
            Some((kind, name)) => (kind, name),
            None => ("kustomization", s),
        };
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "`{s}`: `{kind}` is not a Flux kind such as Kustomization or HelmRelease (the \
                 namespace is not part of Flux's status context: give `kind/name` or `name`)"
            ));
        }
        // A Kubernetes object name: a lowercase RFC 1123 subdomain.
        let name_ok = (1..=253).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !name_ok {
            return Err(format!(
                "`{s}`: `{name}` is not a Kubernetes object name (lowercase letters, digits, `-` \
                 and `.`, starting and ending with a letter or digit)"
            ));
        }
        Ok(Self {
            kind: kind.to_ascii_lowercase(),
            name: name.to_owned(),
        })
    }

    /// What Flux's contexts for this object start with: `kustomization/<name>/`.
    pub fn context_prefix(&self) -> String {
        format!("{self}/")
    }

    /// Whether a status context is Flux's for this object (contexts compare case-insensitively
    /// on GitHub). `kustomization/app/` does not match `kustomization/app-canary/...`.
    pub fn owns(&self, context: &str) -> bool {
        context.to_lowercase().starts_with(&self.context_prefix())
    }
}

impl fmt::Display for FluxObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// A commit status's state, as REST (`success`) or GraphQL (`SUCCESS`) spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Success,
    Failure,
    Error,
    /// `pending`, or GraphQL's `EXPECTED`: no verdict.
    Pending,
}

impl State {
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "success" => Self::Success,
            "failure" => Self::Failure,
            "error" => Self::Error,
            _ => Self::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
            Self::Pending => "pending",
        }
    }

    fn failed(self) -> bool {
        matches!(self, Self::Failure | Self::Error)
    }
}

/// The newest status of one context on one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub context: String,
    pub state: State,
    pub description: Option<String>,
}

/// A commit that is ours or contains ours, with its statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub oid: String,
    pub statuses: Vec<Status>,
}

/// What Flux said about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `success` on our commit or on a later one that contains it.
    Reconciled(Reported),
    /// `failure` (or `error`), and no success.
    Failed(Reported),
    /// Nothing yet.
    Pending,
}

/// One status that decided, and where it was reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub commit: String,
    pub context: String,
    pub state: State,
    pub description: String,
}

impl Verdict {
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Pending)
    }

    pub fn reported(&self) -> Option<&Reported> {
        match self {
            Self::Reconciled(r) | Self::Failed(r) => Some(r),
            Self::Pending => None,
        }
    }

    pub fn state(&self) -> State {
        self.reported().map_or(State::Pending, |r| r.state)
    }
}

/// Flux's verdict on `object`, from `revisions`: our commit and the commits of the branch that
/// contain it, newest first, each only once. Other objects' statuses, and statuses on commits
/// that do not contain ours (earlier promotions), are never passed in or never match.
///
/// - A success on our commit, else the newest success on a later commit: reconciled. A later
///   failure does not undo it (that is the later commit's own rollout); a success after a
///   failure means the rollout that contains ours ended healthy.
/// - Otherwise the newest failure decides. Within one commit (several Providers report the same
///   object), a failure outweighs a success.
/// - Otherwise pending.
pub fn decide(object: &FluxObject, ours: &str, revisions: &[Revision]) -> Verdict {
    let on = |revision: &Revision| -> Option<Reported> {
        let mut mine = revision.statuses.iter().filter(|s| object.owns(&s.context));
        let decisive = mine
            .clone()
            .find(|s| s.state.failed())
            .or_else(|| mine.find(|s| s.state == State::Success))?;
        Some(Reported {
            commit: revision.oid.clone(),
            context: decisive.context.clone(),
            state: decisive.state,
            description: decisive.description.clone().unwrap_or_default(),
        })
    };
    let reported: Vec<Reported> = revisions.iter().filter_map(on).collect();
    let success = |r: &&Reported| r.state == State::Success;
    if let Some(r) = reported
        .iter()
        .filter(success)
        .find(|r| r.commit == ours)
        .or_else(|| reported.iter().find(success))
    {
        return Verdict::Reconciled(r.clone());
    }
    match reported.into_iter().next() {
        Some(r) => Verdict::Failed(r),
        None => Verdict::Pending,
    }
}

/// What followed the landing: Flux's verdict per object and the deployment recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollout {
    /// The GitOps commit waited on: ours, or the head that already carried our values.
    pub commit: String,
    /// Every object `wait_for` names, in its order; empty when not waiting.
    pub objects: Vec<(FluxObject, Verdict)>,
    pub deployment: Option<DeploymentRecord>,
}

/// The GitHub deployment recorded on the application repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub environment: String,
    pub id: u64,
    /// The last state set (`in_progress`, `success`, `failure`, `error`).
    pub state: String,
    pub environment_url: Option<String>,
}

impl Rollout {
    pub fn waited(&self) -> bool {
        !self.objects.is_empty()
    }

    /// Every object reconciled.
    pub fn reconciled(&self) -> bool {
        self.waited()
            && self
                .objects
                .iter()
                .all(|(_, v)| matches!(v, Verdict::Reconciled(_)))
    }

    /// The `flux_status` output: a JSON object keyed by `kind/name`, each with `state`
    /// (`success`, `failure`, `error`, or `pending` when nothing was reported), `description`,
    /// `commit` and `context` (empty when nothing was reported).
    pub fn status_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .objects
            .iter()
            .map(|(object, verdict)| {
                let r = verdict.reported();
                let text = |f: fn(&Reported) -> &str| r.map(f).unwrap_or_default();
                (
                    object.to_string(),
                    serde_json::json!({
                        "state": verdict.state().as_str(),
                        "description": text(|r| &r.description),
                        "commit": text(|r| &r.commit),
                        "context": text(|r| &r.context),
                    }),
                )
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// Why the step fails, when it does: the failures with Flux's words, then the objects that
    /// never reported and what to check.
    pub fn failure(&self, branch: &str, gitops_repo: &str, waited_s: u64) -> Option<String> {
        if !self.waited() || self.reconciled() {
            return None;
        }
        let short = |c: &str| c.get(..7).unwrap_or(c).to_owned();
        let mut parts = Vec::new();
        for (object, verdict) in &self.objects {
            if let Verdict::Failed(r) = verdict {
                let words = if r.description.is_empty() {
                    "no description".to_owned()
                } else {
                    r.description.clone()
                };
                parts.push(format!(
                    "Flux reports {} for {object} on {}: {words} (status `{}`)",
                    r.state.as_str(),
                    short(&r.commit),
                    r.context
                ));
            }
        }
        let silent: Vec<String> = self
            .objects
            .iter()
            .filter(|(_, v)| !v.is_final())
            .map(|(o, _)| format!("`{o}`"))
            .collect();
        // A failure ends the wait early: the others were not waited for to the end.
        if parts.is_empty() && !silent.is_empty() {
            parts.push(format!(
                "no verdict from Flux within wait_timeout ({waited_s} s) for {} on {} or a later \
                 commit of `{branch}` that contains it; check that a notification-controller \
                 Provider of type `github` points at https://github.com/{gitops_repo} with a token \
                 that may write commit statuses, that an Alert sends these objects' events \
                 (eventSources, severity info) to it, and that the Provider sets no \
                 commitStatusExpr, or one whose contexts still start with `<kind>/<name>/`; a \
                 slow rollout needs a longer wait_timeout",
                silent.join(", "),
                short(&self.commit)
            ));
        }
        Some(parts.join("; "))
    }
}

/// `text` cut to at most `max` characters (GitHub refuses a deployment status description over
/// 140), ending with `…` when cut.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "c0ffee0000000000000000000000000000000000";
    const LATER: &str = "d00d000000000000000000000000000000000000";

    fn platform() -> FluxObject {
        FluxObject::parse("sample-saas-app-platform").expect("valid")
    }

    fn status(context: &str, state: &str, description: &str) -> Status {
        Status {
            context: context.into(),
            state: State::parse(state),
            description: Some(description.into()),
        }
    }

    fn revision(oid: &str, statuses: Vec<Status>) -> Revision {
        Revision {
            oid: oid.into(),
            statuses,
        }
    }

    #[test]
    fn objects_default_to_kustomizations_and_lowercase_their_kind() {
        assert_eq!(
            platform().to_string(),
            "kustomization/sample-saas-app-platform"
        );
        let helm = FluxObject::parse("HelmRelease/podinfo").expect("valid");
        assert_eq!(helm.context_prefix(), "helmrelease/podinfo/");
        for bad in [
            "flux-system/app",
            "Kustomization/App",
            "/app",
            "kustomization/",
            "a b",
        ] {
            assert!(FluxObject::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_this_objects_contexts_count() {
        let o = platform();
        assert!(o.owns("kustomization/sample-saas-app-platform/5f3c1e2a"));
        assert!(o.owns("Kustomization/Sample-SaaS-App-Platform/5F3C1E2A"));
        assert!(!o.owns("kustomization/sample-saas-app-platform-canary/5f3c1e2a"));
        assert!(!o.owns("kustomization/sample-saas-app-analytics/5f3c1e2a"));
        assert!(!o.owns("helmrelease/sample-saas-app-platform/5f3c1e2a"));
    }

    #[test]
    fn success_on_our_commit_reconciles() {
        let ctx = "kustomization/sample-saas-app-platform/5f3c1e2a";
        let v = decide(
            &platform(),
            OURS,
            &[revision(
                OURS,
                vec![status(ctx, "success", "reconciliation succeeded")],
            )],
        );
        let Verdict::Reconciled(r) = v else {
            panic!("{v:?}")
        };
        assert_eq!((r.commit.as_str(), r.context.as_str()), (OURS, ctx));
        assert_eq!(r.description, "reconciliation succeeded");
    }

    /// Flux skips a superseded commit: a success on a later commit that contains ours counts.
    #[test]
    fn success_on_a_later_commit_reconciles() {
        let ctx = "kustomization/sample-saas-app-platform/5f3c1e2a";
        let v = decide(
            &platform(),
            OURS,
            &[
                revision(
                    LATER,
                    vec![status(ctx, "SUCCESS", "reconciliation succeeded")],
                ),
                revision(OURS, vec![]),
            ],
        );
        assert_eq!(v.reported().map(|r| r.commit.as_str()), Some(LATER));
        assert!(matches!(v, Verdict::Reconciled(_)));
    }

    #[test]
    fn failure_decides_unless_something_succeeded() {
        let ctx = "kustomization/sample-saas-app-platform/5f3c1e2a";
        let failed = revision(OURS, vec![status(ctx, "failure", "health check failed")]);
        let v = decide(&platform(), OURS, std::slice::from_ref(&failed));
        assert!(matches!(&v, Verdict::Failed(r) if r.description == "health check failed"));
        // A later commit that contains ours rolled out healthy: reconciled.
        let healed = revision(
            LATER,
            vec![status(ctx, "success", "reconciliation succeeded")],
        );
        let v = decide(&platform(), OURS, &[healed, failed.clone()]);
        assert!(matches!(v, Verdict::Reconciled(_)), "{v:?}");
        // Our own success is not undone by a later commit's failure.
        let ours = revision(
            OURS,
            vec![status(ctx, "success", "reconciliation succeeded")],
        );
        let broken = revision(LATER, vec![status(ctx, "failure", "health check failed")]);
        let v = decide(&platform(), OURS, &[broken, ours]);
        assert!(
            matches!(&v, Verdict::Reconciled(r) if r.commit == OURS),
            "{v:?}"
        );
        // Two Providers on one commit disagree: the failure wins.
        let split = revision(
            OURS,
            vec![
                status(ctx, "success", "reconciliation succeeded"),
                status(
                    "kustomization/sample-saas-app-platform/0a1b2c3d",
                    "failure",
                    "x",
                ),
            ],
        );
        assert!(matches!(
            decide(&platform(), OURS, &[split]),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn other_objects_and_pending_statuses_decide_nothing() {
        let v = decide(
            &platform(),
            OURS,
            &[revision(
                OURS,
                vec![
                    status(
                        "kustomization/sample-saas-app-analytics/5f3c1e2a",
                        "failure",
                        "x",
                    ),
                    status(
                        "kustomization/sample-saas-app-platform-canary/5f3c1e2a",
                        "success",
                        "x",
                    ),
                    status(
                        "kustomization/sample-saas-app-platform/5f3c1e2a",
                        "pending",
                        "x",
                    ),
                    status("ci/build", "success", "x"),
                ],
            )],
        );
        assert_eq!(v, Verdict::Pending);
    }

    #[test]
    fn the_output_names_every_object_with_its_state() {
        let reported = Reported {
            commit: OURS.into(),
            context: "kustomization/sample-saas-app-platform/5f3c1e2a".into(),
            state: State::Success,
            description: "reconciliation succeeded".into(),
        };
        let rollout = Rollout {
            commit: OURS.into(),
            objects: vec![
                (platform(), Verdict::Reconciled(reported)),
                (
                    FluxObject::parse("sample-saas-app-analytics").expect("valid"),
                    Verdict::Pending,
                ),
            ],
            deployment: None,
        };
        let json: serde_json::Value = serde_json::from_str(&rollout.status_json()).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!({
                "kustomization/sample-saas-app-platform": {
                    "state": "success", "description": "reconciliation succeeded",
                    "commit": OURS, "context": "kustomization/sample-saas-app-platform/5f3c1e2a",
                },
                "kustomization/sample-saas-app-analytics": {
                    "state": "pending", "description": "", "commit": "", "context": "",
                },
            })
        );
        assert!(!rollout.reconciled());
        let why = rollout
            .failure("main", "example-org/flux-gitops-pipeline", 600)
            .expect("fails");
        assert!(
            why.contains("`kustomization/sample-saas-app-analytics`"),
            "{why}"
        );
        assert!(!why.contains("sample-saas-app-platform"), "{why}");
        for hint in ["Provider", "Alert", "commitStatusExpr", "600 s"] {
            assert!(why.contains(hint), "{hint}: {why}");
        }
    }

    #[test]
    fn descriptions_are_cut_to_githubs_limit() {
        assert_eq!(fit("short", 140), "short");
        let long = "é".repeat(200);
        let cut = fit(&long, 140);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
    }
}
