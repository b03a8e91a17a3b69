//! Everything Powertools' Logger, Tracer and Metrics do, from plain `tracing`
//! and the metrics API. Each path shows one thing (the black-box tests call them):
//!
//! - `/ok`: a traced piece of work with annotations and metadata;
//! - `/fail`: the handler returns an error (500, recorded as a fault);
//! - `/panic`: the handler panics (500; the next request is served);
//! - `/reject`: a 422 (recorded as a client error, not a failure);
//! - `/spawn`: a log line from a spawned task keeps the request's ids;
//! - `/debug`: a DEBUG line (shown at DEBUG level or in sampled invocations);
//! - `/debug-then-fail`: DEBUG lines, an INFO line, then a failure (log buffering writes
//!   the held DEBUG lines before the error line);
//! - `/metrics`: many metrics, dimensions, a high-resolution one, metadata, a single
//!   metric with its own dimensions, and a name the EMF documents reserve (refused).

use lambda_http::{http::StatusCode, Body, Request, Response};
use telemetry::{add_dimension, add_high_resolution_metric, add_metadata, add_metric, single_metric, Unit};

async fn handler(request: Request) -> Result<Response<Body>, String> {
    let text = |status: StatusCode, body: &str| {
        Response::builder()
            .status(status)
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    match request.uri().path().rsplit('/').next().unwrap_or_default() {
        "fail" => Err("database password is hunter2".into()),
        "panic" => panic!("index out of bounds: the len is 3 but the index is 7"),
        "reject" => {
            tracing::warn!(error.code = "message_blank", "request rejected");
            Ok(text(
                StatusCode::UNPROCESSABLE_ENTITY,
                r#"{"error":"message_blank"}"#,
            ))
        }
        "spawn" => {
            // Not `.in_current_span()`: the line still carries the request's ids.
            tokio::spawn(async { tracing::info!("from a spawned task") })
                .await
                .map_err(|e| e.to_string())?;
            Ok(text(StatusCode::OK, "spawned"))
        }
        "debug" => {
            tracing::debug!(detail = "verbose", "a debug line");
            Ok(text(StatusCode::OK, "debug"))
        }
        "debug-then-fail" => {
            for step in 1..=3 {
                tracing::debug!(step, "a debug line before the failure");
            }
            tracing::info!("an info line before the failure");
            Err("the work failed".into())
        }
        "metrics" => {
            for i in 0..150 {
                add_metric(&format!("Metric{i:03}"), Unit::Count, f64::from(i));
            }
            add_dimension("tenant", "acme");
            add_high_resolution_metric("QueueDepth", Unit::Count, 7.0);
            add_metadata("order_id", "o-123");
            single_metric("PaymentTaken", Unit::Count, 1.0, &[("provider", "stripe")]);
            // Would overwrite the documents' own `service` key: refused, with a WARN line.
            add_metric("service", Unit::Count, 1.0);
            Ok(text(StatusCode::OK, "metrics"))
        }
        _ => {
            let span = tracing::info_span!(
                "annotated-work",
                app.user_handle = "andrewbrown",
                app.result_length = 3,
                app.cache_hit = true,
                app.ratio = 0.5,
                "weird key/with spaces!" = "kept, renamed",
                app.long_text = "x".repeat(2_000).as_str(),
                app.details = ?vec![1, 2, 3],
            );
            let _entered = span.enter();
            Ok(text(StatusCode::OK, "ok"))
        }
    }
}

fn main() -> Result<(), lambda_http::Error> {
    telemetry::block_on(telemetry::run_http(handler))
}
