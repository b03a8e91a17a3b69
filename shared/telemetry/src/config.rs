//! Telemetry settings, read from the environment in exactly one place.
//!
//! Precedence everywhere: a value set in code > the most specific variable >
//! the general variable > the default. Nothing else in the crate reads the
//! environment; the per-invocation trace header comes from the Runtime API.

use std::{env, fmt, time::Duration};

use tracing_subscriber::filter::{LevelFilter, Targets};

/// Service name shown in every pillar (`OTEL_SERVICE_NAME`, then `POWERTOOLS_SERVICE_NAME`,
/// then the function name).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Powertools' name for the service name; honoured so users can switch without renaming.
pub const POWERTOOLS_SERVICE_NAME: &str = "POWERTOOLS_SERVICE_NAME";
/// Where the X-Ray daemon listens: `host:port`, or `udp:host:port tcp:host:port`.
pub const AWS_XRAY_DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// The X-Ray daemon's address when none is configured.
pub const AWS_XRAY_DAEMON_ADDRESS_DEFAULT: &str = "127.0.0.1:2000";
/// Full URL for OTLP trace export (used as is).
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// Base URL for OTLP export; `/v1/traces` is appended.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Headers for trace export only, `key=value,key=value`.
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// Headers for every OTLP export, `key=value,key=value`.
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Per-attempt export timeout in milliseconds, trace-specific.
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// Per-attempt export timeout in milliseconds.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// Default per-attempt export timeout.
pub const OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT: Duration = Duration::from_millis(2_000);
/// `gzip` (every request) or `none`; unset, requests from
/// [`OTLP_GZIP_FROM_BYTES_DEFAULT`] up are gzipped.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// Unless told otherwise, export requests this large or larger are gzipped. Below it
/// (one invocation's spans: 1 to 3 KB) gzip would save a few hundred bytes of egress
/// (home route: 1012 bytes a request as they are, 726 gzipped, `docs/capacity.md`; about
/// $0.03 per million requests at $0.09 per GB) for deflate's state, 0.3 MiB held for the
/// process's life, and its time after every response.
pub const OTLP_GZIP_FROM_BYTES_DEFAULT: usize = 8 * 1024;
/// Most spans held for export; beyond it the oldest are dropped and counted.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Default queue size.
pub const OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT: usize = 2_048;
/// Most spans in one export request.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// Default export batch size.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT: usize = 512;
/// Honeycomb API key: sets the `x-honeycomb-team` header and, with no endpoint set,
/// Honeycomb's endpoint. Never logged.
pub const HONEYCOMB_API_KEY: &str = "HONEYCOMB_API_KEY";
/// Name of an SSM Parameter Store SecureString holding the Honeycomb API key, read
/// (decrypted) once at init when `HONEYCOMB_API_KEY` is not set.
pub const HONEYCOMB_API_KEY_PARAMETER: &str = "HONEYCOMB_API_KEY_PARAMETER";
/// Honeycomb's OTLP/HTTP trace endpoint.
pub const HONEYCOMB_TRACES_ENDPOINT: &str = "https://api.honeycomb.io/v1/traces";
/// How long, after the response, an invocation waits for its spans to be delivered
/// before it lets Lambda freeze the process (the rest goes out later, nothing is lost).
pub const CRUDDUR_TELEMETRY_FLUSH_BUDGET_MS: &str = "CRUDDUR_TELEMETRY_FLUSH_BUDGET_MS";
/// Default flush budget.
pub const CRUDDUR_TELEMETRY_FLUSH_BUDGET_DEFAULT: Duration = Duration::from_micros(1_500);
/// How long the SIGTERM handler may spend flushing (Lambda gives 500 ms to a runtime
/// with an internal extension).
pub const CRUDDUR_TELEMETRY_SHUTDOWN_BUDGET_MS: &str = "CRUDDUR_TELEMETRY_SHUTDOWN_BUDGET_MS";
/// Default shutdown budget.
pub const CRUDDUR_TELEMETRY_SHUTDOWN_BUDGET_DEFAULT: Duration = Duration::from_millis(400);
/// `true` exports OTLP spans of requests X-Ray did not sample (Sampled=0); default `false`.
pub const CRUDDUR_OTLP_EXPORT_UNSAMPLED: &str = "CRUDDUR_OTLP_EXPORT_UNSAMPLED";
/// Lambda's log level setting (from the function's logging config).
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// The function's own log level. Under Lambda's advanced logging controls the
/// template sets `ApplicationLogLevel: DEBUG` (so Lambda keeps sampled DEBUG lines)
/// and this to the level the function logs at; it wins over `AWS_LAMBDA_LOG_LEVEL`.
pub const POWERTOOLS_LOG_LEVEL: &str = "POWERTOOLS_LOG_LEVEL";
/// Log filter directives (`info`, `domain=debug,warn`); overrides both levels above.
pub const RUST_LOG: &str = "RUST_LOG";
/// Log level when neither variable is set.
pub const LOG_LEVEL_DEFAULT: &str = "info";
/// Fraction (0.0-1.0) of invocations whose DEBUG lines are logged whatever the level.
pub const POWERTOOLS_LOGGER_SAMPLE_RATE: &str = "POWERTOOLS_LOGGER_SAMPLE_RATE";
/// `true` logs each incoming event (sensitive headers redacted).
pub const POWERTOOLS_LOGGER_LOG_EVENT: &str = "POWERTOOLS_LOGGER_LOG_EVENT";
/// Extra header names to redact from logged events, comma-separated.
pub const CRUDDUR_LOG_REDACT_HEADERS: &str = "CRUDDUR_LOG_REDACT_HEADERS";
/// Headers always redacted from logged events.
pub const REDACTED_HEADERS_DEFAULT: [&str; 5] = [
    "authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-amz-security-token",
];
/// Body fields redacted (at any depth, names compared ignoring case) from logged
/// events, comma-separated; replaces the default list.
pub const CRUDDUR_LOG_REDACT_FIELDS: &str = "CRUDDUR_LOG_REDACT_FIELDS";
/// Body fields redacted from logged events when none are configured.
pub const REDACTED_FIELDS_DEFAULT: [&str; 3] = ["password", "token", "secret"];
/// `true` records no spans at all: no X-Ray documents, no OTLP (Powertools' Tracer switch;
/// log lines keep their ids).
pub const POWERTOOLS_TRACE_DISABLED: &str = "POWERTOOLS_TRACE_DISABLED";
/// `true` puts the response body in the invocation's X-Ray metadata (bounded); default
/// `false`: a response may carry personal data.
pub const POWERTOOLS_TRACER_CAPTURE_RESPONSE: &str = "POWERTOOLS_TRACER_CAPTURE_RESPONSE";
/// `false` keeps errors' messages and stacks out of traces (the fault is still marked);
/// default `true`.
pub const POWERTOOLS_TRACER_CAPTURE_ERROR: &str = "POWERTOOLS_TRACER_CAPTURE_ERROR";
/// Most bytes of a response body captured in X-Ray metadata.
pub const CAPTURED_RESPONSE_MAX_BYTES: usize = 4_096;
/// `true` pretty-prints log lines for a person at a terminal (Powertools' dev mode).
pub const POWERTOOLS_DEV: &str = "POWERTOOLS_DEV";
/// Lines at or below this level (`DEBUG` typically) are held per invocation and written
/// only if it logs an error or faults (Powertools' log buffering); unset: no buffering.
pub const CRUDDUR_LOG_BUFFER_LEVEL: &str = "CRUDDUR_LOG_BUFFER_LEVEL";
/// Most bytes of log lines one invocation holds; past it the oldest are dropped (counted).
pub const CRUDDUR_LOG_BUFFER_MAX_BYTES: &str = "CRUDDUR_LOG_BUFFER_MAX_BYTES";
/// Default buffer bound (Powertools' default).
pub const CRUDDUR_LOG_BUFFER_MAX_BYTES_DEFAULT: usize = 20_480;
/// `false`: an ERROR line does not flush the buffer, only a fault does; default `true`.
pub const CRUDDUR_LOG_BUFFER_FLUSH_ON_ERROR: &str = "CRUDDUR_LOG_BUFFER_FLUSH_ON_ERROR";
/// Rollbar's access token (local use); with it, every fault is also a Rollbar item.
pub const ROLLBAR_ACCESS_TOKEN: &str = "ROLLBAR_ACCESS_TOKEN";
/// Name of an SSM SecureString holding the Rollbar token, read off the init path (the
/// template's way) when `ROLLBAR_ACCESS_TOKEN` is not set.
pub const ROLLBAR_ACCESS_TOKEN_PARAMETER: &str = "ROLLBAR_ACCESS_TOKEN_PARAMETER";
/// The environment Rollbar files items under.
pub const ROLLBAR_ENVIRONMENT: &str = "ROLLBAR_ENVIRONMENT";
/// Default Rollbar environment.
pub const ROLLBAR_ENVIRONMENT_DEFAULT: &str = "production";
/// Rollbar's item API.
pub const ROLLBAR_ENDPOINT: &str = "ROLLBAR_ENDPOINT";
/// Default Rollbar endpoint.
pub const ROLLBAR_ENDPOINT_DEFAULT: &str = "https://api.rollbar.com/api/1/item/";
/// Most Rollbar items one process sends a minute (a burst of faults is not a burst of
/// items); the rest are counted as dropped.
pub const CRUDDUR_ROLLBAR_MAX_ITEMS_PER_MINUTE: &str = "CRUDDUR_ROLLBAR_MAX_ITEMS_PER_MINUTE";
/// Default items a minute.
pub const CRUDDUR_ROLLBAR_MAX_ITEMS_PER_MINUTE_DEFAULT: u32 = 10;
/// Default dimensions of every metric, `name=value,name=value`.
pub const POWERTOOLS_METRICS_DEFAULT_DIMENSIONS: &str = "POWERTOOLS_METRICS_DEFAULT_DIMENSIONS";
/// CloudWatch namespace of the EMF metrics.
pub const POWERTOOLS_METRICS_NAMESPACE: &str = "POWERTOOLS_METRICS_NAMESPACE";
/// `true` writes no EMF metrics at all (Powertools' switch).
pub const POWERTOOLS_METRICS_DISABLED: &str = "POWERTOOLS_METRICS_DISABLED";
/// Default metrics namespace.
pub const METRICS_NAMESPACE_DEFAULT: &str = "Cruddur";

