//! One destination's export queue: what goes out held encoded, sent in batches with a
//! few exports in flight, retried with backoff, and dropped (counted) past the
//! retry budget or the queue bound.
//!
//! The same pipeline serves every destination (Honeycomb or any OTLP collector, X-Ray's
//! OTLP endpoint, Rollbar): what differs is the transport's (a [`Transport`]: its
//! encoding, signing, request limits) and which counters a drop goes to
//! ([`Destination`]). Its units are spans for OTLP and items for Rollbar.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{stream::FuturesUnordered, StreamExt};
use tokio::sync::oneshot;

use super::{split, DeliveryStats};
use crate::{config::Config, model::SpanRecord, otlp::Exporter};

/// How one send attempt ended, as the pipeline books it (each transport's own outcome
/// maps onto it).
pub(super) enum Attempt {
    /// The destination took it.
    Delivered,
    /// Worth trying again.
    Retry(String),
    /// Not worth trying again.
    GiveUp(String),
}

/// What a pipeline needs of the transport it feeds.
pub(super) trait Transport: Send + Sync + 'static {
    /// The request body of a batch (gzip for OTLP).
    fn compress(&self, body: Vec<u8>) -> bytes::Bytes;
    /// One attempt; `written` are told once the bytes reached the kernel.
    fn send(
        &self,
        body: bytes::Bytes,
        written: Vec<oneshot::Sender<()>>,
    ) -> impl Future<Output = Attempt> + Send;
    /// Sets a header every later request carries (a secret read after init).
    fn set_header(&self, name: &str, value: &str);
    /// The body size from which `compress` compresses (`None`: it never does).
    fn compresses_from(&self) -> Option<usize>;
}

impl Transport for Exporter {
    fn compress(&self, body: Vec<u8>) -> bytes::Bytes {
        Exporter::compress(self, body)
    }

    async fn send(&self, body: bytes::Bytes, written: Vec<oneshot::Sender<()>>) -> Attempt {
        match Exporter::send(self, body, written).await {
            crate::otlp::Outcome::Delivered => Attempt::Delivered,
            crate::otlp::Outcome::Retry(reason) => Attempt::Retry(reason),
            crate::otlp::Outcome::GiveUp(reason) => Attempt::GiveUp(reason),
        }
    }

    fn set_header(&self, name: &str, value: &str) {
        Exporter::set_header(self, name, value);
    }

    fn compresses_from(&self) -> Option<usize> {
        Exporter::gzip_from(self)
    }
}

#[cfg(feature = "rollbar")]
impl Transport for crate::rollbar::Sender {
    fn compress(&self, body: Vec<u8>) -> bytes::Bytes {
        body.into()
    }

    async fn send(&self, body: bytes::Bytes, written: Vec<oneshot::Sender<()>>) -> Attempt {
        match crate::rollbar::Sender::send(self, body, written).await {
            crate::rollbar::Outcome::Delivered => Attempt::Delivered,
            crate::rollbar::Outcome::Retry(reason) => Attempt::Retry(reason),
            crate::rollbar::Outcome::GiveUp(reason) => Attempt::GiveUp(reason),
        }
    }

    fn set_header(&self, _name: &str, token: &str) {
        self.set_token(token);
    }

    fn compresses_from(&self) -> Option<usize> {
        None
    }
}

/// Where a pipeline's spans go: names it in reports, and keeps its counts apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Destination {
    /// The OTLP collector (Honeycomb): `DeliveryStats`' spans.
    Collector,
    /// X-Ray's OTLP endpoint: `DeliveryStats`' X-Ray spans.
    #[cfg_attr(not(feature = "xray-otlp"), allow(dead_code))]
    Xray,
    /// Rollbar's item API: `DeliveryStats`' Rollbar items.
    #[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
    Rollbar,
}

