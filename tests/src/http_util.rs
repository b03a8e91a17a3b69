//! A tiny hyper 1 HTTP/1.1 server shared by the Runtime API emulator and the OTLP collector.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// What every handler answers.
pub(crate) type Resp = Response<Full<Bytes>>;

/// Lets a handler close its connection without answering.
#[derive(Clone)]
pub(crate) struct ConnControl {
    kill: Arc<Notify>,
}

impl ConnControl {
    /// Closes the TCP connection as soon as possible; the handler should then never finish.
    pub(crate) fn drop_connection(&self) {
        self.kill.notify_one();
    }
}

/// Binds 127.0.0.1 on a free port.
pub(crate) async fn bind_loopback() -> anyhow::Result<TcpListener> {
    Ok(TcpListener::bind(("127.0.0.1", 0)).await?)
}

/// Serves HTTP/1.1 on `listener` until the returned task is aborted (which also
/// closes every open connection).
pub(crate) fn serve<H, Fut>(listener: TcpListener, handler: H) -> JoinHandle<()>
where
    H: Fn(Request<Incoming>, ConnControl) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            connections.spawn(async move {
                let control = ConnControl {
                    kill: Arc::new(Notify::new()),
                };
                let kill = control.kill.clone();
                let service = service_fn(move |req| {
                    let answer = handler(req, control.clone());
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = connection => {}
                    _ = kill.notified() => {}
                }
            });
        }
    })
}

/// A whole request body with its trailers.
pub(crate) struct ReadBody {
    pub(crate) bytes: Bytes,
    pub(crate) trailers: Option<HeaderMap>,
    pub(crate) error: Option<String>,
}

/// Reads the whole body; a broken body is reported, not fatal.
pub(crate) async fn read_body(body: Incoming) -> ReadBody {
    match body.collect().await {
        Ok(collected) => {
            let trailers = collected.trailers().cloned();
            ReadBody {
                bytes: collected.to_bytes(),
                trailers,
                error: None,
            }
        }
        Err(e) => ReadBody {
            bytes: Bytes::new(),
            trailers: None,
            error: Some(e.to_string()),
        },
    }
}

/// Header map as lowercase name -> value (repeated headers joined with ", ").
pub(crate) fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

/// One header's value as text.
pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Builds a response.
pub(crate) fn respond(status: u16, headers: &[(&str, String)], body: impl Into<Bytes>) -> Resp {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A JSON response.
pub(crate) fn respond_json(status: u16, extra: &[(&str, String)], body: &serde_json::Value) -> Resp {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    headers.extend(extra.iter().cloned());
    respond(status, &headers, body.to_string())
}
