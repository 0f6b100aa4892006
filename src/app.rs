//! The only place that sequences a run: select and read files -> verify images in ECR ->
//! patch -> write. Nothing is written unless every step before it succeeded.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use anyhow::{Context, bail};

use crate::actions::{Annotation, Workflow};
use crate::aws::ecr::{self, EcrImage};
use crate::aws::{Credentials, oidc, sts};
use crate::checkout::Checkout;
use crate::config::Config;
use crate::core::change::{ChangeSet, FileChange};
use crate::core::kustomization::{self, EditError, Target};
use crate::core::paths;

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub changes: ChangeSet,
    /// Whether files were written (false for a no-op or a dry run).
    pub written: bool,
    /// The digest of each image, when verified in ECR.
    pub digests: BTreeMap<String, String>,
}

/// Problems found in kustomization files, each with its place; reported together.
#[derive(Debug)]
pub struct FileProblems(pub Vec<(Annotation, String)>);

impl std::error::Error for FileProblems {}

impl fmt::Display for FileProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        let s = if n == 1 { "" } else { "s" };
        write!(
            f,
            "{n} kustomization file{s} could not be edited, so nothing was written"
        )
    }
}

fn problem(path: &str, e: &EditError) -> (Annotation, String) {
    let (line, col) = e.position().unzip();
    let at = Annotation {
        file: path.to_owned(),
        line,
        col,
    };
    (at, e.to_string())
}

pub fn run(config: &Config, log: &mut Workflow<impl Write>) -> anyhow::Result<Outcome> {
    log.group("Select kustomization files")?;
    let checkout = Checkout::open(&config.gitops_path)?;
    let listing = checkout.list(&config.paths).context("input `paths`")?;
    let selection = paths::select(&config.paths, &listing)
        .map_err(|m| anyhow::anyhow!("input `paths`: {m}"))?;
    for pattern in &selection.unmatched {
        log.warning(
            &format!("input `paths`: `{pattern}` matches no kustomization file"),
            None,
        )?;
    }
    if selection.files.is_empty() {
        let patterns: Vec<String> = config
            .paths
            .iter()
            .map(|p| format!("`{}`", p.as_str()))
            .collect();
        bail!(
            "input `paths`: no kustomization file found under {} in `{}`",
            patterns.join(", "),
            config.gitops_path.display()
        );
    }
    log.debug(&format!(
        "listed {} file(s) under the paths' base directories",
        listing.len()
    ))?;
    let mut files = Vec::new();
    for path in &selection.files {
        log.info(path)?;
        files.push((path.clone(), checkout.read(path)?));
    }
    log.end_group()?;

    // What the files make the cluster pull, image by image.
    let mut pulled: Vec<(String, Option<String>, String)> = Vec::new(); // image, newName, file
    let mut problems = Vec::new();
    for (path, text) in &files {
        match kustomization::image_entries(text) {
            Ok(entries) => pulled.extend(
                entries
                    .into_iter()
                    .filter(|e| config.images.iter().any(|i| i.name == e.name))
                    .map(|e| (e.name, e.new_name, path.clone())),
            ),
            Err(e) => problems.push(problem(path, &e)),
        }
    }
    if !problems.is_empty() {
        // Report the other files' problems too, so one run shows everything to fix.
        let no_digests = BTreeMap::new();
        let targets = targets(config, &no_digests);
        for (path, text) in &files {
            if problems.iter().any(|(at, _)| at.file == *path) {
                continue;
            }
            match kustomization::edit(text, &targets) {
                Err(EditError::StaleDigest { .. }) if config.pin_digest => {}
                Err(e) => problems.push(problem(path, &e)),
                Ok(_) => {}
            }
        }
        return Err(FileProblems(problems).into());
    }
    let missing: Vec<String> = config
        .images
        .iter()
        .filter(|i| !pulled.iter().any(|(name, _, _)| *name == i.name))
        .map(|i| format!("`{}`", i.name))
        .collect();
    if !missing.is_empty() {
        bail!(
            "input `images`: no `images:` entry names {} in {}; check the spelling, or add an \
             entry with `name: <image>` to the kustomization",
            missing.join(", "),
            selection.files.join(", ")
        );
    }

    let digests = if config.verify_images {
        log.group("Verify images in Amazon ECR")?;
        let digests = verify(config, &pulled, log)?;
        log.end_group()?;
        digests
    } else {
        BTreeMap::new()
    };

    log.group("Patch image tags")?;
    let targets = targets(config, &digests);
    let mut changes = ChangeSet::default();
    for (path, before) in files {
        match kustomization::edit(&before, &targets) {
            Ok(edited) => changes.files.push(FileChange {
                path,
                before,
                after: edited.text,
                entries: edited.entries,
            }),
            Err(e) => problems.push(problem(&path, &e)),
        }
    }
    if !problems.is_empty() {
        return Err(FileProblems(problems).into());
    }
    log.info(&changes.summary())?;
    log.end_group()?;

    if changes.is_noop() {
        log.notice(&format!(
            "nothing to change: every image is already at {}",
            config.tag
        ))?;
        return Ok(Outcome {
            changes,
            written: false,
            digests,
        });
    }
    if config.dry_run {
        log.notice("dry run: nothing was written")?;
        return Ok(Outcome {
            changes,
            written: false,
            digests,
        });
    }
    checkout.write_all(
        changes
            .changed()
            .map(|f| (f.path.as_str(), f.after.as_str())),
    )?;
    log.info(&format!("wrote {} file(s)", changes.changed().count()))?;
    Ok(Outcome {
        changes,
        written: true,
        digests,
    })
}

