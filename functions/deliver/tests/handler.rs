//! The deliver handler against a real HTTP receiver on loopback, with in-memory store, attempt
//! log and queues: what the subscriber receives, what is recorded, what is scheduled next.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use hookline_core::envelope::{Envelope, ReceivedEnvelope};
use hookline_core::ids::EventId;
use hookline_core::memory::{MemoryAttemptLog, MemoryDeadLetterQueue, MemoryDeliveryQueue, MemorySubscriptionStore};
use hookline_core::model::{
    Attempt, AttemptOutcome, DeliveryMessage, DeliveryTask, DisabledReason, Event, SecretEntry, Subscription,
};
use hookline_core::ports::SubscriptionStore;
use hookline_core::retry::RetrySchedule;
use hookline_core::signing::{self, DEFAULT_TOLERANCE, WebhookSecret};
use hookline_deliver::{Deliver, DeliverConfig, GONE_REASON};
use hookline_testkit::{Reply, TestReceiver, model};
use serde_json::json;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

type Handler = Deliver<MemorySubscriptionStore, MemoryAttemptLog, MemoryDeliveryQueue, MemoryDeadLetterQueue>;

/// Local mode: loopback receivers are allowed.
fn local() -> DeliverConfig {
    DeliverConfig { allow_private_targets: true, timeout: Duration::from_secs(5), ..DeliverConfig::default() }
}

fn with_schedule(schedule: &str) -> DeliverConfig {
    DeliverConfig { schedule: schedule.parse::<RetrySchedule>().expect("schedule"), ..local() }
}

fn subscription(url: &str) -> Subscription {
    model::subscription("acme", url)
}

fn event() -> Event {
    Event {
        id: EventId::generate(),
        tenant: "acme".parse().expect("tenant"),
        event_type: "client-management.user-assigned-to-legalentity".into(),
        timestamp: OffsetDateTime::now_utc(),
        data: json!({
            "tenant": "acme", "userId": "usr-5c8e2f19", "legalEntityId": "le-3f9c2a71",
            "email": "jana.petersen@nordwind-handel.de", "type": "ADMIN", "primary": true,
            "CustomerGroupId": "cg-ümlaut/€"
        }),
    }
}

fn task(sub: &Subscription, attempts_made: u32) -> DeliveryTask {
    DeliveryTask { attempts_made, ..DeliveryTask::first(event(), sub.id.clone()) }
}

fn body(task: &DeliveryTask) -> String {
    serde_json::to_string(&DeliveryMessage::V1(task.clone())).expect("serialize")
}

fn sqs_event(records: &[(&str, String)]) -> SqsEvent {
    hookline_testkit::lambda::sqs_event("arn:aws:sqs:us-east-1:123456789012:hookline-deliveries", records)
}

fn failures(response: &SqsBatchResponse) -> Vec<String> {
    hookline_testkit::lambda::failures(response)
}

async fn handler_for(sub: &Subscription, config: DeliverConfig) -> Handler {
    let store = MemorySubscriptionStore::default();
    store.create(sub).await.expect("create");
    Deliver::new(
        store,
        MemoryAttemptLog::default(),
        MemoryDeliveryQueue::default(),
        MemoryDeadLetterQueue::default(),
        config,
    )
    .expect("handler")
}

async fn deliver(handler: &Handler, task: &DeliveryTask) -> Vec<String> {
    failures(&handler.handle(sqs_event(&[("m1", body(task))])).await)
}

