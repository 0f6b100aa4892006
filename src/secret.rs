//! Secrets as a type: `Debug` and `Display` print `***`, so a token can't reach a log by accident;
//! and every secret the run holds is remembered, so the log can redact it from text that came
//! back from GitHub or AWS (see `actions::commands`).

use std::fmt;
use std::sync::{Mutex, PoisonError};

/// Every secret made so far in this process.
static HELD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Shorter values are not redacted: they would garble ordinary text, and no real token, JWT or
/// key is this short.
const SHORTEST: usize = 8;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        let s = s.into();
        if s.len() >= SHORTEST {
            let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
            if !held.contains(&s) {
                held.push(s.clone());
            }
        }
        Self(s)
    }

    /// The secret's value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The values of every secret made so far, longest first (so that a secret containing another
/// is redacted whole).
pub fn held() -> Vec<String> {
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner).clone();
    held.sort_by_key(|s| std::cmp::Reverse(s.len()));
    held
}

/// The forms a secret takes when a server echoes it back encoded, as the Actions runner's own
/// masker knows them: percent-encoded (a URL), and base64 (a `Basic` header), also in the middle
/// of a longer base64 text, where it starts at any of three byte alignments: for each, the
/// encoding of the secret's whole 3-byte groups from that offset appears verbatim.
pub fn encoded_forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let bytes = secret.as_bytes();
    let mut forms = vec![b64.encode(bytes)];
    for shift in 0..3 {
        let whole = bytes.len().saturating_sub(shift) / 3 * 3;
        if whole >= 6 {
            forms.push(b64.encode(&bytes[shift..shift + whole]));
        }
    }
    let encoded: String =
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    if encoded != secret {
        forms.push(encoded);
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}
