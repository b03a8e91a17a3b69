//! What a million requests cost in each pillar: runs each route's real binary under the
//! Runtime API emulator with the X-Ray daemon and OTLP collector stand-ins, invokes it with
//! its events from `events/` (as `events/expected.json` lists them), measures what every
//! invocation sends (log and EMF bytes on stdout, X-Ray documents, segments and bytes, OTLP
//! spans and their bytes on the wire (gzip from 8 KiB), distinct EMF metrics), and prices it with the public
//! list prices below (`prices`).
//!
//! Usage: `scripts/telemetry-cost [options] [NAME=value ...]` (see `--help`). `NAME=value`
//! arguments go to the functions' environment, as with `scripts/bench`; `--note` prints the
//! tables of `docs/capacity.md`.
//!
//! Byte counts come from whatever binaries are in the bin folder (debug ones are fine: the
//! telemetry is the same). Durations never do: the billed time comes from a release build in
//! `target/bench` when there is one (`scripts/bench` makes it), measured here, else from the
//! README's benchmark figure, and the report says which.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use cruddur_tests::function::{bin_dir, workspace_root};
use cruddur_tests::otlp_collector::hex;
use cruddur_tests::{
    all_subsegments, trace_header, Behaviour, FunctionProcess, OtlpCollector, RuntimeApi, XrayDaemon,
};
use prost::Message as _;
use serde::Serialize;
use serde_json::Value;

/// Public list prices (US East, N. Virginia), each with where and when it was read. There is
/// no web access where this was written: pages were read from stored copies (a search index
/// of public pages) on the date given, and when only a third-party copy quoted a figure, the
/// comment says so. Free tiers are left out of every figure (they are per account, not per
/// request); the note lists them.
pub mod prices {
    /// Lambda duration, arm64 (the template's `Architectures: [arm64]`), first 7.5 billion
    /// GB-seconds a month. Read 2026-11-29: https://aws.amazon.com/lambda/pricing/ (stored
    /// copy of the web.archive.org snapshot of 2026-06-18; its price table is not in the
    /// stored text), figure as quoted from that table by cloudchipr.com/blog/aws-lambda-pricing
    /// and by a Lambda cost note (git.mcrn.ar, lambda-13-cost.md): $0.0000133334 per GB-s.
    pub const LAMBDA_ARM64_USD_PER_GB_SECOND: f64 = 0.000_013_333_4;
    /// Lambda requests, both architectures: $0.20 per million. Same pages, same date.
    pub const LAMBDA_USD_PER_MILLION_REQUESTS: f64 = 0.20;
    /// Lambda bills duration in 1 ms steps, rounded up (same pages).
    pub const LAMBDA_BILLING_STEP_MS: f64 = 1.0;
    /// CloudWatch Logs ingestion of Lambda logs (vended logs since 2025-05-01, tiered: this is
    /// the first tier, up to 10 TB a month, the same as the standard class's flat price):
    /// $0.50 per GB. Read 2026-11-29: https://aws.amazon.com/cloudwatch/pricing/ (stored copy;
    /// the paid-tier tables are collapsed in it), figure from duckbillgroup.com (?p=9080, on the
    /// 2025-05-01 change) and hykell.com's CloudWatch Logs pricing guide.
    pub const CLOUDWATCH_LOGS_INGESTION_USD_PER_GB: f64 = 0.50;
    /// CloudWatch Logs storage (archival): $0.03 per GB-month. Read 2026-11-29, same pages
    /// (hykell.com, c3x.dev aws_cloudwatch_log_group). AWS stores logs compressed; this tool
    /// prices the uncompressed bytes, an upper bound.
    pub const CLOUDWATCH_LOGS_STORAGE_USD_PER_GB_MONTH: f64 = 0.03;
    /// CloudWatch custom metrics (an EMF metric is one per name and dimension values): $0.30 per
    /// metric-month for the first 10,000. Read 2026-11-29: https://aws.amazon.com/cloudwatch/pricing/
    /// (stored copy, tables collapsed), figure from the CloudWatch custom metrics calculator at
    /// cal53.calculator.city and vantage.sh's CloudWatch metrics pricing explainer.
    pub const CLOUDWATCH_USD_PER_CUSTOM_METRIC_MONTH: f64 = 0.30;
    /// X-Ray traces recorded: $5.00 per million (one per traced request, whatever its number of
    /// segments: "a trace represents a request to your application and may include multiple
    /// data points"). Read 2026-11-29: https://aws.amazon.com/xray/pricing/ (stored copies of the
    /// German and Chinese editions, which give "5 USD pro Million (0,000005 USD pro
    /// Ablaufverfolgung)"), and awsnegotiations.com's X-Ray pricing page.
    pub const XRAY_USD_PER_MILLION_TRACES_RECORDED: f64 = 5.00;
    /// X-Ray traces retrieved or scanned (console, `trace-console query`): $0.50 per million,
    /// first million a month free. Same pages. Not per request: the note discusses it.
    pub const XRAY_USD_PER_MILLION_TRACES_RETRIEVED_OR_SCANNED: f64 = 0.50;
    /// Honeycomb counts every span as one event (docs.honeycomb.io, "Usage Center" / "How
    /// Honeycomb calculates usage", read 2026-11-29). Its Free plan: 20 million events a month.
    /// NOT read from Honeycomb: its pricing page is not among the stored pages; the figure is
    /// from a third-party summary of it (api-evangelist/honeycomb plans/honeycomb-plans-pricing.yml,
    /// generated 2026-05-04, which says itself it was not harvested from the provider).
    pub const HONEYCOMB_FREE_EVENTS_PER_MONTH: f64 = 20e6;
    /// Honeycomb Pro: "starting at $130/month; up to 1.5B events/month". Same third-party
    /// summary, NOT verified against honeycomb.io/pricing. How many events the entry price buys
    /// is not stated there, so the tool charges the entry price as a monthly floor.
    pub const HONEYCOMB_PRO_FROM_USD_PER_MONTH: f64 = 130.0;
    /// The most events a month a Pro plan takes (same summary); above, Enterprise (no public price).
    pub const HONEYCOMB_PRO_MAX_EVENTS_PER_MONTH: f64 = 1.5e9;
    /// Hours in a billing month, as AWS prices monthly figures.
    pub const HOURS_PER_MONTH: f64 = 730.0;
    /// Bytes in a GB as AWS bills data (binary gigabyte).
    pub const BYTES_PER_GB: f64 = 1_073_741_824.0;
}

/// The README's benchmark (release build, fat LTO, `scripts/bench 1000 4`, 2-core development
/// machine): home-activities with telemetry and a healthy collector, latency p50 0.192 ms plus
/// billed time after the response p50 0.235 ms (0.427 ms in all). Used when no release build is in `target/bench`.
const README_BENCH_HOME_MS: f64 = 0.427;

/// The template's sampling rule when template.yaml cannot be read: the first 5 requests a second...
const DEFAULT_RESERVOIR_PER_SECOND: f64 = 5.0;
/// ...then 10 % of the rest.
const DEFAULT_FIXED_RATE: f64 = 0.1;
/// `LogRetentionInDays` default when template.yaml cannot be read.
const DEFAULT_RETENTION_DAYS: f64 = 14.0;
/// `MemorySize` when template.yaml cannot be read.
const DEFAULT_MEMORY_MB: f64 = 128.0;

/// X-Ray segment documents AWS itself records per traced request, beside ours: API Gateway's
/// stage segment, and Lambda's service segment and function segment ("for each traced
/// invocation, Lambda emits the Lambda service segment and all of its subsegments",
/// awsdocs/aws-lambda-developer-guide, using-x-ray.md). They count against the segments quota.
const AWS_SEGMENTS_PER_TRACED_REQUEST: f64 = 3.0;

