//! The pull request of pull request mode: find, open or update it, then its extras (labels,
//! reviewers, auto-merge).

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::snapshot::PullRequest;
use super::{GitHubError, Repo, Resend};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    id: String,
    number: u64,
    url: String,
    head_ref_oid: String,
}

impl From<Node> for PullRequest {
    fn from(n: Node) -> Self {
        Self {
            id: n.id,
            number: n.number,
            url: n.url,
            head_oid: n.head_ref_oid,
        }
    }
}

impl Repo<'_> {
    /// The open pull request from `head` into `base`, if any.
    pub async fn find_pull_request(
        &self,
        head: &str,
        base: &str,
    ) -> Result<Option<PullRequest>, GitHubError> {
        const QUERY: &str = r#"query OpenPullRequest($owner: String!, $name: String!, $head: String!, $base: String!) {
  repository(owner: $owner, name: $name) {
    pullRequests(headRefName: $head, baseRefName: $base, states: [OPEN], first: 1) {
      nodes { id number url headRefOid }
    }
  }
}"#;
        #[derive(Deserialize)]
        struct Data {
            repository: Repository,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Repository {
            pull_requests: Nodes,
        }
        #[derive(Deserialize)]
        struct Nodes {
            nodes: Vec<Node>,
        }
        let what = format!("looking for the open pull request from `{head}`");
        let data: Data = self
            .gh
            .graphql(
                &what,
                QUERY,
                json!({ "owner": self.owner, "name": self.name, "head": head, "base": base }),
                Resend::Safe,
            )
            .await?;
        Ok(data
            .repository
            .pull_requests
            .nodes
            .into_iter()
            .next()
            .map(PullRequest::from))
    }

    pub async fn create_pull_request(
        &self,
        repository_id: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
        draft: bool,
    ) -> Result<PullRequest, GitHubError> {
        const MUTATION: &str = r#"mutation OpenPullRequest($input: CreatePullRequestInput!) {
  createPullRequest(input: $input) { pullRequest { id number url headRefOid } }
}"#;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            create_pull_request: Payload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            pull_request: Node,
        }
        let input = json!({ "input": {
            "repositoryId": repository_id, "headRefName": head, "baseRefName": base,
            "title": title, "body": body, "draft": draft,
        }});
        let data: Data = self
            .gh
            .graphql(
                "opening the pull request",
                MUTATION,
                input,
                Resend::OnlyIfRejected,
            )
            .await?;
        Ok(data.create_pull_request.pull_request.into())
    }

    pub async fn update_pull_request(
        &self,
        id: &str,
        title: &str,
        body: &str,
    ) -> Result<(), GitHubError> {
        const MUTATION: &str = r#"mutation RefreshPullRequest($input: UpdatePullRequestInput!) {
  updatePullRequest(input: $input) { pullRequest { id } }
}"#;
        let input = json!({ "input": { "pullRequestId": id, "title": title, "body": body } });
        self.gh
            .graphql::<Value>("updating the pull request", MUTATION, input, Resend::Safe)
            .await
            .map(|_| ())
    }

    pub async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), GitHubError> {
        let path = format!("{}/issues/{number}/labels", self.rest_base());
        self.gh
            .rest::<Value>(
                "labelling the pull request",
                Method::POST,
                &path,
                Some(&json!({ "labels": labels })),
                Resend::Safe,
            )
            .await
            .map(|_| ())
    }

    pub async fn request_reviewers(
        &self,
        number: u64,
        reviewers: &[String],
    ) -> Result<(), GitHubError> {
        let path = format!("{}/pulls/{number}/requested_reviewers", self.rest_base());
        self.gh
            .rest::<Value>(
                "requesting reviewers",
                Method::POST,
                &path,
                Some(&json!({ "reviewers": reviewers })),
                Resend::Safe,
            )
            .await
            .map(|_| ())
    }

    pub async fn enable_auto_merge(&self, id: &str, method: &str) -> Result<(), GitHubError> {
        const MUTATION: &str = r#"mutation AutoMerge($input: EnablePullRequestAutoMergeInput!) {
  enablePullRequestAutoMerge(input: $input) { pullRequest { id } }
}"#;
        let input = json!({ "input": { "pullRequestId": id, "mergeMethod": method } });
        self.gh
            .graphql::<Value>("enabling auto-merge", MUTATION, input, Resend::Safe)
            .await
            .map(|_| ())
    }
}
