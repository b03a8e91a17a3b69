//! Runs a real Lambda function binary as a child process pointed at a [`RuntimeApi`].
//!
//! The process is registered with that `RuntimeApi`, which freezes, thaws, terminates and
//! kills it as Lambda would; a test rarely needs to signal it by hand.

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use serde_json::Value;

use crate::process::ChildProcess;
use crate::runtime_api::RuntimeApi;
use crate::sync::Shared;

/// Environment variables kept from the test process; everything else is cleared.
pub const INHERITED_ENV: &[&str] = &["PATH", "HOME"];

/// `AWS_LAMBDA_LOG_STREAM_NAME` given to every function.
pub const LOG_STREAM_NAME: &str = "2026/11/25/[$LATEST]0123456789abcdef";

#[derive(Default)]
struct Output {
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// Which stream a reader thread collects.
#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// A running function binary. It is killed (SIGKILL) when dropped; if the test is
/// panicking at that moment, its stdout and stderr are printed to help debugging.
pub struct FunctionProcess {
    name: String,
    path: PathBuf,
    process: Arc<ChildProcess>,
    spawned_at: Instant,
    output: Arc<Shared<Output>>,
}

/// Where the function binaries are: `$CRUDDUR_BIN_DIR`, else `<workspace>/target/debug`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CRUDDUR_BIN_DIR") {
        return PathBuf::from(dir);
    }
    workspace_root().join("target").join("debug")
}

/// The workspace root (the parent of this package's folder).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The path of a function binary; fails when it has not been built.
pub fn binary_path(binary: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir().join(binary);
    if !path.is_file() {
        bail!(
            "function binary {} does not exist: run `cargo build --bins` first \
             (or set CRUDDUR_BIN_DIR to the folder holding the binaries)",
            path.display()
        );
    }
    Ok(path)
}

impl FunctionProcess {
    /// Spawns `binary` with a clean Lambda environment pointed at `runtime`, and registers
    /// the process with `runtime` (which freezes, thaws, terminates and kills it as Lambda
    /// does); `env` adds variables or overrides the defaults (AWS_LAMBDA_RUNTIME_API,
    /// AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    /// AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME, AWS_REGION, AWS_DEFAULT_REGION,
    /// and [`RuntimeApi::lambda_env`]: AWS_LAMBDA_INITIALIZATION_TYPE, and
    /// AWS_LAMBDA_MAX_CONCURRENCY in Managed Instances mode). Only PATH and HOME are
    /// inherited, so no OTEL_*, HONEYCOMB_*, AWS_XRAY_*, RUST_LOG, AWS_LAMBDA_LOG_LEVEL or
    /// _X_AMZN_TRACE_ID leaks in from the test's environment.
    pub fn spawn(
        binary: &str,
        runtime: &RuntimeApi,
        env: &[(&str, &str)],
    ) -> anyhow::Result<FunctionProcess> {
        Self::spawn_without(binary, runtime, env, &[])
    }

    /// Like [`FunctionProcess::spawn`], but leaves the variables named in `unset` out
    /// entirely (e.g. to test a missing `AWS_LAMBDA_FUNCTION_NAME`).
    pub fn spawn_without(
        binary: &str,
        runtime: &RuntimeApi,
        env: &[(&str, &str)],
        unset: &[&str],
    ) -> anyhow::Result<FunctionProcess> {
        let path = binary_path(binary)?;
        Self::spawn_path(&path, binary, runtime, env, unset)
    }

    /// Spawns the executable at `path` as function `binary` (the name used for
    /// AWS_LAMBDA_FUNCTION_NAME, the log group and the ARN), skipping the binary lookup.
    pub fn spawn_path(
        path: &Path,
        binary: &str,
        runtime: &RuntimeApi,
        env: &[(&str, &str)],
        unset: &[&str],
    ) -> anyhow::Result<FunctionProcess> {
        let path = path.to_path_buf();
        runtime.set_function_name(binary);

        let runtime_api = runtime.addr().to_string();
        let log_group = format!("/aws/lambda/{binary}");
        let lambda_env = runtime.lambda_env();
        let mut defaults: Vec<(&str, &str)> = vec![
            ("AWS_LAMBDA_RUNTIME_API", &runtime_api),
            ("AWS_LAMBDA_FUNCTION_NAME", binary),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", &log_group),
            ("AWS_LAMBDA_LOG_STREAM_NAME", LOG_STREAM_NAME),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ];
        defaults.extend(lambda_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));