/// Lambda's own log lines per invocation with the template's `LogFormat: JSON` and
/// `SystemLogLevel: INFO`, assumed to be `platform.start` and `platform.report` (Lambda's
/// table of system event levels was not among the pages read). Modelled, not measured: their
/// shape follows the Telemetry API schema, with a traced request's ids and a sub-millisecond report.
const PLATFORM_LINES: [&str; 2] = [
    r#"{"time":"2026-11-29T08:07:32.512Z","type":"platform.start","record":{"requestId":"c3f021f4-347f-490b-99e1-c5e19a8f9bf1","version":"$LATEST","tracing":{"spanId":"54e37ad5eaf60c8d","type":"X-Amzn-Trace-Id","value":"Root=1-6b0bdd44-b58aab2eaf6430562a2af3e1;Parent=a8ed2374ca6f852b;Sampled=1"}}}"#,
    r#"{"time":"2026-11-29T08:07:32.513Z","type":"platform.report","record":{"requestId":"c3f021f4-347f-490b-99e1-c5e19a8f9bf1","metrics":{"durationMs":0.366,"billedDurationMs":1,"memorySizeMB":128,"maxMemoryUsedMB":11},"tracing":{"spanId":"54e37ad5eaf60c8d","type":"X-Amzn-Trace-Id","value":"Root=1-6b0bdd44-b58aab2eaf6430562a2af3e1;Parent=a8ed2374ca6f852b;Sampled=1"},"status":"success"}}"#,
];

const HELP: &str = "\
telemetry-cost: what a million requests cost in each pillar, measured on the real binaries.

Usage: scripts/telemetry-cost [options] [NAME=value ...]

  NAME=value             set in every function's environment (over the template's defaults,
                         AWS_LAMBDA_LOG_LEVEL=INFO and AWS_LAMBDA_LOG_FORMAT=JSON), e.g.
                         AWS_LAMBDA_LOG_LEVEL=DEBUG, POWERTOOLS_LOGGER_LOG_EVENT=true,
                         CRUDDUR_OTLP_EXPORT_UNSAMPLED=true, POWERTOOLS_LOGGER_SAMPLE_RATE=0.1,
                         RUST_LOG=..., DATABASE_URL=... (to count the store's query spans)
  --routes a,b           routes (folders of events/) to measure; default: every one
  --invocations N        invocations per event and per sampling decision (default 20)
  --rate R               requests a second the X-Ray sampling rule sees (default 100)
  --sampled-fraction F   fraction of requests traced, instead of the rule at --rate
  --error-share F        share of requests that are the route's 4xx events (default 0.05)
  --retention-days D     log retention (default: template.yaml's LogRetentionInDays)
  --bench-dir DIR        release binaries whose durations are measured (default target/bench)
  --billed-ms MS         use this billed duration instead of measuring one
  --bin-dir DIR          binaries whose telemetry is counted (default target/debug)
  --json PATH            write the whole report as JSON
  --captures             put every captured line, datagram and OTLP request in the JSON
  --note                 print the tables of docs/capacity.md (several scenarios)
  --update PATH          with --note: also put the tables in PATH, between its
                         <!-- telemetry-cost: begin --> and <!-- telemetry-cost: end --> lines
";

/// Everything the command line says.
#[derive(Debug, Clone, Serialize)]
struct Options {
    routes: Option<Vec<String>>,
    invocations: usize,
    rate: f64,
    sampled_fraction: Option<f64>,
    error_share: f64,
    retention_days: Option<f64>,
    bench_dir: PathBuf,
    billed_ms: Option<f64>,
    bin_dir: PathBuf,
    json: Option<PathBuf>,
    captures: bool,
    note: bool,
    update: Option<PathBuf>,
    env: Vec<(String, String)>,
}

fn parse_args() -> anyhow::Result<Options> {
    let mut options = Options {
        routes: None,
        invocations: 20,
        rate: 100.0,
        sampled_fraction: None,
        error_share: 0.05,
        retention_days: None,
        bench_dir: workspace_root().join("target").join("bench"),
        billed_ms: None,
        bin_dir: bin_dir(),
        json: None,
        captures: false,
        note: false,
        update: None,
        env: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--routes" => {
                options.routes = Some(value("--routes")?.split(',').map(str::to_owned).collect());
            }
            "--invocations" => options.invocations = value("--invocations")?.parse()?,
            "--rate" => options.rate = value("--rate")?.parse()?,
            "--sampled-fraction" => options.sampled_fraction = Some(value("--sampled-fraction")?.parse()?),
            "--error-share" => options.error_share = value("--error-share")?.parse()?,
            "--retention-days" => options.retention_days = Some(value("--retention-days")?.parse()?),
            "--bench-dir" => options.bench_dir = value("--bench-dir")?.into(),
            "--billed-ms" => options.billed_ms = Some(value("--billed-ms")?.parse()?),
            "--bin-dir" => options.bin_dir = value("--bin-dir")?.into(),
            "--json" => options.json = Some(value("--json")?.into()),
            "--captures" => options.captures = true,
            "--note" => options.note = true,
            "--update" => options.update = Some(value("--update")?.into()),
            other => match other.split_once('=') {
                Some((name, v)) if !name.starts_with('-') => {
                    options.env.push((name.to_owned(), v.to_owned()))
                }
                _ => bail!("unknown argument {other:?}\n\n{HELP}"),
            },
        }
    }
    ensure!(options.invocations > 0, "--invocations must be at least 1");
    ensure!(options.update.is_none() || options.note, "--update needs --note");
    ensure!(options.rate > 0.0, "--rate must be positive");
    ensure!(
        (0.0..=1.0).contains(&options.error_share),
        "--error-share is a fraction"
    );
    if let Some(f) = options.sampled_fraction {
        ensure!((0.0..=1.0).contains(&f), "--sampled-fraction is a fraction");
    }
    Ok(options)
}

/// The template's figures the model needs, read from template.yaml (so a change there changes
/// the answer), with the values of the day as fallbacks.
#[derive(Debug, Clone, Serialize)]
struct TemplateFigures {
    reservoir_per_second: f64,
    fixed_rate: f64,
    retention_days: f64,
    memory_mb: f64,
    source: String,
}

fn template_figures() -> TemplateFigures {
    let path = workspace_root().join("template.yaml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return TemplateFigures {
            reservoir_per_second: DEFAULT_RESERVOIR_PER_SECOND,
            fixed_rate: DEFAULT_FIXED_RATE,
            retention_days: DEFAULT_RETENTION_DAYS,
            memory_mb: DEFAULT_MEMORY_MB,
            source: "defaults (template.yaml not found)".into(),
        };
    };
    // A line scan, not a YAML parse: these keys are unique in the template, and the tests
    // crate's YAML parser is a dev-dependency only.
    let number_after = |key: &str, from: usize| -> Option<f64> {
        text[from..]
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().trim_matches('"').parse().ok())
    };
    let retention = text
        .find("LogRetentionInDays:")
        .and_then(|at| number_after("Default:", at));
    TemplateFigures {
        reservoir_per_second: number_after("ReservoirSize:", 0).unwrap_or(DEFAULT_RESERVOIR_PER_SECOND),
        fixed_rate: number_after("FixedRate:", 0).unwrap_or(DEFAULT_FIXED_RATE),
        retention_days: retention.unwrap_or(DEFAULT_RETENTION_DAYS),
        memory_mb: number_after("MemorySize:", 0).unwrap_or(DEFAULT_MEMORY_MB),
        source: "template.yaml".into(),
    }
}

/// Fraction of requests the sampling rule traces at `rate` requests a second: the reservoir
/// (shared by every service the rule matches) takes the first ones each second, the fixed
/// rate a share of the rest.
fn rule_fraction(rate: f64, reservoir: f64, fixed_rate: f64) -> f64 {
    let first = reservoir.min(rate);
    ((first + fixed_rate * (rate - first)) / rate).clamp(0.0, 1.0)
}

/// One sample event of a route.
#[derive(Debug, Clone)]
struct EventCase {
    /// Its path under events/ ("home-activities/ok.json").
    file: String,
    /// The event itself.
    body: Value,
}

/// A route's events: the successes and the client errors, REST (v1) events only, as the
/// template's REST API sends them.
#[derive(Debug, Clone)]
struct RouteEvents {
    route: String,
    ok: Vec<EventCase>,
    errors: Vec<EventCase>,
}