fn only_attempt(handler: &Handler) -> Attempt {
    let attempts = handler.attempts().all();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    attempts.into_iter().next().expect("one attempt")
}

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_2xx_is_one_signed_post_of_the_envelope_recorded_as_delivered() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(204)]);
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    let task = task(&sub, 0);

    assert!(deliver(&handler, &task).await.is_empty());

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("webhook-id"), Some(task.event.id.as_str()));
    assert_eq!(request.header("user-agent"), Some(concat!("hookline/", env!("CARGO_PKG_VERSION"))));
    let timestamp = request.header("webhook-timestamp").expect("timestamp");
    let signature = request.header("webhook-signature").expect("signature");
    assert!((timestamp.parse::<i64>().expect("unix seconds") - now_unix()).abs() <= 5);
    assert_eq!(
        signing::verify(
            &sub.secrets[0].secret,
            task.event.id.as_str(),
            timestamp,
            signature,
            &request.body,
            now_unix(),
            DEFAULT_TOLERANCE
        ),
        Ok(())
    );
    assert_eq!(request.body.as_ref(), Envelope::of(&task.event).to_body().as_slice());
    let received: ReceivedEnvelope = serde_json::from_slice(&request.body).expect("an envelope");
    assert_eq!(received.event_type, task.event.event_type);
    assert_eq!(received.timestamp, task.event.timestamp);
    assert_eq!(received.data, task.event.data);

    let attempt = only_attempt(&handler);
    assert_eq!(attempt.outcome, AttemptOutcome::Delivered);
    assert_eq!((attempt.attempt, attempt.status, attempt.error_kind.as_deref()), (1, Some(204), None));
    assert_eq!((&attempt.tenant, &attempt.subscription_id, &attempt.event_id), (&sub.tenant, &sub.id, &task.event.id));
    assert_eq!(attempt.event_type, task.event.event_type);
    assert!(handler.queue().enqueued().is_empty());
    assert!(handler.dead_letters().letters().is_empty());
}

#[tokio::test]
async fn a_second_copy_of_a_delivered_task_is_not_posted_again_but_a_replay_is() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    let task = task(&sub, 0);

    assert!(deliver(&handler, &task).await.is_empty());
    // SQS hands the same message out again (a visibility timeout ran out mid-delivery), and a
    // retry of an attempt whose 2xx arrived late comes round too.
    assert!(deliver(&handler, &task).await.is_empty());
    assert!(deliver(&handler, &DeliveryTask { attempts_made: 1, ..task.clone() }).await.is_empty());
    assert_eq!(receiver.requests().len(), 1, "one POST for one (event, subscription)");
    assert_eq!(only_attempt(&handler).outcome, AttemptOutcome::Delivered);

    // A replay asks for the event again, once.
    let replay = DeliveryTask { replay_id: Some(hookline_core::ids::ReplayId::generate()), ..task.clone() };
    assert!(deliver(&handler, &replay).await.is_empty());
    assert!(deliver(&handler, &replay).await.is_empty());
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "the replay is delivered once");
    assert_eq!(requests[1].header("webhook-id"), Some(task.event.id.as_str()), "same webhook-id on replay");
}

#[tokio::test]
async fn a_failed_attempt_does_not_count_as_delivered() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(503)]);
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    let task = task(&sub, 0);

    assert!(deliver(&handler, &task).await.is_empty());
    assert!(deliver(&handler, &DeliveryTask { attempts_made: 1, ..task.clone() }).await.is_empty());
    assert_eq!(receiver.requests().len(), 2, "the retry is POSTed");
}

#[tokio::test]
async fn an_attempt_log_outage_before_posting_hands_the_record_back_without_a_request() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    handler.attempts().outage.set(true);

    assert_eq!(deliver(&handler, &task(&sub, 0)).await, vec!["m1".to_owned()]);
    assert!(receiver.requests().is_empty(), "nothing is POSTed while duplicates cannot be checked");
}

#[tokio::test]
async fn a_500_schedules_the_first_retry_within_the_jitter_band() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(500).with_body("database on fire")]);
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    let task = task(&sub, 0);
    let before = OffsetDateTime::now_utc();

    assert!(deliver(&handler, &task).await.is_empty());

    let scheduled = handler.queue().enqueued();
    assert_eq!(scheduled.len(), 1);
    let retry = &scheduled[0];
    // Default schedule: 5 s ± 20 %.
    assert!((Duration::from_secs(4)..=Duration::from_secs(6)).contains(&retry.delay), "{:?}", retry.delay);
    assert_eq!(retry.task.attempts_made, 1);
    assert_eq!(retry.task.event, task.event);
    assert_eq!(retry.task.subscription_id, sub.id);
    let first = retry.task.first_attempt_at.expect("first attempt time");
    assert!(first >= before - time::Duration::seconds(1));
    let not_before = retry.task.not_before.expect("not before");
    let wait = not_before - first;
    assert!(wait >= time::Duration::seconds(4) && wait <= time::Duration::seconds(7), "{wait}");

    let attempt = only_attempt(&handler);
    assert_eq!(attempt.outcome, AttemptOutcome::RetryScheduled { next_attempt_at: not_before });
    assert_eq!(attempt.status, Some(500));
    assert_eq!(attempt.response_excerpt.as_deref(), Some("database on fire"));
}

