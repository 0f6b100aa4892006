//! Transport: one REST client (`GITHUB_API_URL`) and one GraphQL client (`GITHUB_GRAPHQL_URL`),
//! each through octocrab for auth, with our own retries. On GitHub Enterprise Server they live at
//! `/api/v3` and `/api/graphql`, and one base URI cannot serve both.
//!
//! Retries are ours, not octocrab's (its policy re-sends POSTs at once): reads are retried on
//! 5xx, network errors and rate limits; a write is re-sent only when GitHub said it did not take
//! effect (a rate limit), and otherwise the caller checks state first. Every wait is bounded by
//! the run's deadline: when GitHub asks for longer than is left, the run fails at once and says so.

use std::time::{Duration, Instant};

use std::sync::Arc;

use anyhow::Context as _;
use http::header::{ACCEPT, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::secret::Secret;

const ATTEMPTS: u32 = 5;
/// Connecting covers TCP, a proxy's CONNECT and the TLS handshake together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// GitHub: after a secondary rate limit without `retry-after`, "wait for at least one minute".
const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

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
    #[error(
        "{what}: rate limited by GitHub, which asks to wait {wait_s} s, longer than the run may \
         wait; try again later or raise timeout_seconds"
    )]
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
    /// A success whose body is not what GitHub documents: a field missing or of the wrong type.
    #[error("{what}: GitHub's answer is not what its API documents ({message})")]
    Decode { what: String, message: String },
    /// Refused before GitHub could answer, for good: an untrusted certificate, a proxy that
    /// wants credentials (see `crate::net`).
    #[error("{what}: {message}")]
    Network { what: String, message: String },
    #[error("{what}: {}", .errors.iter().map(|e| format!("{} ({})", e.message, e.kind)).collect::<Vec<_>>().join("; "))]
    GraphQl {
        what: String,
        errors: Vec<GraphQlError>,
    },
}

impl GitHubError {
    /// GitHub's own message.
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
            | Self::Ambiguous { message, .. }
            | Self::Decode { message, .. }
            | Self::Network { message, .. } => message.clone(),
            Self::RateLimited { .. } => String::new(),
        }
    }

    /// Whether GraphQL reported an error of this `type` (`STALE_DATA`, `UNPROCESSABLE`, ...).
    pub fn has_graphql_type(&self, kind: &str) -> bool {
        matches!(self, Self::GraphQl { errors, .. } if errors.iter().any(|e| e.kind == kind))
    }
}

/// One entry of a GraphQL `errors` list. GitHub names the class in `type`; validation errors
/// (an unknown field, for one) have none and carry `extensions.code` instead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct GraphQlError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
    /// The response field the error belongs to, e.g. `["createCommitOnBranch"]`.
    #[serde(default)]
    pub path: Vec<Value>,
    #[serde(default)]
    pub extensions: Option<Value>,
}

impl GraphQlError {
    /// `type`, or else `extensions.code` (`undefinedField` when the server lacks a field).
    pub fn code(&self) -> &str {
        if !self.kind.is_empty() {
            return &self.kind;
        }
        self.extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
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
    deadline: Option<Instant>,
}

impl GitHub {
    pub fn new(
        api_url: &str,
        graphql_url: &str,
        token: &Secret,
        repo: &str,
        deadline: Option<Instant>,
    ) -> anyhow::Result<Self> {
        // octocrab's own connector knows no proxy and no trust setting: both clients share one
        // hyper client (one connection pool) on the connector of src/net's policy, under
        // octocrab's header and auth layers, as its default build stacks them.
        let connector = crate::net::policy()?.connector(CONNECT_TIMEOUT, READ_TIMEOUT);
        let http = Client::builder(TokioExecutor::new()).build::<_, OctoBody>(connector);
        let mut auth = HeaderValue::try_from(format!("Bearer {}", token.expose()))
            .ok()
            .context("gitops_repo_token: holds characters an HTTP header cannot carry")?;
        auth.set_sensitive(true);
        let headers = Arc::new(vec![
            (
                USER_AGENT,
                HeaderValue::from_static(concat!("gitops-promote/", env!("CARGO_PKG_VERSION"))),
            ),
            (
                ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            ),
            (
                HeaderName::from_static("x-github-api-version"),
                HeaderValue::from_static("2022-11-28"),
            ),
        ]);
        let client = |base: &str| -> anyhow::Result<Octocrab> {
            let base: Uri = base.parse().with_context(|| format!("not a URL: {base}"))?;
            Ok(OctocrabBuilder::new_empty()
                .with_service(http.clone())
                .with_layer(&ExtraHeadersLayer::new(Arc::clone(&headers)))
                .with_layer(&AuthHeaderLayer::new(
                    Some(auth.clone()),
                    base.clone(),
                    base,
                ))
                .with_auth(AuthState::None)
                .build()?)
        };
        Ok(Self {
            rest: client(api_url)?,
            graphql: client(graphql_url)?,
            api_url: api_url.trim_end_matches('/').to_owned(),
            graphql_url: graphql_url.to_owned(),
            repo: repo.to_owned(),
            deadline,
        })
    }

