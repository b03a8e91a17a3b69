//! `notifications-activities`: GET /api/activities/notifications.

mod handler;

fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::block_on(telemetry::run_http_with(
        move |request| handler::notifications_activities(store.clone(), request),
        api::fault_response,
    ))
}
