//! `show-activity`: GET /api/activities/{activity_uuid}.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::run_http(move |request| handler::show_activity(store.clone(), request)).await
}
