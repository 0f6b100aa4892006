//! Backoff between retries, shared by the AWS and GitHub adapters and the conflict loop.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// Exponential backoff with full jitter: a random wait below [`cap`], so concurrent runs that
/// failed together do not retry together.
pub fn backoff(attempt: u32) -> Duration {
    let cap_ms = cap(attempt).as_millis() as u64;
    // A fresh RandomState is randomly keyed: enough randomness for jitter, with no dependency.
    Duration::from_millis(RandomState::new().hash_one(Instant::now()) % cap_ms)
}

/// The most attempt `attempt` (from 1) waits: 0.25 s, doubling each attempt, at most 8 s.
fn cap(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.saturating_sub(1).min(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_double_from_a_quarter_second_up_to_eight() {
        let caps: Vec<u128> = (1..=8).map(|a| cap(a).as_millis()).collect();
        assert_eq!(caps, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(cap(0), cap(1));
    }

    #[test]
    fn waits_stay_below_their_cap_and_vary() {
        let waits: Vec<Duration> = (0..32).map(|_| backoff(6)).collect();
        assert!(waits.iter().all(|w| *w < cap(6)), "{waits:?}");
        // 32 draws below 8,000 ms all equal only if the jitter is broken.
        assert!(waits.iter().any(|w| *w != waits[0]), "{waits:?}");
    }
}
