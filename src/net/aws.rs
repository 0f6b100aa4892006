//! The AWS SDK's HTTP client under the policy: aws-smithy-http-client's own connector, given the
//! trusted roots as its trust store and its `ProxyConfig`. Its top-level builder has no proxy
//! setting, so this builds the connector itself (as that crate's proxy tests do), caches one per
//! timeout setting (the SDK asks for a connector on every attempt), and names the host in the
//! failures the policy explains.
//!
//! `ProxyConfig` cannot hold an HTTP and a different HTTPS proxy at once, so it is given
//! `from_env()`: the same variables read by the same hyper-util `Matcher` the other clients ask,
//! and [`super::policy`] has already refused the values that matcher would ignore.

use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine as _;
use rustls::pki_types::CertificateDer;

pub(super) fn client(roots: &[CertificateDer<'static>]) -> SharedHttpClient {
    // The roots were checked when read, so the trust store's own parsing cannot fail on them.
    let trust = TrustStore::empty().with_pem_certificate(pem(roots));
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    SharedHttpClient::new(Client {
        tls,
        connectors: Mutex::new(Vec::new()),
    })
}

type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug)]
struct Client {
    tls: TlsContext,
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpClient for Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut cache = self
            .connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, connector)) = cache.iter().find(|(k, _)| *k == key) {
            return connector.clone();
        }
        let mut builder = aws_smithy_http_client::Connector::builder()
            .connector_settings(settings.clone())
            .proxy_config(ProxyConfig::from_env());
        builder.set_sleep_impl(components.sleep_impl());
        let connector = builder
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(self.tls.clone())
            .build();
        let connector = SharedHttpConnector::new(Explained(SharedHttpConnector::new(connector)));
        cache.push((key, connector.clone()));
        connector
    }
}

/// Replaces a connection failure the policy recognises as a refusal (an untrusted certificate,
/// a proxy wanting credentials) by its explanation, as a non-retryable error.
#[derive(Debug)]
struct Explained(SharedHttpConnector);

impl HttpConnector for Explained {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let url = request.uri().to_owned();
        let call = self.0.call(request);
        HttpConnectorFuture::new(async move {
            call.await
                .map_err(|e| match super::diagnose(&e, &url).refusal {
                    Some(refusal) => ConnectorError::user(Box::new(refusal)),
                    None => e,
                })
        })
    }
}

/// DER certificates as one PEM bundle.
pub(super) fn pem(roots: &[CertificateDer<'static>]) -> Vec<u8> {
    let mut out = String::new();
    for der in roots {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}