fn load_events(only: Option<&[String]>) -> anyhow::Result<Vec<RouteEvents>> {
    let dir = workspace_root().join("events");
    let expected: BTreeMap<String, u16> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).context("reading events/expected.json")?,
    )?;
    let mut routes: BTreeMap<String, RouteEvents> = BTreeMap::new();
    for (file, status) in expected {
        let Some((route, _)) = file.split_once('/') else {
            continue;
        };
        if only.is_some_and(|o| !o.iter().any(|r| r == route)) {
            continue;
        }
        let body: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(&file))?)
            .with_context(|| format!("events/{file} is not JSON"))?;
        // HTTP API (v2) samples exist for local use; the template deploys a REST API.
        if body.get("httpMethod").is_none() {
            continue;
        }
        let entry = routes.entry(route.to_owned()).or_insert_with(|| RouteEvents {
            route: route.to_owned(),
            ok: Vec::new(),
            errors: Vec::new(),
        });
        let case = EventCase { file, body };
        match status {
            200..=299 => entry.ok.push(case),
            400..=499 => entry.errors.push(case),
            _ => {}
        }
    }
    if let Some(only) = only {
        for route in only {
            ensure!(
                routes.contains_key(route),
                "no REST events for route {route:?} in events/expected.json"
            );
        }
    }
    let routes: Vec<RouteEvents> = routes.into_values().filter(|r| !r.ok.is_empty()).collect();
    ensure!(
        !routes.is_empty(),
        "no route with a 2xx REST event in events/expected.json"
    );
    Ok(routes)
}

/// What one invocation sent, as captured.
#[derive(Debug, Clone, Serialize)]
struct InvocationCapture {
    event: String,
    sampled: bool,
    cold_start: bool,
    request_id: String,
    trace_root: String,
    /// Its stdout lines (those carrying its `requestId`).
    lines: Vec<String>,
    /// Its X-Ray datagrams, whole (header line, newline, document).
    datagrams: Vec<String>,
    /// Its share of each OTLP export request: (index in `exports`, its spans in it).
    otlp: Vec<(usize, usize)>,
}

/// One OTLP export request as the collector received it.
#[derive(Debug, Clone, Serialize)]
struct ExportCapture {
    /// Bytes on the wire (gzipped from 8 KiB up).
    wire_len: usize,
    /// Bytes after gunzip.
    body_len: usize,
    /// Spans in it.
    spans: usize,
    /// The decoded request, encoded again (hex), when captures are kept.
    protobuf_hex: Option<String>,
}

/// What one process run captured.
#[derive(Debug, Clone, Serialize)]
struct RunCapture {
    /// The environment beside the harness's own.
    env: Vec<(String, String)>,
    /// Lambda's application log level (lines below it never reach CloudWatch Logs).
    lambda_log_level: String,
    invocations: Vec<InvocationCapture>,
    exports: Vec<ExportCapture>,
    /// Stdout lines of no invocation (init, shutdown).
    process_lines: Vec<String>,
    /// Stderr lines (Lambda ships them too).
    stderr_lines: Vec<String>,
}

/// What one request sends, in each pillar (averages, so fractional).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
struct Usage {
    /// Log lines (not EMF) that reach CloudWatch Logs, and their bytes.
    log_lines: f64,
    log_bytes: f64,
    /// EMF lines, and their bytes (also CloudWatch Logs ingestion).
    emf_lines: f64,
    emf_bytes: f64,
    /// Lines Lambda's application log level drops before CloudWatch Logs, and their bytes.
    dropped_lines: f64,
    dropped_bytes: f64,
    /// X-Ray segment documents (one datagram each).
    xray_documents: f64,
    /// Segments counted as X-Ray counts nodes: each document plus every nested subsegment.
    xray_segments: f64,
    /// Bytes of the documents (without the daemon header line).
    xray_bytes: f64,
    /// OTLP spans (Honeycomb events).
    otlp_spans: f64,
    /// Bytes on the wire (gzipped from 8 KiB up), this request's share of each export.
    otlp_wire_bytes: f64,
}

impl Usage {
    fn add_scaled(&mut self, other: &Usage, k: f64) {
        self.log_lines += k * other.log_lines;
        self.log_bytes += k * other.log_bytes;
        self.emf_lines += k * other.emf_lines;
        self.emf_bytes += k * other.emf_bytes;
        self.dropped_lines += k * other.dropped_lines;
        self.dropped_bytes += k * other.dropped_bytes;
        self.xray_documents += k * other.xray_documents;
        self.xray_segments += k * other.xray_segments;
        self.xray_bytes += k * other.xray_bytes;
        self.otlp_spans += k * other.otlp_spans;
        self.otlp_wire_bytes += k * other.otlp_wire_bytes;
    }

    /// Bytes CloudWatch Logs ingests from the function.
    fn ingested_bytes(&self) -> f64 {
        self.log_bytes + self.emf_bytes
    }
}

/// Log levels in Lambda's order.
fn level_rank(level: &str) -> u8 {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => 0,
        "DEBUG" => 1,
        "WARN" | "WARNING" => 3,
        "ERROR" => 4,
        "FATAL" => 5,
        // INFO, and what Lambda makes of a missing or unknown level.
        _ => 2,
    }
}

/// True for an EMF line: a JSON object with `_aws.CloudWatchMetrics`.
fn is_emf(line: &Value) -> bool {
    line.pointer("/_aws/CloudWatchMetrics").is_some()
}

/// What one captured invocation sent. Lambda drops lines below its application log level
/// (a line without a `level`, such as an EMF line, counts as INFO).
fn usage_of(capture: &InvocationCapture, exports: &[ExportCapture], lambda_level: &str) -> Usage {
    let floor = level_rank(lambda_level);
    let mut usage = Usage::default();
    for line in &capture.lines {
        let parsed: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let level = parsed.get("level").and_then(Value::as_str).unwrap_or("INFO");
        let bytes = line.len() as f64;
        if level_rank(level) < floor {
            usage.dropped_lines += 1.0;
            usage.dropped_bytes += bytes;
        } else if is_emf(&parsed) {
            usage.emf_lines += 1.0;
            usage.emf_bytes += bytes;
        } else {
            usage.log_lines += 1.0;
            usage.log_bytes += bytes;
        }
    }
    for datagram in &capture.datagrams {
        let document = datagram.split_once('\n').map_or("", |(_, d)| d);
        usage.xray_documents += 1.0;
        usage.xray_bytes += document.len() as f64;
        if let Ok(parsed) = serde_json::from_str::<Value>(document) {
            usage.xray_segments += all_subsegments(&parsed).len() as f64;
        }
    }
    for &(index, spans) in &capture.otlp {
        let export = &exports[index];
        usage.otlp_spans += spans as f64;
        usage.otlp_wire_bytes += export.wire_len as f64 * spans as f64 / export.spans.max(1) as f64;
    }
    usage
}

/// One (event, sampling decision) average over the warm invocations of a run.
#[derive(Debug, Clone, Serialize)]
struct Category {
    event: String,
    sampled: bool,
    invocations: usize,
    usage: Usage,
}

/// A run, reduced to what the model needs.
#[derive(Debug, Clone, Serialize)]
struct Measurement {
    categories: Vec<Category>,
    /// The cold start's own invocation (first, sampled, first ok event).
    cold_start: Usage,
    /// Distinct EMF metrics (namespace, name, dimension values): CloudWatch custom metrics.
    metrics: Vec<String>,
    /// Distinct dimension sets (namespace, dimension names and values).
    dimension_sets: usize,
    process_lines: usize,
    process_bytes: usize,
    stderr_lines: usize,
    /// The raw run, when `--captures`.
    #[serde(skip_serializing_if = "Option::is_none")]
    capture: Option<RunCapture>,
}

/// The custom metrics the EMF lines that reach CloudWatch Logs define (a line Lambda drops
/// for its level defines none).
fn distinct_metrics(run: &RunCapture) -> (Vec<String>, usize) {
    let mut metrics = BTreeSet::new();
    let mut sets = BTreeSet::new();
    let floor = level_rank(&run.lambda_log_level);
    let lines = run
        .invocations
        .iter()
        .flat_map(|i| i.lines.iter())
        .chain(run.process_lines.iter());
    for line in lines {
        let Ok(parsed) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if level_rank(parsed.get("level").and_then(Value::as_str).unwrap_or("INFO")) < floor {
            continue;
        }
        let Some(directives) = parsed
            .pointer("/_aws/CloudWatchMetrics")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for directive in directives {
            let namespace = directive["Namespace"].as_str().unwrap_or_default();
            let names: Vec<&str> = directive["Metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["Name"].as_str())
                .collect();
            for set in directive["Dimensions"].as_array().into_iter().flatten() {
                let mut dims: Vec<String> = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|d| format!("{d}={}", parsed.get(d).map_or(String::new(), value_text)))
                    .collect();
                dims.sort();
                let dims = dims.join(",");
                sets.insert(format!("{namespace}{{{dims}}}"));
                for name in &names {
                    metrics.insert(format!("{namespace}/{name}{{{dims}}}"));
                }
            }
        }
    }
    (metrics.into_iter().collect(), sets.len())
}

