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
//! - [`config`]: every setting, read from the environment in one place.
//! - [`ids`]: trace identity (X-Ray header, OTLP ids, `traceparent`).
//! - `span`: the one capture layer; finished spans become [`SpanRecord`]s.
//! - [`xray`]: segment documents over UDP to the X-Ray daemon.
//! - [`otlp`]: OTLP/HTTP protobuf export.
//! - `logs`: JSON log lines with the request's ids.
//! - [`emf`]: the metrics API and EMF lines.
//! - `delivery`: the thread that exports after the response, retries, bounds and counts.
//! - `invocation`: the tower layer around each invocation; `http`: the API Gateway face.
//! - [`outgoing`]: traced HTTP calls and trace headers; [`aws`]: traced AWS SDK calls, SSM secrets.
#![warn(missing_docs)]
#![cfg_attr(
    not(any(feature = "xray", feature = "otlp", feature = "logs", feature = "emf")),
    allow(dead_code)
)]

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
mod delivery;
pub mod emf;
mod error;
mod http;
mod hub;
pub mod ids;
mod invocation;
#[cfg(feature = "logs")]
mod logs;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod outgoing;
mod panics;
mod span;
#[cfg(feature = "xray")]
pub mod xray;

use std::{fmt::Display, future::Future, sync::Arc};

use lambda_http::{Body, Request, Response};

pub use config::Config;
pub use delivery::{DeliveryStats, Dropped};
pub use emf::{add_dimension, add_high_resolution_metric, add_metric, Unit};
pub use error::TelemetryError;
pub use invocation::{InvocationLayer, InvocationService};
pub use span::{span_ids, FieldValue, SpanEvent, SpanRecord, TraceContext};

/// Runs an API Gateway handler as a Lambda function, with telemetry.
///
/// Initialises telemetry from the environment ([`Config::from_env`]), registers
/// for graceful shutdown, and serves invocations until the process ends. Built
/// without any sink feature, it runs the handler bare (the benchmark's baseline).
pub async fn run_http<H, Fut, E>(handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(Request) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Body>, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let service = http::service(handler);
    #[cfg(any(feature = "xray", feature = "otlp", feature = "logs", feature = "emf"))]
    {
        let telemetry = init(Config::from_env())?;
        telemetry.read_secrets().await;
        telemetry.flush_on_shutdown().await;
        lambda_http::runtime(service).layer(telemetry.layer()).run().await
    }
    #[cfg(not(any(feature = "xray", feature = "otlp", feature = "logs", feature = "emf")))]
    lambda_http::run(service).await
}

/// Our own transports' targets: never traced, logged from WARN only (tracing them
/// would feed telemetry into itself).
const QUIET_TARGETS: &[&str] = &[
    "hyper",
    "hyper_util",
    "rustls",
    "h2",
    "tower",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_extension",
    // The AWS SDK's and the database driver's own spans: our client spans stand for them.
    "aws_smithy",
    "aws_sdk",
    "aws_config",
    "aws_runtime",
    "aws_sigv4",
    "aws_credential_types",
    "tokio_postgres",
];

/// Installed telemetry: the handle that builds the invocation layer.
pub struct Telemetry {
    hub: Arc<hub::Hub>,
}

/// Installs the telemetry layers as the global `tracing` subscriber.
pub fn init(config: Config) -> Result<Telemetry, TelemetryError> {
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt, Layer};

    let hub = Arc::new(hub::Hub::new(config));
    let quiet = QUIET_TARGETS;
    let capture_filter = Targets::new().with_default(tracing::Level::TRACE).with_targets(
        quiet
            .iter()
            .map(|t| (*t, tracing_subscriber::filter::LevelFilter::OFF)),
    );
    let subscriber =
        tracing_subscriber::registry().with(span::CaptureLayer::new(hub.clone()).with_filter(capture_filter));
    #[cfg(feature = "logs")]
    let subscriber = {
        let filter = hub.config.log_filter.parse::<Targets>().unwrap_or_else(|error| {
            eprintln!(
                "[telemetry] log level {:?} not understood ({error}): using info",
                hub.config.log_filter
            );
            Targets::new().with_default(tracing::Level::INFO)
        });
        let filter = filter.with_targets(quiet.iter().map(|t| (*t, tracing::Level::WARN)));
        subscriber
            .with(logs::JsonLogLayer::new(hub.clone()).with_filter(logs::LogFilter::new(filter, hub.clone())))
    };
    tracing::subscriber::set_global_default(subscriber)?;
    panics::install_hook();
    emf::HUB
        .set(hub.clone())
        .map_err(|_| TelemetryError::AlreadyInitialised)?;
    Ok(Telemetry { hub })
}

impl Telemetry {
    /// The tower layer to add to a `lambda_runtime::Runtime`.
    pub fn layer(&self) -> InvocationLayer {
        InvocationLayer::new(self.hub.clone())
    }

    /// Delivery counters (exported and dropped spans).
    pub fn stats(&self) -> &DeliveryStats {
        &self.hub.delivery.stats
    }

    /// Reads the secrets named in the config (the Honeycomb key from SSM), as a traced
    /// call. A failure is said on stderr (without the secret) and exports go on without it.
    pub async fn read_secrets(&self) {
        #[cfg(feature = "aws")]
        if let Some(parameter) = &self.hub.config.honeycomb_key_parameter {
            let ssm = aws::ssm_client(&aws::sdk_config().await);
            match aws::read_parameter(&ssm, parameter).await {
                Ok(key) => self.hub.delivery.set_otlp_header("x-honeycomb-team", key),
                Err(error) => {
                    let error = aws_smithy_types::error::display::DisplayErrorContext(error.as_ref());
                    eprintln!(
                        "[telemetry] cannot read the Honeycomb key from SSM parameter {parameter}: {error}"
                    );
                }
            }
        }
    }

    /// Flushes everything on SIGTERM (or SIGINT), within the shutdown budget, then exits.
    ///
    /// Lambda sends SIGTERM only to a function that has an extension, so this also
    /// registers an internal extension that subscribes to no events (it costs one
    /// request at init and nothing per invocation). Outside Lambda, or where the
    /// Extensions API is missing, registration fails quietly and signals still work.
    pub async fn flush_on_shutdown(&self) {
        if self.hub.config.in_lambda {
            let extension = lambda_extension::Extension::new()
                .with_events(&[])
                .with_extension_name("cruddur-telemetry")
                .register()
                .await;
            match extension {
                Ok(extension) => {
                    tokio::spawn(async move {
                        let _ = extension.run().await;
                    });
                }
                Err(error) => {
                    eprintln!("[telemetry] no extension registered ({error}): SIGTERM may not come")
                }
            }
        }
        let hub = self.hub.clone();
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
            hub.shutdown().await;
            std::process::exit(0);
        });
    }
}
