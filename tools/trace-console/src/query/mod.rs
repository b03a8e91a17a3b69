//! `trace-console query`: recent traces from AWS X-Ray, drawn as the listener
//! draws them, each followed by the CloudWatch Logs Insights query that finds
//! its log lines.
//!
//! GetTraceSummaries over the window (the filter expression passed through, every
//! page followed), then BatchGetTraces five ids at a time. The SDK is configured
//! from the environment as usual (`AWS_PROFILE`, `AWS_REGION`, and
//! `AWS_ENDPOINT_URL` for a stand-in such as moto), over rustls/ring, with a
//! connect timeout and an operation timeout so an endpoint that does not answer
//! is said, not waited on.

mod lenient;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::timeout::TimeoutConfig;
use aws_sdk_xray::config::{ProvideCredentials, Region};
use aws_sdk_xray::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_xray::types::TraceSummary;
use aws_smithy_types::DateTime;
use serde_json::Value;
use telemetry::ids::{TraceHeader, TraceId};

use crate::error::{chain, Error};
use crate::model::{self, plural, Trace};
use crate::waterfall::{self, Style};

/// Longest wait to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// BatchGetTraces takes at most five ids per call.
const BATCH: usize = 5;
/// Summaries read at most (X-Ray pages through large windows slowly).
const MAX_SUMMARIES: usize = 5_000;
/// Error codes X-Ray uses for throttling.
const THROTTLING: [&str; 4] = [
    "ThrottledException",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];
/// Error codes that mean the caller is not let in.
const DENIED: [&str; 6] = [
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
];

/// What to query and how to draw it.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// The window: the last this many minutes.
    pub minutes: u32,
    /// An X-Ray filter expression, passed through.
    pub filter: Option<String>,
    /// One trace (X-Ray form or 32 hex digits) instead of a window.
    pub trace_id: Option<String>,
    /// The region, over the environment's.
    pub region: Option<String>,
    /// How many traces to draw at most (the most recent).
    pub limit: usize,
    /// Longest wait for each X-Ray call (and for the credentials).
    pub timeout: Duration,
    /// How to draw.
    pub style: Style,
}

/// What a query found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This many traces were drawn.
    Drawn(usize),
    /// Nothing matched (said on the output).
    NoTraces,
}

/// The CloudWatch Logs Insights query for one trace's log lines.
pub fn logs_insights_query(trace_id: &TraceId) -> String {
    format!(
        "fields @timestamp, level, message, requestId | filter xray_trace_id = \"{}\" | sort @timestamp asc",
        trace_id.xray()
    )
}

/// Reads a trace id: `1-XXXXXXXX-YYYY…`, `Root=1-…;Parent=…` or 32 hex digits.
pub fn parse_trace_id(text: &str) -> Result<TraceId, Error> {
    let text = text.trim();
    let parsed = if text.contains("Root=") {
        TraceHeader::parse(text).ok().map(|h| h.trace_id)
    } else if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        u128::from_str_radix(text, 16)
            .ok()
            .filter(|id| *id != 0)
            .map(TraceId)
    } else {
        TraceId::from_xray(&text.to_ascii_lowercase())
    };
    parsed.ok_or_else(|| Error::BadTraceId(text.to_owned()))
}

