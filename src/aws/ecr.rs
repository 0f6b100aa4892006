//! ECR `DescribeImages` by tag: proves an image exists and learns its digest (for a multi-arch
//! image, the index's digest, which is what the cluster pulls by).

use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::types::ImageIdentifier;

use super::Credentials;

pub use crate::core::pull::EcrImage;

/// The registry, for messages.
fn registry(image: &EcrImage) -> &str {
    image
        .registry_id
        .as_deref()
        .unwrap_or("(the credentials' account)")
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
            registry(image),
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
            let config = match super::sdk_config(&image.region, &credentials).await {
                Ok(config) => config,
                Err(e) => return (i, Err(Missing::Other(e.to_string()))),
            };
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
    let _call = crate::inflight::enter(format!(
        "ECR DescribeImages for `{}:{tag}`",
        image.repository
    ));
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
