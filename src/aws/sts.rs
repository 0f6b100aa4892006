//! STS `AssumeRoleWithWebIdentity` with the GitHub OIDC token (an unsigned call). Transient
//! failures are retried with jittered backoff; AccessDenied and other client errors fail at once.

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;

use super::{Credentials, Secret};

#[derive(Debug, thiserror::Error)]
pub enum StsError {
    #[error(
        "STS refused to let this workflow assume `{role}` ({code}: {message}); check the role's \
         trust policy: it must trust token.actions.githubusercontent.com with audience `{audience}` \
         and a `sub` condition that matches this repository and ref"
    )]
    Refused {
        role: String,
        audience: String,
        code: String,
        message: String,
    },
    #[error("STS did not answer after {attempts} attempts: {last}")]
    Unavailable { attempts: u32, last: String },
    #[error("cannot reach STS")]
    Network(#[from] crate::net::NetError),
}

pub struct AssumeRole<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub duration_seconds: i32,
    pub audience: &'a str,
    pub region: &'a str,
}

const ATTEMPTS: u32 = 5;

pub async fn assume_role(req: &AssumeRole<'_>, token: &Secret) -> Result<Credentials, StsError> {
    let config = super::sdk_config(req.region, &Credentials::Anonymous).await?;
    // This loop owns the retries, so it can tell transient errors from refusals.
    let config = aws_sdk_sts::config::Builder::from(&config)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_sts::Client::from_conf(config);
    let _call = crate::inflight::enter(format!(
        "STS AssumeRoleWithWebIdentity for `{}`",
        req.role_arn
    ));
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let result = client
            .assume_role_with_web_identity()
            .role_arn(req.role_arn)
            .role_session_name(req.session_name)
            .duration_seconds(req.duration_seconds)
            .web_identity_token(token.expose())
            .send()
            .await;
        match result {
            Ok(out) => {
                let Some(c) = out.credentials() else {
                    last = "the response holds no credentials".into();
                    continue;
                };
                return Ok(Credentials::Session {
                    access_key_id: Secret::new(c.access_key_id()),
                    secret_access_key: Secret::new(c.secret_access_key()),
                    session_token: Secret::new(c.session_token()),
                });
            }
            Err(err) => {
                if !is_transient(&err) {
                    let code = err.code().unwrap_or("error").to_owned();
                    let message = err.message().map_or_else(|| err.to_string(), str::to_owned);
                    return Err(StsError::Refused {
                        role: req.role_arn.to_owned(),
                        audience: req.audience.to_owned(),
                        code,
                        message,
                    });
                }
                last = match (err.code(), err.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    _ => format!("{}", aws_sdk_sts::error::DisplayErrorContext(&err)),
                };
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(crate::retry::backoff(attempt)).await;
        }
    }
    Err(StsError::Unavailable {
        attempts: ATTEMPTS,
        last,
    })
}

/// Throttling, 5xx, network trouble, `IDPCommunicationError`, the identity provider's keys not
/// being reachable yet, and an answer that is no STS error at all (truncated, a proxy's page) are
/// worth another try; anything else is a refusal.
fn is_transient(err: &SdkError<AssumeRoleWithWebIdentityError>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            let code = e.err().code().unwrap_or_default();
            let message = e.err().message().unwrap_or_default();
            status >= 500
                || e.err().code().is_none()
                || matches!(
                    code,
                    "Throttling" | "ThrottlingException" | "RequestLimitExceeded"
                )
                || matches!(
                    e.err(),
                    AssumeRoleWithWebIdentityError::IdpCommunicationErrorException(_)
                )
                || (matches!(
                    e.err(),
                    AssumeRoleWithWebIdentityError::InvalidIdentityTokenException(_)
                ) && message.contains("Couldn't retrieve verification key"))
        }
        _ => false,
    }
}
