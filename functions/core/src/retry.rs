//! The retry policy, as pure functions: the schedule of delays between attempts, jitter, how far
//! a receiver's `Retry-After` is honoured, and how an attempt's outcome is classified.
//!
//! Nothing here sleeps or reads a clock; callers pass the current time and the random jitter,
//! which keeps every rule testable.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rand::Rng as _;

/// Jitter moves each delay by up to this fraction of it, either way, so that deliveries failed
/// together by one outage do not all come back at the same instant.
pub const JITTER_FRACTION: f64 = 0.2;

/// The longest `Retry-After` hookline honours: a receiver cannot park its deliveries for days.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(6 * 60 * 60);

/// The longest single delay a schedule may hold. Beyond a week the event is stale and the
/// delivery queue's retention would be at risk.
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// No delay, after jitter, is shorter than this.
const MIN_DELAY: Duration = Duration::from_millis(1);

/// Text units of a schedule, largest first so that `Display` picks the largest exact one.
const UNITS: [(&str, u64); 5] =
    [("d", 24 * 60 * 60 * 1000), ("h", 60 * 60 * 1000), ("m", 60 * 1000), ("s", 1000), ("ms", 1)];

/// The delays between delivery attempts: the first attempt is immediate, attempt `n + 1`
/// follows `delays[n - 1]` after attempt `n` failed.
///
/// Every delay is a whole number of milliseconds in `1 ms ..= 7 d`, so the text form written by
/// `Display` always parses back to the same schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

/// Why a retry schedule's text was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("a retry schedule needs at least one delay, such as \"5s,5m,30m\"")]
    Empty,
    #[error("retry delay {position} ({item:?}): {reason}")]
    InvalidDelay {
        /// 1-based position of the item in the comma-separated list.
        position: usize,
        item: String,
        reason: &'static str,
    },
}

impl Default for RetrySchedule {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 28 hours in all, so a receiver that is
    /// down for a day still gets its events.
    fn default() -> Self {
        const MIN: u64 = 60;
        const HOUR: u64 = 60 * MIN;
        let delays = [5, 5 * MIN, 30 * MIN, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]
            .into_iter()
            .map(Duration::from_secs)
            .collect();
        Self { delays }
    }
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    /// Reads a comma-separated list such as `"5s, 5m, 30m, 2h"`; units are `ms`, `s`, `m`, `h`
    /// and `d`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(ScheduleError::Empty);
        }
        let delays = s
            .split(',')
            .enumerate()
            .map(|(index, item)| {
                parse_delay(item).map_err(|reason| ScheduleError::InvalidDelay {
                    position: index + 1,
                    item: item.trim().to_owned(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { delays })
    }
}

fn parse_delay(item: &str) -> Result<Duration, &'static str> {
    let item = item.trim();
    if item.is_empty() {
        return Err("empty item; expected a number and a unit such as 30s");
    }
    let unit_start = item.find(|c: char| !c.is_ascii_digit()).ok_or("missing unit; use ms, s, m, h or d")?;
    let (number, unit) = item.split_at(unit_start);
    if number.is_empty() {
        return Err("expected a whole number followed by a unit, such as 30s");
    }
    let unit_ms = UNITS
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .map(|(_, ms)| *ms)
        .ok_or("unknown unit; use ms, s, m, h or d")?;
    let too_long = "longer than the 7-day maximum";
    // A number too big for u64 is certainly longer than a week.
    let millis = number.parse::<u64>().ok().and_then(|n| n.checked_mul(unit_ms)).ok_or(too_long)?;
    let delay = Duration::from_millis(millis);
    if delay.is_zero() {
        return Err("must be longer than zero");
    }
    if delay > MAX_DELAY {
        return Err(too_long);
    }
    Ok(delay)
}

impl fmt::Display for RetrySchedule {
    /// The comma-separated text form, each delay in the largest unit that expresses it exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, delay) in self.delays.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            let millis = delay.as_millis();
            let (name, unit_ms) =
                UNITS.iter().find(|(_, unit_ms)| millis % u128::from(*unit_ms) == 0).copied().unwrap_or(("ms", 1));
            write!(f, "{}{name}", millis / u128::from(unit_ms))?;
        }
        Ok(())
    }
}

impl RetrySchedule {
    /// The delays, in order.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many attempts a delivery gets in all: the first plus one per delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// The un-jittered delay before attempt `attempts_made + 1`; `None` when no attempt has
    /// been made yet (the first is immediate) or the schedule is spent.
    pub fn base_delay(&self, attempts_made: u32) -> Option<Duration> {
        let index = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }

