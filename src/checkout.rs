//! A local checkout of the GitOps repository: listing, reading and writing its kustomization
//! files, never outside its root (symlinks are resolved before that check).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::core::paths::PathPattern;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("cannot open the GitOps checkout `{path}`: {source}")]
    Root { path: PathBuf, source: io::Error },
    #[error("`{path}` resolves to `{target}`, outside the GitOps checkout")]
    Escapes { path: String, target: PathBuf },
    #[error("cannot read `{path}`: {source}")]
    Read { path: String, source: io::Error },
    #[error("`{path}` is not UTF-8 text")]
    NotText { path: String },
    #[error("cannot write `{path}`: {source}; nothing was written")]
    Write { path: String, source: io::Error },
}

pub struct Checkout {
    root: PathBuf,
}

impl Checkout {
    pub fn open(path: &Path) -> Result<Self, CheckoutError> {
        let root = path.canonicalize().map_err(|source| CheckoutError::Root {
            path: path.to_owned(),
            source,
        })?;
        if !root.is_dir() {
            return Err(CheckoutError::Root {
                path: path.to_owned(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        Ok(Self { root })
    }

    /// The files below each pattern's literal base, relative to the root with `/` separators.
    /// Symlinked directories are followed while they stay inside the root; `.git` is skipped.
    pub fn list(&self, patterns: &[PathPattern]) -> Result<Vec<String>, CheckoutError> {
        let mut files = Vec::new();
        let mut seen = HashSet::new();
        for pattern in patterns {
            let base = pattern.base();
            let rel = if base == "." { String::new() } else { base };
            let full = self.root.join(&rel);
            match fs::metadata(&full) {
                Ok(meta) if meta.is_dir() => self.walk(&rel, &mut files, &mut seen)?,
                Ok(_) => files.push(rel),
                Err(_) => {}
            }
        }
        files.sort();
        files.dedup();
        Ok(files)
    }

    fn walk(
        &self,
        rel: &str,
        files: &mut Vec<String>,
        seen: &mut HashSet<PathBuf>,
    ) -> Result<(), CheckoutError> {
        let dir = self.resolve(rel)?;
        if !seen.insert(dir.clone()) {
            return Ok(());
        }
        let read_err = |source| CheckoutError::Read {
            path: rel.to_owned(),
            source,
        };
        for entry in fs::read_dir(&dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ".git" {
                continue;
            }
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // `metadata` follows symlinks: a link to a directory is walked (if inside the root).
            match fs::metadata(entry.path()) {
                Ok(meta) if meta.is_dir() => match self.walk(&child, files, seen) {
                    Err(CheckoutError::Escapes { .. }) => {}
                    other => other?,
                },
                Ok(_) => files.push(child),
                Err(_) => {} // a dangling link names nothing to edit
            }
        }
        Ok(())
    }

    /// The canonical path of `rel`, which must lie inside the root.
    fn resolve(&self, rel: &str) -> Result<PathBuf, CheckoutError> {
        let target = self
            .root
            .join(rel)
            .canonicalize()
            .map_err(|source| CheckoutError::Read {
                path: rel.to_owned(),
                source,
            })?;
        if target.starts_with(&self.root) {
            Ok(target)
        } else {
            Err(CheckoutError::Escapes {
                path: rel.to_owned(),
                target,
            })
        }
    }

    pub fn read(&self, rel: &str) -> Result<String, CheckoutError> {
        let bytes = fs::read(self.resolve(rel)?).map_err(|source| CheckoutError::Read {
            path: rel.to_owned(),
            source,
        })?;
        String::from_utf8(bytes).map_err(|_| CheckoutError::NotText {
            path: rel.to_owned(),
        })
    }

    /// Writes every file or none: each new text goes to a temporary file beside its target
    /// first, and only when all are written are they renamed over the originals.
    pub fn write_all<'a>(
        &self,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), CheckoutError> {
        let mut staged: Vec<(PathBuf, PathBuf, &str)> = Vec::new();
        let result = (|| {
            for (rel, text) in files {
                let target = self.resolve(rel)?;
                let tmp = target.with_file_name(format!(
                    ".{}.gitops-promote.tmp",
                    target
                        .file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                ));
                let write_err = |source| CheckoutError::Write {
                    path: rel.to_owned(),
                    source,
                };
                fs::write(&tmp, text).map_err(write_err)?;
                staged.push((tmp.clone(), target.clone(), rel));
                let meta = fs::metadata(&target).map_err(write_err)?;
                fs::set_permissions(&tmp, meta.permissions()).map_err(write_err)?;
                // A Docker action runs as root on a workspace the runner's user owns: keep the
                // file's owner, or later steps could not change it. Without root this fails,
                // and the file was ours anyway.
                let _ = std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid()));
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (tmp, _, _) in &staged {
                let _ = fs::remove_file(tmp);
            }
            return Err(e);
        }
        for (tmp, target, rel) in &staged {
            fs::rename(tmp, target).map_err(|source| CheckoutError::Write {
                path: (*rel).to_owned(),
                source,
            })?;
        }
        Ok(())
    }
}
