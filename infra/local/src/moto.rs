//! The AWS emulator as a child process.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

/// The port the README's commands assume (`AWS_ENDPOINT_URL=http://127.0.0.1:4566`); LocalStack
/// uses it too.
pub const DEFAULT_AWS_PORT: u16 = 4566;

/// How many of moto's last log lines are kept to explain a failed start.
const TAIL_LINES: usize = 20;

/// A `moto_server` this stack started; killed when stopped or dropped.
#[derive(Debug)]
pub struct MotoProcess {
    child: Child,
    port: u16,
}

/// `HOOKLINE_MOTO_SERVER`, else `moto_server` from `PATH`.
fn binary() -> PathBuf {
    std::env::var_os("HOOKLINE_MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("moto_server"))
}

fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Which port to start moto on: `None` means [`DEFAULT_AWS_PORT`] unless it is taken, then any
/// free port; `Some(0)` any free port; `Some(port)` exactly that port.
fn choose_port(requested: Option<u16>) -> anyhow::Result<u16> {
    match requested {
        None if is_free(DEFAULT_AWS_PORT) => Ok(DEFAULT_AWS_PORT),
        None => {
            let port = free_port()?;
            tracing::warn!(
                "port {DEFAULT_AWS_PORT} is taken; moto listens on {port} instead: use \
                 AWS_ENDPOINT_URL=http://127.0.0.1:{port} for `hookline keys create`"
            );
            Ok(port)
        }
        Some(0) => free_port(),
        Some(port) if is_free(port) => Ok(port),
        Some(port) => bail!(
            "port {port} is already in use; stop what listens there, choose another --aws-port, or point \
             AWS_ENDPOINT_URL at a moto server that is already running"
        ),
    }
}

/// Keeps moto's last log lines (it logs every request to stderr; an undrained pipe would stall it).
fn drain(stderr: ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::trace!(target: "moto", "{line}");
            let mut tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
}

impl MotoProcess {
    /// Starts `moto_server` on 127.0.0.1 (see [`choose_port`]) and waits until it answers.
    pub async fn start(requested_port: Option<u16>) -> anyhow::Result<Self> {
        Self::start_binary(binary(), requested_port).await
    }

    async fn start_binary(binary: PathBuf, requested_port: Option<u16>) -> anyhow::Result<Self> {
        let port = choose_port(requested_port)?;
        let mut child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C in the terminal reaches only hookline, which then
            // finishes its in-flight batches (they need moto to delete their messages) and only
            // then stops moto.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "could not run `{}`, the AWS emulator: install it with `make tools` (or `pip install \
                     'moto[server]==5.2.1'`), set HOOKLINE_MOTO_SERVER to its path, or set AWS_ENDPOINT_URL to \
                     a moto server that is already running",
                    binary.display()
                )
            })?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, tail.clone());
        }
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..300 {
            if let Some(status) = child.try_wait()? {
                // Let the drain task read the last words.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let said: Vec<&str> = tail.iter().map(String::as_str).collect();
                bail!("`{}` exited at start with {status}:\n{}", binary.display(), said.join("\n"));
            }
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                return Ok(Self { child, port });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("`{}` did not answer on {address} within 30 s", binary.display())
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_refused_when_asked_for_exactly() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let error = choose_port(Some(port)).expect_err("taken");
        assert!(error.to_string().contains("--aws-port"), "{error}");
        assert_ne!(choose_port(Some(0)).expect("any free port"), 0);
    }

    #[tokio::test]
    async fn a_missing_emulator_says_how_to_install_it() {
        let error = MotoProcess::start_binary("/nonexistent/moto_server".into(), Some(0)).await.expect_err("missing");
        let message = format!("{error:#}");
        assert!(message.contains("make tools") && message.contains("moto[server]==5.2.1"), "{message}");
    }
}
