//! The one HTTP client every delivery goes out on, and the SSRF-checking DNS resolver under it.
//!
//! The client follows no redirects (a receiver could otherwise bounce hookline to an address
//! the policy never saw), uses no proxy, and resolves host names only through
//! [`CheckedResolver`], which asks the configured [`Resolver`] (the system's unless a test
//! injected one) and drops every address the [`TargetPolicy`] refuses. The addresses
//! it returns are the ones the connection is made to, so a name cannot resolve to a public
//! address for a check and a private one for the connection (DNS rebinding). IP-literal URLs
//! never reach a resolver, so [`WebhookClient::post`] checks them itself before sending.

use std::net::SocketAddr;
use std::time::Duration;

use hookline_core::resolve::Resolver;
use hookline_core::retry::AttemptResult;
use hookline_core::ssrf::{BlockedAddress, TargetPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use url::{Host, Url};

use crate::config::DeliverConfig;

/// How much of a response body the attempt log keeps.
pub const EXCERPT_BYTES: usize = 1024;

/// Why a target was refused before any byte was sent to it.
#[derive(Debug, thiserror::Error)]
pub enum BlockedTarget {
    #[error("blocked: the target is not a valid URL ({0})")]
    InvalidUrl(#[from] url::ParseError),
    #[error("blocked: only https targets are allowed, not {0}")]
    Scheme(String),
    #[error("blocked: the target URL has no host")]
    NoHost,
    #[error("blocked: {0}")]
    Address(#[from] BlockedAddress),
    #[error("blocked: {host} resolves only to refused addresses ({first})")]
    Resolved { host: String, first: BlockedAddress },
}

/// A host name that did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum DnsFailure {
    #[error("could not resolve {host}: {source}")]
    Lookup { host: String, source: std::io::Error },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
}

/// Resolves through a [`Resolver`] and keeps only the addresses the policy allows.
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    policy: TargetPolicy,
    resolver: Resolver,
}

impl CheckedResolver {
    pub fn new(policy: TargetPolicy, resolver: Resolver) -> Self {
        Self { policy, resolver }
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, resolver) = (self.policy, self.resolver.clone());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = match resolver.lookup(&host).await {
                // Port 0: reqwest puts the URL's port in.
                Ok(addresses) => addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                Err(source) => return Err(DnsFailure::Lookup { host, source }.into()),
            };
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match policy.check(address.ip()) {
                    Ok(()) => true,
                    Err(blocked) => {
                        refused.get_or_insert(blocked);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
                (true, Some(first)) => Err(BlockedTarget::Resolved { host, first }.into()),
                (true, None) => Err(DnsFailure::NoAddress { host }.into()),
            }
        })
    }
}

/// The Standard Webhooks headers of one attempt.
#[derive(Debug, Clone, Copy)]
pub struct WebhookHeaders<'a> {
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
}

/// What came back from one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub result: AttemptResult,
    /// The raw `Retry-After` header, if the receiver sent one.
    pub retry_after: Option<String>,
    /// The start of the response body, lossily decoded.
    pub excerpt: Option<String>,
    /// What went wrong when there was no answer (no URL in it: URLs may carry credentials).
    pub error: Option<String>,
}

impl Answer {
    fn failed(result: AttemptResult, error: String) -> Self {
        Self { result, retry_after: None, excerpt: None, error: Some(error) }
    }
}

/// The delivery client: one per function instance, shared by every record of every batch.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: TargetPolicy,
    allow_http: bool,
}

impl WebhookClient {
    pub fn new(config: &DeliverConfig) -> Result<Self, reqwest::Error> {
        let policy = TargetPolicy { allow_private: config.allow_private_targets };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .user_agent(concat!("hookline/", env!("CARGO_PKG_VERSION")))
            // A proxy would be resolved instead of the target, bypassing the checked resolver.
            .no_proxy()
            .dns_resolver(CheckedResolver::new(policy, config.resolver.clone()))
            .build()?;
        Ok(Self { http, policy, allow_http: config.allow_private_targets })
    }

    /// POSTs `body` with the webhook headers and reports what came of it. Never fails: every
    /// way a delivery can go wrong is an [`AttemptResult`].
    pub async fn post(&self, url: &str, headers: WebhookHeaders<'_>, body: Vec<u8>) -> Answer {
        let url = match self.check_target(url) {
            Ok(url) => url,
            Err(blocked) => return Answer::failed(AttemptResult::Blocked, blocked.to_string()),
        };
        let sent = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", headers.id)
            .header("webhook-timestamp", headers.timestamp.to_string())
            .header("webhook-signature", headers.signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after =
                    response.headers().get(RETRY_AFTER).and_then(|value| value.to_str().ok()).map(str::to_owned);
                let excerpt = read_excerpt(&mut response).await;
                Answer { result: AttemptResult::Status(status), retry_after, excerpt, error: None }
            }
            Err(error) => {
                let error = error.without_url();
                Answer::failed(result_of(&error), describe(&error))
            }
        }
    }

    /// Refuses what may not be sent to at all: unparsable URLs, schemes other than https
    /// (http too in local mode), and IP literals the policy refuses.
    fn check_target(&self, url: &str) -> Result<Url, BlockedTarget> {
        let url = Url::parse(url)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(BlockedTarget::Scheme(other.to_owned())),
        }
        match url.host() {
            None => return Err(BlockedTarget::NoHost),
            Some(Host::Ipv4(ip)) => self.policy.check(ip.into())?,
            Some(Host::Ipv6(ip)) => self.policy.check(ip.into())?,
            // Checked address by address when it resolves.
            Some(Host::Domain(_)) => {}
        }
        Ok(url)
    }
}

