//! The GitHub adapter (octocrab for transport and auth). REST goes to `GITHUB_API_URL`, GraphQL
//! to `GITHUB_GRAPHQL_URL`, each through its own client: on GitHub Enterprise Server they live at
//! `/api/v3` and `/api/graphql`, and one base URI cannot serve both.
//!
//! Retries are ours, not octocrab's (its policy re-sends POSTs at once): reads are retried on
//! 5xx, network errors and rate limits; a write is re-sent only when GitHub said it did not take
//! effect (a rate limit), and otherwise the caller checks state first.

pub mod repo;

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::secret::Secret;

/// How long to wait at most for a rate limit to reset before giving up.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(90);
const ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(
        "{what}: GitHub rejected the token (401 {message}); check that gitops_repo_token holds a \
         valid, unexpired token"
    )]
    Unauthorized { what: String, message: String },
    #[error(
        "{what}: forbidden (403 {message}); the token needs `contents: write` on {repo} (and \
         `pull-requests: write` in pull_request mode)"
    )]
    Forbidden {
        what: String,
        repo: String,
        message: String,
    },
    #[error(
        "{what}: not found (404 {message}); {repo} (or the branch) does not exist or is not \
         visible to this token: a fine-grained token must list the repository"
    )]
    NotFound {
        what: String,
        repo: String,
        message: String,
    },
    #[error("{what}: rate limited by GitHub, and the limit resets only in {wait_s} s")]
    RateLimited { what: String, wait_s: u64 },
    #[error("{what}: GitHub answered {status}: {message}")]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    /// The request may or may not have taken effect (5xx or a broken connection on a write).
    #[error("{what}: no clear answer from GitHub ({message})")]
    Ambiguous { what: String, message: String },
    #[error("{what}: {}", .errors.iter().map(|e| format!("{} ({})", e.message, e.kind)).collect::<Vec<_>>().join("; "))]
    GraphQl {
        what: String,
        errors: Vec<GraphQlError>,
    },
}

impl GitHubError {
    /// GitHub's message, for matching known refusals.
    pub fn message(&self) -> String {
        match self {
            Self::GraphQl { errors, .. } => errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            Self::Unauthorized { message, .. }
            | Self::Forbidden { message, .. }
            | Self::NotFound { message, .. }
            | Self::Status { message, .. }
            | Self::Ambiguous { message, .. } => message.clone(),
            Self::RateLimited { .. } => String::new(),
        }
    }

