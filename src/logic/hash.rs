//! Stable hashes used by pure code (sampling order, routing buckets, evaluator versions).
//! Never std's `DefaultHasher`, which is not stable across Rust releases.

use sha2::{Digest, Sha256};

/// The first 8 bytes of SHA-256 over `parts` joined by `:`, as a big-endian u64.
pub fn sha256_u64(parts: &[&[u8]]) -> u64 {
    let mut hasher = Sha256::new();
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            hasher.update(b":");
        }
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Hex SHA-256 of `bytes`, truncated to `len` characters.
pub fn sha256_hex(bytes: &[u8], len: usize) -> String {
    let digest = Sha256::digest(bytes);
    let mut text = hex::encode(digest);
    text.truncate(len);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_u64_is_stable_and_separator_sensitive() {
        assert_eq!(sha256_u64(&[b"a", b"b"]), sha256_u64(&[b"a:b"]));
        assert_ne!(sha256_u64(&[b"ab"]), sha256_u64(&[b"a", b"b"]));
        assert_eq!(sha256_hex(b"abc", 8), "ba7816bf");
    }
}
