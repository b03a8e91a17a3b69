//! Delivery: moving finished spans to the X-Ray daemon and the OTLP collector
//! without costing the response, and without losing them.
//!
//! A dedicated thread (with its own single-threaded tokio runtime) owns the UDP
//! socket and the HTTP client, so encoding, compression and network waits never
//! run on the thread that serves requests. An invocation hands over its spans
//! after the response is posted and waits, at most the flush budget, until their
//! export request has been handed to the connection: from then on the kernel
//! delivers the bytes even while Lambda keeps the process frozen, and the
//! collector's answer is read on thaw (a failure is retried then). So the
//! invocation pays for encoding and writing, never for the collector's round
//! trip; a slow or failing collector does not hold it at all, and its spans stay
//! queued (memory bounded by the queue size) to go out with later invocations or
//! at shutdown. Exports that fail are
//! retried with backoff a bounded number of times; what is finally dropped is
//! counted in [`DeliveryStats`] and reported by the invocation that notices it.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures_util::{stream::FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::{config::Config, span::SpanRecord};

/// How many times one export request is attempted before its spans are dropped.
const MAX_EXPORT_ATTEMPTS: u32 = 5;
/// Backoff before the first retry; doubles with each attempt.
const FIRST_RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Counters of telemetry that could not be delivered.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    dropped_spans: AtomicU64,
    dropped_xray_documents: AtomicU64,
    exported_spans: AtomicU64,
}

/// What was dropped since the last look.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// OTLP spans given up on (queue full, collector failing past the retry budget, shutdown).
    pub spans: u64,
    /// X-Ray documents that could not be sent (no daemon address, socket full, too large).
    pub xray_documents: u64,
}

