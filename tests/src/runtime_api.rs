//! A Lambda Runtime API (and Extensions API) emulator on 127.0.0.1.
//!
//! The function binary under test long-polls `next`; a test queues one event with
//! [`RuntimeApi::invoke`] and gets back what the function answered, with the
//! instants needed to measure how long Lambda would bill.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::http_util::{self, header, respond_json, ConnControl, Resp};
use crate::sync::Shared;
use crate::{epoch_millis, DEFAULT_TIMEOUT};

/// The account id the emulator puts in ARNs.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region the emulator puts in ARNs.
pub const REGION: &str = "us-east-1";
/// How far in the future `Lambda-Runtime-Deadline-Ms` lies when an event is handed out.
pub const INVOCATION_DEADLINE: Duration = Duration::from_secs(30);

/// How the function finished an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It posted to `/invocation/{id}/response`.
    Response,
    /// It posted to `/invocation/{id}/error`.
    Error,
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The `Lambda-Runtime-Aws-Request-Id` handed to the function.
    pub request_id: String,
    /// Whether the function answered with a response or an error.
    pub status: Outcome,
    /// The body it posted.
    pub body: Bytes,
    /// `Lambda-Runtime-Function-Error-Type` (header, or trailer for streamed responses).
    pub error_type: Option<String>,
    /// When the runtime's `next` returned this event.
    pub delivered_at: Instant,
    /// When the response or error had been read completely.
    pub answered_at: Instant,
}

impl Invocation {
    /// The body parsed as JSON; panics with the body in the message when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "invocation {} body is not JSON ({e}): {}",
                self.request_id,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// True when the function posted to `/error`.
    pub fn is_error(&self) -> bool {
        self.status == Outcome::Error
    }

    /// Time from handing out the event to receiving the answer.
    pub fn handler_duration(&self) -> Duration {
        self.answered_at.saturating_duration_since(self.delivered_at)
    }
}

/// A `POST /2018-06-01/runtime/init/error`.
#[derive(Debug, Clone)]
pub struct InitError {
    /// The body posted.
    pub body: Bytes,
    /// `Lambda-Runtime-Function-Error-Type`.
    pub error_type: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl InitError {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A `POST /2020-01-01/extension/{init|exit}/error`.
#[derive(Debug, Clone)]
pub struct ExtensionError {
    /// `init` or `exit`.
    pub phase: String,
    /// Name of the extension that posted it (empty when the identifier was unknown).
    pub extension_name: String,
    /// `Lambda-Extension-Function-Error-Type`.
    pub error_type: Option<String>,
    /// The body posted.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
}

/// A request the emulator does not implement (answered 404) or only acknowledges
/// (Logs/Telemetry API subscriptions, answered 200).
#[derive(Debug, Clone)]
pub struct OtherRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, lowercase names.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
}

/// An extension that called `POST /2020-01-01/extension/register`.
#[derive(Debug, Clone)]
pub struct RegisteredExtension {
    /// The `Lambda-Extension-Identifier` handed out.
    pub identifier: String,
    /// The `Lambda-Extension-Name` header.
    pub name: String,
    /// The body's `events` (e.g. `["INVOKE", "SHUTDOWN"]`).
    pub events: Vec<String>,
    /// When it registered.
    pub registered_at: Instant,
    /// Instant of every `GET /2020-01-01/extension/event/next` it made.
    pub next_calls: Vec<Instant>,
    /// For each invocation delivered to it as an INVOKE event: when its next `next`
    /// arrived (the moment it said it was done with that invocation).
    pub invocations_done: BTreeMap<String, Instant>,
}

impl RegisteredExtension {
    /// True when it subscribed to INVOKE events.
    pub fn wants_invoke(&self) -> bool {
        self.events.iter().any(|e| e == "INVOKE")
    }
}

struct Queued {
    request_id: String,
    event: Bytes,
    trace_header: Option<String>,
}

struct Answer {
    outcome: Outcome,
    body: Bytes,
    error_type: Option<String>,
    at: Instant,
}

#[derive(Default)]
struct InvocationRecord {
    delivered_at: Option<Instant>,
    answer: Option<Answer>,
}

struct ExtensionRecord {
    public: RegisteredExtension,
    queue: VecDeque<Value>,
    awaiting: Vec<String>,
    shutdown_delivered: bool,
}

struct State {
    function_name: String,
    queue: VecDeque<Queued>,
    invocations: HashMap<String, InvocationRecord>,
    polls: Vec<Instant>,
    init_errors: Vec<InitError>,
    extensions: Vec<ExtensionRecord>,
    extension_errors: Vec<ExtensionError>,
    others: Vec<OtherRequest>,
    shutdown_at: Option<Instant>,
}

impl State {
    fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}",
            self.function_name
        )
    }
}

