//! `create-activity`: POST /api/activities.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler::create_activity).await
}