impl DeliveryStats {
    /// Counts `n` OTLP spans as dropped.
    pub fn drop_spans(&self, n: usize) {
        self.dropped_spans.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts one X-Ray document as dropped.
    pub fn drop_xray_document(&self) {
        self.dropped_xray_documents.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the drop counts, resetting them.
    pub fn take_dropped(&self) -> Dropped {
        Dropped {
            spans: self.dropped_spans.swap(0, Ordering::Relaxed),
            xray_documents: self.dropped_xray_documents.swap(0, Ordering::Relaxed),
        }
    }

    /// Spans the collector accepted since the process started.
    pub fn exported_spans(&self) -> u64 {
        self.exported_spans.load(Ordering::Relaxed)
    }
}

enum Command {
    /// A header for every later export (a secret read at init).
    Header { name: String, value: String },
    Spans {
        spans: Vec<SpanRecord>,
        delivered: oneshot::Sender<()>,
    },
    Shutdown {
        deadline: Instant,
        done: oneshot::Sender<()>,
    },
}

/// Handle to the delivery thread.
pub(crate) struct Delivery {
    commands: Option<mpsc::UnboundedSender<Command>>,
    pub stats: Arc<DeliveryStats>,
}

impl Delivery {
    /// Starts the delivery thread, or none when no span sink is configured.
    pub fn start(config: &Config) -> Self {
        let stats = Arc::new(DeliveryStats::default());
        let worker = Worker::new(config, stats.clone());
        let commands = worker.map(|worker| {
            let (commands, receiver) = mpsc::unbounded_channel();
            let spawned = std::thread::Builder::new()
                .name("telemetry-delivery".into())
                .spawn(
                    move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(runtime) => runtime.block_on(worker.run(receiver)),
                        Err(error) => eprintln!("[telemetry] delivery disabled: no runtime: {error}"),
                    },
                );
            if let Err(error) = spawned {
                eprintln!("[telemetry] delivery disabled: cannot start its thread: {error}");
            }
            commands
        });
        Self { commands, stats }
    }

    /// Adds a header to every later OTLP export (values are secrets: never logged).
    pub fn set_otlp_header(&self, name: &str, value: String) {
        if let Some(commands) = &self.commands {
            let _ = commands.send(Command::Header {
                name: name.to_owned(),
                value,
            });
        }
    }

    /// Hands spans over and waits, at most `budget`, for them to be delivered.
    pub async fn flush(&self, spans: Vec<SpanRecord>, budget: Duration) {
        let Some(commands) = &self.commands else { return };
        if spans.is_empty() {
            return;
        }
        let (delivered, wait) = oneshot::channel();
        let count = spans.len();
        if commands.send(Command::Spans { spans, delivered }).is_err() {
            self.stats.drop_spans(count);
            return;
        }
        let _ = tokio::time::timeout(budget, wait).await;
    }

    /// Delivers everything still queued within `budget`; what cannot go is counted as dropped.
    pub async fn shutdown(&self, spans: Vec<SpanRecord>, budget: Duration) {
        let Some(commands) = &self.commands else { return };
        let deadline = Instant::now() + budget;
        if !spans.is_empty() {
            let (delivered, _) = oneshot::channel();
            let count = spans.len();
            if commands.send(Command::Spans { spans, delivered }).is_err() {
                self.stats.drop_spans(count);
            }
        }
        let (done, wait) = oneshot::channel();
        if commands.send(Command::Shutdown { deadline, done }).is_ok() {
            // The worker stops exporting at the deadline and then only counts what is
            // left; the margin lets a busy machine schedule that count.
            let _ = tokio::time::timeout_at((deadline + SHUTDOWN_REPORT_MARGIN).into(), wait).await;
        }
    }
}

/// Time allowed, after the shutdown deadline, for the delivery thread's final count.
const SHUTDOWN_REPORT_MARGIN: Duration = Duration::from_millis(100);

/// Spans waiting for export, with the invocation waiting on them.
///
/// Held encoded: protobuf is a fraction of the spans' size in memory, and export
/// requests concatenate (an `ExportTraceServiceRequest` is one repeated field).
struct Pending {
    protobuf: Vec<u8>,
    spans: usize,
    delivered: Option<oneshot::Sender<()>>,
}

/// An encoded export request, kept for retries.
struct Request {
    body: bytes::Bytes,
    spans: usize,
    attempts: u32,
    not_before: Instant,
}

/// An export under way, with its request (to retry). The invocations waiting on it
/// are told once its body is handed to the connection (see `otlp::Exporter::send`).
type Export = Pin<Box<dyn Future<Output = (Outcome, Request)> + Send>>;

/// How an export attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The collector took the spans.
    Delivered,
    /// Worth trying again (timeout, connection error, 5xx, 429, 408).
    Retry(String),
    /// Not worth trying again (any other 4xx, a bad endpoint).
    GiveUp(String),
}

/// Most exports under way at once in normal operation (shutdown sends all at once).
const MAX_EXPORTS_IN_FLIGHT: usize = 4;

struct Worker {
    stats: Arc<DeliveryStats>,
    #[cfg(feature = "xray")]
    xray: Option<crate::xray::Sender>,
    #[cfg(feature = "otlp")]
    otlp: Option<Arc<crate::otlp::Exporter>>,
    export_unsampled: bool,
    max_queue_spans: usize,
    max_export_batch: usize,
    queue: Queue,
    exports: FuturesUnordered<Export>,
    /// Spans in `exports`, so a shutdown cut short can count what it loses.
    spans_in_flight: usize,
    retries: Vec<Request>,
}

impl Worker {
    /// A worker, or `None` when there is nothing to deliver to.
    fn new(config: &Config, stats: Arc<DeliveryStats>) -> Option<Self> {
        let worker = Self {
            #[cfg(feature = "xray")]
            xray: Some(crate::xray::Sender::new(config, stats.clone())),
            #[cfg(feature = "otlp")]
            otlp: crate::otlp::Exporter::new(config).map(Arc::new),
            stats,
            export_unsampled: config.export_unsampled,
            max_queue_spans: config.max_queue_spans,
            max_export_batch: config.max_export_batch,
            queue: Queue::default(),
            exports: FuturesUnordered::new(),
            spans_in_flight: 0,
            retries: Vec::new(),
        };
        worker.has_sink().then_some(worker)
    }

