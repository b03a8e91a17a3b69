//! `telemetry-cost` (the tool behind `scripts/telemetry-cost` and docs/capacity.md) runs the
//! real home-activities binary, keeps what it captured (stdout lines, X-Ray datagrams, OTLP
//! requests) in its JSON report, and its byte counts, averages and prices are exactly what
//! those captures add up to, counted again here independently.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{ensure, Context as _};
use cruddur_tests::otel_trace_id_from_root;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::Value;

/// What one invocation sent, counted here.
#[derive(Debug, Default, Clone, Copy)]
struct Counted {
    log_lines: f64,
    log_bytes: f64,
    emf_lines: f64,
    emf_bytes: f64,
    xray_documents: f64,
    xray_segments: f64,
    xray_bytes: f64,
    otlp_spans: f64,
    otlp_wire_bytes: f64,
}

impl Counted {
    fn fields(&self) -> [(&'static str, f64); 9] {
        [
            ("log_lines", self.log_lines),
            ("log_bytes", self.log_bytes),
            ("emf_lines", self.emf_lines),
            ("emf_bytes", self.emf_bytes),
            ("xray_documents", self.xray_documents),
            ("xray_segments", self.xray_segments),
            ("xray_bytes", self.xray_bytes),
            ("otlp_spans", self.otlp_spans),
            ("otlp_wire_bytes", self.otlp_wire_bytes),
        ]
    }

    fn add(&mut self, other: &Counted, k: f64) {
        self.log_lines += k * other.log_lines;
        self.log_bytes += k * other.log_bytes;
        self.emf_lines += k * other.emf_lines;
        self.emf_bytes += k * other.emf_bytes;
        self.xray_documents += k * other.xray_documents;
        self.xray_segments += k * other.xray_segments;
        self.xray_bytes += k * other.xray_bytes;
        self.otlp_spans += k * other.otlp_spans;
        self.otlp_wire_bytes += k * other.otlp_wire_bytes;
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn same(what: &str, ours: &Counted, tools: &Value) -> anyhow::Result<()> {
    for (field, value) in ours.fields() {
        let reported = tools[field]
            .as_f64()
            .with_context(|| format!("{what}: no {field} in the report"))?;
        ensure!(
            close(value, reported),
            "{what}: {field} counted {value} from the captures, the tool reports {reported}"
        );
    }
    Ok(())
}

fn unhex(text: &str) -> anyhow::Result<Vec<u8>> {
    ensure!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).context("bad hex"))
        .collect()
}

/// Nodes of an X-Ray document: itself and every nested subsegment.
fn nodes(document: &Value) -> usize {
    1 + document["subsegments"]
        .as_array()
        .map_or(0, |children| children.iter().map(nodes).sum())
}

fn count(invocation: &Value, exports: &[Value]) -> anyhow::Result<Counted> {
    let request_id = invocation["request_id"].as_str().context("request_id")?;
    let root = invocation["trace_root"].as_str().context("trace_root")?;
    let mut counted = Counted::default();
    for line in invocation["lines"].as_array().context("lines")? {
        let text = line.as_str().context("a line is text")?;
        let parsed: Value = serde_json::from_str(text).with_context(|| format!("not JSON: {text}"))?;
        ensure!(
            parsed["requestId"] == request_id,
            "a line of another request: {text}"
        );
        // The functions run at INFO, Lambda's level too: nothing is below it.
        ensure!(
            !matches!(parsed["level"].as_str(), Some("DEBUG" | "TRACE")),
            "a DEBUG line at INFO: {text}"
        );
        if parsed["_aws"]["CloudWatchMetrics"].is_array() {
            counted.emf_lines += 1.0;
            counted.emf_bytes += text.len() as f64;
        } else {
            counted.log_lines += 1.0;
            counted.log_bytes += text.len() as f64;
        }
    }
    for datagram in invocation["datagrams"].as_array().context("datagrams")? {
        let text = datagram.as_str().context("a datagram is text")?;
        let (header, document) = text.split_once('\n').context("no header line")?;
        ensure!(header == r#"{"format": "json", "version": 1}"#, "header {header}");
        let parsed: Value = serde_json::from_str(document)?;
        ensure!(parsed["trace_id"] == root, "a document of another trace");
        counted.xray_documents += 1.0;
        counted.xray_segments += nodes(&parsed) as f64;
        counted.xray_bytes += document.len() as f64;
    }
    let hex_id = otel_trace_id_from_root(root);
    for share in invocation["otlp"].as_array().context("otlp")? {
        let index = share[0].as_u64().context("export index")? as usize;
        let claimed = share[1].as_u64().context("span count")? as usize;
        let export = &exports[index];
        let body = unhex(export["protobuf_hex"].as_str().context("protobuf_hex")?)?;
        let request = ExportTraceServiceRequest::decode(body.as_slice())?;
        let spans: Vec<_> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        let ours = spans
            .iter()
            .filter(|s| s.trace_id.iter().map(|b| format!("{b:02x}")).collect::<String>() == hex_id)
            .count();
        ensure!(
            ours == claimed,
            "export {index}: {ours} spans of the trace, the tool says {claimed}"
        );
        ensure!(export["spans"] == spans.len(), "export {index}: span total");
        let wire = export["wire_len"].as_f64().context("wire_len")?;
        counted.otlp_spans += ours as f64;
        counted.otlp_wire_bytes += wire * ours as f64 / spans.len() as f64;
    }
    Ok(counted)
}

#[test]
fn the_cost_tool_counts_exactly_what_the_functions_sent() -> anyhow::Result<()> {
    let json = std::env::temp_dir().join(format!("telemetry-cost-{}.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_telemetry-cost"))
        .args([
            "--routes",
            "home-activities",
            "--invocations",
            "2",
            "--billed-ms",
            "1",
            "--captures",
        ])
        .arg("--json")
        .arg(&json)
        .output()?;
    ensure!(
        output.status.success(),
        "telemetry-cost failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    let _ = std::fs::remove_file(&json);
    let route = &report["routes"]["home-activities"];
    let measurements = route["measurements"].as_object().context("measurements")?;
    ensure!(measurements.len() == 1, "one run: {:?}", measurements.keys());
    let measurement = measurements.values().next().context("a run")?;
    let capture = &measurement["capture"];
    let invocations = capture["invocations"].as_array().context("invocations")?;
    let exports = capture["exports"].as_array().context("exports")?;
    let ok_events = route["ok_events"].as_array().context("ok_events")?;
    let error_events = route["error_events"].as_array().context("error_events")?;
    // A cold start, then 2 rounds of each event, traced and untraced.
    ensure!(
        invocations.len() == 1 + 2 * 2 * (ok_events.len() + error_events.len()),
        "{} invocations",
        invocations.len()
    );

    // Per invocation: what was captured is what the tool counted; every request logged and
    // wrote its metrics line, and a traced one (only) reached X-Ray and the OTLP collector.
    let mut sums: BTreeMap<(String, bool), (f64, Counted)> = BTreeMap::new();
    for invocation in invocations {
        let counted = count(invocation, exports)?;
        let sampled = invocation["sampled"].as_bool().context("sampled")?;
        let event = invocation["event"].as_str().context("event")?.to_owned();
        ensure!(
            counted.log_lines >= 1.0 && counted.emf_lines == 1.0,
            "{event}: {counted:?}"
        );
        if sampled {
            ensure!(
                counted.xray_documents >= 1.0 && counted.otlp_spans >= 1.0,
                "{event}: {counted:?}"
            );
        } else {
            ensure!(
                counted.xray_documents == 0.0 && counted.otlp_spans == 0.0,
                "{event}: {counted:?}"
            );
        }
        if invocation["cold_start"] == true {
            same("the cold start", &counted, &measurement["cold_start"])?;
            continue;
        }
        let entry = sums.entry((event, sampled)).or_default();
        entry.0 += 1.0;
        entry.1.add(&counted, 1.0);
    }
    let categories = measurement["categories"].as_array().context("categories")?;
    ensure!(categories.len() == sums.len(), "categories: {categories:?}");
    for ((event, sampled), (n, total)) in &sums {
        let category = categories
            .iter()
            .find(|c| c["event"] == event.as_str() && c["sampled"] == *sampled)
            .with_context(|| format!("no category {event} sampled={sampled}"))?;
        ensure!(category["invocations"] == *n as u64, "{event}: invocations");
        let mut mean = Counted::default();
        mean.add(total, 1.0 / n);
        same(&format!("{event} sampled={sampled}"), &mean, &category["usage"])?;
    }

    // The average request: the mix of events (5 % errors by default), traced at the rule's
    // fraction, and its price with the report's own constants.
    let priced = &route["priced"][0];
    let error_share = report["options"]["error_share"].as_f64().context("error_share")?;
    let mix = |sampled: bool| {
        let mut out = Counted::default();
        let share = if error_events.is_empty() { 0.0 } else { error_share };
        for (events, weight) in [(ok_events, 1.0 - share), (error_events, share)] {
            for event in events {
                let (n, total) = sums[&(event.as_str().unwrap_or_default().to_owned(), sampled)];
                out.add(&total, weight / events.len() as f64 / n);
            }
        }
        out
    };
    let (traced, untraced) = (mix(true), mix(false));
    same("a traced request", &traced, &priced["traced"])?;
    same("an untraced request", &untraced, &priced["untraced"])?;
    let f = report["scenarios"][0]["sampled_fraction"]
        .as_f64()
        .context("fraction")?;
    ensure!(
        close(f, (5.0 + 0.1 * 95.0) / 100.0),
        "the rule at 100 req/s traces 14.5 %, not {f}"
    );
    let mut average = Counted::default();
    average.add(&traced, f);
    average.add(&untraced, 1.0 - f);
    same("the average request", &average, &priced["per_request"])?;

    let price = |name: &str| report["prices"][name].as_f64().with_context(|| name.to_owned());
    let usd = &priced["usd"];
    let ingested =
        average.log_bytes + average.emf_bytes + priced["platform_bytes"].as_f64().context("platform")?;
    let checks = [
        (
            "logs_ingestion",
            ingested * 1e6 / price("BYTES_PER_GB")? * price("CLOUDWATCH_LOGS_INGESTION_USD_PER_GB")?,
        ),
        ("xray_traces", f * price("XRAY_USD_PER_MILLION_TRACES_RECORDED")?),
        (
            "lambda_duration",
            1e6 * 0.001 * 128.0 / 1024.0 * price("LAMBDA_ARM64_USD_PER_GB_SECOND")?,
        ),
        ("lambda_requests", price("LAMBDA_USD_PER_MILLION_REQUESTS")?),
    ];
    for (field, expected) in checks {
        let reported = usd[field].as_f64().with_context(|| field.to_owned())?;
        ensure!(
            close(expected, reported),
            "{field}: expected ${expected}, the tool says ${reported}"
        );
    }
    Ok(())
}
