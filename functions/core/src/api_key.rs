//! API key text: how keys are minted and how a presented key is hashed for lookup.
//!
//! A key is `hk_` followed by 32 random bytes in base64url (256 bits). Only its SHA-256 is
//! stored; with that much entropy a fast hash is the right tool, and lookups stay one read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The prefix every hookline API key starts with, so leaked keys are easy to scan for.
pub const KEY_PREFIX: &str = "hk_";

/// A freshly minted key: the text to hand to its owner once, and the hash to store.
#[derive(Clone)]
pub struct MintedKey {
    pub text: String,
    pub hash: String,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey").field("text", &"<redacted>").field("hash", &self.hash).finish()
    }
}

/// Mints a new random key.
pub fn mint() -> MintedKey {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something a key can be made without.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    let text = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&text);
    MintedKey { text, hash }
}

/// The stored form of a key: lowercase hex SHA-256 of its text.
pub fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Reads the key from an `Authorization` header value (`Bearer <key>`, scheme case-insensitive).
pub fn from_authorization(header: &str) -> Option<&str> {
    let (scheme, key) = header.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && key.starts_with(KEY_PREFIX) && key.len() <= 128).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_unique_prefixed_and_hash_to_what_is_stored() {
        let a = mint();
        let b = mint();
        assert_ne!(a.text, b.text);
        assert!(a.text.starts_with("hk_") && a.text.len() == 46);
        assert_eq!(hash(&a.text), a.hash);
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.text), "Debug must not print the key");
    }

    #[test]
    fn the_bearer_scheme_is_required() {
        let key = mint().text;
        assert_eq!(from_authorization(&format!("Bearer {key}")), Some(key.as_str()));
        assert_eq!(from_authorization(&format!("bearer  {key} ")), Some(key.as_str()));
        assert_eq!(from_authorization(&format!("Basic {key}")), None);
        assert_eq!(from_authorization(&key), None);
        assert_eq!(from_authorization("Bearer sk_live_123"), None);
    }
}
