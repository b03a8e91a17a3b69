//! `home-activities`: GET /api/activities/home.

mod handler;

fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::block_on(telemetry::run_http_with(
        move |request| handler::home_activities(store.clone(), request),
        api::fault_response,
    ))
}
