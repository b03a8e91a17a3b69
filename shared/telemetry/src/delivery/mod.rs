//! Delivery: moving finished spans to the X-Ray daemon and the OTLP collector
//! without costing the response, and without losing them.
//!
//! Arrows: delivery sits over the transports (`xray::Sender`, `otlp::Exporter`) and
//! the model; nothing below imports it. The invocation layer hands it each
//! invocation's spans.
//!
//! A dedicated thread (with its own single-threaded tokio runtime) owns the UDP
//! socket and the HTTP client, so encoding, compression and network waits never
//! run on the threads that serve requests. An invocation hands over its spans
//! after the response is posted and waits, at most the flush budget, until their
//! export request has been handed to the connection: from then on the kernel
//! delivers the bytes even while Lambda keeps the process frozen, and the
//! collector's answer is read on thaw (a failure is retried then). So the
//! invocation pays for encoding and writing, never for the collector's round
//! trip; a slow or failing collector does not hold it at all, and its spans stay
//! queued (memory bounded by the queue size) to go out with later invocations or
//! at shutdown. Exports that fail are retried with backoff a bounded number of
//! times (`pipeline`); what is finally dropped is counted in [`DeliveryStats`] and
//! reported by the invocation that notices it.
//!
//! A Honeycomb key kept in SSM is read here too (`key`), starting when the first
//! invocation does, never on the init path; OTLP exports wait for it (no span goes
//! out without it) and the spans held meanwhile go out once it arrives, or are
//! counted as dropped if it cannot be read.

#[cfg(all(feature = "otlp", feature = "aws"))]
mod key;
#[cfg(feature = "otlp")]
mod pipeline;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};

use crate::{config::Config, model::SpanRecord};

/// Most hand-overs waiting for the delivery thread; past it (the thread is starved)
/// spans are dropped and counted rather than held without bound.
const MAX_PENDING_COMMANDS: usize = 1_024;