impl Destination {
    /// How stderr names it.
    fn label(self) -> &'static str {
        match self {
            Self::Collector => "OTLP",
            Self::Xray => "X-Ray OTLP",
            Self::Rollbar => "Rollbar",
        }
    }

    /// What it sends, in reports.
    fn units(self) -> &'static str {
        match self {
            Self::Collector | Self::Xray => "spans",
            Self::Rollbar => "items",
        }
    }

    fn count_dropped(self, stats: &DeliveryStats, n: usize) {
        if n > 0 {
            match self {
                Self::Collector => stats.drop_spans(n),
                Self::Xray => stats.drop_xray_spans(n),
                Self::Rollbar => stats.drop_rollbar_items(n),
            }
        }
    }

    fn count_exported(self, stats: &DeliveryStats, n: usize) {
        match self {
            Self::Collector => stats.exported(n),
            Self::Xray => stats.exported_xray(n),
            Self::Rollbar => stats.exported_rollbar(n),
        }
    }
}

/// How many times one export request is attempted before its spans are dropped.
const MAX_EXPORT_ATTEMPTS: u32 = 5;
/// Backoff before the first retry; doubles with each attempt.
const FIRST_RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// Most exports under way at once in normal operation (shutdown sends all at once).
const MAX_EXPORTS_IN_FLIGHT: usize = 4;

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
/// are told once its body is handed to the connection (see `Exporter::send`).
type Export = Pin<Box<dyn Future<Output = (Attempt, Request)> + Send>>;

/// The export queue of one destination.
pub(super) struct Pipeline<T> {
    exporter: Arc<T>,
    destination: Destination,
    stats: Arc<DeliveryStats>,
    max_queue_spans: usize,
    max_export_batch: usize,
    /// Most protobuf bytes in one request (the endpoint's limit, if it has one).
    max_export_bytes: usize,
    queue: Queue,
    exports: FuturesUnordered<Export>,
    /// Spans in `exports`, so a shutdown cut short can count what it loses.
    spans_in_flight: usize,
    retries: Vec<Request>,
    /// Exports wait: a header they need (the Honeycomb key) is still being read.
    held: bool,
    /// What was held is going out, in requests below the compression threshold (see
    /// [`Pipeline::release`]); over once the queue is empty.
    releasing: bool,
    /// Nothing can go out (the key could not be read): spans are dropped and counted.
    disabled: bool,
}

impl Pipeline<Exporter> {
    /// The pipeline of an OTLP endpoint, within its request limits.
    pub fn new(
        exporter: Exporter,
        destination: Destination,
        config: &Config,
        stats: Arc<DeliveryStats>,
    ) -> Self {
        let limits = exporter.limits();
        let max_export_batch = limits.map_or(config.max_export_batch, |l| {
            config.max_export_batch.min(l.max_spans)
        });
        let max_export_bytes = limits.map_or(usize::MAX, |l| l.max_bytes);
        Self::with_limits(
            exporter,
            destination,
            config.max_queue_spans,
            max_export_batch,
            max_export_bytes,
            stats,
        )
    }

    /// Queues spans for export; `delivered` is told once they are written (or at once
    /// when they cannot go out within a flush budget anyway).
    pub fn accept(&mut self, spans: &[SpanRecord], delivered: oneshot::Sender<()>) {
        if self.disabled {
            self.count_dropped(spans.len());
            let _ = delivered.send(());
            return;
        }
        let mut spans = spans;
        if spans.len() > self.max_queue_spans {
            self.count_dropped(spans.len() - self.max_queue_spans);
            spans = &spans[..self.max_queue_spans];
        }
        if spans.is_empty() {
            let _ = delivered.send(());
            return;
        }
        // Within the endpoint's limits: a hand-over past them becomes several requests.
        let exporter = &self.exporter;
        let (chunks, too_large) = match exporter.limits() {
            Some(limits) => split::encode_within(spans, limits, |spans| exporter.encode(spans)),
            None => {
                let (protobuf, too_large) = exporter.encode(spans);
                let chunk = split::Chunk {
                    protobuf,
                    spans: spans.len() - too_large,
                };
                (vec![chunk], too_large)
            }
        };
        if too_large > 0 {
            self.count_dropped(too_large);
            eprintln!(
                "[telemetry] {} export dropped {too_large} spans: larger than the endpoint takes",
                self.destination.label()
            );
        }
        self.queue_encoded(chunks, delivered);
    }
}

