//! The OTLP/HTTP receiver: `POST /v1/traces` with a protobuf
//! `ExportTraceServiceRequest`, gzip'd when `Content-Encoding: gzip`, answered
//! `200` with an empty `ExportTraceServiceResponse`.

use std::convert::Infallible;
use std::io::Read as _;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::Arrival;

/// The path of trace exports.
pub const TRACES_PATH: &str = "/v1/traces";
/// Largest request body read, compressed or not.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Serves OTLP/HTTP on `listener` until `arrivals` closes.
pub async fn serve(listener: TcpListener, arrivals: mpsc::Sender<Arrival>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        if arrivals.is_closed() {
            return;
        }
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let arrivals = arrivals.clone();
                async move { Ok::<_, Infallible>(handle(request, &arrivals).await) }
            });
            // A client that hangs up mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, arrivals: &mpsc::Sender<Arrival>) -> Response<Full<Bytes>> {
    let (status, arrival) = match read_export(request).await {
        Ok(export) => (StatusCode::OK, Arrival::OtlpExport(export)),
        Err((status, reason)) => (status, Arrival::OtlpMalformed { reason }),
    };
    // The console stopping is the only way this fails: the answer no longer matters.
    let _ = arrivals.send(arrival).await;
    let mut response = if status == StatusCode::OK {
        let mut ok = Response::new(Full::new(Bytes::from(
            ExportTraceServiceResponse::default().encode_to_vec(),
        )));
        ok.headers_mut().insert(
            CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/x-protobuf"),
        );
        ok
    } else {
        Response::new(Full::new(Bytes::from(format!(
            "{}\n",
            status.canonical_reason().unwrap_or("error")
        ))))
    };
    *response.status_mut() = status;
    response
}

/// Reads one export, or says (with the status to answer) why it cannot.
async fn read_export(request: Request<Incoming>) -> Result<ExportTraceServiceRequest, (StatusCode, String)> {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    if path != TRACES_PATH {
        return Err((
            StatusCode::NOT_FOUND,
            format!("{method} {path}: only POST {TRACES_PATH} is served"),
        ));
    }
    if method != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} {path}: only POST is served"),
        ));
    }
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    if header(CONTENT_TYPE).is_some_and(|t| t.starts_with("application/json")) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "OTLP/JSON is not supported: export protobuf (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)".into(),
        ));
    }
    let gzip = match header(CONTENT_ENCODING).as_deref() {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content encoding {other:?} is not supported"),
            ))
        }
    };
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, format!("body not read: {e}")))?
        .to_bytes();
    let body = if gzip {
        gunzip(&body).map_err(|e| (StatusCode::BAD_REQUEST, e))?
    } else {
        body
    };
    ExportTraceServiceRequest::decode(body.as_ref()).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!(
                "body ({} bytes) is not an ExportTraceServiceRequest: {e}",
                body.len()
            ),
        )
    })
}

/// Decompresses a gzip body, at most [`MAX_BODY_BYTES`] of it.
fn gunzip(body: &[u8]) -> Result<Bytes, String> {
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(body)
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out);
    match read {
        Err(e) => Err(format!("body is not valid gzip: {e}")),
        Ok(n) if n > MAX_BODY_BYTES => Err(format!("body inflates past {MAX_BODY_BYTES} bytes")),
        Ok(_) => Ok(out.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn gzip_bodies_are_inflated_and_garbage_is_refused() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"hello").unwrap();
        assert_eq!(gunzip(&encoder.finish().unwrap()).unwrap(), "hello");
        assert!(gunzip(b"hello")
            .unwrap_err()
            .starts_with("body is not valid gzip"));
        assert!(ExportTraceServiceRequest::decode(&b"this is not protobuf"[..]).is_err());
    }
}
