//! Rollbar's item API (`POST /api/1/item/`) standing in on 127.0.0.1, as strict as
//! Rollbar about what it accepts: the project token in `X-Rollbar-Access-Token`, and an
//! item that follows Rollbar's item schema (`{"data": {...}}` with `environment`, a
//! `body` of exactly one of `trace`, `trace_chain`, `message` or `crash_report`, frames
//! with a `filename`, an exception with a `class`, a known `level`, an integer
//! `timestamp`, a `uuid` of at most 36 characters, at most 512 KB in all).
//!
//! It is also stricter than Rollbar on one point, ours: an item must carry nothing of the
//! request but its method and URL (no headers, query, body, user IP), and no URL with a
//! query string.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::http_util::{self, header, respond_json, ConnControl, Resp};
use crate::sync::Shared;

/// The path Rollbar's item API takes items on.
pub const ITEM_PATH: &str = "/api/1/item/";
/// Rollbar's payload limit.
pub const MAX_ITEM_BYTES: usize = 512 * 1024;
const LEVELS: &[&str] = &["critical", "error", "warning", "info", "debug"];
/// Request keys an item must not carry.
const FORBIDDEN_REQUEST_KEYS: &[&str] = &[
    "headers",
    "GET",
    "POST",
    "query_string",
    "body",
    "user_ip",
    "params",
];

/// What happened to one POST.
#[derive(Debug, Clone)]
pub struct Received {
    /// The item, when it parsed as JSON.
    pub item: Option<Value>,
    /// Why it was refused, when it was.
    pub refused: Option<String>,
}

struct State {
    token: String,
    received: Vec<Received>,
}

/// The stand-in. Stops serving when dropped.
pub struct RollbarApi {
    shared: Arc<Shared<State>>,
    port: u16,
    server: JoinHandle<()>,
}

impl Drop for RollbarApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RollbarApi {
    /// Starts the stand-in, taking items with `token` only.
    pub async fn start(token: &str) -> RollbarApi {
        let listener = http_util::bind_loopback()
            .await
            .expect("bind 127.0.0.1:0 for Rollbar");
        let port = listener.local_addr().expect("Rollbar's local address").port();
        let shared = Arc::new(Shared::new(State {
            token: token.to_owned(),
            received: Vec::new(),
        }));
        let state = shared.clone();
        let server = http_util::serve(listener, move |req, control| {
            let shared = state.clone();
            async move { handle(shared, req, control).await }
        });
        RollbarApi { shared, port, server }
    }

    /// The item API's URL, the `ROLLBAR_ENDPOINT` value.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}{ITEM_PATH}", self.port)
    }

    /// Every POST, accepted or refused.
    pub fn received(&self) -> Vec<Received> {
        self.shared.read(|s| s.received.clone())
    }

    /// The accepted items' `data`.
    pub fn items(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r.refused.is_none())
            .filter_map(|r| r.item.map(|i| i["data"].clone()))
            .collect()
    }

    /// Fails, naming the reasons, if any POST was refused.
    pub fn ensure_all_accepted(&self) -> anyhow::Result<()> {
        let refused: Vec<String> = self.received().into_iter().filter_map(|r| r.refused).collect();
        anyhow::ensure!(refused.is_empty(), "Rollbar refused items: {refused:#?}");
        Ok(())
    }

    /// Waits until `n` items were accepted; returns their `data`.
    pub async fn wait_for_items(&self, n: usize, timeout: std::time::Duration) -> anyhow::Result<Vec<Value>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| {
                let accepted = s.received.iter().filter(|r| r.refused.is_none()).count();
                (accepted >= n).then_some(())
            })
            .await;
        self.ensure_all_accepted()?;
        anyhow::ensure!(
            found.is_some(),
            "expected {n} Rollbar items within {timeout:?}, got {}",
            self.items().len()
        );
        Ok(self.items())
    }
}