/// The Lambda Runtime API emulator. Stops serving when dropped.
pub struct RuntimeApi {
    shared: Arc<Shared<State>>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Starts the emulator on 127.0.0.1 and a free port.
    ///
    /// Panics if no loopback port can be bound (a broken test machine).
    pub async fn start() -> RuntimeApi {
        let listener = http_util::bind_loopback()
            .await
            .expect("bind 127.0.0.1:0 for the Runtime API");
        let addr = listener
            .local_addr()
            .expect("local address of the Runtime API listener");
        let shared = Arc::new(Shared::new(State {
            function_name: "cruddur".to_owned(),
            queue: VecDeque::new(),
            invocations: HashMap::new(),
            polls: Vec::new(),
            init_errors: Vec::new(),
            extensions: Vec::new(),
            extension_errors: Vec::new(),
            others: Vec::new(),
            shutdown_at: None,
        }));
        let handler_state = shared.clone();
        let server = http_util::serve(listener, move |req, control| {
            let shared = handler_state.clone();
            async move { handle(shared, req, control).await }
        });
        RuntimeApi { shared, addr, server }
    }

    /// The socket address; `AWS_LAMBDA_RUNTIME_API` is `addr().to_string()` ("127.0.0.1:PORT").
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The function name used in `Lambda-Runtime-Invoked-Function-Arn` (default "cruddur";
    /// [`crate::function::FunctionProcess::spawn`] sets it to the binary's name).
    pub fn set_function_name(&self, name: &str) {
        self.shared.update(|s| s.function_name = name.to_owned());
    }

    /// The ARN handed to the function.
    pub fn function_arn(&self) -> String {
        self.shared.read(State::arn)
    }

    /// Queues one event without waiting; returns its request id. Pair with
    /// [`RuntimeApi::wait_for_answer`].
    pub fn enqueue(&self, event: Value, trace_header: Option<&str>) -> String {
        let request_id = uuid::Uuid::new_v4().to_string();
        let queued = Queued {
            request_id: request_id.clone(),
            event: Bytes::from(serde_json::to_vec(&event).expect("serialize event")),
            trace_header: trace_header.map(str::to_owned),
        };
        self.shared.update(|s| {
            s.invocations
                .insert(request_id.clone(), InvocationRecord::default());
            s.queue.push_back(queued);
        });
        request_id
    }

    /// Queues one event (with `Lambda-Runtime-Trace-Id: trace_header` when given) and waits
    /// up to 10 s for the function's response or error.
    pub async fn invoke(&self, event: Value, trace_header: Option<&str>) -> anyhow::Result<Invocation> {
        self.invoke_with_timeout(event, trace_header, DEFAULT_TIMEOUT)
            .await
    }

    /// [`RuntimeApi::invoke`] with another timeout.
    pub async fn invoke_with_timeout(
        &self,
        event: Value,
        trace_header: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Invocation> {
        let request_id = self.enqueue(event, trace_header);
        self.wait_for_answer(&request_id, timeout).await
    }

    /// Waits for the answer to a queued invocation. On timeout an event nobody took
    /// is withdrawn from the queue, so that a later runtime does not get it.
    pub async fn wait_for_answer(&self, request_id: &str, timeout: Duration) -> anyhow::Result<Invocation> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| {
                let record = s.invocations.get(request_id)?;
                let answer = record.answer.as_ref()?;
                Some(Invocation {
                    request_id: request_id.to_owned(),
                    status: answer.outcome,
                    body: answer.body.clone(),
                    error_type: answer.error_type.clone(),
                    delivered_at: record.delivered_at.unwrap_or(answer.at),
                    answered_at: answer.at,
                })
            })
            .await;
        if let Some(invocation) = found {
            return Ok(invocation);
        }
        let (known, delivered, polls) = self.shared.update(|s| {
            s.queue.retain(|q| q.request_id != request_id);
            let record = s.invocations.get(request_id);
            (
                record.is_some(),
                record.and_then(|r| r.delivered_at),
                s.polls.len(),
            )
        });
        if !known {
            bail!("invocation {request_id} was never queued on this Runtime API");
        }
        match delivered {
            None => Err(anyhow!(
                "invocation {request_id}: no runtime took the event within {timeout:?} \
                 ({polls} `next` polls so far; is the function running and pointed at {}?)",
                self.addr
            )),
            Some(at) => Err(anyhow!(
                "invocation {request_id}: delivered {:?} ago but no response or error arrived within {timeout:?}",
                at.elapsed()
            )),
        }
    }

