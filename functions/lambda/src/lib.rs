//! What the five bootstraps share: the log subscriber.
//!
//! It follows Lambda's advanced logging controls as `lambda_runtime`'s default subscriber does
//! (`AWS_LAMBDA_LOG_FORMAT=JSON` → one JSON object per line with the current span's fields;
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO), but takes a single level only: a
//! directive list such as `info,hyper=warn` falls back to INFO. That keeps `tracing-subscriber`'s
//! `env-filter` — and the regex engine under it — out of every bootstrap (BENCHMARKS.md,
//! "Changes").

use std::str::FromStr as _;

use tracing::Subscriber;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The level to log at: `AWS_LAMBDA_LOG_LEVEL` when set, else `RUST_LOG`, else INFO; a value that
/// is not one level name is INFO.
pub fn log_level(lambda_log_level: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
    lambda_log_level
        .or(rust_log)
        .and_then(|value| LevelFilter::from_str(value.trim()).ok())
        .unwrap_or(LevelFilter::INFO)
}

/// The subscriber a function logs through, writing to `writer`, configured by the variables
/// `env` returns (`std::env::var(..).ok()` in the functions).
pub fn subscriber<W>(writer: W, env: impl Fn(&str) -> Option<String>) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let level = log_level(env("AWS_LAMBDA_LOG_LEVEL").as_deref(), env("RUST_LOG").as_deref());
    let json = env("AWS_LAMBDA_LOG_FORMAT").is_some_and(|format| format.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_target(false).without_time().with_max_level(level).with_writer(writer);
    if json { Box::new(builder.json().finish()) } else { Box::new(builder.finish()) }
}

/// Installs [`subscriber`] on standard output for the whole process, from the environment.
pub fn init_logging() {
    // Only fails when a subscriber is already installed, and then that one keeps logging.
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stdout, |name| std::env::var(name).ok()));
}

#[cfg(test)]
mod tests {
    use hookline_testkit::CapturedLog;

    use super::*;

    fn lines(vars: &[(&str, &str)]) -> Vec<String> {
        let captured = CapturedLog::default();
        let writer = captured.clone();
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let subscriber = subscriber(
            move || writer.clone(),
            move |name| vars.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("record", tenant = "acme", attempt = 2);
            let _entered = span.enter();
            tracing::debug!("debug line");
            tracing::info!(outcome = "delivered", "info line");
            tracing::warn!("warn line");
        });
        captured.lines()
    }

    #[test]
    fn lambda_json_format_gives_one_object_per_line_with_the_span_fields() {
        let lines = lines(&[("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("AWS_LAMBDA_LOG_LEVEL", "INFO")]);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let info: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON object per line");
        assert_eq!(info["level"], "INFO");
        assert_eq!(info["fields"]["message"], "info line");
        assert_eq!(info["fields"]["outcome"], "delivered");
        assert_eq!(info["span"]["tenant"], "acme");
        assert_eq!(info["span"]["attempt"], 2);
        assert!(info.get("timestamp").is_none(), "Lambda stamps the time itself");
    }

    #[test]
    fn the_lambda_level_wins_over_rust_log_and_plain_text_is_the_default_format() {
        let lines = lines(&[("AWS_LAMBDA_LOG_LEVEL", "warn"), ("RUST_LOG", "debug")]);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("WARN") && lines[0].contains("warn line"), "{lines:?}");
        assert!(serde_json::from_str::<serde_json::Value>(&lines[0]).is_err(), "text, not JSON: {lines:?}");
        assert_eq!(self::lines(&[("RUST_LOG", "debug")]).len(), 3);
    }

    #[test]
    fn anything_but_one_level_name_is_info() {
        assert_eq!(log_level(None, None), LevelFilter::INFO);
        assert_eq!(log_level(None, Some("info,hyper=warn")), LevelFilter::INFO);
        assert_eq!(log_level(Some("loud"), Some("trace")), LevelFilter::INFO);
        assert_eq!(log_level(Some("ERROR"), None), LevelFilter::ERROR);
        assert_eq!(log_level(None, Some(" off ")), LevelFilter::OFF);
    }
}
