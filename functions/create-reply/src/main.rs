//! `create-reply`: POST /api/activities/{activity_uuid}/reply.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let store = store::from_env()?;
    telemetry::run_http(move |request| handler::create_reply(store.clone(), request)).await
}