    fn has_sink(&self) -> bool {
        #[allow(unused_mut)]
        let mut any = false;
        #[cfg(feature = "xray")]
        {
            any |= self.xray.is_some();
        }
        #[cfg(feature = "otlp")]
        {
            any |= self.otlp.is_some();
        }
        any
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            self.start_exports(Instant::now(), MAX_EXPORTS_IN_FLIGHT);
            let next_retry = self.retries.iter().map(|r| r.not_before).min();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Spans { spans, delivered }) => self.accept(spans, delivered),
                    Some(Command::Header { name, value }) => {
                        #[cfg(feature = "otlp")]
                        if let Some(exporter) = &self.otlp {
                            exporter.set_header(&name, &value);
                        }
                        let _ = (name, value);
                    }
                    Some(Command::Shutdown { deadline, done }) => {
                        self.drain(deadline).await;
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                Some((outcome, request)) = self.exports.next(), if !self.exports.is_empty() => {
                    self.settle(outcome, request);
                }
                _ = tokio::time::sleep_until(next_retry.unwrap_or_else(Instant::now).into()), if next_retry.is_some() => {}
            }
        }
    }

    /// Sends the X-Ray documents at once and queues the spans for OTLP.
    fn accept(&mut self, spans: Vec<SpanRecord>, delivered: oneshot::Sender<()>) {
        #[cfg(feature = "xray")]
        if let Some(xray) = &mut self.xray {
            xray.send(&spans);
        }
        let export_unsampled = self.export_unsampled;
        let mut spans: Vec<_> = spans
            .into_iter()
            .filter(|s| s.trace.sampled || export_unsampled)
            .collect();
        if spans.len() > self.max_queue_spans {
            self.stats.drop_spans(spans.len() - self.max_queue_spans);
            spans.truncate(self.max_queue_spans);
        }
        let Some(protobuf) = self.encode(&spans).filter(|_| !spans.is_empty()) else {
            let _ = delivered.send(());
            return;
        };
        // A retry waiting (the collector is failing) or every export slot taken (it is
        // slow): these spans cannot go out within the flush budget, so the invocation
        // need not wait for them. They stay queued.
        let delivered = if self.exports.len() < MAX_EXPORTS_IN_FLIGHT && self.retries.is_empty() {
            Some(delivered)
        } else {
            let _ = delivered.send(());
            None
        };
        let pending = Pending {
            protobuf,
            spans: spans.len(),
            delivered,
        };
        self.queue.push(pending, self.max_queue_spans, &self.stats);
    }

    /// The spans as protobuf, or `None` when there is no OTLP export.
    fn encode(&self, spans: &[SpanRecord]) -> Option<Vec<u8>> {
        #[cfg(feature = "otlp")]
        return self.otlp.as_ref().map(|exporter| exporter.encode(spans));
        #[cfg(not(feature = "otlp"))]
        {
            let _ = spans;
            None
        }
    }

    /// Starts due retries (oldest first), then new batches while no retry waits.
    fn start_exports(&mut self, now: Instant, max_in_flight: usize) {
        #[cfg(feature = "otlp")]
        if let Some(exporter) = &self.otlp {
            while self.exports.len() < max_in_flight {
                let request = match self.retries.iter().position(|r| r.not_before <= now) {
                    Some(due) => (self.retries.remove(due), Vec::new()),
                    None if self.retries.is_empty() => {
                        let Some((protobuf, spans, waiters)) = self.queue.take_batch(self.max_export_batch)
                        else {
                            break;
                        };
                        (
                            Request {
                                body: exporter.compress(protobuf),
                                spans,
                                attempts: 0,
                                not_before: now,
                            },
                            waiters,
                        )
                    }
                    None => break,
                };
                let exporter = exporter.clone();
                self.spans_in_flight += request.0.spans;
                self.exports.push(Box::pin(async move {
                    let (request, waiters) = request;
                    (exporter.send(request.body.clone(), waiters).await, request)
                }));
            }
        }
        let _ = (now, max_in_flight);
    }

    /// Books an export's outcome: counted, retried later, or dropped and counted.
    fn settle(&mut self, outcome: Outcome, mut request: Request) {
        self.spans_in_flight -= request.spans;
        match outcome {
            Outcome::Delivered => {
                self.stats
                    .exported_spans
                    .fetch_add(request.spans as u64, Ordering::Relaxed);
            }
            Outcome::Retry(reason) if request.attempts + 1 < MAX_EXPORT_ATTEMPTS => {
                // The collector is struggling: nobody should wait for it.
                self.queue.release_waiters();
                request.attempts += 1;
                request.not_before = Instant::now() + FIRST_RETRY_BACKOFF * 2u32.pow(request.attempts - 1);
                eprintln!(
                    "[telemetry] OTLP export failed (attempt {}), will retry: {reason}",
                    request.attempts
                );
                self.retries.push(request);
            }
            Outcome::Retry(reason) | Outcome::GiveUp(reason) => {
                self.queue.release_waiters();
                self.stats.drop_spans(request.spans);
                eprintln!(
                    "[telemetry] OTLP export dropped {} spans: {reason}",
                    request.spans
                );
            }
        }
    }

    /// Shutdown: everything left goes out at once, retried without backoff, until the deadline.
    async fn drain(&mut self, deadline: Instant) {
        loop {
            for retry in &mut self.retries {
                retry.not_before = Instant::now();
            }
            self.start_exports(Instant::now(), usize::MAX);
            if self.exports.is_empty() {
                break;
            }
            match tokio::time::timeout_at(deadline.into(), self.exports.next()).await {
                Ok(Some((outcome, request))) => self.settle(outcome, request),
                Ok(None) => break,
                Err(_) => break,
            }
        }
        // Exports still under way at the deadline are lost with the process.
        let unfinished =
            self.queue.spans + self.retries.iter().map(|r| r.spans).sum::<usize>() + self.spans_in_flight;
        if unfinished > 0 {
            self.stats.drop_spans(unfinished);
            eprintln!("[telemetry] shutdown: {unfinished} spans could not be delivered in time");
        }
    }
}

