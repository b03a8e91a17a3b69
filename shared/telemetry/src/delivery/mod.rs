//! Delivery: moving finished spans to X-Ray (the daemon, or X-Ray's OTLP endpoint) and
//! the OTLP collector without costing the response, and without losing them.
//!
//! Arrows: delivery sits over the transports (`xray::Sender`, `otlp::Exporter`) and
//! the model; nothing below imports it. The invocation layer hands it each
//! invocation's spans.
//!
//! X-Ray's side goes one of two ways: as datagrams to the daemon, sent at once, or (with
//! `CRUDDUR_XRAY_OTLP_ENDPOINT`) as signed OTLP through a pipeline of its own, the same
//! as the collector's (queue, batches, retries, the flush budget), held to the endpoint's
//! limits (`split`) and counted apart: never both.
//!
//! One worker owns the UDP socket and the HTTP client. Where Lambda runs one
//! invocation at a time it is a task on the function's own runtime: its encoding and
//! compression run after a response, when the thread would otherwise wait for the next
//! event. Under Managed Instances it is a thread of its own (with a single-threaded
//! runtime), so that it never competes with the invocations in flight.
//! An invocation hands over its spans
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
#[cfg(feature = "otlp")]
mod split;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};

use crate::{answer_gate::AnswerGate, config::Config, model::SpanRecord};

/// Most hand-overs waiting for the delivery task; past it (the task is starved)
/// spans are dropped and counted rather than held without bound.
const MAX_PENDING_COMMANDS: usize = 1_024;

