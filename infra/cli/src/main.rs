//! `hookline`, the operator's tool.
//!
//! - `hookline dev` runs the local stack (see `hookline-local`).
//! - `hookline keys create` mints an API key and stores its hash.
//! - `hookline keys list` / `hookline keys revoke` (module [`keys`]) show and revoke keys.
//! - `hookline dlq list | redrive` shows and moves back what the dead-letter queues hold.

mod dlq;
mod keys;
mod status;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hookline_aws::resources::QueueSettings;
use hookline_core::api_key;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner, Scope};
use hookline_core::ports::ApiKeyStore;
use hookline_deliver::DeliverConfig;
use hookline_deliver::config::ALLOW_PRIVATE_TARGETS_ENV;
use hookline_local::LocalOptions;
use hookline_subscriptions::SubscriptionsConfig;
use time::OffsetDateTime;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// How long the local stack's queues hide a received message (local only; the template sets it
/// on AWS).
const VISIBILITY_ENV: &str = "HOOKLINE_VISIBILITY_TIMEOUT_SECONDS";
/// How often `hookline dev` prints a changed status line when stderr is not a terminal.
const STATUS_INTERVAL_ENV: &str = "HOOKLINE_STATUS_INTERVAL_SECONDS";

#[derive(Debug, Parser)]
#[command(name = "hookline", version, about = "Operate hookline: run the local stack, manage API keys.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local stack: moto as AWS, the API on 127.0.0.1, SQS pollers playing Lambda.
    ///
    /// Uses the moto at AWS_ENDPOINT_URL if set, else starts `moto_server` (HOOKLINE_MOTO_SERVER,
    /// else PATH; `make tools` installs it) on --aws-port. Prints one line when ready:
    ///
    ///   hookline dev: ready — API on http://127.0.0.1:3000 (AWS at http://127.0.0.1:4566)
    ///
    /// From another shell, `AWS_ENDPOINT_URL=<the AWS URL above> hookline keys create …` mints
    /// keys this stack accepts.
    ///
    /// Reads HOOKLINE_RETRY_SCHEDULE, HOOKLINE_DELIVERY_TIMEOUT_SECONDS, HOOKLINE_RETENTION_DAYS,
    /// HOOKLINE_ROTATION_GRACE_HOURS and HOOKLINE_ALLOW_PRIVATE_TARGETS (default true here only:
    /// http and loopback subscriber URLs are allowed), and HOOKLINE_VISIBILITY_TIMEOUT_SECONDS
    /// (local only; default 180, as the template: how long a message a crashed stack had in
    /// flight stays hidden). Logs go to stderr (RUST_LOG, default info).
    ///
    /// Shows a live status on stderr — events in, deliveries delivered / retrying /
    /// dead-lettered, queue depths — redrawn in place on a terminal, else printed as a line when
    /// it changes (at most every HOOKLINE_STATUS_INTERVAL_SECONDS, default 10). --quiet turns it
    /// off. Ctrl-C or SIGTERM stops it cleanly.
    Dev {
        /// The API port on 127.0.0.1.
        #[arg(long, env = "HOOKLINE_PORT", default_value_t = 3000)]
        port: u16,
        /// The port of the moto server this command starts when AWS_ENDPOINT_URL is unset
        /// [default: 4566, or any free port if 4566 is taken].
        #[arg(long)]
        aws_port: Option<u16>,
        /// No line per request or batch and no live status; warnings and errors only (unless
        /// RUST_LOG says otherwise).
        #[arg(long)]
        quiet: bool,
    },
    /// Manage API keys (stored as SHA-256 hashes in the hookline table).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Inspect and redrive the dead-letter queues.
    ///
    /// Uses HOOKLINE_<EVENTS|DELIVERIES>_QUEUE_URL and _DLQ_URL when set (the stack's outputs on
    /// AWS), else the local stack's queues at AWS_ENDPOINT_URL.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Print one JSON object per dead-lettered message: ids, tenant, subscription, reason.
    /// Messages stay in the queue.
    List {
        #[arg(long, value_enum, default_value = "deliveries")]
        queue: dlq::QueueKind,
    },
    /// Move every dead-lettered message back to its queue for another try (a dead letter with
    /// its whole retry schedule ahead again), printing one JSON object per message.
    Redrive {
        #[arg(long, value_enum, default_value = "deliveries")]
        queue: dlq::QueueKind,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Mint a key and print it alone on the last line of stdout; it is shown only once.
    ///
    /// Stores only its SHA-256, in the table HOOKLINE_TABLE (default `hookline`) of whatever
    /// AWS_ENDPOINT_URL and the AWS credentials point at. For `hookline dev`, set
    /// AWS_ENDPOINT_URL to the AWS URL its ready line printed (http://127.0.0.1:4566 by default):
    ///
    ///   AWS_ENDPOINT_URL=http://127.0.0.1:4566 hookline keys create --tenant acme --scopes publish,manage
    ///
    /// With AWS_ENDPOINT_URL set and no region or credentials configured, us-east-1 and dummy
    /// credentials are used (the emulator accepts any).
    Create {
        /// The tenant the key belongs to, or `*` for a platform key that publishes for any tenant.
        #[arg(long)]
        tenant: String,
        /// Comma-separated: publish, manage.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
    },
    /// List a tenant's keys, revoked ones included: id, tenant, scopes, created, revoked.
    ///
    /// Never prints a key or its hash. Same table and endpoint settings as `keys create`.
    List {
        /// The tenant whose keys to list, or `*` for platform keys.
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key by its id (`key_…`, as `keys list` shows it).
    ///
    /// The local stack refuses the key from the next request on. On AWS, API Gateway caches the
    /// authorizer's answer per key for ReauthorizeEvery (60 s in template.yaml): a revoked key
    /// can keep working that long.
    Revoke {
        /// The key's id.
        key_id: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Dev { quiet: true, .. } | Command::Keys { .. } | Command::Dlq { .. });
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| if quiet { "warn" } else { "info" }.to_owned());
    let shown = status::Shown::default();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(status::LogWriter(shown.clone())).init();
    let result = match cli.command {
        Command::Dev { port, aws_port, quiet } => dev(port, aws_port, quiet, &shown).await,
        Command::Keys { command } => run_keys(command).await,
        Command::Dlq { command } => dead_letters(command).await,
    };
    // The error chain in one line, without a backtrace: these are operator mistakes, not bugs.
    if let Err(error) = result {
        eprintln!("hookline: {error:#}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The stack's settings from the environment, read the way the deliver function reads them,
/// except that private targets are allowed unless HOOKLINE_ALLOW_PRIVATE_TARGETS says otherwise.
fn dev_options(port: u16, aws_port: Option<u16>, quiet: bool) -> anyhow::Result<LocalOptions> {
    let deliver = DeliverConfig::from_env()?;
    let private_targets_set = std::env::var(ALLOW_PRIVATE_TARGETS_ENV).is_ok_and(|value| !value.trim().is_empty());
    Ok(LocalOptions {
        port,
        aws_port,
        endpoint: std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.trim().is_empty()),
        retry_schedule: deliver.schedule,
        delivery_timeout: deliver.timeout,
        allow_private_targets: if private_targets_set { deliver.allow_private_targets } else { true },
        retention: hookline_aws::resources::retention_from_env()?,
        queue_settings: queue_settings_from_env()?,
        rotation_grace: SubscriptionsConfig::from_env()?.rotation_grace.unsigned_abs(),
        quiet,
        ..LocalOptions::default()
    })
}

/// HOOKLINE_STATUS_INTERVAL_SECONDS: how often a changed status line is printed when stderr is
/// not a terminal (default 10).
fn status_interval_from_env() -> anyhow::Result<Duration> {
    match std::env::var(STATUS_INTERVAL_ENV).ok().filter(|t| !t.trim().is_empty()) {
        None => Ok(status::DEFAULT_LINE_INTERVAL),
        Some(text) => {
            text.trim().parse::<u64>().ok().filter(|s| (1..=3_600).contains(s)).map(Duration::from_secs).with_context(
                || format!("{STATUS_INTERVAL_ENV} must be a whole number of seconds from 1 to 3600, not {text:?}"),
            )
        }
    }
}

/// The local queues' settings: the template's, with HOOKLINE_VISIBILITY_TIMEOUT_SECONDS applied.
fn queue_settings_from_env() -> anyhow::Result<QueueSettings> {
    let mut settings = QueueSettings::default();
    if let Some(text) = std::env::var(VISIBILITY_ENV).ok().filter(|t| !t.trim().is_empty()) {
        let seconds = text.trim().parse::<u64>().ok().filter(|s| (1..=43_200).contains(s)).with_context(|| {
            format!("{VISIBILITY_ENV} must be a whole number of seconds from 1 to 43200, not {text:?}")
        })?;
        settings.visibility_timeout = Duration::from_secs(seconds);
    }
    Ok(settings)
}

async fn dev(port: u16, aws_port: Option<u16>, quiet: bool, shown: &status::Shown) -> anyhow::Result<()> {
    let options = dev_options(port, aws_port, quiet)?;
    let status_interval = status_interval_from_env()?;
    // Listen for signals before moto starts: a Ctrl-C while starting must still stop it (it runs
    // in its own process group and is killed when its handle drops).
    let mut stop = StopSignals::install()?;
    let stack = tokio::select! {
        stack = hookline_local::start(options) => stack?,
        () = stop.recv() => {
            eprintln!("hookline dev: stopped while starting");
            return Ok(());
        }
    };
    println!("hookline dev: ready — API on {} (AWS at {})", stack.api_url(), stack.endpoint());
    if quiet {
        stop.recv().await;
    } else {
        tokio::select! {
            () = stop.recv() => {}
            () = status::show(&stack, shown, status_interval) => {}
        }
        shown.clear();
    }
    eprintln!("hookline dev: stopping");
    stack.shutdown().await;
    eprintln!("hookline dev: stopped");
    Ok(())
}

/// Ctrl-C, SIGTERM, and SIGHUP (a closed terminal should not leave moto running).
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        let listen = |kind| signal(kind).context("listening for stop signals");
        Ok(Self {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
            hangup: listen(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
        }
    }
}

async fn dead_letters(command: DlqCommand) -> anyhow::Result<()> {
    let (config, place) = aws_target().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let kind = match command {
        DlqCommand::List { queue } | DlqCommand::Redrive { queue } => queue,
    };
    let queues = dlq::Queues::find(&sqs, kind).await.with_context(|| place.clone())?;
    match command {
        DlqCommand::List { .. } => {
            let count = dlq::list(&sqs, &queues).await.with_context(|| place.clone())?;
            eprintln!("{count} message(s) in {}", queues.dlq);
        }
        DlqCommand::Redrive { .. } => {
            let (moved, kept) = dlq::redrive(&sqs, &queues).await.with_context(|| place.clone())?;
            eprintln!("redrove {moved} message(s) to {}; {kept} unreadable left in {}", queues.source, queues.dlq);
        }
    }
    Ok(())
}

/// The SDK configuration for AWS_ENDPOINT_URL (the local stack) or AWS itself, and a phrase
/// saying which, for error messages.
pub(crate) async fn aws_target() -> (aws_config::SdkConfig, String) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.trim().is_empty());
    match &endpoint {
        Some(endpoint) => (
            hookline_local::emulator_config(endpoint).await,
            format!("at {endpoint} (is `hookline dev` running there?)"),
        ),
        None => (
            hookline_aws::sdk_config().await,
            format!(
                "on AWS (AWS_ENDPOINT_URL is not set; for the local stack use \
                 AWS_ENDPOINT_URL=http://127.0.0.1:{})",
                hookline_local::DEFAULT_AWS_PORT
            ),
        ),
    }
}