#[tokio::test]
async fn a_retry_keeps_the_first_attempt_time_and_counts_on() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.set_default(Reply::status(503));
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, with_schedule("1s,1m,1h")).await;
    let first = OffsetDateTime::now_utc() - time::Duration::minutes(2);
    let task = DeliveryTask { first_attempt_at: Some(first), not_before: Some(first), ..task(&sub, 2) };

    assert!(deliver(&handler, &task).await.is_empty());

    let retry = &handler.queue().enqueued()[0];
    assert_eq!(retry.task.attempts_made, 3);
    assert_eq!(retry.task.first_attempt_at, Some(first));
    // The third delay is an hour: SQS holds it 15 minutes, `not_before` covers the rest.
    assert_eq!(retry.delay, Duration::from_secs(900));
    assert_eq!(only_attempt(&handler).attempt, 3);
}

#[tokio::test]
async fn retry_after_on_a_429_lengthens_the_delay() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(429).with_retry_after("30")]);
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, with_schedule("1s")).await;

    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());

    let retry = &handler.queue().enqueued()[0];
    assert!(retry.delay >= Duration::from_secs(30) && retry.delay <= Duration::from_secs(31), "{:?}", retry.delay);
    let attempt = only_attempt(&handler);
    let AttemptOutcome::RetryScheduled { next_attempt_at } = attempt.outcome else {
        panic!("{:?}", attempt.outcome);
    };
    assert!(next_attempt_at - attempt.at >= time::Duration::seconds(30));
}

#[tokio::test]
async fn retry_after_on_a_500_is_ignored() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(500).with_retry_after("30")]);
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, with_schedule("1s")).await;

    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());

    let retry = &handler.queue().enqueued()[0];
    assert!(retry.delay <= Duration::from_secs(2), "{:?}", retry.delay);
}

#[tokio::test]
async fn a_410_disables_the_subscription_and_later_tasks_are_skipped() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(410)]);
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;

    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());

    let stored = handler.store().get(&sub.tenant, &sub.id).await.expect("get").expect("still there");
    assert!(!stored.enabled);
    assert_eq!(stored.version, sub.version + 1);
    assert_eq!(stored.disabled.as_ref().map(|d| d.reason.as_str()), Some(GONE_REASON));
    let attempt = only_attempt(&handler);
    assert_eq!((attempt.outcome.clone(), attempt.status), (AttemptOutcome::Disabled, Some(410)));
    assert!(handler.queue().enqueued().is_empty());
    assert!(handler.dead_letters().letters().is_empty());

    // The next task for it is finished without a request.
    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(handler.attempts().all().len(), 1);
}

