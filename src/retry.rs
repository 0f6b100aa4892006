//! Backoff between retries, shared by the AWS and GitHub adapters and the conflict loop.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// Exponential backoff with full jitter: a random wait up to 0.25 s, 0.5 s, 1 s, 2 s, ... (capped
/// at 8 s), so concurrent runs that failed together do not retry together.
pub fn backoff(attempt: u32) -> Duration {
    let cap_ms = 250u64 << attempt.saturating_sub(1).min(5);
    // A fresh RandomState is randomly keyed: enough randomness for jitter, with no dependency.
    Duration::from_millis(RandomState::new().hash_one(Instant::now()) % cap_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_stay_under_their_cap() {
        for attempt in 1..=10 {
            let cap = Duration::from_millis(250 << (attempt - 1).min(5));
            assert!(backoff(attempt) < cap, "attempt {attempt}");
        }
    }
}
