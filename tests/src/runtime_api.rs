//! A Lambda Runtime API (and Extensions API) emulator on 127.0.0.1, as strict as Lambda.
//!
//! The function binary under test long-polls `next`; a test queues one event with
//! [`RuntimeApi::invoke`] and gets back what the function answered, with the
//! instants needed to measure how long Lambda would bill.
//!
//! Like Lambda (on-demand, the default) the emulator:
//! - freezes the function process (SIGSTOP) once the runtime, and every extension
//!   subscribed to INVOKE, has asked for the next event and none is queued, and thaws it
//!   (SIGCONT) right before handing out the next event or starting the shutdown;
//! - gives each invocation a deadline (`Lambda-Runtime-Deadline-Ms`, the function timeout,
//!   10 s by default like template.yaml's `Timeout: 10`); an invocation not answered by then
//!   is recorded as timed out and the process is killed, as Lambda resets the environment;
//! - refuses a buffered response over 6,291,556 bytes (413, and the invocation fails with
//!   `Function.ResponseSizeTooLarge`);
//! - sends SHUTDOWN only to extensions that subscribed to it, SIGTERMs the runtime when any
//!   extension is registered, and SIGKILLs it after the shutdown limit.
//!
//! [`RuntimeApi::builder`] turns the freeze off, changes the timeout or the shutdown limit,
//! or runs the emulator as a Lambda Managed Instance ([`RuntimeApiBuilder::concurrency`]):
//! several invocations at once, no freeze, optionally slow acknowledgements.
//!
//! The function process is known to the emulator because
//! [`crate::FunctionProcess::spawn`] registers it with the `RuntimeApi` it was spawned
//! against; without a process (a hand-written runtime in a test) nothing is signalled.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::http_util::{self, header, respond_json, ConnControl, Resp};
use crate::process::ChildProcess;
use crate::sync::Shared;
use crate::{epoch_millis, DEFAULT_TIMEOUT};

/// The account id the emulator puts in ARNs.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region the emulator puts in ARNs.
pub const REGION: &str = "us-east-1";
/// The function timeout unless [`RuntimeApiBuilder::timeout`] says otherwise: template.yaml's
/// `Globals.Function.Timeout: 10`.
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest buffered response Lambda accepts: "Exceeded maximum allowed payload size
/// (6291556 bytes)" is the Runtime API's 413 beyond it (6 MB invocation payload quota).
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;
/// Lambda's shutdown limit when only internal extensions are registered (in-process ones,
/// which may not subscribe to SHUTDOWN): the runtime gets 500 ms after SIGTERM.
pub const SHUTDOWN_LIMIT_INTERNAL: Duration = Duration::from_millis(500);
/// Lambda's shutdown limit with one or more external extensions (the only kind that may
/// subscribe to SHUTDOWN): 2,000 ms for the runtime and the extensions together.
pub const SHUTDOWN_LIMIT_EXTERNAL: Duration = Duration::from_millis(2_000);

/// How the function finished an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It posted to `/invocation/{id}/response`.
    Response,
    /// It posted to `/invocation/{id}/error`.
    Error,
    /// It did not answer by the deadline (`Sandbox.Timedout`); the process was killed.
    TimedOut,
    /// Its buffered response was over [`MAX_RESPONSE_BYTES`] (`Function.ResponseSizeTooLarge`).
    ResponseTooLarge,
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The `Lambda-Runtime-Aws-Request-Id` handed to the function.
    pub request_id: String,
    /// How it ended.
    pub status: Outcome,
    /// The body it posted; for [`Outcome::TimedOut`] and [`Outcome::ResponseTooLarge`], the
    /// error Lambda's Invoke API would answer (`{"errorType": ..., "errorMessage": ...}`).
    pub body: Bytes,
    /// `Lambda-Runtime-Function-Error-Type` (header, or trailer for streamed responses), or
    /// Lambda's own error type when the emulator failed the invocation.
    pub error_type: Option<String>,
    /// When the runtime's `next` returned this event.
    pub delivered_at: Instant,
    /// When the response or error had been read completely (or the deadline passed).
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

    /// True unless the function posted a response that was accepted.
    pub fn is_error(&self) -> bool {
        self.status != Outcome::Response
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

    /// True when it subscribed to SHUTDOWN events (only external extensions may: Lambda's
    /// Extensions API says internal ones "are not permitted to register for the Shutdown
    /// event").
    pub fn wants_shutdown(&self) -> bool {
        self.events.iter().any(|e| e == "SHUTDOWN")
    }
}

