//! `user-activities`: GET /api/activities/@{handle}.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler::user_activities).await
}