#[tokio::test]
async fn a_spent_schedule_dead_letters_the_task_with_its_reason() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.set_default(Reply::status(500));
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, with_schedule("1s")).await;
    let first = OffsetDateTime::now_utc() - time::Duration::seconds(3);
    let task = DeliveryTask { first_attempt_at: Some(first), ..task(&sub, 1) };

    assert!(deliver(&handler, &task).await.is_empty());

    let letters = handler.dead_letters().letters();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.reason, "gave up after 2 attempts; last: HTTP 500");
    assert_eq!((letter.attempts, letter.last_status), (2, Some(500)));
    assert_eq!(letter.first_attempt_at, Some(first));
    assert_eq!(letter.task.event, task.event);
    assert!(handler.queue().enqueued().is_empty());
    let attempt = only_attempt(&handler);
    assert_eq!((attempt.outcome.clone(), attempt.attempt), (AttemptOutcome::Exhausted, 2));
    assert_eq!(letter.last_attempt_at, attempt.at);
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_a_timeout() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::ok().delayed(Duration::from_secs(3))]);
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, DeliverConfig { timeout: Duration::from_millis(300), ..local() }).await;

    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());

    let attempt = only_attempt(&handler);
    assert_eq!((attempt.status, attempt.error_kind.as_deref()), (None, Some("timeout")));
    assert!(matches!(attempt.outcome, AttemptOutcome::RetryScheduled { .. }));
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = listener.local_addr().expect("address");
    drop(listener);
    let sub = subscription(&format!("http://{closed}/hook"));
    let handler = handler_for(&sub, local()).await;

    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());

    let attempt = only_attempt(&handler);
    assert_eq!((attempt.status, attempt.error_kind.as_deref()), (None, Some("connect")));
    assert_eq!(handler.queue().enqueued().len(), 1);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_error() {
    let sub = subscription("http://no-such-host.invalid/hook");
    let handler = handler_for(&sub, local()).await;
    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());
    assert_eq!(only_attempt(&handler).error_kind.as_deref(), Some("dns"));
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_blocked_before_connecting() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let port = receiver.address().port();
    let strict = DeliverConfig { allow_private_targets: false, ..local() };
    for url in [
        // Through the resolver: without it this would be a TLS failure on the receiver's port.
        format!("https://localhost:{port}/hook"),
        // IP literals never reach a resolver.
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        // Plain http is local mode only.
        format!("http://localhost:{port}/hook"),
    ] {
        let sub = subscription(&url);
        let handler = handler_for(&sub, strict.clone()).await;
        assert!(deliver(&handler, &task(&sub, 0)).await.is_empty(), "{url}");
        let attempt = only_attempt(&handler);
        assert_eq!((attempt.status, attempt.error_kind.as_deref()), (None, Some("blocked")), "{url}");
        // Blocked targets are retried: DNS may change back, and the schedule bounds the cost.
        assert_eq!(handler.queue().enqueued().len(), 1, "{url}");
    }
    assert!(receiver.requests().is_empty());
}

/// A server that answers every request with a redirect to `location`, counting requests.
async fn redirector(location: String) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read the whole request (headers, then content-length bytes) before answering.
            while let Ok(n) = socket.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned))
                        .and_then(|value| value.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 5\r\nconnection: close\r\n\r\nmoved"
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (address, count)
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let (address, redirected) = redirector(receiver.url()).await;
    let sub = subscription(&format!("http://{address}/hook"));
    let handler = handler_for(&sub, local()).await;

    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());

    assert_eq!(redirected.load(Ordering::SeqCst), 1);
    assert!(receiver.requests().is_empty(), "the redirect was followed");
    let attempt = only_attempt(&handler);
    assert_eq!((attempt.status, attempt.response_excerpt.as_deref()), (Some(302), Some("moved")));
    assert!(matches!(attempt.outcome, AttemptOutcome::RetryScheduled { .. }));
}

#[tokio::test]
async fn a_rotated_secret_adds_a_second_signature_until_it_expires() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let mut sub = subscription(&receiver.url());
    let now = OffsetDateTime::now_utc();
    let current = sub.secrets[0].secret.clone();
    let rotated = WebhookSecret::generate();
    let expired = WebhookSecret::generate();
    sub.secrets.push(SecretEntry { secret: rotated.clone(), expires_at: Some(now + time::Duration::hours(23)) });
    sub.secrets.push(SecretEntry { secret: expired.clone(), expires_at: Some(now - time::Duration::minutes(1)) });
    let handler = handler_for(&sub, local()).await;
    let task = task(&sub, 0);

    assert!(deliver(&handler, &task).await.is_empty());

    let request = &receiver.requests()[0];
    let id = task.event.id.as_str();
    let timestamp = request.header("webhook-timestamp").expect("timestamp");
    let header = request.header("webhook-signature").expect("signature");
    let signatures: Vec<&str> = header.split(' ').collect();
    assert_eq!(signatures.len(), 2, "{header}");
    let verify = |secret: &WebhookSecret, signature: &str| {
        signing::verify(secret, id, timestamp, signature, &request.body, now_unix(), DEFAULT_TOLERANCE)
    };
    assert_eq!(verify(&current, signatures[0]), Ok(()));
    assert_eq!(verify(&rotated, signatures[1]), Ok(()));
    assert!(verify(&current, signatures[1]).is_err());
    assert!(verify(&rotated, signatures[0]).is_err());
    assert!(verify(&expired, header).is_err());
}

