//! A moto server per test, on a free loopback port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use hookline_aws::resources::{QueueSettings, Resources};

/// Where to find `moto_server`: `HOOKLINE_MOTO_SERVER`, else `PATH`.
fn moto_binary() -> PathBuf {
    std::env::var_os("HOOKLINE_MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("moto_server"))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running `moto_server` process, killed when this value is dropped.
#[derive(Debug)]
pub struct MotoServer {
    child: Option<Child>,
    port: u16,
}

impl MotoServer {
    /// Starts moto on a free port and waits until it answers.
    pub fn start() -> anyhow::Result<Self> {
        let mut last_error = None;
        // The port is free when chosen but another process may take it before moto binds it.
        for _ in 0..3 {
            let mut server = Self { child: None, port: free_port()? };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("moto_server did not start")))
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let binary = moto_binary();
        let mut child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "could not run {}: install the test tools with `make tools` (a venv with pinned moto[server]) \
                     or set HOOKLINE_MOTO_SERVER",
                    binary.display()
                )
            })?;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                bail!("moto_server exited early with {status}");
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("moto_server did not answer on {address} within 30 s")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint to give the SDK (`AWS_ENDPOINT_URL`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SDK configuration pointed at this server, with throwaway credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "hookline-testkit"))
            .endpoint_url(self.endpoint())
            .load()
            .await
    }

    /// Kills the server, as an outage would; its state is lost.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty, like any fresh moto).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A moto server with hookline's table and queues created on it.
#[derive(Debug)]
pub struct TestAws {
    pub moto: MotoServer,
    pub config: SdkConfig,
    pub resources: Resources,
}

impl TestAws {
    /// Starts moto and provisions the resources with the template's queue settings.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&QueueSettings::default()).await
    }

    /// Starts moto and provisions the resources with the given queue settings (tests that
    /// watch redrive want a short visibility timeout and a low receive count).
    pub async fn start_with(settings: &QueueSettings) -> anyhow::Result<Self> {
        let moto = MotoServer::start()?;
        let config = moto.sdk_config().await;
        let resources = Resources::provision(&config, "hookline", settings).await?;
        Ok(Self { moto, config, resources })
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }

    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config)
    }

    /// Every message now visible on a queue, received (and so hidden for its visibility
    /// timeout) but not deleted.
    pub async fn receive_all(&self, queue_url: &str) -> anyhow::Result<Vec<aws_sdk_sqs::types::Message>> {
        let mut all = Vec::new();
        loop {
            let output = self
                .sqs()
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await?;
            let batch = output.messages.unwrap_or_default();
            if batch.is_empty() {
                return Ok(all);
            }
            all.extend(batch);
        }
    }
}