/// Runs the query and draws what it finds on `out`.
pub async fn run(options: &QueryOptions, out: &mut impl Write) -> Result<Outcome, Error> {
    let wanted = options.trace_id.as_deref().map(parse_trace_id).transpose()?;
    let xray = Xray::connect(options).await?;
    let (ids, summaries) = match wanted {
        Some(id) => (vec![id.xray()], HashMap::new()),
        None => {
            let mut summaries = xray.summaries(options, out).await?;
            if summaries.is_empty() {
                writeln!(out, "{}", xray.no_traces(options))?;
                return Ok(Outcome::NoTraces);
            }
            // The most recent `limit`, drawn oldest first (the newest ends next to the prompt).
            summaries.sort_by_key(|s| std::cmp::Reverse(summary_start(s)));
            let total = summaries.len();
            summaries.truncate(options.limit.max(1));
            summaries.reverse();
            writeln!(out, "{}", xray.found(options, total, summaries.len()))?;
            let ids = summaries.iter().filter_map(|s| s.id.clone()).collect();
            let by_id = summaries
                .into_iter()
                .filter_map(|s| s.id.clone().map(|id| (id, s)))
                .collect();
            (ids, by_id)
        }
    };
    let documents = xray.documents(&ids).await?;
    let mut drawn = 0;
    for id in &ids {
        let Some(trace_id) = TraceId::from_xray(id) else {
            writeln!(out, "! X-Ray listed {id:?}, which is not a trace id")?;
            continue;
        };
        let Some(documents) = documents.get(id).filter(|d| !d.is_empty()) else {
            writeln!(
                out,
                "\n── trace {id}: X-Ray returned no segments for it (new traces take a few seconds to appear)"
            )?;
            continue;
        };
        let (trace, problems) = assemble(trace_id, documents);
        writeln!(out)?;
        if trace.spans.is_empty() {
            writeln!(out, "── trace {id}: no readable segments")?;
        } else {
            write!(out, "{}", waterfall::draw(&trace, &options.style))?;
            drawn += 1;
        }
        for problem in problems {
            writeln!(out, "    ! {problem}")?;
        }
        if let Some(marks) = summaries.get(id).map(summary_marks).filter(|m| !m.is_empty()) {
            writeln!(out, "    X-Ray marks this trace: {marks}")?;
        }
        let groups = log_groups(&trace);
        if groups.is_empty() {
            writeln!(
                out,
                "    Logs Insights (in the function's log group, /aws/lambda/<function>):"
            )?;
        } else {
            writeln!(out, "    Logs Insights (in {}):", groups.join(", "))?;
        }
        writeln!(out, "      {}", logs_insights_query(&trace_id))?;
    }
    out.flush()?;
    Ok(if drawn == 0 && wanted.is_some() {
        Outcome::NoTraces
    } else {
        Outcome::Drawn(drawn)
    })
}

/// A configured X-Ray client and what error messages say about it.
struct Xray {
    client: aws_sdk_xray::Client,
    region: String,
    /// `at <AWS_ENDPOINT_URL or the profile's>`, or `in region <region>`.
    endpoint: String,
    attempts: u32,
    timeout: Duration,
}

