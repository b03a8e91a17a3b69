//! Delivery: moving finished spans to the X-Ray daemon and the OTLP collector
//! without costing the response, and without losing them.
//!
//! A dedicated thread (with its own single-threaded tokio runtime) owns the UDP
//! socket and the HTTP client, so encoding, compression and network waits never
//! run on the thread that serves requests. An invocation hands over its spans
//! after the response is posted and waits at most the flush budget for them to
//! be delivered: a healthy collector answers within it, so the spans are out
//! before Lambda can freeze the process; a slow or failing collector does not
//! hold the invocation, and its spans stay queued (memory bounded by the queue
//! size) to go out with later invocations or at shutdown. Exports that fail are
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
    Spans { spans: Vec<SpanRecord>, delivered: oneshot::Sender<()> },
    Shutdown { budget: Duration, done: oneshot::Sender<()> },
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
            let spawned = std::thread::Builder::new().name("telemetry-delivery".into()).spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime.block_on(worker.run(receiver)),
                    Err(error) => eprintln!("[telemetry] delivery disabled: no runtime: {error}"),
                }
            });
            if let Err(error) = spawned {
                eprintln!("[telemetry] delivery disabled: cannot start its thread: {error}");
            }
            commands
        });
        Self { commands, stats }
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
        let started = Instant::now();
        let (delivered, _) = oneshot::channel();
        if !spans.is_empty() {
            let count = spans.len();
            if commands.send(Command::Spans { spans, delivered }).is_err() {
                self.stats.drop_spans(count);
            }
        }
        let (done, wait) = oneshot::channel();
        if commands.send(Command::Shutdown { budget, done }).is_ok() {
            let _ = tokio::time::timeout(budget.saturating_sub(started.elapsed()) + Duration::from_millis(20), wait).await;
        }
    }
}

/// Spans waiting for export, with the invocation waiting on them.
struct Pending {
    spans: Vec<SpanRecord>,
    delivered: Option<oneshot::Sender<()>>,
}

/// An encoded export request, kept for retries.
struct Request {
    body: bytes::Bytes,
    spans: usize,
    attempts: u32,
    not_before: Instant,
}

type ExportFuture = Pin<Box<dyn Future<Output = Outcome>>>;

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

