//! Unpredictable tokens from the operating system's generator (getrandom): the delimiters of
//! multi-line outputs, the fence around repository text in the log, temporary branch names.

/// `bytes` random bytes as lowercase hex.
pub fn hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS generator fails only where no source of randomness exists at all; then fall back
    // to a randomly keyed hasher, which is still unpredictable enough for a fence or a name.
    if getrandom::fill(&mut buf).is_err() {
        use std::hash::{BuildHasher, RandomState};
        for (i, b) in buf.iter_mut().enumerate() {
            *b = RandomState::new().hash_one(i) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_length_asked_and_differ() {
        let (a, b) = (hex(16), hex(16));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