impl Xray {
    /// Loads the SDK config, checks region and credentials, and builds the client.
    async fn connect(options: &QueryOptions) -> Result<Self, Error> {
        let sdk = telemetry::aws::sdk_config().await;
        let region = options
            .region
            .clone()
            .or_else(|| sdk.region().map(ToString::to_string))
            .ok_or(Error::NoRegion)?;
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| Error::NoCredentials("no credentials provider is configured".into()))?;
        match tokio::time::timeout(options.timeout, provider.provide_credentials()).await {
            Err(_) => {
                return Err(Error::NoCredentials(format!(
                    "none found within {} s",
                    options.timeout.as_secs()
                )))
            }
            Ok(Err(error)) => return Err(Error::NoCredentials(chain(&error))),
            Ok(Ok(_)) => {}
        }
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(options.timeout))
            .operation_attempt_timeout(options.timeout)
            .operation_timeout(options.timeout)
            .build();
        let mut config = aws_sdk_xray::config::Builder::from(&sdk)
            .region(Region::new(region.clone()))
            .timeout_config(timeouts);
        if let Some(http) = sdk.http_client() {
            config = config.http_client(lenient::Lenient(http));
        }
        let endpoint = sdk
            .endpoint_url()
            .map_or_else(|| format!("in region {region}"), |url| format!("at {url}"));
        Ok(Self {
            client: aws_sdk_xray::Client::from_conf(config.build()),
            region,
            endpoint,
            attempts: sdk.retry_config().map_or(3, |r| r.max_attempts()),
            timeout: options.timeout,
        })
    }

    /// Every summary in the window (at most [`MAX_SUMMARIES`]).
    async fn summaries(
        &self,
        options: &QueryOptions,
        out: &mut impl Write,
    ) -> Result<Vec<TraceSummary>, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        // Whole seconds, the end rounded up: a trace that ended a moment ago is in.
        let end = now.ceil() as i64;
        let start = end - i64::from(options.minutes) * 60;
        let mut pages = self
            .client
            .get_trace_summaries()
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end))
            .set_filter_expression(options.filter.clone())
            .into_paginator()
            .send();
        let mut summaries = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("GetTraceSummaries", e))?;
            summaries.extend(page.trace_summaries.unwrap_or_default());
            if summaries.len() >= MAX_SUMMARIES {
                writeln!(
                    out,
                    "! more than {MAX_SUMMARIES} traces in the window: the rest are not read \
                     (narrow it with --minutes or --filter)"
                )?;
                break;
            }
        }
        Ok(summaries)
    }

    /// The segment documents of `ids`, by trace id, five ids a call.
    async fn documents(&self, ids: &[String]) -> Result<HashMap<String, Vec<String>>, Error> {
        let mut documents: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(BATCH) {
            let mut pages = self
                .client
                .batch_get_traces()
                .set_trace_ids(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.error("BatchGetTraces", e))?;
                for trace in page.traces.unwrap_or_default() {
                    let Some(id) = trace.id else { continue };
                    documents.entry(id).or_default().extend(
                        trace
                            .segments
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|s| s.document),
                    );
                }
            }
        }
        Ok(documents)
    }

    fn no_traces(&self, options: &QueryOptions) -> String {
        let mut text = format!(
            "no traces in the last {} minute{} in {}",
            options.minutes,
            plural(options.minutes as usize),
            self.region
        );
        if let Some(filter) = &options.filter {
            text.push_str(&format!(" matching '{filter}'"));
        }
        text
    }

    fn found(&self, options: &QueryOptions, total: usize, shown: usize) -> String {
        let mut text = format!(
            "{total} trace{} in the last {} minute{} in {}",
            plural(total),
            options.minutes,
            plural(options.minutes as usize),
            self.region
        );
        if let Some(filter) = &options.filter {
            text.push_str(&format!(" matching '{filter}'"));
        }
        if shown < total {
            text.push_str(&format!(
                "; drawing the {shown} most recent (raise --limit for more)"
            ));
        }
        text
    }

    /// Says what went wrong with an X-Ray call, in the user's terms.
    fn error<E>(&self, operation: &'static str, error: SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let timeout = || Error::Timeout {
            endpoint: self.endpoint.clone(),
            operation,
            seconds: self.timeout.as_secs(),
        };
        match &error {
            SdkError::TimeoutError(_) => timeout(),
            SdkError::DispatchFailure(failure) if failure.is_timeout() => timeout(),
            SdkError::DispatchFailure(failure) => Error::Unreachable {
                endpoint: self.endpoint.clone(),
                operation,
                attempts: self.attempts,
                detail: failure
                    .as_connector_error()
                    .map_or_else(|| chain(&error), |e| chain(e)),
            },
            SdkError::ResponseError(_) => Error::BadAnswer {
                endpoint: self.endpoint.clone(),
                operation,
                detail: chain(&error),
            },
            // No error code: an answer the SDK could not read (not X-Ray's shape).
            SdkError::ServiceError(service) if service.err().code().is_none() => Error::BadAnswer {
                endpoint: self.endpoint.clone(),
                operation,
                detail: chain(&error),
            },
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("UnknownError").to_owned();
                let message = service.err().message().unwrap_or("").to_owned();
                let status = service.raw().status().as_u16();
                if THROTTLING.contains(&code.as_str()) || status == 429 {
                    Error::Throttled {
                        operation,
                        code,
                        attempts: self.attempts,
                    }
                } else if DENIED.contains(&code.as_str()) || status == 403 {
                    Error::Denied {
                        operation,
                        code,
                        message,
                        region: self.region.clone(),
                    }
                } else {
                    Error::Service {
                        operation,
                        code,
                        message,
                        note: if status >= 500 {
                            format!(" (after {} attempts)", self.attempts)
                        } else {
                            String::new()
                        },
                    }
                }
            }
            _ => Error::Other {
                operation,
                detail: chain(&error),
            },
        }
    }
}

