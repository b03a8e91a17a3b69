//! Graceful shutdown: Lambda sends SIGTERM (and waits up to its shutdown limit) only
//! to a function with an extension, so telemetry registers an internal extension that
//! subscribes to no events (an internal extension may not take SHUTDOWN): one request
//! at init, then a `next` that is never answered and costs nothing per invocation.
//!
//! Two Extensions API requests, sent by the runtime's own client
//! (`lambda_runtime_api_client`) from a task on the function's runtime. Not the
//! `lambda-extension` crate: it runs an extension as a service over its own client and
//! event processors, which our builds ran on a thread with a tokio runtime of its own.
//! Together that was 0.25 MB of code, a thread and a second runtime: peak RSS +0.37 MiB
//! (measured, `scripts/bench`), for two requests.
//!
//! The runtime's first `next` waits for the registration: Lambda takes registrations
//! only in the Init phase, which that `next` ends.

use lambda_runtime_api_client::{body::Body, build_request, PooledClient};
use tokio::sync::oneshot;

/// The name the extension registers under (`Lambda-Extension-Name`).
const EXTENSION_NAME: &str = "cruddur-telemetry";
/// The id Lambda gives the extension, sent with its `next`.
const EXTENSION_ID_HEADER: &str = "Lambda-Extension-Identifier";

/// An extension registration under way (or none, outside Lambda).
pub(crate) struct Registration(Option<oneshot::Receiver<()>>);

/// Starts registering the internal extension, inside Lambda only (`runtime_api` is
/// `AWS_LAMBDA_RUNTIME_API`). Outside it nothing is registered and signals still work.
pub(crate) fn register_extension(runtime_api: Option<&str>) -> Registration {
    let Some(base) = runtime_api
        .and_then(|api| api.parse::<lambda_http::http::Uri>().ok())
        .filter(|uri| uri.authority().is_some())
    else {
        if let Some(api) = runtime_api {
            eprintln!("[telemetry] no extension registered (AWS_LAMBDA_RUNTIME_API {api:?} is no address): SIGTERM may not come");
        }
        return Registration(None);
    };
    let (registered, wait) = oneshot::channel();
    tokio::spawn(async move {
        let client = PooledClient::builder().with_endpoint(base).build();
        let id = register(&client).await;
        let _ = registered.send(());
        match id {
            Ok(id) => wait_for_events(&client, &id).await,
            Err(reason) => {
                eprintln!("[telemetry] no extension registered ({reason}): SIGTERM may not come")
            }
        }
    });
    Registration(Some(wait))
}

/// Registers for no events; the id Lambda gave, or why not.
async fn register(client: &PooledClient) -> Result<String, String> {
    let request = build_request()
        .method("POST")
        .uri("/2020-01-01/extension/register")
        .header("Lambda-Extension-Name", EXTENSION_NAME)
        .header("Content-Type", "application/json")
        .body(Body::from(r#"{"events":[]}"#))
        .map_err(|e| e.to_string())?;
    let response = client.call(request).await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the Extensions API answered {}", response.status()));
    }
    response
        .headers()
        .get(EXTENSION_ID_HEADER)
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| format!("the Extensions API gave no {EXTENSION_ID_HEADER}"))
}

/// Says the extension is ready (its `next`), and asks again if an event ever comes.
async fn wait_for_events(client: &PooledClient, id: &str) {
    loop {
        let request = build_request()
            .method("GET")
            .uri("/2020-01-01/extension/event/next")
            .header(EXTENSION_ID_HEADER, id)
            .body(Body::empty());
        let Ok(request) = request else { return };
        match client.call(request).await {
            Ok(response) if response.status().is_success() => {
                // Read to the end, so the connection can carry the next `next`.
                let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            }
            // The environment is going away (or the API refuses us): nothing left to say.
            Ok(_) | Err(_) => return,
        }
    }
}

impl Registration {
    /// Waits until the registration has been answered (or has failed).
    pub(crate) async fn finished(self) {
        if let Some(wait) = self.0 {
            let _ = wait.await;
        }
    }
}