    /// Waits (10 s) for the first runtime `next` request that came after the invocation was
    /// answered and returns its instant: `next_after(id) - invocation.answered_at` is the
    /// time Lambda would still bill after the response.
    pub async fn next_after(&self, request_id: &str) -> anyhow::Result<Instant> {
        let found = self
            .shared
            .wait_for(Some(DEFAULT_TIMEOUT), |s| {
                let Some(record) = s.invocations.get(request_id) else {
                    return Some(Err(anyhow!(
                        "invocation {request_id} was never queued on this Runtime API"
                    )));
                };
                let answered = record.answer.as_ref()?.at;
                s.polls.iter().copied().find(|&p| p >= answered).map(Ok)
            })
            .await;
        match found {
            Some(result) => result,
            None => {
                let answered = self
                    .shared
                    .read(|s| s.invocations.get(request_id).is_some_and(|r| r.answer.is_some()));
                if answered {
                    bail!(
                        "no runtime `next` poll arrived within {DEFAULT_TIMEOUT:?} after invocation {request_id} \
                         was answered"
                    )
                }
                bail!("invocation {request_id} was not answered within {DEFAULT_TIMEOUT:?}")
            }
        }
    }

    /// Waits (10 s) until the invocation is complete the way Lambda counts it: the runtime
    /// polled `next` again after answering, and so did every extension that got its INVOKE
    /// event. Returns the latest of those instants (the end of the billed duration).
    pub async fn completed_at(&self, request_id: &str) -> anyhow::Result<Instant> {
        let runtime_next = self.next_after(request_id).await?;
        let found = self
            .shared
            .wait_for(Some(DEFAULT_TIMEOUT), |s| {
                let mut latest = runtime_next;
                for extension in &s.extensions {
                    let pending = extension.awaiting.iter().any(|id| id == request_id)
                        || extension.queue.iter().any(|e| e["requestId"] == request_id);
                    if pending {
                        return None;
                    }
                    if let Some(done) = extension.public.invocations_done.get(request_id) {
                        latest = latest.max(*done);
                    }
                }
                Some(latest)
            })
            .await;
        found.ok_or_else(|| {
            anyhow!("an extension did not finish invocation {request_id} within {DEFAULT_TIMEOUT:?}")
        })
    }

    /// Waits (10 s) for the named extension's first `next` after it got the INVOKE event
    /// for `request_id`, i.e. the moment the extension was done with that invocation.
    pub async fn extension_next_after(
        &self,
        extension_name: &str,
        request_id: &str,
    ) -> anyhow::Result<Instant> {
        let found = self
            .shared
            .wait_for(Some(DEFAULT_TIMEOUT), |s| {
                s.extensions
                    .iter()
                    .filter(|e| e.public.name == extension_name)
                    .find_map(|e| e.public.invocations_done.get(request_id).copied())
            })
            .await;
        found.ok_or_else(|| {
            anyhow!(
                "extension {extension_name:?} made no `next` call after invocation {request_id} \
                 within {DEFAULT_TIMEOUT:?} (registered: {:?})",
                self.registered_extensions()
                    .iter()
                    .map(|e| e.name.clone())
                    .collect::<Vec<_>>()
            )
        })
    }

    /// Every extension that registered, in order.
    pub fn registered_extensions(&self) -> Vec<RegisteredExtension> {
        self.shared
            .read(|s| s.extensions.iter().map(|e| e.public.clone()).collect())
    }

    /// Every `POST /2018-06-01/runtime/init/error`.
    pub fn init_errors(&self) -> Vec<InitError> {
        self.shared.read(|s| s.init_errors.clone())
    }

    /// Every `POST /2020-01-01/extension/{init|exit}/error`.
    pub fn extension_errors(&self) -> Vec<ExtensionError> {
        self.shared.read(|s| s.extension_errors.clone())
    }

    /// Requests outside the implemented API (including Logs/Telemetry API subscriptions).
    pub fn other_requests(&self) -> Vec<OtherRequest> {
        self.shared.read(|s| s.others.clone())
    }

    /// How many runtime `next` requests have arrived.
    pub fn next_polls(&self) -> usize {
        self.shared.read(|s| s.polls.len())
    }

    /// The arrival instant of every runtime `next` request.
    pub fn next_poll_times(&self) -> Vec<Instant> {
        self.shared.read(|s| s.polls.clone())
    }

