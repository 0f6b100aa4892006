//! Image references as the action's inputs name them: image names, tags, digests and ECR
//! repository names, each validated by the grammar of the registry that will receive it.

use std::fmt;

/// A tag, by Docker's grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if first_ok && rest_ok && s.len() <= 128 {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "`{s}` is not a valid tag: use 1 to 128 characters of A-Z, a-z, 0-9, `_`, `.` and `-`, \
                 not starting with `.` or `-`"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image to promote: the `name` kustomize matches in `images:` entries, and optionally the
/// ECR repository that holds it (`name=ecr-repository` in the `images` input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub repository: Option<String>,
}

impl ImageSpec {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, repository) = match s.split_once('=') {
            Some((name, repo)) => (name.trim(), Some(repo.trim())),
            None => (s.trim(), None),
        };
        if name.is_empty() && repository.is_some() {
            return Err(format!(
                "`{s}` has no image name before `=`; write `name=ecr-repository`"
            ));
        }
        if !is_reference_name(name) {
            return Err(format!(
                "`{name}` is not a valid image name: lowercase path components of a-z, 0-9 and \
                 `.`, `_`, `-` separators, joined by `/`, optionally after a registry host"
            ));
        }
        if repository == Some("") {
            return Err(format!(
                "`{s}` maps `{name}` to no repository: give `{name}` alone, or \
                 `{name}=ecr-repository`"
            ));
        }
        if let Some((host, path)) = repository.and_then(|r| r.split_once('/'))
            && is_ecr_host(host)
        {
            return Err(format!(
                "`{s}` maps `{name}` to an image URI; give the repository name after the \
                 registry instead: `{name}={path}`"
            ));
        }
        if let Some(repo) = repository
            && !is_ecr_repository(repo)
        {
            return Err(format!(
                "`{repo}` (for image `{name}`) is not a valid ECR repository name: 2 to 256 \
                     characters, lowercase path components of a-z, 0-9 and `.`, `_`, `-`, joined by `/`"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            repository: repository.map(str::to_owned),
        })
    }
}

/// Whether a reference names its registry (`ghcr.io/org/app`, `localhost:5000/app`), as Docker
/// decides: its first of several components looks like a host.
pub fn has_registry_host(reference: &str) -> bool {
    reference
        .split_once('/')
        .is_some_and(|(first, _)| is_domain(first))
}

/// Docker's reference grammar for the name part: `[domain[:port]/]component(/component)*`.
fn is_reference_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && is_domain(parts[0]) {
        parts.remove(0);
    }
    !parts.is_empty() && parts.iter().all(|c| is_path_component(c))
}

/// A registry host: contains a `.` or a `:port`, or is `localhost`, as Docker decides.
fn is_domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let looks_like_host = s.contains('.') || port.is_some() || s == "localhost";
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    looks_like_host && host_ok && port_ok
}

/// `<account>.dkr.ecr...`: the registry part of an ECR image URI.
fn is_ecr_host(host: &str) -> bool {
    host.split_once(".dkr.ecr").is_some_and(|(account, _)| {
        account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty() || !is_lower_alnum(bytes[0]) || !is_lower_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_lower_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_lower_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// ECR's repository name grammar: `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`.
fn is_ecr_repository(repo: &str) -> bool {
    (2..=256).contains(&repo.len())
        && repo.split('/').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && is_lower_alnum(b[0])
                && is_lower_alnum(b[b.len() - 1])
                && b.windows(2)
                    .all(|w| is_lower_alnum(w[0]) || is_lower_alnum(w[1]))
                && b.iter()
                    .all(|&c| is_lower_alnum(c) || matches!(c, b'.' | b'_' | b'-'))
        })
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_dockers_grammar() {
        for ok in ["v1", "sha-1a2b3c4", "1.10", "_x", "A-b.c_d"] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".v1", "-v1", "v 1", "v1:2", "ü", &"a".repeat(129)] {
            assert!(Tag::parse(bad).is_err(), "{bad}");
        }
        assert!(Tag::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn image_names_are_docker_references() {
        for ok in [
            "backend",
            "sample-saas-app/backend",
            "ghcr.io/org/app",
            "localhost:5000/app",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/backend",
            "a__b",
            "a---b",
        ] {
            assert!(ImageSpec::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Backend",
            "back end",
            "a/",
            "/a",
            "a..b",
            "-a",
            "a:tag",
            "a@sha256:00",
        ] {
            assert!(ImageSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_registry_host_is_what_docker_takes_for_one() {
        for named in [
            "ghcr.io/org/app",
            "localhost:5000/app",
            "localhost/app",
            "docker.io/nginx",
        ] {
            assert!(has_registry_host(named), "{named}");
        }
        for bare in ["backend", "team/backend", "library/nginx", "a_b/c"] {
            assert!(!has_registry_host(bare), "{bare}");
        }
    }

    #[test]
    fn an_ecr_repository_may_follow_the_name() {
        let spec = ImageSpec::parse("backend = team/backend").expect("valid");
        assert_eq!(spec.name, "backend");
        assert_eq!(spec.repository.as_deref(), Some("team/backend"));
        assert!(ImageSpec::parse("backend=Team").is_err());
        assert!(ImageSpec::parse("backend=a").is_err());
        assert!(ImageSpec::parse("backend=a//b").is_err());
    }

    #[test]
    fn a_mapping_without_one_side_or_with_a_uri_says_what_to_write() {
        let err = ImageSpec::parse("backend=").expect_err("no repository");
        assert!(err.contains("maps `backend` to no repository"), "{err}");
        let err = ImageSpec::parse("=team/backend").expect_err("no name");
        assert!(err.contains("no image name before `=`"), "{err}");
        let err =
            ImageSpec::parse("backend=123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/backend")
                .expect_err("a URI");
        assert!(err.contains("`backend=team/backend`"), "{err}");
    }
}
