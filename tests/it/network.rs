//! Enterprise networks (issue 9, item 9): every client (GitHub, the OIDC token, STS and ECR)
//! honours the proxy variables and trusts one CA bundle. The stand-ins sit behind TLS with
//! certificates from a throwaway CA, under the real service names, and only the test proxy
//! knows where those names lead: a client that went around it would fail to resolve them.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use crate::support::aws::{Moto, OIDC_REQUEST_TOKEN, OidcIssuer, REGION};
use crate::support::github::Emulator;
use crate::support::net::{Asked, Ca, Proxy, TlsFront};
use crate::support::{Run, repo_root};

const GITHUB: &str = "api.github.com";
const OIDC: &str = "pipelines.actions.githubusercontent.com";
const STS: &str = "sts.us-east-1.amazonaws.com";
const ECR: &str = "api.ecr.us-east-1.amazonaws.com";
const TOKEN_PATH: &str = "/_apis/distributedtask/token?api-version=2.0";
const TAGS: [&str; 2] = ["sha-9f8e7d6", "sha-5c4b3a2"];

/// The GitHub emulator, moto and the OIDC issuer, each behind a TLS stand-in.
struct Stand {
    ca: Ca,
    emu: Emulator,
    moto: Moto,
    _oidc: OidcIssuer,
    github: TlsFront,
    aws: TlsFront,
    token: TlsFront,
}

impl Stand {
    fn new() -> Self {
        let ca = Ca::new();
        let moto = Moto::fresh_account();
        for tag in TAGS {
            moto.push(REGION, None, "sample-saas-app/backend", tag);
            moto.push(REGION, None, "sample-saas-app/frontend", tag);
        }
        let oidc = OidcIssuer::start();
        let emu = Emulator::shared(&repo_root().join("examples/flux-gitops-pipeline"));
        let local = ["127.0.0.1", "localhost"];
        let github = TlsFront::start(&ca, &[&[GITHUB][..], &local].concat(), &emu.url);
        let aws = TlsFront::start(&ca, &[&[STS, ECR][..], &local].concat(), &moto.endpoint);
        let token = TlsFront::start(&ca, &[&[OIDC][..], &local].concat(), &oidc.url);
        Self {
            ca,
            emu,
            moto,
            _oidc: oidc,
            github,
            aws,
            token,
        }
    }

    /// A proxy that knows where the service names lead.
    fn proxy(&self, credentials: Option<(&str, &str)>) -> Proxy {
        Proxy::start(
            &[
                (&format!("{GITHUB}:443"), self.github.addr),
                (&format!("{OIDC}:443"), self.token.addr),
                (&format!("{STS}:443"), self.aws.addr),
                (&format!("{ECR}:443"), self.aws.addr),
            ],
            credentials,
        )
    }

    /// The mission's pipeline as a runner starts it: the role through OIDC, both images
    /// verified in ECR, one commit on GitHub. `github` and `token` are base URLs; without
    /// `aws`, the SDK uses AWS's own endpoints.
    fn promote(&self, tag: &str, github: &str, token: &str, aws: Option<&str>) -> Run {
        let run = Run::actions()
            .env("GITHUB_API_URL", github)
            .env("GITHUB_GRAPHQL_URL", format!("{github}/graphql"))
            .env("GITHUB_RUN_ID", "31337")
            .env("AWS_REGION", REGION)
            .env(
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{token}{TOKEN_PATH}"),
            )
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", OIDC_REQUEST_TOKEN)
            .input("gitops_repo", self.emu.full_name())
            .input("gitops_repo_token", &self.emu.token)
            .input("aws_role_arn", self.moto.role("sample-saas-app-cd"))
            .input(
                "images",
                "backend=sample-saas-app/backend,frontend=sample-saas-app/frontend",
            )
            .input("paths", "apps/sample-saas-app/base")
            .input("tag", tag);
        match aws {
            Some(endpoint) => run.env("AWS_ENDPOINT_URL", endpoint),
            None => run,
        }
    }

