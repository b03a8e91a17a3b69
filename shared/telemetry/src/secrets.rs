//! Secrets the exports need (the Honeycomb key, the Rollbar token), read from SSM
//! Parameter Store by the delivery task while the first invocation runs: never on the
//! init path, so a cold start pays no network round trip for them (DESIGN.md, "Cold
//! start").
//!
//! Arrows: a transport over `http_client`, signed by `sigv4`; delivery uses it. The read
//! is the crate's plumbing, not the function's work: it is not traced.
//!
//! Why not `aws-sdk-ssm` here: its client, for this one call, put 0.55 MB of code and
//! 120 KB of relocated statics (a schema for every SSM error) into every function, and
//! the kernel maps most of a binary's code as it runs: peak RSS +0.46 MiB, measured
//! (`scripts/bench`, README "Where init and RSS go"). `GetParameter` is one POST in
//! the AWS JSON 1.1 protocol; AWS's own signer signs it, with the credentials the SDK's
//! provider chain gives where the environment has none. Functions that call SSM
//! themselves use the SDK (`aws::ssm_client`, traced).

use std::time::Duration;

use bytes::Bytes;
use hyper::{header, Request, StatusCode};

use crate::{
    config::Config,
    http_client::{Answer, Endpoint, WrittenBody},
    sigv4::Signer,
};

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

/// How long one read may take (time awake) before it counts as a transient failure.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The service SSM signs for, and the operation's target in the JSON 1.1 protocol.
const SERVICE: &str = "ssm";
const GET_PARAMETER: &str = "AmazonSSM.GetParameter";

/// SSM Parameter Store, as the delivery task reads it.
pub(crate) struct ParameterStore {
    endpoint: Endpoint,
    signer: Signer,
}

impl ParameterStore {
    /// The store at the configured endpoint (`None`, said on stderr, if it is no URL).
    ///
    /// Its answers are read as they come, not held for a response as the exports' are (its
    /// gate is never enabled): a secret is read once and the exports wait for it, so in a
    /// process never frozen (`cargo lambda watch`) the first invocation's spans go out as
    /// soon as it comes, not with the next invocation's.
    pub fn new(config: &Config) -> Option<Self> {
        let ungated = crate::answer_gate::AnswerGate::new();
        let endpoint = Endpoint::parse(&config.ssm_endpoint, "reading secrets from SSM", &ungated)?;
        let signer = Signer::new(config, endpoint.uri(), SERVICE);
        Some(Self { endpoint, signer })
    }

    /// Reads a SecureString (decrypted).
    pub async fn read(&self, name: &str) -> Result<String, SecretError> {
        let body = Bytes::from(
            serde_json::to_vec(&serde_json::json!({ "Name": name, "WithDecryption": true }))
                .map_err(|e| SecretError::Permanent(format!("cannot encode the request: {e}")))?,
        );
        let mut request = Request::post(self.endpoint.uri().clone())
            .header(header::CONTENT_TYPE, "application/x-amz-json-1.1")
            .header("x-amz-target", GET_PARAMETER)
            .header(
                header::USER_AGENT,
                concat!("cruddur-telemetry/", env!("CARGO_PKG_VERSION")),
            )
            .body(WrittenBody::new(body.clone(), Vec::new()))
            .map_err(|e| SecretError::Permanent(format!("cannot build the request: {e}")))?;
        self.signer
            .sign(&mut request, &body)
            .await
            .map_err(SecretError::Permanent)?;
        match self.endpoint.exchange(request, READ_TIMEOUT).await {
            Err(no_answer) => Err(SecretError::Transient(no_answer.to_string())),
            Ok(answer) if answer.status.is_success() => value_of(&answer.body, name),
            Ok(answer) => Err(refusal(&answer)),
        }
    }
}

/// The parameter's value in a `GetParameter` answer.
fn value_of(body: &[u8], name: &str) -> Result<String, SecretError> {
    let answer: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| SecretError::Transient(format!("SSM's answer is not JSON: {e}")))?;
    answer
        .pointer("/Parameter/Value")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| SecretError::Permanent(format!("parameter {name} has no value")))
}

