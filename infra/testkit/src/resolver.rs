//! A scripted DNS resolver: names answer what the test says, and can change their answer while
//! the stack runs (DNS rebinding) or stop resolving (a name that disappears).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use hookline_core::resolve::{Resolution, ResolveHost};

/// Resolves only the names it was given; every other name does not resolve. Clones share the
/// same answers, so a test keeps one clone and hands another to the stack.
#[derive(Debug, Clone, Default)]
pub struct ScriptedResolver {
    answers: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
    lookups: Arc<Mutex<Vec<String>>>,
}

impl ScriptedResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on `host` resolves to `addresses` (an empty list: resolves to no address).
    pub fn set(&self, host: &str, addresses: &[IpAddr]) -> &Self {
        self.answers().insert(host.to_ascii_lowercase(), addresses.to_vec());
        self
    }

    /// From now on `host` does not resolve.
    pub fn unset(&self, host: &str) -> &Self {
        self.answers().remove(&host.to_ascii_lowercase());
        self
    }

    /// The names looked up so far, in order.
    pub fn lookups(&self) -> Vec<String> {
        self.lookups.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// This resolver as the stack takes it.
    pub fn shared(&self) -> Arc<dyn ResolveHost> {
        Arc::new(self.clone())
    }

    fn answers(&self) -> MutexGuard<'_, HashMap<String, Vec<IpAddr>>> {
        // A test that panicked while holding the lock has failed already; keep answering.
        self.answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ResolveHost for ScriptedResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolution<'a> {
        let host = host.to_ascii_lowercase();
        self.lookups.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(host.clone());
        let answer = self.answers().get(&host).cloned();
        Box::pin(async move {
            answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} does not resolve (scripted)")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::resolve::Resolver;

    #[tokio::test]
    async fn answers_change_while_shared_and_unknown_names_do_not_resolve() {
        let script = ScriptedResolver::new();
        let resolver = Resolver::custom(script.shared());
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        script.set("Hooks.Example.com", &[public]);
        assert_eq!(resolver.lookup("hooks.example.com").await.expect("set"), vec![public]);
        script.set("hooks.example.com", &[loopback]);
        assert_eq!(resolver.lookup("HOOKS.example.com").await.expect("re-pointed"), vec![loopback]);
        script.unset("hooks.example.com");
        let error = resolver.lookup("hooks.example.com").await.expect_err("unset");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(resolver.lookup("other.example.com").await.is_err(), "never set");
        assert_eq!(script.lookups().len(), 4);
    }
}