/// Proves every pulled image exists in ECR at the new tag, reporting all that do not together,
/// and returns each image's digest.
fn verify(
    config: &Config,
    pulled: &[(String, Option<String>, String)],
    log: &mut Workflow<impl Write>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let aws = &config.aws;
    let region = aws
        .region
        .as_deref()
        .context("input `aws_region`: not set")?;

    // Which registry image each entry pulls, and the files that pull it.
    let mut wanted: BTreeMap<EcrImage, (String, Vec<String>)> = BTreeMap::new();
    for (name, new_name, file) in pulled {
        let spec = config
            .images
            .iter()
            .find(|i| i.name == *name)
            .context("a configured image")?;
        let from_uri = new_name.as_deref().and_then(EcrImage::from_uri);
        let image = match (from_uri, &spec.repository) {
            (Some(uri), Some(repo)) if uri.repository != *repo => bail!(
                "input `images`: `{name}={repo}` disagrees with {file}, whose newName `{}` is \
                 repository `{}`; fix one of them",
                new_name.as_deref().unwrap_or_default(),
                uri.repository
            ),
            (Some(uri), _) => uri,
            (None, repo) => EcrImage {
                registry_id: aws.registry_id.clone(),
                region: region.to_owned(),
                repository: repo.clone().unwrap_or_else(|| name.clone()),
            },
        };
        wanted
            .entry(image)
            .or_insert_with(|| (name.clone(), Vec::new()))
            .1
            .push(file.clone());
    }

    let credentials = match &aws.role_arn {
        Some(role_arn) => {
            let token = oidc::fetch(&aws.oidc, &aws.audience)?;
            log.add_mask(token.expose())?;
            let runtime = runtime()?;
            let request = sts::AssumeRole {
                role_arn,
                session_name: &aws.session_name,
                duration_seconds: aws.duration_seconds,
                audience: &aws.audience,
                region,
            };
            let credentials = runtime.block_on(sts::assume_role(&request, &token))?;
            if let Credentials::Session {
                access_key_id,
                secret_access_key,
                session_token,
            } = &credentials
            {
                for secret in [access_key_id, secret_access_key, session_token] {
                    log.add_mask(secret.expose())?;
                }
            }
            log.info(&format!(
                "assumed {role_arn} as session {}",
                aws.session_name
            ))?;
            credentials
        }
        None => Credentials::DefaultChain,
    };

    let images: Vec<EcrImage> = wanted.keys().cloned().collect();
    let results = runtime()?.block_on(ecr::describe_all(
        &images,
        config.tag.as_str(),
        &credentials,
    ));
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = Vec::new();
    for (image, result) in images.iter().zip(results) {
        let (name, files) = &wanted[image];
        match result {
            Ok(digest) => {
                log.info(&format!(
                    "{name}: {}:{} is {digest}",
                    image.repository, config.tag
                ))?;
                if config.pin_digest
                    && let Some(other) = digests.get(name).filter(|d| **d != digest)
                {
                    bail!(
                        "`{name}` resolves to two digests ({other} and {digest}) in different \
                         registries; pin_digest can write only one"
                    );
                }
                digests.insert(name.clone(), digest);
            }
            Err(missing) => failures.push(format!(
                "image `{name}` (in {}): {}",
                files.join(", "),
                missing.describe(image, config.tag.as_str())
            )),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} image(s) could not be verified in ECR, so nothing was written:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(digests)
}

/// What each image is promoted to; digests only with `pin_digest`.
fn targets<'a>(config: &'a Config, digests: &'a BTreeMap<String, String>) -> Vec<Target<'a>> {
    config
        .images
        .iter()
        .map(|image| Target {
            image: &image.name,
            tag: config.tag.as_str(),
            digest: digests
                .get(&image.name)
                .map(String::as_str)
                .filter(|_| config.pin_digest),
        })
        .collect()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
