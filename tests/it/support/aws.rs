//! AWS stand-ins: one moto server per test binary (installed into `.venv-test` by the test
//! command) with an AWS account per test, and a local OIDC issuer answering the runner's token
//! request.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::stand_in;

/// Static keys moto accepts; the "secret" parts double as values a log must never show.
pub const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const OIDC_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmV4YW1wbGUtb3JnL3NhbXBsZS1zYWFzLWFwcDpyZWY6cmVmcy9oZWFkcy9tYWluIn0.c2lnbmF0dXJl";
pub const OIDC_REQUEST_TOKEN: &str = "oidc-request-token-7f3a";
pub const REGION: &str = "us-east-1";
/// The account moto gives the static keys, and the one the example's `newName`s name.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The moto server this test binary shares: started by the first test that asks, stopped when
/// the binary exits (see `stand_in::spawn`).
struct Server {
    endpoint: String,
    _process: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();
/// Whether a test holds the default account (`Moto::start`), and the signal that it let go.
static DEFAULT_TAKEN: Mutex<bool> = Mutex::new(false);
static DEFAULT_FREED: Condvar = Condvar::new();
/// What was pushed into the default account, emptied before the next test takes it.
static DEFAULT_PUSHED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
static NEXT_ACCOUNT: AtomicU64 = AtomicU64::new(1);

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        stand_in::require_installed();
        let bin = stand_in::venv().join("bin/moto_server");
        let port = free_port().to_string();
        let argv: [&OsStr; 5] = [
            bin.as_ref(),
            "-H".as_ref(),
            "127.0.0.1".as_ref(),
            "-p".as_ref(),
            port.as_ref(),
        ];
        let mut process = stand_in::spawn(&argv, None, Stdio::null(), Stdio::null());
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            if Instant::now() > deadline || process.try_wait().ok().flatten().is_some() {
                stand_in::stop(&mut process);
                panic!("moto did not start; run ./scripts/test, which installs it");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: process,
        }
    })
}

/// An AWS account on the moto server the test binary shares. moto keeps ECR state per account,
/// so a test with an account of its own sees no other test's repositories.
pub struct Moto {
    pub endpoint: String,
    account: String,
    _exclusive: Option<Exclusive>,
}

/// The default account, taken by one test until dropped.
struct Exclusive;

impl Exclusive {
    fn take() -> Self {
        let mut taken = DEFAULT_TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        while *taken {
            taken = DEFAULT_FREED.wait(taken).unwrap_or_else(|e| e.into_inner());
        }
        *taken = true;
        Self
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        *DEFAULT_TAKEN.lock().unwrap_or_else(|e| e.into_inner()) = false;
        DEFAULT_FREED.notify_one();
    }
}

impl Moto {
    /// The default account (`DEFAULT_ACCOUNT`): the one the static keys (`ACCESS_KEY_ID`) reach
    /// and the example's image names point at. The test holds it alone until the handle drops
    /// (other tests wanting it wait), and finds it empty.
    pub fn start() -> Self {
        let endpoint = server().endpoint.clone();
        let moto = Self {
            endpoint,
            account: DEFAULT_ACCOUNT.to_owned(),
            _exclusive: Some(Exclusive::take()),
        };
        let pushed = std::mem::take(&mut *DEFAULT_PUSHED.lock().expect("lock"));
        for (region, repository) in pushed {
            let client = moto.ecr(&region, None);
            runtime().block_on(async {
                let _ = client
                    .delete_repository()
                    .repository_name(&repository)
                    .force(true)
                    .send()
                    .await;
            });
        }
        moto
    }

    /// A fresh account of this test's own, in parallel with every other test. Reach it with a
    /// role in it (`role`), as the action does through OIDC.
    pub fn fresh_account() -> Self {
        let n = NEXT_ACCOUNT.fetch_add(1, Ordering::Relaxed);
        Self {
            endpoint: server().endpoint.clone(),
            account: format!("{:012}", 200_000_000_000 + n),
            _exclusive: None,
        }
    }

    /// The account's id, as `ecr_registry_id` takes it.
    pub fn account_id(&self) -> &str {
        &self.account
    }

    /// The ARN of a role named `name` in this account (moto lets anyone assume any role).
    pub fn role(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.account)
    }

    fn ecr(&self, region: &str, account_role: Option<&str>) -> aws_sdk_ecr::Client {
        let rt = runtime();
        let seeder = self.role("seeder");
        let account_role = match account_role {
            Some(role) => Some(role),
            None if self.account != DEFAULT_ACCOUNT => Some(seeder.as_str()),
            None => None,
        };
        let (key, secret, token) = match account_role {
            // Credentials of another account: assume a role in it first, as moto scopes ECR
            // state by the caller's account.
            Some(role) => rt.block_on(async {
                let conf = self
                    .config(region, ACCESS_KEY_ID, SECRET_ACCESS_KEY, None)
                    .await;
                let sts = aws_sdk_sts::Client::new(&conf);
                let out = sts
                    .assume_role()
                    .role_arn(role)
                    .role_session_name("seed")
                    .send()
                    .await
                    .expect("assume role in moto");
                let c = out.credentials().expect("credentials");
                (
                    c.access_key_id().to_owned(),
                    c.secret_access_key().to_owned(),
                    Some(c.session_token().to_owned()),
                )
            }),
            None => (ACCESS_KEY_ID.to_owned(), SECRET_ACCESS_KEY.to_owned(), None),
        };
        rt.block_on(async {
            aws_sdk_ecr::Client::new(&self.config(region, &key, &secret, token).await)
        })
    }

    async fn config(
        &self,
        region: &str,
        key: &str,
        secret: &str,
        token: Option<String>,
    ) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                key, secret, token, None, "test",
            ))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .load()
            .await
    }

    /// Creates the repository (if needed) and pushes a single-platform image manifest at `tag`
    /// into this account (or the account of `account_role`); returns its real digest (sha256 of
    /// the manifest bytes).
    pub fn push(
        &self,
        region: &str,
        account_role: Option<&str>,
        repository: &str,
        tag: &str,
    ) -> String {
        let client = self.ecr(region, account_role);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{:064x}","size":1469}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{:064x}","size":3208}}],"annotations":{{"repo":"{repository}","tag":"{tag}"}}}}"#,
            repository.len(),
            tag.len()
        );
        let digest = format!("sha256:{}", sha256_hex(manifest.as_bytes()));
        if account_role.is_none() && self.account == DEFAULT_ACCOUNT {
            DEFAULT_PUSHED
                .lock()
                .expect("lock")
                .insert((region.to_owned(), repository.to_owned()));
        }
        runtime().block_on(async {
            let _ = client
                .create_repository()
                .repository_name(repository)
                .send()
                .await;
            client
                .put_image()
                .repository_name(repository)
                .image_manifest(&manifest)
                .image_manifest_media_type("application/vnd.oci.image.manifest.v1+json")
                .image_tag(tag)
                .image_digest(&digest)
                .send()
                .await
                .expect("put image");
        });
        digest
    }
}

