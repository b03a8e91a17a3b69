//! `notifications-activities`: GET /api/activities/notifications.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler::notifications_activities).await
}