fn value_text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// The harness around one function process.
struct Harness {
    runtime: RuntimeApi,
    xray: XrayDaemon,
    otlp: OtlpCollector,
    function: FunctionProcess,
}

impl Harness {
    async fn start(path: &Path, route: &str, env: &[(String, String)]) -> anyhow::Result<Harness> {
        let runtime = RuntimeApi::start().await;
        let xray = XrayDaemon::start().await;
        let otlp = OtlpCollector::start(Behaviour::Healthy).await;
        let (daemon, endpoint) = (xray.address(), otlp.endpoint());
        let mut all = vec![
            ("AWS_XRAY_DAEMON_ADDRESS", daemon.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let function = FunctionProcess::spawn_path(path, route, &runtime, &all, &[])?;
        Ok(Harness {
            runtime,
            xray,
            otlp,
            function,
        })
    }

    /// Invokes once and waits for the runtime's next poll (the end of what Lambda bills).
    /// Returns the request id, the trace root and the billed span (event handed out to next poll).
    async fn invoke(&self, event: &Value, sampled: bool) -> anyhow::Result<(String, String, Duration)> {
        let (header, root, _) = trace_header(sampled);
        let invocation = self.runtime.invoke(event.clone(), Some(&header)).await?;
        ensure!(
            !invocation.is_error(),
            "the function failed: {}",
            invocation.text()
        );
        let next = self.runtime.next_after(&invocation.request_id).await?;
        Ok((
            invocation.request_id,
            root,
            next.saturating_duration_since(invocation.delivered_at),
        ))
    }

    /// Waits until no X-Ray datagram or OTLP request has arrived for a while.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut last = (usize::MAX, usize::MAX);
        while Instant::now() < deadline {
            let now = (self.xray.datagrams().len(), self.otlp.request_count());
            if now == last {
                return;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Lets the process flush and exit (SIGTERM, as Lambda's shutdown), then settles.
    async fn stop(&self) {
        self.settle().await;
        if self.function.sigterm().is_ok() {
            let _ = self.function.wait_exit(Duration::from_secs(5)).await;
        }
        self.settle().await;
    }
}

/// A path as the report shows it: relative to the workspace when inside it.
fn shown(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root).unwrap_or(path).display().to_string()
}

/// The environment every run starts from: what Lambda sets from the template's LoggingConfig.
fn base_env() -> Vec<(String, String)> {
    vec![
        ("AWS_LAMBDA_LOG_LEVEL".into(), "INFO".into()),
        ("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()),
    ]
}

fn merged_env(extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = base_env();
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Runs one route's binary with `env` and captures everything each invocation sent: a cold
/// start first (kept apart), then `n` rounds of every event, traced and untraced.
async fn capture_run(
    bin: &Path,
    events: &RouteEvents,
    env: &[(String, String)],
    n: usize,
) -> anyhow::Result<RunCapture> {
    let harness = Harness::start(bin, &events.route, env).await?;
    let mut order: Vec<(EventCase, bool, bool)> = vec![(events.ok[0].clone(), true, true)];
    for _ in 0..n {
        for case in events.ok.iter().chain(&events.errors) {
            order.push((case.clone(), true, false));
            order.push((case.clone(), false, false));
        }
    }
    let mut invocations = Vec::new();
    for (case, sampled, cold_start) in order {
        let (request_id, trace_root, _) = harness
            .invoke(&case.body, sampled)
            .await
            .with_context(|| format!("invoking {} with events/{}", events.route, case.file))?;
        invocations.push(InvocationCapture {
            event: case.file.clone(),
            sampled,
            cold_start,
            request_id,
            trace_root,
            lines: Vec::new(),
            datagrams: Vec::new(),
            otlp: Vec::new(),
        });
    }
    harness.stop().await;

    let by_request: BTreeMap<String, usize> = invocations
        .iter()
        .enumerate()
        .map(|(i, c)| (c.request_id.clone(), i))
        .collect();
    let by_root: BTreeMap<String, usize> = invocations
        .iter()
        .enumerate()
        .map(|(i, c)| (c.trace_root.clone(), i))
        .collect();
    let by_hex: BTreeMap<String, usize> = invocations
        .iter()
        .enumerate()
        .map(|(i, c)| (cruddur_tests::otel_trace_id_from_root(&c.trace_root), i))
        .collect();

    let mut process_lines = Vec::new();
    for line in harness.function.stdout_lines() {
        let owner = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v.get("requestId").and_then(Value::as_str).map(str::to_owned))
            .and_then(|id| by_request.get(&id).copied());
        match owner {
            Some(i) => invocations[i].lines.push(line),
            None => process_lines.push(line),
        }
    }
    for datagram in harness.xray.datagrams() {
        let owner = datagram
            .document
            .as_ref()
            .and_then(|d| d["trace_id"].as_str())
            .and_then(|root| by_root.get(root).copied());
        match owner {
            Some(i) => invocations[i].datagrams.push(datagram.raw.clone()),
            None => eprintln!("note: an X-Ray datagram of no invocation: {}", datagram.raw),
        }
    }
    let mut exports = Vec::new();
    for (index, request) in harness.otlp.requests().into_iter().enumerate() {
        let decoded = request.request.clone().unwrap_or_default();
        let mut per_trace: BTreeMap<usize, usize> = BTreeMap::new();
        let mut spans = 0;
        for span in decoded
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            spans += 1;
            match by_hex.get(&hex(&span.trace_id)) {
                Some(&i) => *per_trace.entry(i).or_default() += 1,
                None => eprintln!("note: an OTLP span of no invocation: {}", span.name),
            }
        }
        for (i, count) in per_trace {
            invocations[i].otlp.push((index, count));
        }
        exports.push(ExportCapture {
            wire_len: request.wire_len,
            body_len: request.body_len,
            spans,
            protobuf_hex: Some(hex(&decoded.encode_to_vec())),
        });
    }
    let lambda_log_level = env
        .iter()
        .rev()
        .find(|(k, _)| k == "AWS_LAMBDA_LOG_LEVEL")
        .map_or("INFO".to_owned(), |(_, v)| v.to_ascii_uppercase());
    Ok(RunCapture {
        env: env.to_vec(),
        lambda_log_level,
        invocations,
        exports,
        process_lines,
        stderr_lines: harness.function.stderr_lines(),
    })
}

/// True when the invocation logged at DEBUG or TRACE (before Lambda's level filter): the
/// telemetry crate does that for the invocations debug sampling picks.
fn debug_sampled(capture: &InvocationCapture) -> bool {
    capture.lines.iter().any(|line| {
        serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("level").and_then(Value::as_str).map(level_rank))
            .is_some_and(|rank| rank < level_rank("INFO"))
    })
}

/// Reduces a run to averages per (event, sampling decision).
fn measure(run: RunCapture, keep: bool, skip_debug_sampled: bool) -> Measurement {
    let mut sums: BTreeMap<(String, bool), (usize, Usage)> = BTreeMap::new();
    let mut cold_start = Usage::default();
    for capture in &run.invocations {
        let usage = usage_of(capture, &run.exports, &run.lambda_log_level);
        if capture.cold_start {
            cold_start = usage;
            continue;
        }
        if skip_debug_sampled && debug_sampled(capture) {
            continue;
        }
        let entry = sums.entry((capture.event.clone(), capture.sampled)).or_default();
        entry.0 += 1;
        entry.1.add_scaled(&usage, 1.0);
    }
    let categories = sums
        .into_iter()
        .map(|((event, sampled), (n, total))| {
            let mut usage = Usage::default();
            usage.add_scaled(&total, 1.0 / n as f64);
            Category {
                event,
                sampled,
                invocations: n,
                usage,
            }
        })
        .collect();
    let (metrics, dimension_sets) = distinct_metrics(&run);
    let mut run = run;
    if !keep {
        for export in &mut run.exports {
            export.protobuf_hex = None;
        }
    }
    Measurement {
        categories,
        cold_start,
        metrics,
        dimension_sets,
        process_lines: run.process_lines.len(),
        process_bytes: run.process_lines.iter().map(String::len).sum(),
        stderr_lines: run.stderr_lines.len(),
        capture: keep.then_some(run),
    }
}

/// Where a route's billed duration comes from.
#[derive(Debug, Clone, Serialize)]
struct BilledDuration {
    /// Mean billed milliseconds per invocation (each rounded up to Lambda's 1 ms step).
    billed_ms: f64,
    /// Median measured duration (event handed out to the runtime's next poll), when measured.
    measured_p50_ms: Option<f64>,
    /// Where the figure comes from, in words.
    source: String,
}

fn billed(ms: f64) -> f64 {
    (ms / prices::LAMBDA_BILLING_STEP_MS).ceil().max(1.0) * prices::LAMBDA_BILLING_STEP_MS
}

/// Measures a release build's warm durations, or says where the figure comes from instead.
async fn billed_duration(options: &Options, events: &RouteEvents) -> anyhow::Result<BilledDuration> {
    if let Some(ms) = options.billed_ms {
        return Ok(BilledDuration {
            billed_ms: billed(ms),
            measured_p50_ms: None,
            source: format!("--billed-ms {ms}"),
        });
    }
    let release = options.bench_dir.join(&events.route);
    if !release.is_file() {
        return Ok(BilledDuration {
            billed_ms: billed(README_BENCH_HOME_MS),
            measured_p50_ms: None,
            source: format!(
                "the README's benchmark figure (home-activities, release build, {README_BENCH_HOME_MS:.3} ms, \
                 billed as 1 ms); no release build at {}",
                shown(&release)
            ),
        });
    }
    let harness = Harness::start(&release, &events.route, &base_env()).await?;
    let event = &events.ok[0].body;
    let mut durations = Vec::new();
    for n in 0..220 {
        let (_, _, took) = harness.invoke(event, true).await?;
        // The first 20 warm the process up (cold start, lazy initialisation, page faults).
        if n >= 20 {
            durations.push(took.as_secs_f64() * 1000.0);
        }
    }
    harness.stop().await;
    let mean_billed = durations.iter().map(|&d| billed(d)).sum::<f64>() / durations.len() as f64;
    durations.sort_by(f64::total_cmp);
    let p50 = durations[durations.len() / 2];
    Ok(BilledDuration {
        billed_ms: mean_billed,
        measured_p50_ms: Some(p50),
        source: format!(
            "measured on this machine: release build {}, 200 warm traced invocations",
            shown(&release)
        ),
    })
}

/// A set of settings to price.
#[derive(Debug, Clone, Serialize)]
struct Scenario {
    name: String,
    /// Environment beside the base (without POWERTOOLS_LOGGER_SAMPLE_RATE: see `debug_sample_rate`).
    env: Vec<(String, String)>,
    /// `POWERTOOLS_LOGGER_SAMPLE_RATE`: priced exactly as that mix of runs at 0 and at 1.
    debug_sample_rate: f64,
    /// Requests a second (the sampling rule's input, and the month's volume for fixed costs).
    rate: f64,
    /// Fraction traced (the rule at `rate`, unless given).
    sampled_fraction: f64,
}

impl Scenario {
    fn new(
        name: &str,
        extra: &[(String, String)],
        rate: f64,
        fraction: Option<f64>,
        template: &TemplateFigures,
    ) -> Self {
        let mut env = Vec::new();
        let mut debug_sample_rate = 0.0;
        for (k, v) in extra {
            if k == "POWERTOOLS_LOGGER_SAMPLE_RATE" {
                debug_sample_rate = v.trim().parse::<f64>().unwrap_or(0.0).clamp(0.0, 1.0);
            } else {
                env.retain(|(name, _): &(String, String)| name != k);
                env.push((k.clone(), v.clone()));
            }
        }
        Scenario {
            name: name.to_owned(),
            env,
            debug_sample_rate,
            rate,
            sampled_fraction: fraction
                .unwrap_or_else(|| rule_fraction(rate, template.reservoir_per_second, template.fixed_rate)),
        }
    }

    /// The runs this scenario needs, each with its weight. Without debug sampling, one. With a
    /// rate r, a run at r whose debug-sampled invocations are left out (weight 1 - r: it keeps
    /// the `sampling_rate` field every line then carries), and a run at 1 (weight r), so that
    /// the average is exact rather than at the mercy of a few random draws.
    fn runs(&self) -> Vec<Run> {
        let with_rate = |rate: &str| {
            let mut env = self.env.clone();
            env.push(("POWERTOOLS_LOGGER_SAMPLE_RATE".into(), rate.into()));
            env
        };
        let r = self.debug_sample_rate;
        if r <= 0.0 {
            vec![Run {
                env: self.env.clone(),
                weight: 1.0,
                skip_debug_sampled: false,
            }]
        } else if r >= 1.0 {
            vec![Run {
                env: with_rate("1"),
                weight: 1.0,
                skip_debug_sampled: false,
            }]
        } else {
            vec![
                Run {
                    env: with_rate(&r.to_string()),
                    weight: 1.0 - r,
                    skip_debug_sampled: true,
                },
                Run {
                    env: with_rate("1"),
                    weight: r,
                    skip_debug_sampled: false,
                },
            ]
        }
    }

    fn monthly_requests(&self) -> f64 {
        self.rate * prices::HOURS_PER_MONTH * 3600.0
    }
}

/// One process run a scenario needs.
#[derive(Debug, Clone)]
struct Run {
    /// Environment beside the base.
    env: Vec<(String, String)>,
    /// Its weight in the scenario's average.
    weight: f64,
    /// Leave out the invocations debug sampling picked (they log at DEBUG).
    skip_debug_sampled: bool,
}

impl Run {
    fn key(&self) -> String {
        let key = env_key(&self.env);
        if self.skip_debug_sampled {
            format!("{key} (invocations not debug-sampled)")
        } else {
            key
        }
    }
}

fn env_key(env: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    if pairs.is_empty() {
        "template defaults".into()
    } else {
        pairs.join(" ")
    }
}

/// One route priced under one scenario.
#[derive(Debug, Clone, Serialize)]
struct Priced {
    scenario: String,
    /// What the average request sends (mix of events, traced share, debug sampling).
    per_request: Usage,
    /// The same for a traced request and an untraced one.
    traced: Usage,
    untraced: Usage,
    /// Lambda's own lines, modelled (bytes per request).
    platform_bytes: f64,
    billed_ms: f64,
    custom_metrics: usize,
    dimension_sets: usize,
    honeycomb_events_per_month: f64,
    honeycomb_plan: String,
    /// Dollars per million requests.
    usd: Costs,
}

/// Dollars per million requests, by pillar.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Costs {
    lambda_requests: f64,
    lambda_duration: f64,
    logs_ingestion: f64,
    logs_storage: f64,
    custom_metrics: f64,
    xray_traces: f64,
    honeycomb: f64,
    total: f64,
}

/// The average request of a route's mix, traced or not, under a scenario's runs.
fn mix(events: &RouteEvents, runs: &[(&Measurement, f64)], error_share: f64, sampled: bool) -> Usage {
    let error_share = if events.errors.is_empty() {
        0.0
    } else {
        error_share
    };
    let weights: Vec<(&str, f64)> = events
        .ok
        .iter()
        .map(|c| (c.file.as_str(), (1.0 - error_share) / events.ok.len() as f64))
        .chain(
            events
                .errors
                .iter()
                .map(|c| (c.file.as_str(), error_share / events.errors.len() as f64)),
        )
        .collect();
    let mut out = Usage::default();
    for &(run, run_weight) in runs {
        for (file, weight) in &weights {
            if let Some(category) = run
                .categories
                .iter()
                .find(|c| c.event == *file && c.sampled == sampled)
            {
                out.add_scaled(&category.usage, weight * run_weight);
            }
        }
    }
    out
}

fn price(
    scenario: &Scenario,
    events: &RouteEvents,
    runs: &[(&Measurement, f64)],
    duration: &BilledDuration,
    options: &Options,
    template: &TemplateFigures,
) -> Priced {
    let traced = mix(events, runs, options.error_share, true);
    let untraced = mix(events, runs, options.error_share, false);
    let f = scenario.sampled_fraction;
    let mut per_request = Usage::default();
    per_request.add_scaled(&traced, f);
    per_request.add_scaled(&untraced, 1.0 - f);
    let platform_bytes: f64 = PLATFORM_LINES.iter().map(|l| l.len() as f64).sum();
    let million = 1e6;
    let gb = |bytes: f64| bytes * million / prices::BYTES_PER_GB;
    let retention_days = options.retention_days.unwrap_or(template.retention_days);
    let ingested = per_request.ingested_bytes() + platform_bytes;
    let monthly_millions = scenario.monthly_requests() / million;
    let metric_sets: Vec<&Measurement> = runs.iter().map(|(m, _)| *m).collect();
    let custom_metrics = metric_sets
        .iter()
        .flat_map(|m| m.metrics.iter())
        .collect::<BTreeSet<_>>()
        .len();
    let dimension_sets = metric_sets.iter().map(|m| m.dimension_sets).max().unwrap_or(0);
    let events_per_month = per_request.otlp_spans * scenario.monthly_requests();
    let (honeycomb, plan) = if events_per_month <= prices::HONEYCOMB_FREE_EVENTS_PER_MONTH {
        (0.0, "Free".to_owned())
    } else if events_per_month <= prices::HONEYCOMB_PRO_MAX_EVENTS_PER_MONTH {
        (
            prices::HONEYCOMB_PRO_FROM_USD_PER_MONTH / monthly_millions,
            format!(
                "Pro (from ${:.0}/month)",
                prices::HONEYCOMB_PRO_FROM_USD_PER_MONTH
            ),
        )
    } else {
        (
            prices::HONEYCOMB_PRO_FROM_USD_PER_MONTH / monthly_millions,
            "Enterprise (no public price; Pro's entry price counted as a floor)".to_owned(),
        )
    };
    let mut usd = Costs {
        lambda_requests: prices::LAMBDA_USD_PER_MILLION_REQUESTS,
        lambda_duration: million * duration.billed_ms / 1000.0 * template.memory_mb / 1024.0
            * prices::LAMBDA_ARM64_USD_PER_GB_SECOND,
        logs_ingestion: gb(ingested) * prices::CLOUDWATCH_LOGS_INGESTION_USD_PER_GB,
        logs_storage: gb(ingested) * retention_days / (prices::HOURS_PER_MONTH / 24.0)
            * prices::CLOUDWATCH_LOGS_STORAGE_USD_PER_GB_MONTH,
        custom_metrics: custom_metrics as f64 * prices::CLOUDWATCH_USD_PER_CUSTOM_METRIC_MONTH
            / monthly_millions,
        xray_traces: f * prices::XRAY_USD_PER_MILLION_TRACES_RECORDED,
        honeycomb,
        total: 0.0,
    };
    usd.total = usd.lambda_requests
        + usd.lambda_duration
        + usd.logs_ingestion
        + usd.logs_storage
        + usd.custom_metrics
        + usd.xray_traces
        + usd.honeycomb;
    Priced {
        scenario: scenario.name.clone(),
        per_request,
        traced,
        untraced,
        platform_bytes,
        billed_ms: duration.billed_ms,
        custom_metrics,
        dimension_sets,
        honeycomb_events_per_month: events_per_month,
        honeycomb_plan: plan,
        usd,
    }
}

/// The whole report (also the `--json` output).
#[derive(Debug, Serialize)]
struct Report {
    options: Options,
    template: TemplateFigures,
    prices: BTreeMap<&'static str, f64>,
    scenarios: Vec<Scenario>,
    routes: BTreeMap<String, RouteReport>,
}

/// One route in the report.
#[derive(Debug, Serialize)]
struct RouteReport {
    ok_events: Vec<String>,
    error_events: Vec<String>,
    duration: BilledDuration,
    /// Runs by environment.
    measurements: BTreeMap<String, Measurement>,
    /// Priced, by scenario name.
    priced: Vec<Priced>,
}

fn price_table() -> BTreeMap<&'static str, f64> {
    BTreeMap::from([
        (
            "LAMBDA_ARM64_USD_PER_GB_SECOND",
            prices::LAMBDA_ARM64_USD_PER_GB_SECOND,
        ),
        (
            "LAMBDA_USD_PER_MILLION_REQUESTS",
            prices::LAMBDA_USD_PER_MILLION_REQUESTS,
        ),
        (
            "CLOUDWATCH_LOGS_INGESTION_USD_PER_GB",
            prices::CLOUDWATCH_LOGS_INGESTION_USD_PER_GB,
        ),
        (
            "CLOUDWATCH_LOGS_STORAGE_USD_PER_GB_MONTH",
            prices::CLOUDWATCH_LOGS_STORAGE_USD_PER_GB_MONTH,
        ),
        (
            "CLOUDWATCH_USD_PER_CUSTOM_METRIC_MONTH",
            prices::CLOUDWATCH_USD_PER_CUSTOM_METRIC_MONTH,
        ),
        (
            "XRAY_USD_PER_MILLION_TRACES_RECORDED",
            prices::XRAY_USD_PER_MILLION_TRACES_RECORDED,
        ),
        (
            "XRAY_USD_PER_MILLION_TRACES_RETRIEVED_OR_SCANNED",
            prices::XRAY_USD_PER_MILLION_TRACES_RETRIEVED_OR_SCANNED,
        ),
        (
            "HONEYCOMB_FREE_EVENTS_PER_MONTH",
            prices::HONEYCOMB_FREE_EVENTS_PER_MONTH,
        ),
        (
            "HONEYCOMB_PRO_FROM_USD_PER_MONTH",
            prices::HONEYCOMB_PRO_FROM_USD_PER_MONTH,
        ),
        (
            "HONEYCOMB_PRO_MAX_EVENTS_PER_MONTH",
            prices::HONEYCOMB_PRO_MAX_EVENTS_PER_MONTH,
        ),
        ("BYTES_PER_GB", prices::BYTES_PER_GB),
        ("HOURS_PER_MONTH", prices::HOURS_PER_MONTH),
    ])
}

/// The note's scenarios: the template's defaults at a low and a high rate, then one setting
/// changed at a time at the high rate. `extra` (the command line's NAME=value) applies to all.
fn note_scenarios(options: &Options, template: &TemplateFigures) -> Vec<Scenario> {
    let with = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = options.env.clone();
        env.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        env
    };
    let high = options.rate;
    vec![
        Scenario::new("defaults, 1 req/s", &with(&[]), 1.0, None, template),
        Scenario::new(
            &format!("defaults, {high} req/s"),
            &with(&[]),
            high,
            None,
            template,
        ),
        Scenario::new(
            "10 % DEBUG sampling",
            &with(&[("POWERTOOLS_LOGGER_SAMPLE_RATE", "0.1")]),
            high,
            None,
            template,
        ),
        Scenario::new(
            "OTLP for untraced too",
            &with(&[("CRUDDUR_OTLP_EXPORT_UNSAMPLED", "true")]),
            high,
            None,
            template,
        ),
        Scenario::new(
            "event logging",
            &with(&[("POWERTOOLS_LOGGER_LOG_EVENT", "true")]),
            high,
            None,
            template,
        ),
        // ApplicationLogLevel WARN: Lambda sets AWS_LAMBDA_LOG_LEVEL=WARN and drops every line
        // below it, the EMF lines (no level: INFO) included.
        Scenario::new(
            "log level WARN",
            &with(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]),
            high,
            None,
            template,
        ),
    ]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let options = parse_args()?;
    let template = template_figures();
    let routes = load_events(options.routes.as_deref())?;
    let scenarios = if options.note {
        note_scenarios(&options, &template)
    } else {
        vec![Scenario::new(
            "your settings",
            &options.env,
            options.rate,
            options.sampled_fraction,
            &template,
        )]
    };
    // In the note, only the home route is measured under every scenario; the others under
    // the first two (the defaults), which share one run.
    let home = routes
        .iter()
        .map(|r| r.route.clone())
        .find(|r| r == "home-activities");
    let mut report = Report {
        options: options.clone(),
        template: template.clone(),
        prices: price_table(),
        scenarios: scenarios.clone(),
        routes: BTreeMap::new(),
    };
    for events in &routes {
        let wanted: Vec<&Scenario> = scenarios
            .iter()
            .enumerate()
            .filter(|(i, _)| !options.note || *i < 2 || home.as_deref() == Some(events.route.as_str()))
            .map(|(_, s)| s)
            .collect();
        let bin = options.bin_dir.join(&events.route);
        ensure!(
            bin.is_file(),
            "{} is missing: build the functions first (scripts/telemetry-cost does)",
            bin.display()
        );
        let mut measurements: BTreeMap<String, Measurement> = BTreeMap::new();
        for scenario in &wanted {
            for run in scenario.runs() {
                let key = run.key();
                if measurements.contains_key(&key) {
                    continue;
                }
                eprintln!("{}: measuring with {key}", events.route);
                let capture = capture_run(&bin, events, &merged_env(&run.env), options.invocations).await?;
                measurements.insert(key, measure(capture, options.captures, run.skip_debug_sampled));
            }
        }
        let duration = billed_duration(&options, events).await?;
        let priced = wanted
            .iter()
            .map(|scenario| {
                let runs: Vec<(&Measurement, f64)> = scenario
                    .runs()
                    .iter()
                    .map(|run| (&measurements[&run.key()], run.weight))
                    .collect();
                price(scenario, events, &runs, &duration, &options, &template)
            })
            .collect();
        report.routes.insert(
            events.route.clone(),
            RouteReport {
                ok_events: events.ok.iter().map(|c| c.file.clone()).collect(),
                error_events: events.errors.iter().map(|c| c.file.clone()).collect(),
                duration,
                measurements,
                priced,
            },
        );
    }
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let tables = render(&report, &routes);
    if let Some(path) = &options.update {
        update_note(path, &tables)?;
    }
    print!("{tables}");
    Ok(())
}

