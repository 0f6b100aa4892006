//! A call to a Flux Receiver (notification-controller, docs/spec/v1/receivers.md), so the
//! GitRepository and its Kustomizations reconcile now instead of after their interval.
//!
//! A `generic-hmac` Receiver checks `X-Signature: <hash>=<hex HMAC of the raw body>`, keyed
//! with the token in its `secretRef`; sha256 is sent. A `generic` Receiver checks nothing but
//! the secret path, and ignores the header. Flux answers with an empty body: 200 when a
//! reconcile was requested, 400 for a missing or wrong signature, 404 for an unknown path and
//! 503 when the Receiver is suspended or not ready.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

const ATTEMPTS: u32 = 3;

/// Where the Receiver is, and the token it signs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    /// The Receiver's token; `None` for a `generic` Receiver, which checks no signature.
    pub secret: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error(
        "the Flux Receiver refused the call (400): the signature does not match; \
         flux_webhook_secret must be the token in the Receiver's secretRef"
    )]
    BadSignature,
    #[error(
        "the Flux Receiver refused the call (400): a generic-hmac Receiver needs \
         flux_webhook_secret, the token in its secretRef"
    )]
    Unsigned,
    #[error(
        "no Flux Receiver answers at flux_webhook_url (404): use the path Flux puts in the \
         Receiver's status (`webhookPath`) on the host that exposes notification-controller's \
         webhook receiver"
    )]
    NotFound,
    #[error("the Flux Receiver is suspended or not ready (503)")]
    Unavailable,
    #[error("the Flux Receiver answered {0}")]
    Status(u16),
    #[error("the Flux Receiver could not be reached: {0}")]
    Unreachable(String),
}

/// `sha256=<hex HMAC-SHA256 of body, keyed with secret>`, the `X-Signature` value.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// POSTs `body` (JSON) to the Receiver, signed when a secret is given. Network errors and 5xx
/// other than 503 are tried again, briefly; a refusal is returned at once.
pub async fn call(hook: &Webhook, body: Vec<u8>) -> Result<(), ReceiverError> {
    let hook = hook.clone();
    tokio::task::spawn_blocking(move || call_blocking(&hook, &body))
        .await
        .unwrap_or_else(|e| Err(ReceiverError::Unreachable(e.to_string())))
}

fn call_blocking(hook: &Webhook, body: &[u8]) -> Result<(), ReceiverError> {
    // The roots and the proxy of src/net's policy, as every client gets them.
    let agent = crate::net::policy()
        .and_then(|net| net.ureq_agent(&hook.url, Duration::from_secs(10)))
        .map_err(|e| ReceiverError::Unreachable(e.to_string()))?;
    let _call = crate::inflight::enter("the Flux Receiver (flux_webhook_url)");
    let mut last = ReceiverError::Unreachable("not tried".into());
    for attempt in 1..=ATTEMPTS {
        let mut request = agent
            .post(&hook.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "gitops-promote");
        if let Some(secret) = &hook.secret {
            request = request.header("X-Signature", &signature(secret.expose(), body));
        }
        last = match request.send(body) {
            Ok(response) => match response.status().as_u16() {
                200..=299 => return Ok(()),
                400 if hook.secret.is_some() => return Err(ReceiverError::BadSignature),
                400 => return Err(ReceiverError::Unsigned),
                404 => return Err(ReceiverError::NotFound),
                503 => return Err(ReceiverError::Unavailable),
                s @ 500..=599 => ReceiverError::Status(s),
                s => return Err(ReceiverError::Status(s)),
            },
            Err(e) => {
                let diagnosis = crate::net::diagnose_ureq(&e, &hook.url);
                if !diagnosis.retry {
                    return Err(ReceiverError::Unreachable(diagnosis.message));
                }
                ReceiverError::Unreachable(diagnosis.message)
            }
        };
        if attempt < ATTEMPTS {
            std::thread::sleep(crate::retry::backoff(attempt));
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2 (HMAC-SHA-256).
    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
