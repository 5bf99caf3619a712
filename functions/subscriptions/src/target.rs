//! Checking a subscription's target URL when it is saved.
//!
//! The URL must be absolute, `https` (plain `http` only in local mode), without credentials,
//! and every address its host resolves to must pass the SSRF policy. The delivery client checks
//! the addresses again at connection time, so a name that is re-pointed later (DNS rebinding)
//! is still refused then; this check tells the tenant early, with a reason.
//!
//! Numeric hosts are read the WHATWG way by the `url` crate, as browsers and libc read them:
//! `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` all become the IPv4 address 127.0.0.1 and
//! are judged as such, so no spelling of an address slips past as a "name".
//!
//! A name that does not resolve is refused when private targets are disallowed: its addresses
//! cannot be shown to be public. When they are allowed (local mode) every address would pass
//! anyway, so the name is accepted unresolved (a receiver that is not up yet, a name a test
//! points later); deliveries to it fail as DNS errors and are retried.

use std::net::IpAddr;
use std::time::Duration;

use hookline_core::resolve::Resolver;
use hookline_core::ssrf::TargetPolicy;
use hookline_http::ApiError;
use url::{Host, Url};

const FIELD: &str = "url";
pub const MAX_URL_CHARS: usize = 2048;
/// A name that has not resolved by then is treated as one that does not resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where targets may point, per this deployment's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRules {
    policy: TargetPolicy,
    allow_http: bool,
    resolver: Resolver,
}

impl TargetRules {
    /// `allow_private_targets` (local mode) admits `http` and private, loopback and link-local
    /// addresses. Names are resolved by the system resolver.
    pub fn new(allow_private_targets: bool) -> Self {
        Self {
            policy: TargetPolicy { allow_private: allow_private_targets },
            allow_http: allow_private_targets,
            resolver: Resolver::system(),
        }
    }

    /// The same rules, resolving names through `resolver`.
    pub fn with_resolver(self, resolver: Resolver) -> Self {
        Self { resolver, ..self }
    }

    /// Parses and checks the URL, resolving its host if it is a name.
    pub async fn check(&self, text: &str) -> Result<Url, ApiError> {
        let url = self.parse(text)?;
        if let Some(Host::Domain(name)) = url.host() {
            self.resolve(name).await?;
        }
        Ok(url)
    }

    /// Every check that needs no network: syntax, scheme, credentials, and IP-literal hosts.
    pub fn parse(&self, text: &str) -> Result<Url, ApiError> {
        let chars = text.chars().count();
        if chars > MAX_URL_CHARS {
            return Err(invalid(format!("`url` is at most {MAX_URL_CHARS} characters long; this one has {chars}")));
        }
        let url = Url::parse(text).map_err(|error| invalid(format!("`url` is not a valid absolute URL: {error}")))?;
        let scheme = url.scheme();
        if scheme != "https" && !(self.allow_http && scheme == "http") {
            let allowed = if self.allow_http { "https or http" } else { "https" };
            return Err(invalid(format!("`url` must use {allowed}, not `{scheme}`")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "`url` must not carry credentials (`user:password@`); use a secret path or query instead",
            ));
        }
        match url.host() {
            None | Some(Host::Domain("")) => return Err(invalid("`url` must name a host")),
            Some(Host::Ipv4(ip)) => self.allowed(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.allowed(IpAddr::V6(ip))?,
            Some(Host::Domain(_)) => {}
        }
        Ok(url)
    }

    fn allowed(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.policy.check(ip).map_err(|blocked| invalid(format!("`url` is refused: {blocked}")))
    }

    async fn resolve(&self, name: &str) -> Result<(), ApiError> {
        let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, self.resolver.lookup(name)).await;
        let unresolved = match lookup {
            Ok(Ok(addresses)) if !addresses.is_empty() => return self.judge(name, addresses),
            Ok(Ok(_)) => format!("the host `{name}` of `url` resolves to no address"),
            Ok(Err(error)) => format!("the host `{name}` of `url` does not resolve: {error}"),
            Err(_) => format!("the host `{name}` of `url` did not resolve in time"),
        };
        if self.policy.allow_private {
            // Nothing to judge: every address would be allowed. See the module docs.
            tracing::info!(host = name, "target host does not resolve (yet); accepted in local mode");
            return Ok(());
        }
        Err(invalid(unresolved))
    }

