"""The end-to-end benchmark: gitops-promote against the script users run today.

In one run, against the same local stand-ins (moto for AWS, the GitHub emulator for the API,
`git http-backend` for clones and pushes of the emulator's repository, a local OIDC issuer),
all reached through a proxy that adds a fixed delay to every request and logs it, this times:

- ours: the release binary, verifying both images (OIDC -> STS -> ECR) and committing through
  the GitHub API;
- composite: `aws ecr describe-images` for both images, `git clone`, `kustomize edit set image`
  in each of the three kustomization directories, `git commit`, `git push`;
- bare: `git clone`, `sed`, `git commit`, `git push` (no AWS check).

for each delay and each repository size (the bundled example GitOps repository plus N extra
files). Every run starts from the same branch head and must land exactly the three promoted
files, or the benchmark fails. Started by scripts/bench-e2e, which installs the tools.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import proxy as px

ROOT = Path(__file__).resolve().parents[2]
OWNER, REPO = "example-org", "flux-gitops-pipeline"
TOKEN = "ghp_bench00000000000000000000000000000000"
ACCESS_KEY_ID, SECRET_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OIDC_TOKEN = "oidc-request-token-bench"
OIDC_JWT = ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmV4YW1wbGUtb3JnL3NhbXBsZS1zYWFzLWFwcDpyZWY6"
            "cmVmcy9oZWFkcy9tYWluIn0.c2lnbmF0dXJl")
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/gitops-promote"
TAG = "sha-1a2b3c4"
APP_DIRS = ["base", "overlays/platform", "overlays/analytics"]
PROMOTED = sorted(f"apps/sample-saas-app/{d}/kustomization.yaml" for d in APP_DIRS)
CONTENDERS = ["ours", "composite", "bare"]
FILES_PER_DIR = 100
TIME = Path("/usr/bin/time")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- the stand-ins
class Services:
    def __init__(self, work: Path, connect_delay: bool, truncate: bool = True) -> None:
        self.work = work
        self.procs: List[subprocess.Popen] = []
        self.moto = self._moto()
        self.emulator = self._listening([str(ROOT / "tests/support/github_emulator/run.sh"),
                                         "--port", "0", "--state-dir", str(work / "emulator"),
                                         "--no-validate"], "emulator")
        self._control("POST", "/_emulator/repos", {
            "owner": OWNER, "name": REPO, "default_branch": "main",
            "seed_dir": str(ROOT / "examples/flux-gitops-pipeline")})
        self._control("POST", "/_emulator/tokens", {
            "token": TOKEN, "login": "promoter", "repos": {f"{OWNER}/{REPO}": "write"}})
        # A benchmark lands hundreds of commits an hour, which GitHub's rate limits would stop;
        # they are not what is measured. The tree-listing limits stay as GitHub's, unless
        # --no-truncate asks what a whole listing past them would cost.
        limits = {"content_per_minute": 0, "content_per_hour": 0, "core_per_hour": 0,
                  "graphql_per_hour": 0}
        if not truncate:
            limits.update(tree_entries=0, tree_bytes=0)
        try:
            self._control("POST", "/_emulator/limits", limits)
        except urllib.error.HTTPError:
            pass  # an emulator without rate limits
        self.git_dir = Path(self._control("GET", f"/_emulator/repos/{OWNER}/{REPO}/git-dir")["git_dir"])
        self.seed = self.git("rev-parse", "refs/heads/main")
        self.git_http = self._listening([sys.executable, str(Path(__file__).with_name("git_http.py")),
                                         "--root", str(self.git_dir.parent.parent)], "git server")
        self.proxy = px.Proxy([
            px.Listener("github", upstream=_hostport(self.emulator)),
            px.Listener("git", upstream=_hostport(self.git_http)),
            px.Listener("aws", upstream=_hostport(self.moto)),
            px.Listener("oidc", handler=px.oidc_handler(OIDC_TOKEN, OIDC_JWT)),
        ], connect_delay=connect_delay)
        self.proxy.start()
        self.git_url = f"{self.proxy.url('git')}/{OWNER}/{REPO}.git"
        self.bases: Dict[int, str] = {}

    def _moto(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.procs.append(subprocess.Popen(
            [str(ROOT / ".venv-test/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto did not start")
                time.sleep(0.05)

    def _listening(self, cmd: List[str], what: str) -> str:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.procs.append(proc)
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        if not line.startswith("listening on "):
            raise RuntimeError(f"the {what} did not start: {line!r}")
        return "http://" + line.removeprefix("listening on ")

    def _control(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        req = urllib.request.Request(self.emulator + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read() or b"null")

    def git(self, *args: str, input: Optional[bytes] = None) -> str:
        return subprocess.run(["git", "--git-dir", str(self.git_dir), *args], input=input,
                              stdout=subprocess.PIPE, check=True).stdout.decode().strip()

    def seed_ecr(self) -> None:
        """Both images at TAG, with real digests (sha256 of the manifest), as CD pushes them."""
        import boto3  # from .venv-test, next to moto

        ecr = boto3.client("ecr", region_name=REGION, endpoint_url=self.moto,
                           aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)
        for name in ("backend", "frontend"):
            repo = f"sample-saas-app/{name}"
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + hashlib.sha256(repo.encode()).hexdigest(), "size": 1469},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": "sha256:" + hashlib.sha256(TAG.encode()).hexdigest(), "size": 3208}],
            }, separators=(",", ":"))
            ecr.create_repository(repositoryName=repo)
            ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag=TAG,
                          imageManifestMediaType="application/vnd.oci.image.manifest.v1+json",
                          imageDigest="sha256:" + hashlib.sha256(manifest.encode()).hexdigest())

    def base(self, extra: int) -> str:
        """The commit every run at this size starts from: the example plus `extra` files in
        directories of FILES_PER_DIR, written with git fast-import (seconds for 100,000)."""
        if extra == 0:
            return self.seed
        if extra not in self.bases:
            started = time.monotonic()
            ref = f"refs/bench/extra-{extra}"
            stream = [f"commit {ref}\ncommitter Bench <bench@example.com> 1700000000 +0000\n"
                      f"data <<EOF\nbench: {extra} extra files\nEOF\nfrom {self.seed}\n"]
            for i in range(extra):
                body = (f"# generated for the benchmark\napiVersion: v1\nkind: ConfigMap\n"
                        f"metadata:\n  name: extra-{i:06d}\ndata:\n  index: \"{i}\"\n")
                stream.append(f"M 100644 inline extra/d{i // FILES_PER_DIR:04d}/f{i:06d}.yaml\n"
                              f"data {len(body)}\n{body}\n")
            subprocess.run(["git", "--git-dir", str(self.git_dir), "fast-import", "--quiet"],
                           input="".join(stream).encode(), check=True)
            self.bases[extra] = self.git("rev-parse", ref)
            log(f"  built the {extra}-file base in {time.monotonic() - started:.1f} s")
        return self.bases[extra]

    def reset(self, extra: int) -> str:
        base = self.base(extra)
        self.git("update-ref", "refs/heads/main", base)
        return base

    def landed(self, base: str) -> Optional[str]:
        """None when main is one commit on `base` changing exactly the promoted files to TAG."""
        head = self.git("rev-parse", "refs/heads/main")
        if head == base:
            return "the branch did not move"
        parent = self.git("rev-parse", "refs/heads/main^")
        if parent != base:
            return f"main's parent is {parent}, not the base {base}"
        changed = sorted(self.git("diff", "--name-only", base, head).splitlines())
        if changed != PROMOTED:
            return f"changed {changed}"
        for path in PROMOTED:
            text = self.git("show", f"{head}:{path}")
            if text.count(f"newTag: {TAG}") != 2:
                return f"{path} does not carry {TAG} twice"
        return None

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def _hostport(url: str) -> tuple:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


# ---------------------------------------------------------------------- the contenders
@dataclass
class Tools:
    binary: Path
    aws: Path
    kustomize: Path


def command(name: str, svc: Services, tools: Tools, work: Path) -> tuple:
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LC_ALL": "C.UTF-8",
           "TMPDIR": str(work)}
    if name == "ours":
        out, summary = work / "github_output", work / "step_summary"
        out.write_text("")
        summary.write_text("")
        env.update({
            "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "example-org/sample-saas-app",
            "GITHUB_SHA": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", "GITHUB_RUN_ID": "4242",
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_OUTPUT": str(out),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_API_URL": svc.proxy.url("github"),
            "GITHUB_GRAPHQL_URL": svc.proxy.url("github") + "/graphql",
            "AWS_ENDPOINT_URL": svc.proxy.url("aws"), "AWS_REGION": REGION,
            "ACTIONS_ID_TOKEN_REQUEST_URL":
                svc.proxy.url("oidc") + "/_apis/distributedtask/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": OIDC_TOKEN,
            "INPUT_GITOPS_REPO": f"{OWNER}/{REPO}", "INPUT_GITOPS_REPO_TOKEN": TOKEN,
            "INPUT_AWS_ROLE_ARN": ROLE, "INPUT_AWS_REGION": REGION,
            "INPUT_IMAGES": "backend=sample-saas-app/backend,frontend=sample-saas-app/frontend",
            "INPUT_PATHS": "\n".join(f"apps/sample-saas-app/{d}" for d in APP_DIRS),
            "INPUT_TAG": TAG,
        })
        return [str(tools.binary)], env
    env.update({
        "GIT_URL": svc.git_url, "WORK": str(work), "TAG": TAG,
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "CD", "GIT_AUTHOR_EMAIL": "cd@example.com",
        "GIT_COMMITTER_NAME": "CD", "GIT_COMMITTER_EMAIL": "cd@example.com",
        "GIT_TERMINAL_PROMPT": "0",
    })
    if name == "composite":
        env.update({
            "AWS_CLI": str(tools.aws), "KUSTOMIZE": str(tools.kustomize),
            "AWS_ENDPOINT_URL": svc.proxy.url("aws"), "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY, "AWS_PAGER": "",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        })
    return ["bash", str(Path(__file__).with_name(f"{name}.sh"))], env


@dataclass
class Run:
    contender: str
    delay_ms: int
    extra: int
    wall: float
    maxrss_kb: int
    ok: bool
    error: str
    figures: Dict[str, object]


def run_one(name: str, svc: Services, tools: Tools, delay_ms: int, extra: int, scratch: Path,
            timeout: float) -> Run:
    work = scratch / name
    subprocess.run(["rm", "-rf", str(work)], check=True)  # the last clone: 100,000 files
    work.mkdir(parents=True)
    base = svc.reset(extra)
    argv, env = command(name, svc, tools, work)
    output, rss = work / "output.log", work / "maxrss"
    # Peak RSS through GNU time: a child forked from this (large) Python process would report
    # this process's RSS at the fork as its own peak; one forked from `time` starts near 2 MB.
    # For a script, it is the largest process of its tree (`time` reads wait4's ru_maxrss).
    if TIME.exists():
        argv = [str(TIME), "-f", "%M", "-o", str(rss), *argv]
    svc.proxy.quiet()
    first = len(svc.proxy.log)
    with open(output, "wb") as out:
        started, t0 = time.perf_counter(), time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=work, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    svc.proxy.quiet()
    entries = svc.proxy.log[first:]
    error = ""
    if proc.returncode != 0:
        text = output.read_text(errors="replace").strip().splitlines()
        said = [ln for ln in text if ln.startswith("::error")] or text[-3:]
        error = f"exit {proc.returncode}: " + " | ".join(said)
    else:
        error = svc.landed(base) or ""
    try:
        maxrss_kb = int(rss.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        maxrss_kb = usage.ru_maxrss
    figures = px.summary(entries)
    # Each request relative to the start of the run, in ms: what the round trips are made of.
    figures["trace"] = [f"{(e.start - t0) * 1000:7.1f} {(e.end - t0) * 1000:7.1f} {e.status} "
                        f"{e.server}: {e.label}" for e in entries]
    return Run(name, delay_ms, extra, wall, maxrss_kb, not error, error, figures)


# ---------------------------------------------------------------------- the report
def median(xs: List[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def aggregate(runs: List[Run]) -> dict:
    ok = [r for r in runs if r.ok]
    if not ok:
        return {"ok": False, "runs": len(runs), "failed": [r.error for r in runs] or ["no run"]}

    def med(key: str) -> float:
        return median([float(r.figures[key]) for r in ok])  # type: ignore[arg-type]

    servers = sorted({s for r in ok for s in r.figures["per_server"]})  # type: ignore[union-attr]
    return {
        "ok": len(ok) == len(runs),
        "runs": len(runs),
        "failed": [r.error for r in runs if not r.ok],
        "wall_s": median([r.wall for r in ok]),
        "wall_min_s": min(r.wall for r in ok),
        "wall_max_s": max(r.wall for r in ok),
        "maxrss_mb": median([r.maxrss_kb / 1024 for r in ok]),
        "requests": med("requests"),
        "round_trips": med("round_trips"),
        "connections": med("connections"),
        "mb_down": med("bytes_down") / 1e6,
        "per_server": {s: median([float(r.figures["per_server"].get(s, 0)) for r in ok])  # type: ignore
                       for s in servers},
        "per_label": ok[len(ok) // 2].figures["per_label"],
        "http_errors": ok[len(ok) // 2].figures["errors"],
    }


def fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def ratio(a: dict, b: dict) -> str:
    if not (a.get("wall_s") and b.get("wall_s")):
        return "—"
    # In brackets: the ratio of the fastest runs, which a loaded machine disturbs less.
    return f"{a['wall_s'] / b['wall_s']:.2f}x ({a['wall_min_s'] / b['wall_min_s']:.2f}x)"


def servers_cell(agg: dict) -> str:
    order = ["github", "git", "oidc", "sts", "ecr"]
    per = agg.get("per_server", {})
    keys = [k for k in order if k in per] + sorted(k for k in per if k not in order)
    return ", ".join(f"{k} {per[k]:g}" for k in keys) or "—"


def markdown(results: dict, meta: dict) -> str:
    def t(a: dict) -> str:
        return "—" if not a else fmt_s(a["wall_s"]) if a.get("wall_s") is not None else "fails"

    def reqs(a: dict) -> str:
        if a.get("wall_s") is None:
            return "—"
        return f"{a['requests']:g} ({servers_cell(a)}) on {a['connections']:g} conn."

    def num(a: dict, key: str, f: str = "g") -> str:
        return format(a[key], f) if a.get("wall_s") is not None else "—"

    lines = [
        f"Machine: {meta['cpu']}, {meta['nproc']} cores, {meta['os']}, {meta['git']}; scratch on "
        f"{meta['scratch']}; load average {meta['load_before']} before, {meta['load_after']} after. Delay added per HTTP request"
        f"{' and per new connection' if meta['connect_delay'] else ''}; recursive tree listings "
        f"{'truncated as GitHub does' if meta.get('truncate', True) else 'never truncated (--no-truncate)'}. "
        f"{meta['reps']} timed "
        f"run(s) per cell after {meta['warmup']} warm-up, median shown. "
        f"Ours: `{meta['binary']}` ({meta['binary_note']}).",
        "",
        "Wall time (median seconds) and ratios of medians (above 1: ours is faster; in brackets "
        "the ratio of the fastest runs):",
        "",
        "| extra files | delay | ours | composite | bare | composite / ours | bare / ours |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (extra, delay), cell in results.items():
        o, c, b = (cell.get(n, {}) for n in CONTENDERS)
        lines.append(f"| {extra:,} | {delay} ms | {t(o)} | {t(c)} | {t(b)} | {ratio(c, o)} "
                     f"| {ratio(b, o)} |")
    lines += [
        "",
        "Requests (per server, and the new connections they used), sequential round trips, "
        "bytes received and peak RSS:",
        "",
        "| extra files | delay | ours: requests | ours: round trips | ours: MB received "
        "| composite: requests | composite: round trips | bare: requests | bare: round trips "
        "| peak RSS (MB): ours / composite / bare |",
        "|---:|---:|---|---:|---:|---|---:|---|---:|---:|",
    ]
    for (extra, delay), cell in results.items():
        o, c, b = (cell.get(n, {}) for n in CONTENDERS)
        lines.append(f"| {extra:,} | {delay} ms | {reqs(o)} | {num(o, 'round_trips')} "
                     f"| {num(o, 'mb_down', '.2f')} | {reqs(c)} | {num(c, 'round_trips')} "
                     f"| {reqs(b)} | {num(b, 'round_trips')} | {num(o, 'maxrss_mb', '.1f')} / "
                     f"{num(c, 'maxrss_mb', '.1f')} / {num(b, 'maxrss_mb', '.1f')} |")
    # What each contender sent, once (the first cell where it succeeded).
    lines += ["", "What each one sends (one run of the first size and delay where it succeeded):", ""]
    for name in CONTENDERS:
        cell = next((cell[name] for cell in results.values() if cell.get(name, {}).get("wall_s")), None)
        if cell:
            lines.append(f"- {name}: " + ", ".join(f"{k} ×{v}" for k, v in cell["per_label"].items()))
    failures = [(k, n, a["failed"], a["runs"]) for k, cell in results.items()
                for n, a in cell.items() if a.get("failed")]
    if failures:
        lines += ["", "Failed runs:", ""]
        for (extra, delay), name, errs, runs in failures:
            lines.append(f"- {name}, {extra:,} extra files, {delay} ms: {len(errs)} of {runs} "
                         f"failed; first: {errs[0]}")
    return "\n".join(lines) + "\n"


def machine() -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "nproc": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path)
    ap.add_argument("--binary-note", default="release build")
    ap.add_argument("--aws", type=Path)
    ap.add_argument("--kustomize", type=Path)
    ap.add_argument("--delays", default="0,20,50", help="ms added per request, comma separated")
    ap.add_argument("--sizes", default="0,1000,10000,100000", help="extra files, comma separated")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--connect-delay", action="store_true",
                    help="also add the delay once per new connection (a TCP handshake)")
    ap.add_argument("--no-truncate", action="store_true",
                    help="let the emulator list a whole tree past GitHub's limits (100,000 "
                         "entries, 7 MiB), to see what the listing would cost")
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a run is killed")
    ap.add_argument("--out", type=Path, default=ROOT / "target/bench-e2e")
    ap.add_argument("--scratch", type=Path, default=Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None,
                    help="where the stand-ins' state and the clones live (default: /dev/shm, a tmpfs, "
                         "so that disk noise does not swamp the figures)")
    ap.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                    help="print the tables of an earlier run's results.json, run nothing")
    args = ap.parse_args()
    if args.render:
        data = json.loads(args.render.read_text())
        print(markdown({(c["extra_files"], c["delay_ms"]): {n: c[n] for n in CONTENDERS if n in c}
                        for c in data["cells"]}, data["meta"]), end="")
        return 0
    if not (args.binary and args.aws and args.kustomize):
        ap.error("--binary, --aws and --kustomize are needed to run")

    delays = [int(x) for x in args.delays.split(",")]
    sizes = [int(x) for x in args.sizes.split(",")]
    contenders = args.contenders.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    tools = Tools(args.binary.resolve(), args.aws.resolve(), args.kustomize.resolve())
    meta = {**machine(), "reps": args.reps, "warmup": args.warmup, "connect_delay": args.connect_delay,
            "truncate": not args.no_truncate,
            "binary": args.binary.name, "binary_note": args.binary_note, "delays": delays,
            "sizes": sizes, "files_per_dir": FILES_PER_DIR,
            "scratch": "tmpfs" if args.scratch and str(args.scratch).startswith("/dev/shm") else "disk",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    # A SIGTERM unwinds like Ctrl-C, so the stand-ins are stopped and the scratch removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    temp = Path(tempfile.mkdtemp(prefix="bench-e2e-", dir=args.scratch))
    svc = None
    results: Dict[tuple, Dict[str, dict]] = {}
    all_runs: List[Run] = []
    failed = False
    try:
        log(f"starting the stand-ins in {temp}")
        svc = Services(temp, args.connect_delay, not args.no_truncate)
        svc.seed_ecr()
        for extra in sizes:
            svc.base(extra)
            for delay in delays:
                svc.proxy.delay = delay / 1000
                runs: Dict[str, List[Run]] = {n: [] for n in contenders}
                for i in range(args.warmup + args.reps):
                    # Rotate the order each round, so no contender always runs first.
                    for name in contenders[i % len(contenders):] + contenders[:i % len(contenders)]:
                        r = run_one(name, svc, tools, delay, extra, temp / "runs", args.timeout)
                        if i >= args.warmup:
                            runs[name].append(r)
                            all_runs.append(r)
                        if not r.ok and not any(not x.ok for x in runs[name][:-1]):
                            log(f"  {name} failed: {r.error}")
                cell = {n: aggregate(rs) for n, rs in runs.items()}
                results[(extra, delay)] = cell
                failed |= any(not a["ok"] for a in cell.values())
                log(f"{extra:>6} files, {delay:>2} ms: " + ", ".join(
                    f"{n} {fmt_s(a['wall_s'])} s ({a['round_trips']:g} rt, {a['requests']:g} req)"
                    if a.get("wall_s") is not None else f"{n} FAILS" for n, a in cell.items()))
    finally:
        if svc is not None:
            svc.stop()
        shutil.rmtree(temp, ignore_errors=True)

    meta["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    table = markdown(results, meta)
    (args.out / "results.md").write_text(table)
    (args.out / "results.json").write_text(json.dumps({
        "meta": meta,
        "cells": [{"extra_files": k[0], "delay_ms": k[1], **v} for k, v in results.items()],
        "runs": [r.__dict__ for r in all_runs],
    }, indent=1, default=str))
    print(table)
    log(f"written: {args.out / 'results.md'} and results.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