impl Moto {
    /// Pushes an OCI image index (linux/amd64 and linux/arm64 manifests) at `tag`; returns the
    /// index's digest.
    pub fn push_index(&self, region: &str, repository: &str, tag: &str) -> String {
        let amd64 = self.push(region, None, repository, &format!("{tag}-amd64"));
        let arm64 = self.push(region, None, repository, &format!("{tag}-arm64"));
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{amd64}","size":512,"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{arm64}","size":512,"platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#
        );
        let digest = format!("sha256:{}", sha256_hex(index.as_bytes()));
        let client = self.ecr(region, None);
        runtime().block_on(async {
            client
                .put_image()
                .repository_name(repository)
                .image_manifest(&index)
                .image_manifest_media_type("application/vnd.oci.image.index.v1+json")
                .image_tag(tag)
                .image_digest(&digest)
                .send()
                .await
                .expect("put image index");
        });
        digest
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn sha256_hex(data: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

/// A local stand-in for the runner's OIDC token endpoint. It checks the bearer token and
/// records each request's query.
pub struct OidcIssuer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl OidcIssuer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        authorized = line
                            .trim_end()
                            .ends_with(&format!("Bearer {OIDC_REQUEST_TOKEN}"));
                    }
                }
                seen.lock()
                    .expect("lock")
                    .push(request_line.trim().to_owned());
                let (status, body) = if authorized {
                    ("200 OK", format!(r#"{{"count":1,"value":"{OIDC_JWT}"}}"#))
                } else {
                    ("401 Unauthorized", r#"{"message":"bad token"}"#.to_owned())
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.read(&mut [0u8; 0]);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/_apis/distributedtask/token?api-version=2.0"),
            requests,
        }
    }
}

/// An answer the fault proxy gives instead of forwarding.
#[derive(Clone)]
pub struct Injected {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Injected {
    /// An STS error in its XML form.
    pub fn sts(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            content_type: "text/xml",
            body: format!(
                r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>c0ffee</RequestId></ErrorResponse>"#
            ),
        }
    }

    /// An ECR error in its JSON form.
    pub fn ecr(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            content_type: "application/x-amz-json-1.1",
            body: format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        }
    }
}

/// A small HTTP/1.1 proxy in front of moto: requests whose body or headers contain `matching`
/// get the queued injected answers first, then are forwarded. It counts what it saw.
pub struct FaultProxy {
    pub endpoint: String,
    pub seen: Arc<Mutex<usize>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, matching: &'static str, answers: Vec<Injected>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let queue = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
        let seen = Arc::new(Mutex::new(0usize));
        let counter = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, queue, counter) =
                    (upstream.clone(), Arc::clone(&queue), Arc::clone(&counter));
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, matching, &queue, &counter);
                });
            }
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            seen,
        }
    }

    pub fn seen(&self) -> usize {
        *self.seen.lock().expect("lock")
    }
}

/// Reads one request (head and Content-Length body), answers it, and closes the connection.
fn serve(
    client: TcpStream,
    upstream: &str,
    matching: &str,
    queue: &Mutex<std::collections::VecDeque<Injected>>,
    counter: &Mutex<usize>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n";
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(&line);
        }
        if end {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut client = client;
    let request = format!("{head}{}", String::from_utf8_lossy(&body));
    if request.contains(matching) {
        *counter.lock().expect("lock") += 1;
        if let Some(answer) = queue.lock().expect("lock").pop_front() {
            return write!(
                client,
                "HTTP/1.1 {} Injected\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                answer.status,
                answer.content_type,
                answer.body.len(),
                answer.body
            );
        }
    }
    // Forward: the head without its end, then `Connection: close`, then the body.
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(head.trim_end_matches("\r\n").as_bytes())?;
    up.write_all(b"\r\nConnection: close\r\n\r\n")?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    // Tell the client this connection ends here, whatever moto said.
    let text = String::from_utf8_lossy(&response).into_owned();
    let (resp_head, resp_body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let kept: Vec<&str> = resp_head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    write!(
        client,
        "{}\r\nConnection: close\r\n\r\n{resp_body}",
        kept.join("\r\n")
    )
}