    /// A REST call; `path` is relative to the API root, e.g. `/repos/o/r/git/trees/x`, with
    /// every user-given segment already percent-encoded (see [`super::encode_ref`]).
    pub async fn rest<T: DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<T, GitHubError> {
        let url = format!("{}{path}", self.api_url);
        let reply = self
            .send(&self.rest, what, method, &url, body, None, resend, false)
            .await?;
        decode(what, reply.value.unwrap_or(Value::Null))
    }

    /// A REST GET sent with `If-None-Match: etag` when one is given: GitHub answers
    /// `304 Not Modified` when the resource is unchanged since the answer that carried `etag`,
    /// and such an answer does not count against the rate limit (REST docs, "conditional
    /// requests"). Polling this way is free until something changes.
    pub async fn rest_if_changed<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        etag: Option<&str>,
    ) -> Result<Conditional<T>, GitHubError> {
        let url = format!("{}{path}", self.api_url);
        let reply = self
            .send(
                &self.rest,
                what,
                Method::GET,
                &url,
                None,
                etag,
                Resend::Safe,
                false,
            )
            .await?;
        Ok(match reply.value {
            None => Conditional::Unchanged,
            Some(value) => Conditional::Changed {
                value: decode(what, value)?,
                etag: reply.etag,
            },
        })
    }