    /// The delay before attempt `attempts_made + 1`, or `None` when the schedule is spent.
    ///
    /// `jitter` in `[-1.0, 1.0]` (see [`random_jitter`]) moves the base delay by up to
    /// ±[`JITTER_FRACTION`] of it. A receiver's `Retry-After` can lengthen the delay, up to
    /// [`RETRY_AFTER_CAP`], but never shorten it: the schedule protects the receiver as much as
    /// it serves it.
    pub fn next_delay(&self, attempts_made: u32, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
        let base = self.base_delay(attempts_made)?;
        let jittered = jittered(base, jitter).max(MIN_DELAY);
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(RETRY_AFTER_CAP)),
            None => jittered,
        })
    }
}

/// `base` moved by `jitter × JITTER_FRACTION × base`, in whole nanoseconds and never outside
/// the jitter band, whatever rounding does.
fn jittered(base: Duration, jitter: f64) -> Duration {
    let jitter = if jitter.is_nan() { 0.0 } else { jitter.clamp(-1.0, 1.0) };
    // Delays are at most a week (< 2^53 ns), so these conversions through f64 are exact.
    let base_ns = base.as_nanos() as f64;
    let max_offset = (base_ns * JITTER_FRACTION).floor();
    let offset = (max_offset * jitter).round().clamp(-max_offset, max_offset);
    let nanos = (base_ns + offset).max(0.0);
    Duration::from_nanos(nanos as u64)
}

/// A uniformly random jitter in `[-1.0, 1.0]` for [`RetrySchedule::next_delay`].
pub fn random_jitter() -> f64 {
    rand::rng().random_range(-1.0..=1.0)
}

/// Reads a `Retry-After` header value: delta-seconds or an HTTP-date.
///
/// A date already past means "now" (`Some(ZERO)`); anything unreadable is `None`, as if the
/// header were absent. The result is not capped here; [`RetrySchedule::next_delay`] does that.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits, so parsing can fail only by overflow: an absurdly long wait, which the
        // cap will shorten anyway.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What came of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered with this HTTP status.
    Status(u16),
    /// No complete answer within the delivery timeout.
    Timeout,
    /// The TCP or TLS connection could not be established.
    ConnectError,
    /// The target's host name did not resolve.
    DnsError,
    /// The SSRF policy refused the resolved address.
    Blocked,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver accepted the event; done.
    Delivered,
    /// The receiver answered 410: stop, and disable the subscription.
    Gone,
    /// Try again on the schedule, if any attempts are left.
    Retry,
}

/// Classifies an attempt: any 2xx is delivered, 410 is gone, everything else is retried.
///
/// Redirects count as failures because they are not followed (following them would let a
/// receiver bounce hookline to an address the SSRF policy never saw). A blocked address is
/// retried too, since DNS may legitimately change back; the schedule bounds the cost.
pub fn classify(result: &AttemptResult) -> Verdict {
    match result {
        AttemptResult::Status(200..=299) => Verdict::Delivered,
        AttemptResult::Status(410) => Verdict::Gone,
        AttemptResult::Status(_)
        | AttemptResult::Timeout
        | AttemptResult::ConnectError
        | AttemptResult::DnsError
        | AttemptResult::Blocked => Verdict::Retry,
    }
}

