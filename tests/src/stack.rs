//! A whole test stack in one call: the Runtime API emulator, an X-Ray daemon, an
//! OTLP collector, and a real function binary wired to all three.

use crate::{Behaviour, FunctionProcess, OtlpCollector, RuntimeApi, XrayDaemon};

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

impl Stack {
    /// Starts the fakes and `binary`, with `AWS_XRAY_DAEMON_ADDRESS` and
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at them, plus `env`.
    pub async fn start(binary: &str, collector: Behaviour, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_path(&crate::function::binary_path(binary)?, binary, collector, env).await
    }

    /// The same for an example of the telemetry crate (`target/debug/examples/<name>`).
    pub async fn start_example(
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
        Self::start_path(&path, name, collector, env).await
    }

    async fn start_path(
        path: &std::path::Path,
        name: &str,
        collector: Behaviour,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let runtime = RuntimeApi::start().await;
        let xray = XrayDaemon::start().await;
        let otlp = OtlpCollector::start(collector).await;
        let (daemon, endpoint) = (xray.address(), otlp.endpoint());
        let mut all = vec![
            ("AWS_XRAY_DAEMON_ADDRESS", daemon.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
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
}