    /// A GraphQL query or mutation. `errors` become [`GitHubError::GraphQl`] (or `Forbidden`,
    /// `NotFound`), classified by their `type`, never by their text.
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
                None,
                resend,
                true,
            )
            .await?
            .value
            .unwrap_or(Value::Null);
        if let Some(errors) = value.get("errors").filter(|e| !e.is_null()) {
            let errors: Vec<GraphQlError> =
                serde_json::from_value(errors.clone()).map_err(|e| GitHubError::Decode {
                    what: what.to_owned(),
                    message: format!("GraphQL `errors`: {e}"),
                })?;
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
        decode(what, value.get("data").cloned().unwrap_or(Value::Null))
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        client: &Octocrab,
        what: &str,
        method: Method,
        url: &str,
        body: Option<&Value>,
        if_none_match: Option<&str>,
        resend: Resend,
        graphql: bool,
    ) -> Result<Reply, GitHubError> {
        let _call = crate::inflight::enter(format!("GitHub: {what}"));
        let mut attempt = 0;
        let mut limited = 0;
        loop {
            attempt += 1;
            let retry = attempt < ATTEMPTS;
            let failure = match self
                .send_once(
                    client,
                    what,
                    method.clone(),
                    url,
                    body,
                    if_none_match,
                    graphql,
                )
                .await
            {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            let wait = match failure {
                Failure::Final(e) => return Err(e),
                Failure::RateLimited(wait) => {
                    limited += 1;
                    // Secondary limits without a hint: a minute, then exponentially longer.
                    let wait = wait.unwrap_or(SECONDARY_LIMIT_WAIT * (1 << (limited - 1).min(3)));
                    if !retry || !self.can_wait(wait) {
                        return Err(GitHubError::RateLimited {
                            what: what.to_owned(),
                            wait_s: wait.as_secs(),
                        });
                    }
                    wait
                }
                Failure::Transient(_) if retry && resend == Resend::Safe => {
                    crate::retry::backoff(attempt)
                }
                Failure::Transient(message) => {
                    return Err(GitHubError::Ambiguous {
                        what: what.to_owned(),
                        message,
                    });
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether waiting `wait` still leaves the run inside its deadline.
    fn can_wait(&self, wait: Duration) -> bool {
        self.deadline
            .is_none_or(|deadline| Instant::now() + wait < deadline)
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_once(
        &self,
        client: &Octocrab,
        what: &str,
        method: Method,
        url: &str,
        body: Option<&Value>,
        if_none_match: Option<&str>,
        graphql: bool,
    ) -> Result<Reply, Failure> {
        let mut request = http::Request::builder().method(method).uri(url);
        if let Some(etag) = if_none_match {
            request = request.header(http::header::IF_NONE_MATCH, etag);
        }
        let payload = match body {
            Some(b) => {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
                b.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let request = request.body(payload).map_err(|e| {
            Failure::Final(GitHubError::Status {
                what: what.to_owned(),
                status: 0,
                message: e.to_string(),
            })
        })?;
        let response = client
            .execute(request)
            .await
            .map_err(|e| network_failure(what, url, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let etag = headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status == StatusCode::NOT_MODIFIED && if_none_match.is_some() {
            return Ok(Reply { value: None, etag });
        }
        let text = client
            .body_to_string(response)
            .await
            .map_err(|e| network_failure(what, url, &e))?;
        if status.is_success() {
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                Failure::Final(GitHubError::Decode {
                    what: what.to_owned(),
                    message: format!("not JSON: {e}"),
                })
            })?;
            // GraphQL reports its rate limit with HTTP 200 and `type: RATE_LIMITED`; GitHub did
            // not act on the request, so it may be sent again once the limit resets.
            if graphql && graphql_rate_limited(&value) {
                return Err(Failure::RateLimited(primary_reset(&headers)));
            }
            return Ok(Reply {
                value: Some(value),
                etag,
            });
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        if let Some(wait) = rate_limit_wait(status, &headers, &message) {
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
}

/// An answer: its JSON body (`None` for `304 Not Modified`) and its `ETag`.
struct Reply {
    value: Option<Value>,
    etag: Option<String>,
}

/// The answer to a conditional GET.
#[derive(Debug)]
pub enum Conditional<T> {
    /// The resource changed (or nothing was known): its body, and the `ETag` to send next time.
    Changed { value: T, etag: Option<String> },
    /// `304 Not Modified`: as it was when `etag` was given.
    Unchanged,
}

/// A request that got no answer: src/net tells a refusal, which no retry can cure, from trouble
/// on the way, and names the host (and the proxy).
fn network_failure(what: &str, url: &str, error: &octocrab::Error) -> Failure {
    let diagnosis = crate::net::diagnose(error, url);
    if diagnosis.retry {
        Failure::Transient(diagnosis.message)
    } else {
        Failure::Final(GitHubError::Network {
            what: what.to_owned(),
            message: diagnosis.message,
        })
    }
}

fn decode<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, GitHubError> {
    serde_json::from_value(value).map_err(|e| GitHubError::Decode {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

enum Failure {
    /// GitHub refused before acting; wait this long (`None`: GitHub gave no hint).
    RateLimited(Option<Duration>),
    /// 5xx or transport: the request may have taken effect.
    Transient(String),
    Final(GitHubError),
}

/// GraphQL's rate limit: `type: RATE_LIMITED` (GraphQL docs), or in GitHub's newer shape
/// `type: RATE_LIMIT` with `extensions.code: graphql_rate_limit` (yanyongyu/githubkit#271).
fn graphql_rate_limited(value: &Value) -> bool {
    let limited = |e: &Value| {
        let kind = e.get("type").and_then(Value::as_str);
        let code = e.pointer("/extensions/code").and_then(Value::as_str);
        matches!(kind, Some("RATE_LIMITED" | "RATE_LIMIT")) || code == Some("graphql_rate_limit")
    };
    value
        .get("errors")
        .and_then(Value::as_array)
        .is_some_and(|errors| errors.iter().any(limited))
}

fn header(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The primary limit's reset (`x-ratelimit-reset`, epoch seconds), when given.
fn primary_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset = header(headers, "x-ratelimit-reset")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some(Duration::from_secs(reset.saturating_sub(now) + 1))
}

/// GitHub's rate-limit answers ("Rate limits for the REST API", "Handle rate limit errors
/// appropriately"), 403 or 429:
/// - with `retry-after`: wait that long (secondary limits);
/// - with `x-ratelimit-remaining: 0`: wait until `x-ratelimit-reset` (the primary limit);
/// - otherwise a secondary limit without a hint (`Some(None)`): at least a minute. A 403 counts
///   only when GitHub's message says so: a plain 403 is a missing permission.
fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    message: &str,
) -> Option<Option<Duration>> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    if let Some(seconds) = header(headers, "retry-after") {
        return Some(Some(Duration::from_secs(seconds)));
    }
    if header(headers, "x-ratelimit-remaining") == Some(0) {
        return Some(Some(primary_reset(headers).unwrap_or(SECONDARY_LIMIT_WAIT)));
    }
    let says_limit = message.to_lowercase().contains("rate limit");
    (status == StatusCode::TOO_MANY_REQUESTS || says_limit).then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().expect("header"));
        }
        h
    }

    #[test]
    fn retry_after_is_obeyed_on_403_and_429() {
        let h = headers(&[("retry-after", "7")]);
        for status in [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS] {
            assert_eq!(
                rate_limit_wait(status, &h, ""),
                Some(Some(Duration::from_secs(7)))
            );
        }
        assert_eq!(rate_limit_wait(StatusCode::BAD_GATEWAY, &h, ""), None);
    }

    #[test]
    fn the_primary_limit_waits_for_its_reset() {
        let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")]);
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &h, ""),
            Some(Some(Duration::from_secs(1)))
        );
    }

    /// Issue 9: a 403 secondary rate limit without `retry-after` was reported as a missing
    /// permission; GitHub says to wait at least a minute.
    #[test]
    fn a_secondary_limit_without_retry_after_is_a_rate_limit() {
        let h = headers(&[("x-ratelimit-remaining", "4999")]);
        let message = "You have exceeded a secondary rate limit. Please wait a few minutes before \
                       you try again.";
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &h, message),
            Some(None)
        );
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, ""),
            Some(None)
        );
        let denied = "Resource not accessible by personal access token";
        assert_eq!(rate_limit_wait(StatusCode::FORBIDDEN, &h, denied), None);
    }

    /// Issue 9: GraphQL `RATE_LIMITED` (HTTP 200) was not retried.
    #[test]
    fn graphql_rate_limited_errors_are_recognised_by_type() {
        let limited =
            json!({ "errors": [{ "type": "RATE_LIMITED", "message": "API rate limit exceeded" }] });
        assert!(graphql_rate_limited(&limited));
        let newer = json!({ "errors": [{ "type": "RATE_LIMIT",
            "extensions": { "code": "graphql_rate_limit" }, "message": "API rate limit already exceeded" }] });
        assert!(graphql_rate_limited(&newer));
        let other = json!({ "errors": [{ "type": "STALE_DATA", "message": "rate limit" }] });
        assert!(!graphql_rate_limited(&other));
    }

    #[test]
    fn error_codes_come_from_type_or_extensions() {
        let e: GraphQlError = serde_json::from_value(json!({
            "message": "Field 'createCommitOnBranch' doesn't exist on type 'Mutation'",
            "extensions": { "code": "undefinedField" }
        }))
        .expect("decodes");
        assert_eq!(e.code(), "undefinedField");
        let e: GraphQlError =
            serde_json::from_value(json!({ "type": "STALE_DATA", "message": "x" }))
                .expect("decodes");
        assert_eq!(e.code(), "STALE_DATA");
    }
}
