//! The OTLP/HTTP transport: one POST per export, gzip from 8 KiB, a timeout per attempt; for X-Ray's
//! OTLP endpoint, each request SigV4-signed (`crate::sigv4`) and held to the endpoint's limits.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{header, Request, StatusCode};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

use super::{encode_request, resource_attributes, RootParent};
use crate::{
    answer_gate::AnswerGate,
    config::Config,
    http_client::{Answer, Endpoint, WrittenBody},
    model::SpanRecord,
};

/// How one export attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The collector took the spans.
    Delivered,
    /// Worth trying again (timeout, connection error, 5xx, 429, 408).
    Retry(String),
    /// Not worth trying again (any other 4xx, a bad endpoint, no credentials to sign with).
    GiveUp(String),
}

/// What one export request may hold, for an endpoint that says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestLimits {
    /// Most spans in one request.
    pub max_spans: usize,
    /// Most bytes of protobuf in one request, before compression.
    pub max_bytes: usize,
    /// Largest span (encoded) the endpoint takes; larger ones are dropped and counted.
    pub max_span_bytes: usize,
}

/// X-Ray's OTLP endpoint: "Maximum uncompressed bytes / request: 5 MB", "Maximum events /
/// request: 10,000 spans", "Single span maximum size: 200 KB" (CloudWatch, "OTLP
/// endpoints", limits and restrictions). The byte limit is on the uncompressed payload
/// (the endpoint measures what it gunzips), so the protobuf before gzip is what counts;
/// MB and KB are read as the smaller, decimal, units.
#[cfg(feature = "xray-otlp")]
pub(crate) const XRAY_LIMITS: RequestLimits = RequestLimits {
    max_spans: 10_000,
    max_bytes: 5_000_000,
    max_span_bytes: 200_000,
};

/// Sends encoded spans to one OTLP endpoint.
pub(crate) struct Exporter {
    endpoint: Endpoint,
    headers: std::sync::Mutex<Vec<(header::HeaderName, header::HeaderValue)>>,
    /// Requests this large or larger are gzipped (see `OTLP_GZIP_FROM_BYTES_DEFAULT`);
    /// `None`: none is.
    gzip_from: Option<usize>,
    /// One compressor, reset for each export: building deflate's tables anew costs
    /// more than compressing a batch. Its state is made at the first request it gzips.
    gzip: std::sync::Mutex<Gzip>,
    timeout: std::time::Duration,
    resource: Vec<KeyValue>,
    function_name: String,
    /// Whose child the invocation span is, and so which backend's attributes it carries.
    root_parent: RootParent,
    /// The endpoint's limits on one request, if it has any we know of.
    limits: Option<RequestLimits>,
    /// Signs each request (X-Ray's endpoint).
    #[cfg(feature = "xray-otlp")]
    signer: Option<crate::sigv4::Signer>,
}

impl Exporter {
    /// An exporter for the configured OTLP endpoint (Honeycomb or any collector), or
    /// `None` when OTLP is off or the endpoint is unusable (said once on stderr; header
    /// values are never printed).
    pub fn new(config: &Config, answers: &Arc<AnswerGate>) -> Option<Self> {
        let endpoint = Endpoint::parse(config.otlp_endpoint.as_deref()?, "OTLP", answers)?;
        let headers = config
            .otlp_headers
            .iter()
            .filter_map(|(name, value)| parse_header(name, value))
            .collect();
        Some(Self {
            endpoint,
            headers: std::sync::Mutex::new(headers),
            gzip_from: config.otlp_gzip_from,
            gzip: std::sync::Mutex::new(Gzip::new()),
            timeout: config.otlp_timeout,
            resource: resource_attributes(config),
            function_name: config.function_name.clone(),
            root_parent: RootParent::Caller,
            limits: None,
            #[cfg(feature = "xray-otlp")]
            signer: None,
        })
    }

    /// An exporter for X-Ray's OTLP endpoint (`CRUDDUR_XRAY_OTLP_ENDPOINT`), or `None`
    /// when it is not set or unusable (said once on stderr): spans under Lambda's facade
    /// segment, X-Ray's attributes, gzip from the size OTLP's default starts at, every
    /// request signed, none of the OTLP headers (they may hold Honeycomb's key), the
    /// endpoint's limits.
    #[cfg(feature = "xray-otlp")]
    pub fn for_xray(config: &Config, answers: &Arc<AnswerGate>) -> Option<Self> {
        let endpoint = Endpoint::parse(config.xray_otlp_endpoint.as_deref()?, "X-Ray OTLP", answers)?;
        Some(Self {
            signer: Some(crate::sigv4::Signer::new(config, endpoint.uri(), "xray")),
            endpoint,
            headers: std::sync::Mutex::new(Vec::new()),
            gzip_from: Some(crate::config::OTLP_GZIP_FROM_BYTES_DEFAULT),
            gzip: std::sync::Mutex::new(Gzip::new()),
            timeout: config.otlp_timeout,
            resource: super::xray_resource_attributes(config),
            function_name: config.function_name.clone(),
            root_parent: RootParent::LambdaFacade,
            limits: Some(XRAY_LIMITS),
        })
    }

