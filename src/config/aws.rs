//! How to reach AWS: the role assumed through GitHub OIDC, the region, the registry.

use super::inputs::RawInputs;
use super::runner::RunnerEnv;
use super::values::given;
use super::{ConfigError, invalid};
use crate::aws::oidc::TokenRequest;
use crate::secret::Secret;

/// How to reach AWS, needed only when `verify_images` is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub audience: String,
    pub session_name: String,
    pub duration_seconds: i32,
    pub registry_id: Option<String>,
    pub oidc: TokenRequest,
}

impl AwsConfig {
    pub(super) fn from_inputs(
        raw: &RawInputs,
        env: &RunnerEnv,
        needed: bool,
    ) -> Result<Self, ConfigError> {
        let role_arn = &given(raw.aws_role_arn.clone());
        let region = &given(raw.aws_region.clone());
        let audience = &given(raw.aws_audience.clone());
        let session_name = &given(raw.role_session_name.clone());
        let duration = &given(raw.role_duration_seconds.clone());
        let registry_id = &given(raw.ecr_registry_id.clone());
        if let Some(arn) = role_arn {
            let ok = arn.split(':').collect::<Vec<_>>().as_slice().len() == 6
                && arn.starts_with("arn:aws")
                && arn.split(':').nth(2) == Some("iam")
                && arn
                    .split(':')
                    .nth(4)
                    .is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                && arn
                    .split(':')
                    .nth(5)
                    .is_some_and(|r| r.starts_with("role/") && r.len() > 5);
            if !ok {
                return Err(invalid(
                    "aws_role_arn",
                    format!(
                        "`{arn}` is not an IAM role ARN like arn:aws:iam::123456789012:role/name"
                    ),
                ));
            }
        }
        let region = region
            .clone()
            .or_else(|| given(env.aws_region.clone()))
            .or_else(|| given(env.aws_default_region.clone()));
        match &region {
            Some(r)
                if !r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                return Err(invalid(
                    "aws_region",
                    format!("`{r}` is not an AWS region like us-east-1"),
                ));
            }
            None if needed => {
                return Err(invalid(
                    "aws_region",
                    "not set, and neither AWS_REGION nor AWS_DEFAULT_REGION is set; verify_images \
                     needs the region of STS and ECR",
                ));
            }
            _ => {}
        }
        let session_name = match session_name {
            Some(name) => {
                if !(2..=64).contains(&name.len()) || !name.chars().all(is_session_char) {
                    return Err(invalid(
                        "role_session_name",
                        format!("`{name}` must be 2 to 64 characters of A-Z, a-z, 0-9 and +=,.@_-"),
                    ));
                }
                name.clone()
            }
            None => {
                let repo = given(env.github_repository.clone()).unwrap_or_default();
                let run = given(env.github_run_id.clone()).unwrap_or_default();
                let raw = format!("gitops-promote-{}-{run}", repo.replace('/', "-"));
                let name: String = raw
                    .chars()
                    .filter(|c| is_session_char(*c))
                    .take(64)
                    .collect();
                name.trim_end_matches('-').to_owned()
            }
        };
        let duration_seconds = match duration {
            None => 900,
            Some(d) => d
                .parse::<i32>()
                .ok()
                .filter(|d| (900..=43200).contains(d))
                .ok_or_else(|| {
                    invalid(
                        "role_duration_seconds",
                        format!("`{d}` must be a number of seconds from 900 to 43200"),
                    )
                })?,
        };
        if let Some(id) = registry_id
            && !(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid(
                "ecr_registry_id",
                format!("`{id}` is not a 12-digit AWS account id"),
            ));
        }
        Ok(Self {
            role_arn: role_arn.clone(),
            region,
            audience: audience
                .clone()
                .unwrap_or_else(|| "sts.amazonaws.com".into()),
            session_name,
            duration_seconds,
            registry_id: registry_id.clone(),
            oidc: TokenRequest {
                url: given(env.actions_id_token_request_url.clone()),
                token: given(env.actions_id_token_request_token.clone()).map(Secret::new),
                act: env.act.as_deref() == Some("true"),
            },
        })
    }
}

fn is_session_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}
