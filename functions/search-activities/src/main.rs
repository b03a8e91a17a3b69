//! `search-activities`: GET /api/activities/search?term=.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler::search_activities).await
}
