//! Reading the secrets the exports need (the Honeycomb key, the Rollbar token) from SSM
//! on the delivery task, with a few retries.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use crate::secrets::{ParameterStore, SecretError};

/// Reads before giving up on transient failures (throttling, timeouts).
const MAX_READS: u32 = 4;
/// Wait before the second read; doubles after each.
const FIRST_RETRY_BACKOFF: Duration = Duration::from_millis(200);

type Read = Pin<Box<dyn Future<Output = Result<String, SecretError>> + Send>>;

/// Whose exports a secret is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// The OTLP collector's (the Honeycomb key, in `x-honeycomb-team`).
    Collector,
    /// Rollbar's (the access token).
    #[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
    Rollbar,
}

impl Target {
    /// How stderr names the secret.
    pub fn secret_name(self) -> &'static str {
        match self {
            Self::Collector => "the Honeycomb key",
            Self::Rollbar => "the Rollbar token",
        }
    }
}

/// One secret header's read: not started until the first invocation, then under way
/// (retried after transient failures) until it has a value or gives up.
pub(super) struct KeyRead {
    store: Arc<ParameterStore>,
    parameter: String,
    header: &'static str,
    target: Target,
    reads: u32,
    reading: Option<Read>,
}

impl KeyRead {
    pub fn new(store: Arc<ParameterStore>, parameter: String, header: &'static str, target: Target) -> Self {
        Self {
            store,
            parameter,
            header,
            target,
            reads: 0,
            reading: None,
        }
    }

    /// Whose exports wait for it.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The header the value goes in.
    pub fn header(&self) -> &'static str {
        self.header
    }

    /// The SSM parameter's name (not a secret).
    pub fn parameter(&self) -> &str {
        &self.parameter
    }

    /// Starts the first read (once).
    pub fn start(&mut self) {
        if self.reads == 0 && self.reading.is_none() {
            self.reading = Some(self.read(Duration::ZERO));
        }
    }

    fn read(&mut self, after: Duration) -> Read {
        self.reads += 1;
        let (store, parameter) = (self.store.clone(), self.parameter.clone());
        Box::pin(async move {
            tokio::time::sleep(after).await;
            store.read(&parameter).await
        })
    }

    /// The value once read, or why it cannot be; pending until then (and before `start`).
    pub async fn progress(&mut self) -> Result<String, SecretError> {
        loop {
            let Some(reading) = &mut self.reading else {
                return std::future::pending().await;
            };
            match reading.await {
                Err(SecretError::Transient(reason)) if self.reads < MAX_READS => {
                    eprintln!(
                        "[telemetry] reading SSM parameter {} failed (attempt {}), will retry: {reason}",
                        self.parameter, self.reads
                    );
                    let backoff = FIRST_RETRY_BACKOFF * 2u32.pow(self.reads - 1);
                    self.reading = Some(self.read(backoff));
                }
                result => {
                    self.reading = None;
                    return result;
                }
            }
        }
    }
}