/// How a [`RuntimeApi`] behaves, from [`RuntimeApi::builder`]. The defaults are Lambda's
/// on-demand behaviour: freeze between invocations, a 10 s timeout, one invocation at a time.
#[derive(Debug, Clone)]
pub struct RuntimeApiBuilder {
    freeze: bool,
    timeout: Duration,
    concurrency: Option<u32>,
    ack_delay: Duration,
    shutdown_limit: Option<Duration>,
    /// `cargo lambda watch`: none of the variables only real Lambda sets.
    local: bool,
}

impl Default for RuntimeApiBuilder {
    fn default() -> Self {
        Self {
            freeze: true,
            timeout: DEFAULT_FUNCTION_TIMEOUT,
            concurrency: None,
            ack_delay: Duration::ZERO,
            shutdown_limit: None,
            local: false,
        }
    }
}

impl RuntimeApiBuilder {
    /// Whether to freeze the process between invocations (default true, as Lambda does).
    /// Turn it off only for a test whose point is not Lambda's lifecycle.
    pub fn freeze(mut self, freeze: bool) -> Self {
        self.freeze = freeze;
        self
    }

    /// The function timeout: each event's `Lambda-Runtime-Deadline-Ms` is this far ahead.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Lambda Managed Instances: the function gets `AWS_LAMBDA_MAX_CONCURRENCY=<max>` and
    /// `AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`, is never frozen, and gets
    /// one queued event per `next` poll, however many polls are open at once.
    pub fn concurrency(mut self, max: u32) -> Self {
        self.concurrency = Some(max.max(1));
        self.freeze = false;
        self
    }

    /// `cargo lambda watch`'s emulator instead of Lambda: no freeze, and none of the
    /// variables only Lambda sets (`AWS_LAMBDA_INITIALIZATION_TYPE`).
    pub fn like_cargo_lambda_watch(mut self) -> Self {
        self.local = true;
        self.freeze = false;
        self
    }

    /// Delays the 202 that acknowledges each `/response` or `/error` post, so that the
    /// runtime holds each invocation longer and invocations overlap.
    pub fn ack_delay(mut self, delay: Duration) -> Self {
        self.ack_delay = delay;
        self
    }

    /// How long the runtime may take to exit after SIGTERM before it is killed. Default:
    /// Lambda's, from the registered extensions ([`SHUTDOWN_LIMIT_EXTERNAL`] when one
    /// subscribed to SHUTDOWN, else [`SHUTDOWN_LIMIT_INTERNAL`] when any registered, else
    /// zero: no SIGTERM at all, SIGKILL at once).
    pub fn shutdown_limit(mut self, limit: Duration) -> Self {
        self.shutdown_limit = Some(limit);
        self
    }