/// How many invocations Lambda may run at once in this process (Lambda Managed Instances).
pub const AWS_LAMBDA_MAX_CONCURRENCY: &str = "AWS_LAMBDA_MAX_CONCURRENCY";
/// How Lambda started this environment: `on-demand`, `provisioned-concurrency`,
/// `snap-start` or `lambda-managed-instances`.
pub const AWS_LAMBDA_INITIALIZATION_TYPE: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";
/// The initialization type of Lambda Managed Instances, which never freeze the process.
pub const MANAGED_INSTANCES: &str = "lambda-managed-instances";

/// X-Ray's OTLP endpoint (`https://xray.<region>.amazonaws.com/v1/traces`). Set, the X-Ray
/// side of every invocation goes there as SigV4-signed OTLP instead of to the daemon.
pub const CRUDDUR_XRAY_OTLP_ENDPOINT: &str = "CRUDDUR_XRAY_OTLP_ENDPOINT";
/// SSM Parameter Store's endpoint for the exports' secrets, as the AWS SDKs read it:
/// `AWS_ENDPOINT_URL_SSM`, else `AWS_ENDPOINT_URL`, else `https://ssm.<region>.amazonaws.com`
/// (both ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`).
pub const AWS_ENDPOINT_URL_SSM: &str = "AWS_ENDPOINT_URL_SSM";
/// Every AWS service's endpoint (a local emulator's, say), unless a service has its own.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// `true`: the endpoint variables above are ignored.
pub const AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";
/// The function's credentials (Lambda sets these three for the execution role). Read
/// here, never logged; without them the AWS SDK's provider chain is asked, at the first
/// export, on the delivery task.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// See [`AWS_ACCESS_KEY_ID`].
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// See [`AWS_ACCESS_KEY_ID`]; sent with every signed request when set.
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The function's log group (Lambda sets it), named in X-Ray's spans (`aws.log.group.names`).
pub const AWS_LAMBDA_LOG_GROUP_NAME: &str = "AWS_LAMBDA_LOG_GROUP_NAME";
/// The execution environment's log stream (Lambda sets it): `faas.instance`.
pub const AWS_LAMBDA_LOG_STREAM_NAME: &str = "AWS_LAMBDA_LOG_STREAM_NAME";

