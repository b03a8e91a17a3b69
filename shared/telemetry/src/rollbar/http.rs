//! The Rollbar transport: one POST per item to the item API, the token in a header.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{header, Request, StatusCode, Uri};
use tokio::sync::oneshot;

use crate::http_client::{HttpClient, WrittenBody};

/// How one send ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Rollbar took the item.
    Delivered,
    /// Worth trying again (timeout, connection error, 5xx, 429).
    Retry(String),
    /// Not worth trying again (a refused token, an item Rollbar rejects).
    GiveUp(String),
}

/// Sends items to one Rollbar endpoint.
pub(crate) struct Sender {
    endpoint: Uri,
    /// Set once the token is known (from the environment at once, from SSM later).
    token: std::sync::Mutex<Option<header::HeaderValue>>,
    timeout: std::time::Duration,
    /// Built on first use, on the delivery thread.
    client: std::sync::OnceLock<HttpClient>,
}

impl Sender {
    /// A sender for `endpoint` (an http(s) URL), or `None` (said on stderr) if it is not one.
    pub fn new(endpoint: &str, timeout: std::time::Duration) -> Option<Self> {
        match endpoint.parse::<Uri>() {
            Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) => Some(Self {
                endpoint: uri,
                token: std::sync::Mutex::new(None),
                timeout,
                client: std::sync::OnceLock::new(),
            }),
            _ => {
                eprintln!("[telemetry] Rollbar disabled: endpoint {endpoint:?} is not an http(s) URL");
                None
            }
        }
    }

    /// Sets the access token (a secret: marked sensitive, never printed).
    pub fn set_token(&self, token: &str) {
        match header::HeaderValue::from_str(token.trim()) {
            Ok(mut value) => {
                value.set_sensitive(true);
                *self
                    .token
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
            }
            Err(_) => {
                eprintln!("[telemetry] the Rollbar token is not a valid header value: Rollbar disabled")
            }
        }
    }

    /// One send of one item; `written` are told once its bytes reached the kernel.
    pub async fn send(&self, item: Bytes, written: Vec<oneshot::Sender<()>>) -> Outcome {
        let token = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(token) = token else {
            return Outcome::GiveUp("no access token".into());
        };
        let request = Request::post(self.endpoint.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-rollbar-access-token", token)
            .body(WrittenBody::new(item, written));
        let request = match request {
            Ok(request) => request,
            Err(error) => return Outcome::GiveUp(format!("cannot build the request: {error}")),
        };
        let client = self
            .client
            .get_or_init(|| HttpClient::for_endpoint(&self.endpoint));
        let attempt = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| Outcome::Retry(format!("connection: {e}")))?;
            let status = response.status();
            let _ = response.into_body().collect().await;
            Ok::<_, Outcome>(status)
        };
        match crate::clock::awake_timeout(self.timeout, attempt).await {
            None => Outcome::Retry(format!("no answer within {:?}", self.timeout)),
            Some(Err(outcome)) => outcome,
            Some(Ok(status)) if status.is_success() => Outcome::Delivered,
            Some(Ok(status)) if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS => {
                Outcome::Retry(format!("Rollbar answered {status}"))
            }
            Some(Ok(status)) => Outcome::GiveUp(format!("Rollbar refused the item: {status}")),
        }
    }
}