#[cfg(feature = "rollbar")]
impl Pipeline<crate::rollbar::Sender> {
    /// Rollbar's pipeline: one item a request, at most `max_queue` items waiting.
    pub fn for_rollbar(sender: crate::rollbar::Sender, max_queue: usize, stats: Arc<DeliveryStats>) -> Self {
        Self::with_limits(sender, Destination::Rollbar, max_queue, 1, usize::MAX, stats)
    }

    /// Queues one encoded item; `delivered` as for spans.
    pub fn accept_item(&mut self, item: Vec<u8>, delivered: oneshot::Sender<()>) {
        if self.disabled {
            self.count_dropped(1);
            let _ = delivered.send(());
            return;
        }
        let chunk = split::Chunk {
            protobuf: item,
            spans: 1,
        };
        self.queue_encoded(vec![chunk], delivered);
    }
}

impl<T: Transport> Pipeline<T> {
    fn with_limits(
        exporter: T,
        destination: Destination,
        max_queue_spans: usize,
        max_export_batch: usize,
        max_export_bytes: usize,
        stats: Arc<DeliveryStats>,
    ) -> Self {
        Self {
            exporter: Arc::new(exporter),
            destination,
            stats,
            max_queue_spans,
            max_export_batch,
            max_export_bytes,
            queue: Queue::default(),
            exports: FuturesUnordered::new(),
            spans_in_flight: 0,
            retries: Vec::new(),
            held: false,
            releasing: false,
            disabled: false,
        }
    }

