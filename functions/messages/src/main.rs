//! `messages`: GET /api/messages/{handle}.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::run_http(move |request| handler::messages(store.clone(), request)).await
}
