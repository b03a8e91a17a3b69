//! One story per request: a Lambda function's `tracing` spans and events, told
//! at once in AWS X-Ray, OpenTelemetry (OTLP), JSON logs and EMF metrics, under
//! the trace id Lambda gives the invocation.
//!
//! Route code uses plain `tracing`; this crate installs the layers that turn that
//! one stream into every pillar, and the delivery that gets it out after the
//! response without losing it to a freeze or a shutdown.
//!
//! ```no_run
//! use lambda_http::{Body, Error, Request, Response};
//!
//! async fn handler(_request: Request) -> Result<Response<Body>, Error> {
//!     tracing::info!("hello");
//!     Ok(Response::new(Body::from("hi")))
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Error> {
//!     telemetry::run_http(handler).await
//! }
//! ```
//!
//! # Layout
//!
//! Bottom up; each layer imports only from the layers above it in this list
//! (`tests/the_module_graph_has_no_cycle.rs` holds the crate to it):
//!
//! - [`config`]: every setting, read from the environment in one place.
//! - `model`: the leaf: trace identity ([`ids`]), [`TraceContext`], [`SpanRecord`].
//! - `json`: JSON text written directly (log lines, EMF, X-Ray documents).
//! - Pure encoders: `xray::segment` (X-Ray documents), `otlp::encode` (OTLP protobuf),
//!   `emf` (EMF lines), [`rollbar::item`] (Rollbar items, scrubbed).
//! - Transports, each owning its outcome: `xray::udp` (the daemon), `otlp::http`
//!   (OTLP/HTTP) over `http_client`, SigV4-signed by `sigv4` for X-Ray's OTLP
//!   endpoint, `rollbar::http` (Rollbar's item API) over the same client, `stdout` (the
//!   log stream), `secrets` (SSM Parameter Store, signed too); their timeouts count time
//!   awake (`clock`), not Lambda's freezes.
//! - `delivery`: the task that exports after the response, retries, bounds (an
//!   endpoint's request limits too) and counts, one pipeline per OTLP destination; it
//!   opens the `answer_gate` while an invocation flushes, so the exports' answers are
//!   read then (`http_client` asks the gate before each read), never ahead of a handler.
//! - `recorder`: one invocation's spans and metrics; `capture`: the one `tracing` layer
//!   that records spans into their invocation's recorder, through a narrow `Sink`;
//!   `logs`: JSON log lines with the request's ids.
//! - [`metrics`]: the metrics API and its global handle; `invocation`: the tower layer
//!   around each invocation and the invocations in flight; `http`: the API Gateway face.
//! - [`outgoing`]: traced HTTP calls and trace headers; [`aws`]: traced AWS SDK calls.
//! - `shutdown`: the internal extension that makes Lambda send SIGTERM, registered on its
//!   own thread while the rest of init runs.
#![warn(missing_docs)]
// A build with only some pillars (or none: the benchmark's baseline) leaves parts unused.
#![cfg_attr(
    not(all(
        feature = "xray",
        feature = "otlp",
        feature = "xray-otlp",
        feature = "logs",
        feature = "emf",
        feature = "aws"
    )),
    allow(dead_code)
)]

mod answer_gate;
#[cfg(feature = "aws")]
pub mod aws;
mod capture;
#[cfg(any(feature = "otlp", feature = "aws"))]
mod clock;
pub mod config;
mod delivery;
mod emf;
mod error;
mod http;
#[cfg(feature = "otlp")]
mod http_client;
mod invocation;
mod json;
#[cfg(feature = "logs")]
mod logs;
pub mod metrics;
mod model;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod outgoing;
mod panics;
mod recorder;
#[cfg(feature = "rollbar")]
pub mod rollbar;
#[cfg(all(feature = "otlp", feature = "aws"))]
mod secrets;
mod shutdown;
#[cfg(any(feature = "xray-otlp", all(feature = "otlp", feature = "aws")))]
mod sigv4;
mod stdout;
#[cfg(feature = "xray")]
pub mod xray;

use std::{fmt::Display, future::Future, sync::Arc};

use lambda_http::{Body, Request, Response};

pub use capture::span_ids;
pub use config::Config;
pub use delivery::{DeliveryStats, Dropped};
pub use error::TelemetryError;
pub use http::{internal_error, FaultResponse};
pub use invocation::{InvocationLayer, InvocationService};
pub use metrics::{add_dimension, add_high_resolution_metric, add_metadata, add_metric, single_metric, Unit};
pub use model::{ids, FieldValue, SpanEvent, SpanRecord, TraceContext};

/// Runs `main` on the tokio runtime this environment calls for.
///
/// One thread where Lambda runs one invocation at a time: the least init time and
/// memory. A worker thread per CPU where it runs several at once (Lambda Managed
/// Instances, `AWS_LAMBDA_MAX_CONCURRENCY` above 1), so they run in parallel.
///
/// ```no_run
/// # async fn handler(_: lambda_http::Request) -> Result<lambda_http::Response<lambda_http::Body>, std::convert::Infallible> { unimplemented!() }
/// fn main() -> Result<(), lambda_http::Error> {
///     telemetry::block_on(telemetry::run_http(handler))
/// }
/// ```
pub fn block_on<F: Future>(main: F) -> F::Output {
    tune_malloc();
    let runtime = if config::max_concurrency_from_env() > 1 {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    };
    runtime
        .expect("the operating system refused the threads or timers of a tokio runtime")
        .block_on(main)
}