    /// The tag on the promoted base kustomization's `backend` entry, as committed.
    fn committed(&self, tag: &str) -> bool {
        self.emu
            .git(&["show", "main:apps/sample-saas-app/base/kustomization.yaml"])
            .contains(&format!("newTag: {tag}"))
    }
}

fn at(host: &str) -> String {
    format!("https://{host}")
}

fn hosts(connects: &HashMap<String, usize>) -> BTreeSet<String> {
    connects.keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|h| format!("{h}:443")).collect()
}

/// With `HTTPS_PROXY` and `SSL_CERT_FILE`, the whole pipeline runs through the proxy: each
/// client opens its tunnels there (the OIDC token exactly once), trusts the private CA, and the
/// commit lands.
#[test]
fn every_client_tunnels_through_https_proxy_and_trusts_ssl_cert_file() {
    let stand = Stand::new();
    let proxy = stand.proxy(None);
    let out = stand
        .promote(TAGS[0], &at(GITHUB), &at(OIDC), None)
        .env("HTTPS_PROXY", proxy.url())
        .env("SSL_CERT_FILE", stand.ca.pem_file())
        .output()
        .success();

    assert!(stand.committed(TAGS[0]), "{}", out.all());
    let connects = proxy.connects();
    assert_eq!(
        hosts(&connects),
        set(&[GITHUB, OIDC, STS, ECR]),
        "{connects:?}"
    );
    assert_eq!(connects[&format!("{OIDC}:443")], 1, "{connects:?}");
    assert!(
        proxy.asked().iter().all(|a| matches!(a, Asked::Connect(_))),
        "{:?}",
        proxy.asked()
    );
    stand.emu.assert_no_violations();
}

/// `NO_PROXY` (here in its lowercase form, with `https_proxy`) sends the hosts it names
/// straight to them, in each client: first GitHub, then the OIDC issuer and AWS.
#[test]
fn no_proxy_sends_the_hosts_it_names_around_the_proxy() {
    let stand = Stand::new();
    let ca = stand.ca.pem_file();

    let proxy = stand.proxy(None);
    stand
        .promote(TAGS[0], &stand.github.url(), &at(OIDC), None)
        .env("https_proxy", proxy.url())
        .env("no_proxy", "127.0.0.1")
        .env("SSL_CERT_FILE", &ca)
        .output()
        .success();
    assert!(stand.committed(TAGS[0]));
    assert_eq!(hosts(&proxy.connects()), set(&[OIDC, STS, ECR]));

    let proxy = stand.proxy(None);
    let local = |front: &TlsFront| format!("https://localhost:{}", front.addr.port());
    stand
        .promote(
            TAGS[1],
            &at(GITHUB),
            &local(&stand.token),
            Some(&local(&stand.aws)),
        )
        .env("https_proxy", proxy.url())
        .env("no_proxy", "localhost")
        .env("SSL_CERT_FILE", &ca)
        .output()
        .success();
    assert!(stand.committed(TAGS[1]));
    assert_eq!(hosts(&proxy.connects()), set(&[GITHUB]));
}

/// Without the private CA the run stops at the first TLS handshake, with exit 1 and a message
/// naming the host whose certificate is not trusted and what to set, in each client; nothing is
/// committed. (The first call of each run below is to a different client.)
#[test]
fn without_the_private_ca_each_client_fails_naming_the_untrusted_host() {
    let stand = Stand::new();
    let proxy = stand.proxy(None);
    let head = stand.emu.git(&["rev-parse", "main"]);
    let untrusted = |out: &crate::support::Result, host: &str| {
        assert_eq!(out.code(), Some(1), "{}", out.all());
        let want = format!("the TLS certificate of {host} is not trusted");
        assert!(out.all().contains(&want), "{want}:\n{}", out.all());
        assert!(out.all().contains("SSL_CERT_FILE"), "{}", out.all());
    };

    // GitHub: no role, nothing to verify; the first call reads the repository.
    let out = stand
        .promote(TAGS[0], &at(GITHUB), &at(OIDC), None)
        .input("aws_role_arn", "")
        .input("verify_images", "false")
        .env("HTTPS_PROXY", proxy.url())
        .output();
    untrusted(&out, GITHUB);

    // The others with GitHub reached over plain HTTP, directly. First the OIDC token.
    let github = &stand.emu.url;
    let out = stand
        .promote(TAGS[0], github, &at(OIDC), None)
        .env("HTTPS_PROXY", proxy.url())
        .output();
    untrusted(&out, OIDC);

    // STS, once the token came from an issuer reached over plain HTTP too.
    let issuer = format!("http://{}", upstream_of(&stand));
    let out = stand
        .promote(TAGS[0], github, &issuer, None)
        .env("HTTPS_PROXY", proxy.url())
        .output();
    untrusted(&out, STS);

    // ECR, with static keys instead of a role.
    let out = stand
        .promote(TAGS[0], github, &at(OIDC), None)
        .input("aws_role_arn", "")
        .env("AWS_ACCESS_KEY_ID", crate::support::aws::ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            crate::support::aws::SECRET_ACCESS_KEY,
        )
        .env("HTTPS_PROXY", proxy.url())
        .output();
    untrusted(&out, ECR);

    assert_eq!(
        stand.emu.git(&["rev-parse", "main"]),
        head,
        "nothing committed"
    );
}