struct Worker {
    stats: Arc<DeliveryStats>,
    #[cfg(feature = "xray")]
    xray: Option<crate::xray::Sender>,
    #[cfg(feature = "otlp")]
    otlp: Option<Arc<crate::otlp::Exporter>>,
    export_unsampled: bool,
    max_queue_spans: usize,
    max_export_batch: usize,
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
        let mut queue = Queue::default();
        let mut in_flight: Option<(ExportFuture, Request, Vec<oneshot::Sender<()>>)> = None;
        let mut retry: Option<Request> = None;
        loop {
            if in_flight.is_none() {
                in_flight = self.next_export(&mut queue, &mut retry, Instant::now());
            }
            let retry_at = retry.as_ref().map(|r| r.not_before);
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Spans { spans, delivered }) => self.accept(&mut queue, spans, delivered),
                    Some(Command::Shutdown { budget, done }) => {
                        self.drain(queue, in_flight, retry, Instant::now() + budget).await;
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                outcome = async { in_flight.as_mut().expect("guarded").0.as_mut().await }, if in_flight.is_some() => {
                    let (_, request, waiters) = in_flight.take().expect("guarded");
                    retry = self.settle(outcome, request, waiters, &mut queue);
                }
                _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now).into()),
                    if retry_at.is_some() && in_flight.is_none() => {}
            }
        }
    }

    /// Sends the X-Ray documents at once and queues the spans for OTLP.
    fn accept(&mut self, queue: &mut Queue, spans: Vec<SpanRecord>, delivered: oneshot::Sender<()>) {
        #[cfg(feature = "xray")]
        if let Some(xray) = &mut self.xray {
            xray.send(&spans);
        }
        #[cfg(feature = "otlp")]
        if self.otlp.is_some() {
            let export_unsampled = self.export_unsampled;
            let spans: Vec<_> = spans.into_iter().filter(|s| s.trace.sampled || export_unsampled).collect();
            if !spans.is_empty() {
                queue.push(Pending { spans, delivered: Some(delivered) }, self.max_queue_spans, &self.stats);
            }
            return;
        }
        let _ = (queue, spans, self.export_unsampled, self.max_queue_spans);
        let _ = delivered.send(());
    }

    /// The export to start now: a due retry first (order is kept), else the next batch.
    fn next_export(
        &self,
        queue: &mut Queue,
        retry: &mut Option<Request>,
        now: Instant,
    ) -> Option<(ExportFuture, Request, Vec<oneshot::Sender<()>>)> {
        #[cfg(feature = "otlp")]
        if let Some(exporter) = &self.otlp {
            let request = match retry.take() {
                Some(request) if request.not_before <= now => request,
                Some(request) => {
                    *retry = Some(request);
                    return None;
                }
                None => {
                    let (spans, waiters) = queue.take_batch(self.max_export_batch)?;
                    let request = Request { body: exporter.encode(&spans), spans: spans.len(), attempts: 0, not_before: now };
                    let exporter = exporter.clone();
                    let body = request.body.clone();
                    return Some((Box::pin(async move { exporter.send(body).await }), request, waiters));
                }
            };
            let exporter = exporter.clone();
            let body = request.body.clone();
            return Some((Box::pin(async move { exporter.send(body).await }), request, Vec::new()));
        }
        let _ = (queue, retry, now, self.max_export_batch);
        None
    }

    /// Books an export's outcome; returns the request to retry, if any.
    fn settle(
        &self,
        outcome: Outcome,
        mut request: Request,
        waiters: Vec<oneshot::Sender<()>>,
        queue: &mut Queue,
    ) -> Option<Request> {
        waiters.into_iter().for_each(|w| {
            let _ = w.send(());
        });
        match outcome {
            Outcome::Delivered => {
                self.stats.exported_spans.fetch_add(request.spans as u64, Ordering::Relaxed);
                None
            }
            Outcome::Retry(reason) if request.attempts + 1 < MAX_EXPORT_ATTEMPTS => {
                // The collector is struggling: nobody should wait for it.
                queue.release_waiters();
                request.attempts += 1;
                request.not_before = Instant::now() + FIRST_RETRY_BACKOFF * 2u32.pow(request.attempts - 1);
                eprintln!("[telemetry] OTLP export failed (attempt {}), will retry: {reason}", request.attempts);
                Some(request)
            }
            Outcome::Retry(reason) | Outcome::GiveUp(reason) => {
                queue.release_waiters();
                self.stats.drop_spans(request.spans);
                eprintln!("[telemetry] OTLP export dropped {} spans: {reason}", request.spans);
                None
            }
        }
    }

    /// Shutdown: export everything left, ignoring backoff, until the deadline.
    async fn drain(
        &self,
        mut queue: Queue,
        mut in_flight: Option<(ExportFuture, Request, Vec<oneshot::Sender<()>>)>,
        mut retry: Option<Request>,
        deadline: Instant,
    ) {
        if let Some(request) = &mut retry {
            request.not_before = Instant::now();
        }
        loop {
            if in_flight.is_none() {
                in_flight = self.next_export(&mut queue, &mut retry, Instant::now());
            }
            let Some((future, request, waiters)) = in_flight.take() else { break };
            match tokio::time::timeout_at(deadline.into(), future).await {
                Ok(outcome) => {
                    retry = self.settle(outcome, request, waiters, &mut queue);
                    if let Some(request) = &mut retry {
                        request.not_before = Instant::now();
                    }
                }
                Err(_) => {
                    self.stats.drop_spans(request.spans);
                    break;
                }
            }
        }
        let left = queue.spans + retry.map_or(0, |r| r.spans);
        if left > 0 {
            self.stats.drop_spans(left);
        }
        let dropped = self.stats.dropped_spans.load(Ordering::Relaxed);
        if dropped > 0 {
            eprintln!("[telemetry] shutdown: {dropped} spans could not be delivered");
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
    fn push(&mut self, mut pending: Pending, max_spans: usize, stats: &DeliveryStats) {
        if pending.spans.len() > max_spans {
            stats.drop_spans(pending.spans.len() - max_spans);
            pending.spans.truncate(max_spans);
        }
        while self.spans + pending.spans.len() > max_spans {
            let Some(oldest) = self.pending.pop_front() else { break };
            self.spans -= oldest.spans.len();
            stats.drop_spans(oldest.spans.len());
        }
        self.spans += pending.spans.len();
        self.pending.push_back(pending);
    }

    /// Up to `max` spans (whole hand-overs, at least one), with their waiters.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    fn take_batch(&mut self, max: usize) -> Option<(Vec<SpanRecord>, Vec<oneshot::Sender<()>>)> {
        let first = self.pending.pop_front()?;
        let (mut spans, mut waiters) = (first.spans, Vec::from_iter(first.delivered));
        while let Some(next) = self.pending.front() {
            if spans.len() + next.spans.len() > max {
                break;
            }
            let next = self.pending.pop_front().expect("front exists");
            spans.extend(next.spans);
            waiters.extend(next.delivered);
        }
        self.spans -= spans.len();
        Some((spans, waiters))
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
