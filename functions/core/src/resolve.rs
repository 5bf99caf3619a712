//! Turning a host name into addresses: the one port both SSRF checks resolve through.
//!
//! A subscription's host is resolved when it is saved (to refuse it early, with a reason) and
//! again when a delivery connects (so a name re-pointed in between, DNS rebinding, is refused
//! then). Both go through a [`Resolver`]: the system resolver in every deployment, a scripted
//! one in tests that need a name to change its answer between the two.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

/// The future a [`ResolveHost`] returns: every address the name has, or why it has none.
pub type Resolution<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Resolves host names. Boxed futures rather than `async fn` so a resolver can be chosen at
/// run time (`Arc<dyn ResolveHost>`); one lookup per delivery makes the allocation immaterial.
pub trait ResolveHost: Send + Sync + fmt::Debug {
    /// Every address `host` resolves to; an error when it does not resolve.
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a>;
}

/// The operating system's resolver (`getaddrinfo`), as every deployment uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl ResolveHost for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a> {
        Box::pin(async move {
            // Port 0: only the addresses matter here.
            let addresses = tokio::net::lookup_host((host, 0)).await?;
            Ok(addresses.map(|address| address.ip()).collect())
        })
    }
}

/// The resolver a function uses: the system's unless one was injected. Cheap to clone.
#[derive(Clone, Default)]
pub struct Resolver(Option<Arc<dyn ResolveHost>>);

impl Resolver {
    /// The operating system's resolver.
    pub fn system() -> Self {
        Self(None)
    }

    /// A resolver of the caller's choosing (tests).
    pub fn custom(resolver: Arc<dyn ResolveHost>) -> Self {
        Self(Some(resolver))
    }

    /// Every address `host` resolves to.
    pub async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        match &self.0 {
            None => SystemResolver.resolve(host).await,
            Some(custom) => custom.resolve(host).await,
        }
    }
}

impl From<Arc<dyn ResolveHost>> for Resolver {
    fn from(resolver: Arc<dyn ResolveHost>) -> Self {
        Self::custom(resolver)
    }
}

impl From<Option<Arc<dyn ResolveHost>>> for Resolver {
    fn from(resolver: Option<Arc<dyn ResolveHost>>) -> Self {
        Self(resolver)
    }
}

/// Two resolvers are equal when both are the system's or both are the same injected one, so
/// configurations holding a resolver can still be compared.
impl PartialEq for Resolver {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b)),
            _ => false,
        }
    }
}

impl Eq for Resolver {}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Resolver(system)"),
            Some(custom) => f.debug_tuple("Resolver").field(custom).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(Vec<IpAddr>);

    impl ResolveHost for Fixed {
        fn resolve<'a>(&'a self, _host: &'a str) -> Resolution<'a> {
            Box::pin(async move { Ok(self.0.clone()) })
        }
    }

    #[tokio::test]
    async fn the_system_resolver_reads_the_hosts_file_and_fails_on_unknown_names() {
        // `localhost` comes from /etc/hosts, `.invalid` never resolves (RFC 6761): no network.
        let addresses = Resolver::system().lookup("localhost").await.expect("localhost");
        assert!(!addresses.is_empty() && addresses.iter().all(IpAddr::is_loopback), "{addresses:?}");
        assert!(Resolver::default().lookup("no-such-host.invalid").await.is_err());
    }

    #[tokio::test]
    async fn an_injected_resolver_answers_instead_and_compares_by_identity() {
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        let injected: Arc<dyn ResolveHost> = Arc::new(Fixed(vec![public]));
        let resolver = Resolver::custom(injected.clone());
        assert_eq!(resolver.lookup("localhost").await.expect("resolves"), vec![public]);
        assert_eq!(resolver, Resolver::from(injected));
        assert_ne!(resolver, Resolver::custom(Arc::new(Fixed(vec![public]))));
        assert_ne!(resolver, Resolver::system());
        assert_eq!(Resolver::system(), Resolver::default());
    }
}
