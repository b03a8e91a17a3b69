//! `create-message`: POST /api/messages.

mod handler;

fn main() -> Result<(), lambda_http::Error> {
    telemetry::block_on(async {
        // Made on the runtime, a PostgreSQL store starts connecting while init goes on.
        let store = store::from_env()?;
        telemetry::run_http_with(
            move |request| handler::create_message(store.clone(), request),
            api::fault_response,
        )
        .await
    })
}
