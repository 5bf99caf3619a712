//! BENCHMARKS.md: each section's figures as Markdown tables, with the command that reproduces
//! them and the goal they are judged against.

use std::fmt::Write as _;

use crate::coldstart::ColdStart;
use crate::cost::{Scenario, price};
use crate::delivery::Level;
use crate::fanout::PerEvent;
use crate::ingest::Validation;

pub const RUN: &str = "cargo run --release -p hookline-bench --";

fn ms(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met** (see below)" }
}

pub fn delivery(levels: &[Level], seconds: f64, harness_micros: f64) -> String {
    let mut out = format!(
        "## 1. Delivery throughput\n\n`{RUN} delivery` — {seconds:.0} s per side and level, in 5 alternating rounds (median shown). The `deliver` handler (`Deliver::handle` \
         on SQS batches of ≤ 10 records, `in flight / 10` batches at once, signing and attempt logging on, in-memory \
         store, attempt log and queues, no tracing subscriber) POSTing to a real HTTP server on 127.0.0.1, next to a \
         bare reqwest POST loop with the same number of requests in flight and the same body size, in the same process \
         and run. Goal: ratio ≥ 0.8.\n\n\
         | in flight | deliver handler (deliveries/s) | bare reqwest (POSTs/s) | ratio | goal ≥ 0.8 |\n|---:|---:|---:|---:|---|\n"
    );
    for l in levels {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.2} | {} |",
            l.in_flight,
            l.handler,
            l.bare,
            l.ratio(),
            met(l.ratio() >= 0.8)
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    out.push_str(
        "\nCPU per delivery where the run is CPU-bound, i.e. from 10 in flight (cores ÷ rate; receiver, client and \
         harness share the cores). One in flight is bound by the round trip instead — one request at a time, each \
         waiting for the other side to wake up — so cores ÷ rate says nothing about its CPU:\n\n",
    );
    out.push_str("| in flight | handler (µs) | bare (µs) | difference (µs) |\n|---:|---:|---:|---:|\n");
    for l in levels.iter().filter(|l| l.in_flight >= 10) {
        let (handler, bare) = (cores * 1e6 / l.handler.max(1.0), cores * 1e6 / l.bare.max(1.0));
        let _ = writeln!(out, "| {} | {handler:.0} | {bare:.0} | {:.0} |", l.in_flight, handler - bare);
    }
    let _ = writeln!(
        out,
        "\nOf the difference, the harness itself spends {harness_micros:.1} µs per record building the Lambda-shaped \
         SQS event (a fresh task serialised into the record body, as the Lambda runtime would hand it over)."
    );
    out.push_str("\n![throughput against concurrency](docs/bench/throughput.svg)\n\n");
    out
}

pub fn fanout(results: &[PerEvent]) -> String {
    let mut out = format!(
        "## 2. Fan-out\n\n`{RUN} fanout` — the `fanout` handler on single-event SQS batches, a tenant with N \
         subscriptions that all match, in-memory store and deliveries queue. Goal: ≤ 5 ms per event at 1,000.\n\n\
         | matching subscriptions | mean per event (ms) | median (ms) |\n|---:|---:|---:|\n"
    );
    for r in results {
        let _ = writeln!(out, "| {} | {} | {} |", r.subscriptions, ms(r.mean), ms(r.median));
    }
    if let Some(last) = results.iter().find(|r| r.subscriptions == 1_000) {
        let _ =
            writeln!(out, "\nAt 1,000: {} ms — goal ≤ 5 ms {}.", ms(last.mean), met(last.mean.as_secs_f64() <= 0.005));
    }
    out.push('\n');
    out
}

pub fn ingest(results: &[Validation]) -> String {
    let mut out = format!(
        "## 3. Ingest validation\n\n`{RUN} ingest` — `Catalogue::builtin().validate` on one thread (one core) with each \
         seed type's full example payload (`functions/core/catalogue/examples/`); the second column adds parsing the \
         payload text, as ingest does. Goal: ≥ 100,000 validations/s per core.\n\n\
         | event type | payload (bytes) | validations/s | parse + validate/s | goal |\n|---|---:|---:|---:|---|\n"
    );
    for r in results {
        let _ = writeln!(
            out,
            "| `{}` | {} | {:.0} | {:.0} | {} |",
            r.event_type,
            r.payload_bytes,
            r.per_second,
            r.parse_and_validate_per_second,
            met(r.per_second >= 100_000.0)
        );
    }
    out.push('\n');
    out
}

pub fn coldstart(results: &[ColdStart], runs: usize) -> String {
    let mut out = format!(
        "## 4. Cold start\n\n`make lambda-build && {RUN} coldstart` — each function's `bootstrap` as \
         `cargo lambda build --release` makes it and `sam build` packages it (x86_64) started {runs} times under a minimal Lambda Runtime API on 127.0.0.1 served by the \
         bench; time from spawning the process to receiving its first invocation's answer (median and fastest), and \
         the largest peak RSS (`VmHWM`). The invocations need no AWS call (listed below); SDK clients are still built \
         at start as in Lambda. Goals: ≤ 6 MB stripped, ≤ 15 ms to the first answer.\n\n\
         | function | binary (MB) | size goal | first invocation, median (ms) | fastest (ms) | time goal | peak RSS (MiB) | answered |\n\
         |---|---:|---|---:|---:|---|---:|---|\n"
    );
    for r in results {
        let mb = r.binary_bytes as f64 / 1e6;
        let _ = writeln!(
            out,
            "| {} | {:.2} | {} | {} | {} | {} | {:.1} | {} |",
            r.function,
            mb,
            met(r.binary_bytes <= 6_000_000),
            ms(r.first_invocation),
            ms(r.fastest),
            met(r.first_invocation.as_secs_f64() <= 0.015),
            r.peak_rss_kib as f64 / 1024.0,
            r.answered
        );
    }
    out.push_str("\nInvocations:\n\n");
    for r in results {
        let _ = writeln!(out, "- {}: {}", r.function, r.invocation);
    }
    out.push('\n');
    out
}