#[tokio::test]
async fn only_the_first_kibibyte_of_the_answer_is_kept() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(400).with_body("é".repeat(5000))]);
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;

    assert!(deliver(&handler, &task(&sub, 0)).await.is_empty());

    let excerpt = only_attempt(&handler).response_excerpt.expect("excerpt");
    assert_eq!(excerpt, "é".repeat(512));
}

#[tokio::test]
async fn a_dead_letter_queue_outage_hands_the_record_back() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.set_default(Reply::status(500));
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, with_schedule("1s")).await;
    handler.dead_letters().outage.set(true);

    assert_eq!(deliver(&handler, &task(&sub, 1)).await, ["m1"]);
    // The attempt was made and is in the log all the same.
    assert_eq!(only_attempt(&handler).outcome, AttemptOutcome::Exhausted);
}

#[tokio::test]
async fn a_queue_outage_on_retry_hands_the_record_back() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.set_default(Reply::status(502));
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    handler.queue().outage.set(true);
    assert_eq!(deliver(&handler, &task(&sub, 0)).await, ["m1"]);
}

#[tokio::test]
async fn an_attempt_log_outage_hands_the_record_back_without_scheduling_anything() {
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.set_default(Reply::status(500));
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    handler.attempts().record_outage.set(true);

    assert_eq!(deliver(&handler, &task(&sub, 0)).await, ["m1"]);
    assert_eq!(receiver.requests().len(), 1, "the attempt was made");
    // SQS redelivers the original; a retry task as well would double the deliveries.
    assert!(handler.queue().enqueued().is_empty());
}

#[tokio::test]
async fn a_store_outage_hands_the_record_back_without_a_request() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    handler.store().outage.set(true);
    assert_eq!(deliver(&handler, &task(&sub, 0)).await, ["m1"]);
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn deleted_and_disabled_subscriptions_finish_the_task_without_a_request() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let mut switched_off = subscription(&receiver.url());
    switched_off.enabled = false;
    let mut gone = subscription(&receiver.url());
    gone.disabled = Some(DisabledReason { reason: GONE_REASON.into(), at: OffsetDateTime::now_utc() });
    let deleted = subscription(&receiver.url());
    let handler = handler_for(&switched_off, local()).await;
    handler.store().create(&gone).await.expect("create");

    let batch = sqs_event(&[
        ("off", body(&task(&switched_off, 0))),
        ("gone", body(&task(&gone, 0))),
        ("deleted", body(&task(&deleted, 3))),
    ]);
    assert!(failures(&handler.handle(batch).await).is_empty());
    assert!(receiver.requests().is_empty());
    assert!(handler.attempts().all().is_empty());
    assert!(handler.queue().enqueued().is_empty());
}

#[tokio::test]
async fn a_task_not_due_yet_goes_back_on_the_queue_untouched() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    let soon =
        DeliveryTask { not_before: Some(OffsetDateTime::now_utc() + time::Duration::seconds(10)), ..task(&sub, 1) };
    let later =
        DeliveryTask { not_before: Some(OffsetDateTime::now_utc() + time::Duration::hours(3)), ..task(&sub, 4) };

    let batch = sqs_event(&[("soon", body(&soon)), ("later", body(&later))]);
    assert!(failures(&handler.handle(batch).await).is_empty());

    assert!(receiver.requests().is_empty());
    assert!(handler.attempts().all().is_empty());
    let mut requeued = handler.queue().enqueued();
    requeued.sort_by_key(|s| s.delay);
    assert_eq!(requeued.len(), 2);
    assert_eq!(requeued[0].task, soon);
    assert!((Duration::from_secs(9)..=Duration::from_secs(10)).contains(&requeued[0].delay), "{:?}", requeued[0].delay);
    assert_eq!(requeued[1].task, later);
    assert_eq!(requeued[1].delay, Duration::from_secs(900));
}

