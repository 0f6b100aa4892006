//! A local checkout of the GitOps repository: listing, reading and writing its kustomization
//! files, never outside its root (symlinks are resolved before that check).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::core::paths::PathPattern;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("cannot open the GitOps checkout `{path}`: {source}")]
    Root { path: PathBuf, source: io::Error },
    #[error("`{path}` resolves to `{target}`, outside the GitOps checkout")]
    Escapes { path: String, target: PathBuf },
    #[error("cannot read `{path}`: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}:{line}:{col}: not UTF-8 text; a kustomization file must be UTF-8")]
    NotText {
        path: String,
        line: usize,
        col: usize,
    },
    #[error("`{path}` is not a regular file")]
    NotAFile { path: String },
    #[error(
        "`{path}` is {mib} MiB, larger than the {max} MiB a kustomization file may be; check \
         that `paths` selects the right file",
        mib = format!("{:.1}", *size as f64 / f64::from(1 << 20)),
        max = MAX_FILE_BYTES >> 20
    )]
    TooLarge { path: String, size: u64 },
    #[error("cannot write `{path}`: {source}; nothing was written")]
    Write { path: String, source: io::Error },
}

impl CheckoutError {
    /// The file the error is about, relative to the checkout, with a line and column where
    /// there is one: the place of a workflow annotation.
    pub fn place(&self) -> Option<(&str, Option<usize>, Option<usize>)> {
        match self {
            Self::NotText { path, line, col } => Some((path, Some(*line), Some(*col))),
            Self::Escapes { path, .. }
            | Self::Read { path, .. }
            | Self::NotAFile { path }
            | Self::TooLarge { path, .. }
            | Self::Write { path, .. } => Some((path, None, None)),
            Self::Root { .. } => None,
        }
    }
}

/// The largest kustomization file read. Real ones are kilobytes. Parsing, checking and reading
/// back an edit costs up to about 150 bytes of memory per byte of YAML (a long flow list of short
/// values), so the bound keeps a stray or hostile file to some 150 MiB and well under a second.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

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
    /// A symlinked directory that leaves the root fails the listing when a pattern could match
    /// it or something below it: skipping it would silently leave its kustomizations unedited.
    pub fn list(&self, patterns: &[PathPattern]) -> Result<Vec<String>, CheckoutError> {
        let mut files = Vec::new();
        let mut seen = HashSet::new();
        let mut escapes = BTreeMap::new();
        for pattern in patterns {
            let base = pattern.base();
            let rel = if base == "." { String::new() } else { base };
            let full = self.root.join(&rel);
            match fs::metadata(&full) {
                Ok(meta) if meta.is_dir() => {
                    self.walk(&rel, &mut files, &mut seen, &mut escapes)?;
                }
                Ok(_) => files.push(rel),
                Err(_) => {}
            }
        }
        if let Some((path, target)) = escapes
            .into_iter()
            .find(|(path, _)| patterns.iter().any(|p| p.may_reach(path)))
        {
            return Err(CheckoutError::Escapes { path, target });
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
        escapes: &mut BTreeMap<String, PathBuf>,
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
                Ok(meta) if meta.is_dir() => match self.walk(&child, files, seen, escapes) {
                    Err(CheckoutError::Escapes { path, target }) => {
                        escapes.insert(path, target);
                    }
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

    /// Reads a regular file of at most [`MAX_FILE_BYTES`] as UTF-8 text. A FIFO or a device
    /// is refused before it is opened: reading one could block forever or never end.
    pub fn read(&self, rel: &str) -> Result<String, CheckoutError> {
        let read_err = |source| CheckoutError::Read {
            path: rel.to_owned(),
            source,
        };
        let path = self.resolve(rel)?;
        let meta = fs::metadata(&path).map_err(read_err)?;
        if !meta.is_file() {
            return Err(CheckoutError::NotAFile {
                path: rel.to_owned(),
            });
        }
        let too_large = |size| CheckoutError::TooLarge {
            path: rel.to_owned(),
            size,
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large(meta.len()));
        }
        let mut bytes = Vec::new();
        fs::File::open(&path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(bytes.len() as u64)); // it grew while being read
        }
        String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            // Valid up to here, so the lossy view changes nothing before the bad byte.
            let before = String::from_utf8_lossy(valid);
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            CheckoutError::NotText {
                path: rel.to_owned(),
                line,
                col,
            }
        })
    }

    /// Writes every file or none: each new text goes to a temporary file beside its target
    /// first, and only when all are written are they renamed over the originals.
    ///
    /// A temporary file gets a fresh random name and is created exclusively (`O_EXCL`), so no
    /// file or symlink already in the checkout is ever opened for writing (issue 9: a symlink
    /// committed at a fixed temporary name made the write follow it out of the root). Until it
    /// is renamed, a temporary file is removed when dropped, on any error.
    pub fn write_all<'a>(
        &self,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), CheckoutError> {
        let mut staged: Vec<(NamedTempFile, PathBuf, &str)> = Vec::new();
        for (rel, text) in files {
            let write_err = |source| CheckoutError::Write {
                path: rel.to_owned(),
                source,
            };
            let target = self.resolve(rel)?;
            let meta = fs::metadata(&target).map_err(write_err)?;
            let dir = target.parent().unwrap_or(&self.root);
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let mut tmp = tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".gitops-promote.tmp")
                .tempfile_in(dir)
                .map_err(write_err)?;
            tmp.write_all(text.as_bytes()).map_err(write_err)?;
            let file = tmp.as_file();
            file.set_permissions(meta.permissions())
                .map_err(write_err)?;
            // A Docker action runs as root on a workspace the runner's user owns: keep the
            // file's owner, or later steps could not change it. Without root this fails, and
            // the file was ours anyway.
            let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
            staged.push((tmp, target, rel));
        }
        for (tmp, target, rel) in staged {
            tmp.persist(&target).map_err(|e| CheckoutError::Write {
                path: rel.to_owned(),
                source: e.error,
            })?;
        }
        Ok(())
    }
}
