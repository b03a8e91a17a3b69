//! Lambda Managed Instances run up to `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once in
//! one process. 64 invocations of a handler that waits 50 ms, with a concurrency of 8
//! (and the Runtime API acknowledging each response slowly): at least 8 are in flight at
//! once, and every span, log line and EMF line carries its own invocation's ids: none
//! crosses to another invocation, none is lost.
//!
//! The handler (`overlapping-invocations` example) names its request in a child span's
//! field, a log line, a task spawned with `.in_current_span()`, and a metric
//! (`RequestNumber`), so that a crossing shows exactly where it happened.
//!
//! Until the telemetry honours `AWS_LAMBDA_MAX_CONCURRENCY` (lambda_runtime's
//! `concurrency-tokio` feature) the runtime serves one invocation at a time, and this test
//! fails saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::bail;
use cruddur_tests::{
    all_subsegments, events::rest_api_event, otel_trace_id_from_root, trace_header, Behaviour, Outcome,
    ReceivedSpan, RuntimeApi, Stack,
};
use serde_json::{json, Value};

const INVOCATIONS: usize = 64;
const CONCURRENCY: u32 = 8;
/// How long each handler waits (a stand-in for a store call).
const HANDLER_MS: u64 = 50;
/// How long the Runtime API takes to acknowledge each response.
const ACK_DELAY: Duration = Duration::from_millis(20);
/// The invocation span and `overlapping-work`.
const SPANS_PER_INVOCATION: usize = 2;
/// How long to wait for everything to arrive.
const PATIENCE: Duration = Duration::from_secs(15);

/// One invocation, as sent.
struct Sent {
    n: usize,
    request_id: String,
    root: String,
    parent: String,
    trace_hex: String,
}

#[tokio::test]
async fn overlapping_invocations_each_keep_their_own_spans_logs_and_metrics() -> anyhow::Result<()> {
    let runtime = RuntimeApi::builder()
        .concurrency(CONCURRENCY)
        .ack_delay(ACK_DELAY)
        .start()
        .await;
    let stack =
        Stack::start_example_with_runtime(runtime, "overlapping-invocations", Behaviour::Healthy, &[])
            .await?;

    // All 64 queued at once: the runtime takes one per `next` poll it has open.
    let mut sent = Vec::new();
    for n in 0..INVOCATIONS {
        let (header, root, parent) = trace_header(true);
        let query = json!({"ms": HANDLER_MS.to_string(), "n": n.to_string()});
        let event = rest_api_event("GET", "/work", "/work", None, Some(query), None);
        let request_id = stack.runtime.enqueue(event, Some(&header));
        let trace_hex = otel_trace_id_from_root(&root);
        sent.push(Sent {
            n,
            request_id,
            root,
            parent,
            trace_hex,
        });
    }
    let mut problems = Vec::new();
    for invocation in &sent {
        let answer = stack
            .runtime
            .wait_for_answer(&invocation.request_id, PATIENCE)
            .await?;
        let expected = json!({"n": invocation.n, "request_id": invocation.request_id});
        let body: Option<Value> = (answer.status == Outcome::Response)
            .then(|| serde_json::from_str(answer.json()["body"].as_str().unwrap_or_default()).ok())
            .flatten();
        if body.as_ref() != Some(&expected) {
            problems.push(format!(
                "invocation {} answered {:?} {} (expected {expected})",
                invocation.n,
                answer.status,
                answer.text()
            ));
        }
    }

    // Overlap, for real.
    let in_flight = stack.runtime.max_in_flight();
    if in_flight < CONCURRENCY as usize {
        let hints: Vec<String> = stack
            .function
            .stderr_lines()
            .into_iter()
            .chain(stack.function.stdout_lines())
            .filter(|l| l.contains("CONCURRENCY") || l.contains("concurren") || l.contains("sequential"))
            .take(3)
            .collect();
        problems.push(format!(
            "overlap did not happen: at most {in_flight} of {INVOCATIONS} invocations were in flight at \
             once with AWS_LAMBDA_MAX_CONCURRENCY={CONCURRENCY} (each handler waits {HANDLER_MS} ms; a \
             runtime that honours the variable keeps {CONCURRENCY} `next` polls open); the function \
             said: {hints:?}"
        ));
    }

    // Everything out: the EMF line of each (written after its response), then the spans and
    // documents. Nothing arriving in time is reported as lost below, not failed on here.
    let all_emf_out = || {
        let logs = stack.function.json_logs();
        sent.iter().all(|invocation| {
            logs.iter()
                .any(|l| l.get("_aws").is_some() && l["requestId"] == invocation.request_id.as_str())
        })
    };
    let _ = tokio::time::timeout(PATIENCE, async {
        while !all_emf_out() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    stack.xray.ensure_valid()?;
    let expected_spans = INVOCATIONS * SPANS_PER_INVOCATION;
    let spans = match stack.otlp.wait_for_spans(expected_spans, PATIENCE).await {
        Ok(spans) => spans,
        Err(_) => stack.otlp.spans(),
    };
    let documents = match stack.xray.wait_for_documents(INVOCATIONS, PATIENCE).await {
        Ok(documents) => documents,
        Err(error) => {
            stack.xray.ensure_valid()?;
            problems.push(format!("X-Ray: {error}"));
            stack.xray.documents()
        }
    };
    if let Err(error) = stack.otlp.ensure_traces_complete(&[]) {
        problems.push(format!("OTLP: {error}"));
    }

    let by_request: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.request_id.as_str(), s)).collect();
    let by_trace: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.trace_hex.as_str(), s)).collect();
    let by_root: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.root.as_str(), s)).collect();
    problems.extend(check_spans(&spans, &sent, &by_request, &by_trace));
    problems.extend(check_documents(&documents, &sent, &by_request, &by_root));
    problems.extend(check_logs(&stack.function.json_logs(), &sent, &by_request));

    if !problems.is_empty() {
        let shown: Vec<&String> = problems.iter().take(40).collect();
        bail!(
            "{} problem(s) with {INVOCATIONS} overlapping invocations{}:\n  - {}",
            problems.len(),
            if problems.len() > shown.len() {
                " (first 40)"
            } else {
                ""
            },
            shown
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join("\n  - ")
        );
    }
    Ok(())
}

