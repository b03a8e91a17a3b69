//! The Rollbar transport: one POST per item to the item API, the token in a header.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{header, Request, StatusCode};
use tokio::sync::oneshot;

use crate::{
    answer_gate::AnswerGate,
    http_client::{Endpoint, WrittenBody},
};

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
    endpoint: Endpoint,
    /// Set once the token is known (from the environment at once, from SSM later).
    token: std::sync::Mutex<Option<header::HeaderValue>>,
    timeout: std::time::Duration,
}

impl Sender {
    /// A sender for `endpoint` (an http(s) URL), or `None` (said on stderr) if it is not
    /// one; its answers are read when `answers` lets them.
    pub fn new(endpoint: &str, timeout: std::time::Duration, answers: &Arc<AnswerGate>) -> Option<Self> {
        Some(Self {
            endpoint: Endpoint::parse(endpoint, "Rollbar", answers)?,
            token: std::sync::Mutex::new(None),
            timeout,
        })
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
        let request = Request::post(self.endpoint.uri().clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-rollbar-access-token", token)
            .body(WrittenBody::new(item, written));
        let request = match request {
            Ok(request) => request,
            Err(error) => return Outcome::GiveUp(format!("cannot build the request: {error}")),
        };
        match self.endpoint.exchange(request, self.timeout).await {
            Err(no_answer) => Outcome::Retry(no_answer.to_string()),
            Ok(answer) if answer.status.is_success() => Outcome::Delivered,
            Ok(answer)
                if answer.status.is_server_error() || answer.status == StatusCode::TOO_MANY_REQUESTS =>
            {
                Outcome::Retry(format!("Rollbar answered {}", answer.status))
            }
            Ok(answer) => Outcome::GiveUp(format!("Rollbar refused the item: {}", answer.status)),
        }
    }
}
