//! Enterprise networks: one trust policy and one proxy policy for every client the action runs
//! (GitHub through octocrab, the OIDC token through ureq, STS and ECR through the AWS SDK), read
//! from the environment once, the first time a client is built.
//!
//! - Trust: the certificates of `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, else the
//!   system's roots (the image sets `SSL_CERT_FILE` to its bundle). The same roots go to all
//!   three clients; a broken `SSL_CERT_FILE` fails the run instead of falling back.
//! - Proxies: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (or their lowercase forms),
//!   with curl's rules as hyper-util's `Matcher` implements them; every client asks that one
//!   matcher (the AWS connector builds the same one from the same variables, see [`aws`]).
//!   Connections through a proxy are CONNECT tunnels; `https://` proxies are reached over TLS
//!   with the same roots. SOCKS proxies are refused with a clear error.
//!
//! Failures name the host and, when a proxy was in the way, the proxy ([`diagnose`]).

mod aws;
mod connector;

use std::error::Error as StdError;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::Uri;
use hyper_util::client::proxy::matcher::Matcher;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

pub use connector::Connector;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// A proxy or trust variable that cannot be used as given.
    #[error("{var}={value}: {reason}")]
    Variable {
        var: &'static str,
        /// The value, with any credentials hidden.
        value: String,
        reason: String,
    },
    #[error(
        "the TLS certificate of {host} is not trusted ({reason}); the trusted roots are {trust}. \
         If a proxy or a private CA on this network signs it, set SSL_CERT_FILE to a PEM bundle \
         that holds that CA"
    )]
    Untrusted {
        host: String,
        reason: String,
        trust: String,
    },
    #[error(
        "the proxy {proxy} asks for credentials (407) to reach {host}; give them in the proxy \
         variable, as http://user:password@host:port"
    )]
    ProxyAuth { host: String, proxy: String },
}

/// The trust and proxy policies, as read from the environment.
pub struct Net {
    trust: Trust,
    proxies: Proxies,
    /// Built on first use and shared by every SDK client, so they share one connection pool.
    aws: OnceLock<aws_smithy_runtime_api::client::http::SharedHttpClient>,
}

struct Trust {
    /// Every root that parses as a trust anchor, in DER.
    roots: Vec<CertificateDer<'static>>,
    /// Where they came from, for messages: `SSL_CERT_FILE=/x (3 certificates)`.
    source: String,
    config: Arc<rustls::ClientConfig>,
}

struct Proxies {
    /// The proxy URL for `https://` destinations (`HTTPS_PROXY`, else `ALL_PROXY`), as given.
    https: Option<String>,
    /// The same for `http://` destinations (`HTTP_PROXY`, else `ALL_PROXY`).
    http: Option<String>,
    matcher: Arc<Matcher>,
}

/// The process's policy, read on first use.
pub fn policy() -> Result<&'static Net, NetError> {
    static POLICY: OnceLock<Result<Net, NetError>> = OnceLock::new();
    POLICY
        .get_or_init(|| Net::read(&|name| std::env::var_os(name)))
        .as_ref()
        .map_err(Clone::clone)
}

impl Net {
    /// Reads the policy through `var` (the process environment, or a table in unit tests).
    fn read(var: &dyn Fn(&str) -> Option<OsString>) -> Result<Self, NetError> {
        Ok(Self {
            trust: Trust::read(var)?,
            proxies: Proxies::read(var)?,
            aws: OnceLock::new(),
        })
    }

    /// The proxy a request to `url` goes through, credentials hidden; `None` for a direct one.
    pub fn proxy_for(&self, url: &str) -> Option<String> {
        let uri: Uri = url.parse().ok()?;
        let intercept = self.proxies.matcher.intercept(&uri)?;
        Some(intercept.uri().to_string().trim_end_matches('/').to_owned())
    }

    /// The hyper connector for octocrab: proxy tunnels, TLS with the trusted roots, and
    /// timeouts for connecting (TCP, CONNECT and TLS together) and for each read.
    pub fn connector(&self, connect: Duration, read: Duration) -> Connector {
        connector::new(
            Arc::clone(&self.trust.config),
            Arc::clone(&self.proxies.matcher),
            connect,
            read,
        )
    }

