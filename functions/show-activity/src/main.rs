//! `show-activity`: GET /api/activities/{uuid}.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler::show_activity).await
}
