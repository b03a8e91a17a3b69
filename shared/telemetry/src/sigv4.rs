//! SigV4 for the AWS endpoints the delivery task calls itself: X-Ray's OTLP endpoint
//! (service `xray`) and SSM Parameter Store (`ssm`, the exports' secrets). Every request
//! is signed at send time by AWS's own signer (`aws-sigv4`) with AWS's credential types,
//! in the endpoint's region. The payload hash covers the body as sent (gzipped), and a
//! retry is signed anew (a signature is good for 15 minutes only).
//!
//! Credentials: the function's. In Lambda they are the environment's (the execution
//! role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, read by
//! `config` at init: no network call), and the session token goes with each request.
//! Without them (a local run with a profile, say) the AWS SDK's provider chain is asked
//! at the first export, on the delivery task, and again when what it gave is about to
//! expire. Nothing here prints a credential: errors name the cause, never a value.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use hyper::Uri;

use crate::config::{AwsCredentials, Config};

/// Credentials from the provider chain are renewed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// Signs requests for one endpoint.
pub(crate) struct Signer {
    /// The service signed for (`xray`, `ssm`).
    service: &'static str,
    region: String,
    /// The environment's credentials, or the last ones the provider chain gave.
    credentials: Mutex<Option<Credentials>>,
    /// Whether `credentials` came from the environment (they never expire in Lambda:
    /// the execution environment ends before its role session does).
    from_environment: bool,
    #[cfg(feature = "aws")]
    chain: tokio::sync::OnceCell<Option<aws_credential_types::provider::SharedCredentialsProvider>>,
}

impl Signer {
    /// A signer for `service` at `endpoint`, in the region its host names
    /// (`<service>.<region>.amazonaws.com`) or else the function's.
    pub fn new(config: &Config, endpoint: &Uri, service: &'static str) -> Self {
        let region = endpoint
            .host()
            .and_then(|host| region_of_host(host, service))
            .unwrap_or(&config.region)
            .to_owned();
        let credentials = config.aws_credentials.as_ref().map(credentials);
        Self {
            service,
            region,
            from_environment: credentials.is_some(),
            credentials: Mutex::new(credentials),
            #[cfg(feature = "aws")]
            chain: tokio::sync::OnceCell::new(),
        }
    }

    /// Adds the signature (`authorization`, `x-amz-date`, `x-amz-security-token`) to
    /// `request`, whose body is `body`. Fails (saying why, without secrets) when there are
    /// no credentials or the request cannot be signed.
    pub async fn sign<B>(&self, request: &mut hyper::Request<B>, body: &[u8]) -> Result<(), String> {
        let identity: Identity = self.credentials().await?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable =
            SignableRequest::new(request.method().as_str(), uri, headers, SignableBody::Bytes(body))
                .map_err(|e| format!("cannot sign the request: {e}"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        // Kept out of any debug output of the request.
        for name in ["authorization", "x-amz-security-token"] {
            if let Some(value) = request.headers_mut().get_mut(name) {
                value.set_sensitive(true);
            }
        }
        Ok(())
    }

    /// Credentials that are good for a while yet.
    async fn credentials(&self) -> Result<Credentials, String> {
        let cached = self
            .credentials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match cached {
            Some(credentials) if self.from_environment || !expires_soon(&credentials) => Ok(credentials),
            _ => {
                let fresh = self.ask_the_chain().await?;
                *self
                    .credentials
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
                Ok(fresh)
            }
        }
    }

    #[cfg(feature = "aws")]
    async fn ask_the_chain(&self) -> Result<Credentials, String> {
        use aws_credential_types::provider::ProvideCredentials;
        let chain = self
            .chain
            .get_or_init(|| async { crate::aws::sdk_config().await.credentials_provider() })
            .await
            .as_ref()
            .ok_or("no AWS credentials: none in the environment and no provider chain")?;
        chain
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials: {e}"))
    }

    #[cfg(not(feature = "aws"))]
    async fn ask_the_chain(&self) -> Result<Credentials, String> {
        Err("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into())
    }
}

fn credentials(from: &AwsCredentials) -> Credentials {
    Credentials::new(
        from.access_key_id(),
        from.secret_access_key(),
        from.session_token().map(str::to_owned),
        None,
        "environment",
    )
}

fn expires_soon(credentials: &Credentials) -> bool {
    credentials
        .expiry()
        .is_some_and(|expiry| expiry <= SystemTime::now() + EXPIRY_MARGIN)
}

/// The region in a `service` endpoint's host (`xray.us-east-1.amazonaws.com`,
/// `ssm.cn-north-1.amazonaws.com.cn`), if it is one.
fn region_of_host<'a>(host: &'a str, service: &str) -> Option<&'a str> {
    let rest = host.strip_prefix(service)?.strip_prefix('.')?;
    let (region, domain) = rest.split_once('.')?;
    (domain.starts_with("amazonaws.") && !region.is_empty()).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_lookup(|name| match name {
            "AWS_REGION" => Some("us-east-1".into()),
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            "AWS_SESSION_TOKEN" => Some("session".into()),
            _ => None,
        })
    }

    #[test]
    fn the_region_is_the_endpoints_or_the_functions() {
        assert_eq!(
            region_of_host("xray.eu-west-1.amazonaws.com", "xray"),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_host("ssm.cn-north-1.amazonaws.com.cn", "ssm"),
            Some("cn-north-1")
        );
        assert_eq!(region_of_host("ssm.eu-west-1.amazonaws.com", "xray"), None);
        assert_eq!(region_of_host("127.0.0.1", "xray"), None);
        assert_eq!(region_of_host("xray.example.com", "xray"), None);
        let endpoint: Uri = "http://127.0.0.1:4318/v1/traces".parse().unwrap();
        assert_eq!(Signer::new(&config(), &endpoint, "xray").region, "us-east-1");
    }

    #[tokio::test]
    async fn a_signed_request_carries_the_signature_date_and_session_token() {
        let endpoint: Uri = "https://xray.eu-west-1.amazonaws.com/v1/traces".parse().unwrap();
        let signer = Signer::new(&config(), &endpoint, "xray");
        let mut request = hyper::Request::post(endpoint)
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "gzip")
            .body(())
            .unwrap();
        signer.sign(&mut request, b"\x1f\x8bbody").await.unwrap();
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{authorization}"
        );
        assert!(
            authorization.contains("/eu-west-1/xray/aws4_request"),
            "{authorization}"
        );
        assert!(
            authorization
                .contains("SignedHeaders=content-encoding;content-type;host;x-amz-date;x-amz-security-token"),
            "{authorization}"
        );
        assert_eq!(request.headers()["x-amz-security-token"], "session");
        assert!(request.headers()["authorization"].is_sensitive());
        assert!(request.headers()["x-amz-security-token"].is_sensitive());
        assert!(request.headers().contains_key("x-amz-date"));
    }
}
