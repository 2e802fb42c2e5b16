//! Keyed placeholders: a secret replaced by `<redacted:HEX8>`, the first
//! four bytes of HMAC-SHA256(salt, secret), the salt being the cassette
//! header's `redact_salt`. The same secret gets the same placeholder under
//! the same salt, so a recording tells two passwords apart (a good `AUTH`
//! from a bad one) and replay compares a live password by its placeholder,
//! while the secret itself never reaches the disk. Data redaction
//! (`crate::redact`) writes the same placeholders.

use bytes::Bytes;

/// The start of every placeholder (and of the unkeyed `<redacted>`); a
/// value that starts with it is never redacted again.
pub const PLACEHOLDER_PREFIX: &str = "<redacted";

/// The key placeholders are made with.
#[derive(Debug, Clone)]
pub struct SecretKey(ring::hmac::Key);

impl SecretKey {
    /// The key of `salt` (hex text; the empty salt is allowed).
    pub fn new(salt: &str) -> SecretKey {
        SecretKey(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            salt.as_bytes(),
        ))
    }

    /// The placeholder of one value.
    pub fn placeholder(&self, value: &[u8]) -> Bytes {
        let tag = ring::hmac::sign(&self.0, value);
        let hex: String = tag.as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Bytes::from(format!("{PLACEHOLDER_PREFIX}:{hex}>"))
    }
}
