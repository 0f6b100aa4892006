//! The hostile-input corpus (issue 9): tags, image lists, paths, YAML and environments chosen to
//! break the binary, each run through the real binary in local mode (`gitops_path`) over a
//! fresh copy of `examples/flux-gitops-pipeline`, with a directory beside it that the run must
//! never touch.
//!
//! Every case must hold, whatever it expects:
//! - no panic: the exit code is neither 101 nor 134, no signal ended the run, and stderr never
//!   says "panicked";
//! - bounded memory: the run lives under `prlimit --as` (address space, [`MEMORY`]); past it an
//!   allocation fails, which aborts the process and fails the case;
//! - bounded time: a run still alive after [`GUARD`] is killed and fails the case (a hang
//!   guard, not a timing assertion);
//! - a failure exits 2 for a wrong input and 1 for a file problem, names what and where (for
//!   YAML, the file's `line` and `col` in an `::error file=...` annotation), and changes no byte,
//!   no mode and no symlink in the checkout or beside it;
//! - a case that reasonably succeeds (each says why) changes only what it should.
//!
//! Each group is one table-driven test that runs every case and reports all failures together.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Run, copy_tree, repo_root};

/// A run still alive after this long is killed: a hang guard, far above any real run.
const GUARD: Duration = Duration::from_secs(20);
/// The address space a run may use. A debug build maps about 100 MiB at start; the largest
/// legitimate case here (10,000 `images:` entries) needs far less than this.
const MEMORY: u64 = 1 << 30;

const BASE: &str = "apps/sample-saas-app/base/kustomization.yaml";
const PLATFORM: &str = "apps/sample-saas-app/overlays/platform/kustomization.yaml";

/// What a case must show.
enum Expect {
    /// Exits with `code`; the messages contain every needle; under Actions, an `::error`
    /// annotation with `file`, `line` and `col` when `at` is given.
    Fails {
        code: i32,
        says: Vec<String>,
        at: Option<(String, usize, usize)>,
    },
    /// Exits 0, the messages contain every needle, and `check` accepts the checkout after.
    Succeeds { says: Vec<String>, check: Check },
}

type Setup = Box<dyn Fn(&Path, &Path) + Send + Sync>;
type Check = Box<dyn Fn(&Path) -> Result<(), String> + Send + Sync>;

/// One hostile input: how to prepare the checkout, what to run, what must hold.
struct Case {
    name: String,
    /// Prepares the checkout (first argument) and the directory beside it (second).
    setup: Setup,
    inputs: Vec<(String, OsString)>,
    env: Vec<(OsString, OsString)>,
    /// Run as from a shell (no runner variables) instead of as the Actions runner does.
    shell: bool,
    expect: Expect,
}

fn case(name: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        setup: Box::new(|_, _| {}),
        inputs: Vec::new(),
        env: Vec::new(),
        shell: false,
        expect: Expect::Fails {
            code: -1,
            says: Vec::new(),
            at: None,
        },
    }
}

impl Case {
    fn input(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.inputs.push((name.to_owned(), value.into()));
        self
    }

    fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    fn shell(mut self) -> Self {
        self.shell = true;
        self
    }

    fn setup(mut self, f: impl Fn(&Path, &Path) + Send + Sync + 'static) -> Self {
        self.setup = Box::new(f);
        self
    }

    /// Replaces the base kustomization with `bytes`, and edits only the base.
    fn base(self, bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        self.input("paths", "apps/sample-saas-app/base")
            .setup(move |root, _| write(&root.join(BASE), &bytes))
    }

    /// An input error: exit 2.
    fn input_error(mut self, says: &[&str]) -> Self {
        self.expect = Expect::Fails {
            code: 2,
            says: strings(says),
            at: None,
        };
        self
    }

    /// A file problem: exit 1.
    fn file_error(mut self, says: &[&str]) -> Self {
        self.expect = Expect::Fails {
            code: 1,
            says: strings(says),
            at: None,
        };
        self
    }

    /// A file problem at a place in the base kustomization: exit 1 and an annotation.
    fn base_error_at(mut self, line: usize, col: usize, says: &[&str]) -> Self {
        self.expect = Expect::Fails {
            code: 1,
            says: strings(says),
            at: Some((BASE.to_owned(), line, col)),
        };
        self
    }

