//! Standard Webhooks signing (<https://www.standardwebhooks.com>): the `whsec_` secret, the
//! `webhook-signature` header hookline sends, and the verification a receiver performs.
//!
//! A signature is `v1,` followed by the base64 HMAC-SHA256, keyed with the secret's raw bytes,
//! of `{webhook-id}.{webhook-timestamp}.{body}`. While a rotated-out secret is still valid the
//! header carries one signature per secret, space-separated, so receivers can switch keys
//! without dropping deliveries.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The text that marks a serialised secret.
const SECRET_PREFIX: &str = "whsec_";
/// Length of the keys [`WebhookSecret::generate`] makes.
const GENERATED_KEY_LEN: usize = 32;
/// Shorter keys are too weak to sign with; longer ones buy nothing over HMAC-SHA256's block.
const MIN_KEY_LEN: usize = 24;
const MAX_KEY_LEN: usize = 64;
/// The only signature scheme the spec defines; other versions in a header are ignored.
const SIGNATURE_VERSION: &str = "v1";

/// How far a `webhook-timestamp` may be from the receiver's clock before verification refuses
/// it. Bounds the window in which a captured request can be replayed.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

type HmacSha256 = Hmac<Sha256>;

/// A subscription's signing key.
///
/// The key bytes never appear in `Debug` output; [`WebhookSecret::to_whsec`] is the only way the
/// secret text leaves this type, so every place that reveals it is easy to find.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SigningError {
    #[error("a webhook secret starts with \"whsec_\"")]
    MissingPrefix,
    #[error("the text after \"whsec_\" is not valid base64")]
    InvalidBase64,
    #[error("a webhook secret key is {MIN_KEY_LEN} to {MAX_KEY_LEN} bytes long; this one is {len}")]
    InvalidKeyLength { len: usize },
}

/// Why a signed request was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the webhook-timestamp header is not a whole number of seconds")]
    InvalidTimestamp,
    #[error("the webhook-timestamp is too far in the past")]
    TimestampTooOld,
    #[error("the webhook-timestamp is too far in the future")]
    TimestampInFuture,
    #[error("no signature in the webhook-signature header matches")]
    NoMatchingSignature,
}

impl WebhookSecret {
    /// A fresh secret of 32 bytes from the operating system's random source.
    pub fn generate() -> Self {
        let mut key = vec![0u8; GENERATED_KEY_LEN];
        // Without an OS random source no secret can be made safely; there is nothing to fall
        // back to, and this only fails on a broken host.
        getrandom::fill(&mut key).expect("the operating system's random source is unavailable");
        Self { key }
    }

    /// Reads the `whsec_<base64 key>` form.
    pub fn parse(s: &str) -> Result<Self, SigningError> {
        let encoded = s.strip_prefix(SECRET_PREFIX).ok_or(SigningError::MissingPrefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SigningError::InvalidBase64)?;
        Self::from_bytes(&key)
    }

    /// A secret with the given key bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, SigningError> {
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&b.len()) {
            return Err(SigningError::InvalidKeyLength { len: b.len() });
        }
        Ok(Self { key: b.to_vec() })
    }

    /// The `whsec_…` text form, as shown to the tenant once and stored.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length, and ours are 24..=64 bytes.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl PartialEq for WebhookSecret {
    // Constant time, so comparing a guess with a stored secret leaks nothing through timing.
    fn eq(&self, other: &Self) -> bool {
        self.key.ct_eq(&other.key).into()
    }
}

impl Eq for WebhookSecret {}

/// The `v1,<base64>` signature of one message under one secret.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = secret.mac(msg_id, timestamp, body);
    format!("{SIGNATURE_VERSION},{}", STANDARD.encode(mac))
}

