//! `hookline keys` end to end: the real binary against a real moto, and the local stack's API
//! refusing a revoked key on the very next request.

use std::process::Output;
use std::time::Duration;

use hookline_local::{LocalOptions, RunningStack};
use hookline_testkit::MotoServer;

/// Runs the `hookline` binary with the stack's endpoint and table.
fn hookline(stack: &RunningStack, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(args)
        .env("AWS_ENDPOINT_URL", stack.endpoint())
        .env("HOOKLINE_TABLE", &stack.resources().table)
        .env_remove("RUST_LOG")
        .output()
        .expect("the hookline binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "hookline failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

async fn status(stack: &RunningStack, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/v1/subscriptions", stack.api_url()))
        .bearer_auth(key)
        .send()
        .await
        .expect("the API answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_listed_key_revoked_by_id_is_refused_at_once_and_listed_as_revoked() {
    let moto = MotoServer::start().expect("moto (run `make tools` or set HOOKLINE_MOTO_SERVER)");
    let options = LocalOptions { port: 0, endpoint: Some(moto.endpoint()), quiet: true, ..LocalOptions::default() };
    let stack = hookline_local::start(options).await.expect("local stack");

    let key = stdout(&hookline(&stack, &["keys", "create", "--tenant", "acme", "--scopes", "manage"]));
    let key = key.lines().last().expect("the key on the last line").trim().to_owned();
    let other = stdout(&hookline(&stack, &["keys", "create", "--tenant", "acme", "--scopes", "publish,manage"]));
    let other = other.lines().last().expect("the key").trim().to_owned();
    stdout(&hookline(&stack, &["keys", "create", "--tenant", "globex", "--scopes", "manage"]));
    assert_eq!(status(&stack, &key).await, 200, "a fresh key works");

    let listing = stdout(&hookline(&stack, &["keys", "list", "--tenant", "acme"]));
    let rows: Vec<Vec<&str>> = listing.lines().skip(1).map(|line| line.split('\t').collect()).collect();
    assert_eq!(listing.lines().next(), Some("KEY_ID\tTENANT\tSCOPES\tCREATED\tREVOKED"));
    assert_eq!(rows.len(), 2, "acme's two keys only: {listing}");
    assert!(rows.iter().all(|row| row.len() == 5 && row[1] == "acme" && row[4] == "-"), "{listing}");
    assert_eq!((rows[0][2], rows[1][2]), ("manage", "publish,manage"), "oldest first: {listing}");
    assert!(!listing.contains(&key) && !listing.contains(&other), "keys are never printed: {listing}");
    assert!(!listing.contains(&hookline_core::api_key::hash(&key)), "nor their hashes");

    let revoked = stdout(&hookline(&stack, &["keys", "revoke", rows[0][0]]));
    assert!(revoked.contains(rows[0][0]), "{revoked}");
    assert_eq!(status(&stack, &key).await, 401, "refused on the very next request");
    assert_eq!(status(&stack, &other).await, 200, "the tenant's other key still works");

    let listing = stdout(&hookline(&stack, &["keys", "list", "--tenant", "acme"]));
    let first: Vec<&str> = listing.lines().nth(1).expect("row").split('\t').collect();
    assert_eq!(first[0], rows[0][0]);
    assert!(
        time::OffsetDateTime::parse(first[4], &time::format_description::well_known::Rfc3339).is_ok(),
        "the revocation time is shown: {listing}"
    );

    let unknown = hookline(&stack, &["keys", "revoke", "key_01JAAAAAAAAAAAAAAAAAAAAAAA"]);
    assert!(!unknown.status.success(), "an unknown key id fails");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key"), "{:?}", unknown);
    tokio::time::timeout(Duration::from_secs(30), stack.shutdown()).await.expect("stops");
}
