//! ECR `DescribeImages` by tag: proves an image exists and learns its digest (for a multi-arch
//! image, the index's digest, which is what the cluster pulls by).

use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::types::ImageIdentifier;

use super::Credentials;

/// An image in a registry: what the patched files will make the cluster pull.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EcrImage {
    /// The account id of the registry; `None` for the credentials' own account.
    pub registry_id: Option<String>,
    pub region: String,
    pub repository: String,
}

impl EcrImage {
    /// Parses `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>`.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let (host, repository) = uri.split_once('/')?;
        let parts: Vec<&str> = host.split('.').collect();
        let ok = parts.len() >= 6
            && parts[0].len() == 12
            && parts[0].bytes().all(|b| b.is_ascii_digit())
            && parts[1] == "dkr"
            && matches!(parts[2], "ecr" | "ecr-fips")
            && parts[4] == "amazonaws";
        ok.then(|| Self {
            registry_id: Some(parts[0].to_owned()),
            region: parts[3].to_owned(),
            repository: repository.to_owned(),
        })
    }

    fn registry(&self) -> &str {
        self.registry_id
            .as_deref()
            .unwrap_or("(the credentials' account)")
    }
}

/// Why one image could not be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Image,
    Repository,
    AccessDenied(String),
    Other(String),
}

impl Missing {
    pub fn describe(&self, image: &EcrImage, tag: &str) -> String {
        let place = format!(
            "`{}:{tag}` (repository `{}`, registry {}, region {})",
            image.repository,
            image.repository,
            image.registry(),
            image.region
        );
        match self {
            Missing::Image => format!(
                "{place}: no image has this tag (ImageNotFoundException); push it before promoting, \
                 or check the tag"
            ),
            Missing::Repository => format!(
                "{place}: the repository does not exist here (RepositoryNotFoundException); check \
                 the repository name, the region (aws_region) and the registry (ecr_registry_id)"
            ),
            Missing::AccessDenied(m) => format!(
                "{place}: access denied ({m}); the role needs `ecr:DescribeImages` on this \
                 repository (and a repository policy allowing it, cross-account)"
            ),
            Missing::Other(m) => format!("{place}: {m}"),
        }
    }
}

/// Looks up every image concurrently; returns each image's digest or why it is missing.
pub async fn describe_all(
    images: &[EcrImage],
    tag: &str,
    credentials: &Credentials,
) -> Vec<Result<String, Missing>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, image) in images.iter().enumerate() {
        let (image, tag, credentials) = (image.clone(), tag.to_owned(), credentials.clone());
        tasks.spawn(async move {
            let config = super::sdk_config(&image.region, &credentials).await;
            let client = aws_sdk_ecr::Client::new(&config);
            (i, describe(&client, &image, &tag).await)
        });
    }
    let mut results: Vec<Result<String, Missing>> =
        vec![Err(Missing::Other("not looked up".into())); images.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, result)) => results[i] = result,
            Err(e) => {
                // A panicked lookup leaves its slot as "not looked up", which fails the run.
                let _ = e;
            }
        }
    }
    results
}

async fn describe(
    client: &aws_sdk_ecr::Client,
    image: &EcrImage,
    tag: &str,
) -> Result<String, Missing> {
    let result = client
        .describe_images()
        .set_registry_id(image.registry_id.clone())
        .repository_name(&image.repository)
        .image_ids(ImageIdentifier::builder().image_tag(tag).build())
        .send()
        .await;
    match result {
        Ok(out) => out
            .image_details()
            .iter()
            .find_map(|d| d.image_digest().map(str::to_owned))
            .ok_or(Missing::Image),
        Err(SdkError::ServiceError(e)) => Err(match e.err() {
            DescribeImagesError::ImageNotFoundException(_) => Missing::Image,
            DescribeImagesError::RepositoryNotFoundException(_) => Missing::Repository,
            other if other.code().is_some_and(|c| c.contains("AccessDenied")) => {
                Missing::AccessDenied(
                    other
                        .message()
                        .unwrap_or("AccessDeniedException")
                        .to_owned(),
                )
            }
            other => Missing::Other(format!(
                "{}: {}",
                other.code().unwrap_or("error"),
                other.message().unwrap_or_default()
            )),
        }),
        Err(e) => Err(Missing::Other(format!("{}", DisplayErrorContext(&e)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_uris_give_registry_region_and_repository() {
        let img = EcrImage::from_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/backend")
            .expect("an ECR URI");
        assert_eq!(img.registry_id.as_deref(), Some("123456789012"));
        assert_eq!(img.region, "eu-west-1");
        assert_eq!(img.repository, "team/backend");
        assert!(EcrImage::from_uri("ghcr.io/org/app").is_none());
        assert!(EcrImage::from_uri("backend").is_none());
    }
}
