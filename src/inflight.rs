//! The external calls under way. Each adapter registers its call (the OIDC token, STS, ECR, each
//! GitHub request) for as long as it waits, so that a run stopped by its deadline can say which
//! step it was waiting for, instead of only that time ran out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

static CALLS: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A call under way; it leaves the list when dropped (done, failed or given up).
#[must_use = "the call is under way only while this is held"]
pub struct Call(u64);

/// Registers `what` (e.g. "GitHub: committing to o/r branch `main`") until the guard drops.
pub fn enter(what: impl Into<String>) -> Call {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    CALLS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((id, what.into()));
    Call(id)
}

impl Drop for Call {
    fn drop(&mut self) {
        CALLS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(id, _)| *id != self.0);
    }
}

/// What the run is waiting for now, oldest first, each once.
pub fn waiting() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, what) in CALLS.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        if !out.contains(what) {
            out.push(what.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_listed_while_its_guard_lives() {
        let outer = enter("test: outer call");
        {
            let _inner = enter("test: inner call");
            let now = waiting();
            assert!(now.contains(&"test: outer call".to_owned()), "{now:?}");
            assert!(now.contains(&"test: inner call".to_owned()), "{now:?}");
        }
        assert!(!waiting().contains(&"test: inner call".to_owned()));
        drop(outer);
        assert!(!waiting().iter().any(|w| w.starts_with("test: ")));
    }
}