async fn handle(shared: Arc<Shared<State>>, req: Request<Incoming>, _control: ConnControl) -> Resp {
    if req.method() != hyper::Method::POST || req.uri().path() != ITEM_PATH {
        return respond_json(404, &[], &json!({"err": 1, "message": "not found"}));
    }
    let token = header(req.headers(), "x-rollbar-access-token");
    let content_type = header(req.headers(), "content-type").unwrap_or_default();
    let body = http_util::read_body(req.into_body()).await.bytes;
    let expected = shared.read(|s| s.token.clone());
    let (status, refused, item) = if token.as_deref() != Some(expected.as_str()) {
        (
            401,
            Some("missing or wrong X-Rollbar-Access-Token".to_owned()),
            None,
        )
    } else if !content_type.starts_with("application/json") {
        (400, Some(format!("content-type {content_type:?}")), None)
    } else if body.len() > MAX_ITEM_BYTES {
        (
            413,
            Some(format!("{} bytes, more than {MAX_ITEM_BYTES}", body.len())),
            None,
        )
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(item) => match validate(&item) {
                Ok(()) => (200, None, Some(item)),
                Err(reason) => (422, Some(reason), Some(item)),
            },
            Err(error) => (400, Some(format!("not JSON: {error}")), None),
        }
    };
    let uuid = item
        .as_ref()
        .and_then(|i| i["data"]["uuid"].as_str())
        .map(str::to_owned);
    shared.update(|s| {
        s.received.push(Received {
            item,
            refused: refused.clone(),
        })
    });
    match refused {
        None => respond_json(200, &[], &json!({"err": 0, "result": {"id": null, "uuid": uuid}})),
        Some(message) => respond_json(status, &[], &json!({"err": 1, "message": message})),
    }
}

/// Checks an item against Rollbar's item schema (and our rule on requests).
pub fn validate(item: &Value) -> Result<(), String> {
    let data = item
        .get("data")
        .and_then(Value::as_object)
        .ok_or("no `data` object")?;
    let text = |key: &str, max: usize| -> Result<(), String> {
        match data.get(key) {
            None => Ok(()),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(()),
            Some(other) => Err(format!(
                "`{key}` must be a string of 1 to {max} characters, not {other}"
            )),
        }
    };
    match data.get("environment") {
        Some(Value::String(env)) if !env.is_empty() && env.len() <= 255 => {}
        other => return Err(format!("`environment` is required (1-255 characters): {other:?}")),
    }
    text("uuid", 36)?;
    text("code_version", 40)?;
    text("platform", 255)?;
    text("language", 255)?;
    if let Some(level) = data.get("level") {
        if !level.as_str().is_some_and(|l| LEVELS.contains(&l)) {
            return Err(format!("`level` {level} is not one of {LEVELS:?}"));
        }
    }
    if let Some(timestamp) = data.get("timestamp") {
        if !timestamp.is_u64() {
            return Err(format!("`timestamp` must be an integer of seconds: {timestamp}"));
        }
    }
    let body = data
        .get("body")
        .and_then(Value::as_object)
        .ok_or("no `body` object")?;
    let kinds: Vec<&String> = body
        .keys()
        .filter(|k| ["trace", "trace_chain", "message", "crash_report"].contains(&k.as_str()))
        .collect();
    if kinds.len() != 1 {
        return Err(format!(
            "`body` needs exactly one of trace, trace_chain, message, crash_report: {kinds:?}"
        ));
    }
    match kinds[0].as_str() {
        "trace" => validate_trace(&body["trace"])?,
        "trace_chain" => {
            let chain = body["trace_chain"]
                .as_array()
                .filter(|c| !c.is_empty())
                .ok_or("`trace_chain` must be a non-empty array")?;
            chain.iter().try_for_each(validate_trace)?;
        }
        "message" => {
            body["message"]["body"]
                .as_str()
                .ok_or("`message.body` must be a string")?;
        }
        _ => {}
    }
    if let Some(request) = data.get("request") {
        let request = request.as_object().ok_or("`request` must be an object")?;
        if let Some(key) = FORBIDDEN_REQUEST_KEYS.iter().find(|k| request.contains_key(**k)) {
            return Err(format!("the item carries the request's `{key}`"));
        }
        if request
            .get("url")
            .and_then(Value::as_str)
            .is_some_and(|u| u.contains('?'))
        {
            return Err("the request's URL carries a query string".into());
        }
    }
    if data.contains_key("person") {
        return Err("the item names a person".into());
    }
    Ok(())
}

fn validate_trace(trace: &Value) -> Result<(), String> {
    let frames = trace
        .get("frames")
        .and_then(Value::as_array)
        .ok_or("a trace needs a `frames` array")?;
    for frame in frames {
        frame
            .get("filename")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a frame needs a `filename`: {frame}"))?;
        if let Some(line) = frame.get("lineno") {
            line.as_u64()
                .ok_or_else(|| format!("`lineno` must be an integer: {frame}"))?;
        }
    }
    let exception = trace
        .get("exception")
        .and_then(Value::as_object)
        .ok_or("a trace needs an `exception`")?;
    match exception.get("class") {
        Some(Value::String(class)) if !class.is_empty() => Ok(()),
        other => Err(format!("`exception.class` is required: {other:?}")),
    }
}
