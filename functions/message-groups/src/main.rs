//! `message-groups`: GET /api/message_groups.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::run_http(move |request| handler::message_groups(store.clone(), request)).await
}