    /// A ureq agent for one request to `url`: the trusted roots, and the proxy the policy names
    /// for `url`, or none (ureq's own reading of the variables differs: it ignores the scheme).
    pub fn ureq_agent(&self, url: &str, timeout: Duration) -> Result<ureq::Agent, NetError> {
        let proxy = match self.proxy_raw_for(url) {
            None => None,
            Some((var, raw)) => Some(ureq::Proxy::new(raw).map_err(|e| NetError::Variable {
                var,
                value: redact(raw),
                reason: e.to_string(),
            })?),
        };
        let roots: Vec<ureq::tls::Certificate<'static>> = self
            .trust
            .roots
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .build();
        Ok(ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .tls_config(tls)
            .proxy(proxy)
            .build()
            .new_agent())
    }

    /// The AWS SDK's HTTP client: its own connector, given the same roots and proxy variables.
    pub fn aws_http_client(&self) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
        self.aws
            .get_or_init(|| aws::client(&self.trust.roots))
            .clone()
    }

    fn proxy_raw_for(&self, url: &str) -> Option<(&'static str, &str)> {
        let uri: Uri = url.parse().ok()?;
        self.proxies.matcher.intercept(&uri)?;
        match uri.scheme_str() {
            Some("https") => self.proxies.https.as_deref().map(|p| ("HTTPS_PROXY", p)),
            _ => self.proxies.http.as_deref().map(|p| ("HTTP_PROXY", p)),
        }
    }
}

impl Trust {
    fn read(var: &dyn Fn(&str) -> Option<OsString>) -> Result<Self, NetError> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let file = set("SSL_CERT_FILE").map(PathBuf::from);
        let dirs: Vec<PathBuf> = set("SSL_CERT_DIR")
            .map(|d| std::env::split_paths(&d).collect())
            .unwrap_or_default();

        let (found, source) = if file.is_none() && dirs.is_empty() {
            // Unset: the system's roots (an empty set only fails the TLS handshakes, so a run
            // that talks plain HTTP to local stand-ins still works without a bundle).
            let found = rustls_native_certs::load_native_certs();
            (found.certs, "the system's".to_owned())
        } else {
            let mut certs = Vec::new();
            let mut sources = Vec::new();
            if let Some(file) = &file {
                certs.extend(load("SSL_CERT_FILE", file, Some(file.as_path()), None)?);
                sources.push(format!("SSL_CERT_FILE={}", file.display()));
            }
            for dir in &dirs {
                certs.extend(load("SSL_CERT_DIR", dir, None, Some(dir.as_path()))?);
                sources.push(format!("SSL_CERT_DIR={}", dir.display()));
            }
            (certs, sources.join(" and "))
        };

        let mut store = RootCertStore::empty();
        let mut roots = Vec::new();
        for der in found {
            if store.add(der.clone()).is_ok() {
                roots.push(der);
            }
        }
        if roots.is_empty() && (file.is_some() || !dirs.is_empty()) {
            return Err(NetError::Variable {
                var: if file.is_some() {
                    "SSL_CERT_FILE"
                } else {
                    "SSL_CERT_DIR"
                },
                value: source.clone(),
                reason: "holds no usable PEM certificate".into(),
            });
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::Variable {
            var: "SSL_CERT_FILE",
            value: source.clone(),
            reason: e.to_string(),
        })?
        .with_root_certificates(store)
        .with_no_client_auth();
        let source = format!("{source} ({} certificates)", roots.len());
        Ok(Self {
            roots,
            source,
            config: Arc::new(config),
        })
    }
}

/// The certificates of one file or directory; any error reading it fails the run.
fn load(
    var: &'static str,
    path: &std::path::Path,
    file: Option<&std::path::Path>,
    dir: Option<&std::path::Path>,
) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let found = rustls_native_certs::load_certs_from_paths(file, dir);
    if let Some(error) = found.errors.first() {
        return Err(NetError::Variable {
            var,
            value: path.display().to_string(),
            reason: error.to_string(),
        });
    }
    Ok(found.certs)
}