/// A summary's start: its `StartTime`, else the trace id's epoch seconds.
fn summary_start(summary: &TraceSummary) -> i64 {
    summary.start_time.map(|t| t.secs()).unwrap_or_else(|| {
        summary
            .id
            .as_deref()
            .and_then(|id| id.get(2..10))
            .and_then(|hex| i64::from_str_radix(hex, 16).ok())
            .unwrap_or(0)
    })
}

/// `fault, error, throttle` as X-Ray's summary marks them.
fn summary_marks(summary: &TraceSummary) -> String {
    let marks: Vec<&str> = [
        (summary.has_fault, "fault"),
        (summary.has_error, "error"),
        (summary.has_throttle, "throttle"),
    ]
    .into_iter()
    .filter(|(flag, _)| *flag == Some(true))
    .map(|(_, mark)| mark)
    .collect();
    marks.join(", ")
}

/// The trace from its segment documents (JSON strings), and what could not be read.
fn assemble(trace_id: TraceId, documents: &[String]) -> (Trace, Vec<String>) {
    let mut trace = Trace::new(trace_id);
    let mut problems = Vec::new();
    for text in documents {
        let read = serde_json::from_str::<Value>(text)
            .map_err(|e| format!("segment document is not JSON: {e}"))
            .and_then(|doc| model::xray_document(&doc).map_err(|e| e.to_string()));
        match read {
            Ok((id, spans)) if id == trace_id => trace.add_xray_spans(spans),
            Ok((id, _)) => problems.push(format!("a segment of trace {} came with this one", id.xray())),
            Err(problem) => problems.push(problem),
        }
    }
    (trace, problems)
}

/// `/aws/lambda/<name>` of every Lambda function segment in the trace.
fn log_groups(trace: &Trace) -> Vec<String> {
    let groups: BTreeSet<String> = trace
        .spans
        .values()
        .filter_map(|s| s.xray.as_ref())
        .filter(|v| v.origin.as_deref() == Some("AWS::Lambda::Function"))
        .map(|v| format!("/aws/lambda/{}", v.name))
        .collect();
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_in_every_form() {
        let xray = "1-5759e988-bd862e3fe1be46a994272793";
        for form in [
            xray,
            "5759e988bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            " 1-5759E988-BD862E3FE1BE46A994272793 ",
        ] {
            assert_eq!(parse_trace_id(form).unwrap().xray(), xray, "{form}");
        }
        assert!(parse_trace_id("1-xyz")
            .unwrap_err()
            .to_string()
            .contains("is not a trace id"));
    }

    #[test]
    fn the_logs_query_filters_on_the_root_form() {
        let id = parse_trace_id("1-5759e988-bd862e3fe1be46a994272793").unwrap();
        assert_eq!(
            logs_insights_query(&id),
            "fields @timestamp, level, message, requestId | filter xray_trace_id = \
             \"1-5759e988-bd862e3fe1be46a994272793\" | sort @timestamp asc"
        );
    }

    #[test]
    fn segments_assemble_and_lambda_functions_name_log_groups() {
        let id = parse_trace_id("1-5759e988-bd862e3fe1be46a994272793").unwrap();
        let function = serde_json::json!({
            "trace_id": id.xray(), "id": "00000000000000f1", "name": "home-activities",
            "origin": "AWS::Lambda::Function", "start_time": 1.7e9, "end_time": 1.7e9 + 0.01,
            "subsegments": [{"id": "00000000000000a1", "name": "home-activities", "start_time": 1.7e9, "end_time": 1.7e9 + 0.004}]
        });
        let other = serde_json::json!({"trace_id": "1-5759e988-000000000000000000000001", "id": "00000000000000b1",
            "name": "x", "start_time": 1.7e9, "end_time": 1.7e9});
        let (trace, problems) = assemble(id, &[function.to_string(), other.to_string(), "{".into()]);
        assert_eq!(trace.spans.len(), 2);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(log_groups(&trace), ["/aws/lambda/home-activities"]);
    }
}
