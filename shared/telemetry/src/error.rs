//! Errors of telemetry set-up (delivery never raises: it counts and reports).

/// Why telemetry could not be initialised.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// Another `tracing` subscriber was installed first.
    #[error("a global tracing subscriber is already installed: {0}")]
    SubscriberAlreadySet(#[from] tracing::subscriber::SetGlobalDefaultError),
    /// `init` ran twice in one process.
    #[error("telemetry is already initialised")]
    AlreadyInitialised,
}