/// Marks the generated part of the note.
const BEGIN_MARK: &str = "<!-- telemetry-cost: begin -->";
/// Ends it.
const END_MARK: &str = "<!-- telemetry-cost: end -->";

/// Replaces what lies between the note's marks with `tables`.
fn update_note(path: &Path, tables: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN_MARK), text.find(END_MARK)) else {
        bail!("{} has no {BEGIN_MARK} ... {END_MARK} lines", path.display());
    };
    ensure!(
        begin < end,
        "{}: the marks are in the wrong order",
        path.display()
    );
    let updated = format!(
        "{}{BEGIN_MARK}\n{}\n{}",
        &text[..begin],
        tables.trim(),
        &text[end..]
    );
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

/// Request rates of the load table, up to API Gateway's default account throttle (10,000 a second).
const LOAD_RATES: [f64; 4] = [1.0, 100.0, 1_000.0, 10_000.0];

/// The quotas the load table is compared with (defaults; the note says which can be raised).
/// Read 2026-11-29 from stored copies of the pages named.
pub mod limits {
    /// Lambda concurrent executions per account and Region, shared by every function; a soft
    /// limit ("All AWS accounts start with a default concurrent limit of 1000 per Region. This
    /// is a soft limit", serverlessland.com, AWS Lambda Operator Guide, scaling and concurrency).
    pub const LAMBDA_CONCURRENT_EXECUTIONS: f64 = 1_000.0;
    /// API Gateway's throttle per account and Region across REST, HTTP and WebSocket APIs,
    /// adjustable (2,500 in some newer Regions); the burst bucket holds 5,000 requests
    /// (docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
    pub const API_GATEWAY_REQUESTS_PER_SECOND: f64 = 10_000.0;
    /// X-Ray segments per second per Region, adjustable through AWS Support. AWS's quota page
    /// (docs.aws.amazon.com/general/latest/gr/xray.html) is stored without its table; the
    /// figure is the one quoted elsewhere (a public engineering note found by exact search), and
    /// an X-Ray engineer wrote in 2019 that the limits are "dynamically calculated" and can be
    /// adjusted (spring-cloud-sleuth issue 1398). Check Service Quotas for your account.
    pub const XRAY_SEGMENTS_PER_SECOND: f64 = 2_600.0;
}