/// Whether a `Retry-After` on a response with this status is taken into account: only on
/// 429 Too Many Requests and 503 Service Unavailable, where the header means "come back later".
pub fn honours_retry_after(status: u16) -> bool {
    matches!(status, 429 | 503)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: Duration = Duration::from_secs(1);
    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn default_schedule_text_is_exact() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.to_string(), "5s,5m,30m,2h,5h,10h,10h");
        assert_eq!(schedule.delays(), &[5 * SEC, 5 * MIN, 30 * MIN, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]);
        assert_eq!(schedule.max_attempts(), 8);
        assert_eq!("5s,5m,30m,2h,5h,10h,10h".parse(), Ok(schedule));
    }

    #[test]
    fn parsing_tolerates_whitespace_and_knows_every_unit() {
        let schedule: RetrySchedule = " 250ms , 2 s,1m,\t1h ,1d ".parse().expect("valid");
        assert_eq!(schedule.delays(), &[Duration::from_millis(250), 2 * SEC, MIN, HOUR, 24 * HOUR]);
        assert_eq!(schedule.to_string(), "250ms,2s,1m,1h,1d");
        // Display normalises to the largest exact unit.
        let schedule: RetrySchedule = "90s,60m,1000ms,7d".parse().expect("valid");
        assert_eq!(schedule.to_string(), "90s,1h,1s,7d");
    }

    #[test]
    fn parsing_refuses_bad_schedules_naming_the_item() {
        assert_eq!("".parse::<RetrySchedule>(), Err(ScheduleError::Empty));
        assert_eq!("  ".parse::<RetrySchedule>(), Err(ScheduleError::Empty));
        let cases = [
            ("5s,,5m", 2, ""),
            ("5s,5m,", 3, ""),
            ("5s,0s", 2, "0s"),
            ("5x", 1, "5x"),
            ("5", 1, "5"),
            ("s", 1, "s"),
            ("1.5s", 1, "1.5s"),
            ("-5s", 1, "-5s"),
            ("5s,8d", 2, "8d"),
            ("5s,5m,169h", 3, "169h"),
            ("99999999999999999999999d", 1, "99999999999999999999999d"),
            ("18446744073709551615d", 1, "18446744073709551615d"),
        ];
        for (text, position, item) in cases {
            match text.parse::<RetrySchedule>() {
                Err(ScheduleError::InvalidDelay { position: p, item: i, reason }) => {
                    assert_eq!((p, i.as_str()), (position, item), "{text:?}: {reason}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        let message = "5s,5q".parse::<RetrySchedule>().unwrap_err().to_string();
        assert!(message.contains("retry delay 2") && message.contains("5q"), "{message}");
    }

    #[test]
    fn seven_days_is_the_longest_delay() {
        assert!("7d".parse::<RetrySchedule>().is_ok());
        assert!("168h".parse::<RetrySchedule>().is_ok());
        assert!("604800001ms".parse::<RetrySchedule>().is_err());
    }

    #[test]
    fn base_delay_follows_the_schedule() {
        let schedule: RetrySchedule = "1s,2s,3s".parse().expect("valid");
        assert_eq!(schedule.max_attempts(), 4);
        assert_eq!(schedule.base_delay(0), None);
        assert_eq!(schedule.base_delay(1), Some(SEC));
        assert_eq!(schedule.base_delay(2), Some(2 * SEC));
        assert_eq!(schedule.base_delay(3), Some(3 * SEC));
        assert_eq!(schedule.base_delay(4), None);
        assert_eq!(schedule.base_delay(u32::MAX), None);
    }

    #[test]
    fn jitter_extremes_hit_the_band_edges() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.next_delay(1, None, 0.0), Some(5 * SEC));
        assert_eq!(schedule.next_delay(1, None, -1.0), Some(4 * SEC));
        assert_eq!(schedule.next_delay(1, None, 1.0), Some(6 * SEC));
        // Out-of-range jitter is clamped, and NaN means none.
        assert_eq!(schedule.next_delay(1, None, 7.0), Some(6 * SEC));
        assert_eq!(schedule.next_delay(1, None, f64::NAN), Some(5 * SEC));
    }

    #[test]
    fn retry_after_lengthens_up_to_the_cap_but_never_shortens() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.next_delay(1, Some(MIN), 0.0), Some(MIN));
        assert_eq!(schedule.next_delay(1, Some(SEC), 0.0), Some(5 * SEC));
        assert_eq!(schedule.next_delay(1, Some(48 * HOUR), 0.0), Some(RETRY_AFTER_CAP));
        // A 10 h base delay already beyond the cap stays as it is.
        assert_eq!(schedule.next_delay(7, Some(48 * HOUR), 0.0), Some(10 * HOUR));
        assert_eq!(schedule.next_delay(8, Some(MIN), 0.0), None);
    }

    #[test]
    fn delays_never_drop_below_a_millisecond() {
        let schedule: RetrySchedule = "1ms".parse().expect("valid");
        assert_eq!(schedule.next_delay(1, Some(Duration::ZERO), -1.0), Some(Duration::from_millis(1)));
    }

    #[test]
    fn random_jitter_stays_in_range() {
        for _ in 0..1000 {
            let jitter = random_jitter();
            assert!((-1.0..=1.0).contains(&jitter), "{jitter}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("120", now), Some(2 * MIN));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let in_an_hour = httpdate::fmt_http_date(now + HOUR);
        assert_eq!(parse_retry_after(&in_an_hour, now), Some(HOUR));
        let an_hour_ago = httpdate::fmt_http_date(now - HOUR);
        assert_eq!(parse_retry_after(&an_hour_ago, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
        for garbage in ["", "soon", "-5", "1.5", "+5", "12 s", "Sun, 99 Nov 2023 25:00:00 GMT"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn outcomes_are_classified() {
        assert_eq!(classify(&AttemptResult::Status(200)), Verdict::Delivered);
        assert_eq!(classify(&AttemptResult::Status(204)), Verdict::Delivered);
        assert_eq!(classify(&AttemptResult::Status(410)), Verdict::Gone);
        for result in [
            AttemptResult::Status(301),
            AttemptResult::Status(404),
            AttemptResult::Status(500),
            AttemptResult::Timeout,
            AttemptResult::ConnectError,
            AttemptResult::DnsError,
            AttemptResult::Blocked,
        ] {
            assert_eq!(classify(&result), Verdict::Retry, "{result:?}");
        }
    }

    #[test]
    fn only_429_and_503_honour_retry_after() {
        let honoured: Vec<u16> = (100..=599).filter(|s| honours_retry_after(*s)).collect();
        assert_eq!(honoured, [429, 503]);
    }

    #[test]
    fn every_status_has_the_right_verdict() {
        for status in 100..=599u16 {
            let expected = match status {
                200..=299 => Verdict::Delivered,
                410 => Verdict::Gone,
                _ => Verdict::Retry,
            };
            assert_eq!(classify(&AttemptResult::Status(status)), expected, "{status}");
        }
    }

    /// Any valid delay: whole milliseconds, 1 ms ..= 7 d, biased towards round values so that
    /// every unit of the text form gets exercised.
    fn delay() -> impl Strategy<Value = Duration> {
        let max_ms = MAX_DELAY.as_millis() as u64;
        prop_oneof![
            (1..=max_ms).prop_map(Duration::from_millis),
            (1..=7u64 * 24 * 3600).prop_map(Duration::from_secs),
            (1..=7u64 * 24 * 60).prop_map(|m| Duration::from_secs(m * 60)),
            (1..=7u64 * 24).prop_map(|h| Duration::from_secs(h * 3600)),
            (1..=7u64).prop_map(|d| Duration::from_secs(d * 86400)),
        ]
    }

    fn schedule() -> impl Strategy<Value = RetrySchedule> {
        proptest::collection::vec(delay(), 1..12).prop_map(|delays| RetrySchedule { delays })
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(schedule in schedule()) {
            let text = schedule.to_string();
            let parsed: RetrySchedule = text.parse().expect("Display writes valid text");
            prop_assert_eq!(&parsed, &schedule);
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn jittered_delay_stays_in_the_band(
            schedule in schedule(),
            attempt in any::<proptest::sample::Index>(),
            jitter in -1.0f64..=1.0,
        ) {
            let attempts_made = attempt.index(schedule.delays().len()) as u32 + 1;
            let base = schedule.base_delay(attempts_made).expect("within the schedule");
            let delay = schedule.next_delay(attempts_made, None, jitter).expect("within the schedule");
            // Whole-millisecond bases make 4/5 and 6/5 exact in nanoseconds.
            let low = (base * 4 / 5).max(MIN_DELAY);
            let high = base * 6 / 5;
            prop_assert!(low <= delay && delay <= high, "{delay:?} outside {low:?}..={high:?}");
        }

        #[test]
        fn retry_after_never_shortens_nor_passes_the_cap(
            schedule in schedule(),
            attempt in any::<proptest::sample::Index>(),
            jitter in -1.0f64..=1.0,
            retry_after_ms in 0u64..=30 * 24 * 3600 * 1000,
        ) {
            let attempts_made = attempt.index(schedule.delays().len()) as u32 + 1;
            let retry_after = Duration::from_millis(retry_after_ms);
            let plain = schedule.next_delay(attempts_made, None, jitter).expect("within the schedule");
            let delay = schedule
                .next_delay(attempts_made, Some(retry_after), jitter)
                .expect("within the schedule");
            prop_assert!(delay >= plain);
            prop_assert!(delay >= retry_after.min(RETRY_AFTER_CAP));
            prop_assert!(delay <= plain.max(RETRY_AFTER_CAP));
        }

        #[test]
        fn next_delay_is_none_exactly_when_spent(
            schedule in schedule(),
            jitter in -1.0f64..=1.0,
        ) {
            let max = schedule.max_attempts();
            prop_assert_eq!(schedule.next_delay(0, None, jitter), None);
            for attempts_made in 1..max {
                prop_assert!(schedule.next_delay(attempts_made, None, jitter).is_some());
            }
            prop_assert_eq!(schedule.next_delay(max, None, jitter), None);
            prop_assert_eq!(schedule.next_delay(max + 1, None, jitter), None);
        }

        #[test]
        fn delta_seconds_parse_exactly(secs in any::<u64>()) {
            prop_assert_eq!(
                parse_retry_after(&secs.to_string(), SystemTime::UNIX_EPOCH),
                Some(Duration::from_secs(secs))
            );
        }
    }
}
