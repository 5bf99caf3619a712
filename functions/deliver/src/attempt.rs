//! How one attempt is described: in the attempt log, in the logs, and in a dead letter.

use hookline_core::retry::AttemptResult;

/// The attempt log's `error_kind` when the receiver gave no status.
pub fn error_kind(result: &AttemptResult) -> Option<&'static str> {
    match result {
        AttemptResult::Status(_) => None,
        AttemptResult::Timeout => Some("timeout"),
        AttemptResult::ConnectError => Some("connect"),
        AttemptResult::DnsError => Some("dns"),
        AttemptResult::Blocked => Some("blocked"),
    }
}

/// The HTTP status, when there was one.
pub fn status(result: &AttemptResult) -> Option<u16> {
    match result {
        AttemptResult::Status(status) => Some(*status),
        _ => None,
    }
}

/// A short human name of the result: `HTTP 500`, `timeout`, …
pub fn describe(result: &AttemptResult) -> String {
    match result {
        AttemptResult::Status(status) => format!("HTTP {status}"),
        AttemptResult::Timeout => "timeout".to_owned(),
        AttemptResult::ConnectError => "connection failed".to_owned(),
        AttemptResult::DnsError => "DNS lookup failed".to_owned(),
        AttemptResult::Blocked => "target blocked by the SSRF policy".to_owned(),
    }
}

/// The one line an operator reads in the dead-letter queue.
pub fn dead_letter_reason(attempts: u32, last: &AttemptResult) -> String {
    let plural = if attempts == 1 { "" } else { "s" };
    format!("gave up after {attempts} attempt{plural}; last: {}", describe(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_reasons_name_the_last_result() {
        assert_eq!(dead_letter_reason(8, &AttemptResult::Status(500)), "gave up after 8 attempts; last: HTTP 500");
        assert_eq!(dead_letter_reason(1, &AttemptResult::Timeout), "gave up after 1 attempt; last: timeout");
    }

    #[test]
    fn only_answers_without_status_have_an_error_kind() {
        assert_eq!(error_kind(&AttemptResult::Status(503)), None);
        assert_eq!(status(&AttemptResult::Status(503)), Some(503));
        let kinds: Vec<_> =
            [AttemptResult::Timeout, AttemptResult::ConnectError, AttemptResult::DnsError, AttemptResult::Blocked]
                .iter()
                .map(|result| (error_kind(result), status(result)))
                .collect();
        assert_eq!(
            kinds,
            [(Some("timeout"), None), (Some("connect"), None), (Some("dns"), None), (Some("blocked"), None)]
        );
    }
}
