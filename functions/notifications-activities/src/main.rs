//! `notifications-activities`: GET /api/activities/notifications.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::run_http(move |request| handler::notifications_activities(store.clone(), request)).await
}