    /// The endpoint's limits on one request, if any.
    pub fn limits(&self) -> Option<RequestLimits> {
        self.limits
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

    /// Encodes spans as one protobuf `ExportTraceServiceRequest`, leaving out (and
    /// counting) spans larger than the endpoint takes.
    pub fn encode(&self, spans: &[SpanRecord]) -> (Vec<u8>, usize) {
        let mut request = encode_request(spans, &self.resource, &self.function_name, self.root_parent);
        let mut too_large = 0;
        if let Some(limits) = self.limits {
            for scope in request
                .resource_spans
                .iter_mut()
                .flat_map(|resource| &mut resource.scope_spans)
            {
                let before = scope.spans.len();
                scope
                    .spans
                    .retain(|span| span.encoded_len() <= limits.max_span_bytes);
                too_large += before - scope.spans.len();
            }
        }
        (request.encode_to_vec(), too_large)
    }

    /// The body size from which requests are gzipped (`None`: never).
    pub fn gzip_from(&self) -> Option<usize> {
        self.gzip_from
    }

    /// The request body for encoded requests (concatenated, they are one request):
    /// gzipped from `gzip_from` bytes up.
    pub fn compress(&self, protobuf: Vec<u8>) -> Bytes {
        match self.gzip_from {
            Some(from) if protobuf.len() >= from => self
                .gzip
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .compress(&protobuf)
                .into(),
            _ => protobuf.into(),
        }
    }

    /// One export attempt. `written` are told once hyper has taken the body to
    /// write (dropped unsent if the attempt fails before that).
    pub async fn send(&self, body: Bytes, written: Vec<tokio::sync::oneshot::Sender<()>>) -> Outcome {
        let gzipped = body.starts_with(&[0x1f, 0x8b]);
        let mut request = Request::post(self.endpoint.uri().clone())
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
        #[cfg_attr(not(feature = "xray-otlp"), allow(unused_mut))]
        let mut request = match request.body(WrittenBody::new(body.clone(), written)) {
            Ok(request) => request,
            Err(error) => return Outcome::GiveUp(format!("cannot build the request: {error}")),
        };
        // Signed now, as it goes: the hash of the body as sent (gzipped), a fresh date on
        // every attempt.
        #[cfg(feature = "xray-otlp")]
        if let Some(signer) = &self.signer {
            if let Err(reason) = signer.sign(&mut request, &body).await {
                return Outcome::GiveUp(reason);
            }
        }
        match self.endpoint.exchange(request, self.timeout).await {
            Err(no_answer) => Outcome::Retry(no_answer.to_string()),
            Ok(answer) if answer.status.is_success() => Outcome::Delivered,
            Ok(Answer {
                status, error_type, ..
            }) if status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT =>
            {
                Outcome::Retry(format!("the endpoint answered {status}{}", named(error_type)))
            }
            Ok(Answer {
                status, error_type, ..
            }) => Outcome::GiveUp(format!(
                "the endpoint refused the spans: {status}{}",
                named(error_type)
            )),
        }
    }
}

fn named(error_type: Option<String>) -> String {
    error_type.map(|t| format!(" ({t})")).unwrap_or_default()
}

/// A reusable gzip writer: raw deflate between the gzip header and trailer (RFC 1952).
struct Gzip {
    /// Made at the first export, on the delivery task: its tables (about 0.2 MiB, 0.1 ms
    /// to set up) are no part of init.
    deflate: Option<flate2::Compress>,
}

impl Gzip {
    fn new() -> Self {
        Self { deflate: None }
    }

    fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        let deflate = self
            .deflate
            .get_or_insert_with(|| flate2::Compress::new(flate2::Compression::fast(), false));
        deflate.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        out.extend_from_slice(&HEADER);
        loop {
            let consumed = deflate.total_in() as usize;
            out.reserve(1024);
            let status = deflate.compress_vec(&data[consumed..], &mut out, flate2::FlushCompress::Finish);
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
    use crate::config::OTLP_GZIP_FROM_BYTES_DEFAULT;
    use std::io::Read;

    fn exporter(compression: Option<&str>) -> Exporter {
        let config = Config::from_lookup(|name| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:4318".into()),
            "OTEL_EXPORTER_OTLP_COMPRESSION" => compression.map(str::to_owned),
            _ => None,
        });
        Exporter::new(&config, &AnswerGate::new()).unwrap()
    }

    fn is_gzip(body: &[u8]) -> bool {
        body.starts_with(&[0x1f, 0x8b])
    }

    #[test]
    fn requests_are_gzipped_from_8_kib_unless_told_always_or_never() {
        let small = vec![b'a'; OTLP_GZIP_FROM_BYTES_DEFAULT - 1];
        let large = vec![b'a'; OTLP_GZIP_FROM_BYTES_DEFAULT];
        let default = exporter(None);
        assert_eq!(default.compress(small.clone()), small);
        assert!(is_gzip(&default.compress(large.clone())));
        let always = exporter(Some("gzip"));
        assert!(is_gzip(&always.compress(b"tiny".to_vec())));
        let never = exporter(Some("none"));
        assert_eq!(never.compress(large.clone()), large);
    }

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