#[tokio::test]
async fn unreadable_records_are_reported_and_the_rest_are_delivered() {
    let receiver = TestReceiver::start().await.expect("receiver");
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    let good = task(&sub, 0);
    let mut foreign = serde_json::to_value(DeliveryMessage::V1(good.clone())).expect("serialize");
    foreign["kind"] = json!("event.v1");
    let batch = sqs_event(&[("garbage", "\u{0}".to_owned()), ("foreign", foreign.to_string()), ("good", body(&good))]);

    let mut failed = failures(&handler.handle(batch).await);
    failed.sort();

    assert_eq!(failed, ["foreign", "garbage"]);
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(only_attempt(&handler).outcome, AttemptOutcome::Delivered);
}

#[tokio::test]
async fn records_of_a_batch_are_delivered_concurrently() {
    let receiver = TestReceiver::start().await.expect("receiver");
    // Each answer takes 2 s; one at a time, the third request could not arrive within 1.5 s.
    receiver.set_default(Reply::ok().delayed(Duration::from_secs(2)));
    let sub = subscription(&receiver.url());
    let handler = handler_for(&sub, local()).await;
    let batch = sqs_event(&[("a", body(&task(&sub, 0))), ("b", body(&task(&sub, 0))), ("c", body(&task(&sub, 0)))]);

    let (response, arrived) = tokio::join!(handler.handle(batch), receiver.wait_for(3, Duration::from_millis(1500)));

    arrived.expect("all three requests in flight at once");
    assert!(failures(&response).is_empty());
    assert_eq!(handler.attempts().all().len(), 3);
}

#[tokio::test]
async fn handling_a_batch_is_a_send_future() {
    fn assert_send<T: Send>(_: &T) {}
    let sub = subscription("https://hooks.example.com/in");
    let handler = handler_for(&sub, local()).await;
    // The local stack spawns handlers on a multi-threaded runtime.
    let future = handler.handle(sqs_event(&[]));
    assert_send(&future);
    assert!(future.await.batch_item_failures.is_empty());
}

#[tokio::test]
async fn the_fixture_task_is_delivered() {
    let batch: SqsEvent = serde_json::from_str(include_str!("../../../events/deliver/sqs-batch.json"))
        .expect("the fixture is a Lambda SQS event");
    let DeliveryMessage::V1(fixture) =
        serde_json::from_str(batch.records[0].body.as_deref().expect("body")).expect("a delivery message");
    let receiver = TestReceiver::start().await.expect("receiver");
    let sub = Subscription { id: fixture.subscription_id.clone(), ..subscription(&receiver.url()) };
    let handler = handler_for(&sub, local()).await;

    let response = handler.handle(batch).await;

    assert!(failures(&response).is_empty());
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("webhook-id"), Some(fixture.event.id.as_str()));
    let received: ReceivedEnvelope = serde_json::from_slice(&requests[0].body).expect("an envelope");
    assert_eq!(received.data, fixture.event.data);
    assert_eq!(only_attempt(&handler).outcome, AttemptOutcome::Delivered);
}

#[tokio::test]
async fn a_deleted_or_disabled_subscription_ends_the_task_even_when_the_delivered_marker_cannot_be_read() {
    // The subscription and the marker are read together; the marker only matters for a task
    // that is about to be attempted.
    let receiver = TestReceiver::start().await.expect("receiver");
    let gone = subscription(&receiver.url());
    let handler = handler_for(&gone, local()).await;
    handler.store().delete(&gone.tenant, &gone.id).await.expect("delete");
    handler.attempts().outage.set(true);
    assert!(deliver(&handler, &task(&gone, 0)).await.is_empty());

    let mut off = subscription(&receiver.url());
    off.enabled = false;
    let handler = handler_for(&off, local()).await;
    handler.attempts().outage.set(true);
    assert!(deliver(&handler, &task(&off, 0)).await.is_empty());
    assert!(receiver.requests().is_empty());

    // A task that would be attempted is handed back: whether it was delivered is unknown.
    let live = subscription(&receiver.url());
    let handler = handler_for(&live, local()).await;
    handler.attempts().outage.set(true);
    assert_eq!(deliver(&handler, &task(&live, 0)).await, vec!["m1".to_owned()]);
    assert!(receiver.requests().is_empty());
}