    /// Starts the emulator on 127.0.0.1 and a free port.
    ///
    /// Panics if no loopback port can be bound (a broken test machine).
    pub async fn start(self) -> RuntimeApi {
        let listener = http_util::bind_loopback()
            .await
            .expect("bind 127.0.0.1:0 for the Runtime API");
        let addr = listener
            .local_addr()
            .expect("local address of the Runtime API listener");
        let shared = Arc::new(Shared::new(State {
            config: self,
            function_name: "cruddur".to_owned(),
            queue: VecDeque::new(),
            invocations: HashMap::new(),
            polls: Vec::new(),
            init_errors: Vec::new(),
            extensions: Vec::new(),
            extension_errors: Vec::new(),
            others: Vec::new(),
            shutdown_at: None,
            process: None,
            runtime_waiting: 0,
            frozen: false,
            freezes: Vec::new(),
            thaws: Vec::new(),
            in_flight: 0,
            max_in_flight: 0,
            kills: Vec::new(),
            closed: false,
        }));
        let handler_state = shared.clone();
        let server = http_util::serve(listener, move |req, control| {
            let shared = handler_state.clone();
            async move { handle(shared, req, control).await }
        });
        RuntimeApi {
            shared,
            addr,
            server,
            tasks: Mutex::new(Vec::new()),
        }
    }
}

/// Why the emulator killed the function process (SIGKILL), and when.
#[derive(Debug, Clone)]
pub struct Kill {
    /// When the SIGKILL was sent.
    pub at: Instant,
    /// Why: a timed-out invocation, or the shutdown limit.
    pub reason: String,
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
    /// Its `next` requests parked with nothing to hand out.
    waiting: usize,
}

struct State {
    config: RuntimeApiBuilder,
    function_name: String,
    queue: VecDeque<Queued>,
    invocations: HashMap<String, InvocationRecord>,
    polls: Vec<Instant>,
    init_errors: Vec<InitError>,
    extensions: Vec<ExtensionRecord>,
    extension_errors: Vec<ExtensionError>,
    others: Vec<OtherRequest>,
    shutdown_at: Option<Instant>,
    /// The function process spawned against this emulator (weak: the test owns it).
    process: Option<Weak<ChildProcess>>,
    /// Runtime `next` requests parked with nothing to hand out.
    runtime_waiting: usize,
    frozen: bool,
    freezes: Vec<Instant>,
    thaws: Vec<Instant>,
    /// Invocations handed out and not yet acknowledged (or failed).
    in_flight: usize,
    max_in_flight: usize,
    kills: Vec<Kill>,
    /// The `RuntimeApi` was dropped: background tasks must not touch the process any more.
    closed: bool,
}

impl State {
    fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}",
            self.function_name
        )
    }

    fn process(&self) -> Option<Arc<ChildProcess>> {
        self.process.as_ref()?.upgrade()
    }

    /// Lambda freezes the execution environment once the runtime and every extension
    /// subscribed to INVOKE have asked for the next event and there is none: from then on
    /// nothing in the process runs until the next event (or the shutdown).
    fn maybe_freeze(&mut self) {
        if !self.config.freeze || self.frozen || self.closed || self.shutdown_at.is_some() {
            return;
        }
        if self.runtime_waiting == 0 || !self.queue.is_empty() || self.in_flight > 0 {
            return;
        }
        let extension_busy = self
            .extensions
            .iter()
            .any(|e| e.public.wants_invoke() && (e.waiting == 0 || !e.queue.is_empty()));
        if extension_busy {
            return;
        }
        let Some(process) = self.process() else {
            return;
        };
        if process.signal(libc::SIGSTOP, "SIGSTOP").is_ok() {
            self.frozen = true;
            self.freezes.push(Instant::now());
        }
    }

    /// Thaws a frozen process (SIGCONT): before an event is handed out or the shutdown starts.
    fn thaw(&mut self) {
        if !self.frozen {
            return;
        }
        self.frozen = false;
        if let Some(process) = self.process() {
            let _ = process.signal(libc::SIGCONT, "SIGCONT");
        }
        self.thaws.push(Instant::now());
    }

    fn kill(&mut self, reason: String) {
        let Some(process) = self.process() else {
            return;
        };
        if process.signal(libc::SIGKILL, "SIGKILL").is_ok() {
            self.frozen = false;
            self.kills.push(Kill {
                at: Instant::now(),
                reason,
            });
        }
    }

    fn shutdown_limit(&self) -> Duration {
        if let Some(limit) = self.config.shutdown_limit {
            return limit;
        }
        if self.extensions.iter().any(|e| e.public.wants_shutdown()) {
            SHUTDOWN_LIMIT_EXTERNAL
        } else if !self.extensions.is_empty() {
            SHUTDOWN_LIMIT_INTERNAL
        } else {
            Duration::ZERO
        }
    }
}

