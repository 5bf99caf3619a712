//! The AWS emulator as a child process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A `moto_server` this stack started; killed when stopped or dropped.
#[derive(Debug)]
pub struct MotoProcess {
    child: Child,
    port: u16,
}

fn binary() -> PathBuf {
    std::env::var_os("HOOKLINE_MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("moto_server"))
}

impl MotoProcess {
    /// Starts `moto_server` on 127.0.0.1:`port` (0 picks a free port) and waits until it answers.
    pub async fn start(port: u16) -> anyhow::Result<Self> {
        let port = if port == 0 { std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port() } else { port };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            bail!(
                "port {port} is already in use; stop what listens there, pass --aws-port, or point \
                 AWS_ENDPOINT_URL at a moto server that is already running"
            );
        }
        let binary = binary();
        let mut child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "could not run `{}`: install the AWS emulator with `make tools` (or `pip install \
                     'moto[server]==5.2.1'`), or set AWS_ENDPOINT_URL to a running one",
                    binary.display()
                )
            })?;
        for _ in 0..300 {
            if let Some(status) = child.try_wait()? {
                bail!("moto_server exited at start with {status}");
            }
            if tokio::net::TcpStream::connect(address).await.is_ok() {
                return Ok(Self { child, port });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("moto_server did not answer on {address} within 30 s")
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}
