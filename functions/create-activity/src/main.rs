//! `create-activity`: POST /api/activities.

mod handler;

fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::block_on(telemetry::run_http_with(
        move |request| handler::create_activity(store.clone(), request),
        api::fault_response,
    ))
}