    /// Waits until at least `count` runtime `next` requests have arrived (e.g. count 1 = the
    /// function finished its init and is ready).
    pub async fn wait_for_next_poll(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| (s.polls.len() >= count).then_some(()))
            .await;
        found.ok_or_else(|| {
            anyhow!(
                "expected {count} runtime `next` polls within {timeout:?}, got {}",
                self.next_polls()
            )
        })
    }

    /// Starts the shutdown phase: every extension's pending or next `next` returns one
    /// SHUTDOWN event (reason "spindown", deadline now + 2 s); later `next` calls wait for
    /// ever. The runtime's `next` keeps waiting, as in Lambda; send the process SIGTERM
    /// yourself.
    pub fn shutdown(&self) {
        self.shared.update(|s| {
            s.shutdown_at.get_or_insert_with(Instant::now);
        });
    }

    /// When [`RuntimeApi::shutdown`] was first called.
    pub fn shutdown_at(&self) -> Option<Instant> {
        self.shared.read(|s| s.shutdown_at)
    }
}

async fn handle(shared: Arc<Shared<State>>, req: Request<Incoming>, _control: ConnControl) -> Resp {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let segments: Vec<String> = path.trim_matches('/').split('/').map(str::to_owned).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => runtime_next(&shared).await,
        ("POST", ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")]) => {
            let outcome = if *kind == "response" {
                Outcome::Response
            } else {
                Outcome::Error
            };
            runtime_answer(&shared, req, id, outcome).await
        }
        ("POST", ["2018-06-01", "runtime", "init", "error"]) => {
            let error_type = header(req.headers(), "lambda-runtime-function-error-type");
            let body = http_util::read_body(req.into_body()).await.bytes;
            shared.update(|s| {
                s.init_errors.push(InitError {
                    body,
                    error_type,
                    at: Instant::now(),
                })
            });
            respond_json(202, &[], &json!({"status": "OK"}))
        }
        ("POST", ["2020-01-01", "extension", "register"]) => extension_register(&shared, req).await,
        ("GET", ["2020-01-01", "extension", "event", "next"]) => extension_next(&shared, req).await,
        ("POST", ["2020-01-01", "extension", phase @ ("init" | "exit"), "error"]) => {
            let phase = (*phase).to_owned();
            let identifier = header(req.headers(), "lambda-extension-identifier").unwrap_or_default();
            let error_type = header(req.headers(), "lambda-extension-function-error-type");
            let body = http_util::read_body(req.into_body()).await.bytes;
            shared.update(|s| {
                let extension_name = s
                    .extensions
                    .iter()
                    .find(|e| e.public.identifier == identifier)
                    .map(|e| e.public.name.clone())
                    .unwrap_or_default();
                s.extension_errors.push(ExtensionError {
                    phase,
                    extension_name,
                    error_type,
                    body,
                    at: Instant::now(),
                });
            });
            respond_json(202, &[], &json!({"status": "OK"}))
        }
        (method, segments) => {
            let subscription =
                method == "PUT" && matches!(segments, ["2020-08-15", "logs"] | ["2022-07-01", "telemetry"]);
            let headers = http_util::header_map(req.headers());
            let full_path = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or(path.clone());
            let method = method.to_owned();
            let body = http_util::read_body(req.into_body()).await.bytes;
            shared.update(|s| {
                s.others.push(OtherRequest {
                    method,
                    path: full_path,
                    headers,
                    body,
                    at: Instant::now(),
                })
            });
            if subscription {
                http_util::respond(200, &[], "OK")
            } else {
                respond_json(
                    404,
                    &[],
                    &json!({"errorMessage": format!("not emulated: {path}"), "errorType": "NotFound"}),
                )
            }
        }
    }
}

async fn runtime_next(shared: &Shared<State>) -> Resp {
    let arrived = Instant::now();
    shared.update(|s| s.polls.push(arrived));
    let delivered = shared
        .wait_for(None, |s| {
            let queued = s.queue.pop_front()?;
            let now = Instant::now();
            let deadline_ms = epoch_millis() + INVOCATION_DEADLINE.as_millis() as u64;
            let arn = s.arn();
            s.invocations
                .entry(queued.request_id.clone())
                .or_default()
                .delivered_at = Some(now);
            let mut invoke = json!({
                "eventType": "INVOKE",
                "requestId": queued.request_id,
                "deadlineMs": deadline_ms,
                "invokedFunctionArn": arn,
            });
            if let Some(trace) = &queued.trace_header {
                invoke["tracing"] = json!({"type": "X-Amzn-Trace-Id", "value": trace});
            }
            for extension in s.extensions.iter_mut().filter(|e| e.public.wants_invoke()) {
                extension.queue.push_back(invoke.clone());
            }
            Some((queued, deadline_ms, arn))
        })
        .await;
    shared.notify();
    let Some((queued, deadline_ms, arn)) = delivered else {
        return respond_json(
            500,
            &[],
            &json!({"errorMessage": "emulator wait ended", "errorType": "Internal"}),
        );
    };
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("lambda-runtime-aws-request-id", queued.request_id.clone()),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", arn),
    ];
    if let Some(trace) = queued.trace_header {
        headers.push(("lambda-runtime-trace-id", trace));
    }
    http_util::respond(200, &headers, queued.event)
}

