//! `create-message`: POST /api/messages.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::run_http(move |request| handler::create_message(store.clone(), request)).await
}
