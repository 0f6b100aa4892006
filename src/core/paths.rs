//! Which kustomization files a run edits: the `paths` patterns matched against a listing of the
//! repository's files. The same rules serve a local checkout and a repository read over an API.

use std::collections::BTreeSet;

use glob::{MatchOptions, Pattern};

use super::kustomization::FILE_NAMES;

const MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// A validated `paths` entry: relative to the repository root, never leaving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    pattern: Pattern,
    /// Whether the entry has glob characters. A literal entry must match; a glob may not.
    glob: bool,
}

impl PathPattern {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.starts_with('/') || s.starts_with('\\') || s.get(1..3) == Some(":\\") {
            return Err(format!(
                "`{s}` is absolute; give paths relative to the GitOps repository root"
            ));
        }
        let parts: Vec<&str> = s
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(format!(
                "`{s}` leaves the GitOps repository root (`..` is not allowed)"
            ));
        }
        let text = if parts.is_empty() {
            ".".to_owned()
        } else {
            parts.join("/")
        };
        let pattern = Pattern::new(&text).map_err(|e| format!("`{s}` is not a valid glob: {e}"))?;
        let glob = text.contains(['*', '?', '[']);
        Ok(Self {
            text,
            pattern,
            glob,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this pattern could select `dir` (a directory, relative to the root) or anything
    /// below it: each of `dir`'s components matches the pattern's component at the same depth,
    /// or the pattern reaches any depth (`**`) before running out.
    pub fn may_reach(&self, dir: &str) -> bool {
        let pattern: Vec<&str> = self.text.split('/').collect();
        for (i, part) in dir.split('/').enumerate() {
            let Some(p) = pattern.get(i) else {
                return false;
            };
            if *p == "**" {
                return true;
            }
            if !Pattern::new(p).is_ok_and(|p| p.matches_with(part, MATCH)) {
                return false;
            }
        }
        true
    }

    /// The directory below which every match lies: the components before the first glob.
    pub fn base(&self) -> String {
        let literal: Vec<&str> = self
            .text
            .split('/')
            .take_while(|p| !p.contains(['*', '?', '[']))
            .collect();
        if self.glob || literal.is_empty() {
            let base = literal.join("/");
            if base.is_empty() {
                ".".to_owned()
            } else {
                base
            }
        } else {
            self.text.clone()
        }
    }
}

/// The default: the app's base and every overlay, as the GitOps repo layout puts them.
pub fn default_patterns(app: &str) -> Vec<String> {
    vec![format!("apps/{app}/base"), format!("apps/{app}/overlays/*")]
}

/// The result of matching patterns against a listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Matched files, sorted, relative to the root with `/` separators.
    pub files: Vec<String>,
    /// Glob patterns that matched nothing (worth a warning, not an error).
    pub unmatched: Vec<String>,
}

