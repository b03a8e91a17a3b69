//! The database password from AWS Secrets Manager, read as a traced SDK call (an `aws`
//! subsegment under the query that needed the connection).

use domain::StoreError;

/// The password in the secret `secret_id`: its text, or the `password` field of its JSON
/// (the shape of RDS-managed secrets).
#[cfg(feature = "secrets")]
pub(crate) async fn read_password(secret_id: &str) -> Result<String, StoreError> {
    use aws_sdk_secretsmanager::error::DisplayErrorContext;

    let sdk = telemetry::aws::sdk_config().await;
    let config = aws_sdk_secretsmanager::config::Builder::from(&sdk)
        .interceptor(telemetry::aws::TracingInterceptor)
        .build();
    let client = aws_sdk_secretsmanager::Client::from_conf(config);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot read the database password secret {secret_id}: {}",
                DisplayErrorContext(&e)
            ))
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| StoreError::Unavailable(format!("the secret {secret_id} has no text value")))?;
    Ok(password_from_secret(text))
}

/// Without the `secrets` feature, a configured secret cannot be read.
#[cfg(not(feature = "secrets"))]
pub(crate) async fn read_password(secret_id: &str) -> Result<String, StoreError> {
    Err(StoreError::Unavailable(format!(
        "DATABASE_PASSWORD_SECRET is {secret_id} but this build cannot read secrets (feature `secrets`)"
    )))
}

/// The secret's `password` field when it is a JSON object that has one, else its text.
#[cfg_attr(not(feature = "secrets"), allow(dead_code))]
fn password_from_secret(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|json| json.get("password")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_rds_managed_json() {
        assert_eq!(password_from_secret("hunter2"), "hunter2");
        assert_eq!(
            password_from_secret(r#"{"username":"cruddur","password":"hunter2"}"#),
            "hunter2"
        );
        assert_eq!(password_from_secret(r#"{"user":"x"}"#), r#"{"user":"x"}"#);
    }
}
