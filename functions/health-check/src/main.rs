//! `health-check`: GET /api/health-check.

mod handler;

fn main() -> Result<(), lambda_http::Error> {
    telemetry::block_on(telemetry::run_http_with(
        handler::health_check,
        api::fault_response,
    ))
}