/// Picks the files the patterns name from `listing` (paths relative to the root). A pattern names
/// a directory, whose kustomization file (by any of kustomize's three names) is taken, or a file;
/// a glob takes only kustomization files, never a README that happens to match.
pub fn select(patterns: &[PathPattern], listing: &[String]) -> Result<Selection, String> {
    let mut files = BTreeSet::new();
    let mut unmatched = Vec::new();
    for p in patterns {
        let mut by_dir = Vec::new();
        let mut hit = false;
        for path in listing {
            let (dir, name) = match path.rsplit_once('/') {
                Some((dir, name)) => (dir, name),
                None => (".", path.as_str()),
            };
            if FILE_NAMES.contains(&name) && p.pattern.matches_with(dir, MATCH) {
                by_dir.push((dir, path));
                hit = true;
            } else if (!p.glob || FILE_NAMES.contains(&name)) && p.pattern.matches_with(path, MATCH)
            {
                files.insert(path.clone());
                hit = true;
            }
        }
        by_dir.sort();
        for pair in by_dir.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(format!(
                    "`{}` holds more than one kustomization file ({} and {}); kustomize refuses \
                     that too: keep one",
                    pair[0].0, pair[0].1, pair[1].1
                ));
            }
        }
        files.extend(by_dir.into_iter().map(|(_, path)| path.clone()));
        if !hit {
            if p.glob {
                unmatched.push(p.text.clone());
            } else {
                return Err(format!(
                    "`{}` is neither a file nor a directory with a kustomization file ({})",
                    p.text,
                    FILE_NAMES.join(", ")
                ));
            }
        }
    }
    Ok(Selection {
        files: files.into_iter().collect(),
        unmatched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(ps: &[&str]) -> Vec<PathPattern> {
        ps.iter().map(|p| PathPattern::parse(p).expect(p)).collect()
    }

    fn listing() -> Vec<String> {
        [
            "apps/web/base/kustomization.yaml",
            "apps/web/base/deployment.yaml",
            "apps/web/overlays/platform/kustomization.yml",
            "apps/web/overlays/analytics/Kustomization",
            "apps/web/overlays/README.md",
            "apps/web/overlays/empty/notes.txt",
            "kustomization.yaml",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn default_patterns_take_the_base_and_every_overlay() {
        let sel = select(
            &patterns(&["apps/web/base", "apps/web/overlays/*"]),
            &listing(),
        )
        .expect("selects");
        assert_eq!(
            sel.files,
            [
                "apps/web/base/kustomization.yaml",
                "apps/web/overlays/analytics/Kustomization",
                "apps/web/overlays/platform/kustomization.yml",
            ]
        );
    }

    #[test]
    fn a_pattern_may_name_a_file_or_the_root() {
        let sel = select(
            &patterns(&["./", "apps/web/base/kustomization.yaml"]),
            &listing(),
        )
        .expect("selects");
        assert_eq!(
            sel.files,
            ["apps/web/base/kustomization.yaml", "kustomization.yaml"]
        );
    }

    #[test]
    fn a_literal_that_matches_nothing_fails_and_a_glob_warns() {
        let err = select(&patterns(&["apps/web/overlays/empty"]), &listing())
            .expect_err("no kustomization");
        assert!(err.contains("apps/web/overlays/empty"), "{err}");
        let sel = select(&patterns(&["apps/api/*"]), &listing()).expect("selects");
        assert_eq!(sel.unmatched, ["apps/api/*"]);
    }

    #[test]
    fn two_kustomization_files_in_one_directory_fail() {
        let mut files = listing();
        files.push("apps/web/base/kustomization.yml".into());
        assert!(select(&patterns(&["apps/web/base"]), &files).is_err());
    }

    #[test]
    fn a_pattern_reaches_the_directories_it_could_select_from() {
        let p = PathPattern::parse("apps/*/overlays/*").expect("ok");
        for dir in [
            "apps",
            "apps/web",
            "apps/web/overlays",
            "apps/web/overlays/prod",
        ] {
            assert!(p.may_reach(dir), "{dir}");
        }
        for dir in ["other", "apps/web/base", "apps/web/overlays/prod/extra"] {
            assert!(!p.may_reach(dir), "{dir}");
        }
        let deep = PathPattern::parse("apps/**/kustomization.yaml").expect("ok");
        assert!(deep.may_reach("apps/a/b/c"));
        assert!(!deep.may_reach("other/a"));
        let literal = PathPattern::parse("apps/web/base").expect("ok");
        assert!(literal.may_reach("apps/web/base"));
        assert!(!literal.may_reach("apps/web/base/vendor"));
        assert!(!PathPattern::parse(".").expect("ok").may_reach("apps"));
    }

    #[test]
    fn paths_stay_inside_the_root() {
        for bad in ["/etc", "../x", "apps/../../x", "a/..", "C:\\x"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PathPattern::parse("./apps//web/").expect("ok").as_str(),
            "apps/web"
        );
        assert_eq!(
            PathPattern::parse("apps/*/overlays/*").expect("ok").base(),
            "apps"
        );
        assert_eq!(
            PathPattern::parse("apps/web").expect("ok").base(),
            "apps/web"
        );
        assert_eq!(PathPattern::parse("*").expect("ok").base(), ".");
    }
}
