//! A handler whose invocations overlap for real, for Lambda Managed Instances
//! (`AWS_LAMBDA_MAX_CONCURRENCY`): it waits (`?ms=50`, a stand-in for a store call),
//! then tells its story in every pillar, from inside a child span and from a spawned
//! task, so that a test can check that nothing crosses to another invocation.
//!
//! `GET /work?ms=50&n=7`:
//! - logs "overlapping work started" inside the child span `overlapping-work`, whose
//!   field `app.request_id` names the invocation's own request id, then sleeps `ms`
//!   milliseconds there;
//! - logs "overlapping work done" (with `app.request_id` and `request_number` = `n`);
//! - adds the metric `RequestNumber` = `n`;
//! - spawns a task that keeps the span (`.in_current_span()`) and logs "from a spawned
//!   task" (with the same fields);
//! - answers `{"n":7,"request_id":"…"}`.

use std::time::Duration;

use lambda_http::{Body, Request, RequestExt, Response};
use telemetry::{add_metric, Unit};
use tracing::Instrument;

async fn handler(request: Request) -> Result<Response<Body>, String> {
    let query = request.query_string_parameters();
    let ms: u64 = query.first("ms").and_then(|v| v.parse().ok()).unwrap_or(50);
    let n: u64 = query.first("n").and_then(|v| v.parse().ok()).unwrap_or(0);
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "overlapping-work",
        app.request_id = request_id.as_str(),
        app.request_number = n
    );
    async move {
        tracing::info!(
            app.request_id = request_id.as_str(),
            request_number = n,
            "overlapping work started"
        );
        tokio::time::sleep(Duration::from_millis(ms)).await;
        tracing::info!(
            app.request_id = request_id.as_str(),
            request_number = n,
            "overlapping work done"
        );
        add_metric("RequestNumber", Unit::Count, n as f64);
        let id = request_id.clone();
        tokio::spawn(
            async move {
                tracing::info!(
                    app.request_id = id.as_str(),
                    request_number = n,
                    "from a spawned task"
                );
            }
            .in_current_span(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Response::new(Body::from(format!(
            r#"{{"n":{n},"request_id":"{request_id}"}}"#
        ))))
    }
    .instrument(span)
    .await
}

// Several worker threads: on a Managed Instance with several vCPUs, overlapping
// invocations run on different threads, and their telemetry must not cross there either.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler).await
}