/// The `webhook-signature` header value: one signature per secret, space-separated, in the
/// order given (current secret first, by convention).
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a WebhookSecret>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets.into_iter().map(|secret| sign(secret, msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Checks a received webhook the way a Standard Webhooks receiver does.
///
/// The timestamp must be within `tolerance` of `now_unix` in either direction, and at least one
/// `v1,` signature in the header must match; signatures of other versions are ignored so
/// receivers keep working when senders add schemes.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let timestamp: i64 = timestamp_header.trim().parse().map_err(|_| VerifyError::InvalidTimestamp)?;
    // i128 so that no timestamp, however absurd, can overflow the difference.
    let age = i128::from(now_unix) - i128::from(timestamp);
    let tolerance = i128::from(tolerance.as_secs());
    if age > tolerance {
        return Err(VerifyError::TimestampTooOld);
    }
    if -age > tolerance {
        return Err(VerifyError::TimestampInFuture);
    }

    let expected = secret.mac(msg_id, timestamp, body);
    let matched = signature_header
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == SIGNATURE_VERSION)
        .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
        // Check every candidate without stopping early: which one matched is nobody's business.
        .fold(subtle::Choice::from(0), |acc, candidate| acc | candidate.as_slice().ct_eq(&expected));
    if bool::from(matched) { Ok(()) } else { Err(VerifyError::NoMatchingSignature) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SPEC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SPEC_TIMESTAMP: i64 = 1649367553;
    const SPEC_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SPEC_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn spec_secret() -> WebhookSecret {
        WebhookSecret::parse(SPEC_SECRET).expect("the spec secret parses")
    }

    fn verify_spec(id: &str, timestamp: &str, header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        verify(&spec_secret(), id, timestamp, header, body, now, DEFAULT_TOLERANCE)
    }

    #[test]
    fn spec_vector_signs_as_published() {
        assert_eq!(sign(&spec_secret(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
    }

    #[test]
    fn spec_vector_verifies_at_its_timestamp() {
        let ts = SPEC_TIMESTAMP.to_string();
        assert_eq!(verify_spec(SPEC_ID, &ts, SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP), Ok(()));
    }

    #[test]
    fn tolerance_is_inclusive_and_applies_both_ways() {
        let ts = SPEC_TIMESTAMP.to_string();
        let five_min = 5 * 60;
        assert_eq!(verify_spec(SPEC_ID, &ts, SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP + five_min), Ok(()));
        assert_eq!(
            verify_spec(SPEC_ID, &ts, SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP + five_min + 1),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(verify_spec(SPEC_ID, &ts, SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP - five_min), Ok(()));
        assert_eq!(
            verify_spec(SPEC_ID, &ts, SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP - five_min - 1),
            Err(VerifyError::TimestampInFuture)
        );
    }

    #[test]
    fn tampered_body_id_or_timestamp_is_refused() {
        let ts = SPEC_TIMESTAMP.to_string();
        let tampered_body = br#"{"email":"test@example.com","username":"test_user2"}"#;
        assert_eq!(
            verify_spec(SPEC_ID, &ts, SPEC_SIGNATURE, tampered_body, SPEC_TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            verify_spec("msg_27UH4WbU6Z5A5EzD8u03UvzRbpl", &ts, SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
        let other_ts = (SPEC_TIMESTAMP + 1).to_string();
        assert_eq!(
            verify_spec(SPEC_ID, &other_ts, SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn timestamp_must_be_whole_seconds() {
        for bad in ["", "abc", "1649367553.5", "1e9", "0x10"] {
            assert_eq!(
                verify_spec(SPEC_ID, bad, SPEC_SIGNATURE, SPEC_BODY, SPEC_TIMESTAMP),
                Err(VerifyError::InvalidTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        for ts in [i64::MIN, i64::MAX] {
            let header = ts.to_string();
            assert!(verify_spec(SPEC_ID, &header, SPEC_SIGNATURE, SPEC_BODY, 0).is_err());
        }
        let now_max = verify_spec(SPEC_ID, &i64::MIN.to_string(), SPEC_SIGNATURE, SPEC_BODY, i64::MAX);
        assert_eq!(now_max, Err(VerifyError::TimestampTooOld));
    }

    #[test]
    fn header_with_old_and_new_signature_is_accepted() {
        let old = spec_secret();
        let new = WebhookSecret::generate();
        let header = signature_header([&old, &new], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        assert_eq!(header, format!("{SPEC_SIGNATURE} {}", sign(&new, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)));
        let ts = SPEC_TIMESTAMP.to_string();
        for secret in [&old, &new] {
            assert_eq!(verify(secret, SPEC_ID, &ts, &header, SPEC_BODY, SPEC_TIMESTAMP, DEFAULT_TOLERANCE), Ok(()));
        }
        let stranger = WebhookSecret::generate();
        assert_eq!(
            verify(&stranger, SPEC_ID, &ts, &header, SPEC_BODY, SPEC_TIMESTAMP, DEFAULT_TOLERANCE),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn unknown_versions_and_junk_entries_are_ignored() {
        let ts = SPEC_TIMESTAMP.to_string();
        let payload = SPEC_SIGNATURE.trim_start_matches("v1,");
        // The right MAC under another version label must not count.
        let other_version = format!("v1a,{payload} v2,{payload}");
        assert_eq!(
            verify_spec(SPEC_ID, &ts, &other_version, SPEC_BODY, SPEC_TIMESTAMP),
            Err(VerifyError::NoMatchingSignature)
        );
        let mixed = format!("v1a,{payload} garbage v1,!!notbase64 {SPEC_SIGNATURE}");
        assert_eq!(verify_spec(SPEC_ID, &ts, &mixed, SPEC_BODY, SPEC_TIMESTAMP), Ok(()));
        assert_eq!(verify_spec(SPEC_ID, &ts, "", SPEC_BODY, SPEC_TIMESTAMP), Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn generated_secrets_are_32_bytes_and_round_trip() {
        let secret = WebhookSecret::generate();
        let text = secret.to_whsec();
        assert!(text.starts_with("whsec_"));
        let decoded = STANDARD.decode(&text["whsec_".len()..]).expect("base64");
        assert_eq!(decoded.len(), 32);
        assert_eq!(WebhookSecret::parse(&text), Ok(secret.clone()));
        assert_ne!(WebhookSecret::generate(), secret);
    }

    #[test]
    fn spec_secret_round_trips_to_the_same_text() {
        assert_eq!(spec_secret().to_whsec(), SPEC_SECRET);
    }

    #[test]
    fn parse_refuses_malformed_secrets() {
        assert_eq!(WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD"), Err(SigningError::MissingPrefix));
        assert_eq!(WebhookSecret::parse("whsec_not base64!"), Err(SigningError::InvalidBase64));
        let short = format!("whsec_{}", STANDARD.encode([7u8; 23]));
        assert_eq!(WebhookSecret::parse(&short), Err(SigningError::InvalidKeyLength { len: 23 }));
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        assert_eq!(WebhookSecret::parse(&long), Err(SigningError::InvalidKeyLength { len: 65 }));
        assert!(WebhookSecret::from_bytes(&[7u8; 24]).is_ok());
        assert!(WebhookSecret::from_bytes(&[7u8; 64]).is_ok());
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let secret = spec_secret();
        let debug = format!("{secret:?}");
        assert_eq!(debug, "WebhookSecret(<redacted>)");
        let nested = format!("{:?}", Some(&secret));
        assert!(!nested.contains("C2FVsBQIhrscChlQIMV"), "{nested}");
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(
            key in proptest::collection::vec(any::<u8>(), 24..=64),
            id in "[A-Za-z0-9_]{1,40}",
            timestamp in any::<i64>(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let secret = WebhookSecret::from_bytes(&key).expect("valid length");
            let header = signature_header([&secret], &id, timestamp, &body);
            prop_assert_eq!(
                verify(&secret, &id, &timestamp.to_string(), &header, &body, timestamp, DEFAULT_TOLERANCE),
                Ok(())
            );
        }

        #[test]
        fn any_single_byte_change_to_the_body_fails(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let secret = spec_secret();
            let header = sign(&secret, SPEC_ID, SPEC_TIMESTAMP, &body);
            let mut tampered = body.clone();
            let i = index.index(tampered.len());
            tampered[i] ^= flip;
            prop_assert_eq!(
                verify(&secret, SPEC_ID, &SPEC_TIMESTAMP.to_string(), &header, &tampered, SPEC_TIMESTAMP, DEFAULT_TOLERANCE),
                Err(VerifyError::NoMatchingSignature)
            );
        }
    }
}