/// The Lambda Runtime API emulator. Stops serving when dropped.
pub struct RuntimeApi {
    shared: Arc<Shared<State>>,
    addr: SocketAddr,
    server: JoinHandle<()>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.update(|s| s.closed = true);
        self.server.abort();
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }
}

impl RuntimeApi {
    /// Starts the emulator with Lambda's on-demand behaviour (see [`RuntimeApiBuilder`]).
    ///
    /// Panics if no loopback port can be bound (a broken test machine).
    pub async fn start() -> RuntimeApi {
        Self::builder().start().await
    }

    /// Starts the emulator without freezing the process between invocations.
    pub async fn start_without_freeze() -> RuntimeApi {
        Self::builder().freeze(false).start().await
    }

    /// A builder for anything but the defaults.
    pub fn builder() -> RuntimeApiBuilder {
        RuntimeApiBuilder::default()
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

    /// The function timeout (the distance of every deadline).
    pub fn function_timeout(&self) -> Duration {
        self.shared.read(|s| s.config.timeout)
    }

    /// `AWS_LAMBDA_MAX_CONCURRENCY` in Managed Instances mode, else `None`.
    pub fn concurrency(&self) -> Option<u32> {
        self.shared.read(|s| s.config.concurrency)
    }

    /// The variables Lambda sets for this mode of operation, which
    /// [`crate::FunctionProcess::spawn`] adds to the function's environment:
    /// `AWS_LAMBDA_INITIALIZATION_TYPE` (`on-demand`, or `lambda-managed-instances` with
    /// `AWS_LAMBDA_MAX_CONCURRENCY`).
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        if self.shared.read(|s| s.config.local) {
            return Vec::new();
        }
        match self.concurrency() {
            None => vec![("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into())],
            Some(max) => vec![
                (
                    "AWS_LAMBDA_INITIALIZATION_TYPE".into(),
                    "lambda-managed-instances".into(),
                ),
                ("AWS_LAMBDA_MAX_CONCURRENCY".into(), max.to_string()),
            ],
        }
    }

    /// Registers the function process spawned against this emulator, which it freezes,
    /// thaws, terminates and kills from then on. A later process replaces an earlier one.
    pub(crate) fn attach_process(&self, process: &Arc<ChildProcess>) {
        self.shared.update(|s| {
            s.process = Some(Arc::downgrade(process));
            s.frozen = false;
        });
    }

    /// Queues one event without waiting; returns its request id. Pair with
    /// [`RuntimeApi::wait_for_answer`]. A frozen process is thawed first.
    pub fn enqueue(&self, event: Value, trace_header: Option<&str>) -> String {
        let request_id = uuid::Uuid::new_v4().to_string();
        let queued = Queued {
            request_id: request_id.clone(),
            event: Bytes::from(serde_json::to_vec(&event).expect("serialize event")),
            trace_header: trace_header.map(str::to_owned),
        };
        self.shared.update(|s| {
            s.thaw();
            s.invocations
                .insert(request_id.clone(), InvocationRecord::default());
            s.queue.push_back(queued);
        });
        request_id
    }

    /// Queues one event (with `Lambda-Runtime-Trace-Id: trace_header` when given) and waits
    /// for the function's answer: at least 10 s, and past the function's deadline (when the
    /// emulator records the invocation as timed out).
    pub async fn invoke(&self, event: Value, trace_header: Option<&str>) -> anyhow::Result<Invocation> {
        let wait = DEFAULT_TIMEOUT.max(self.function_timeout() + Duration::from_secs(2));
        self.invoke_with_timeout(event, trace_header, wait).await
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

    /// True while the emulator holds the function process frozen.
    pub fn is_frozen(&self) -> bool {
        self.shared.read(|s| s.frozen)
    }

    /// How many times the emulator froze the process.
    pub fn freezes(&self) -> usize {
        self.shared.read(|s| s.freezes.len())
    }

    /// How many times the emulator thawed the process.
    pub fn thaws(&self) -> usize {
        self.shared.read(|s| s.thaws.len())
    }

    /// Waits until the emulator has frozen the process (at least `count` freezes so far).
    pub async fn wait_for_freeze(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| (s.freezes.len() >= count).then_some(()))
            .await;
        found.ok_or_else(|| {
            anyhow!(
                "expected {count} freezes within {timeout:?}, got {} (is a function process \
                 attached, and did it poll `next` after answering?)",
                self.freezes()
            )
        })
    }

    /// The most invocations that were in flight at once (handed out by `next`, not yet
    /// acknowledged with a 202, failed or timed out).
    pub fn max_in_flight(&self) -> usize {
        self.shared.read(|s| s.max_in_flight)
    }

    /// Every SIGKILL the emulator sent (a timed-out invocation, the shutdown limit).
    pub fn kills(&self) -> Vec<Kill> {
        self.shared.read(|s| s.kills.clone())
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

    /// Starts Lambda's shutdown phase and returns at once: a frozen process is thawed; the
    /// runtime gets SIGTERM when any extension is registered (Lambda sends no SIGTERM to a
    /// function without extensions: it is killed at once); every extension subscribed to
    /// SHUTDOWN gets one SHUTDOWN event (reason "spindown") on its pending or next `next`;
    /// and a process still running after the shutdown limit is killed (SIGKILL). Later
    /// `next` calls wait for ever, as in Lambda. Wait for the end with
    /// [`crate::FunctionProcess::wait_exit`].
    pub fn shutdown(&self) {
        let plan = self.shared.update(|s| {
            if s.shutdown_at.is_some() {
                return None;
            }
            s.thaw();
            let limit = s.shutdown_limit();
            let process = s.process();
            if let Some(process) = &process {
                if s.extensions.is_empty() {
                    s.kill("shutdown of a function without extensions (no SIGTERM)".into());
                } else {
                    let _ = process.signal(libc::SIGTERM, "SIGTERM");
                }
            }
            // Set after the SIGTERM: Lambda signals the runtime, then sends SHUTDOWN events.
            s.shutdown_at = Some(Instant::now());
            Some((process.map(|p| Arc::downgrade(&p)), limit))
        });
        let Some((Some(process), limit)) = plan else {
            return;
        };
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            shared.update(|s| {
                let running = process.upgrade().is_some_and(|p| p.is_running());
                if running && !s.closed {
                    s.kill(format!(
                        "still running {limit:?} after SIGTERM (the shutdown limit)"
                    ));
                }
            });
        });
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    /// When [`RuntimeApi::shutdown`] was first called.
    pub fn shutdown_at(&self) -> Option<Instant> {
        self.shared.read(|s| s.shutdown_at)
    }
}

/// Counts a parked `next` request until it takes an event; dropped with its connection
/// (hyper drops the handler of a closed connection), it uncounts itself.
struct Parked<'a> {
    shared: &'a Shared<State>,
    extension: Option<&'a str>,
    taken: &'a AtomicBool,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        if self.taken.load(Ordering::SeqCst) {
            return;
        }
        self.shared.update(|s| match self.extension {
            None => s.runtime_waiting = s.runtime_waiting.saturating_sub(1),
            Some(id) => {
                if let Some(e) = s.extensions.iter_mut().find(|e| e.public.identifier == id) {
                    e.waiting = e.waiting.saturating_sub(1);
                }
            }
        });
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

async fn runtime_next(shared: &Arc<Shared<State>>) -> Resp {
    let taken = AtomicBool::new(false);
    shared.update(|s| {
        s.polls.push(Instant::now());
        s.runtime_waiting += 1;
        s.maybe_freeze();
    });
    let _parked = Parked {
        shared,
        extension: None,
        taken: &taken,
    };
    let delivered = shared
        .wait_for(None, |s| {
            let queued = s.queue.pop_front()?;
            taken.store(true, Ordering::SeqCst);
            s.runtime_waiting = s.runtime_waiting.saturating_sub(1);
            let now = Instant::now();
            let timeout = s.config.timeout;
            let deadline_ms = epoch_millis() + timeout.as_millis() as u64;
            let arn = s.arn();
            s.invocations
                .entry(queued.request_id.clone())
                .or_default()
                .delivered_at = Some(now);
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
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
            Some((queued, deadline_ms, arn, now + timeout, timeout))
        })
        .await;
    shared.notify();
    let Some((queued, deadline_ms, arn, deadline, timeout)) = delivered else {
        return respond_json(
            500,
            &[],
            &json!({"errorMessage": "emulator wait ended", "errorType": "Internal"}),
        );
    };
    tokio::spawn(enforce_deadline(
        shared.clone(),
        queued.request_id.clone(),
        deadline,
        timeout,
    ));
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

/// At the deadline, an unanswered invocation fails the way Lambda fails it (`Sandbox.Timedout`,
/// "Task timed out after N seconds"), and the process is killed: Lambda resets the execution
/// environment after a timeout, so nothing of the old process runs on.
async fn enforce_deadline(
    shared: Arc<Shared<State>>,
    request_id: String,
    deadline: Instant,
    timeout: Duration,
) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
    shared.update(|s| {
        if s.closed {
            return;
        }
        let Some(record) = s.invocations.get_mut(&request_id) else {
            return;
        };
        if record.answer.is_some() {
            return;
        }
        let message = format!(
            "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
            timeout.as_secs_f64()
        );
        record.answer = Some(Answer {
            outcome: Outcome::TimedOut,
            body: Bytes::from(json!({"errorType": "Sandbox.Timedout", "errorMessage": message}).to_string()),
            error_type: Some("Sandbox.Timedout".into()),
            at: Instant::now(),
        });
        s.in_flight = s.in_flight.saturating_sub(1);
        s.kill(format!("invocation {request_id} timed out after {timeout:?}"));
    });
}

/// What the emulator answers a `/response` or `/error` post.
enum Verdict {
    Accepted,
    Refused(u16, &'static str, String),
}

async fn runtime_answer(shared: &Shared<State>, req: Request<Incoming>, id: &str, outcome: Outcome) -> Resp {
    let header_type = header(req.headers(), "lambda-runtime-function-error-type");
    // Streamed responses have their own (larger) limits; the 6 MB one is for buffered ones.
    let streamed = header(req.headers(), "lambda-runtime-function-response-mode")
        .is_some_and(|mode| mode.eq_ignore_ascii_case("streaming"));
    let body = http_util::read_body(req.into_body()).await;
    let at = Instant::now();
    let trailer_type = body
        .trailers
        .as_ref()
        .and_then(|t| header(t, "lambda-runtime-function-error-type"));
    let error_type = header_type.or(trailer_type);
    let too_large = outcome == Outcome::Response && !streamed && body.bytes.len() > MAX_RESPONSE_BYTES;
    let size = body.bytes.len();
    let (verdict, ack_delay) = shared.update(|s| {
        let ack_delay = s.config.ack_delay;
        let verdict = match s.invocations.get_mut(id) {
            None => Verdict::Refused(400, "InvalidRequestID", format!("unknown request id {id}")),
            Some(record) => match &record.answer {
                // After Lambda failed an invocation itself, later posts are forbidden (a
                // runtime that posts /error after a 413 gets 403).
                Some(answer) if matches!(answer.outcome, Outcome::TimedOut | Outcome::ResponseTooLarge) => {
                    Verdict::Refused(
                        403,
                        "InvalidStateTransition",
                        format!("invocation {id} already failed ({:?})", answer.outcome),
                    )
                }
                Some(_) => Verdict::Refused(
                    400,
                    "InvalidStateTransition",
                    format!("invocation {id} was already answered"),
                ),
                None if too_large => {
                    let message = format!(
                        "Response payload size ({size} bytes) exceeded maximum allowed payload size \
                         ({MAX_RESPONSE_BYTES} bytes)."
                    );
                    record.answer = Some(Answer {
                        outcome: Outcome::ResponseTooLarge,
                        body: Bytes::from(
                            json!({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message})
                                .to_string(),
                        ),
                        error_type: Some("Function.ResponseSizeTooLarge".into()),
                        at,
                    });
                    s.in_flight = s.in_flight.saturating_sub(1);
                    Verdict::Refused(
                        413,
                        "RequestEntityTooLarge",
                        format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
                    )
                }
                None => {
                    record.answer = Some(Answer {
                        outcome,
                        body: body.bytes,
                        error_type,
                        at,
                    });
                    Verdict::Accepted
                }
            },
        };
        (verdict, ack_delay)
    });
    match verdict {
        Verdict::Accepted => {
            if !ack_delay.is_zero() {
                tokio::time::sleep(ack_delay).await;
            }
            // The runtime holds the invocation until this 202 reaches it.
            shared.update(|s| s.in_flight = s.in_flight.saturating_sub(1));
            respond_json(202, &[], &json!({"status": "OK"}))
        }
        Verdict::Refused(status, error_type, message) => respond_json(
            status,
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
    // Lambda takes registrations in the Init phase only, which the runtime's first `next`
    // ends (the rule is Lambda's; this answer's wording is the emulator's).
    let init_ended = shared.update(|s| {
        if !s.polls.is_empty() {
            return true;
        }
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
            waiting: 0,
        });
        false
    });
    if init_ended {
        return respond_json(
            403,
            &[],
            &json!({"errorMessage": "extensions register during the Init phase, which has ended", "errorType": "Extension.InitPhaseEnded"}),
        );
    }
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
        extension.waiting += 1;
        s.maybe_freeze();
        true
    });
    if !known {
        return respond_json(
            403,
            &[],
            &json!({"errorMessage": "unknown Lambda-Extension-Identifier", "errorType": "Extension.InvalidExtensionIdentifier"}),
        );
    }
    let taken = AtomicBool::new(false);
    let _parked = Parked {
        shared,
        extension: Some(&identifier),
        taken: &taken,
    };
    let event = shared
        .wait_for(None, |s| {
            let shutdown_limit = s.shutdown_limit();
            let shutdown_at = s.shutdown_at;
            let extension = s
                .extensions
                .iter_mut()
                .find(|e| e.public.identifier == identifier)?;
            let event = if let Some(event) = extension.queue.pop_front() {
                if let Some(id) = event.get("requestId").and_then(Value::as_str) {
                    extension.awaiting.push(id.to_owned());
                }
                event
            } else {
                // Only an extension that subscribed to SHUTDOWN gets it; others wait on.
                let shutdown_at = shutdown_at?;
                if extension.shutdown_delivered || !extension.public.wants_shutdown() {
                    return None;
                }
                extension.shutdown_delivered = true;
                let left = shutdown_limit.saturating_sub(shutdown_at.elapsed());
                json!({
                    "eventType": "SHUTDOWN",
                    "shutdownReason": "spindown",
                    "deadlineMs": epoch_millis() + left.as_millis() as u64,
                })
            };
            taken.store(true, Ordering::SeqCst);
            extension.waiting = extension.waiting.saturating_sub(1);
            Some(event)
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
