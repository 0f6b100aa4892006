//! An enterprise network in a box: a throwaway CA, TLS stand-ins whose certificates it signs
//! (terminating TLS in front of the GitHub emulator, moto and the OIDC issuer), and an HTTP
//! proxy that tunnels CONNECT, forwards plain HTTP, and counts what it was asked for.
//!
//! The proxy resolves names from its own table, as a corporate proxy resolves names the runner
//! cannot: a client that went around it would look the real host up and fail.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority made for one test, trusted by nothing on the machine.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl Ca {
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "gitops-promote throwaway test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).expect("write CA");
        Self {
            issuer: Issuer::new(params, key),
            dir,
        }
    }

    /// The CA's certificate as a PEM file, for `SSL_CERT_FILE`.
    pub fn pem_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate for `names` (host names or IP addresses) and its key.
    fn leaf(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        (
            cert.der().clone(),
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
    }
}

/// Terminates TLS with a certificate for `names`, signed by `ca`, and relays the bytes to a
/// plain-HTTP stand-in (`http://127.0.0.1:PORT`).
pub struct TlsFront {
    pub addr: SocketAddr,
}

impl TlsFront {
    pub fn start(ca: &Ca, names: &[&str], upstream: &str) -> Self {
        let (cert, key) = ca.leaf(names);
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        // `http://host:port/any/path` -> `host:port`
        let upstream = upstream
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                    tokio::spawn(async move {
                        // A client that does not trust the CA hangs up during the handshake.
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    });
                }
            });
        });
        Self { addr }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// What the proxy was asked: `CONNECT host:port`, or a plain-HTTP `GET http://host:port/...`
/// (recorded as `host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Connect(String),
    Forward(String),
}

/// An HTTP proxy: CONNECT tunnels and absolute-form forwarding, to the addresses its table
/// gives for `host:port` (and to loopback addresses as they are). Optionally it wants Basic
/// credentials, answering 407 without them.
pub struct Proxy {
    pub addr: SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl Proxy {
    pub fn start(routes: &[(&str, SocketAddr)], credentials: Option<(&str, &str)>) -> Self {
        let routes: Arc<HashMap<String, SocketAddr>> = Arc::new(
            routes
                .iter()
                .map(|(name, addr)| ((*name).to_owned(), *addr))
                .collect(),
        );
        let expected = credentials.map(|(user, pass)| {
            use base64::Engine as _;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            )
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (routes, log, expected) =
                    (Arc::clone(&routes), Arc::clone(&log), expected.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &routes, &log, expected.as_deref());
                });
            }
        });
        Self { addr, asked }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().expect("lock").clone()
    }

    /// How many CONNECTs each `host:port` got.
    pub fn connects(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for asked in self.asked() {
            if let Asked::Connect(target) = asked {
                *out.entry(target).or_default() += 1;
            }
        }
        out
    }
}

fn serve(
    client: TcpStream,
    routes: &HashMap<String, SocketAddr>,
    log: &Mutex<Vec<Asked>>,
    credentials: Option<&str>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let mut client = client;
    let mut words = head[0].split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let authorized = credentials.is_none_or(|want| {
        head.iter().any(|l| {
            l.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("proxy-authorization") && value.trim() == want
            })
        })
    });
    let (target, asked, rest) = if method == "CONNECT" {
        (target.to_owned(), Asked::Connect(target.to_owned()), None)
    } else if let Some(url) = target.strip_prefix("http://") {
        let (authority, path) = url.split_at(url.find('/').unwrap_or(url.len()));
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        // Forward in origin form, without the proxy's own header.
        let path = if path.is_empty() { "/" } else { path };
        let mut forwarded = format!(
            "{method} {path} {}",
            head[0].split_whitespace().nth(2).unwrap_or("HTTP/1.1")
        );
        forwarded.push_str("\r\n");
        // One request per connection: what follows on a kept-alive one would be relayed as is.
        for line in &head[1..head.len() - 1] {
            let lower = line.to_ascii_lowercase();
            if !lower.starts_with("proxy-") && !lower.starts_with("connection:") {
                forwarded.push_str(line);
            }
        }
        forwarded.push_str("Connection: close\r\n\r\n");
        (
            authority.clone(),
            Asked::Forward(authority),
            Some(forwarded),
        )
    } else {
        return write!(
            client,
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
        );
    };
    log.lock().expect("lock").push(asked);
    if !authorized {
        return write!(
            client,
            "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    let to = routes.get(&target).copied().or_else(|| {
        let addr: SocketAddr = target.parse().ok()?;
        addr.ip().is_loopback().then_some(addr)
    });
    let upstream = match to.map(TcpStream::connect) {
        Some(Ok(upstream)) => upstream,
        _ => {
            return write!(
                client,
                "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    };
    let mut up_write = upstream.try_clone()?;
    match rest {
        None => write!(client, "HTTP/1.1 200 Connection established\r\n\r\n")?,
        Some(forwarded) => up_write.write_all(forwarded.as_bytes())?,
    }
    // Whatever the reader already buffered belongs to the tunnel.
    let buffered = reader.buffer().to_vec();
    up_write.write_all(&buffered)?;
    let mut up_read = upstream;
    let mut client_write = client.try_clone()?;
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        let _ = client_write.shutdown(std::net::Shutdown::Write);
    });
    let mut client_read = reader.into_inner();
    let _ = std::io::copy(&mut client_read, &mut up_write);
    let _ = up_write.shutdown(std::net::Shutdown::Write);
    let _ = back.join();
    Ok(())
}
