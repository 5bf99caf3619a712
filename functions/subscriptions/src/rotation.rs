//! Secret rotation: the new secret signs from now on, the one it replaces keeps signing for a
//! grace period so subscribers can switch without dropping a delivery.

use hookline_core::model::SecretEntry;
use hookline_core::signing::WebhookSecret;
use time::{Duration, OffsetDateTime};

/// How long a rotated-out secret keeps signing unless `HOOKLINE_ROTATION_GRACE_HOURS` says.
pub const DEFAULT_GRACE: Duration = Duration::hours(24);

/// `new` first and current; the secrets that were current until `now` expire at `now + grace`
/// (at once with a zero grace); secrets rotated out earlier keep their expiry; expired ones are
/// dropped.
pub fn rotate(secrets: Vec<SecretEntry>, new: WebhookSecret, now: OffsetDateTime, grace: Duration) -> Vec<SecretEntry> {
    let mut rotated = vec![SecretEntry { secret: new, expires_at: None }];
    rotated.extend(secrets.into_iter().filter_map(|entry| match entry.expires_at {
        None if grace <= Duration::ZERO => None,
        None => Some(SecretEntry { expires_at: Some(now + grace), ..entry }),
        Some(expiry) if expiry > now => Some(entry),
        Some(_) => None,
    }));
    rotated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_secret_leads_and_the_old_one_expires_after_the_grace_period() {
        let now = OffsetDateTime::now_utc();
        let (current, earlier, expired, new) = (
            WebhookSecret::generate(),
            WebhookSecret::generate(),
            WebhookSecret::generate(),
            WebhookSecret::generate(),
        );
        let earlier_expiry = now + Duration::hours(3);
        let secrets = vec![
            SecretEntry { secret: current.clone(), expires_at: None },
            SecretEntry { secret: earlier.clone(), expires_at: Some(earlier_expiry) },
            SecretEntry { secret: expired, expires_at: Some(now - Duration::seconds(1)) },
        ];
        let grace = Duration::hours(6);
        let rotated = rotate(secrets, new.clone(), now, grace);
        assert_eq!(
            rotated,
            vec![
                SecretEntry { secret: new, expires_at: None },
                SecretEntry { secret: current, expires_at: Some(now + grace) },
                SecretEntry { secret: earlier, expires_at: Some(earlier_expiry) },
            ]
        );
    }

    #[test]
    fn with_no_grace_the_old_secret_stops_signing_at_once() {
        let now = OffsetDateTime::now_utc();
        let (current, new) = (WebhookSecret::generate(), WebhookSecret::generate());
        let rotated = rotate(vec![SecretEntry { secret: current, expires_at: None }], new.clone(), now, Duration::ZERO);
        assert_eq!(rotated, vec![SecretEntry { secret: new, expires_at: None }]);
    }
}