    pub fn has_graphql_type(&self, kind: &str) -> bool {
        matches!(self, Self::GraphQl { errors, .. } if errors.iter().any(|e| e.kind == kind))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct GraphQlError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// Whether a request may be sent again after an unclear failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Reads: safe to repeat.
    Safe,
    /// Writes: repeated only when GitHub said it did not act (rate limits).
    OnlyIfRejected,
}

pub struct GitHub {
    rest: Octocrab,
    graphql: Octocrab,
    api_url: String,
    graphql_url: String,
    /// `owner/name`, for messages.
    repo: String,
}

impl GitHub {
    pub fn new(
        api_url: &str,
        graphql_url: &str,
        token: &Secret,
        repo: &str,
    ) -> anyhow::Result<Self> {
        let client = |base: &str| -> anyhow::Result<Octocrab> {
            Ok(Octocrab::builder()
                .base_uri(base)?
                .personal_token(token.expose().to_owned())
                .add_header(http::header::ACCEPT, "application/vnd.github+json".into())
                .add_header(
                    http::HeaderName::from_static("x-github-api-version"),
                    "2022-11-28".into(),
                )
                .set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(60)))
                .build()?)
        };
        Ok(Self {
            rest: client(api_url)?,
            graphql: client(graphql_url)?,
            api_url: api_url.trim_end_matches('/').to_owned(),
            graphql_url: graphql_url.to_owned(),
            repo: repo.to_owned(),
        })
    }

    /// A REST call; `path` is relative to the API root, e.g. `/repos/o/r/git/trees/x`.
    pub async fn rest<T: DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<T, GitHubError> {
        let url = format!("{}{path}", self.api_url);
        let value = self
            .send(&self.rest, what, method, &url, body, resend)
            .await?;
        serde_json::from_value(value).map_err(|e| GitHubError::Status {
            what: what.to_owned(),
            status: 200,
            message: format!("unexpected response: {e}"),
        })
    }

    /// A GraphQL query or mutation; GraphQL `errors` become [`GitHubError::GraphQl`].
    pub async fn graphql<T: DeserializeOwned>(
        &self,
        what: &str,
        query: &str,
        variables: Value,
        resend: Resend,
    ) -> Result<T, GitHubError> {
        let body = json!({ "query": query, "variables": variables });
        let value = self
            .send(
                &self.graphql,
                what,
                Method::POST,
                &self.graphql_url,
                Some(&body),
                resend,
            )
            .await?;
        if let Some(errors) = value.get("errors").filter(|e| !e.is_null()) {
            let errors: Vec<GraphQlError> =
                serde_json::from_value(errors.clone()).unwrap_or_default();
            let message = || {
                errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let (what, repo) = (what.to_owned(), self.repo.clone());
            if errors.iter().any(|e| e.kind == "FORBIDDEN") {
                return Err(GitHubError::Forbidden {
                    what,
                    repo,
                    message: message(),
                });
            }
            if errors.iter().any(|e| e.kind == "NOT_FOUND") {
                return Err(GitHubError::NotFound {
                    what,
                    repo,
                    message: message(),
                });
            }
            if !errors.is_empty() {
                return Err(GitHubError::GraphQl { what, errors });
            }
        }
        serde_json::from_value(value.get("data").cloned().unwrap_or(Value::Null)).map_err(|e| {
            GitHubError::Status {
                what: what.to_owned(),
                status: 200,
                message: format!("unexpected GraphQL response: {e}"),
            }
        })
    }

    async fn send(
        &self,
        client: &Octocrab,
        what: &str,
        method: Method,
        url: &str,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<Value, GitHubError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let retry = attempt < ATTEMPTS;
            let wait = match self
                .send_once(client, what, method.clone(), url, body)
                .await
            {
                Ok(value) => return Ok(value),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::RateLimited(wait)) if retry && wait <= MAX_RATE_LIMIT_WAIT => wait,
                Err(Failure::Transient(_)) if retry && resend == Resend::Safe => {
                    crate::retry::backoff(attempt)
                }
                Err(Failure::RateLimited(wait)) => {
                    return Err(GitHubError::RateLimited {
                        what: what.to_owned(),
                        wait_s: wait.as_secs(),
                    });
                }
                Err(Failure::Transient(message)) => {
                    return Err(GitHubError::Ambiguous {
                        what: what.to_owned(),
                        message,
                    });
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(
        &self,
        client: &Octocrab,
        what: &str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut request = http::Request::builder().method(method).uri(url);
        let payload = match body {
            Some(b) => {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
                serde_json::to_vec(b).unwrap_or_default()
            }
            None => Vec::new(),
        };
        let request = request
            .body(payload)
            .map_err(|e| Failure::Final(self.status(what, 0, e.to_string())))?;
        let response = client
            .execute(request)
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = client
            .body_to_string(response)
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        if let Some(wait) = rate_limit_wait(status, &headers) {
            return Err(Failure::RateLimited(wait));
        }
        let (what, repo) = (what.to_owned(), self.repo.clone());
        Err(match status.as_u16() {
            401 => Failure::Final(GitHubError::Unauthorized { what, message }),
            403 => Failure::Final(GitHubError::Forbidden {
                what,
                repo,
                message,
            }),
            404 => Failure::Final(GitHubError::NotFound {
                what,
                repo,
                message,
            }),
            s if s >= 500 => Failure::Transient(format!("{status}: {message}")),
            s => Failure::Final(GitHubError::Status {
                what,
                status: s,
                message,
            }),
        })
    }

    fn status(&self, what: &str, status: u16, message: String) -> GitHubError {
        GitHubError::Status {
            what: what.to_owned(),
            status,
            message,
        }
    }
}

enum Failure {
    /// GitHub refused before acting; wait this long.
    RateLimited(Duration),
    /// 5xx or transport: the request may have taken effect.
    Transient(String),
    Final(GitHubError),
}

/// GitHub's rate-limit answers: 403 or 429 with `retry-after` (secondary limits), or with
/// `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (the primary limit).
fn rate_limit_wait(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seconds) = header("retry-after") {
        return Some(Duration::from_secs(seconds));
    }
    if header("x-ratelimit-remaining") == Some(0) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let reset = header("x-ratelimit-reset").unwrap_or(now + 60);
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_are_read_from_the_headers() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().expect("header"));
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &h),
            Some(Duration::from_secs(7))
        );
        assert_eq!(rate_limit_wait(StatusCode::BAD_GATEWAY, &h), None);
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().expect("header"));
        h.insert("x-ratelimit-reset", "1".parse().expect("header"));
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &h),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &HeaderMap::new()),
            None
        );
    }
}
