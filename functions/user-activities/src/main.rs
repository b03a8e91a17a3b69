//! `user-activities`: GET /api/users/{handle}/activities.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::run_http(move |request| handler::user_activities(store.clone(), request)).await
}