/// glibc's malloc without fastbins (`M_MXFAST` = 0), for the function's whole process.
///
/// Each request frees many small blocks (header values, span fields, JSON strings). Past
/// tcache's seven a size they wait in fastbins, and the next allocation of 1 KiB or more
/// (an event's body, a response, a log line) first merges every one of them
/// (`malloc_consolidate`, the largest user-space item in a profile of a warm invocation).
/// Without fastbins a freed block is merged as it is freed. Measured with
/// `GLIBC_TUNABLES=glibc.malloc.mxfast=0` on the home route: latency p50 -12 to -20 us with
/// telemetry, -3 us without, peak RSS unchanged. Both builds run it (`block_on` is theirs too).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes the allocator's tuning; glibc applies it under its own lock.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

/// Runs an API Gateway handler as a Lambda function, with telemetry.
///
/// Initialises telemetry from the environment ([`Config::from_env`]), registers
/// for graceful shutdown, and serves invocations until the process ends: one at a
/// time, or as many at once as `AWS_LAMBDA_MAX_CONCURRENCY` allows. A handler that
/// fails or panics is answered with [`internal_error`]. Built without any sink
/// feature, it runs the handler bare (the benchmark's baseline).
pub async fn run_http<H, Fut, E>(handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    run_http_with(handler, internal_error).await
}

/// [`run_http`], answering a failed or panicked handler with `fault_response` (for
/// example to add the headers every answer of the API carries, such as CORS).
pub async fn run_http_with<H, Fut, E>(
    handler: H,
    fault_response: FaultResponse,
) -> Result<(), lambda_http::Error>
where
    H: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let config = Config::from_env();
    let service = http::service(handler, fault_response, config.capture_response);
    #[cfg(any(feature = "xray", feature = "otlp", feature = "logs", feature = "emf"))]
    {
        // A task on this runtime: its request goes out once init awaits it below (one
        // local round trip; a thread to overlap it cost more memory than it saved time).
        let registration = shutdown::register_extension(config.runtime_api.as_deref());
        let telemetry = init(config)?;
        registration.finished().await;
        telemetry.flush_on_signals();
        lambda_http::runtime_concurrent(service)
            .layer(telemetry.layer())
            .run_concurrent()
            .await
    }
    #[cfg(not(any(feature = "xray", feature = "otlp", feature = "logs", feature = "emf")))]
    lambda_http::run_concurrent(service).await
}

/// Installed telemetry: the handle that builds the invocation layer.
pub struct Telemetry {
    invocations: Arc<invocation::Invocations>,
}

/// Installs the telemetry layers as the global `tracing` subscriber.
pub fn init(config: Config) -> Result<Telemetry, TelemetryError> {
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt};

    let invocations = Arc::new(invocation::Invocations::new(config));
    let sink: Arc<dyn capture::Sink> = invocations.clone();
    // One filter for the whole subscriber (what any layer takes: every span and event,
    // but our own transports' only from WARN, for their log lines), each layer choosing
    // within it (`capture` leaves out our transports' spans, `logs` keeps to the log
    // level). Per-layer filters (`with_filter`) keep a filter state per span and consult
    // a thread-local in every span's creation, entry, exit and close, and each look-up
    // goes through them: tracing-subscriber and the capture layer took 14,500
    // instructions an invocation with them, 10,300 without (callgrind, home route).
    let quiet_level = if cfg!(feature = "logs") {
        tracing_subscriber::filter::LevelFilter::WARN
    } else {
        tracing_subscriber::filter::LevelFilter::OFF
    };
    let wanted = config::with_quiet_targets(Targets::new().with_default(tracing::Level::TRACE), quiet_level);
    let subscriber = tracing_subscriber::registry()
        .with(wanted)
        .with(capture::CaptureLayer::new(
            sink.clone(),
            invocations.config.capture_error,
        ));
    #[cfg(feature = "logs")]
    let subscriber = {
        let config = &invocations.config;
        let filter = config.log_filter.parse::<Targets>().unwrap_or_else(|error| {
            eprintln!(
                "[telemetry] log level {:?} not understood ({error}): using info",
                config.log_filter
            );
            Targets::new().with_default(tracing::Level::INFO)
        });
        subscriber.with(logs::JsonLogLayer::new(config, filter, sink.clone()))
    };
    tracing::subscriber::set_global_default(subscriber)?;
    panics::install_hook();
    if !metrics::install(sink) {
        return Err(TelemetryError::AlreadyInitialised);
    }
    Ok(Telemetry { invocations })
}

impl Telemetry {
    /// The tower layer to add to a `lambda_runtime::Runtime`.
    pub fn layer(&self) -> InvocationLayer {
        InvocationLayer::new(self.invocations.clone())
    }

    /// Delivery counters (exported and dropped spans).
    pub fn stats(&self) -> &DeliveryStats {
        &self.invocations.delivery.stats
    }

    /// Flushes everything on SIGTERM (or SIGINT), within the shutdown budget, then exits.
    ///
    /// Lambda sends SIGTERM only to a function that has an extension: [`run_http`]
    /// registers one (`shutdown`); a caller of [`init`] that wants SIGTERM registers its own.
    pub fn flush_on_signals(&self) {
        let invocations = self.invocations.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) =
                (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
            else {
                eprintln!("[telemetry] cannot listen for SIGTERM: spans queued at shutdown may be lost");
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            invocations.shutdown().await;
            std::process::exit(0);
        });
    }
}
