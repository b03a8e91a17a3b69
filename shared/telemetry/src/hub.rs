//! The state one process shares between the `tracing` layers, the invocation
//! layer and the delivery thread: the current invocation's trace, the spans that
//! finished since the last flush, and the invocation's metrics.

use std::{
    io::Write,
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use std::time::Instant;

use crate::{
    config::Config,
    delivery::{Delivery, Dropped},
    emf::{MetricSet, Unit},
    span::{SpanRecord, TraceContext},
};

/// Shared telemetry state; one per process, built by [`crate::init`].
pub(crate) struct Hub {
    pub config: Config,
    /// The trace of the invocation in progress, for spans and log lines that have no
    /// parent span (tasks spawned without `.in_current_span()`).
    current: RwLock<Option<Arc<TraceContext>>>,
    /// Spans finished since the last hand-off to delivery.
    finished: Mutex<Vec<SpanRecord>>,
    /// The invocation's metrics, written out as EMF once the response is sent.
    pub metrics: Mutex<MetricSet>,
    pub delivery: Delivery,
    /// Whether finished spans have a sink at all (X-Ray or OTLP compiled in).
    has_span_sink: bool,
}

impl Hub {
    pub fn new(config: Config) -> Self {
        Self {
            delivery: Delivery::start(&config),
            metrics: Mutex::new(MetricSet::new(&config)),
            current: RwLock::new(None),
            finished: Mutex::new(Vec::new()),
            has_span_sink: cfg!(any(feature = "xray", feature = "otlp")),
            config,
        }
    }

    /// The trace of the invocation in progress, if any.
    pub fn current_trace(&self) -> Option<Arc<TraceContext>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets (or, with `None`, clears) the invocation in progress.
    pub fn set_current_trace(&self, trace: Option<Arc<TraceContext>>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = trace;
    }

    /// Whether spans of this trace are worth recording (some sink will take them).
    pub fn records(&self, trace: &TraceContext) -> bool {
        self.has_span_sink
            && (trace.sampled || (self.config.export_unsampled && self.config.otlp_endpoint.is_some()))
    }

    /// Keeps a finished span until the invocation hands its spans to delivery.
    pub fn span_finished(&self, record: SpanRecord) {
        self.finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }

    /// Takes every span finished so far.
    pub fn take_finished(&self) -> Vec<SpanRecord> {
        std::mem::take(&mut *self.finished.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// After the response: the invocation's metrics and drop report go to the log
    /// stream, its spans to delivery (waiting at most the flush budget).
    pub async fn finish_invocation(&self, trace: &TraceContext, received: Instant) {
        let latency_ms = received.elapsed().as_secs_f64() * 1000.0;
        let dropped = self.delivery.stats.take_dropped();
        {
            let mut metrics = self.metrics.lock().unwrap_or_else(PoisonError::into_inner);
            metrics.add("Requests", Unit::Count, 1.0, false);
            metrics.add("Latency", Unit::Milliseconds, latency_ms, false);
            if dropped != Dropped::default() {
                metrics.add("TelemetryDroppedSpans", Unit::Count, dropped.spans as f64, false);
                metrics.add(
                    "TelemetryDroppedXrayDocuments",
                    Unit::Count,
                    dropped.xray_documents as f64,
                    false,
                );
            }
            #[cfg(feature = "emf")]
            for line in metrics.take_lines(trace) {
                self.write_line(&line);
            }
            #[cfg(not(feature = "emf"))]
            metrics.take_lines(trace);
        }
        if dropped != Dropped::default() {
            tracing::warn!(
                target: "telemetry::delivery",
                dropped_spans = dropped.spans,
                dropped_xray_documents = dropped.xray_documents,
                "telemetry could not deliver everything: the collector or daemon was unreachable or too slow"
            );
        }
        self.set_current_trace(None);
        self.delivery
            .flush(self.take_finished(), self.config.flush_budget)
            .await;
    }

    /// On SIGTERM: delivers what is left within the shutdown budget and reports any loss.
    pub async fn shutdown(&self) {
        // Lambda signals an idle process; anywhere else a signal may land mid-invocation:
        // let that invocation finish its spans first (for at most half the budget).
        let started = Instant::now();
        while self.current_trace().is_some() && started.elapsed() < self.config.shutdown_budget / 2 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        self.delivery
            .shutdown(self.take_finished(), self.config.shutdown_budget)
            .await;
        let dropped = self.delivery.stats.take_dropped();
        if dropped != Dropped::default() {
            tracing::warn!(
                target: "telemetry::delivery",
                dropped_spans = dropped.spans,
                dropped_xray_documents = dropped.xray_documents,
                "telemetry could not deliver everything before shutdown"
            );
        }
    }

    /// Writes one line to stdout (logs and EMF share Lambda's log stream).
    ///
    /// The line is written with one `write_all` on the locked handle, so lines from
    /// several threads never interleave; errors are ignored (nowhere to report them).
    pub fn write_line(&self, line: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line);
        let _ = out.flush();
    }
}