/// Counters of telemetry that could not be delivered.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    dropped_spans: AtomicU64,
    dropped_xray_documents: AtomicU64,
    exported_spans: AtomicU64,
    /// Set when a secret the exports need could not be read; reported once.
    secret_unavailable: std::sync::atomic::AtomicBool,
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

    /// Counts `n` X-Ray documents as dropped.
    pub fn drop_xray_documents(&self, n: usize) {
        self.dropped_xray_documents.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` spans as accepted by the collector.
    pub(crate) fn exported(&self, n: usize) {
        self.exported_spans.fetch_add(n as u64, Ordering::Relaxed);
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

    /// Notes that a secret the exports need could not be read.
    pub(crate) fn secret_unavailable(&self) {
        self.secret_unavailable.store(true, Ordering::Relaxed);
    }

    /// Whether a secret could not be read since the last look (so it is reported once).
    pub fn take_secret_unavailable(&self) -> bool {
        self.secret_unavailable.swap(false, Ordering::Relaxed)
    }
}

enum Command {
    /// The first invocation started: time to read the secrets the exports need.
    FirstInvocation,
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
    commands: Option<mpsc::Sender<Command>>,
    pub stats: Arc<DeliveryStats>,
}

impl Delivery {
    /// Starts the delivery thread, or none when no span sink is configured.
    pub fn start(config: &Config) -> Self {
        let stats = Arc::new(DeliveryStats::default());
        let worker = Worker::new(config, stats.clone());
        let commands = worker.map(|worker| {
            let (commands, receiver) = mpsc::channel(MAX_PENDING_COMMANDS);
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

    /// Whether anything is delivered at all (an X-Ray or OTLP sink is configured).
    pub fn is_active(&self) -> bool {
        self.commands.is_some()
    }

    /// Says the first invocation started: secrets are read from now on, off the init path.
    pub fn first_invocation(&self) {
        if let Some(commands) = &self.commands {
            let _ = commands.try_send(Command::FirstInvocation);
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
        if commands.try_send(Command::Spans { spans, delivered }).is_err() {
            self.stats.drop_spans(count);
            return;
        }
        if !budget.is_zero() {
            let _ = tokio::time::timeout(budget, wait).await;
        }
    }

    /// Delivers everything still queued within `budget`; what cannot go is counted as dropped.
    pub async fn shutdown(&self, spans: Vec<SpanRecord>, budget: Duration) {
        let Some(commands) = &self.commands else { return };
        let deadline = Instant::now() + budget;
        if !spans.is_empty() {
            let (delivered, _) = oneshot::channel();
            let count = spans.len();
            if commands.try_send(Command::Spans { spans, delivered }).is_err() {
                self.stats.drop_spans(count);
            }
        }
        let (done, wait) = oneshot::channel();
        let sent = tokio::time::timeout_at(
            deadline.into(),
            commands.send(Command::Shutdown { deadline, done }),
        );
        if matches!(sent.await, Ok(Ok(()))) {
            // The worker stops exporting at the deadline and then only counts what is
            // left; the margin lets a busy machine schedule that count.
            let _ = tokio::time::timeout_at((deadline + SHUTDOWN_REPORT_MARGIN).into(), wait).await;
        }
    }
}

/// Time allowed, after the shutdown deadline, for the delivery thread's final count.
const SHUTDOWN_REPORT_MARGIN: Duration = Duration::from_millis(100);

/// The delivery thread's state: one transport per destination.
struct Worker {
    stats: Arc<DeliveryStats>,
    #[cfg(feature = "xray")]
    xray: Option<crate::xray::Sender>,
    #[cfg(feature = "otlp")]
    otlp: Option<pipeline::Pipeline>,
    /// The Honeycomb key, read from SSM, that OTLP exports wait for.
    #[cfg(all(feature = "otlp", feature = "aws"))]
    key: Option<key::KeyRead>,
    export_unsampled: bool,
}

impl Worker {
    /// A worker, or `None` when there is nothing to deliver to.
    fn new(config: &Config, stats: Arc<DeliveryStats>) -> Option<Self> {
        #[cfg(feature = "otlp")]
        let mut otlp = crate::otlp::Exporter::new(config)
            .map(|exporter| pipeline::Pipeline::new(exporter, config, stats.clone()));
        #[cfg(all(feature = "otlp", feature = "aws"))]
        let key = match (&mut otlp, &config.honeycomb_key_parameter) {
            (Some(otlp), Some(parameter)) => {
                otlp.hold();
                Some(key::KeyRead::new(parameter.clone(), "x-honeycomb-team"))
            }
            _ => None,
        };
        let worker = Self {
            #[cfg(feature = "xray")]
            xray: Some(crate::xray::Sender::new(config)),
            #[cfg(feature = "otlp")]
            otlp,
            #[cfg(all(feature = "otlp", feature = "aws"))]
            key,
            stats,
            export_unsampled: config.export_unsampled,
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

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Spans { spans, delivered }) => self.accept(spans, delivered),
                    Some(Command::FirstInvocation) => self.start_reading_secrets(),
                    Some(Command::Shutdown { deadline, done }) => {
                        self.drain(deadline).await;
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                () = self.progress() => {}
            }
        }
    }

    fn start_reading_secrets(&mut self) {
        #[cfg(all(feature = "otlp", feature = "aws"))]
        if let Some(key) = &mut self.key {
            key.start();
        }
    }

    /// Sends the X-Ray documents at once and queues the spans for OTLP.
    fn accept(&mut self, spans: Vec<SpanRecord>, delivered: oneshot::Sender<()>) {
        #[cfg(feature = "xray")]
        if let Some(xray) = &mut self.xray {
            self.stats.drop_xray_documents(xray.send(&spans));
        }
        let export_unsampled = self.export_unsampled;
        let spans: Vec<_> = spans
            .into_iter()
            .filter(|s| s.trace.sampled || export_unsampled)
            .collect();
        #[cfg(feature = "otlp")]
        if let Some(otlp) = &mut self.otlp {
            otlp.accept(&spans, delivered);
            return;
        }
        let _ = (spans, delivered);
    }

    /// Moves exports and the key read along. Pending when there is nothing to do until
    /// the next command.
    async fn progress(&mut self) {
        #[cfg(all(feature = "otlp", feature = "aws"))]
        if let (Some(key), Some(otlp)) = (&mut self.key, &mut self.otlp) {
            tokio::select! {
                read = key.progress() => self.key_read(read),
                () = otlp.progress() => {}
            }
            return;
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = &mut self.otlp {
            return otlp.progress().await;
        }
        std::future::pending().await
    }

    /// The key arrived (held spans go), or cannot be read (they are dropped, counted,
    /// and the failure reported once).
    #[cfg(all(feature = "otlp", feature = "aws"))]
    fn key_read(&mut self, read: Result<String, crate::secrets::SecretError>) {
        let (Some(key), Some(otlp)) = (self.key.take(), &mut self.otlp) else {
            return;
        };
        match read {
            Ok(value) => otlp.release(key.header(), &value),
            Err(error) => {
                eprintln!(
                    "[telemetry] cannot read the Honeycomb key from SSM parameter {}: {error}; \
                     OTLP spans are dropped (counted) from now on",
                    key.parameter()
                );
                self.stats.secret_unavailable();
                otlp.disable();
            }
        }
    }

    /// Shutdown: everything left goes out at once, until the deadline (a key still
    /// being read gets until then too).
    async fn drain(&mut self, deadline: Instant) {
        #[cfg(all(feature = "otlp", feature = "aws"))]
        if let Some(key) = &mut self.key {
            if let Ok(read) = tokio::time::timeout_at(deadline.into(), key.progress()).await {
                self.key_read(read);
            }
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = &mut self.otlp {
            otlp.drain(deadline).await;
        }
        let _ = deadline;
    }
}
