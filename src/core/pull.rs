//! What the cluster pulls: the pure rules that turn a kustomization's `images:` entry into the
//! Amazon ECR image to verify. An entry with an ECR `newName` pulls that repository; an entry
//! without `newName` pulls the configured repository (`name=repository`, else the image's name)
//! in the default registry; an entry whose `newName` is any other registry pulls nothing ECR can
//! vouch for, so verifying it there would prove the wrong image.

use std::collections::BTreeMap;

use super::image::has_registry_host;

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
            && parts[4] == "amazonaws"
            && !repository.is_empty();
        ok.then(|| Self {
            registry_id: Some(parts[0].to_owned()),
            region: parts[3].to_owned(),
            repository: repository.to_owned(),
        })
    }
}

/// One `images:` entry naming a promoted image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The image's `name`, as in `images:` and the `images` input.
    pub image: &'a str,
    /// The ECR repository the `images` input maps it to (`name=repository`), if any.
    pub mapped: Option<&'a str>,
    pub new_name: Option<&'a str>,
    /// The file and the 1-based line of the entry, for messages.
    pub file: &'a str,
    pub line: usize,
}

/// Where images without an ECR `newName` live.
#[derive(Debug, Clone, Copy)]
pub struct DefaultRegistry<'a> {
    pub registry_id: Option<&'a str>,
    pub region: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    #[error(
        "input `images`: `{image}={mapped}` disagrees with {file}:{line}, whose newName is \
         `{new_name}`; fix one of them"
    )]
    Disagrees {
        image: String,
        mapped: String,
        file: String,
        line: usize,
        new_name: String,
    },
    #[error(
        "{file}:{line}: image `{image}` is pulled from `{new_name}`, which is not an Amazon ECR \
         repository, so ECR cannot prove it exists; point newName at the ECR repository, or set \
         verify_images: false"
    )]
    NotEcr {
        image: String,
        file: String,
        line: usize,
        new_name: String,
    },
    #[error(
        "`{image}` resolves to two digests ({first} and {second}) in different registries; \
         pin_digest can write only one"
    )]
    TwoDigests {
        image: String,
        first: String,
        second: String,
    },
}

/// The ECR image `entry` makes the cluster pull: its `newName`, or without one its name. A bare
/// name (no registry host) is the configured repository, or the name, in the default registry;
/// a reference in another registry is none ECR can vouch for.
pub fn ecr_image(entry: &Entry<'_>, default: DefaultRegistry<'_>) -> Result<EcrImage, PullError> {
    if entry.new_name.is_none() && !has_registry_host(entry.image) {
        return Ok(EcrImage {
            registry_id: default.registry_id.map(str::to_owned),
            region: default.region.to_owned(),
            repository: entry.mapped.unwrap_or(entry.image).to_owned(),
        });
    }
    let pulled = entry.new_name.unwrap_or(entry.image);
    let Some(uri) = EcrImage::from_uri(pulled) else {
        return Err(PullError::NotEcr {
            image: entry.image.to_owned(),
            file: entry.file.to_owned(),
            line: entry.line,
            new_name: pulled.to_owned(),
        });
    };
    match entry.mapped {
        Some(repo) if repo != uri.repository => Err(PullError::Disagrees {
            image: entry.image.to_owned(),
            mapped: repo.to_owned(),
            file: entry.file.to_owned(),
            line: entry.line,
            new_name: pulled.to_owned(),
        }),
        _ => Ok(uri),
    }
}

