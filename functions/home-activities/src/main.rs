//! `home-activities`: GET /api/activities/home.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler::home_activities).await
}