/// Our own transports' and runtime's targets: never traced, logged from WARN only
/// (tracing them would feed telemetry into itself).
pub(crate) const QUIET_TARGETS: &[&str] = &[
    "hyper",
    "hyper_util",
    "rustls",
    "h2",
    "tower",
    "lambda_runtime",
    "lambda_runtime_api_client",
    // The AWS SDK's and the database driver's own spans: our client spans stand for them.
    "aws_smithy",
    "aws_sdk",
    "aws_config",
    "aws_runtime",
    "aws_sigv4",
    "aws_credential_types",
    "tokio_postgres",
];

/// `targets` with each of [`QUIET_TARGETS`] at `level`.
pub(crate) fn with_quiet_targets(targets: Targets, level: impl Into<LevelFilter>) -> Targets {
    let level = level.into();
    targets.with_targets(QUIET_TARGETS.iter().map(|target| (*target, level)))
}

/// Whether `target` is one of [`QUIET_TARGETS`] (or a module under one), as `Targets`
/// matches them: by prefix.
pub(crate) fn is_quiet(target: &str) -> bool {
    QUIET_TARGETS.iter().any(|quiet| target.starts_with(quiet))
}

/// Everything the telemetry crate needs to know about its surroundings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Service name (`service.name`, log field `service`, metric dimension `service`).
    pub service_name: String,
    /// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function_name: String,
    /// The function version (`AWS_LAMBDA_FUNCTION_VERSION`).
    pub function_version: String,
    /// Configured memory in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub function_memory_mb: u32,
    /// AWS region (`AWS_REGION`).
    pub region: String,
    /// The Runtime API's address (`AWS_LAMBDA_RUNTIME_API`, `host:port`), inside Lambda
    /// (see [`Config::in_lambda`]).
    pub runtime_api: Option<String>,
    /// Invocations Lambda may run at once (`AWS_LAMBDA_MAX_CONCURRENCY`, default 1).
    pub max_concurrency: u32,
    /// Lambda Managed Instances (`AWS_LAMBDA_INITIALIZATION_TYPE`): the process is never
    /// frozen, so no invocation waits for delivery after its response.
    pub managed_instances: bool,
    /// The X-Ray daemon's UDP address, `host:port`.
    pub xray_daemon_address: String,
    /// X-Ray's OTLP endpoint; `Some` sends X-Ray's side there, signed, instead of to the daemon.
    pub xray_otlp_endpoint: Option<String>,
    /// The function's credentials from the environment, for signing; `None`: the SDK's chain.
    pub aws_credentials: Option<AwsCredentials>,
    /// SSM Parameter Store's endpoint (see [`AWS_ENDPOINT_URL_SSM`]).
    pub ssm_endpoint: String,
    /// The function's log group (`AWS_LAMBDA_LOG_GROUP_NAME`).
    pub log_group_name: Option<String>,
    /// The execution environment's log stream (`AWS_LAMBDA_LOG_STREAM_NAME`).
    pub log_stream_name: Option<String>,
    /// OTLP trace endpoint; `None` disables OTLP export.
    pub otlp_endpoint: Option<String>,
    /// Headers sent with every export. Values may be secrets: never log them.
    pub otlp_headers: Headers,
    /// SSM parameter to read the Honeycomb API key from at init, if the key is not given.
    pub honeycomb_key_parameter: Option<String>,
    /// Per-attempt export timeout.
    pub otlp_timeout: Duration,
    /// Export requests at least this large (protobuf bytes) are gzipped; `None`: none is.
    pub otlp_gzip_from: Option<usize>,
    /// Most spans held for export.
    pub max_queue_spans: usize,
    /// Most spans in one export request.
    pub max_export_batch: usize,
    /// Whether OTLP spans are exported for requests with Sampled=0.
    pub export_unsampled: bool,
    /// How long an invocation waits, after its response, for delivery (zero under
    /// Managed Instances unless set).
    pub flush_budget: Duration,
    /// How long the shutdown flush may take.
    pub shutdown_budget: Duration,
    /// Log filter directives.
    pub log_filter: String,
    /// EMF namespace.
    pub metrics_namespace: String,
    /// Dimensions added to every route metric (beside `service`).
    pub default_dimensions: Vec<(String, String)>,
    /// Whether EMF metrics are switched off.
    pub metrics_disabled: bool,
    /// Fraction of invocations logged at DEBUG.
    pub debug_sample_rate: f64,
    /// Whether incoming events are logged.
    pub log_event: bool,
    /// Header names (lowercase) redacted from logged events.
    pub redacted_headers: Vec<String>,
    /// Body field names (lowercase) redacted from logged events.
    pub redacted_fields: Vec<String>,
    /// Whether spans are recorded at all.
    pub trace_disabled: bool,
    /// Whether the response body goes to X-Ray metadata.
    pub capture_response: bool,
    /// Whether errors' messages and stacks go into traces.
    pub capture_error: bool,
    /// Whether log lines are pretty-printed for a terminal.
    pub dev: bool,
    /// Log buffering: the level at or below which lines are held, if buffering is on.
    pub log_buffer_level: Option<tracing::Level>,
    /// Log buffering: most bytes held per invocation.
    pub log_buffer_max_bytes: usize,
    /// Log buffering: whether an ERROR line flushes the buffer.
    pub log_buffer_flush_on_error: bool,
    /// Rollbar, when a token (or its SSM parameter) is configured.
    pub rollbar: Option<RollbarConfig>,
}