    fn succeeds(
        mut self,
        says: &[&str],
        check: impl Fn(&Path) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.expect = Expect::Succeeds {
            says: strings(says),
            check: Box::new(check),
        };
        self
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

/// Replaces `path` (a file or nothing) with a symlink to `target`.
fn link(path: &Path, target: &Path) {
    let _ = fs::remove_file(path);
    fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    symlink(target, path).expect("symlink");
}

/// A check that the file at `rel` holds `needle`.
fn holds(
    rel: &'static str,
    needle: &'static str,
) -> impl Fn(&Path) -> Result<(), String> + Send + Sync {
    move |root| {
        let text = fs::read_to_string(root.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
        if text.contains(needle) {
            Ok(())
        } else {
            Err(format!("{rel} lacks {needle:?}:\n{text}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running a case.

/// One entry of a tree, as `lstat` sees it: symlinks are recorded, never followed.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    /// `bytes` is `None` for a file the test cannot read (mode 000 without root).
    File {
        bytes: Option<Vec<u8>>,
        mode: u32,
    },
    Link(PathBuf),
    Dir(u32),
    Other,
}

fn tree(dir: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for entry in fs::read_dir(dir).expect("readable dir") {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let mode = meta.permissions().mode();
            let kind = if meta.file_type().is_symlink() {
                Entry::Link(fs::read_link(&path).expect("readlink"))
            } else if meta.is_dir() {
                walk(root, &path, out);
                Entry::Dir(mode)
            } else if meta.is_file() {
                Entry::File {
                    bytes: fs::read(&path).ok(),
                    mode,
                }
            } else {
                Entry::Other
            };
            out.insert(rel, kind);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The paths whose entries differ between two trees.
fn changed(before: &BTreeMap<String, Entry>, after: &BTreeMap<String, Entry>) -> Vec<String> {
    let mut paths: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .cloned()
        .collect();
    paths.dedup();
    paths
}

struct Ran {
    code: Option<i32>,
    out: String,
    err: String,
    killed: bool,
}

/// Runs the command under [`MEMORY`] and kills it after [`GUARD`].
fn bounded(cmd: Command) -> Ran {
    let mut limited = Command::new("prlimit");
    limited
        .arg(format!("--as={MEMORY}"))
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (name, value) in cmd.get_envs() {
        if let Some(value) = value {
            limited.env(name, value);
        }
    }
    let mut child = limited
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) runs the binary");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > GUARD {
            let _ = child.kill();
            killed = true;
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ran {
        code: status.code(),
        out: out.join().expect("stdout reader"),
        err: err.join().expect("stderr reader"),
        killed,
    }
}

/// Undoes the runner's escaping of workflow-command data, to search messages as written.
fn unescape(s: &str) -> String {
    s.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
}

fn check(case: &Case) -> Result<(), String> {
    let repo = copy_tree(&repo_root().join("examples/flux-gitops-pipeline"));
    let outside = tempfile::tempdir().expect("temp dir");
    write(&outside.path().join("victim.yaml"), b"victim: untouched\n");
    write(
        &outside.path().join("overlay/kustomization.yaml"),
        b"images:\n  - name: backend\n    newTag: outside\n",
    );
    (case.setup)(repo.path(), outside.path());
    let before = (tree(repo.path()), tree(outside.path()));

    let mut run = if case.shell {
        Run::shell()
    } else {
        Run::actions()
    };
    run = run
        .input("gitops_path", repo.path())
        .input("images", "backend")
        .input("tag", "v2")
        .input("verify_images", "false");
    for (name, value) in &case.inputs {
        run = run.input(name, value);
    }
    let mut cmd = run.into_command();
    for (name, value) in &case.env {
        cmd.env(name, value); // as given: names and values need not be UTF-8
    }
    let ran = bounded(cmd);
    let after = (tree(repo.path()), tree(outside.path()));

    let log = || {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            ran.code, ran.out, ran.err
        )
    };
    if ran.killed {
        return Err(format!("still running after {GUARD:?}: killed\n{}", log()));
    }
    if matches!(ran.code, None | Some(101 | 134)) || ran.err.contains("panicked") {
        return Err(format!(
            "crashed (a panic, a signal or an abort)\n{}",
            log()
        ));
    }
    if !changed(&before.1, &after.1).is_empty() {
        return Err(format!(
            "changed the directory beside the checkout: {:?}\n{}",
            changed(&before.1, &after.1),
            log()
        ));
    }
    let text = unescape(&format!("{}{}", ran.out, ran.err));
    let says = match &case.expect {
        Expect::Fails { says, .. } | Expect::Succeeds { says, .. } => says,
    };
    if let Some(missing) = says.iter().find(|s| !text.contains(s.as_str())) {
        return Err(format!("the messages lack {missing:?}\n{}", log()));
    }
    match &case.expect {
        Expect::Fails { code, at, .. } => {
            if ran.code != Some(*code) {
                return Err(format!("expected exit {code}\n{}", log()));
            }
            let touched = changed(&before.0, &after.0);
            if !touched.is_empty() {
                return Err(format!("a failed run changed {touched:?}\n{}", log()));
            }
            if let Some((file, line, col)) = at {
                let annotation = format!("::error file={file},line={line},col={col}::");
                if !ran.out.contains(&annotation) {
                    return Err(format!("no annotation {annotation}\n{}", log()));
                }
            } else if !case.shell && !ran.out.contains("::error") {
                return Err(format!("no ::error annotation\n{}", log()));
            }
        }
        Expect::Succeeds { check, .. } => {
            if ran.code != Some(0) {
                return Err(format!("expected success\n{}", log()));
            }
            check(repo.path()).map_err(|e| format!("{e}\n{}", log()))?;
            let stray: Vec<String> = changed(&before.0, &after.0)
                .into_iter()
                .filter(|p| !p.ends_with("kustomization.yaml"))
                .collect();
            if !stray.is_empty() {
                return Err(format!(
                    "changed more than kustomizations: {stray:?}\n{}",
                    log()
                ));
            }
        }
    }
    Ok(())
}

/// Runs every case, a few at a time (each mostly waits on a process and the file system), and
/// fails with all the failures, in the table's order.
#[track_caller]
fn run_all(cases: Vec<Case>) {
    const WORKERS: usize = 4;
    let total = cases.len();
    let next = AtomicUsize::new(0);
    let results: Vec<Vec<(usize, String)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut failed = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(c) = cases.get(i) else {
                            return failed;
                        };
                        if let Err(e) = check(c) {
                            failed.push((i, format!("== {}\n{e}", c.name)));
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker"))
            .collect()
    });
    let mut failures: Vec<(usize, String)> = results.into_iter().flatten().collect();
    failures.sort();
    let failures: Vec<String> = failures.into_iter().map(|(_, f)| f).collect();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The corpus.

/// Tags the registry could never hold are input errors that name `tag`; YAML-significant
/// characters never reach a file. Tags that YAML would read as another type are written quoted.
#[test]
fn hostile_tags() {
    let not_a_tag = |name: &str, tag: &str| {
        case(format!("tag {name}"))
            .input("tag", tag)
            .input_error(&["input `tag`", "is not a valid tag"])
    };
    let mut cases = vec![
        // An input left empty is "not given", as the runner passes unset inputs: the default.
        case("tag empty under Actions: the default sha-<7>")
            .input("tag", "")
            .succeeds(&[], holds(PLATFORM, "newTag: sha-1a2b3c4")),
        case("tag of spaces under Actions: not given, the default")
            .input("tag", "   ")
            .succeeds(&[], holds(PLATFORM, "newTag: sha-1a2b3c4")),
        case("tag empty in a shell without GITHUB_SHA")
            .shell()
            .input("app", "sample-saas-app")
            .input("tag", "")
            .input_error(&["input `tag`: not set"]),
        // Inputs are trimmed: a block scalar's final newline, or a space typed around the value.
        case("tag with a final newline")
            .input("tag", "v2\n")
            .succeeds(&[], holds(PLATFORM, "newTag: v2\n")),
        case("tag with surrounding spaces")
            .input("tag", " v2 ")
            .succeeds(&[], holds(PLATFORM, "newTag: v2\n")),
        case("tag of 128 characters, the longest")
            .input("tag", "a".repeat(128))
            .succeeds(&[], |root| holds(PLATFORM, "newTag: aaaa")(root)),
        not_a_tag("with a space inside", "v 2"),
        not_a_tag("with a newline inside", "v2\nnewTag: evil"),
        not_a_tag("with a tab inside", "v2\tx"),
        not_a_tag("with a carriage return inside", "v2\rx"),
        not_a_tag("with a leading dot", ".v2"),
        not_a_tag("with a leading dash", "-v2"),
        not_a_tag("of 129 characters", &"a".repeat(129)),
        not_a_tag("of 100,000 characters", &"a".repeat(100_000)),
        not_a_tag("with an accent", "vé"),
        not_a_tag("with an emoji", "v2🚀"),
        not_a_tag("with a right-to-left override", "v2\u{202e}1v"),
        not_a_tag("with a zero-width space", "v\u{200b}2"),
    ];
    for bad in [
        "v2: x", "v2 #x", "#v2", "'v2'", "\"v2\"", "{v2}", "[v2]", "&v2", "*v2", "!v2", "|v2",
        ">v2", "%v2", "@v2", "`v2`", "v2:2", "v2,v3", "v2/x", "${v2}", "v2\\n",
    ] {
        cases.push(not_a_tag(&format!("{bad:?}"), bad));
    }
    // Valid tags that a plain YAML scalar would turn into another type.
    for (tag, written) in [
        ("true", "newTag: \"true\""),
        ("null", "newTag: \"null\""),
        ("yes", "newTag: \"yes\""),
        ("1e3", "newTag: \"1e3\""),
        ("0x1F", "newTag: \"0x1F\""),
        ("010", "newTag: \"010\""),
        ("1.10", "newTag: \"1.10\""),
    ] {
        cases.push(
            case(format!("tag {tag} that YAML would not read as a string"))
                .input("tag", tag)
                .succeeds(&[], holds(PLATFORM, written)),
        );
    }
    run_all(cases);
}

/// The `images` input: each name once, each part a name or `name=ecr-repository`.
#[test]
fn hostile_image_lists() {
    let bad = |name: &str, images: &str, says: &[&str]| {
        case(format!("images {name}"))
            .input("images", images)
            .input_error(&[&["input `images`"], says].concat())
    };
    let cases = vec![
        // Issue 9: `images: " , "` succeeded with "nothing to change".
        bad("of only a comma and spaces", " , ", &["names nothing"]),
        bad("of only separators", ",\n,", &["names nothing"]),
        bad(
            "naming one image twice",
            "backend,backend",
            &["`backend` is listed twice"],
        ),
        bad(
            "naming one image twice, once mapped",
            "backend\nbackend=sample-saas-app/backend",
            &["`backend` is listed twice"],
        ),
        bad(
            "separated by semicolons",
            "backend;frontend",
            &["`backend;frontend`"],
        ),
        bad(
            "separated by a tab",
            "backend\tfrontend",
            &["not a valid image name"],
        ),
        bad(
            "separated by spaces",
            "backend frontend",
            &["not a valid image name"],
        ),
        bad(
            "with ==",
            "backend==team/backend",
            &["not a valid ECR repository"],
        ),
        bad(
            "with a= and nothing after",
            "backend=",
            &["`backend=`", "no repository"],
        ),
        bad(
            "with =b and nothing before",
            "=team/backend",
            &["`=team/backend` has no image name"],
        ),
        bad(
            "with two =",
            "backend=team=x",
            &["not a valid ECR repository"],
        ),
        bad("in capitals", "Backend", &["not a valid image name"]),
        bad("with a tag", "backend:v1", &["not a valid image name"]),
        bad(
            "with a digest",
            "backend@sha256:00",
            &["not a valid image name"],
        ),
        bad(
            "mapped to capitals",
            "backend=Team/Backend",
            &["not a valid ECR repository"],
        ),
        bad(
            "mapped to a path",
            "backend=../backend",
            &["not a valid ECR repository"],
        ),
        bad(
            "mapped to an ECR URI",
            "backend=123456789012.dkr.ecr.us-east-1.amazonaws.com/team/backend",
            &["an image URI", "`backend=team/backend`"],
        ),
        bad(
            "with YAML in a name",
            "backend: {x}",
            &["not a valid image name"],
        ),
        bad(
            "of 300 characters",
            &"a".repeat(300),
            &["not a valid image name"],
        ),
        case("images naming one absent from every file")
            .input("images", "backend,nosuch")
            .file_error(&["input `images`", "`nosuch`"]),
        // Empty parts between names are separators' leftovers, as a block scalar's final
        // newline is: they are dropped.
        case("images with empty parts between names")
            .input("images", "backend,,\n,frontend,\n")
            .succeeds(&[], |root| {
                let text = fs::read_to_string(root.join(PLATFORM)).map_err(|e| e.to_string())?;
                (text.matches("newTag: v2").count() == 2)
                    .then_some(())
                    .ok_or_else(|| format!("both images promoted:\n{text}"))
            }),
        case("images with spaces around names and =")
            .input("images", "  backend = sample-saas-app/backend  ")
            .succeeds(&[], holds(PLATFORM, "newTag: v2")),
    ];
    run_all(cases);
}

/// `paths` and the checkout: nothing outside the root is read or written, and a pattern that
/// cannot be served fails by name.
#[test]
fn hostile_paths() {
    let cases = vec![
        case("paths with ..")
            .input("paths", "apps/../../etc")
            .input_error(&["input `paths`", "`..` is not allowed"]),
        case("paths ending in ..")
            .input("paths", "apps/sample-saas-app/..")
            .input_error(&["input `paths`", "`..` is not allowed"]),
        case("paths absolute")
            .input("paths", "/etc")
            .input_error(&["input `paths`", "is absolute"]),
        case("paths as a Windows drive")
            .input("paths", "C:\\x")
            .input_error(&["input `paths`", "is absolute"]),
        case("paths of only a comma")
            .input("paths", " , ")
            .input_error(&["input `paths`", "names nothing"]),
        case("paths with an invalid glob")
            .input("paths", "apps/[")
            .input_error(&["input `paths`", "not a valid glob"]),
        case("paths: a glob matching nothing")
            .input("paths", "apps/nothing/*")
            .file_error(&[
                "`apps/nothing/*` matches no kustomization file",
                "no kustomization file found",
            ]),
        // One pattern that matches, one glob that does not: a warning, and the run goes on.
        case("paths: a glob matching nothing beside one that matches")
            .input("paths", "apps/sample-saas-app/base,apps/nothing/*")
            .succeeds(
                &["::warning::input `paths`: `apps/nothing/*` matches no kustomization file"],
                holds(BASE, "newTag: v2"),
            ),
        case("paths: a literal directory that does not exist")
            .input("paths", "apps/nothing")
            .file_error(&["`apps/nothing` is neither a file nor a directory with a kustomization"]),
        case("paths: a directory without a kustomization")
            .input("paths", "apps/sample-saas-app/overlays/platform/patches")
            .file_error(&["`apps/sample-saas-app/overlays/platform/patches` is neither"]),
        case("paths: a directory with two kustomization files")
            .setup(|root, _| {
                write(
                    &root.join("apps/sample-saas-app/base/kustomization.yml"),
                    b"images: []\n",
                )
            })
            .file_error(&["holds more than one kustomization file"]),
        case("gitops_path that does not exist")
            .input("gitops_path", "/nonexistent/gitops")
            .file_error(&["cannot open the GitOps checkout `/nonexistent/gitops`"]),
        case("gitops_path that is a file")
            .input("gitops_path", "/dev/null")
            .file_error(&["cannot open the GitOps checkout `/dev/null`"]),
        // Issue 9: a glob that met a symlink leaving the checkout skipped it silently.
        case("a glob meets a symlinked directory leaving the root")
            .setup(|root, outside| {
                link(
                    &root.join("apps/sample-saas-app/overlays/evil"),
                    &outside.join("overlay"),
                )
            })
            .file_error(&[
                "`apps/sample-saas-app/overlays/evil` resolves to",
                "outside the GitOps checkout",
            ]),
        case("a glob's base is a symlink leaving the root")
            .input("paths", "outside/*")
            .setup(|root, outside| link(&root.join("outside"), outside))
            .file_error(&["`outside` resolves to", "outside the GitOps checkout"]),
        case("a literal path is a symlink leaving the root")
            .input("paths", "apps/sample-saas-app/overlays/evil")
            .setup(|root, outside| {
                link(
                    &root.join("apps/sample-saas-app/overlays/evil"),
                    &outside.join("overlay"),
                )
            })
            .file_error(&[
                "`apps/sample-saas-app/overlays/evil` resolves to",
                "outside the GitOps checkout",
            ]),
        // A link out of the root that no pattern could select is none of the run's business.
        case("a symlink leaving the root where no pattern looks")
            .setup(|root, outside| link(&root.join("apps/sample-saas-app/base/vendor"), outside))
            .succeeds(&[], holds(PLATFORM, "newTag: v2")),
        case("a kustomization file that is a symlink leaving the root")
            .setup(|root, outside| {
                link(
                    &root.join(PLATFORM),
                    &outside.join("overlay/kustomization.yaml"),
                )
            })
            .file_error(&[
                &format!("`{PLATFORM}` resolves to"),
                "outside the GitOps checkout",
            ]),
        // Issue 9: a symlink at the fixed temporary name made the write follow it out of the
        // root, then replaced kustomization.yaml by the link. The run succeeds, and writes only
        // the kustomization.
        case("a symlink at the old temporary file's name")
            .setup(|root, outside| {
                link(
                    &root.join("apps/sample-saas-app/base/.kustomization.yaml.gitops-promote.tmp"),
                    &outside.join("victim.yaml"),
                );
            })
            .succeeds(&[], |root| {
                let meta = fs::symlink_metadata(root.join(BASE)).map_err(|e| e.to_string())?;
                if !meta.is_file() {
                    return Err(format!("{BASE} is no longer a regular file"));
                }
                holds(BASE, "newTag: v2")(root)
            }),
        case("a symlink loop inside the root")
            .setup(|root, _| {
                link(
                    &root.join("apps/sample-saas-app/overlays/loop"),
                    Path::new(".."),
                )
            })
            .succeeds(&[], holds(PLATFORM, "newTag: v2")),
        case("a symlinked overlay inside the root")
            .setup(|root, _| {
                link(
                    &root.join("apps/sample-saas-app/overlays/alias"),
                    Path::new("platform"),
                )
            })
            .succeeds(&[], holds(PLATFORM, "newTag: v2")),
        case("a dangling symlink where a pattern looks")
            .setup(|root, _| {
                link(
                    &root.join("apps/sample-saas-app/overlays/gone"),
                    Path::new("/nonexistent"),
                )
            })
            .succeeds(&[], holds(PLATFORM, "newTag: v2")),
        case("a kustomization file that is a FIFO")
            .setup(|root, _| {
                let path = root.join(PLATFORM);
                fs::remove_file(&path).expect("rm");
                let made = Command::new("mkfifo")
                    .arg(&path)
                    .status()
                    .expect("mkfifo runs");
                assert!(made.success(), "mkfifo");
            })
            .file_error(&[&format!("`{PLATFORM}` is not a regular file")]),
        case("a kustomization file that is a directory")
            .input("paths", "apps/sample-saas-app/overlays/platform")
            .setup(|root, _| {
                fs::remove_file(root.join(PLATFORM)).expect("rm");
                fs::create_dir(root.join(PLATFORM)).expect("mkdir");
            })
            .file_error(&["`apps/sample-saas-app/overlays/platform` is neither"]),
        case("a kustomization file that cannot be read")
            .setup(|root, _| {
                fs::set_permissions(root.join(PLATFORM), fs::Permissions::from_mode(0o000))
                    .expect("chmod")
            })
            .succeeds_unless_root(),
    ];
    run_all(cases);
}

impl Case {
    /// An unreadable file is readable by root anyway: the test may run as either.
    fn succeeds_unless_root(self) -> Self {
        if is_root() {
            self.succeeds(&[], holds(PLATFORM, "newTag: v2"))
        } else {
            self.file_error(&[&format!("cannot read `{PLATFORM}`")])
        }
    }
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

const ENTRY: &str = "images:\n  - name: backend\n    newTag: v1\n";

/// Kustomization files the editor must refuse by place, or edit without touching another byte.
#[test]
fn hostile_yaml() {
    let nested = |open: &str, close: &str| {
        format!(
            "{ENTRY}x: {}v{}\n",
            open.repeat(10_000),
            close.repeat(10_000)
        )
    };
    let mut bomb = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(",");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    bomb.push_str(ENTRY);
    let many: String = (0..10_000)
        .map(|i| format!("  - name: image-{i}\n    newTag: v1\n"))
        .collect();

    let cases = vec![
        case("YAML indented with tabs")
            .base("images:\n\t- name: backend\n\t  newTag: v1\n")
            .base_error_at(2, 2, &["invalid YAML", "tabs"]),
        case("YAML with a duplicate newTag")
            .base("images:\n  - name: backend\n    newTag: v1\n    newTag: v0\n")
            .base_error_at(4, 5, &["duplicate `newTag` key"]),
        case("YAML with a duplicate name")
            .base("images:\n  - name: backend\n    name: frontend\n    newTag: v1\n")
            .base_error_at(3, 5, &["duplicate `name` key"]),
        case("YAML with a duplicate images key")
            .base(format!("{ENTRY}images:\n  - name: frontend\n"))
            .base_error_at(4, 1, &["duplicate `images` key"]),
        case("YAML with an anchor on newTag")
            .base("images:\n  - name: backend\n    newTag: &t v1\nx: *t\n")
            .base_error_at(3, 13, &["`newTag` carries an anchor"]),
        case("YAML with newTag an alias")
            .base("x: &t v1\nimages:\n  - name: backend\n    newTag: *t\n")
            .base_error_at(4, 13, &["`newTag` is an alias"]),
        case("YAML with images an alias")
            .base("x: &i\n  - name: backend\n    newTag: v1\nimages: *i\n")
            .base_error_at(4, 9, &["`images` is an alias"]),
        case("YAML with an entry an alias")
            .base("x: &e {name: backend, newTag: v1}\nimages:\n  - *e\n")
            .base_error_at(3, 5, &["an `images` entry is an alias"]),
        case("YAML with an entry built by a merge key")
            .base("x: &e {newTag: v1}\nimages:\n  - <<: *e\n    name: backend\n")
            .base_error_at(3, 5, &["merge key"]),
        // Fuzz findings F4 and F5 (fuzz/README.md).
        case("YAML with an image name YAML reads as a number")
            .input("images", "615")
            .base("images:\n  - name: 615\n    newTag: v1\n")
            .base_error_at(2, 11, &["read by YAML as a number", "quote it"]),
        case("YAML with a tag on a key of the entry")
            .base("images:\n  - name: backend\n    ! newTag: v1\n")
            .base_error_at(3, 5, &["explicit YAML tag"]),
        case("YAML with an anchored images list")
            .base("images: &i\n  - name: backend\n    newTag: v1\nx: *i\n")
            .base_error_at(1, 9, &["carries an anchor"]),
        // Anchors and aliases elsewhere in the file are kustomize's business, not the editor's.
        case("YAML with anchors and aliases elsewhere")
            .base(format!("x: &a foo\ny: *a\n{ENTRY}"))
            .succeeds(&[], |root| {
                let text = fs::read_to_string(root.join(BASE)).map_err(|e| e.to_string())?;
                (text == "x: &a foo\ny: *a\nimages:\n  - name: backend\n    newTag: v2\n")
                    .then_some(())
                    .ok_or(text)
            }),
        case("YAML with two documents")
            .base(format!("{ENTRY}---\nkind: Other\n"))
            .base_error_at(4, 1, &["a second YAML document"]),
        case("YAML with a document end and another document")
            .base(format!("{ENTRY}...\n---\nimages: []\n"))
            .base_error_at(5, 1, &["a second YAML document"]),
        case("YAML with invalid UTF-8")
            .base(b"images:\n  - name: backend\n    newTag: v1\xff\n".to_vec())
            .file_error(&[&format!("{BASE}:3:15: not UTF-8 text")]),
        case("YAML in UTF-16")
            .base(b"\xff\xfei\x00m\x00".to_vec())
            .file_error(&[&format!("{BASE}:1:1: not UTF-8 text")]),
        case("YAML with a NUL byte in a value")
            .base(b"images:\n  - name: backend\n    newTag: v1\x00\n".to_vec())
            .base_error_at(3, 15, &["invalid YAML"]),
        case("YAML with a NUL byte in a comment")
            .base(b"# \x00\nimages:\n  - name: backend\n    newTag: v1\n".to_vec())
            .base_error_at(1, 3, &["invalid YAML"]),
        case("YAML of 50 MB")
            .base({
                let mut big = ENTRY.as_bytes().to_vec();
                big.extend(b"# padding\n".repeat(5 * 1024 * 1024));
                big
            })
            .file_error(&[&format!("`{BASE}` is 50.0 MiB, larger than the 1 MiB")]),
        // Each deep case is refused where the nesting passes the limit: the parser's own (256
        // flow levels, from column 4) or the editor's (128 levels).
        case("YAML one byte over 1 MiB")
            .base({
                let mut big = ENTRY.as_bytes().to_vec();
                big.resize((1 << 20) + 1, b'\n');
                big
            })
            .file_error(&[&format!("`{BASE}` is 1.0 MiB, larger than the 1 MiB")]),
        case("YAML of a 1 MiB comment, at the limit")
            .base({
                let mut big = format!("{ENTRY}# ").into_bytes();
                big.resize((1 << 20) - 1, b'x');
                big.push(b'\n');
                big
            })
            .succeeds(&[], holds(BASE, "    newTag: v2\n")),
        case("YAML nested 10,000 deep in flow sequences")
            .base(nested("[", "]"))
            .base_error_at(4, 259, &["invalid YAML: recursion limit exceeded"]),
        case("YAML nested 10,000 deep in flow mappings")
            .base(nested("{a: ", "}"))
            .base_error_at(4, 513, &["nesting deeper than 128 levels"]),
        case("YAML nested 10,000 deep in block sequences")
            .base(format!("{ENTRY}x:\n{}v\n", "- ".repeat(10_000)))
            .base_error_at(5, 257, &["nesting deeper than 128 levels"]),
        // The editor keeps aliases as they are; reading the file back to check the edit expands
        // them, and that reader stops a billion laughs.
        case("YAML with an alias bomb").base(bomb).base_error_at(
            1,
            1,
            &["invalid YAML: repetition limit exceeded"],
        ),
        case("YAML with images a scalar")
            .base("images: backend\n")
            .base_error_at(1, 1, &["`images` is not a list"]),
        case("YAML with images a mapping")
            .base("images:\n  name: backend\n  newTag: v1\n")
            .base_error_at(1, 1, &["`images` is not a list"]),
        case("YAML with an entry a scalar")
            .base("images:\n  - backend\n")
            .base_error_at(2, 5, &["an `images` entry is not a mapping"]),
        case("YAML with an entry a list")
            .base("images:\n  - [name, backend]\n")
            .base_error_at(2, 5, &["an `images` entry is not a mapping"]),
        case("YAML with newTag a list")
            .base("images:\n  - name: backend\n    newTag: [v1]\n")
            .base_error_at(3, 13, &["`newTag` is not a single value"]),
        case("YAML with newTag a mapping")
            .base("images:\n  - name: backend\n    newTag: {v: 1}\n")
            .base_error_at(3, 13, &["`newTag` is not a single value"]),
        case("YAML with newTag explicitly tagged")
            .base("images:\n  - name: backend\n    newTag: !!str v1\n")
            .base_error_at(3, 13, &["explicit YAML tag"]),
        case("YAML with newTag a literal block scalar")
            .base("images:\n  - name: backend\n    newTag: |\n      v1\n    newName: x/backend\n")
            .base_error_at(4, 7, &["`newTag` is a block scalar"]),
        case("YAML with newTag a folded block scalar")
            .base("images:\n  - name: backend\n    newTag: >-\n      v1\n")
            .base_error_at(4, 7, &["`newTag` is a block scalar"]),
        case("YAML with newTag plain over two lines")
            .base("images:\n  - name: backend\n    newTag: v\n      1\n")
            .base_error_at(3, 13, &["several lines"]),
        // A quoted value may span lines; its quotes delimit it, so it is replaced whole.
        case("YAML with newTag quoted over two lines")
            .base("images:\n  - name: backend\n    newTag: \"v\n      1\"\n")
            .succeeds(&[], holds(BASE, "    newTag: \"v2\"\n")),
        case("YAML with an unclosed quote")
            .base("images:\n  - name: \"backend\n    newTag: v1\n")
            .file_error(&["invalid YAML"]),
        case("YAML whose top level is a list")
            .base("- images:\n  - name: backend\n")
            .base_error_at(1, 1, &["the top level is not a mapping"]),
        case("YAML whose top level is a scalar")
            .base("backend\n")
            .base_error_at(1, 1, &["the top level is not a mapping"]),
        // A number or a boolean where a tag goes is a value the editor replaces, quoting kept.
        case("YAML with newTag a number")
            .base("images:\n  - name: backend\n    newTag: 1\n")
            .succeeds(&[], holds(BASE, "    newTag: v2\n")),
        case("YAML with newTag a boolean")
            .base("images:\n  - name: backend\n    newTag: true\n")
            .succeeds(&[], holds(BASE, "    newTag: v2\n")),
        case("YAML with a name that is not a string")
            .base("images:\n  - name: [backend]\n    newTag: v1\n")
            .file_error(&["input `images`: no `images:` entry names `backend`"]),
        case("YAML of 10,000 images entries")
            .base(format!(
                "images:\n{many}  - name: backend\n    newTag: v1\n"
            ))
            .succeeds(&[], holds(BASE, "  - name: backend\n    newTag: v2\n")),
        // Files the other patterns select still count: the overlays name backend.
        case("YAML empty")
            .input("paths", "")
            .setup(|root, _| write(&root.join(BASE), b""))
            .succeeds(&[], holds(PLATFORM, "newTag: v2")),
    ];
    run_all(cases);
}

/// The runner's variables: only those the action reads are read, and those must be well formed.
#[test]
fn hostile_environments() {
    let not_utf8 = || OsString::from_vec(b"v\xff2".to_vec());
    let remote = |c: Case| {
        c.input("gitops_path", "")
            .input("gitops_repo", "example-org/flux-gitops-pipeline")
            .input("gitops_repo_token", "t0ken")
            // If validation ever let a case through, it fails at once instead of calling out.
            .env("GITHUB_API_URL", "http://127.0.0.1:9")
    };
    let mut cases = vec![
        // Issue 9: any variable that was not UTF-8 made the binary panic (exit 134).
        case("a variable the action never reads is not UTF-8")
            .env("SOME_OTHER_TOOL", not_utf8())
            .succeeds(&[], holds(PLATFORM, "newTag: v2")),
        case("a variable's name is not UTF-8")
            .env(OsString::from_vec(b"X\xffY".to_vec()), "1")
            .succeeds(&[], holds(PLATFORM, "newTag: v2")),
        case("INPUT_TAG is not UTF-8")
            .input("tag", not_utf8())
            .input_error(&["input `tag`: `INPUT_TAG` is not UTF-8 text"]),
        case("INPUT_IMAGES is not UTF-8")
            .input("images", not_utf8())
            .input_error(&["input `images`: `INPUT_IMAGES` is not UTF-8 text"]),
        case("GITHUB_REPOSITORY is not UTF-8")
            .env("GITHUB_REPOSITORY", not_utf8())
            .input_error(&["environment variable `GITHUB_REPOSITORY`: is not UTF-8 text"]),
        case("AWS_REGION is not UTF-8")
            .env("AWS_REGION", not_utf8())
            .input_error(&["environment variable `AWS_REGION`: is not UTF-8 text"]),
        case("GITHUB_SHA of 7 characters, tag unset")
            .input("tag", "")
            .env("GITHUB_SHA", "1a2b3c4")
            .input_error(&["environment variable `GITHUB_SHA`", "not a commit SHA"]),
        case("GITHUB_SHA not hexadecimal")
            .env("GITHUB_SHA", "z".repeat(40))
            .input_error(&["environment variable `GITHUB_SHA`", "not a commit SHA"]),
        case("GITHUB_SHA of multi-byte characters")
            .env("GITHUB_SHA", "é".repeat(20))
            .input_error(&["environment variable `GITHUB_SHA`", "not a commit SHA"]),
        case("GITHUB_SHA with a newline")
            .env("GITHUB_SHA", format!("{}\nx", "a".repeat(40)))
            .input_error(&["environment variable `GITHUB_SHA`", "not a commit SHA"]),
        case("GITHUB_REPOSITORY without a slash")
            .env("GITHUB_REPOSITORY", "sample-saas-app")
            .input_error(&["environment variable `GITHUB_REPOSITORY`", "owner/name"]),
        case("GITHUB_REPOSITORY with two slashes")
            .env("GITHUB_REPOSITORY", "a/b/c")
            .input_error(&["environment variable `GITHUB_REPOSITORY`", "owner/name"]),
        case("GITHUB_REPOSITORY climbing out")
            .env("GITHUB_REPOSITORY", "../sample-saas-app")
            .input_error(&["environment variable `GITHUB_REPOSITORY`", "owner/name"]),
        case("GITHUB_REPOSITORY empty, app unset")
            .env("GITHUB_REPOSITORY", "")
            .input_error(&["input `app`: not set"]),
        case("GITHUB_RUN_ID not a number")
            .env("GITHUB_RUN_ID", "42; rm -rf /")
            .input_error(&["environment variable `GITHUB_RUN_ID`"]),
        case("AWS_REGION malformed, verify_images on")
            .input("verify_images", "true")
            .env("AWS_REGION", "us-east-1\n::error::x")
            .input_error(&["input `aws_region`", "not an AWS region"]),
        remote(case("gitops_repo climbing out"))
            .input("gitops_repo", "../flux-gitops-pipeline")
            .input_error(&["input `gitops_repo`", "owner/name"]),
    ];
    for (name, value) in [
        ("GITHUB_API_URL", "api.github.com"),
        ("GITHUB_API_URL", "ftp://api.github.com"),
        ("GITHUB_API_URL", "http://"),
        ("GITHUB_API_URL", "https://api.github.com/?token=x"),
        ("GITHUB_API_URL", "https://user:secret@api.github.com"),
        ("GITHUB_API_URL", "https://api github.com"),
        ("GITHUB_GRAPHQL_URL", "javascript:alert(1)"),
        ("GITHUB_GRAPHQL_URL", "http://[::1"),
        ("GITHUB_SERVER_URL", "github.com"),
        ("GITHUB_SERVER_URL", "https://github.com\n::error::x"),
    ] {
        cases.push(
            remote(case(format!("{name}={value:?} with gitops_repo")))
                .env(name, value)
                .input_error(&[
                    &format!("environment variable `{name}`"),
                    "not an http(s) URL",
                ]),
        );
    }
    run_all(cases);
}

/// With verify_images, an entry must make the cluster pull from ECR, or ECR would vouch for an
/// image the cluster never pulls (issue 9). Every case fails before any AWS call; the endpoint
/// points nowhere, so one that did not would fail at once instead of calling out.
#[test]
fn hostile_registries() {
    const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sample-saas-app/backend";
    let aws = |c: Case| {
        c.input("verify_images", "true")
            .input("aws_region", "us-east-1")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    };
    let platform_new_name = |new_name: &'static str| {
        move |root: &Path, _: &Path| {
            let path = root.join(PLATFORM);
            let text = fs::read_to_string(&path).expect("read");
            assert!(
                text.contains(ECR),
                "the example's platform overlay pulls from ECR"
            );
            write(&path, text.replacen(ECR, new_name, 1).as_bytes());
        }
    };
    let mut cases = Vec::new();
    for new_name in [
        "docker.io/library/nginx",
        "ghcr.io/org/backend",
        "nginx",
        "public.ecr.aws/org/backend",
    ] {
        cases.push(
            aws(case(format!("newName {new_name}")))
                .setup(platform_new_name(new_name))
                .file_error(&[
                    &format!("{PLATFORM}:23: image `backend` is pulled from `{new_name}`"),
                    "not an Amazon ECR repository",
                    "verify_images: false",
                ]),
        );
    }
    cases.push(
        aws(case("a name in another registry, without newName"))
            .input("images", "ghcr.io/org/backend")
            .base("images:\n  - name: ghcr.io/org/backend\n    newTag: v1\n")
            .file_error(&[
                &format!(
                    "{BASE}:2: image `ghcr.io/org/backend` is pulled from `ghcr.io/org/backend`"
                ),
                "not an Amazon ECR repository",
            ]),
    );
    cases.push(
        aws(case("a mapping that disagrees with newName"))
            .input("images", "backend=other/backend")
            .file_error(&[
                "input `images`: `backend=other/backend` disagrees with",
                "fix one of them",
            ]),
    );
    run_all(cases);
}
