//! Secrets the exports need (the Honeycomb key), read from SSM Parameter Store by the
//! delivery task while the first invocation runs: never on the init path, so a cold
//! start pays no network round trip for them (DESIGN.md, "Cold start").
//!
//! Arrows: a transport-level module (the AWS SDK's own HTTPS client); delivery uses it,
//! and `aws` builds user-facing clients from the same [`sdk_config`]. The read itself is
//! the crate's plumbing, not the function's work: it is not traced.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ssm::{error::SdkError, operation::get_parameter::GetParameterError};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_types::error::display::DisplayErrorContext;

/// Loads the AWS SDK config from the environment, with a rustls/ring HTTPS client
/// (the SDK's default would compile a second TLS stack into every function). In Lambda
/// the credentials are the environment's: no network call.
pub async fn sdk_config() -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
}

/// Why a secret could not be read (the secret itself is never in it).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SecretError {
    /// Worth trying again: a timeout, throttling, the service failing.
    #[error("{0}")]
    Transient(String),
    /// Not worth trying again: the parameter is missing, access is denied, no credentials.
    #[error("{0}")]
    Permanent(String),
}

/// How long one read may take before it counts as a transient failure.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads a SecureString (decrypted) from SSM Parameter Store.
pub(crate) async fn read_parameter(client: &aws_sdk_ssm::Client, name: &str) -> Result<String, SecretError> {
    let read = client.get_parameter().name(name).with_decryption(true).send();
    // Awake time: an answer that came while Lambda kept the process frozen is no timeout.
    let output = match crate::clock::awake_timeout(READ_TIMEOUT, read).await {
        None => {
            return Err(SecretError::Transient(format!(
                "no answer within {READ_TIMEOUT:?}"
            )))
        }
        Some(Err(error)) => return Err(classify(&error)),
        Some(Ok(output)) => output,
    };
    output
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| SecretError::Permanent(format!("parameter {name} has no value")))
}

/// Reads one parameter with a client built for the purpose.
pub(crate) async fn read_ssm_parameter(name: &str) -> Result<String, SecretError> {
    let client = aws_sdk_ssm::Client::new(&sdk_config().await);
    read_parameter(&client, name).await
}

/// A short reason (the service's code and message, never the raw response) and
/// whether trying again may help.
fn classify(error: &SdkError<GetParameterError>) -> SecretError {
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let meta = service.err().meta();
            let code = meta.code().unwrap_or("unknown error");
            let text = format!("{code} (HTTP {status}): {}", meta.message().unwrap_or_default());
            if status >= 500 || status == 429 || code.contains("Throttl") {
                SecretError::Transient(text)
            } else {
                SecretError::Permanent(text)
            }
        }
        _ => classify_other(error),
    }
}

fn classify_other(error: &SdkError<GetParameterError>) -> SecretError {
    let text = DisplayErrorContext(error).to_string();
    match error {
        SdkError::ConstructionFailure(_) => SecretError::Permanent(text),
        _ if text.contains("no credentials") || text.contains("failed to load credentials") => {
            SecretError::Permanent(text)
        }
        _ => SecretError::Transient(text),
    }
}
