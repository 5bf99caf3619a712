//! `hookline-bench [all|delivery|fanout|ingest|coldstart|cost] [--quick] [--out FILE] [--bin-dir DIR]`
//!
//! `all` (what `make bench` runs) measures every section and writes `BENCHMARKS.md` (the
//! figures, then the hand-written analysis in `docs/bench/notes.md`) and
//! `docs/bench/throughput.svg`. A single section prints its Markdown to stdout, which is how
//! each figure in `BENCHMARKS.md` is reproduced. Progress goes to stderr. `--quick` shortens
//! every run (for a smoke check; the figures are then noisy).

mod coldstart;
mod cost;
mod delivery;
mod fanout;
mod ingest;
mod report;
mod svg;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

#[derive(Debug)]
struct Options {
    section: String,
    quick: bool,
    out: PathBuf,
    chart: PathBuf,
    notes: PathBuf,
    bin_dir: PathBuf,
}

fn options() -> anyhow::Result<Options> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let mut options = Options {
        section: "all".into(),
        quick: false,
        out: "BENCHMARKS.md".into(),
        chart: "docs/bench/throughput.svg".into(),
        notes: "docs/bench/notes.md".into(),
        // Where `make lambda-build` (`cargo lambda build --release`) puts `<function>/bootstrap`.
        bin_dir: target.join("lambda"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--out" => options.out = value()?.into(),
            "--chart" => options.chart = value()?.into(),
            "--notes" => options.notes = value()?.into(),
            "--bin-dir" => options.bin_dir = value()?.into(),
            "all" | "delivery" | "fanout" | "ingest" | "coldstart" | "cost" => options.section = arg,
            other => anyhow::bail!(
                "unknown argument {other}; usage: hookline-bench [all|delivery|fanout|ingest|coldstart|cost] [--quick] [--out FILE] [--chart FILE] [--bin-dir DIR]"
            ),
        }
    }
    Ok(options)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// The cost run's runtime: every thread reports the handlers' spans to the span timer.
fn cost_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let dispatch = cost::dispatch();
    let for_threads = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || {
            // Lives as long as the thread does.
            std::mem::forget(tracing::dispatcher::set_default(&for_threads));
        })
        .build()?;
    std::mem::forget(tracing::dispatcher::set_default(&dispatch));
    Ok(runtime)
}

fn section(name: &str, options: &Options) -> anyhow::Result<(String, Option<Vec<delivery::Level>>)> {
    let quick = options.quick;
    let started = Instant::now();
    let text = match name {
        "delivery" => {
            let seconds = if quick { 0.5 } else { 4.0 };
            let levels = runtime()?.block_on(delivery::run(&delivery::LEVELS, Duration::from_secs_f64(seconds)))?;
            let harness = delivery::harness_micros_per_record()?;
            let text = report::delivery(&levels, seconds, harness);
            return Ok((text, Some(levels)));
        }
        "fanout" => {
            let duration = Duration::from_secs_f64(if quick { 0.1 } else { 2.0 });
            report::fanout(&runtime()?.block_on(fanout::run(&fanout::COUNTS, duration))?)
        }
        "ingest" => report::ingest(&ingest::run(Duration::from_secs_f64(if quick { 0.1 } else { 2.0 }))?),
        "coldstart" => {
            let runs = if quick { 1 } else { 7 };
            report::coldstart(&runtime()?.block_on(coldstart::run(&options.bin_dir, runs))?, runs)
        }
        "cost" => {
            let scenarios: &[(usize, usize)] = if quick { &[(1, 10), (10, 5)] } else { &[(1, 200), (10, 50)] };
            report::cost(&cost_runtime()?.block_on(cost::run(scenarios, 10))?)
        }
        other => anyhow::bail!("no section {other}"),
    };
    eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
    Ok((text, None))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cpu}, {cores} cores, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    if options.section != "all" {
        let (text, levels) = section(&options.section.clone(), &options)?;
        if let Some(levels) = levels {
            std::fs::write(&options.chart, svg::throughput(&levels))
                .with_context(|| format!("writing {}", options.chart.display()))?;
        }
        println!("{text}");
        return Ok(());
    }
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let mut text = format!(
        "# hookline benchmarks\n\nWritten by `make bench` (`{} all`) on {} UTC, {}. Every figure below names the \
         command that reproduces it; each section's analysis, the changes made and their before/after figures follow \
         the figures.\n\n",
        report::RUN,
        now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        machine()
    );
    for name in ["delivery", "fanout", "ingest", "coldstart", "cost"] {
        let (section_text, levels) = section(name, &options)?;
        if let Some(levels) = levels {
            if let Some(parent) = options.chart.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&options.chart, svg::throughput(&levels))
                .with_context(|| format!("writing {}", options.chart.display()))?;
        }
        text.push_str(&section_text);
    }
    match std::fs::read_to_string(&options.notes) {
        Ok(notes) => text.push_str(&notes),
        Err(error) => eprintln!("no analysis appended ({}: {error})", options.notes.display()),
    }
    let _ = std::fmt::Write::write_fmt(
        &mut text,
        format_args!("\n---\nThis run took {:.0} s.\n", started.elapsed().as_secs_f64()),
    );
    std::fs::write(&options.out, text).with_context(|| format!("writing {}", options.out.display()))?;
    eprintln!("wrote {} and {}", options.out.display(), options.chart.display());
    Ok(())
}