impl Proxies {
    fn read(var: &dyn Fn(&str) -> Option<OsString>) -> Result<Self, NetError> {
        // As hyper-util reads them: the first of the pair that is set wins, even when empty.
        let first = |names: [&'static str; 2]| -> Result<Option<(&'static str, String)>, NetError> {
            for name in names {
                if let Some(value) = var(name) {
                    return match value.into_string() {
                        Ok(v) => Ok(Some((name, v))),
                        Err(v) => Err(NetError::Variable {
                            var: name,
                            value: redact(&v.to_string_lossy()),
                            reason: "not valid UTF-8".into(),
                        }),
                    };
                }
            }
            Ok(None)
        };
        let https = first(["HTTPS_PROXY", "https_proxy"])?;
        let http = first(["HTTP_PROXY", "http_proxy"])?;
        let all = first(["ALL_PROXY", "all_proxy"])?;
        let no = first(["NO_PROXY", "no_proxy"])?;
        for (name, value) in [&https, &http, &all].into_iter().flatten() {
            check_proxy(name, value)?;
        }
        let given = |v: Option<(&'static str, String)>| v.map(|(_, v)| v).filter(|v| !v.is_empty());
        let all = given(all);
        let https = given(https).or_else(|| all.clone());
        let http = given(http).or(all);
        let no = given(no).unwrap_or_default();
        let matcher = Matcher::builder()
            .https(https.clone().unwrap_or_default())
            .http(http.clone().unwrap_or_default())
            .no(no)
            .build();
        Ok(Self {
            matcher: Arc::new(matcher),
            https,
            http,
        })
    }
}

/// Refuses what the matcher would silently ignore (and so send the run around the proxy).
fn check_proxy(var: &'static str, raw: &str) -> Result<(), NetError> {
    if raw.is_empty() {
        return Ok(());
    }
    let bad = |reason: &str| NetError::Variable {
        var,
        value: redact(raw),
        reason: reason.to_owned(),
    };
    let uri: Uri = raw
        .parse()
        .map_err(|_| bad("not a proxy URL; give http://host:port"))?;
    match uri.scheme_str() {
        None | Some("http" | "https") => {}
        Some(s) if s.starts_with("socks") => {
            return Err(bad(
                "SOCKS proxies are not supported; give an HTTP proxy that allows CONNECT, as \
                 http://host:port",
            ));
        }
        Some(_) => return Err(bad("unsupported scheme; give http://host:port")),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err(bad("no host; give http://host:port")),
    }
}

/// A proxy URL with its credentials hidden.
fn redact(raw: &str) -> String {
    let (scheme, rest) = raw.split_once("://").unwrap_or(("", raw));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let prefix = if scheme.is_empty() {
                String::new()
            } else {
                format!("{scheme}://")
            };
            format!("{prefix}***@{}", &rest[at + 1..])
        }
        None => raw.to_owned(),
    }
}

/// What a failed connection means, for the caller's retry loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// Trying again could help (a refused or reset connection, a timeout); not for an
    /// untrusted certificate or a proxy that wants credentials.
    pub retry: bool,
    pub message: String,
    /// The refusal itself, when it is one.
    pub refusal: Option<NetError>,
}

/// Explains a transport error of a request to `url`: the whole cause chain, the host, and the
/// proxy when one was in the way.
pub fn diagnose(err: &(dyn StdError + 'static), url: &str) -> Diagnosis {
    let host = host_of(url);
    let net = policy().ok();
    let proxy = net.and_then(|n| n.proxy_for(url));
    let causes = causes(err);
    if let Some(reason) = causes.iter().find_map(|e| certificate_error(*e)) {
        let trust = net.map_or_else(|| "unknown".to_owned(), |n| n.trust.source.clone());
        return refusal(NetError::Untrusted {
            host,
            reason,
            trust,
        });
    }
    let text = chain(&causes);
    if let Some(proxy) = &proxy
        && wants_proxy_credentials(&text)
    {
        return refusal(NetError::ProxyAuth {
            host,
            proxy: proxy.clone(),
        });
    }
    let message = match proxy {
        Some(proxy) => format!("{host} through the proxy {proxy}: {text}"),
        None => format!("{host}: {text}"),
    };
    Diagnosis {
        retry: true,
        message,
        refusal: None,
    }
}

/// [`diagnose`] for ureq, whose error type keeps its cause in variants rather than `source()`.
pub fn diagnose_ureq(err: &ureq::Error, url: &str) -> Diagnosis {
    match err {
        ureq::Error::Rustls(e) => diagnose(e, url),
        ureq::Error::Io(e) => diagnose(e, url),
        other => diagnose(other, url),
    }
}

fn refusal(error: NetError) -> Diagnosis {
    Diagnosis {
        retry: false,
        message: error.to_string(),
        refusal: Some(error),
    }
}

/// `host[:port]` of a URL, for messages; the URL itself may carry a query worth keeping out.
fn host_of(url: &str) -> String {
    url.parse::<Uri>()
        .ok()
        .and_then(|u| {
            u.authority()
                .map(|a| a.as_str().rsplit('@').next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| "(unknown host)".to_owned())
}

/// The error and its causes. `io::Error::source` skips the error it wraps (it returns that
/// error's source), so a wrapped error is visited explicitly.
fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e);
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
        if out.len() > 16 {
            break;
        }
    }
    out
}