/// Extra OTLP request headers, (name, value). Their `Debug` shows names only: values are
/// keys (the Honeycomb key among them).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "***")))
            .finish()
    }
}

impl std::ops::Deref for Headers {
    type Target = [(String, String)];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Where faults go as Rollbar items.
#[derive(Clone)]
pub struct RollbarConfig {
    /// The token itself (a secret: never logged), when given directly.
    pub token: Option<String>,
    /// The SSM parameter holding it, read off the init path, when not given directly.
    pub token_parameter: Option<String>,
    /// Rollbar's environment.
    pub environment: String,
    /// The item API's URL.
    pub endpoint: String,
    /// Most items a minute from this process.
    pub max_items_per_minute: u32,
}

impl std::fmt::Debug for RollbarConfig {
    /// Everything but the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollbarConfig")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("token_parameter", &self.token_parameter)
            .field("environment", &self.environment)
            .field("endpoint", &self.endpoint)
            .field("max_items_per_minute", &self.max_items_per_minute)
            .finish()
    }
}

impl Config {
    /// Whether this runs under a Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API` is set).
    pub fn in_lambda(&self) -> bool {
        self.runtime_api.is_some()
    }

    /// Reads every setting from the environment (see the constants for names and defaults).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Builds the config from any variable lookup; `from_env` passes the process environment.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let function_name = var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "cruddur-local".into());
        let honeycomb_key = var(HONEYCOMB_API_KEY);
        let honeycomb_key_parameter = var(HONEYCOMB_API_KEY_PARAMETER).filter(|_| honeycomb_key.is_none());
        let otlp_endpoint = var(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
            .or_else(|| {
                var(OTEL_EXPORTER_OTLP_ENDPOINT)
                    .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
            })
            .or_else(|| {
                (honeycomb_key.is_some() || honeycomb_key_parameter.is_some())
                    .then(|| HONEYCOMB_TRACES_ENDPOINT.to_owned())
            });
        let mut otlp_headers = parse_headers(
            &var(OTEL_EXPORTER_OTLP_TRACES_HEADERS)
                .or_else(|| var(OTEL_EXPORTER_OTLP_HEADERS))
                .unwrap_or_default(),
        );
        if let Some(key) = honeycomb_key {
            otlp_headers.retain(|(name, _)| name != "x-honeycomb-team");
            otlp_headers.push(("x-honeycomb-team".into(), key));
        }
        let millis = |name: &str| var(name).and_then(|v| v.trim().parse::<u64>().ok());
        // `true`/`false` in any case; anything else keeps the default.
        let flag = |name: &str, default: bool| match var(name).map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            _ => default,
        };
        let managed_instances = var(AWS_LAMBDA_INITIALIZATION_TYPE).is_some_and(|t| t == MANAGED_INSTANCES);
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        Self {
            service_name: var(OTEL_SERVICE_NAME)
                .or_else(|| var(POWERTOOLS_SERVICE_NAME))
                .unwrap_or_else(|| function_name.clone()),
            function_version: var("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_else(|| "$LATEST".into()),
            function_memory_mb: var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .and_then(|v| v.parse().ok())
                .unwrap_or(128),
            ssm_endpoint: ssm_endpoint(&var, &region),
            region,
            runtime_api: var("AWS_LAMBDA_RUNTIME_API"),
            max_concurrency: parse_concurrency(var(AWS_LAMBDA_MAX_CONCURRENCY)),
            managed_instances,
            function_name,
            xray_daemon_address: var(AWS_XRAY_DAEMON_ADDRESS)
                .map(|v| udp_daemon_address(&v))
                .unwrap_or_else(|| AWS_XRAY_DAEMON_ADDRESS_DEFAULT.into()),
            xray_otlp_endpoint: var(CRUDDUR_XRAY_OTLP_ENDPOINT),
            aws_credentials: AwsCredentials::from_lookup(&var),
            log_group_name: var(AWS_LAMBDA_LOG_GROUP_NAME),
            log_stream_name: var(AWS_LAMBDA_LOG_STREAM_NAME),
            otlp_endpoint,
            otlp_headers: Headers(otlp_headers),
            honeycomb_key_parameter,
            otlp_timeout: millis(OTEL_EXPORTER_OTLP_TRACES_TIMEOUT)
                .or_else(|| millis(OTEL_EXPORTER_OTLP_TIMEOUT))
                .map(Duration::from_millis)
                .unwrap_or(OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT),
            otlp_gzip_from: match var(OTEL_EXPORTER_OTLP_COMPRESSION) {
                Some(v) if v.eq_ignore_ascii_case("none") => None,
                Some(v) if v.eq_ignore_ascii_case("gzip") => Some(0),
                _ => Some(OTLP_GZIP_FROM_BYTES_DEFAULT),
            },
            max_queue_spans: var(OTEL_BSP_MAX_QUEUE_SIZE)
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT),
            max_export_batch: var(OTEL_BSP_MAX_EXPORT_BATCH_SIZE)
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT),
            export_unsampled: var(CRUDDUR_OTLP_EXPORT_UNSAMPLED)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            flush_budget: var(CRUDDUR_TELEMETRY_FLUSH_BUDGET_MS)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                .unwrap_or(if managed_instances {
                    Duration::ZERO
                } else {
                    CRUDDUR_TELEMETRY_FLUSH_BUDGET_DEFAULT
                }),
            shutdown_budget: millis(CRUDDUR_TELEMETRY_SHUTDOWN_BUDGET_MS)
                .map(Duration::from_millis)
                .unwrap_or(CRUDDUR_TELEMETRY_SHUTDOWN_BUDGET_DEFAULT),
            log_filter: var(RUST_LOG)
                .or_else(|| var(POWERTOOLS_LOG_LEVEL).map(|level| level.to_ascii_lowercase()))
                .or_else(|| var(AWS_LAMBDA_LOG_LEVEL).map(|level| level.to_ascii_lowercase()))
                .unwrap_or_else(|| LOG_LEVEL_DEFAULT.into()),
            metrics_namespace: var(POWERTOOLS_METRICS_NAMESPACE)
                .unwrap_or_else(|| METRICS_NAMESPACE_DEFAULT.into()),
            default_dimensions: parse_pairs(&var(POWERTOOLS_METRICS_DEFAULT_DIMENSIONS).unwrap_or_default()),
            metrics_disabled: var(POWERTOOLS_METRICS_DISABLED)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            debug_sample_rate: var(POWERTOOLS_LOGGER_SAMPLE_RATE)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|rate| (0.0..=1.0).contains(rate))
                .unwrap_or(0.0),
            log_event: var(POWERTOOLS_LOGGER_LOG_EVENT).is_some_and(|v| v.eq_ignore_ascii_case("true")),
            redacted_headers: REDACTED_HEADERS_DEFAULT
                .iter()
                .map(|h| h.to_string())
                .chain(
                    var(CRUDDUR_LOG_REDACT_HEADERS)
                        .unwrap_or_default()
                        .split(',')
                        .map(|h| h.trim().to_ascii_lowercase()),
                )
                .filter(|h| !h.is_empty())
                .collect(),
            trace_disabled: flag(POWERTOOLS_TRACE_DISABLED, false),
            capture_response: flag(POWERTOOLS_TRACER_CAPTURE_RESPONSE, false),
            capture_error: flag(POWERTOOLS_TRACER_CAPTURE_ERROR, true),
            dev: flag(POWERTOOLS_DEV, false),
            log_buffer_level: var(CRUDDUR_LOG_BUFFER_LEVEL).and_then(|level| level.trim().parse().ok()),
            log_buffer_max_bytes: var(CRUDDUR_LOG_BUFFER_MAX_BYTES)
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(CRUDDUR_LOG_BUFFER_MAX_BYTES_DEFAULT),
            log_buffer_flush_on_error: flag(CRUDDUR_LOG_BUFFER_FLUSH_ON_ERROR, true),
            rollbar: rollbar_config(&var),
            redacted_fields: match var(CRUDDUR_LOG_REDACT_FIELDS) {
                Some(fields) => fields
                    .split(',')
                    .map(|f| f.trim().to_ascii_lowercase())
                    .filter(|f| !f.is_empty())
                    .collect(),
                None => REDACTED_FIELDS_DEFAULT.iter().map(|f| f.to_string()).collect(),
            },
        }
    }
}