/// A short reason for a refusal (the service's code and message, never the raw answer),
/// and whether trying again may help, as the SDK's retry classifier would say.
fn refusal(answer: &Answer) -> SecretError {
    let json: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(serde_json::Value::as_str)
    };
    // `com.amazonaws.ssm#ParameterNotFound` or `ParameterNotFound`, in the header or the body.
    let code = answer
        .error_type
        .as_deref()
        .or_else(|| field("__type"))
        .map(|code| code.rsplit('#').next().unwrap_or(code))
        .unwrap_or("unknown error");
    let message = field("message").or_else(|| field("Message")).unwrap_or_default();
    let status = answer.status;
    let text = format!("{code} (HTTP {}): {message}", status.as_u16());
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || code.contains("Throttl") {
        SecretError::Transient(text)
    } else {
        SecretError::Permanent(text)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn get_parameter_is_one_signed_json_post() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while !request.ends_with(b"true}") {
                let n = socket.read(&mut chunk).await.unwrap();
                assert!(n > 0, "request cut short: {}", String::from_utf8_lossy(&request));
                request.extend_from_slice(&chunk[..n]);
            }
            let body = r#"{"Parameter":{"Name":"/hc/key","Type":"SecureString","Value":"hcaik_2"}}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap().to_ascii_lowercase()
        });
        let config = Config::from_lookup(|name| match name {
            "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
            "AWS_REGION" => Some("eu-west-1".into()),
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI".into()),
            _ => None,
        });
        let store = ParameterStore::new(&config).unwrap();
        assert_eq!(store.read("/hc/key").await, Ok("hcaik_2".into()));
        let request = server.await.unwrap();
        assert!(request.starts_with("post / http/1.1\r\n"), "{request}");
        for expected in [
            "x-amz-target: amazonssm.getparameter\r\n",
            "content-type: application/x-amz-json-1.1\r\n",
            "authorization: aws4-hmac-sha256 credential=akidexample/",
            "/eu-west-1/ssm/aws4_request",
            r#"{"name":"/hc/key","withdecryption":true}"#,
        ] {
            assert!(request.contains(expected), "{expected:?} not in {request}");
        }
        // The operation is signed too: the request cannot be replayed as another.
        assert!(
            request.contains("signedheaders=content-type;host;x-amz-date;x-amz-target,"),
            "{request}"
        );
    }

    fn answer(status: u16, error_type: Option<&str>, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            error_type: error_type.map(str::to_owned),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn the_value_is_read_from_the_answer() {
        let body = r#"{"Parameter":{"Name":"/k","Type":"SecureString","Value":"hcaik_1","Version":1}}"#;
        assert_eq!(value_of(body.as_bytes(), "/k"), Ok("hcaik_1".into()));
        assert!(matches!(
            value_of(br#"{"Parameter":{"Name":"/k"}}"#, "/k"),
            Err(SecretError::Permanent(_))
        ));
        assert!(matches!(
            value_of(b"<html>", "/k"),
            Err(SecretError::Transient(_))
        ));
    }

    #[test]
    fn refusals_are_classified_like_the_sdks_retries() {
        let missing = refusal(&answer(
            400,
            None,
            r#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"no such parameter"}"#,
        ));
        assert_eq!(
            missing,
            SecretError::Permanent("ParameterNotFound (HTTP 400): no such parameter".into())
        );
        let throttled = refusal(&answer(
            400,
            Some("ThrottlingException"),
            r#"{"message":"slow down"}"#,
        ));
        assert!(matches!(throttled, SecretError::Transient(_)), "{throttled:?}");
        assert!(matches!(
            refusal(&answer(503, None, "")),
            SecretError::Transient(_)
        ));
        assert!(matches!(
            refusal(&answer(400, Some("AccessDeniedException"), "")),
            SecretError::Permanent(_)
        ));
    }
}
