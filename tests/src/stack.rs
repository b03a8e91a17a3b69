//! A whole test stack in one call: the Runtime API emulator, an X-Ray daemon, an
//! OTLP collector, and a real function binary wired to all three; and the helpers every
//! black-box test shares.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use serde_json::Value;

use crate::{
    otel_trace_id_from_root, trace_header, Behaviour, FunctionProcess, Invocation, OtlpCollector, RuntimeApi,
    XrayDaemon, DEFAULT_TIMEOUT,
};

/// How long the output must stay unchanged before [`Stack::settled`] takes it as read
/// whole (the reader threads lag the process by a scheduling slice at most).
const OUTPUT_QUIET: Duration = Duration::from_millis(50);

/// One function under test with everything it talks to.
pub struct Stack {
    /// The Lambda Runtime API emulator.
    pub runtime: RuntimeApi,
    /// The X-Ray daemon stand-in.
    pub xray: XrayDaemon,
    /// The OTLP collector stand-in.
    pub otlp: OtlpCollector,
    /// The function's process.
    pub function: FunctionProcess,
}

/// An invocation made under a fresh X-Ray trace header, with the ids of that header.
#[derive(Debug, Clone)]
pub struct Traced {
    /// What the function answered.
    pub invocation: Invocation,
    /// The whole `Lambda-Runtime-Trace-Id` header handed to the function.
    pub header: String,
    /// Its X-Ray Root (`1-…-…`), the `trace_id` of the X-Ray documents.
    pub root: String,
    /// Its Parent: the id of Lambda's own segment for the invocation (X-Ray's facade).
    pub parent: String,
    /// The OTLP trace id (32 hex digits) of the same trace.
    pub trace_hex: String,
}

impl Traced {
    /// The request id Lambda gave the invocation.
    pub fn request_id(&self) -> &str {
        &self.invocation.request_id
    }

    /// The answer parsed as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        self.invocation.json()
    }

    /// The API Gateway response's `body`, parsed as JSON, once its `statusCode` is `status`.
    pub fn api_body(&self, status: u16) -> anyhow::Result<Value> {
        let response: Value = serde_json::from_slice(&self.invocation.body)
            .with_context(|| format!("not JSON: {}", self.invocation.text()))?;
        anyhow::ensure!(
            response["statusCode"] == status,
            "expected status {status}, got {response}"
        );
        let body = response["body"].as_str().unwrap_or_default();
        serde_json::from_str(body).with_context(|| format!("the body is not JSON: {body}"))
    }
}

/// The flush budget [`Stack`] gives its function unless a test sets its own.
pub const TEST_FLUSH_BUDGET_MS: &str = "2000";

impl Stack {
    /// Starts the fakes and `binary`, with `AWS_XRAY_DAEMON_ADDRESS` and
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at them, plus `env`, under a Runtime API with
    /// Lambda's on-demand behaviour (it freezes the process between invocations).
    pub async fn start(binary: &str, collector: Behaviour, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_with_runtime(RuntimeApi::start().await, binary, collector, env).await
    }

    /// The same under a Runtime API of your making (`RuntimeApi::builder()…start()`).
    pub async fn start_with_runtime(
        runtime: RuntimeApi,
        binary: &str,
        collector: Behaviour,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start_path(
            runtime,
            &crate::function::binary_path(binary)?,
            binary,
            collector,
            env,
        )
        .await
    }

    /// The same for an example of the telemetry crate (`target/debug/examples/<name>`).
    pub async fn start_example(
        name: &str,
        collector: Behaviour,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::start_example_with_runtime(RuntimeApi::start().await, name, collector, env).await
    }

    /// An example under a Runtime API of your making.
    pub async fn start_example_with_runtime(
        runtime: RuntimeApi,
        name: &str,
        collector: Behaviour,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let path = crate::function::bin_dir().join("examples").join(name);
        anyhow::ensure!(
            path.exists(),
            "{} is missing: run `cargo build --examples` first",
            path.display()
        );
        Self::start_path(runtime, &path, name, collector, env).await
    }

    async fn start_path(
        runtime: RuntimeApi,
        path: &Path,
        name: &str,
        collector: Behaviour,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let xray = XrayDaemon::start().await;
        let otlp = OtlpCollector::start(collector).await;
        let (daemon, endpoint) = (xray.address(), otlp.endpoint());
        let mut all = vec![
            ("AWS_XRAY_DAEMON_ADDRESS", daemon.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            // Tests check that nothing is lost, not how fast it leaves (the benchmark does):
            // an invocation may wait for its export this long before the freeze, so a
            // loaded test machine does not push its spans to the next thaw.
            ("CRUDDUR_TELEMETRY_FLUSH_BUDGET_MS", TEST_FLUSH_BUDGET_MS),
        ];
        all.extend_from_slice(env);
        let function = FunctionProcess::spawn_path(path, name, &runtime, &all, &[])?;
        Ok(Self {
            runtime,
            xray,
            otlp,
            function,
        })
    }

    /// Invokes `event` under a fresh sampled trace header.
    pub async fn invoke(&self, event: Value) -> anyhow::Result<Traced> {
        self.invoke_sampled(event, true).await
    }

    /// Invokes `event` under a fresh trace header, `Sampled=1` or `Sampled=0`.
    pub async fn invoke_sampled(&self, event: Value, sampled: bool) -> anyhow::Result<Traced> {
        let (header, root, parent) = trace_header(sampled);
        let invocation = self
            .runtime
            .invoke(event, Some(&header))
            .await
            .with_context(|| format!("{}\n{}", self.function.name(), self.function.output_tail(20)))?;
        let trace_hex = otel_trace_id_from_root(&root);
        Ok(Traced {
            invocation,
            header,
            root,
            parent,
            trace_hex,
        })
    }

    /// The JSON log lines (EMF lines included) of one request.
    pub fn lines_of(&self, request_id: &str) -> Vec<Value> {
        self.function.lines_of(request_id)
    }

    /// Waits until an invocation's telemetry has settled, as far as Lambda lets it: the
    /// invocation is complete (the runtime, and every extension that got it, asked for the
    /// next event: from then on Lambda may freeze the process), its EMF line is out, and
    /// every line written so far has been read.
    pub async fn settled(&self, request_id: &str) -> anyhow::Result<()> {
        self.runtime.completed_at(request_id).await?;
        self.function
            .wait_for_json_log(
                |l| l.get("_aws").is_some() && l["requestId"] == request_id,
                DEFAULT_TIMEOUT,
            )
            .await
            .map_err(|e| anyhow!("the EMF line of {request_id}: {e}"))?;
        self.function
            .wait_output_quiet(OUTPUT_QUIET, Duration::from_secs(1))
            .await;
        Ok(())
    }

    /// The valid X-Ray documents of trace `root`, once at least one arrived (fails at once
    /// on an invalid document).
    pub async fn xray_trace(&self, root: &str) -> anyhow::Result<Vec<Value>> {
        self.xray.wait_for_trace(root, DEFAULT_TIMEOUT).await
    }

    /// The shared checks on everything received so far: every X-Ray document valid, every
    /// OTLP trace with exactly one root and no span whose parent never arrived.
    pub fn check_traces(&self) -> anyhow::Result<()> {
        self.xray.ensure_valid()?;
        self.otlp.ensure_traces_complete(&[])
    }
}