/// Spans waiting for export, bounded in number.
#[derive(Default)]
struct Queue {
    pending: VecDeque<Pending>,
    spans: usize,
}

impl Queue {
    /// Adds spans; past `max_spans`, the oldest are dropped and counted.
    fn push(&mut self, pending: Pending, max_spans: usize, stats: &DeliveryStats) {
        while self.spans + pending.spans > max_spans {
            let Some(oldest) = self.pending.pop_front() else {
                break;
            };
            self.spans -= oldest.spans;
            stats.drop_spans(oldest.spans);
        }
        self.spans += pending.spans;
        self.pending.push_back(pending);
    }

    /// Up to `max` spans (whole hand-overs, at least one) as one protobuf request,
    /// with their count and waiters.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    fn take_batch(&mut self, max: usize) -> Option<(Vec<u8>, usize, Vec<oneshot::Sender<()>>)> {
        let first = self.pending.pop_front()?;
        let (mut protobuf, mut spans, mut waiters) =
            (first.protobuf, first.spans, Vec::from_iter(first.delivered));
        while let Some(next) = self.pending.front() {
            if spans + next.spans > max {
                break;
            }
            let next = self.pending.pop_front().expect("front exists");
            protobuf.extend_from_slice(&next.protobuf);
            spans += next.spans;
            waiters.extend(next.delivered);
        }
        self.spans -= spans;
        Some((protobuf, spans, waiters))
    }

    /// Lets every waiting invocation go on (its spans stay queued).
    fn release_waiters(&mut self) {
        for pending in &mut self.pending {
            if let Some(waiter) = pending.delivered.take() {
                let _ = waiter.send(());
            }
        }
    }
}
