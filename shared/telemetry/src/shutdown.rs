//! Graceful shutdown: Lambda sends SIGTERM (and waits up to its shutdown limit) only
//! to a function with an extension, so telemetry registers an internal extension that
//! subscribes to no events: one request at init and nothing per invocation.
//!
//! The registration runs on a thread of its own, started first, so that its round trip
//! to the Extensions API overlaps the rest of init (the delivery task, the `tracing`
//! subscriber) instead of following it. The runtime's first `next` still waits for it:
//! Lambda takes registrations only in the Init phase, which that `next` ends.

use tokio::sync::oneshot;

/// The name the extension registers under (`Lambda-Extension-Name`).
const EXTENSION_NAME: &str = "cruddur-telemetry";

/// An extension registration under way (or none, outside Lambda).
pub(crate) struct Registration(Option<oneshot::Receiver<()>>);

/// Starts registering the internal extension, inside Lambda only. Outside it (or where
/// the Extensions API is missing) nothing is registered and signals still work.
pub(crate) fn register_extension(in_lambda: bool) -> Registration {
    if !in_lambda {
        return Registration(None);
    }
    let (registered, wait) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("telemetry-extension".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!(
                        "[telemetry] no extension registered (no runtime: {error}): SIGTERM may not come"
                    );
                    return;
                }
            };
            runtime.block_on(async move {
                let extension = lambda_extension::Extension::new()
                    .with_events(&[])
                    .with_extension_name(EXTENSION_NAME)
                    .register()
                    .await;
                let _ = registered.send(());
                match extension {
                    // Its `next` says it is ready, then waits (for no event) until the end.
                    Ok(extension) => {
                        let _ = extension.run().await;
                    }
                    Err(error) => {
                        eprintln!("[telemetry] no extension registered ({error}): SIGTERM may not come")
                    }
                }
            });
        });
    match spawned {
        Ok(_) => Registration(Some(wait)),
        Err(error) => {
            eprintln!("[telemetry] no extension registered (no thread: {error}): SIGTERM may not come");
            Registration(None)
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