/// What the home route sends at `rate` requests a second under the template's defaults.
struct Load {
    traced_fraction: f64,
    traces: f64,
    segment_documents: f64,
    segment_nodes: f64,
    honeycomb_events: f64,
    log_events: f64,
    log_bytes: f64,
    environments: f64,
}

fn load(p: &Priced, t: &TemplateFigures, duration_ms: f64, rate: f64) -> Load {
    let f = rule_fraction(rate, t.reservoir_per_second, t.fixed_rate);
    let traces = rate * f;
    let mixed = |traced: f64, untraced: f64| f * traced + (1.0 - f) * untraced;
    Load {
        traced_fraction: f,
        traces,
        segment_documents: traces * (p.traced.xray_documents + AWS_SEGMENTS_PER_TRACED_REQUEST),
        segment_nodes: traces * (p.traced.xray_segments + AWS_SEGMENTS_PER_TRACED_REQUEST),
        honeycomb_events: rate * mixed(p.traced.otlp_spans, p.untraced.otlp_spans),
        log_events: rate
            * (mixed(
                p.traced.log_lines + p.traced.emf_lines,
                p.untraced.log_lines + p.untraced.emf_lines,
            ) + PLATFORM_LINES.len() as f64),
        log_bytes: rate * (mixed(p.traced.ingested_bytes(), p.untraced.ingested_bytes()) + p.platform_bytes),
        // Little's law: environments busy at once = arrival rate x time each one is held.
        environments: rate * duration_ms / 1000.0,
    }
}

