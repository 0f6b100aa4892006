//! AWS adapters: the GitHub OIDC token, STS `AssumeRoleWithWebIdentity`, and ECR
//! `DescribeImages`. Endpoints come from the standard variables (`AWS_ENDPOINT_URL`, ...), so the
//! same code talks to AWS and to a local stand-in.

pub mod ecr;
pub mod oidc;
pub mod sts;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::net::NetError;

pub use crate::secret::Secret;

/// Where credentials come from: an assumed role's session, or the standard chain (environment
/// keys, profile), which act and local runs use.
#[derive(Debug, Clone)]
pub enum Credentials {
    Session {
        access_key_id: Secret,
        secret_access_key: Secret,
        session_token: Secret,
    },
    DefaultChain,
    /// No credentials: for STS `AssumeRoleWithWebIdentity`, which is an unsigned call.
    Anonymous,
}

/// The SDK configuration for a region: rustls with ring, the roots and proxies of src/net's
/// policy (for the credential providers too), the SDK's standard retry (throttling, 5xx and
/// transient network errors, with jittered backoff).
pub async fn sdk_config(region: &str, credentials: &Credentials) -> Result<SdkConfig, NetError> {
    let http = crate::net::policy()?.aws_http_client();
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .http_client(http)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(200)),
        );
    Ok(match credentials {
        Credentials::Session {
            access_key_id,
            secret_access_key,
            session_token,
        } => {
            loader
                .credentials_provider(aws_credential_types::Credentials::new(
                    access_key_id.expose(),
                    secret_access_key.expose(),
                    Some(session_token.expose().to_owned()),
                    None,
                    "gitops-promote-assumed-role",
                ))
                .load()
                .await
        }
        Credentials::DefaultChain => loader.load().await,
        Credentials::Anonymous => loader.no_credentials().load().await,
    })
}
