//! The OTLP/HTTP transport: one POST per export, gzip, a timeout per attempt.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{header, Request, StatusCode, Uri};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

use super::{encode_request, resource_attributes, RootParent};
use crate::{
    config::Config,
    http_client::{HttpClient, WrittenBody},
    model::SpanRecord,
};

/// How one export attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The collector took the spans.
    Delivered,
    /// Worth trying again (timeout, connection error, 5xx, 429, 408).
    Retry(String),
    /// Not worth trying again (any other 4xx, a bad endpoint).
    GiveUp(String),
}

/// Sends encoded spans to one OTLP endpoint.
pub(crate) struct Exporter {
    endpoint: Uri,
    headers: std::sync::Mutex<Vec<(header::HeaderName, header::HeaderValue)>>,
    /// One compressor, reset for each export: building deflate's tables anew costs
    /// more than compressing a batch.
    gzip: Option<std::sync::Mutex<Gzip>>,
    timeout: std::time::Duration,
    resource: Vec<KeyValue>,
    function_name: String,
    /// Built on first use, on the delivery thread: loading TLS roots is not init's business.
    client: std::sync::OnceLock<HttpClient>,
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
            gzip: config.otlp_gzip.then(|| std::sync::Mutex::new(Gzip::new())),
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

    /// Encodes spans as one protobuf `ExportTraceServiceRequest`.
    pub fn encode(&self, spans: &[SpanRecord]) -> Vec<u8> {
        encode_request(spans, &self.resource, &self.function_name, RootParent::Caller).encode_to_vec()
    }

    /// The request body for encoded requests (concatenated, they are one request).
    pub fn compress(&self, protobuf: Vec<u8>) -> Bytes {
        match &self.gzip {
            Some(gzip) => gzip
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .compress(&protobuf)
                .into(),
            None => protobuf.into(),
        }
    }

    /// One export attempt. `written` are told once hyper has taken the body to
    /// write (dropped unsent if the attempt fails before that).
    pub async fn send(&self, body: Bytes, written: Vec<tokio::sync::oneshot::Sender<()>>) -> Outcome {
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
        let request = match request.body(WrittenBody::new(body, written)) {
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
            // Read the body so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok::<_, Outcome>(status)
        };
        // Awake time, not wall time: an answer that came while Lambda kept the process
        // frozen is read on thaw, not taken for a timeout (which would send it twice).
        match crate::clock::awake_timeout(self.timeout, attempt).await {
            None => Outcome::Retry(format!("no answer within {:?}", self.timeout)),
            Some(Err(outcome)) => outcome,
            Some(Ok(status)) if status.is_success() => Outcome::Delivered,
            Some(Ok(status))
                if status.is_server_error()
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT =>
            {
                Outcome::Retry(format!("collector answered {status}"))
            }
            Some(Ok(status)) => Outcome::GiveUp(format!("collector refused the spans: {status}")),
        }
    }
}

/// A reusable gzip writer: raw deflate between the gzip header and trailer (RFC 1952).
struct Gzip {
    deflate: flate2::Compress,
}

impl Gzip {
    fn new() -> Self {
        Self {
            deflate: flate2::Compress::new(flate2::Compression::fast(), false),
        }
    }

    fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        self.deflate.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        out.extend_from_slice(&HEADER);
        loop {
            let consumed = self.deflate.total_in() as usize;
            out.reserve(1024);
            let status =
                self.deflate
                    .compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Finish);
            match status {
                Ok(flate2::Status::StreamEnd) => break,
                Ok(_) => continue,
                Err(_) => return data.to_vec(),
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_round_trips_and_the_compressor_is_reusable() {
        let mut gzip = Gzip::new();
        for text in [
            b"hello hello hello hello".to_vec(),
            vec![7u8; 100_000],
            Vec::new(),
        ] {
            let compressed = gzip.compress(&text);
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, text);
        }
    }
}