    /// Holds exports until [`Pipeline::release`]: spans queue meanwhile (bounded).
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// Sets a header every export needs and lets the held spans go.
    ///
    /// What was held (every invocation's spans since the first, until the key came) goes
    /// as requests below the compression threshold: as one request it was gzipped, and
    /// its deflate state and buffers were the largest part of the peak RSS of a function
    /// whose key is in SSM (heaptrack: 0.2 to 0.35 MiB), to save a few tens of KB once.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub fn release(&mut self, name: &str, value: &str) {
        self.exporter.set_header(name, value);
        self.held = false;
        self.releasing = true;
        self.start_exports(Instant::now(), MAX_EXPORTS_IN_FLIGHT);
    }

    /// Gives up on exporting: what is queued, and all later spans, are dropped and counted.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub fn disable(&mut self) {
        self.disabled = true;
        self.held = false;
        self.queue.release_waiters();
        self.count_dropped(self.queue.spans);
        self.queue = Queue::default();
    }

    /// Queues encoded requests' worth; `delivered` is told once they are written (or at
    /// once when they cannot go out within a flush budget anyway).
    fn queue_encoded(&mut self, chunks: Vec<split::Chunk>, delivered: oneshot::Sender<()>) {
        // A retry waiting (the collector is failing), every export slot taken (it is
        // slow), exports held for a key, or more than one request's worth: these spans
        // cannot go out within the flush budget, so the invocation need not wait for
        // them. They stay queued.
        let mut delivered = Some(delivered);
        if self.held
            || self.exports.len() >= MAX_EXPORTS_IN_FLIGHT
            || !self.retries.is_empty()
            || chunks.len() != 1
        {
            if let Some(delivered) = delivered.take() {
                let _ = delivered.send(());
            }
        }
        for chunk in chunks {
            let pending = Pending {
                protobuf: chunk.protobuf,
                spans: chunk.spans,
                delivered: delivered.take(),
            };
            let dropped = self.queue.push(pending, self.max_queue_spans);
            self.count_dropped(dropped);
        }
        self.start_exports(Instant::now(), MAX_EXPORTS_IN_FLIGHT);
    }

    fn count_dropped(&self, n: usize) {
        self.destination.count_dropped(&self.stats, n);
    }

    /// Settles the next export to finish, or waits for the next retry to be due.
    /// Pending while there is nothing under way and nothing to retry.
    pub async fn progress(&mut self) {
        self.start_exports(Instant::now(), MAX_EXPORTS_IN_FLIGHT);
        let next_retry = self.retries.iter().map(|r| r.not_before).min();
        tokio::select! {
            Some((outcome, request)) = self.exports.next(), if !self.exports.is_empty() => {
                self.settle(outcome, request);
            }
            _ = tokio::time::sleep_until(next_retry.unwrap_or_else(Instant::now).into()), if next_retry.is_some() => {}
            else => std::future::pending().await,
        }
    }

    /// Starts due retries (oldest first), then new batches while no retry waits.
    fn start_exports(&mut self, now: Instant, max_in_flight: usize) {
        while !self.held && self.exports.len() < max_in_flight {
            let (request, waiters) = match self.retries.iter().position(|r| r.not_before <= now) {
                Some(due) => (self.retries.remove(due), Vec::new()),
                None if self.retries.is_empty() => {
                    let max_bytes = match self.exporter.compresses_from() {
                        Some(from) if self.releasing && from > 1 => self.max_export_bytes.min(from - 1),
                        _ => self.max_export_bytes,
                    };
                    let Some((protobuf, spans, waiters)) =
                        self.queue.take_batch(self.max_export_batch, max_bytes)
                    else {
                        self.releasing = false;
                        break;
                    };
                    let request = Request {
                        body: self.exporter.compress(protobuf),
                        spans,
                        attempts: 0,
                        not_before: now,
                    };
                    (request, waiters)
                }
                None => break,
            };
            let exporter = self.exporter.clone();
            self.spans_in_flight += request.spans;
            self.exports.push(Box::pin(async move {
                (exporter.send(request.body.clone(), waiters).await, request)
            }));
        }
    }

    /// Books an export's outcome: counted, retried later, or dropped and counted.
    fn settle(&mut self, outcome: Attempt, mut request: Request) {
        self.spans_in_flight -= request.spans;
        match outcome {
            Attempt::Delivered => self.destination.count_exported(&self.stats, request.spans),
            Attempt::Retry(reason) if request.attempts + 1 < MAX_EXPORT_ATTEMPTS => {
                // The collector is struggling: nobody should wait for it.
                self.queue.release_waiters();
                request.attempts += 1;
                request.not_before = Instant::now() + FIRST_RETRY_BACKOFF * 2u32.pow(request.attempts - 1);
                eprintln!(
                    "[telemetry] {} export failed (attempt {}), will retry: {reason}",
                    self.destination.label(),
                    request.attempts
                );
                self.retries.push(request);
            }
            Attempt::Retry(reason) | Attempt::GiveUp(reason) => {
                self.queue.release_waiters();
                self.count_dropped(request.spans);
                eprintln!(
                    "[telemetry] {} export dropped {} {}: {reason}",
                    self.destination.label(),
                    request.spans,
                    self.destination.units()
                );
            }
        }
    }

    /// Shutdown: everything left goes out at once, retried without backoff, until the deadline.
    pub async fn drain(&mut self, deadline: Instant) {
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
                Ok(None) | Err(_) => break,
            }
        }
        // Exports still under way at the deadline are lost with the process.
        let unfinished =
            self.queue.spans + self.retries.iter().map(|r| r.spans).sum::<usize>() + self.spans_in_flight;
        if unfinished > 0 {
            self.count_dropped(unfinished);
            eprintln!(
                "[telemetry] shutdown: {unfinished} {} {} could not be delivered in time",
                self.destination.label(),
                self.destination.units()
            );
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
    /// Adds spans; past `max_spans`, the oldest are dropped: returns how many.
    fn push(&mut self, pending: Pending, max_spans: usize) -> usize {
        let mut dropped = 0;
        while self.spans + pending.spans > max_spans {
            let Some(oldest) = self.pending.pop_front() else {
                break;
            };
            self.spans -= oldest.spans;
            dropped += oldest.spans;
        }
        self.spans += pending.spans;
        self.pending.push_back(pending);
        dropped
    }

    /// Up to `max` spans and `max_bytes` of protobuf (whole hand-overs, at least one) as
    /// one protobuf request, with their count and waiters.
    fn take_batch(
        &mut self,
        max: usize,
        max_bytes: usize,
    ) -> Option<(Vec<u8>, usize, Vec<oneshot::Sender<()>>)> {
        let first = self.pending.pop_front()?;
        let (mut protobuf, mut spans, mut waiters) =
            (first.protobuf, first.spans, Vec::from_iter(first.delivered));
        while let Some(next) = self.pending.front() {
            // Concatenated requests are one request of the summed size (one repeated field).
            if spans + next.spans > max || protobuf.len() + next.protobuf.len() > max_bytes {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A transport that records the size of every body it is given, and delivers it.
    struct Recording {
        bodies: Mutex<Vec<usize>>,
        compresses_from: Option<usize>,
    }

    impl Transport for Recording {
        fn compress(&self, body: Vec<u8>) -> bytes::Bytes {
            body.into()
        }

        async fn send(&self, body: bytes::Bytes, _written: Vec<oneshot::Sender<()>>) -> Attempt {
            self.bodies.lock().unwrap().push(body.len());
            Attempt::Delivered
        }

        fn set_header(&self, _name: &str, _value: &str) {}

        fn compresses_from(&self) -> Option<usize> {
            self.compresses_from
        }
    }

    fn recording_pipeline(compresses_from: Option<usize>) -> Pipeline<Recording> {
        let recording = Recording {
            bodies: Mutex::new(Vec::new()),
            compresses_from,
        };
        let stats = Arc::new(DeliveryStats::default());
        Pipeline::with_limits(recording, Destination::Collector, 2_048, 512, usize::MAX, stats)
    }

    /// Forty invocations' spans (1,000 bytes each) held for a key, then released.
    async fn release_a_held_backlog(pipeline: &mut Pipeline<Recording>) -> Vec<usize> {
        pipeline.hold();
        for _ in 0..40 {
            let (delivered, _) = oneshot::channel();
            let chunk = split::Chunk {
                protobuf: vec![0; 1_000],
                spans: 2,
            };
            pipeline.queue_encoded(vec![chunk], delivered);
        }
        assert!(pipeline.exporter.bodies.lock().unwrap().is_empty(), "held");
        pipeline.release("x-honeycomb-team", "key");
        while !pipeline.exports.is_empty() || pipeline.queue.spans > 0 {
            pipeline.progress().await;
        }
        std::mem::take(&mut *pipeline.exporter.bodies.lock().unwrap())
    }

    #[tokio::test]
    async fn a_released_backlog_goes_in_requests_below_the_compression_threshold() {
        let mut pipeline = recording_pipeline(Some(8_192));
        let bodies = release_a_held_backlog(&mut pipeline).await;
        assert_eq!(
            bodies.iter().sum::<usize>(),
            40_000,
            "every span went: {bodies:?}"
        );
        assert!(bodies.iter().all(|len| *len < 8_192), "{bodies:?}");
        assert!(!pipeline.releasing, "the release is over once the queue is empty");
        // Without compression there is nothing to avoid: the backlog goes in whole batches.
        let bodies = release_a_held_backlog(&mut recording_pipeline(None)).await;
        assert!(bodies.iter().any(|len| *len >= 8_192), "{bodies:?}");
    }
}
