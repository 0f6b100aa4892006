//! The hyper connector octocrab is given: a CONNECT tunnel through the proxy the policy names
//! for a destination (hyper-util's `Tunnel`), or a direct TCP connection, then TLS with the
//! trusted roots (hyper-rustls), with connect and read timeouts (hyper-timeout).
//!
//! octocrab's own connector has neither proxies nor a trust setting; hyper-util has the tunnel
//! and the matcher but nothing that picks between them per destination, so [`Route`] does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What octocrab's client connects with.
pub type Connector = TimeoutConnector<HttpsConnector<Route>>;

pub(super) fn new(
    tls: Arc<rustls::ClientConfig>,
    proxies: Arc<Matcher>,
    connect: Duration,
    read: Duration,
) -> Connector {
    let mut direct = HttpConnector::new();
    // Destinations are https URLs; TLS is layered on by the connector around this one.
    direct.enforce_http(false);
    let https = |config: &rustls::ClientConfig| {
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config.clone())
            .https_or_http()
            .enable_http1()
    };
    let route = Route {
        // To an `https://` proxy, TLS with the same roots; to an `http://` one, plain TCP.
        to_proxy: https(&tls).wrap_connector(direct.clone()),
        direct,
        proxies,
    };
    let mut connector = TimeoutConnector::new(https(&tls).wrap_connector(route));
    connector.set_connect_timeout(Some(connect));
    connector.set_read_timeout(Some(read));
    connector
}

/// Opens the stream to a destination: straight to it, or tunnelled through its proxy.
#[derive(Clone)]
pub struct Route {
    direct: HttpConnector,
    to_proxy: HttpsConnector<HttpConnector>,
    proxies: Arc<Matcher>,
}

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

impl Service<Uri> for Route {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Both inner connectors are always ready; each call below starts its own connection.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self.proxies.intercept(&dst) {
            None => {
                let connecting = self.direct.call(dst);
                Box::pin(async move { Ok(MaybeHttpsStream::Http(connecting.await?)) })
            }
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.to_proxy.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let tunnelling = tunnel.call(with_port(dst));
                Box::pin(async move { Ok(tunnelling.await?) })
            }
        }
    }
}

/// `dst` with its port spelled out: hyper-util's tunnel asks for port 443 when the URL names
/// none, even for an `http://` one.
fn with_port(dst: Uri) -> Uri {
    if dst.port().is_some() {
        return dst;
    }
    let port = if dst.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let authority = match dst.host().map(|host| format!("{host}:{port}").parse()) {
        Some(Ok(authority)) => authority,
        _ => return dst,
    };
    let mut parts = dst.clone().into_parts();
    parts.authority = Some(authority);
    Uri::from_parts(parts).unwrap_or(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnels_name_the_scheme_s_default_port() {
        let uri = |s: &str| s.parse::<Uri>().expect("a URI");
        assert_eq!(
            with_port(uri("http://ghe.corp/api")),
            uri("http://ghe.corp:80/api")
        );
        assert_eq!(
            with_port(uri("https://api.github.com/x")),
            uri("https://api.github.com:443/x")
        );
        assert_eq!(with_port(uri("https://h:8443/")), uri("https://h:8443/"));
    }
}
