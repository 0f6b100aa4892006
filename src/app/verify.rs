//! Verification in Amazon ECR: the role's session (GitHub OIDC, then STS), and every pulled
//! image's digest at the new tag. Credentials and digests are kept, so a re-read after a conflict
//! asks ECR only about images it has not seen; the session can be started before the files are
//! read, so it overlaps the GitHub read.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, bail};

use crate::actions::Workflow;
use crate::aws::{Credentials, ecr, oidc, sts};
use crate::config::Config;
use crate::core::pull::{self, DefaultRegistry, EcrImage, Entry};
use crate::secret::Secret;

/// An assumed session, and what to tell the log about it once the log is free.
pub struct Session {
    credentials: Credentials,
    masks: Vec<Secret>,
    note: Option<String>,
}

#[derive(Default)]
pub struct Verifier {
    session: Option<Credentials>,
    found: BTreeMap<EcrImage, String>,
}

impl Verifier {
    /// Whether the credentials are still to be fetched for this run.
    pub fn needs_session(&self, config: &Config) -> bool {
        config.verify_images && self.session.is_none()
    }

    /// Keeps a session fetched ahead of need, announcing its secrets to the runner first.
    pub fn keep(&mut self, session: Session, log: &mut Workflow<impl Write>) -> anyhow::Result<()> {
        for secret in &session.masks {
            log.add_mask(secret.expose())?;
        }
        if let Some(note) = &session.note {
            log.info(note)?;
        }
        self.session = Some(session.credentials);
        Ok(())
    }

    /// Proves every pulled image exists in ECR at the new tag, reporting all that do not
    /// together, and returns each image's digest.
    pub async fn verify(
        &mut self,
        config: &Config,
        entries: &[Entry<'_>],
        log: &mut Workflow<impl Write>,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let region = region(config)?;
        let default = DefaultRegistry {
            registry_id: config
                .aws
                .registry_id
                .as_deref()
                .or_else(|| role_account(config)),
            region,
        };
        // Which registry image each entry pulls, and the files that pull it.
        let mut wanted: BTreeMap<EcrImage, (&str, Vec<&str>)> = BTreeMap::new();
        for entry in entries {
            let image = pull::ecr_image(entry, default)?;
            wanted
                .entry(image)
                .or_insert_with(|| (entry.image, Vec::new()))
                .1
                .push(entry.file);
        }

        let unseen: Vec<EcrImage> = wanted
            .keys()
            .filter(|i| !self.found.contains_key(*i))
            .cloned()
            .collect();
        if !unseen.is_empty() {
            if self.session.is_none() {
                let session = session(config).await?;
                self.keep(session, log)?;
            }
            let credentials = self.session.as_ref().context("a session")?;
            let results = ecr::describe_all(&unseen, config.tag.as_str(), credentials).await;
            let mut failures = Vec::new();
            for (image, result) in unseen.iter().zip(results) {
                let (name, files) = &wanted[image];
                match result {
                    Ok(digest) => {
                        log.info(&format!(
                            "{name}: {}:{} is {digest}",
                            image.repository, config.tag
                        ))?;
                        self.found.insert(image.clone(), digest);
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
        }
        let pulled = wanted
            .iter()
            .map(|(image, (name, _))| (*name, self.found[image].as_str()));
        Ok(pull::digests_by_image(pulled, config.pin_digest)?)
    }
}

/// The account of the role's credentials, which is the account in the role's ARN
/// (`arn:aws:iam::<account>:role/...`): the default registry, named, so that an entry without
/// `newName` and an overlay's ECR URI of the same repository are one image, looked up once.
fn role_account(config: &Config) -> Option<&str> {
    let arn = config.aws.role_arn.as_deref()?;
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

fn region(config: &Config) -> anyhow::Result<&str> {
    config
        .aws
        .region
        .as_deref()
        .context("input `aws_region`: not set")
}

/// The role's session through GitHub OIDC, or the standard chain without a role.
pub async fn session(config: &Config) -> anyhow::Result<Session> {
    let aws = &config.aws;
    let Some(role_arn) = &aws.role_arn else {
        return Ok(Session {
            credentials: Credentials::DefaultChain,
            masks: Vec::new(),
            note: None,
        });
    };
    let region = region(config)?;
    let (request, audience) = (aws.oidc.clone(), aws.audience.clone());
    let token = tokio::task::spawn_blocking(move || oidc::fetch(&request, &audience)).await??;
    let request = sts::AssumeRole {
        role_arn,
        session_name: &aws.session_name,
        duration_seconds: aws.duration_seconds,
        audience: &aws.audience,
        region,
    };
    let credentials = sts::assume_role(&request, &token).await?;
    let mut masks = vec![token];
    if let Credentials::Session {
        access_key_id,
        secret_access_key,
        session_token,
    } = &credentials
    {
        masks.extend([
            access_key_id.clone(),
            secret_access_key.clone(),
            session_token.clone(),
        ]);
    }
    Ok(Session {
        credentials,
        masks,
        note: Some(format!(
            "assumed {role_arn} as session {}",
            aws.session_name
        )),
    })
}
