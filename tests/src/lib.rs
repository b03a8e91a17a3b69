//! Black-box test harness for Cruddur's Lambda functions.
//!
//! Every fake AWS component listens on 127.0.0.1 and a free port, and runs on tokio:
//!
//! - [`runtime_api::RuntimeApi`]: the Lambda Runtime API and Extensions API;
//! - [`otlp_collector::OtlpCollector`]: an OTLP/HTTP trace receiver (Honeycomb stand-in);
//! - [`xray_daemon::XrayDaemon`]: the X-Ray daemon's UDP socket;
//! - [`function::FunctionProcess`]: a real function binary run as a child process;
//! - [`events`]: API Gateway REST (v1) and HTTP API (v2) events;
//! - [`stack::Stack`]: all of the above wired together around one function, with the
//!   helpers every test shares (invoke under a fresh trace header, the log lines of one
//!   request, wait until an invocation's telemetry has settled, check the traces);
//! - [`xray_otlp_endpoint::XrayOtlpEndpoint`]: X-Ray's OTLP endpoint, which takes only
//!   requests whose SigV4 signature it computes again (with `aws-sigv4`) and finds equal;
//! - [`moto::MotoServer`]: moto's server standing in for AWS APIs (for SDK calls), and
//!   [`latency_proxy::LatencyProxy`] to put it some milliseconds away.
//! - [`rollbar_api::RollbarApi`]: Rollbar's item API, validating items against its schema;
//! - [`database`]: the PostgreSQL test database, set up by the real `cruddur-db`.
//! - [`alc`]: Lambda's advanced logging controls (log-level filtering) over captured stdout.
//!
//! Each stand-in is as strict as the service it stands for: the Runtime API freezes,
//! enforces the deadline and the 6 MB response limit, and shuts down as Lambda does; the
//! X-Ray daemon refuses documents X-Ray would refuse; the OTLP check refuses traces
//! Honeycomb would show without their root.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod alc;
pub mod cpu;
pub mod database;
pub mod events;
pub mod function;
mod http_util;
pub mod latency_proxy;
pub mod moto;
pub mod otlp_collector;
mod process;
pub mod rollbar_api;
pub mod runtime_api;
pub mod stack;
mod sync;
pub mod xray_daemon;
pub mod xray_otlp_endpoint;

pub use function::FunctionProcess;
pub use latency_proxy::LatencyProxy;
pub use moto::MotoServer;
pub use otlp_collector::{
    check_trace_roots, AttrValue, Behaviour, OtlpCollector, ReceivedExport, ReceivedSpan,
};
pub use rollbar_api::RollbarApi;
pub use runtime_api::{Invocation, Kill, Outcome, RegisteredExtension, RuntimeApi, RuntimeApiBuilder};
pub use stack::{Stack, Traced};
pub use xray_daemon::{all_subsegments, validate_document, Datagram, XrayDaemon};
pub use xray_otlp_endpoint::XrayOtlpEndpoint;

/// The default wait for anything the harness waits on.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh, valid X-Ray trace header:
/// `Root=1-<8 hex epoch seconds>-<24 random hex>;Parent=<16 random hex>;Sampled=1|0`.
///
/// Returns `(header, root, parent)`, e.g.
/// `("Root=1-6745...;Parent=53995c3f42cd8ad8;Sampled=1", "1-6745...-...", "53995c3f42cd8ad8")`.
pub fn trace_header(sampled: bool) -> (String, String, String) {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random = fastrand::u128(1..) & ((1u128 << 96) - 1);
    let random = if random == 0 { 1 } else { random };
    let root = format!("1-{:08x}-{random:024x}", seconds as u32);
    let parent = format!("{:016x}", fastrand::u64(1..));
    let header = format!("Root={root};Parent={parent};Sampled={}", u8::from(sampled));
    (header, root, parent)
}

/// The OpenTelemetry trace id (32 lowercase hex digits) of an X-Ray root
/// ("1-5759e988-bd862e3fe1be46a994272793" -> "5759e988bd862e3fe1be46a994272793").
/// A leading "Root=" is accepted too.
pub fn otel_trace_id_from_root(root: &str) -> String {
    let root = root.strip_prefix("Root=").unwrap_or(root);
    let root = root.split(';').next().unwrap_or(root);
    root.strip_prefix("1-")
        .unwrap_or(root)
        .replace('-', "")
        .to_ascii_lowercase()
}

/// Polls `probe` (every 5 ms) until it finds something, for up to [`DEFAULT_TIMEOUT`];
/// fails naming `what` was not found.
pub async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        if let Some(found) = probe() {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("no {what} within {DEFAULT_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