/// Reads at most [`EXCERPT_BYTES`] of the body; the rest is never downloaded.
async fn read_excerpt(response: &mut reqwest::Response) -> Option<String> {
    let mut excerpt = Vec::new();
    // A body that fails half-way still leaves what arrived; the status is what counts.
    while excerpt.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    excerpt.truncate(EXCERPT_BYTES);
    (!excerpt.is_empty()).then(|| String::from_utf8_lossy(&excerpt).into_owned())
}

/// Maps a failed request to what the retry policy knows about. The resolver's own errors are
/// found in the error's source chain, under the connect error hyper wraps them in.
fn result_of(error: &reqwest::Error) -> AttemptResult {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<BlockedTarget>() {
            return AttemptResult::Blocked;
        }
        if current.is::<DnsFailure>() {
            return AttemptResult::DnsError;
        }
        source = current.source();
    }
    if error.is_timeout() {
        AttemptResult::Timeout
    } else {
        // Refused or reset connections, TLS failures, a connection closed before an answer.
        AttemptResult::ConnectError
    }
}

/// The error and its causes on one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// How long SQS should hold a task back: whole seconds rounded up (SQS counts in whole
/// seconds, and rounding down would hand a task back before its time), at most 15 minutes.
pub fn sqs_delay(wait: Duration) -> Duration {
    const SQS_MAX_DELAY: Duration = Duration::from_secs(900);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(seconds).min(SQS_MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(allow_private: bool) -> WebhookClient {
        let config = DeliverConfig { allow_private_targets: allow_private, ..DeliverConfig::default() };
        WebhookClient::new(&config).expect("client")
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses_and_fails_when_none_is_left() {
        let name: Name = "localhost".parse().expect("name");
        let error =
            match CheckedResolver::new(TargetPolicy { allow_private: false }, Resolver::system()).resolve(name).await {
                Ok(addresses) => panic!("localhost resolved to {:?}", addresses.collect::<Vec<_>>()),
                Err(error) => error,
            };
        assert!(error.is::<BlockedTarget>(), "{error}");
        assert!(error.to_string().starts_with("blocked: localhost"), "{error}");

        let name: Name = "localhost".parse().expect("name");
        let allowed = CheckedResolver::new(TargetPolicy { allow_private: true }, Resolver::system())
            .resolve(name)
            .await
            .expect("resolves");
        assert!(allowed.into_iter().all(|address| address.ip().is_loopback()));
    }

    #[tokio::test]
    async fn an_unknown_host_is_a_dns_failure() {
        let name: Name = "no-such-host.invalid".parse().expect("name");
        let error =
            CheckedResolver::new(TargetPolicy::default(), Resolver::system()).resolve(name).await.err().expect("fails");
        assert!(error.is::<DnsFailure>(), "{error}");
    }

    #[derive(Debug)]
    struct Answers(Option<Vec<std::net::IpAddr>>);

    impl hookline_core::resolve::ResolveHost for Answers {
        fn resolve<'a>(&'a self, host: &'a str) -> hookline_core::resolve::Resolution<'a> {
            let answer = self.0.clone().ok_or_else(|| std::io::Error::other(format!("{host} is gone")));
            Box::pin(async move { answer })
        }
    }

    async fn resolve_with(
        answers: Option<&[&str]>,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let answers = answers.map(|list| list.iter().map(|ip| ip.parse().expect("ip")).collect());
        let resolver = Resolver::custom(std::sync::Arc::new(Answers(answers)));
        let name: Name = "hooks.example.com".parse().expect("name");
        CheckedResolver::new(TargetPolicy::default(), resolver).resolve(name).await.map(Iterator::collect)
    }

    #[tokio::test]
    async fn the_injected_resolver_is_asked_and_its_answers_filtered_by_the_policy() {
        let kept = resolve_with(Some(&["10.1.2.3", "93.184.216.34"])).await.expect("one public address");
        assert_eq!(kept, vec![SocketAddr::new("93.184.216.34".parse().expect("ip"), 0)], "only the public one");
        let error = resolve_with(Some(&["127.0.0.1"])).await.expect_err("rebound to loopback");
        assert!(error.is::<BlockedTarget>() && error.to_string().contains("loopback"), "{error}");
        let error = resolve_with(None).await.expect_err("gone");
        assert!(error.is::<DnsFailure>(), "{error}");
        let error = resolve_with(Some(&[])).await.expect_err("no address");
        assert!(error.is::<DnsFailure>(), "{error}");
    }

    #[test]
    fn targets_are_checked_before_sending() {
        let strict = client(false);
        assert!(strict.check_target("https://example.com/hook").is_ok());
        for refused in [
            "http://example.com/hook",
            "ftp://example.com/hook",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::ffff:169.254.169.254]/latest",
            "https://0x7f000001/hook",
            "https://10.1.2.3:8443/hook",
            "not a url",
        ] {
            let error = strict.check_target(refused).expect_err(refused);
            assert!(error.to_string().starts_with("blocked:"), "{refused}: {error}");
        }
        let local = client(true);
        assert!(local.check_target("http://127.0.0.1:8000/hook").is_ok());
        assert!(local.check_target("ftp://example.com/hook").is_err());
    }

    #[test]
    fn sqs_delays_round_up_to_whole_seconds_and_stop_at_fifteen_minutes() {
        assert_eq!(sqs_delay(Duration::ZERO), Duration::ZERO);
        assert_eq!(sqs_delay(Duration::from_millis(1)), Duration::from_secs(1));
        assert_eq!(sqs_delay(Duration::from_millis(4_200)), Duration::from_secs(5));
        assert_eq!(sqs_delay(Duration::from_secs(30)), Duration::from_secs(30));
        assert_eq!(sqs_delay(Duration::from_secs(3_600)), Duration::from_secs(900));
    }
}