pub fn cost(scenarios: &[Scenario]) -> String {
    let mut out = format!(
        "## 5. AWS requests and cost per delivered webhook\n\n`HOOKLINE_MOTO_SERVER=.venv-tools/bin/moto_server {RUN} cost` — \
         the local stack (`hookline_local::start`) on moto, every AWS request counted by a **counting HTTP proxy in \
         front of moto** (the stack's `LocalOptions::endpoint` points at it, so handlers and pollers alike go through \
         it). Events are published through the local API in requests of several events, each a ≈ 1 KB \
         `legalentity-created` payload, to one tenant with 1 or 10 subscriptions that match.\n\n"
    );
    out.push_str("Price table (us-east-1 list prices, on-demand, USD):\n\n| item | price |\n|---|---:|\n");
    let _ = writeln!(out, "| Lambda arm64 request | ${:.2} per million |", price::LAMBDA_REQUEST * 1e6);
    let _ = writeln!(
        out,
        "| Lambda arm64 duration | ${:.10} per GB-s (the template's 256 MB functions) |",
        price::LAMBDA_GB_SECOND
    );
    let _ = writeln!(out, "| SQS standard request (per 64 KiB chunk) | ${:.2} per million |", price::SQS_REQUEST * 1e6);
    let _ = writeln!(
        out,
        "| DynamoDB on-demand write request unit (1 KB) | ${:.3} per million |",
        price::DYNAMODB_WRU * 1e6
    );
    let _ = writeln!(
        out,
        "| DynamoDB on-demand read request unit (4 KB strong / 8 KB eventual) | ${:.3} per million |",
        price::DYNAMODB_RRU * 1e6
    );
    let _ = writeln!(out, "| API Gateway REST request | ${:.2} per million |", price::API_GATEWAY_REST_REQUEST * 1e6);
    out.push('\n');
    for s in scenarios {
        let _ = writeln!(
            out,
            "### Fan-out {} — {} events × {} subscriptions = {} deliveries, {} events per publish, payload {} bytes\n",
            s.fan_out, s.events, s.fan_out, s.deliveries, s.events_per_publish, s.payload_bytes
        );
        out.push_str(
            "| request | count | per delivery | entries / units | idle (empty) receives |\n|---|---:|---:|---:|---:|\n",
        );
        for (key, c) in &s.ops {
            let busy = c.requests - c.empty;
            let detail = if key.starts_with("dynamodb") {
                format!("{:.1} units", c.units)
            } else {
                format!("{} entries", c.entries)
            };
            let _ = writeln!(
                out,
                "| `{key}` | {busy} | {:.3} | {detail} | {} |",
                busy as f64 / s.deliveries.max(1) as f64,
                c.empty
            );
        }
        let _ = writeln!(
            out,
            "\n**{:.2} AWS requests per delivered webhook** (idle receives left out).\n",
            s.requests_per_delivery()
        );
        out.push_str("| cost line | $ per million deliveries | basis per delivery |\n|---|---:|---|\n");
        let bill = s.bill();
        for (line, dollars, basis) in &bill.lines {
            let _ = writeln!(out, "| {line} | {:.3} | {basis} |", dollars * 1e6);
        }
        let _ = writeln!(
            out,
            "| **total Lambda + SQS + DynamoDB** | **{:.3}** | goal ≤ $0.50 at fan-out 1: {} |\n| total with API Gateway | {:.3} | EventBridge API destinations ≈ $1.20 |\n",
            bill.core_total() * 1e6,
            if s.fan_out == 1 { met(bill.core_total() * 1e6 <= 0.5) } else { "—" },
            bill.total() * 1e6
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn tables_have_a_row_per_result_and_the_reproducing_command() {
        let text = delivery(&[Level { in_flight: 1, handler: 80.0, bare: 100.0 }], 1.0, 12.5);
        assert!(text.contains("`cargo run --release -p hookline-bench -- delivery`"));
        assert!(text.contains("| 1 | 80 | 100 | 0.80 | met |"), "{text}");
        // The CPU table leaves out the latency-bound level.
        let levels =
            [Level { in_flight: 1, handler: 80.0, bare: 100.0 }, Level { in_flight: 10, handler: 800.0, bare: 1000.0 }];
        let text = delivery(&levels, 1.0, 12.5);
        let rows = |prefix: &str| text.lines().filter(|line| line.starts_with(prefix)).count();
        assert_eq!((rows("| 1 |"), rows("| 10 |")), (1, 2), "{text}");
        let text = fanout(&[PerEvent {
            subscriptions: 1_000,
            mean: Duration::from_millis(6),
            median: Duration::from_millis(6),
        }]);
        assert!(text.contains("| 1000 | 6.000 | 6.000 |") && text.contains("not met"), "{text}");
    }
}
