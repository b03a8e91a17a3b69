//! moto's server (PyPI `moto[server]`, see `.ci/requirements.txt`) standing in for
//! AWS APIs, on 127.0.0.1 and a free port, in its own process group.
//!
//! Point an SDK at it with [`MotoServer::env`] (`AWS_ENDPOINT_URL`, dummy
//! credentials, `us-east-1`). moto keeps state per region and per server: start
//! one per test, or call [`MotoServer::reset`].

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Longest wait for moto to answer HTTP after it is started.
pub const MOTO_START_TIMEOUT: Duration = Duration::from_secs(30);
/// The region [`MotoServer::env`] names.
pub const MOTO_REGION: &str = "us-east-1";
/// Lines of moto's stderr kept for error messages.
const KEPT_LINES: usize = 40;

/// A running moto server. Killed (its whole process group) when dropped.
pub struct MotoServer {
    child: Mutex<Child>,
    port: u16,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl MotoServer {
    /// Starts `moto_server -H 127.0.0.1 -p <free port>` (or `python3 -m moto.server`
    /// when `moto_server` is not on PATH) and waits until it answers HTTP.
    pub async fn start() -> anyhow::Result<MotoServer> {
        let mut last_error = None;
        // A free port can be taken between finding it and moto binding it: try again.
        for _ in 0..3 {
            match Self::start_once().await {
                Ok(server) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("moto did not start")))
    }

    async fn start_once() -> anyhow::Result<MotoServer> {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let args = [
            "-H".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ];
        let spawn = |program: &str, first: &[&str]| {
            Command::new(program)
                .args(first)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                // Its own group, so that dropping it ends it and anything it started.
                .process_group(0)
                .spawn()
        };
        let mut child = match spawn("moto_server", &[]) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => spawn("python3", &["-m", "moto.server"]),
            other => other,
        }
        .context(
            "starting moto's server: install it with `python3 -m pip install -r .ci/requirements.txt`",
        )?;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(pipe) = child.stderr.take() {
            // Drained always: moto logs each request, and a full pipe would stall it.
            let kept = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                    if kept.len() == KEPT_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            });
        }
        let server = MotoServer {
            child: Mutex::new(child),
            port,
            stderr,
        };
        server.wait_until_answering(MOTO_START_TIMEOUT).await?;
        Ok(server)
    }

    async fn wait_until_answering(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child_status() {
                bail!(
                    "moto's server exited ({status}) before answering\n{}",
                    self.stderr_tail()
                );
            }
            if self.get("/moto-api/").await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "moto's server did not answer HTTP on port {} within {timeout:?}\n{}",
                    self.port,
                    self.stderr_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn child_status(&self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).try_wait()
    }

    /// One HTTP/1.1 request to moto; returns the status code and body.
    async fn request(&self, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
        let mut stream = tokio::time::timeout(
            Duration::from_secs(2),
            TcpStream::connect(("127.0.0.1", self.port)),
        )
        .await
        .context("connect timed out")??;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .context("moto did not finish answering")??;
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| {
                anyhow!(
                    "not an HTTP answer: {:?}",
                    answer.chars().take(80).collect::<String>()
                )
            })?;
        let body = answer
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
            .to_owned();
        Ok((status, body))
    }

    async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        self.request("GET", path).await
    }

    /// Forgets every resource of every service (moto's `/moto-api/reset`).
    pub async fn reset(&self) -> anyhow::Result<()> {
        let (status, body) = self.request("POST", "/moto-api/reset").await?;
        if status != 200 {
            bail!("moto reset answered {status}: {body}");
        }
        Ok(())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, the `AWS_ENDPOINT_URL` value.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment that points an AWS SDK (or a CLI built on one) at moto:
    /// `AWS_ENDPOINT_URL`, dummy credentials (`testing`), region `us-east-1`, and no
    /// instance metadata lookups.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_SESSION_TOKEN", "testing".to_owned()),
            ("AWS_REGION", MOTO_REGION.to_owned()),
            ("AWS_DEFAULT_REGION", MOTO_REGION.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Puts `value` in this server's SSM as the SecureString parameter `name`: how the
    /// template keeps the Honeycomb key and the Rollbar token.
    pub async fn put_secure_string(&self, name: &str, value: &str) -> anyhow::Result<()> {
        aws_sdk_ssm::Client::new(&self.sdk_config())
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .map_err(|error| anyhow::anyhow!("putting SSM parameter {name} in moto: {error}"))?;
        Ok(())
    }

    /// An AWS SDK config aimed at this server, built in code (not from the environment):
    /// dummy credentials, `us-east-1`, the rustls/ring HTTPS client our functions use.
    /// Any client takes it: `aws_sdk_ssm::Client::new(&moto.sdk_config())`.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_credential_types::{provider::SharedCredentialsProvider, Credentials};
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(MOTO_REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .http_client(http)
            .build()
    }

    /// The last lines moto wrote on stderr (its request log and errors).
    pub fn stderr_tail(&self) -> String {
        let kept = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let lines: Vec<&str> = kept.iter().map(String::as_str).collect();
        format!(
            "--- moto stderr (last {} lines) ---\n  {}",
            lines.len(),
            lines.join("\n  ")
        )
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        if matches!(child.try_wait(), Ok(None)) {
            if let Ok(group) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill(2) on the process group we created for moto (its unreaped
                // leader's pid is the group id, so it cannot have been recycled).
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
            }
        }
        let _ = child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.stderr_tail());
        }
    }
}