async fn run_keys(command: KeysCommand) -> anyhow::Result<()> {
    let table = keys::KeyTable::from_env().await;
    let mut stdout = std::io::stdout().lock();
    match command {
        KeysCommand::Create { tenant, scopes } => create_key(&table, &tenant, &scopes).await,
        KeysCommand::List { tenant } => keys::list(&table.store, &table.place, &tenant, &mut stdout).await,
        KeysCommand::Revoke { key_id } => keys::revoke(&table.store, &table.place, &key_id, &mut stdout).await,
    }
}

async fn create_key(table: &keys::KeyTable, tenant: &str, scopes: &[String]) -> anyhow::Result<()> {
    let owner: KeyOwner = tenant.parse().with_context(|| format!("--tenant `{tenant}`"))?;
    let mut parsed: Vec<Scope> =
        scopes.iter().map(|s| s.trim().parse()).collect::<Result<_, String>>().map_err(anyhow::Error::msg)?;
    parsed.sort();
    parsed.dedup();
    if parsed.is_empty() {
        bail!("--scopes needs at least one of publish, manage");
    }
    let minted = api_key::mint();
    let key = ApiKey {
        id: ApiKeyId::generate(),
        owner,
        scopes: parsed,
        key_hash: minted.hash.clone(),
        created_at: OffsetDateTime::now_utc(),
        revoked_at: None,
    };
    table.store.create(&key).await.with_context(|| format!("storing the key in {}", table.place))?;
    let scope_names: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "created API key {} for {} with scopes {}; store it now, it is not shown again",
        key.id,
        if key.owner == KeyOwner::Platform {
            "the platform (any tenant)".to_owned()
        } else {
            format!("tenant {tenant}")
        },
        scope_names.join(",")
    );
    println!("{}", minted.text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keys_create_takes_a_platform_tenant_and_comma_separated_scopes() {
        let cli = Cli::try_parse_from(["hookline", "keys", "create", "--tenant", "*", "--scopes", "publish,manage"])
            .expect("parses");
        let Command::Keys { command: KeysCommand::Create { tenant, scopes } } = cli.command else {
            panic!("keys create");
        };
        assert_eq!((tenant.as_str(), scopes), ("*", vec!["publish".to_owned(), "manage".to_owned()]));
        assert!(Cli::try_parse_from(["hookline", "keys", "create", "--tenant", "acme"]).is_err(), "scopes required");
    }

    #[test]
    fn keys_list_needs_a_tenant_and_revoke_a_key_id() {
        let cli = Cli::try_parse_from(["hookline", "keys", "list", "--tenant", "acme"]).expect("parses");
        assert!(matches!(cli.command, Command::Keys { command: KeysCommand::List { tenant } } if tenant == "acme"));
        assert!(Cli::try_parse_from(["hookline", "keys", "list"]).is_err(), "tenant required");
        let cli = Cli::try_parse_from(["hookline", "keys", "revoke", "key_01"]).expect("parses");
        assert!(matches!(cli.command, Command::Keys { command: KeysCommand::Revoke { key_id } } if key_id == "key_01"));
        assert!(Cli::try_parse_from(["hookline", "keys", "revoke"]).is_err(), "key id required");
    }

    #[test]
    fn dev_uses_port_4566_for_moto_unless_told_otherwise() {
        let cli = Cli::try_parse_from(["hookline", "dev", "--port", "0", "--quiet"]).expect("parses");
        assert!(matches!(cli.command, Command::Dev { port: 0, aws_port: None, quiet: true }));
        let cli = Cli::try_parse_from(["hookline", "dev", "--aws-port", "5000"]).expect("parses");
        assert!(matches!(cli.command, Command::Dev { aws_port: Some(5000), .. }));
    }
}
