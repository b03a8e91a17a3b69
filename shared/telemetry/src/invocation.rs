//! The tower layer around each Lambda invocation, and the process's view of the
//! invocations in flight.
//!
//! Arrows: the top of the crate's core. It opens each invocation with its own
//! [`Recorder`] (capture), writes its EMF lines (emf, stdout) and hands its spans to
//! delivery; it implements capture's [`Sink`] for spans that start without a parent.
//!
//! The layer wraps `lambda_runtime`'s whole service stack, whose innermost part posts
//! the response to the Runtime API; so everything after `inner.await` here runs after
//! the response and before that worker asks for its next event (the process cannot be
//! frozen in between). This is the shape of `lambda_runtime::layers::OpenTelemetryLayer`;
//! we write our own because that layer starts a new trace instead of continuing
//! Lambda's (`Lambda-Runtime-Trace-Id`) and its flush hook is a blocking `Fn()`.
//!
//! Several invocations may run at once (Lambda Managed Instances): each has its own
//! recorder, found from its spans, so nothing here is a process-wide "current".

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use lambda_runtime::{LambdaInvocation, Service};
use tracing::{field::Empty, Instrument, Span};

use crate::{
    capture::{open_invocation_span, Sink, INVOCATION_TARGET},
    config::Config,
    delivery::{Delivery, Dropped},
    emf::{MetricSet, Unit},
    model::{
        ids::{TraceHeader, TraceHeaderError, TraceId},
        TraceContext,
    },
    recorder::Recorder,
};

/// The process's invocations: those in flight, init's work, and where spans go.
pub(crate) struct Invocations {
    pub config: Config,
    pub delivery: Delivery,
    in_flight: Mutex<Vec<Arc<Recorder>>>,
    /// Work done before the first invocation; adopted by it. Kept to collect init
    /// spans that end later.
    init: Arc<Recorder>,
    detached: Arc<Recorder>,
    /// True until the first invocation starts: the cold start is reported once.
    cold: AtomicBool,
    /// The function's API route, once an invocation named it (for the shutdown's report).
    route: std::sync::OnceLock<String>,
    /// Whether finished spans have an exporter at all (X-Ray or OTLP compiled in and configured).
    has_span_sink: bool,
    /// Faults as Rollbar items, when a token is configured.
    #[cfg(feature = "rollbar")]
    rollbar: Option<RollbarItems>,
}

/// What every Rollbar item of the process shares, and the cap on how many go.
#[cfg(feature = "rollbar")]
struct RollbarItems {
    context: crate::rollbar::item::ItemContext,
    cap: Mutex<ItemCap>,
}

/// At most `per_minute` items a minute, as a token bucket (a burst of faults is not a
/// burst of items).
#[cfg(feature = "rollbar")]
struct ItemCap {
    per_minute: f64,
    tokens: f64,
    refilled: Instant,
}

