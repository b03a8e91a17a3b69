//! The OTLP/HTTP transport: one POST per export, gzip, a timeout per attempt.

use std::io::Write;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Request, StatusCode, Uri};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

use super::{encode_request, resource_attributes};
use crate::{config::Config, delivery::Outcome, span::SpanRecord};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Sends encoded spans to one OTLP endpoint.
pub(crate) struct Exporter {
    endpoint: Uri,
    headers: std::sync::Mutex<Vec<(header::HeaderName, header::HeaderValue)>>,
    gzip: bool,
    timeout: std::time::Duration,
    resource: Vec<KeyValue>,
    function_name: String,
    /// Built on first use, on the delivery thread: loading TLS roots is not init's business.
    client: std::sync::OnceLock<HttpsClient>,
}

impl Exporter {
    /// An exporter for the configured endpoint, or `None` when OTLP is off or the
    /// endpoint is unusable (said once on stderr; header values are never printed).
    pub fn new(config: &Config) -> Option<Self> {
        let endpoint = config.otlp_endpoint.as_deref()?;
        let endpoint: Uri = match endpoint.parse::<Uri>() {
            Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) => uri,
            _ => {
                eprintln!("[telemetry] OTLP disabled: endpoint {endpoint:?} is not an http(s) URL");
                return None;
            }
        };
        let headers = config
            .otlp_headers
            .iter()
            .filter_map(|(name, value)| parse_header(name, value))
            .collect();
        Some(Self {
            endpoint,
            headers: std::sync::Mutex::new(headers),
            gzip: config.otlp_gzip,
            timeout: config.otlp_timeout,
            resource: resource_attributes(config),
            function_name: config.function_name.clone(),
            client: std::sync::OnceLock::new(),
        })
    }

    /// Sets (or replaces) a header of every later export.
    pub fn set_header(&self, name: &str, value: &str) {
        if let Some((name, value)) = parse_header(name, value) {
            let mut headers = self
                .headers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            headers.retain(|(existing, _)| *existing != name);
            headers.push((name, value));
        }
    }

    /// Encodes (and compresses) spans into a request body.
    pub fn encode(&self, spans: &[SpanRecord]) -> Bytes {
        let body = encode_request(spans, &self.resource, &self.function_name).encode_to_vec();
        if !self.gzip {
            return body.into();
        }
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2), flate2::Compression::fast());
        match encoder.write_all(&body).and_then(|_| encoder.finish()) {
            Ok(compressed) => compressed.into(),
            Err(_) => body.into(),
        }
    }

    /// One export attempt.
    pub async fn send(&self, body: Bytes) -> Outcome {
        let gzipped = body.starts_with(&[0x1f, 0x8b]);
        let mut request = Request::post(self.endpoint.clone())
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header(
                header::USER_AGENT,
                concat!("cruddur-telemetry/", env!("CARGO_PKG_VERSION")),
            );
        if gzipped {
            request = request.header(header::CONTENT_ENCODING, "gzip");
        }
        for (name, value) in self
            .headers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            request = request.header(name, value);
        }
        let request = match request.body(Full::new(body)) {
            Ok(request) => request,
            Err(error) => return Outcome::GiveUp(format!("cannot build the request: {error}")),
        };
        let client = self.client.get_or_init(build_client);
        let attempt = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| Outcome::Retry(format!("connection: {e}")))?;
            let status = response.status();
            // Read the body so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok::<_, Outcome>(status)
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Err(_) => Outcome::Retry(format!("no answer within {:?}", self.timeout)),
            Ok(Err(outcome)) => outcome,
            Ok(Ok(status)) if status.is_success() => Outcome::Delivered,
            Ok(Ok(status))
                if status.is_server_error()
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT =>
            {
                Outcome::Retry(format!("collector answered {status}"))
            }
            Ok(Ok(status)) => Outcome::GiveUp(format!("collector refused the spans: {status}")),
        }
    }
}

/// A header marked sensitive (kept out of debug output); invalid ones are reported by name only.
fn parse_header(name: &str, value: &str) -> Option<(header::HeaderName, header::HeaderValue)> {
    match (
        header::HeaderName::try_from(name),
        header::HeaderValue::try_from(value),
    ) {
        (Ok(name), Ok(mut value)) => {
            value.set_sensitive(true);
            Some((name, value))
        }
        _ => {
            eprintln!("[telemetry] OTLP header {name:?} is not a valid HTTP header: ignored");
            None
        }
    }
}

fn build_client() -> HttpsClient {
    // The provider is named, not taken from the process default: the AWS SDK may
    // bring a second one, and rustls then refuses to guess.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .expect("ring supports the default protocol versions")
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}