    fn judge(&self, name: &str, addresses: Vec<IpAddr>) -> Result<(), ApiError> {
        for ip in addresses {
            self.policy.check(ip).map_err(|blocked| {
                invalid(format!("the host `{name}` of `url` resolves to {ip}, which is refused: {blocked}"))
            })?;
        }
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_field(FIELD, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(rules: &TargetRules, text: &str) -> String {
        let error = rules.parse(text).expect_err(text);
        assert_eq!((error.status.as_u16(), error.field.as_deref()), (422, Some("url")), "{text}");
        error.message
    }

    #[test]
    fn only_absolute_https_urls_without_credentials_pass() {
        let rules = TargetRules::new(false);
        assert!(rules.parse("https://hooks.example.com/in?x=1").is_ok());
        assert!(rules.parse("https://93.184.216.34:8443/in").is_ok());
        assert!(refused(&rules, "http://hooks.example.com/in").contains("https"));
        assert!(refused(&rules, "ftp://hooks.example.com/in").contains("`ftp`"));
        assert!(refused(&rules, "hooks.example.com/in").contains("absolute URL"));
        assert!(refused(&rules, "https://user:pw@hooks.example.com/").contains("credentials"));
        assert!(refused(&rules, "https://user@hooks.example.com/").contains("credentials"));
        assert!(refused(&rules, "mailto:ops@example.com").contains("`mailto`"));
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(refused(&rules, &long).contains("2048"));
    }

    #[test]
    fn private_ip_literals_are_refused_with_their_range() {
        let rules = TargetRules::new(false);
        for (text, range) in [
            ("https://127.0.0.1/x", "loopback"),
            ("https://10.0.0.1/x", "private"),
            ("https://[::1]/x", "loopback"),
            ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
            ("https://[::ffff:127.0.0.1]/x", "loopback"),
            ("https://0x7f000001/x", "loopback"),
        ] {
            assert!(refused(&rules, text).contains(range), "{text}");
        }
    }

    #[test]
    fn every_numeric_spelling_of_an_address_is_read_as_that_address() {
        // The `url` crate parses IPv4 hosts as WHATWG (and inet_aton) do: decimal, octal and hex
        // parts, and fewer than four parts. Each of these is 127.0.0.1, 10.0.0.1 or 169.254.169.254.
        let rules = TargetRules::new(false);
        for (text, range) in [
            ("https://2130706433/x", "loopback"),
            ("https://0177.0.0.1/x", "loopback"),
            ("https://0x7f.1/x", "loopback"),
            ("https://127.1/x", "loopback"),
            ("https://0x7f.0.0.1/x", "loopback"),
            ("https://017700000001/x", "loopback"),
            ("https://0xA000001/x", "private"),
            ("https://012.0.0.1/x", "private"),
            ("https://0xa9.0xfe.0xa9.0xfe/x", "cloud metadata"),
            ("https://2852039166/x", "cloud metadata"),
            ("https://0/x", "unspecified"),
            ("https://[0:0:0:0:0:ffff:7f00:1]/x", "loopback"),
        ] {
            assert!(refused(&rules, text).contains(range), "{text}");
        }
    }

    #[test]
    fn local_mode_admits_http_and_loopback() {
        let rules = TargetRules::new(true);
        assert!(rules.parse("http://127.0.0.1:9/x").is_ok());
        assert!(rules.parse("https://[::1]/x").is_ok());
        assert!(refused(&rules, "ftp://127.0.0.1/x").contains("https or http"));
    }

    #[tokio::test]
    async fn names_are_resolved_and_every_address_checked() {
        // `localhost` resolves from /etc/hosts, with no network.
        let error = TargetRules::new(false).check("https://localhost:8443/x").await.expect_err("loopback");
        assert_eq!(error.field.as_deref(), Some("url"));
        assert!(error.message.contains("localhost") && error.message.contains("loopback"), "{}", error.message);
        assert!(TargetRules::new(true).check("http://localhost:9/x").await.is_ok());
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_refused_unless_private_targets_are_allowed() {
        // `.invalid` never resolves (RFC 6761).
        let error = TargetRules::new(false).check("https://no-such-host.invalid/x").await.expect_err("unresolvable");
        assert_eq!(error.field.as_deref(), Some("url"));
        assert!(error.message.contains("no-such-host.invalid"), "{}", error.message);
        assert!(TargetRules::new(true).check("https://no-such-host.invalid/x").await.is_ok(), "local mode");
    }

    #[derive(Debug)]
    struct Answers(Vec<IpAddr>);

    impl hookline_core::resolve::ResolveHost for Answers {
        fn resolve<'a>(&'a self, _host: &'a str) -> hookline_core::resolve::Resolution<'a> {
            Box::pin(async move { Ok(self.0.clone()) })
        }
    }

    fn answering(addresses: &[&str]) -> Resolver {
        let addresses = addresses.iter().map(|a| a.parse().expect("ip")).collect();
        Resolver::custom(std::sync::Arc::new(Answers(addresses)))
    }

    #[tokio::test]
    async fn names_go_through_the_injected_resolver_and_one_private_address_is_enough_to_refuse() {
        let strict = TargetRules::new(false);
        let public = strict.clone().with_resolver(answering(&["93.184.216.34"]));
        assert!(public.check("https://hooks.example.com/x").await.is_ok());
        let mixed = strict.clone().with_resolver(answering(&["93.184.216.34", "10.1.2.3"]));
        let error = mixed.check("https://hooks.example.com/x").await.expect_err("one private address");
        assert!(error.message.contains("10.1.2.3") && error.message.contains("private"), "{}", error.message);
        let none = strict.with_resolver(answering(&[]));
        let error = none.check("https://hooks.example.com/x").await.expect_err("no address");
        assert!(error.message.contains("no address"), "{}", error.message);
    }
}