/// The lowest request rate (to 0.1 %) at which `used(rate)` reaches `quota`, if any below 10^8.
fn binds_at(quota: f64, used: impl Fn(f64) -> f64) -> Option<f64> {
    let (mut low, mut high) = (0.01, 1e8);
    if used(high) < quota {
        return None;
    }
    while high / low > 1.001 {
        let mid = (low * high).sqrt();
        if used(mid) >= quota {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some(high)
}

fn per_second(rate: f64) -> String {
    if rate >= 1e5 {
        format!("≈ {:.1} M req/s", rate / 1e6)
    } else {
        format!("≈ {rate:.0} req/s")
    }
}

/// What the home route sends per second at several request rates, under the template's
/// defaults, and the rate at which each quota binds: the figures of docs/capacity.md's limits.
fn render_load(out: &mut String, report: &Report) {
    use std::fmt::Write as _;
    let Some(home) = report.routes.get("home-activities") else {
        return;
    };
    let Some(p) = home.priced.first() else { return };
    let t = &report.template;
    let duration_ms = home.duration.measured_p50_ms.unwrap_or(README_BENCH_HOME_MS);
    let _ = writeln!(
        out,
        "\n### home-activities under load (template defaults; per second unless said)\n"
    );
    let _ = writeln!(
        out,
        "| requests/s | traced | X-Ray traces | X-Ray segment documents (ours + AWS's {AWS_SEGMENTS_PER_TRACED_REQUEST}) | \
         X-Ray segments counting nested | Honeycomb events (a month) | CloudWatch Logs events / MB | \
         environments at {duration_ms:.2} ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for rate in LOAD_RATES {
        let l = load(p, t, duration_ms, rate);
        let _ = writeln!(
            out,
            "| {rate:.0} | {:.1} % | {:.1} | {:.0} | {:.0} | {:.0} ({:.1} M) | {:.0} / {:.2} | {:.1} |",
            l.traced_fraction * 100.0,
            l.traces,
            l.segment_documents,
            l.segment_nodes,
            l.honeycomb_events,
            l.honeycomb_events * prices::HOURS_PER_MONTH * 3600.0 / 1e6,
            l.log_events,
            l.log_bytes / 1e6,
            l.environments
        );
    }
    let month = prices::HOURS_PER_MONTH * 3600.0;
    let at = |quota: f64, used: &dyn Fn(f64) -> f64| {
        binds_at(quota, used).map_or("not below 100 M req/s".to_owned(), per_second)
    };
    let slow = 100.0;
    let rows = [
        (
            "Lambda concurrent executions (account, Region)".to_owned(),
            format!("{:.0}", limits::LAMBDA_CONCURRENT_EXECUTIONS),
            format!(
                "{} at {duration_ms:.2} ms a request; {} at {slow:.0} ms (a database round trip)",
                at(limits::LAMBDA_CONCURRENT_EXECUTIONS, &|r| load(
                    p,
                    t,
                    duration_ms,
                    r
                )
                .environments),
                at(limits::LAMBDA_CONCURRENT_EXECUTIONS, &|r| load(p, t, slow, r)
                    .environments),
            ),
        ),
        (
            "API Gateway throttle (account, Region)".to_owned(),
            format!("{:.0} req/s", limits::API_GATEWAY_REQUESTS_PER_SECOND),
            per_second(limits::API_GATEWAY_REQUESTS_PER_SECOND),
        ),
        (
            "X-Ray segments per second (Region)".to_owned(),
            format!("{:.0}", limits::XRAY_SEGMENTS_PER_SECOND),
            format!(
                "{} counting documents, {} counting nested subsegments",
                at(limits::XRAY_SEGMENTS_PER_SECOND, &|r| load(p, t, duration_ms, r)
                    .segment_documents),
                at(limits::XRAY_SEGMENTS_PER_SECOND, &|r| load(p, t, duration_ms, r)
                    .segment_nodes),
            ),
        ),
        (
            "Honeycomb Free plan, events a month".to_owned(),
            format!("{:.0} M", prices::HONEYCOMB_FREE_EVENTS_PER_MONTH / 1e6),
            at(prices::HONEYCOMB_FREE_EVENTS_PER_MONTH, &|r| {
                load(p, t, duration_ms, r).honeycomb_events * month
            }),
        ),
        (
            "Honeycomb Pro plan, events a month".to_owned(),
            format!("{:.1} B", prices::HONEYCOMB_PRO_MAX_EVENTS_PER_MONTH / 1e9),
            at(prices::HONEYCOMB_PRO_MAX_EVENTS_PER_MONTH, &|r| {
                load(p, t, duration_ms, r).honeycomb_events * month
            }),
        ),
    ];
    let _ = writeln!(
        out,
        "\n### Where each quota binds for home-activities alone (template defaults)\n"
    );
    let _ = writeln!(out, "| quota | default | reached at |");
    let _ = writeln!(out, "|---|---|---|");
    for (name, quota, rate) in rows {
        let _ = writeln!(out, "| {name} | {quota} | {rate} |");
    }
}

/// A row of the per-pillar table: its name and how to fill a cell.
type PillarRow = (&'static str, fn(&Priced, &Scenario) -> String);

fn dollars(x: f64) -> String {
    if x == 0.0 {
        "$0".into()
    } else if x < 0.01 {
        format!("${x:.4}")
    } else {
        format!("${x:.3}")
    }
}

fn render(report: &Report, routes: &[RouteEvents]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let first = &report.scenarios[0];
    let defaults_index = if report.options.note { 1 } else { 0 };
    let second = &report.scenarios[defaults_index];
    let _ = writeln!(
        out,
        "### What one request sends ({}; traced / untraced)\n",
        if report.options.note {
            "template defaults"
        } else {
            "your settings"
        }
    );
    let _ = writeln!(
        out,
        "Mix: each route's 2xx REST events, plus {:.0} % its 4xx events where it has some. Bytes are \
         what CloudWatch Logs ingests from the function (Lambda's own platform lines, {:.0} bytes a \
         request, are modelled, and priced, beside them).\n",
        report.options.error_share * 100.0,
        PLATFORM_LINES.iter().map(|l| l.len()).sum::<usize>()
    );
    let _ = writeln!(
        out,
        "| route | log lines / bytes | EMF bytes | X-Ray docs / segments / bytes (traced) | OTLP spans / wire bytes (traced) | custom metrics (dimension sets) | billed ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for events in routes {
        let Some(route) = report.routes.get(&events.route) else {
            continue;
        };
        let p = &route.priced[0];
        let _ = writeln!(
            out,
            "| {} | {:.1} / {:.0} | {:.0} | {:.1} / {:.1} / {:.0} | {:.1} / {:.0} | {} ({}) | {} |",
            events.route,
            p.traced.log_lines,
            p.traced.log_bytes,
            p.traced.emf_bytes,
            p.traced.xray_documents,
            p.traced.xray_segments,
            p.traced.xray_bytes,
            p.traced.otlp_spans,
            p.traced.otlp_wire_bytes,
            p.custom_metrics,
            p.dimension_sets,
            p.billed_ms
        );
    }
    // One sentence per kind of source, naming the routes it applies to.
    let mut sources: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, route) in &report.routes {
        let d = &route.duration;
        let text = match d.measured_p50_ms {
            Some(p50) => format!(
                "{} (p50 {p50:.3} ms, mean billed {:.3} ms)",
                d.source, d.billed_ms
            ),
            None => d
                .source
                .split("; no release build")
                .next()
                .unwrap_or(&d.source)
                .to_owned(),
        };
        sources.entry(text).or_default().push(name);
    }
    for (source, names) in sources {
        let _ = writeln!(out, "\nBilled duration of {}: {source}.", names.join(", "));
    }

    let table_scenarios: Vec<&Scenario> = if report.options.note {
        vec![first, second]
    } else {
        vec![first]
    };
    for (index, scenario) in table_scenarios.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n### Dollars per million requests: {} ({:.1} % traced, {:.1} M requests a month)\n",
            scenario.name,
            scenario.sampled_fraction * 100.0,
            scenario.monthly_requests() / 1e6
        );
        let _ = writeln!(
            out,
            "| route | Lambda requests | Lambda GB-s | Logs ingestion | Logs storage | custom metrics | X-Ray traces | Honeycomb | total |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
        for events in routes {
            let Some(route) = report.routes.get(&events.route) else {
                continue;
            };
            let c = route.priced[index].usd;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | **{}** |",
                events.route,
                dollars(c.lambda_requests),
                dollars(c.lambda_duration),
                dollars(c.logs_ingestion),
                dollars(c.logs_storage),
                dollars(c.custom_metrics),
                dollars(c.xray_traces),
                dollars(c.honeycomb),
                dollars(c.total)
            );
        }
    }

    if let Some(home) = report
        .routes
        .get("home-activities")
        .filter(|h| h.priced.len() > 1)
    {
        let _ = writeln!(
            out,
            "\n### home-activities, per pillar, by settings (dollars per million requests)\n"
        );
        let header: Vec<String> = home.priced.iter().map(|p| p.scenario.clone()).collect();
        let _ = writeln!(out, "| | {} |", header.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(header.len()));
        let scenario = |name: &str| report.scenarios.iter().find(|s| s.name == name);
        let rows: [PillarRow; 13] = [
            ("traced", |_, s| format!("{:.1} %", s.sampled_fraction * 100.0)),
            ("log + EMF bytes / request", |p, _| {
                format!("{:.0}", p.per_request.ingested_bytes())
            }),
            ("bytes / request Lambda drops (below its log level)", |p, _| {
                format!("{:.0}", p.per_request.dropped_bytes)
            }),
            ("OTLP spans / request", |p, _| {
                format!("{:.2}", p.per_request.otlp_spans)
            }),
            ("Honeycomb events / month, plan", |p, _| {
                format!(
                    "{:.1} M, {}",
                    p.honeycomb_events_per_month / 1e6,
                    p.honeycomb_plan
                )
            }),
            ("Lambda requests", |p, _| dollars(p.usd.lambda_requests)),
            ("Lambda GB-s", |p, _| dollars(p.usd.lambda_duration)),
            ("Logs ingestion", |p, _| dollars(p.usd.logs_ingestion)),
            ("Logs storage", |p, _| dollars(p.usd.logs_storage)),
            ("custom metrics", |p, _| dollars(p.usd.custom_metrics)),
            ("X-Ray traces", |p, _| dollars(p.usd.xray_traces)),
            ("Honeycomb", |p, _| dollars(p.usd.honeycomb)),
            ("**total**", |p, _| format!("**{}**", dollars(p.usd.total))),
        ];
        for (name, cell) in rows {
            let cells: Vec<String> = home
                .priced
                .iter()
                .filter_map(|p| scenario(&p.scenario).map(|s| cell(p, s)))
                .collect();
            let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
        }
    }
    if report.options.note {
        render_load(&mut out, report);
    }
    let _ =
        writeln!(
        out,
        "\nX-Ray sampling rule ({}): {} a second, then {:.0} %. Log retention {} days. Memory {} MB, arm64.",
        report.template.source,
        report.template.reservoir_per_second,
        report.template.fixed_rate * 100.0,
        report.options.retention_days.unwrap_or(report.template.retention_days),
        report.template.memory_mb
    );
    out
}
