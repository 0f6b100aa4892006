//! The GitHub Actions OIDC token: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with
//! `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answered with `{"value": "<jwt>"}`.

use std::time::Duration;

use super::Secret;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(
        "aws_role_arn is set, but act never provides GitHub's OIDC token; pass static credentials \
         instead (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, e.g. `act -s AWS_ACCESS_KEY_ID -s \
         AWS_SECRET_ACCESS_KEY`) and leave aws_role_arn empty"
    )]
    Act,
    #[error(
        "aws_role_arn is set, but the job cannot request GitHub's OIDC token \
         (ACTIONS_ID_TOKEN_REQUEST_URL is not set): grant `permissions: id-token: write` to the job"
    )]
    NotGranted,
    #[error("the OIDC token request failed after {attempts} attempts: {last}")]
    Request { attempts: u32, last: String },
    /// Refused for good before the issuer answered (see `crate::net`), or a proxy or trust
    /// variable that cannot be used.
    #[error("the OIDC token request failed")]
    Network(#[from] crate::net::NetError),
}

/// The variables the runner sets when the job may request a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    pub url: Option<String>,
    pub token: Option<Secret>,
    /// `ACT=true`: running under nektos/act.
    pub act: bool,
}

const ATTEMPTS: u32 = 4;

/// Fetches the token for `audience`, retrying transient failures with backoff.
pub fn fetch(req: &TokenRequest, audience: &str) -> Result<Secret, OidcError> {
    let (Some(url), Some(token)) = (&req.url, &req.token) else {
        return Err(if req.act {
            OidcError::Act
        } else {
            OidcError::NotGranted
        });
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}audience={}", encode(audience));
    // The roots and the proxy of src/net's policy, as every client gets them.
    let agent = crate::net::policy()?.ureq_agent(&full, Duration::from_secs(10))?;
    let _call = crate::inflight::enter("the OIDC token request (ACTIONS_ID_TOKEN_REQUEST_URL)");
    let mut last = String::new();
    let mut attempts = 0;
    for attempt in 1..=ATTEMPTS {
        attempts = attempt;
        match agent
            .get(&full)
            .header("Authorization", &format!("Bearer {}", token.expose()))
            .header("Accept", "application/json")
            .call()
        {
            Ok(mut resp) if resp.status().is_success() => {
                #[derive(serde::Deserialize)]
                struct Body {
                    value: String,
                }
                match resp.body_mut().read_json::<Body>() {
                    Ok(body) if !body.value.is_empty() => return Ok(Secret::new(body.value)),
                    Ok(_) => last = "the response has an empty `value`".into(),
                    Err(e) => last = format!("the response is not {{\"value\": ...}}: {e}"),
                }
            }
            Ok(resp) => {
                let status = resp.status();
                last = format!("HTTP {status}");
                // A client error will not get better by asking again.
                if status.is_client_error() && status.as_u16() != 429 {
                    break;
                }
            }
            Err(e) => {
                let diagnosis = crate::net::diagnose_ureq(&e, &full);
                if let Some(refusal) = diagnosis.refusal {
                    return Err(OidcError::Network(refusal));
                }
                last = diagnosis.message;
            }
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(crate::retry::backoff(attempt));
        }
    }
    Err(OidcError::Request { attempts, last })
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
