//! One OTLP endpoint's export queue: spans held encoded, sent in batches with a
//! few exports in flight, retried with backoff, and dropped (counted) past the
//! retry budget or the queue bound.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{stream::FuturesUnordered, StreamExt};
use tokio::sync::oneshot;

use super::DeliveryStats;
use crate::{
    config::Config,
    model::SpanRecord,
    otlp::{Exporter, Outcome},
};

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
type Export = Pin<Box<dyn Future<Output = (Outcome, Request)> + Send>>;

/// The export queue of one OTLP endpoint.
pub(super) struct Pipeline {
    exporter: Arc<Exporter>,
    stats: Arc<DeliveryStats>,
    max_queue_spans: usize,
    max_export_batch: usize,
    queue: Queue,
    exports: FuturesUnordered<Export>,
    /// Spans in `exports`, so a shutdown cut short can count what it loses.
    spans_in_flight: usize,
    retries: Vec<Request>,
    /// Exports wait: a header they need (the Honeycomb key) is still being read.
    held: bool,
    /// Nothing can go out (the key could not be read): spans are dropped and counted.
    disabled: bool,
}

impl Pipeline {
    pub fn new(exporter: Exporter, config: &Config, stats: Arc<DeliveryStats>) -> Self {
        Self {
            exporter: Arc::new(exporter),
            stats,
            max_queue_spans: config.max_queue_spans,
            max_export_batch: config.max_export_batch,
            queue: Queue::default(),
            exports: FuturesUnordered::new(),
            spans_in_flight: 0,
            retries: Vec::new(),
            held: false,
            disabled: false,
        }
    }

    /// Holds exports until [`Pipeline::release`]: spans queue meanwhile (bounded).
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// Sets a header every export needs and lets the held spans go.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub fn release(&mut self, name: &str, value: &str) {
        self.exporter.set_header(name, value);
        self.held = false;
        self.start_exports(Instant::now(), MAX_EXPORTS_IN_FLIGHT);
    }

    /// Gives up on exporting: what is queued, and all later spans, are dropped and counted.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub fn disable(&mut self) {
        self.disabled = true;
        self.held = false;
        self.queue.release_waiters();
        self.stats.drop_spans(self.queue.spans);
        self.queue = Queue::default();
    }

    /// Queues spans for export; `delivered` is told once they are written (or at once
    /// when they cannot go out within a flush budget anyway).
    pub fn accept(&mut self, spans: &[SpanRecord], delivered: oneshot::Sender<()>) {
        if self.disabled {
            self.stats.drop_spans(spans.len());
            let _ = delivered.send(());
            return;
        }
        let mut spans = spans;
        if spans.len() > self.max_queue_spans {
            self.stats.drop_spans(spans.len() - self.max_queue_spans);
            spans = &spans[..self.max_queue_spans];
        }
        if spans.is_empty() {
            let _ = delivered.send(());
            return;
        }
        let protobuf = self.exporter.encode(spans);
        // A retry waiting (the collector is failing), every export slot taken (it is
        // slow) or exports held for a key: these spans cannot go out within the flush
        // budget, so the invocation need not wait for them. They stay queued.
        let delivered = if !self.held && self.exports.len() < MAX_EXPORTS_IN_FLIGHT && self.retries.is_empty()
        {
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
        self.start_exports(Instant::now(), MAX_EXPORTS_IN_FLIGHT);
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
                    let Some((protobuf, spans, waiters)) = self.queue.take_batch(self.max_export_batch)
                    else {
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
    fn settle(&mut self, outcome: Outcome, mut request: Request) {
        self.spans_in_flight -= request.spans;
        match outcome {
            Outcome::Delivered => self.stats.exported(request.spans),
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