/// Each image's one digest, from the digest of every registry image it pulls. With pin_digest,
/// an image pulled from two registries with different digests cannot be pinned.
pub fn digests_by_image<'a>(
    pulled: impl IntoIterator<Item = (&'a str, &'a str)>,
    pin_digest: bool,
) -> Result<BTreeMap<String, String>, PullError> {
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    for (image, digest) in pulled {
        if pin_digest && let Some(first) = digests.get(image).filter(|d| *d != digest) {
            return Err(PullError::TwoDigests {
                image: image.to_owned(),
                first: first.clone(),
                second: digest.to_owned(),
            });
        }
        digests.insert(image.to_owned(), digest.to_owned());
    }
    Ok(digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: DefaultRegistry<'static> = DefaultRegistry {
        registry_id: None,
        region: "us-east-1",
    };

    fn entry<'a>(new_name: Option<&'a str>, mapped: Option<&'a str>) -> Entry<'a> {
        Entry {
            image: "backend",
            mapped,
            new_name,
            file: "apps/x/overlays/platform/kustomization.yaml",
            line: 23,
        }
    }

    #[test]
    fn an_ecr_new_name_is_what_the_cluster_pulls() {
        let uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/backend";
        let image = ecr_image(&entry(Some(uri), None), DEFAULT).expect("ECR");
        assert_eq!(
            image,
            EcrImage {
                registry_id: Some("123456789012".into()),
                region: "eu-west-1".into(),
                repository: "team/backend".into(),
            }
        );
    }

    #[test]
    fn without_new_name_the_mapping_or_the_name_in_the_default_registry() {
        let mapped = ecr_image(&entry(None, Some("sample/backend")), DEFAULT).expect("ok");
        assert_eq!(mapped.repository, "sample/backend");
        assert_eq!(mapped.region, "us-east-1");
        assert_eq!(mapped.registry_id, None);
        let named = ecr_image(&entry(None, None), DEFAULT).expect("ok");
        assert_eq!(named.repository, "backend");
    }

    /// Issue 9: an entry whose newName is not an ECR URI made the run check an ECR repository
    /// the cluster never pulls.
    #[test]
    fn a_new_name_in_another_registry_cannot_be_verified_in_ecr() {
        for other in [
            "docker.io/library/nginx",
            "ghcr.io/org/backend",
            "backend-v2",
        ] {
            let err = ecr_image(&entry(Some(other), Some("backend")), DEFAULT).expect_err(other);
            assert!(matches!(err, PullError::NotEcr { .. }), "{other}: {err:?}");
            let text = err.to_string();
            assert!(text.contains(other) && text.contains(":23:"), "{text}");
        }
    }

    /// Issue 9: without newName, an entry whose name is in another registry was checked as an
    /// ECR repository of that name, and one whose name is an ECR URI as a repository named by
    /// the whole URI.
    #[test]
    fn without_new_name_a_name_with_a_registry_is_what_the_cluster_pulls() {
        let named = |image| Entry {
            image,
            ..entry(None, None)
        };
        let err = ecr_image(&named("ghcr.io/org/backend"), DEFAULT).expect_err("not ECR");
        assert!(matches!(err, PullError::NotEcr { .. }), "{err:?}");
        assert!(err.to_string().contains("`ghcr.io/org/backend`"), "{err}");
        let uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/backend";
        let image = ecr_image(&named(uri), DEFAULT).expect("ECR");
        assert_eq!(image.repository, "team/backend");
        assert_eq!(image.region, "eu-west-1");
        assert_eq!(image.registry_id.as_deref(), Some("123456789012"));
    }

    #[test]
    fn a_mapping_that_disagrees_with_new_name_is_refused() {
        let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/backend";
        let err =
            ecr_image(&entry(Some(uri), Some("other/backend")), DEFAULT).expect_err("differs");
        assert!(matches!(err, PullError::Disagrees { .. }));
        assert!(ecr_image(&entry(Some(uri), Some("team/backend")), DEFAULT).is_ok());
    }

    #[test]
    fn ecr_uris_are_recognised_strictly() {
        assert!(
            EcrImage::from_uri("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/x").is_some()
        );
        assert!(EcrImage::from_uri("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/x").is_some());
        for not in [
            "12345678901.dkr.ecr.us-east-1.amazonaws.com/x",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/",
            "123456789012.dkr.ecr.us-east-1.example.com/x",
            "public.ecr.aws/x/y",
        ] {
            assert_eq!(EcrImage::from_uri(not), None, "{not}");
        }
    }

    #[test]
    fn one_image_two_digests_cannot_be_pinned() {
        let pulled = [("backend", "sha256:aa"), ("backend", "sha256:bb")];
        assert!(matches!(
            digests_by_image(pulled, true),
            Err(PullError::TwoDigests { .. })
        ));
        let digests = digests_by_image(pulled, false).expect("not pinned");
        assert_eq!(digests["backend"], "sha256:bb");
    }
}