/// Each invocation's trace has its invocation span (naming its request id) and its
/// `overlapping-work` span (naming the same), under it; no span lies elsewhere.
fn check_spans(
    spans: &[ReceivedSpan],
    sent: &[Sent],
    by_request: &BTreeMap<&str, &Sent>,
    by_trace: &BTreeMap<&str, &Sent>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for span in spans {
        let Some(owner) = by_trace.get(span.trace_id_hex.as_str()) else {
            problems.push(format!(
                "span {:?} has trace id {}, which is no invocation's",
                span.name, span.trace_id_hex
            ));
            continue;
        };
        for key in ["faas.invocation_id", "app.request_id"] {
            if let Some(named) = span.str_attr(key) {
                if named != owner.request_id {
                    let other = by_request
                        .get(named)
                        .map_or("none".to_owned(), |s| s.n.to_string());
                    problems.push(format!(
                        "span {:?} in invocation {}'s trace has {key}={named} (invocation {other}'s): crossed",
                        span.name, owner.n
                    ));
                }
            }
        }
    }
    for invocation in sent {
        let own: Vec<&ReceivedSpan> = spans
            .iter()
            .filter(|s| s.trace_id_hex == invocation.trace_hex)
            .collect();
        let server = own.iter().find(|s| s.kind == 2);
        let work = own.iter().find(|s| s.name == "overlapping-work");
        match (server, work) {
            (Some(server), Some(work)) => {
                if server.str_attr("faas.invocation_id") != Some(invocation.request_id.as_str()) {
                    problems.push(format!(
                        "invocation {}: its span has faas.invocation_id {:?}",
                        invocation.n,
                        server.str_attr("faas.invocation_id")
                    ));
                }
                if work.parent_span_id_hex != server.span_id_hex {
                    problems.push(format!(
                        "invocation {}: `overlapping-work` is not under its invocation span",
                        invocation.n
                    ));
                }
                if work.int_attr("app.request_number") != Some(invocation.n as i64) {
                    problems.push(format!(
                        "invocation {}: `overlapping-work` has app.request_number {:?}",
                        invocation.n,
                        work.int_attr("app.request_number")
                    ));
                }
            }
            _ => problems.push(format!(
                "invocation {}: spans lost: {} of {SPANS_PER_INVOCATION} arrived ({:?})",
                invocation.n,
                own.len(),
                own.iter().map(|s| s.name.as_str()).collect::<Vec<_>>()
            )),
        }
        if own.len() > SPANS_PER_INVOCATION {
            problems.push(format!(
                "invocation {}: {} spans in its trace, expected {SPANS_PER_INVOCATION}",
                invocation.n,
                own.len()
            ));
        }
    }
    problems
}

