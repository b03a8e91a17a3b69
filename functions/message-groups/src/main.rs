//! `message-groups`: GET /api/message_groups.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::run_http(handler::message_groups).await
}
