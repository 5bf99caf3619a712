//! `hookline`, the operator's tool.
//!
//! - `hookline dev` runs the local stack (see `hookline-local`).
//! - `hookline keys create` mints an API key and stores its hash.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hookline_aws::DynamoStore;
use hookline_core::api_key;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner, Scope};
use hookline_core::ports::ApiKeyStore;
use hookline_core::retry::RetrySchedule;
use hookline_local::LocalOptions;
use time::OffsetDateTime;

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
    /// Uses the moto at AWS_ENDPOINT_URL if set, else starts `moto_server` on --aws-port.
    /// Reads HOOKLINE_RETRY_SCHEDULE, HOOKLINE_DELIVERY_TIMEOUT_SECONDS, HOOKLINE_RETENTION_DAYS
    /// and HOOKLINE_ALLOW_PRIVATE_TARGETS (default true here: http and loopback targets allowed).
    Dev {
        /// The API port.
        #[arg(long, env = "HOOKLINE_PORT", default_value_t = 3000)]
        port: u16,
        /// The port of the moto server this command starts (when AWS_ENDPOINT_URL is unset).
        #[arg(long, default_value_t = 4566)]
        aws_port: u16,
        /// Log warnings and errors only.
        #[arg(long)]
        quiet: bool,
    },
    /// Manage API keys (stored as SHA-256 hashes in the hookline table).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Mint a key and print it alone on the last line of stdout; it is shown only once.
    ///
    /// Stores it in the table HOOKLINE_TABLE (default `hookline`) of whatever AWS_ENDPOINT_URL /
    /// AWS credentials point at — for the local stack, AWS_ENDPOINT_URL=http://127.0.0.1:4566.
    Create {
        /// The tenant the key belongs to, or `*` for a platform key that publishes for any tenant.
        #[arg(long)]
        tenant: String,
        /// Comma-separated: publish, manage.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Dev { quiet: true, .. } | Command::Keys { .. });
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| if quiet { "warn" } else { "info" }.to_owned());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match cli.command {
        Command::Dev { port, aws_port, .. } => dev(port, aws_port).await,
        Command::Keys { command: KeysCommand::Create { tenant, scopes } } => create_key(&tenant, &scopes).await,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => text.trim().parse().map_err(|e| anyhow::anyhow!("environment variable {name}: {e}")),
    }
}

async fn dev(port: u16, aws_port: u16) -> anyhow::Result<()> {
    let options = LocalOptions {
        port,
        aws_port,
        endpoint: std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.is_empty()),
        retry_schedule: env_or("HOOKLINE_RETRY_SCHEDULE", RetrySchedule::default())?,
        delivery_timeout: Duration::from_secs(env_or("HOOKLINE_DELIVERY_TIMEOUT_SECONDS", 15u64)?),
        allow_private_targets: env_or("HOOKLINE_ALLOW_PRIVATE_TARGETS", true)?,
        retention: hookline_aws::resources::retention_from_env()?,
        ..LocalOptions::default()
    };
    let stack = hookline_local::start(options).await?;
    println!("hookline dev: ready — API on {} (AWS at {})", stack.api_url(), stack.endpoint());
    wait_for_stop().await;
    eprintln!("hookline dev: stopping");
    stack.shutdown().await;
    Ok(())
}

async fn wait_for_stop() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

async fn create_key(tenant: &str, scopes: &[String]) -> anyhow::Result<()> {
    let owner: KeyOwner = tenant.parse().with_context(|| format!("--tenant `{tenant}`"))?;
    let mut parsed: Vec<Scope> =
        scopes.iter().map(|s| s.trim().parse()).collect::<Result<_, String>>().map_err(anyhow::Error::msg)?;
    parsed.sort();
    parsed.dedup();
    if parsed.is_empty() {
        bail!("--scopes needs at least one of publish, manage");
    }
    let config = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(endpoint) if !endpoint.is_empty() => hookline_local::emulator_config(&endpoint).await,
        _ => hookline_aws::sdk_config().await,
    };
    let table = std::env::var("HOOKLINE_TABLE").unwrap_or_else(|_| "hookline".to_owned());
    // Keys never expire by TTL; retention applies to events and attempts only.
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &table, Duration::ZERO);
    let minted = api_key::mint();
    let key = ApiKey {
        id: ApiKeyId::generate(),
        owner,
        scopes: parsed,
        key_hash: minted.hash.clone(),
        created_at: OffsetDateTime::now_utc(),
        revoked_at: None,
    };
    store.create(&key).await.with_context(|| format!("storing the key in table `{table}` (is the stack running?)"))?;
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