/// The OIDC issuer's plain-HTTP address (what its TLS stand-in relays to).
fn upstream_of(stand: &Stand) -> String {
    stand
        ._oidc
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Credentials in the proxy URL reach the proxy from every client, and never the log; without
/// them the run fails at once, saying what the proxy asks for.
#[test]
fn proxy_credentials_come_from_the_proxy_url() {
    let stand = Stand::new();
    let proxy = stand.proxy(Some(("promoter", "s3cret:pa@ss")));
    let out = stand
        .promote(TAGS[0], &at(GITHUB), &at(OIDC), None)
        .env(
            "HTTPS_PROXY",
            format!("http://promoter:s3cret%3Apa%40ss@{}", proxy.addr),
        )
        .env("SSL_CERT_FILE", stand.ca.pem_file())
        .output()
        .success();
    assert!(stand.committed(TAGS[0]));
    assert_eq!(hosts(&proxy.connects()), set(&[GITHUB, OIDC, STS, ECR]));
    assert!(!out.all().contains("s3cret"), "{}", out.all());

    let out = stand
        .promote(TAGS[1], &at(GITHUB), &at(OIDC), None)
        .input("aws_role_arn", "")
        .input("verify_images", "false")
        .env("HTTPS_PROXY", proxy.url())
        .env("SSL_CERT_FILE", stand.ca.pem_file())
        .output();
    assert_eq!(out.code(), Some(1), "{}", out.all());
    assert!(
        out.all().contains(&format!(
            "the proxy {} asks for credentials (407) to reach {GITHUB}",
            proxy.url()
        )),
        "{}",
        out.all()
    );
}

/// `HTTP_PROXY` (lowercase `http_proxy` here) carries plain-HTTP destinations: GitHub and the
/// OIDC token tunnel through it, the AWS SDK sends its requests to it in absolute form.
#[test]
fn http_proxy_carries_plain_http_destinations() {
    let stand = Stand::new();
    let addr = |url: &str| -> SocketAddr {
        url.trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .parse()
            .expect("an address")
    };
    let proxy = Proxy::start(
        &[
            ("github.internal:80", addr(&stand.emu.url)),
            ("token.internal:80", addr(&stand._oidc.url)),
            ("aws.internal:80", addr(&stand.moto.endpoint)),
        ],
        None,
    );
    stand
        .promote(
            TAGS[0],
            "http://github.internal",
            "http://token.internal",
            Some("http://aws.internal"),
        )
        .env("http_proxy", proxy.url())
        .output()
        .success();
    assert!(stand.committed(TAGS[0]));
    let asked: BTreeSet<String> = proxy
        .asked()
        .into_iter()
        .map(|a| format!("{a:?}"))
        .collect();
    let want: BTreeSet<String> = [
        Asked::Connect("github.internal:80".into()),
        Asked::Connect("token.internal:80".into()),
        Asked::Forward("aws.internal:80".into()),
    ]
    .iter()
    .map(|a| format!("{a:?}"))
    .collect();
    assert_eq!(asked, want);
}