#[cfg(feature = "rollbar")]
impl ItemCap {
    fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute);
        Self {
            per_minute,
            tokens: per_minute,
            refilled: Instant::now(),
        }
    }

    /// Takes one item's token, if there is one.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.refilled).as_secs_f64() / 60.0 * self.per_minute;
        self.tokens = (self.tokens + refill).min(self.per_minute);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Invocations {
    pub fn new(config: Config) -> Self {
        let delivery = Delivery::start(&config);
        let max_spans = config.max_queue_spans;
        Self {
            has_span_sink: cfg!(any(feature = "xray", feature = "otlp")) && delivery.is_active(),
            #[cfg(feature = "rollbar")]
            rollbar: config.rollbar.as_ref().map(|rollbar| RollbarItems {
                context: crate::rollbar::item::ItemContext {
                    environment: rollbar.environment.clone(),
                    code_version: config.function_version.clone(),
                    function_name: config.function_name.clone(),
                    secret_fields: config.redacted_fields.clone(),
                },
                cap: Mutex::new(ItemCap::new(rollbar.max_items_per_minute)),
            }),
            init: Arc::new(Recorder::init(MetricSet::new(&config), max_spans)),
            detached: Arc::new(Recorder::detached(MetricSet::new(&config))),
            in_flight: Mutex::new(Vec::new()),
            cold: AtomicBool::new(true),
            route: std::sync::OnceLock::new(),
            delivery,
            config,
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Recorder>>> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens one invocation's recorder; the first invocation adopts init's work. Also
    /// says why Lambda's trace header was refused, when it was.
    fn begin(&self, invocation: &LambdaInvocation) -> (Arc<Recorder>, Option<TraceHeaderError>) {
        let header = invocation
            .context
            .xray_trace_id
            .as_deref()
            .map(TraceHeader::parse);
        let (trace_id, parent, sampled, refused) = match header {
            Some(Ok(h)) => (h.trace_id, h.parent, h.sampled.unwrap_or(true), None),
            Some(Err(error)) => (TraceId::generate(), None, true, Some(error)),
            None => (TraceId::generate(), None, true, None),
        };
        let mut trace = TraceContext::new(trace_id, sampled, parent);
        trace.request_id = Some(invocation.context.request_id.clone());
        trace.function_arn = Some(invocation.context.invoked_function_arn.clone());
        trace.cold_start = self.cold.swap(false, Ordering::AcqRel);
        let sample_rate = self.config.debug_sample_rate;
        trace.debug_sampled = sample_rate > 0.0 && fastrand::f64() < sample_rate;
        let recorder = Arc::new(Recorder::new(
            Arc::new(trace),
            MetricSet::new(&self.config),
            self.config.max_queue_spans,
        ));
        if recorder.trace.cold_start {
            recorder.adopt(&self.init);
            self.delivery.first_invocation();
        }
        self.in_flight().push(recorder.clone());
        (recorder, refused)
    }

    /// After the response: the invocation's metrics and drop report go to the log
    /// stream, its spans to delivery (waiting at most the flush budget).
    async fn finish(&self, recorder: &Recorder, received: Instant, span: Span) {
        let latency_ms = received.elapsed().as_secs_f64() * 1000.0;
        // The lines held for the response go now, in one write with the EMF document
        // (written at once before any other line, to keep the order).
        #[cfg(feature = "logs")]
        let mut out = crate::logs::render_deferred(recorder, true);
        #[cfg(not(feature = "logs"))]
        let mut out = Vec::new();
        self.delivery.stats.drop_spans(recorder.take_dropped_spans());
        let dropped = self.delivery.stats.take_dropped();
        let secret_unavailable = self.delivery.stats.take_secret_unavailable();
        if dropped != Dropped::default() {
            write_out(&mut out);
            span.in_scope(|| report_dropped(dropped, "telemetry could not deliver everything: the collector, X-Ray or its daemon refused it, was unreachable or too slow"));
        }
        if self.config.log_buffer_level.is_some() {
            write_out(&mut out);
        }
        self.settle_log_buffer(recorder, &span);
        let lines = recorder.with_metrics(|metrics| {
            // The http face's: what the status of the request said.
            if let Some(request) = recorder.request() {
                let status = lambda_http::http::StatusCode::from_u16(request.status).ok();
                let server_error = status.is_some_and(|s| s.is_server_error());
                let client_error = status.is_some_and(|s| s.is_client_error());
                metrics.add_builtin("Errors", Unit::Count, f64::from(u8::from(server_error)));
                metrics.add_builtin("ClientErrors", Unit::Count, f64::from(u8::from(client_error)));
            }
            metrics.add_builtin("Requests", Unit::Count, 1.0);
            metrics.add_builtin("Latency", Unit::Milliseconds, latency_ms);
            add_dropped(metrics, dropped);
            if secret_unavailable {
                metrics.add_builtin("TelemetrySecretUnavailable", Unit::Count, 1.0);
            }
            if let Some(route) = metrics.route().filter(|_| self.route.get().is_none()) {
                let _ = self.route.set(route.to_owned());
            }
            metrics.take_lines(Some(&recorder.trace))
        });
        self.add_metrics(&mut out, lines);
        write_out(&mut out);
        // Closes the invocation span: its record joins the others.
        drop(span);
        self.in_flight()
            .retain(|other| !std::ptr::eq(Arc::as_ptr(other), recorder));
        let item = self.fault_report(recorder);
        let mut spans = recorder.take_spans();
        spans.extend(self.init.take_spans());
        self.delivery.flush(spans, item, self.config.flush_budget).await;
    }

    /// A faulted invocation's Rollbar item, within the per-minute cap (past it, counted
    /// as dropped). Encoded here, after the response; sent by delivery.
    fn fault_report(&self, recorder: &Recorder) -> Option<Vec<u8>> {
        #[cfg(feature = "rollbar")]
        if let Some(rollbar) = self.rollbar.as_ref().filter(|_| recorder.faulted()) {
            if !rollbar.cap.lock().unwrap_or_else(PoisonError::into_inner).take() {
                self.delivery.stats.drop_rollbar_items(1);
                return None;
            }
            let exceptions = recorder.exceptions();
            let fault = crate::rollbar::item::Fault {
                exceptions: &exceptions,
                request: recorder.request(),
                trace: &recorder.trace,
                correlation_id: recorder.correlation_id(),
            };
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let uuid = crate::rollbar::item::uuid_v4();
            return Some(crate::rollbar::item::encode(
                &fault,
                &rollbar.context,
                &uuid,
                timestamp,
            ));
        }
        let _ = recorder;
        None
    }

    /// On SIGTERM: delivers what is left within the shutdown budget and reports any loss.
    pub async fn shutdown(&self) {
        // Lambda signals an idle process; anywhere else a signal may land mid-invocation:
        // let the invocations in flight finish their spans first (for at most half the budget).
        let started = Instant::now();
        while !self.in_flight().is_empty() && started.elapsed() < self.config.shutdown_budget / 2 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        self.delivery
            .shutdown(self.init.take_spans(), self.config.shutdown_budget)
            .await;
        let dropped = self.delivery.stats.take_dropped();
        let secret_unavailable = self.delivery.stats.take_secret_unavailable();
        if dropped != Dropped::default() {
            report_dropped(dropped, "telemetry could not deliver everything before shutdown");
        }
        if dropped != Dropped::default() || secret_unavailable {
            // The metrics too: no invocation is left to carry them.
            let mut metrics = MetricSet::new(&self.config);
            if let Some(route) = self.route.get() {
                metrics.set_route(route);
            }
            add_dropped(&mut metrics, dropped);
            if secret_unavailable {
                metrics.add_builtin("TelemetrySecretUnavailable", Unit::Count, 1.0);
            }
            let mut out = Vec::new();
            self.add_metrics(&mut out, metrics.take_lines(None));
            write_out(&mut out);
        }
    }

    /// Log buffering, once the invocation is over: its held lines are written if it
    /// faulted and dropped otherwise; lines dropped for room are reported when it mattered.
    fn settle_log_buffer(&self, recorder: &Recorder, span: &Span) {
        #[cfg(feature = "logs")]
        if recorder.faulted() {
            crate::logs::flush_held(recorder, self.config.dev);
        }
        let evicted = recorder.settle_log_buffer();
        if evicted > 0 {
            span.in_scope(|| {
                tracing::warn!(
                    target: "telemetry::logs",
                    evicted_lines = evicted,
                    "some buffered log lines were dropped: the buffer was full (CRUDDUR_LOG_BUFFER_MAX_BYTES)"
                )
            });
        }
    }

    /// Adds the EMF lines to what is about to be written (unless metrics are off).
    fn add_metrics(&self, out: &mut Vec<u8>, lines: Vec<Vec<u8>>) {
        if cfg!(feature = "emf") && !self.config.metrics_disabled {
            for line in lines {
                out.extend_from_slice(&line);
            }
        }
    }
}

/// Writes `out` to the log stream in one write, if there is anything in it.
fn write_out(out: &mut Vec<u8>) {
    if !out.is_empty() {
        crate::stdout::write_line(&std::mem::take(out));
    }
}

/// How long before its deadline an invocation's held log lines are written anyway: a
/// timeout ends the process, and they must not go with it.
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(100);

/// When the lines an invocation holds for its response must be written anyway, given
/// its deadline (ms since the epoch; 0 when unknown, as under some local emulators).
fn lines_due(deadline_ms: u64) -> Option<tokio::time::Instant> {
    if deadline_ms == 0 {
        return None;
    }
    let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(deadline_ms);
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Some(tokio::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

/// The built-in metrics of what could not be delivered.
fn add_dropped(metrics: &mut MetricSet, dropped: Dropped) {
    if dropped != Dropped::default() {
        metrics.add_builtin("TelemetryDroppedSpans", Unit::Count, dropped.spans as f64);
        metrics.add_builtin(
            "TelemetryDroppedXrayDocuments",
            Unit::Count,
            dropped.xray_documents as f64,
        );
        // X-Ray's OTLP endpoint (CRUDDUR_XRAY_OTLP_ENDPOINT): apart from the collector's.
        metrics.add_builtin(
            "TelemetryDroppedXraySpans",
            Unit::Count,
            dropped.xray_spans as f64,
        );
        metrics.add_builtin(
            "TelemetryDroppedRollbarItems",
            Unit::Count,
            dropped.rollbar_items as f64,
        );
    }
}

fn report_dropped(dropped: Dropped, message: &str) {
    tracing::warn!(
        target: "telemetry::delivery",
        dropped_spans = dropped.spans,
        dropped_xray_documents = dropped.xray_documents,
        dropped_xray_spans = dropped.xray_spans,
        dropped_rollbar_items = dropped.rollbar_items,
        "{message}"
    );
}

impl Sink for Invocations {
    fn orphan_owner(&self) -> Option<Arc<Recorder>> {
        let in_flight = self.in_flight();
        match in_flight.as_slice() {
            [] if self.cold.load(Ordering::Acquire) => Some(self.init.clone()),
            [only] => Some(only.clone()),
            _ => None,
        }
    }

    fn detached(&self) -> Arc<Recorder> {
        self.detached.clone()
    }

    fn records(&self, trace: &TraceContext) -> bool {
        self.has_span_sink
            && !self.config.trace_disabled
            && (trace.sampled || (self.config.export_unsampled && self.config.otlp_endpoint.is_some()))
    }
}

/// Tower layer that tells each invocation's story; added by [`crate::run_http`].
#[derive(Clone)]
pub struct InvocationLayer {
    invocations: Arc<Invocations>,
}

impl InvocationLayer {
    pub(crate) fn new(invocations: Arc<Invocations>) -> Self {
        Self { invocations }
    }
}

impl<S> lambda_runtime::tower::Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            invocations: self.invocations.clone(),
            lines_timer: Arc::default(),
        }
    }
}

/// Tower service built by [`InvocationLayer`]; cloned once per concurrent worker.
pub struct InvocationService<S> {
    inner: S,
    invocations: Arc<Invocations>,
    /// The timer that writes held lines near the deadline, kept from one invocation to the
    /// next: moving a registered timer later is a store, where registering a new one may
    /// wake the runtime's driver (measured with strace: an eventfd write before a quarter of
    /// the responses).
    lines_timer: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl<S: Clone> Clone for InvocationService<S> {
    /// A worker's copy: the same invocations, a timer of its own.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            invocations: self.invocations.clone(),
            lines_timer: Arc::default(),
        }
    }
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation, Response = ()>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let received = Instant::now();
        let invocations = self.invocations.clone();
        let (recorder, invalid_header) = invocations.begin(&invocation);
        let trace = &recorder.trace;
        let span = open_invocation_span(&recorder, || {
            tracing::info_span!(
                target: INVOCATION_TARGET,
                "invocation",
                faas.invocation_id = %invocation.context.request_id,
                faas.coldstart = trace.cold_start,
                cloud.resource_id = %invocation.context.invoked_function_arn,
                http.request.method = Empty,
                http.route = Empty,
                url.path = Empty,
                http.response.status_code = Empty,
                enduser.id = Empty,
                correlation_id = Empty,
                xray.metadata.response = Empty,
            )
        });
        // Lines written before the http face reads the request still carry its correlation
        // id; found here only when there are such lines (no cost otherwise).
        if invocations.config.log_event || invalid_header.is_some() {
            if let Some(id) = crate::http::correlation_id_of(&invocation.body) {
                span.record("correlation_id", id.as_str());
                recorder.set_correlation_id(&id);
            }
        }
        if let Some(error) = invalid_header {
            span.in_scope(
                || tracing::warn!(%error, "invalid X-Ray trace header: this request starts a new trace"),
            );
        }
        #[cfg(feature = "logs")]
        if invocations.config.log_event {
            let event = crate::logs::redacted_event(&invocation.body, &invocations.config);
            span.in_scope(|| tracing::info!(event = %event, "Lambda invocation event"));
        }
        // Only log lines are held for the response (a build without them has nothing to write).
        let lines_due = lines_due(invocation.context.deadline).filter(|_| cfg!(feature = "logs"));
        let inner = {
            let _entered = span.enter();
            self.inner.call(invocation)
        };
        let lines_timer = self.lines_timer.clone();
        Box::pin(async move {
            let inner = inner.instrument(span.clone());
            let result = match lines_due {
                Some(due) => {
                    tokio::pin!(inner);
                    // This worker's timer (a new one if another invocation holds it).
                    let taken = lines_timer.lock().unwrap_or_else(PoisonError::into_inner).take();
                    let mut timer = match taken {
                        Some(mut timer) => {
                            timer.as_mut().reset(due);
                            timer
                        }
                        None => Box::pin(tokio::time::sleep_until(due)),
                    };
                    let result = tokio::select! {
                        biased;
                        result = &mut inner => result,
                        () = timer.as_mut() => {
                            // Near the deadline: what the invocation logged so far is
                            // written now, and its later lines at once (only log lines
                            // are held: without them `lines_due` is `None`).
                            #[cfg(feature = "logs")]
                            crate::logs::write_deferred(&recorder, true);
                            inner.await
                        }
                    };
                    *lines_timer.lock().unwrap_or_else(PoisonError::into_inner) = Some(timer);
                    result
                }
                None => inner.await,
            };
            invocations.finish(&recorder, received, span).await;
            result
        })
    }
}