fn rollbar_config(var: &impl Fn(&str) -> Option<String>) -> Option<RollbarConfig> {
    let token = var(ROLLBAR_ACCESS_TOKEN);
    let token_parameter = var(ROLLBAR_ACCESS_TOKEN_PARAMETER).filter(|_| token.is_none());
    if token.is_none() && token_parameter.is_none() {
        return None;
    }
    Some(RollbarConfig {
        token,
        token_parameter,
        environment: var(ROLLBAR_ENVIRONMENT).unwrap_or_else(|| ROLLBAR_ENVIRONMENT_DEFAULT.into()),
        endpoint: var(ROLLBAR_ENDPOINT).unwrap_or_else(|| ROLLBAR_ENDPOINT_DEFAULT.into()),
        max_items_per_minute: var(CRUDDUR_ROLLBAR_MAX_ITEMS_PER_MINUTE)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(CRUDDUR_ROLLBAR_MAX_ITEMS_PER_MINUTE_DEFAULT),
    })
}

/// SSM's endpoint in `region`, unless the environment names one (see [`AWS_ENDPOINT_URL_SSM`]).
fn ssm_endpoint(var: &impl Fn(&str) -> Option<String>, region: &str) -> String {
    let ignore_configured =
        var(AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let configured = (!ignore_configured)
        .then(|| var(AWS_ENDPOINT_URL_SSM).or_else(|| var(AWS_ENDPOINT_URL)))
        .flatten();
    configured.unwrap_or_else(|| {
        // The China regions' partition has a domain of its own.
        let domain = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://ssm.{region}.{domain}")
    })
}

/// AWS credentials read from the environment. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl AwsCredentials {
    /// Credentials from a key id, its secret and an optional session token.
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token.map(str::to_owned),
        }
    }

    /// Both parts of the key, or none: half a key signs nothing.
    fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        Some(Self {
            access_key_id: var(AWS_ACCESS_KEY_ID)?,
            secret_access_key: var(AWS_SECRET_ACCESS_KEY)?,
            session_token: var(AWS_SESSION_TOKEN),
        })
    }

    /// The key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret key.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The session token of temporary credentials (Lambda's are).
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AwsCredentials(<redacted>)")
    }
}

