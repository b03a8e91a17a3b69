//! `health-check`: GET /api/health-check.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler::health_check).await
}
