//! The test harness itself, exercised the way later end-to-end tests lean on it: a receiver
//! that records and scripts real HTTP exchanges, and a moto server that can be stopped and
//! started again under a client.

use std::time::Duration;

use hookline_testkit::{MotoServer, Reply, TestReceiver};

#[tokio::test]
async fn the_receiver_records_headers_and_the_raw_body() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let body = r#"{"type":"client-management.legalentity-created","data":{"CustomerGroupId":"cg-1"}}"#;
    let response = reqwest::Client::new()
        .post(receiver.url())
        .header("content-type", "application/json")
        .header("webhook-id", "evt_1")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);

    let seen = receiver.wait_for(1, Duration::from_secs(5)).await.expect("one request");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/hook");
    assert_eq!(seen[0].header("webhook-id"), Some("evt_1"));
    assert_eq!(seen[0].body.as_ref(), body.as_bytes(), "bytes exactly as sent");
}

#[tokio::test]
async fn the_receiver_answers_its_script_then_its_default() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(500), Reply::status(429).with_retry_after("2"), Reply::status(410)]);
    receiver.set_default(Reply::status(204));
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let response = client.post(receiver.url()).body("{}").send().await.expect("post");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
        }
    }
    assert_eq!(statuses, vec![500, 429, 410, 204, 204]);
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(receiver.requests().len(), 5);
}

#[tokio::test]
async fn a_delayed_reply_trips_a_client_timeout() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::ok().delayed(Duration::from_secs(3))]);
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");
    let err = client.post(receiver.url()).body("{}").send().await.expect_err("times out");
    assert!(err.is_timeout(), "{err}");
    assert_eq!(receiver.requests().len(), 1, "the request still arrived");
}

#[tokio::test]
async fn moto_can_be_stopped_and_started_again_on_its_port() {
    let mut moto = MotoServer::start().expect("moto");
    let port = moto.port();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    sqs.create_queue().queue_name("probe").send().await.expect("create queue");

    moto.stop();
    assert!(sqs.list_queues().send().await.is_err(), "a stopped moto answers nothing");

    moto.restart().expect("restart");
    assert_eq!(moto.port(), port);
    let queues = sqs.list_queues().send().await.expect("list after restart");
    assert!(queues.queue_urls().is_empty(), "a restarted moto starts empty");
}
