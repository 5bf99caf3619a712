//! What the functions count, as CloudWatch Embedded Metric Format (EMF) lines and as
//! process-wide totals.
//!
//! A handler calls [`emit`] once per record (or per publish) with what happened. That adds to
//! [`totals`] — which the local stack's live status reads — and, in a Lambda whose `main` called
//! [`enable_emf`], prints one EMF JSON line to stdout, which CloudWatch Logs turns into metrics in
//! the `hookline` namespace. The only dimension is the function (`ingest`, `fanout`, `deliver`):
//! tenants never become dimensions (unbounded cardinality, and one tenant's name must not show
//! up in another's dashboards). No payload, id or secret is ever part of a metric line.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

/// The CloudWatch namespace every metric is published under.
pub const NAMESPACE: &str = "hookline";

/// One thing that is counted (or, for [`Metric::DeliveryLatency`], measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Events accepted by ingest (202).
    Published,
    /// Delivery tasks enqueued by fan-out.
    TasksEnqueued,
    /// Attempts answered 2xx.
    Delivered,
    /// Attempts that failed (any status but 2xx, or no answer).
    FailedAttempts,
    /// Failed attempts for which a retry was scheduled.
    Retried,
    /// Failed attempts that spent the schedule.
    Exhausted,
    /// Tasks sent to the deliveries dead-letter queue.
    DeadLettered,
    /// Subscriptions disabled after a 410.
    Disabled,
    /// Copies of already delivered tasks that were not POSTed again.
    DuplicatesSuppressed,
    /// Milliseconds from an event's acceptance to its delivery.
    DeliveryLatency,
}

impl Metric {
    const ALL: [Metric; 10] = [
        Metric::Published,
        Metric::TasksEnqueued,
        Metric::Delivered,
        Metric::FailedAttempts,
        Metric::Retried,
        Metric::Exhausted,
        Metric::DeadLettered,
        Metric::Disabled,
        Metric::DuplicatesSuppressed,
        Metric::DeliveryLatency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Published => "Published",
            Self::TasksEnqueued => "TasksEnqueued",
            Self::Delivered => "Delivered",
            Self::FailedAttempts => "FailedAttempts",
            Self::Retried => "Retried",
            Self::Exhausted => "Exhausted",
            Self::DeadLettered => "DeadLettered",
            Self::Disabled => "Disabled",
            Self::DuplicatesSuppressed => "DuplicatesSuppressed",
            Self::DeliveryLatency => "DeliveryLatency",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Self::DeliveryLatency => "Milliseconds",
            _ => "Count",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}

/// Process-wide sums of every metric since start (latency: the sum of milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    values: [u64; 10],
}

impl Totals {
    pub fn get(&self, metric: Metric) -> u64 {
        self.values[metric.index()]
    }
}

static TOTALS: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];
static EMF_FUNCTION: OnceLock<&'static str> = OnceLock::new();

/// Makes [`emit`] print EMF lines for `function` to stdout. Lambda `main`s call it; the local
/// stack does not (it shows a live status instead).
pub fn enable_emf(function: &'static str) {
    let _ = EMF_FUNCTION.set(function);
}

/// What has been counted in this process so far.
pub fn totals() -> Totals {
    let mut totals = Totals::default();
    for (value, total) in totals.values.iter_mut().zip(&TOTALS) {
        *value = total.load(Ordering::Relaxed);
    }
    totals
}

/// Records what one record (or publish) produced; prints its EMF line when enabled.
pub fn emit(values: &[(Metric, u64)]) {
    if values.is_empty() {
        return;
    }
    for (metric, value) in values {
        TOTALS[metric.index()].fetch_add(*value, Ordering::Relaxed);
    }
    if let Some(function) = EMF_FUNCTION.get() {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        println!("{}", emf_line(function, values, i64::try_from(timestamp).unwrap_or(i64::MAX)));
    }
}

/// One EMF document: the `_aws` metadata, the `Function` dimension and each value.
pub fn emf_line(function: &str, values: &[(Metric, u64)], timestamp_ms: i64) -> Value {
    let mut names: Vec<Metric> = Vec::new();
    let mut line = Map::new();
    for (metric, value) in values {
        if !names.contains(metric) {
            names.push(*metric);
        }
        // A metric given twice (two latencies in one line) becomes an array of values.
        match line.get_mut(metric.name()) {
            Some(Value::Array(all)) => all.push(json!(value)),
            Some(single) => *single = json!([single.clone(), value]),
            None => {
                line.insert(metric.name().to_owned(), json!(value));
            }
        }
    }
    let definitions: Vec<Value> = names.iter().map(|m| json!({"Name": m.name(), "Unit": m.unit()})).collect();
    line.insert("Function".to_owned(), json!(function));
    line.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_every_value_under_the_function_dimension() {
        let line = emf_line(
            "deliver",
            &[(Metric::Delivered, 1), (Metric::DeliveryLatency, 120), (Metric::DeliveryLatency, 80)],
            1_764_000_000_000,
        );
        assert_eq!(line["Function"], "deliver");
        assert_eq!(line["Delivered"], 1);
        assert_eq!(line["DeliveryLatency"], json!([120, 80]));
        let aws = &line["_aws"];
        assert_eq!(aws["Timestamp"], 1_764_000_000_000i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "hookline");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Delivered", "Unit": "Count"}, {"Name": "DeliveryLatency", "Unit": "Milliseconds"}])
        );
        // Nothing else: no tenant, no ids.
        let keys: Vec<&String> = line.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
    }

    #[test]
    fn emitting_adds_to_the_process_totals() {
        let before = totals().get(Metric::DuplicatesSuppressed);
        emit(&[(Metric::DuplicatesSuppressed, 2)]);
        emit(&[]);
        assert!(totals().get(Metric::DuplicatesSuppressed) >= before + 2);
    }
}