/// `AWS_LAMBDA_MAX_CONCURRENCY` alone, for choosing the runtime before anything else
/// is read (the same rule as [`Config::max_concurrency`]).
pub fn max_concurrency_from_env() -> u32 {
    parse_concurrency(env::var(AWS_LAMBDA_MAX_CONCURRENCY).ok())
}

fn parse_concurrency(raw: Option<String>) -> u32 {
    raw.and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// `OTEL_EXPORTER_OTLP_HEADERS` format: `k1=v1,k2=v2`, values percent-encoded.
fn parse_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), percent_decode(value.trim())))
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// Header pairs, names lowercased (HTTP header names are case-insensitive).
fn parse_headers(raw: &str) -> Vec<(String, String)> {
    parse_pairs(raw)
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The daemon address may be `host:port` or `udp:host:port tcp:host:port` (as Lambda sets it).
fn udp_daemon_address(raw: &str) -> String {
    raw.split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or_else(|| raw.trim())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn traces_endpoint_wins_over_base_endpoint_and_honeycomb() {
        let c = config(&[
            (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "http://a/x"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://b/"),
            (HONEYCOMB_API_KEY, "k"),
        ]);
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://a/x"));
        assert_eq!(
            config(&[(OTEL_EXPORTER_OTLP_ENDPOINT, "http://b/")])
                .otlp_endpoint
                .as_deref(),
            Some("http://b/v1/traces")
        );
        assert_eq!(
            config(&[(HONEYCOMB_API_KEY, "k")]).otlp_endpoint.as_deref(),
            Some(HONEYCOMB_TRACES_ENDPOINT)
        );
        assert_eq!(config(&[]).otlp_endpoint, None);
    }

    #[test]
    fn debug_output_names_headers_but_never_shows_the_key() {
        let c = config(&[(HONEYCOMB_API_KEY, "hcaik_do_not_print")]);
        let printed = format!("{c:?}");
        assert!(printed.contains("x-honeycomb-team"), "{printed}");
        assert!(!printed.contains("hcaik_do_not_print"), "{printed}");
    }

    #[test]
    fn headers_are_parsed_and_honeycomb_key_added_once() {
        let c = config(&[
            (OTEL_EXPORTER_OTLP_HEADERS, "x-honeycomb-team=old, x-a=b%20c"),
            (HONEYCOMB_API_KEY, "new"),
        ]);
        assert_eq!(
            c.otlp_headers.0,
            vec![
                ("x-a".into(), "b c".into()),
                ("x-honeycomb-team".into(), "new".into())
            ]
        );
    }

    #[test]
    fn daemon_address_takes_the_udp_part() {
        let c = config(&[(
            AWS_XRAY_DAEMON_ADDRESS,
            "tcp:10.0.0.1:2000 udp:169.254.79.129:2000",
        )]);
        assert_eq!(c.xray_daemon_address, "169.254.79.129:2000");
        assert_eq!(config(&[]).xray_daemon_address, AWS_XRAY_DAEMON_ADDRESS_DEFAULT);
    }

    #[test]
    fn managed_instances_run_concurrently_without_waiting_for_delivery() {
        let c = config(&[
            (AWS_LAMBDA_MAX_CONCURRENCY, "8"),
            (AWS_LAMBDA_INITIALIZATION_TYPE, MANAGED_INSTANCES),
        ]);
        assert_eq!((c.max_concurrency, c.managed_instances), (8, true));
        assert_eq!(c.flush_budget, Duration::ZERO);
        let c = config(&[(AWS_LAMBDA_INITIALIZATION_TYPE, "on-demand")]);
        assert_eq!((c.max_concurrency, c.managed_instances), (1, false));
        assert_eq!(c.flush_budget, CRUDDUR_TELEMETRY_FLUSH_BUDGET_DEFAULT);
    }

    #[test]
    fn rust_log_overrides_lambda_log_level() {
        assert_eq!(config(&[(AWS_LAMBDA_LOG_LEVEL, "WARN")]).log_filter, "warn");
        assert_eq!(
            config(&[(AWS_LAMBDA_LOG_LEVEL, "DEBUG"), (POWERTOOLS_LOG_LEVEL, "INFO")]).log_filter,
            "info"
        );
        assert_eq!(
            config(&[(AWS_LAMBDA_LOG_LEVEL, "WARN"), (RUST_LOG, "debug")]).log_filter,
            "debug"
        );
    }

    #[test]
    fn credentials_need_both_key_parts_and_never_print() {
        let c = config(&[
            (
                CRUDDUR_XRAY_OTLP_ENDPOINT,
                "https://xray.eu-west-1.amazonaws.com/v1/traces",
            ),
            (AWS_ACCESS_KEY_ID, "AKIDEXAMPLE"),
            (AWS_SECRET_ACCESS_KEY, "wJalrXUtnFEMI"),
            (AWS_SESSION_TOKEN, "FwoGZXIvYXdzEXAMPLE"),
        ]);
        let credentials = c.aws_credentials.clone().unwrap();
        assert_eq!(credentials.session_token(), Some("FwoGZXIvYXdzEXAMPLE"));
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("wJalrXUtnFEMI") && !printed.contains("FwoGZXIvYXdzEXAMPLE"),
            "{printed}"
        );
        assert_eq!(
            config(&[(AWS_ACCESS_KEY_ID, "AKIDEXAMPLE")]).aws_credentials,
            None
        );
        assert_eq!(config(&[]).xray_otlp_endpoint, None);
    }

    #[test]
    fn ssm_is_reached_where_the_aws_sdks_would_reach_it() {
        let endpoint = |vars: &[(&str, &str)]| config(vars).ssm_endpoint;
        assert_eq!(
            endpoint(&[("AWS_REGION", "eu-west-1")]),
            "https://ssm.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint(&[("AWS_REGION", "cn-north-1")]),
            "https://ssm.cn-north-1.amazonaws.com.cn"
        );
        let local = "http://127.0.0.1:5000";
        assert_eq!(endpoint(&[(AWS_ENDPOINT_URL, local)]), local);
        assert_eq!(
            endpoint(&[
                (AWS_ENDPOINT_URL, "http://other:1"),
                (AWS_ENDPOINT_URL_SSM, local)
            ]),
            local
        );
        assert_eq!(
            endpoint(&[
                (AWS_ENDPOINT_URL, local),
                (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, "true")
            ]),
            "https://ssm.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn bad_numbers_fall_back_to_defaults() {
        let c = config(&[
            (OTEL_BSP_MAX_QUEUE_SIZE, "lots"),
            (CRUDDUR_TELEMETRY_FLUSH_BUDGET_MS, "-3"),
        ]);
        assert_eq!(c.max_queue_spans, OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT);
        assert_eq!(c.flush_budget, CRUDDUR_TELEMETRY_FLUSH_BUDGET_DEFAULT);
    }
}