/// Each invocation has one X-Ray document, under its own Lambda segment, whose
/// `overlapping-work` subsegment names its request.
fn check_documents(
    documents: &[Value],
    sent: &[Sent],
    by_request: &BTreeMap<&str, &Sent>,
    by_root: &BTreeMap<&str, &Sent>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for document in documents {
        let trace = document["trace_id"].as_str().unwrap_or_default();
        let Some(owner) = by_root.get(trace) else {
            problems.push(format!(
                "X-Ray document of trace {trace}, which is no invocation's"
            ));
            continue;
        };
        *seen.entry(owner.request_id.as_str()).or_default() += 1;
        if document["parent_id"] != owner.parent.as_str() {
            problems.push(format!(
                "invocation {}: its X-Ray document hangs under {} instead of its own Lambda segment {}",
                owner.n, document["parent_id"], owner.parent
            ));
        }
        for sub in all_subsegments(document) {
            let Some(named) = sub["annotations"]["app_request_id"].as_str() else {
                continue;
            };
            if named != owner.request_id {
                let other = by_request
                    .get(named)
                    .map_or("none".to_owned(), |s| s.n.to_string());
                problems.push(format!(
                    "X-Ray: subsegment {} in invocation {}'s trace names invocation {other}: crossed",
                    sub["name"], owner.n
                ));
            }
        }
        let work = all_subsegments(document).into_iter().any(|s| {
            s["name"] == "overlapping-work" && s["annotations"]["app_request_id"] == owner.request_id.as_str()
        });
        if !work {
            problems.push(format!(
                "invocation {}: no `overlapping-work` subsegment naming its request in its X-Ray document",
                owner.n
            ));
        }
    }
    for invocation in sent {
        match seen.get(invocation.request_id.as_str()) {
            None => problems.push(format!(
                "invocation {}: its X-Ray document was lost",
                invocation.n
            )),
            Some(1) => {}
            Some(count) => problems.push(format!("invocation {}: {count} X-Ray documents", invocation.n)),
        }
    }
    problems
}

/// Each invocation's log lines and its one EMF line carry its own request id, trace ids and
/// number; a line naming one request under another's ids has crossed.
fn check_logs(lines: &[Value], sent: &[Sent], by_request: &BTreeMap<&str, &Sent>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut messages: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut emf: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for line in lines {
        let request = line["requestId"].as_str();
        let named = line["app.request_id"].as_str();
        let Some(owner) = request.and_then(|r| by_request.get(r)) else {
            if let Some(named) = named {
                let n = by_request.get(named).map_or("?".to_owned(), |s| s.n.to_string());
                problems.push(format!(
                    "a line of invocation {n} ({:?}) carries requestId {:?}: its ids were lost",
                    line["message"], line["requestId"]
                ));
            }
            continue;
        };
        if line["xray_trace_id"] != owner.root.as_str() {
            problems.push(format!(
                "invocation {}: line {:?} carries xray_trace_id {} (not its own {})",
                owner.n,
                line["message"].as_str().unwrap_or("EMF"),
                line["xray_trace_id"],
                owner.root
            ));
        }
        if line.get("_aws").is_some() {
            emf.entry(owner.request_id.as_str()).or_default().push(line);
            continue;
        }
        if line.get("trace_id").is_some() && line["trace_id"] != owner.trace_hex.as_str() {
            problems.push(format!(
                "invocation {}: line {:?} carries trace_id {} (not its own)",
                owner.n, line["message"], line["trace_id"]
            ));
        }
        if let Some(named) = named {
            if named != owner.request_id {
                let other = by_request.get(named).map_or("?".to_owned(), |s| s.n.to_string());
                problems.push(format!(
                    "invocation {other}'s line {:?} carries invocation {}'s requestId: crossed",
                    line["message"], owner.n
                ));
            }
            if line["request_number"] != owner.n {
                problems.push(format!(
                    "invocation {}: line {:?} has request_number {}",
                    owner.n, line["message"], line["request_number"]
                ));
            }
        }
        if let Some(message) = line["message"].as_str() {
            messages
                .entry(owner.request_id.as_str())
                .or_default()
                .insert(message.to_owned());
        }
    }
    for invocation in sent {
        let seen = messages.get(invocation.request_id.as_str());
        for message in ["overlapping work done", "from a spawned task"] {
            if !seen.is_some_and(|m| m.contains(message)) {
                problems.push(format!(
                    "invocation {}: its line {message:?} was lost (or carries another request id)",
                    invocation.n
                ));
            }
        }
        // Two EMF documents each: the built-in metrics, and the route's own (its RequestNumber).
        let lines = emf
            .get(invocation.request_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let builtin = lines.iter().filter(|l| l.get("Requests").is_some()).count();
        if builtin != 1 {
            problems.push(format!(
                "invocation {}: {builtin} EMF lines with the built-in metrics, expected one",
                invocation.n
            ));
        }
        let own: Vec<&&Value> = lines
            .iter()
            .filter(|l| l.get("RequestNumber").is_some())
            .collect();
        match own.as_slice() {
            [] => problems.push(format!("invocation {}: its EMF line was lost", invocation.n)),
            [line] => {
                if line["RequestNumber"].as_f64() != Some(invocation.n as f64) {
                    problems.push(format!(
                        "invocation {}: its EMF line has RequestNumber {}: metrics crossed",
                        invocation.n, line["RequestNumber"]
                    ));
                }
            }
            lines => problems.push(format!(
                "invocation {}: {} EMF lines with its metric, expected one",
                invocation.n,
                lines.len()
            )),
        }
    }
    problems
}