        let mut command = Command::new(&path);
        command.env_clear();
        for key in INHERITED_ENV {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        for (key, value) in defaults {
            if !env.iter().any(|(k, _)| *k == key) {
                command.env(key, value);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        for key in unset {
            command.env_remove(key);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {}", path.display()))?;
        let spawned_at = Instant::now();
        let output = Arc::new(Shared::new(Output::default()));
        let echo = std::env::var_os("CRUDDUR_ECHO_CHILD").is_some();
        if let Some(stdout) = child.stdout.take() {
            spawn_reader(
                stdout,
                Stream::Stdout,
                output.clone(),
                echo.then(|| format!("{binary} stdout")),
            );
        }
        if let Some(stderr) = child.stderr.take() {
            spawn_reader(
                stderr,
                Stream::Stderr,
                output.clone(),
                echo.then(|| format!("{binary} stderr")),
            );
        }
        let process = Arc::new(ChildProcess::new(binary, child));
        runtime.attach_process(&process);
        Ok(FunctionProcess {
            name: binary.to_owned(),
            path,
            process,
            spawned_at,
            output,
        })
    }

    /// The binary's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The binary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When the process was spawned.
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Runs every thread of the process on `cpu` only (and the threads it starts later,
    /// which inherit the mask): the benchmark gives the function a core of its own, as
    /// Lambda gives it its vCPU, away from the emulator and the stand-ins.
    pub fn pin_to_cpu(&self, cpu: usize) -> anyhow::Result<()> {
        // Every thread: the runtime may have started its workers already.
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid()))? {
            let Ok(tid) = task?.file_name().to_string_lossy().parse::<libc::pid_t>() else {
                continue;
            };
            match crate::cpu::pin_thread(tid, cpu) {
                // ESRCH: the thread ended meanwhile.
                Err(error) if error.raw_os_error() != Some(libc::ESRCH) => {
                    bail!("pinning thread {tid} to CPU {cpu}: {error}")
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every stdout line so far (without the newline).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.output.read(|o| o.stdout.clone())
    }

    /// Every stderr line so far (without the newline).
    pub fn stderr_lines(&self) -> Vec<String> {
        self.output.read(|o| o.stderr.clone())
    }

    /// The stdout lines that parse as JSON objects.
    pub fn json_logs(&self) -> Vec<Value> {
        self.output
            .read(|o| o.stdout.iter().filter_map(|l| parse_object(l)).collect())
    }

    /// The JSON log lines (EMF lines included) whose `requestId` is `request_id`.
    pub fn lines_of(&self, request_id: &str) -> Vec<Value> {
        self.json_logs()
            .into_iter()
            .filter(|l| l["requestId"] == request_id)
            .collect()
    }

    /// The EMF lines (with `_aws`) of one request.
    pub fn emf_lines_of(&self, request_id: &str) -> Vec<Value> {
        self.lines_of(request_id)
            .into_iter()
            .filter(|l| l.get("_aws").is_some())
            .collect()
    }

    /// Waits for a stdout line matching `predicate` (lines already printed count) and returns it.
    pub async fn wait_for_stdout(
        &self,
        predicate: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        self.wait_for_line(Stream::Stdout, predicate, timeout).await
    }

    /// Waits for a stderr line matching `predicate` and returns it.
    pub async fn wait_for_stderr(
        &self,
        predicate: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        self.wait_for_line(Stream::Stderr, predicate, timeout).await
    }

    /// Waits for a JSON log line (on stdout) matching `predicate` and returns it.
    pub async fn wait_for_json_log(
        &self,
        predicate: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let line = self
            .wait_for_stdout(|line| parse_object(line).is_some_and(|v| predicate(&v)), timeout)
            .await?;
        parse_object(&line).ok_or_else(|| anyhow!("matched line is not JSON: {line}"))
    }

    async fn wait_for_line(
        &self,
        stream: Stream,
        predicate: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let found = self
            .output
            .wait_for(Some(timeout), |o| {
                let lines = match stream {
                    Stream::Stdout => &o.stdout,
                    Stream::Stderr => &o.stderr,
                };
                lines.iter().find(|l| predicate(l)).cloned()
            })
            .await;
        found.ok_or_else(|| {
            let which = match stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            anyhow!(
                "no matching {which} line from {} within {timeout:?}\n{}",
                self.name,
                self.output_tail(20)
            )
        })
    }

    /// Waits until no new output line has been read for `quiet` (or `timeout` passes):
    /// the reader threads have caught up with what the process wrote. Once Lambda froze
    /// the process nothing new comes, so this is when everything it wrote is readable.
    pub async fn wait_output_quiet(&self, quiet: Duration, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let count = || self.output.read(|o| o.stdout.len() + o.stderr.len());
        let mut seen = count();
        let mut since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = count();
            if now != seen {
                (seen, since) = (now, Instant::now());
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }

    /// The last `n` lines of stdout and stderr, for error messages.
    pub fn output_tail(&self, n: usize) -> String {
        self.output.read(|o| {
            let tail = |lines: &[String]| lines[lines.len().saturating_sub(n)..].join("\n  ");
            format!(
                "--- stdout ({} lines) ---\n  {}\n--- stderr ({} lines) ---\n  {}",
                o.stdout.len(),
                tail(&o.stdout),
                o.stderr.len(),
                tail(&o.stderr)
            )
        })
    }

    /// Freezes the process (SIGSTOP). The [`RuntimeApi`] does this itself between
    /// invocations, as Lambda does; this is for tests of the harness.
    pub fn sigstop(&self) -> anyhow::Result<()> {
        self.process.signal(libc::SIGSTOP, "SIGSTOP")
    }

    /// Thaws the process (SIGCONT).
    pub fn sigcont(&self) -> anyhow::Result<()> {
        self.process.signal(libc::SIGCONT, "SIGCONT")
    }

    /// Asks the process to stop (SIGTERM). [`RuntimeApi::shutdown`] does this as Lambda
    /// does (only when an extension is registered); this is for tests outside Lambda's rules.
    pub fn sigterm(&self) -> anyhow::Result<()> {
        self.process.signal(libc::SIGTERM, "SIGTERM")
    }

    /// Kills the process (SIGKILL).
    pub fn sigkill(&self) -> anyhow::Result<()> {
        self.process.signal(libc::SIGKILL, "SIGKILL")
    }

    /// True while the process has not exited (a stopped process is still running).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// True while the process is stopped (frozen by SIGSTOP).
    pub fn is_stopped(&self) -> bool {
        self.process.is_stopped()
    }

    /// The exit status, if it has exited.
    pub fn try_exit_status(&self) -> Option<ExitStatus> {
        self.process.try_wait()
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} still running after {timeout:?}\n{}",
                    self.name,
                    self.output_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Peak resident set size (VmHWM) in KiB, read from /proc while the process is alive.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.proc_status_kib("VmHWM:")
    }

    /// Current resident set size (VmRSS) in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.proc_status_kib("VmRSS:")
    }

    fn proc_status_kib(&self, field: &str) -> Option<u64> {
        if !self.is_running() {
            return None;
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        self.process.kill_and_reap();
        if std::thread::panicking() {
            // Give the reader threads a moment to drain the pipes.
            std::thread::sleep(Duration::from_millis(20));
            eprintln!(
                "=== output of {} (pid {}) ===\n{}",
                self.name,
                self.pid(),
                self.output_tail(200)
            );
        }
    }
}

fn parse_object(line: &str) -> Option<Value> {
    serde_json::from_str::<Value>(line).ok().filter(Value::is_object)
}

fn spawn_reader(
    pipe: impl Read + Send + 'static,
    stream: Stream,
    output: Arc<Shared<Output>>,
    echo: Option<String>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while matches!(buffer.last(), Some(b'\n' | b'\r')) {
                        buffer.pop();
                    }
                    let line = String::from_utf8_lossy(&buffer).into_owned();
                    if let Some(prefix) = &echo {
                        eprintln!("[{prefix}] {line}");
                    }
                    output.update(|o| match stream {
                        Stream::Stdout => o.stdout.push(line),
                        Stream::Stderr => o.stderr.push(line),
                    });
                }
            }
        }
    });
}
