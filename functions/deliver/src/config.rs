//! Deliver's configuration, read once at start.

use std::time::Duration;

use hookline_core::resolve::Resolver;
use hookline_core::retry::RetrySchedule;

use crate::DeliverError;

pub const RETRY_SCHEDULE_ENV: &str = "HOOKLINE_RETRY_SCHEDULE";
pub const DELIVERY_TIMEOUT_ENV: &str = "HOOKLINE_DELIVERY_TIMEOUT_SECONDS";
pub const ALLOW_PRIVATE_TARGETS_ENV: &str = "HOOKLINE_ALLOW_PRIVATE_TARGETS";

/// How long a subscriber has to answer, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Deliver's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverConfig {
    /// Delays between attempts; the number of delays bounds the attempts.
    pub schedule: RetrySchedule,
    /// How long one attempt may take, connecting and answering included.
    pub timeout: Duration,
    /// Lets `http` and private, loopback and link-local targets through. Local mode only.
    pub allow_private_targets: bool,
    /// Where target host names are resolved: the system resolver, except in tests that script
    /// answers (DNS rebinding, names that stop resolving). Not read from the environment.
    pub resolver: Resolver,
}

impl Default for DeliverConfig {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            timeout: DEFAULT_TIMEOUT,
            allow_private_targets: false,
            resolver: Resolver::system(),
        }
    }
}

impl DeliverConfig {
    /// Reads `HOOKLINE_RETRY_SCHEDULE`, `HOOKLINE_DELIVERY_TIMEOUT_SECONDS` and
    /// `HOOKLINE_ALLOW_PRIVATE_TARGETS`; an unset variable takes its default, a bad one is an
    /// error naming it.
    pub fn from_env() -> Result<Self, DeliverError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, DeliverError> {
        let defaults = Self::default();
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let schedule = match set(RETRY_SCHEDULE_ENV) {
            None => defaults.schedule,
            Some(text) => text.parse().map_err(|error: hookline_core::retry::ScheduleError| {
                DeliverError::InvalidVariable { name: RETRY_SCHEDULE_ENV, reason: error.to_string() }
            })?,
        };
        let timeout = match set(DELIVERY_TIMEOUT_ENV) {
            None => defaults.timeout,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(seconds @ 1..=900) => Duration::from_secs(seconds),
                _ => {
                    return Err(DeliverError::InvalidVariable {
                        name: DELIVERY_TIMEOUT_ENV,
                        reason: format!("must be a whole number of seconds from 1 to 900, not {text:?}"),
                    });
                }
            },
        };
        let allow_private_targets = match set(ALLOW_PRIVATE_TARGETS_ENV) {
            None => defaults.allow_private_targets,
            Some(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(DeliverError::InvalidVariable {
                        name: ALLOW_PRIVATE_TARGETS_ENV,
                        reason: format!("must be true or false, not {text:?}"),
                    });
                }
            },
        };
        Ok(Self { schedule, timeout, allow_private_targets, resolver: defaults.resolver })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<DeliverConfig, DeliverError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        DeliverConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn unset_variables_take_the_defaults() {
        assert_eq!(config(&[]).expect("defaults"), DeliverConfig::default());
        let defaults = DeliverConfig::default();
        assert_eq!(defaults.schedule.to_string(), "5s,5m,30m,2h,5h,10h,10h");
        assert_eq!(defaults.timeout, Duration::from_secs(15));
        assert!(!defaults.allow_private_targets);
    }

    #[test]
    fn set_variables_are_read() {
        let config =
            config(&[(RETRY_SCHEDULE_ENV, "1s,2m"), (DELIVERY_TIMEOUT_ENV, "3"), (ALLOW_PRIVATE_TARGETS_ENV, "TRUE")])
                .expect("valid");
        assert_eq!(config.schedule.to_string(), "1s,2m");
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert!(config.allow_private_targets);
    }

    #[test]
    fn bad_values_are_refused_naming_the_variable() {
        for (name, value) in [
            (RETRY_SCHEDULE_ENV, "5s,soon"),
            (DELIVERY_TIMEOUT_ENV, "0"),
            (DELIVERY_TIMEOUT_ENV, "fifteen"),
            (ALLOW_PRIVATE_TARGETS_ENV, "maybe"),
        ] {
            let message = config(&[(name, value)]).expect_err(value).to_string();
            assert!(message.contains(name), "{message}");
        }
    }
}