/// The causes' messages, each once: wrappers often repeat their cause's text.
fn chain(causes: &[&(dyn StdError + 'static)]) -> String {
    let mut text = String::new();
    for e in causes {
        let part = e.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn certificate_error(e: &(dyn StdError + 'static)) -> Option<String> {
    match e.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(c) => Some(c.to_string()),
        _ => None,
    }
}

/// hyper-util's tunnel error type is not exported and ureq's carries a string, so a 407 is
/// recognised by their messages.
fn wants_proxy_credentials(text: &str) -> bool {
    text.contains("proxy authorization required") || text.contains("proxy server responded 407")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Net, NetError> {
        let table: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        Net::read(&|name| table.get(name).cloned())
    }

    fn ca_file() -> tempfile::NamedTempFile {
        // Any certificate of the system's will do as a trust anchor.
        let der = rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .next()
            .expect("the test machine has CA roots");
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), aws::pem(std::slice::from_ref(&der))).expect("write");
        file
    }

    #[test]
    fn https_proxy_applies_to_https_destinations_and_no_proxy_exempts_hosts() {
        let net = read(&[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("NO_PROXY", "localhost,.internal"),
            ("SSL_CERT_FILE", ca_file().path().to_str().expect("utf-8")),
        ])
        .expect("reads");
        assert_eq!(
            net.proxy_for("https://api.github.com/repos").as_deref(),
            Some("http://proxy.corp:3128")
        );
        assert_eq!(net.proxy_for("http://api.github.com/repos"), None);
        assert_eq!(net.proxy_for("https://localhost:8443/"), None);
        assert_eq!(net.proxy_for("https://ghe.internal/api/v3"), None);
    }

    #[test]
    fn lowercase_forms_are_honoured_and_all_proxy_is_the_fallback() {
        let net = read(&[
            ("https_proxy", "http://lower:1"),
            ("all_proxy", "http://every:2"),
            ("no_proxy", "sts.amazonaws.com"),
        ])
        .expect("reads");
        assert_eq!(
            net.proxy_for("https://x.example").as_deref(),
            Some("http://lower:1")
        );
        assert_eq!(
            net.proxy_for("http://x.example").as_deref(),
            Some("http://every:2")
        );
        assert_eq!(net.proxy_for("https://sts.amazonaws.com/"), None);
    }

    #[test]
    fn proxy_values_that_would_be_ignored_fail_clearly_without_showing_credentials() {
        let err = read(&[("HTTPS_PROXY", "socks5://user:hunter2@proxy:1080")])
            .err()
            .expect("refused");
        let text = err.to_string();
        assert!(
            text.starts_with("HTTPS_PROXY=socks5://***@proxy:1080: SOCKS"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        let err = read(&[("http_proxy", "ftp://proxy:21")])
            .err()
            .expect("refused");
        assert!(err.to_string().contains("unsupported scheme"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_ca_bundle_fails_instead_of_falling_back() {
        let err = read(&[("SSL_CERT_FILE", "/nonexistent/ca.pem")])
            .err()
            .expect("refused");
        assert!(
            err.to_string()
                .starts_with("SSL_CERT_FILE=/nonexistent/ca.pem: "),
            "{err}"
        );
        let empty = tempfile::NamedTempFile::new().expect("temp file");
        let err = read(&[("SSL_CERT_FILE", empty.path().to_str().expect("utf-8"))])
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("no usable PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn ssl_cert_file_replaces_the_system_roots() {
        let net =
            read(&[("SSL_CERT_FILE", ca_file().path().to_str().expect("utf-8"))]).expect("reads");
        assert_eq!(net.trust.roots.len(), 1);
        assert!(
            net.trust.source.ends_with("(1 certificates)"),
            "{}",
            net.trust.source
        );
    }

    #[test]
    fn credentials_are_hidden_in_proxy_urls() {
        assert_eq!(redact("http://u:p@h:1/x"), "http://***@h:1/x");
        assert_eq!(redact("u:p@h:1"), "***@h:1");
        assert_eq!(redact("http://h:1/a@b"), "http://h:1/a@b");
    }

    #[test]
    fn an_untrusted_certificate_is_a_refusal_naming_the_host() {
        let cause = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let d = diagnose(&cause, "https://api.github.test:8443/repos/o/r");
        assert!(!d.retry);
        assert!(
            d.message.starts_with(
                "the TLS certificate of api.github.test:8443 is not trusted (UnknownIssuer)"
            ),
            "{}",
            d.message
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let d = diagnose(&refused, "https://sts.test/?Action=x");
        assert!(d.retry);
        assert!(d.message.starts_with("sts.test: "), "{}", d.message);
    }
}