async fn runtime_answer(shared: &Shared<State>, req: Request<Incoming>, id: &str, outcome: Outcome) -> Resp {
    let header_type = header(req.headers(), "lambda-runtime-function-error-type");
    let body = http_util::read_body(req.into_body()).await;
    let at = Instant::now();
    let trailer_type = body
        .trailers
        .as_ref()
        .and_then(|t| header(t, "lambda-runtime-function-error-type"));
    let error_type = header_type.or(trailer_type);
    let result = shared.update(|s| match s.invocations.get_mut(id) {
        None => Err(("InvalidRequestID", format!("unknown request id {id}"))),
        Some(record) if record.answer.is_some() => Err((
            "InvalidStateTransition",
            format!("invocation {id} was already answered"),
        )),
        Some(record) => {
            record.answer = Some(Answer {
                outcome,
                body: body.bytes,
                error_type,
                at,
            });
            Ok(())
        }
    });
    match result {
        Ok(()) => respond_json(202, &[], &json!({"status": "OK"})),
        Err((error_type, message)) => respond_json(
            400,
            &[],
            &json!({"errorMessage": message, "errorType": error_type}),
        ),
    }
}

async fn extension_register(shared: &Shared<State>, req: Request<Incoming>) -> Resp {
    let name = header(req.headers(), "lambda-extension-name").unwrap_or_default();
    let wants_account =
        header(req.headers(), "lambda-extension-accept-feature").is_some_and(|v| v.contains("accountId"));
    let body = http_util::read_body(req.into_body()).await.bytes;
    let events: Vec<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("events").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let identifier = uuid::Uuid::new_v4().to_string();
    shared.update(|s| {
        s.extensions.push(ExtensionRecord {
            public: RegisteredExtension {
                identifier: identifier.clone(),
                name,
                events,
                registered_at: Instant::now(),
                next_calls: Vec::new(),
                invocations_done: BTreeMap::new(),
            },
            queue: VecDeque::new(),
            awaiting: Vec::new(),
            shutdown_delivered: false,
        });
    });
    let mut answer = json!({"functionName": "f", "functionVersion": "$LATEST", "handler": "bootstrap"});
    if wants_account {
        answer["accountId"] = json!(ACCOUNT_ID);
    }
    respond_json(200, &[("lambda-extension-identifier", identifier)], &answer)
}

async fn extension_next(shared: &Shared<State>, req: Request<Incoming>) -> Resp {
    let identifier = header(req.headers(), "lambda-extension-identifier").unwrap_or_default();
    let arrived = Instant::now();
    let known = shared.update(|s| {
        let Some(extension) = s
            .extensions
            .iter_mut()
            .find(|e| e.public.identifier == identifier)
        else {
            return false;
        };
        extension.public.next_calls.push(arrived);
        for request_id in extension.awaiting.drain(..) {
            extension
                .public
                .invocations_done
                .entry(request_id)
                .or_insert(arrived);
        }
        true
    });
    if !known {
        return respond_json(
            403,
            &[],
            &json!({"errorMessage": "unknown Lambda-Extension-Identifier", "errorType": "Extension.InvalidExtensionIdentifier"}),
        );
    }
    let event = shared
        .wait_for(None, |s| {
            let extension = s
                .extensions
                .iter_mut()
                .find(|e| e.public.identifier == identifier)?;
            if let Some(event) = extension.queue.pop_front() {
                if let Some(id) = event.get("requestId").and_then(Value::as_str) {
                    extension.awaiting.push(id.to_owned());
                }
                return Some(event);
            }
            if s.shutdown_at.is_none() || extension.shutdown_delivered {
                return None;
            }
            extension.shutdown_delivered = true;
            Some(json!({
                "eventType": "SHUTDOWN",
                "shutdownReason": "spindown",
                "deadlineMs": epoch_millis() + 2000,
            }))
        })
        .await
        .unwrap_or(Value::Null);
    shared.notify();
    respond_json(
        200,
        &[(
            "lambda-extension-event-identifier",
            uuid::Uuid::new_v4().to_string(),
        )],
        &event,
    )
}