/// Counters of telemetry that could not be delivered.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    dropped_spans: AtomicU64,
    dropped_xray_documents: AtomicU64,
    dropped_xray_spans: AtomicU64,
    exported_spans: AtomicU64,
    exported_xray_spans: AtomicU64,
    dropped_rollbar_items: AtomicU64,
    exported_rollbar_items: AtomicU64,
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
    /// Spans for X-Ray's OTLP endpoint given up on (refused, e.g. a bad signature; failing
    /// past the retry budget; too large; queue full; shutdown).
    pub xray_spans: u64,
    /// Rollbar items not sent (past the per-minute cap, refused, failing, shutdown).
    pub rollbar_items: u64,
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

    /// Counts `n` spans for X-Ray's OTLP endpoint as dropped.
    pub fn drop_xray_spans(&self, n: usize) {
        self.dropped_xray_spans.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` Rollbar items as not sent.
    pub fn drop_rollbar_items(&self, n: usize) {
        self.dropped_rollbar_items.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` Rollbar items as taken by Rollbar.
    pub(crate) fn exported_rollbar(&self, n: usize) {
        self.exported_rollbar_items.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` spans as accepted by the collector.
    pub(crate) fn exported(&self, n: usize) {
        self.exported_spans.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` spans as accepted by X-Ray's OTLP endpoint.
    pub(crate) fn exported_xray(&self, n: usize) {
        self.exported_xray_spans.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Takes the drop counts, resetting them.
    pub fn take_dropped(&self) -> Dropped {
        Dropped {
            spans: self.dropped_spans.swap(0, Ordering::Relaxed),
            xray_documents: self.dropped_xray_documents.swap(0, Ordering::Relaxed),
            xray_spans: self.dropped_xray_spans.swap(0, Ordering::Relaxed),
            rollbar_items: self.dropped_rollbar_items.swap(0, Ordering::Relaxed),
        }
    }

    /// Spans the collector accepted since the process started.
    pub fn exported_spans(&self) -> u64 {
        self.exported_spans.load(Ordering::Relaxed)
    }

    /// Spans X-Ray's OTLP endpoint accepted since the process started.
    pub fn exported_xray_spans(&self) -> u64 {
        self.exported_xray_spans.load(Ordering::Relaxed)
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
        /// The invocation's Rollbar item, when it faulted (and Rollbar is on).
        item: Option<Vec<u8>>,
        delivered: oneshot::Sender<()>,
    },
    Shutdown {
        deadline: Instant,
        done: oneshot::Sender<()>,
    },
}

/// Handle to the delivery task.
pub(crate) struct Delivery {
    commands: Option<mpsc::Sender<Command>>,
    pub stats: Arc<DeliveryStats>,
    /// When the exports' answers are read: between a response and the end of its flush.
    answers: Arc<AnswerGate>,
}

impl Delivery {
    /// Starts the delivery task, or none when no span sink is configured.
    pub fn start(config: &Config) -> Self {
        let stats = Arc::new(DeliveryStats::default());
        let answers = AnswerGate::new();
        let worker = Worker::new(config, stats.clone(), &answers);
        let commands = worker.map(|worker| {
            let (commands, receiver) = mpsc::channel(MAX_PENDING_COMMANDS);
            // One invocation at a time (a single-threaded runtime): a task on it. Nothing
            // else runs after a response, so no thread to start at init and no wake-up
            // across threads between an invocation and its flush (measured against a
            // thread: init CPU -0.34 ms, CPU per invocation -0.06 ms, billed after the
            // response -0.08 ms). Many at once (Managed Instances), or no runtime at all (a
            // caller of `init` outside one): a thread of its own, so that encoding never
            // competes with the invocations in flight for the runtime's workers.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
                    // The answers wait for the responses (see `AnswerGate`): the handler and
                    // they share this thread.
                    answers.enable();
                    runtime.spawn(worker.run(receiver));
                    return commands;
                }
            }
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
        Self {
            commands,
            stats,
            answers,
        }
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

    /// After a response: hands spans (and a Rollbar item) over and waits, at most
    /// `budget`, for them to be delivered. Answers to earlier exports are read meanwhile.
    pub async fn flush(&self, spans: Vec<SpanRecord>, item: Option<Vec<u8>>, budget: Duration) {
        // First: the connections with an answer waiting then run before delivery takes
        // these spans (and their connection may be free again for the new export).
        let answers_waiting = self.answers.open();
        if let Some(written) = self.hand_over(spans, item) {
            if !budget.is_zero() {
                let _ = tokio::time::timeout(budget, written).await;
            }
        }
        if answers_waiting {
            // Their turn, if the wait above gave none (nothing to hand over, no budget).
            tokio::task::yield_now().await;
        }
        self.answers.shut();
    }

    /// Hands spans and an item to the delivery task; returns what tells when they are
    /// written, or `None` when there was nothing to hand over, or no room (counted).
    fn hand_over(&self, spans: Vec<SpanRecord>, item: Option<Vec<u8>>) -> Option<oneshot::Receiver<()>> {
        let commands = self.commands.as_ref()?;
        if spans.is_empty() && item.is_none() {
            return None;
        }
        let (delivered, written) = oneshot::channel();
        let (count, items) = (spans.len(), usize::from(item.is_some()));
        let command = Command::Spans {
            spans,
            item,
            delivered,
        };
        if commands.try_send(command).is_err() {
            self.stats.drop_spans(count);
            self.stats.drop_rollbar_items(items);
            return None;
        }
        Some(written)
    }

    /// Delivers everything still queued within `budget`; what cannot go is counted as dropped.
    pub async fn shutdown(&self, spans: Vec<SpanRecord>, budget: Duration) {
        let Some(commands) = &self.commands else { return };
        // No response is coming: answers are read as they arrive.
        self.answers.open_for_good();
        let deadline = Instant::now() + budget;
        self.hand_over(spans, None);
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

/// Time allowed, after the shutdown deadline, for the delivery task's final count.
const SHUTDOWN_REPORT_MARGIN: Duration = Duration::from_millis(100);

/// The delivery task's state: one transport per destination.
struct Worker {
    stats: Arc<DeliveryStats>,
    #[cfg(feature = "xray")]
    xray: Option<crate::xray::Sender>,
    #[cfg(feature = "otlp")]
    otlp: Option<pipeline::Pipeline<crate::otlp::Exporter>>,
    /// X-Ray's side as signed OTLP (instead of `xray`, never beside it; feature `xray-otlp`).
    #[cfg(feature = "otlp")]
    xray_otlp: Option<pipeline::Pipeline<crate::otlp::Exporter>>,
    /// Faults as Rollbar items (`()` in a build without them).
    #[cfg(feature = "rollbar")]
    rollbar: Option<pipeline::Pipeline<crate::rollbar::Sender>>,
    #[cfg(not(feature = "rollbar"))]
    rollbar: (),
    /// Inside Lambda, X-Ray takes only traces under Lambda's facade segment.
    in_lambda: bool,
    /// Secrets read from SSM that exports wait for (the Honeycomb key, the Rollbar token).
    #[cfg(all(feature = "otlp", feature = "aws"))]
    secrets: Vec<key::KeyRead>,
    export_unsampled: bool,
}

impl Worker {
    /// A worker, or `None` when there is nothing to deliver to.
    fn new(config: &Config, stats: Arc<DeliveryStats>, answers: &Arc<AnswerGate>) -> Option<Self> {
        #[cfg(not(feature = "otlp"))]
        let _ = answers;
        // Mutable where a secret from SSM may hold its exports.
        #[cfg(feature = "otlp")]
        #[cfg_attr(not(feature = "aws"), allow(unused_mut))]
        let mut otlp = crate::otlp::Exporter::new(config, answers).map(|exporter| {
            pipeline::Pipeline::new(exporter, pipeline::Destination::Collector, config, stats.clone())
        });
        #[cfg(feature = "xray-otlp")]
        let xray_otlp = crate::otlp::Exporter::for_xray(config, answers).map(|exporter| {
            pipeline::Pipeline::new(exporter, pipeline::Destination::Xray, config, stats.clone())
        });
        #[cfg(all(feature = "otlp", not(feature = "xray-otlp")))]
        let xray_otlp = None;
        // Set, the endpoint replaces the daemon, even when it is unusable (said on stderr):
        // X-Ray's side never goes two ways.
        #[cfg(any(feature = "xray", not(feature = "xray-otlp")))]
        let xray_by_otlp = config.xray_otlp_endpoint.is_some();
        #[cfg(not(feature = "xray-otlp"))]
        if xray_by_otlp {
            eprintln!(
                "[telemetry] {} is set, but this build has no xray-otlp feature: X-Ray documents are not sent",
                crate::config::CRUDDUR_XRAY_OTLP_ENDPOINT
            );
        }
        #[cfg(feature = "rollbar")]
        #[cfg_attr(not(feature = "aws"), allow(unused_mut))]
        let mut rollbar = config.rollbar.as_ref().and_then(|settings| {
            let sender = crate::rollbar::Sender::new(&settings.endpoint, config.otlp_timeout, answers)?;
            if let Some(token) = &settings.token {
                sender.set_token(token);
            }
            Some(pipeline::Pipeline::for_rollbar(
                sender,
                MAX_QUEUED_ROLLBAR_ITEMS,
                stats.clone(),
            ))
        });
        #[cfg(all(feature = "otlp", feature = "aws"))]
        let mut secrets = Vec::new();
        // Made only where a secret is configured (and then once, for both).
        #[cfg(all(feature = "otlp", feature = "aws"))]
        let store = std::cell::OnceCell::new();
        #[cfg(all(feature = "otlp", feature = "aws"))]
        let store = || {
            store
                .get_or_init(|| crate::secrets::ParameterStore::new(config).map(Arc::new))
                .clone()
        };
        #[cfg(all(feature = "otlp", feature = "aws"))]
        if let (Some(otlp), Some(parameter), Some(store)) =
            (&mut otlp, &config.honeycomb_key_parameter, store())
        {
            otlp.hold();
            secrets.push(key::KeyRead::new(
                store,
                parameter.clone(),
                "x-honeycomb-team",
                key::Target::Collector,
            ));
        }
        #[cfg(all(feature = "rollbar", feature = "aws"))]
        if let (Some(rollbar), Some(parameter), Some(store)) = (
            &mut rollbar,
            config.rollbar.as_ref().and_then(|r| r.token_parameter.as_ref()),
            store(),
        ) {
            rollbar.hold();
            secrets.push(key::KeyRead::new(
                store,
                parameter.clone(),
                "x-rollbar-access-token",
                key::Target::Rollbar,
            ));
        }
        let worker = Self {
            #[cfg(feature = "xray")]
            xray: (!xray_by_otlp).then(|| crate::xray::Sender::new(config)),
            #[cfg(feature = "otlp")]
            otlp,
            #[cfg(feature = "otlp")]
            xray_otlp,
            #[cfg(feature = "rollbar")]
            rollbar,
            #[cfg(not(feature = "rollbar"))]
            rollbar: (),
            in_lambda: config.in_lambda(),
            #[cfg(all(feature = "otlp", feature = "aws"))]
            secrets,
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
            any |= self.otlp.is_some() || self.xray_otlp.is_some();
        }
        #[cfg(feature = "rollbar")]
        {
            any |= self.rollbar.is_some();
        }
        any
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Spans { spans, item, delivered }) => {
                        let delivered = self.accept_item(item, delivered);
                        self.accept(spans, delivered);
                    }
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
        for secret in &mut self.secrets {
            secret.start();
        }
    }

    /// Queues a fault's Rollbar item; returns what tells the invocation when it and the
    /// spans to come are written.
    fn accept_item(&mut self, item: Option<Vec<u8>>, delivered: oneshot::Sender<()>) -> oneshot::Sender<()> {
        #[cfg(feature = "rollbar")]
        if let (Some(item), Some(rollbar)) = (item, &mut self.rollbar) {
            return both(delivered, |written| rollbar.accept_item(item, written));
        }
        #[cfg(not(feature = "rollbar"))]
        let _ = item;
        delivered
    }

    /// Sends the X-Ray documents at once and queues the spans for OTLP (and X-Ray's
    /// OTLP endpoint). `delivered` is told once every pipeline has written them (or
    /// given up waiting).
    fn accept(&mut self, spans: Vec<SpanRecord>, delivered: oneshot::Sender<()>) {
        #[cfg(feature = "xray")]
        if let Some(xray) = &mut self.xray {
            self.stats.drop_xray_documents(xray.send(&spans));
        }
        #[cfg(feature = "otlp")]
        let delivered = match &mut self.xray_otlp {
            Some(xray_otlp) => {
                // What the daemon would get: sampled traces, and inside Lambda only those
                // under Lambda's facade (a trace of our own would be a phantom node).
                let in_lambda = self.in_lambda;
                let for_xray =
                    |s: &SpanRecord| s.trace.sampled && (!in_lambda || s.trace.lambda_parent.is_some());
                let xray_spans: std::borrow::Cow<'_, [SpanRecord]> = if spans.iter().all(for_xray) {
                    std::borrow::Cow::Borrowed(&spans)
                } else {
                    std::borrow::Cow::Owned(spans.iter().filter(|s| for_xray(s)).cloned().collect())
                };
                if self.otlp.is_none() {
                    xray_otlp.accept(&xray_spans, delivered);
                    return;
                }
                // Two pipelines: the invocation waits for both (each within its budget).
                both(delivered, |written| xray_otlp.accept(&xray_spans, written))
            }
            None => delivered,
        };
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

    /// Moves exports and the secrets' reads along. Pending when there is nothing to do
    /// until the next command.
    async fn progress(&mut self) {
        #[cfg(all(feature = "otlp", feature = "aws"))]
        if !self.secrets.is_empty() {
            let reads = self.secrets.iter_mut().map(|secret| Box::pin(secret.progress()));
            let read = tokio::select! {
                (read, index, _) = futures_util::future::select_all(reads) => Some((index, read)),
                () = exports_progress(&mut self.otlp, &mut self.xray_otlp, rollbar_of(&mut self.rollbar)) => None,
            };
            if let Some((index, read)) = read {
                self.secret_read(index, read);
            }
            return;
        }
        #[cfg(feature = "otlp")]
        return exports_progress(&mut self.otlp, &mut self.xray_otlp, rollbar_of(&mut self.rollbar)).await;
        #[cfg(not(feature = "otlp"))]
        std::future::pending().await
    }

    /// A secret arrived (the exports held for it go), or cannot be read (they are
    /// dropped, counted, and the failure reported once).
    #[cfg(all(feature = "otlp", feature = "aws"))]
    fn secret_read(&mut self, index: usize, read: Result<String, crate::secrets::SecretError>) {
        let secret = self.secrets.remove(index);
        let (header, target) = (secret.header(), secret.target());
        macro_rules! settle {
            ($pipeline:expr, $units:literal) => {
                if let Some(pipeline) = $pipeline {
                    match read {
                        Ok(value) => pipeline.release(header, &value),
                        Err(error) => {
                            eprintln!(
                                "[telemetry] cannot read {} from SSM parameter {}: {error}; {} are dropped (counted) from now on",
                                target.secret_name(),
                                secret.parameter(),
                                $units
                            );
                            self.stats.secret_unavailable();
                            pipeline.disable();
                        }
                    }
                }
            };
        }
        match target {
            key::Target::Collector => settle!(&mut self.otlp, "OTLP spans"),
            #[cfg(feature = "rollbar")]
            key::Target::Rollbar => settle!(&mut self.rollbar, "Rollbar items"),
            #[cfg(not(feature = "rollbar"))]
            key::Target::Rollbar => {}
        }
    }

    /// Shutdown: everything left goes out at once, until the deadline (a key still
    /// being read gets until then too).
    async fn drain(&mut self, deadline: Instant) {
        #[cfg(all(feature = "otlp", feature = "aws"))]
        while !self.secrets.is_empty() {
            let reads = self.secrets.iter_mut().map(|secret| Box::pin(secret.progress()));
            let read = tokio::time::timeout_at(deadline.into(), futures_util::future::select_all(reads))
                .await
                .map(|(read, index, _)| (index, read));
            match read {
                Ok((index, read)) => self.secret_read(index, read),
                Err(_) => break,
            }
        }
        #[cfg(feature = "otlp")]
        {
            async fn drain<T: pipeline::Transport>(
                pipeline: &mut Option<pipeline::Pipeline<T>>,
                deadline: Instant,
            ) {
                if let Some(pipeline) = pipeline {
                    pipeline.drain(deadline).await;
                }
            }
            #[cfg(feature = "rollbar")]
            let rollbar = drain(&mut self.rollbar, deadline);
            #[cfg(not(feature = "rollbar"))]
            let rollbar = std::future::ready(());
            // Side by side: each within the same deadline.
            tokio::join!(
                drain(&mut self.otlp, deadline),
                drain(&mut self.xray_otlp, deadline),
                rollbar
            );
        }
        let _ = deadline;
    }
}

/// Moves every pipeline's exports along; pending while none has anything to do.
#[cfg(feature = "otlp")]
async fn exports_progress(
    otlp: &mut Option<pipeline::Pipeline<crate::otlp::Exporter>>,
    xray_otlp: &mut Option<pipeline::Pipeline<crate::otlp::Exporter>>,
    rollbar: impl std::future::Future<Output = ()>,
) {
    async fn one<T: pipeline::Transport>(pipeline: &mut Option<pipeline::Pipeline<T>>) {
        match pipeline {
            Some(pipeline) => pipeline.progress().await,
            None => std::future::pending().await,
        }
    }
    tokio::select! {
        () = one(otlp) => {}
        () = one(xray_otlp) => {}
        () = rollbar => {}
    }
}

/// The Rollbar pipeline's progress (pending forever without one).
#[cfg(feature = "rollbar")]
async fn rollbar_of(rollbar: &mut Option<pipeline::Pipeline<crate::rollbar::Sender>>) {
    match rollbar {
        Some(pipeline) => pipeline.progress().await,
        None => std::future::pending().await,
    }
}

/// Without the Rollbar feature there is nothing to move.
#[cfg(all(feature = "otlp", not(feature = "rollbar")))]
async fn rollbar_of(_: &mut ()) {
    std::future::pending().await
}

/// A waiter told once both `delivered`'s own hand-over and the one `accept` queues are
/// written: the invocation waits for both, each within its budget.
#[cfg(feature = "otlp")]
fn both(delivered: oneshot::Sender<()>, accept: impl FnOnce(oneshot::Sender<()>)) -> oneshot::Sender<()> {
    let (first, first_written) = oneshot::channel();
    let (second, second_written) = oneshot::channel();
    accept(first);
    tokio::spawn(async move {
        let _ = tokio::join!(first_written, second_written);
        let _ = delivered.send(());
    });
    second
}

/// Most Rollbar items waiting to be sent (a failing Rollbar: the rest are dropped, counted).
#[cfg(feature = "rollbar")]
const MAX_QUEUED_ROLLBAR_ITEMS: usize = 20;
