//! When the export connections may read their answers.
//!
//! The exports' answers wait for the response. Where Lambda runs one invocation at a
//! time, an export's answer usually arrives while the process is frozen (the collector
//! is milliseconds away; the flush waits only for the write). On thaw the socket with the
//! answer and the Runtime API's socket with the next event are ready together, and the
//! scheduler would read the answer (and let delivery book it) before the handler ran:
//! measured, about 50 us on every invocation's latency. So a connection's socket reads
//! only while the gate is open, from a response being posted to the end of its flush,
//! when the thread would otherwise wait. Only reads wait: writes, and so exports queued
//! behind a slow collector, go as soon as a connection is free.
//!
//! Waiting must cost the handler nothing either. A socket's readiness wakes its
//! connection's task through a [`Doorbell`]: with the gate shut it parks the task's waker
//! here instead, so an answer that arrives while the process is frozen does not poll the
//! connection (hyper's dispatcher, only to park again) on thaw, before the handler. A
//! parked read goes at the next response, or at shutdown. A connection polled while the
//! gate is shut (a request written on it meanwhile) parks too, with a short grace from
//! then (a long handler, a process never frozen, as under `cargo lambda watch`).
//!
//! Arrows: a leaf beside the transports; `http_client` asks it before each read, and
//! delivery opens it while an invocation flushes.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
    task::{Context, Poll, Wake, Waker},
    time::Duration,
};

/// How long a read waits for a response to be posted before it goes anyway, from when it
/// first waits (a handler that runs long, a process that is never frozen).
pub(crate) const ANSWER_GRACE: Duration = Duration::from_millis(2);

/// When the export connections may read their answers: while a response has just been
/// posted (see the module doc). Off (answers read at once) unless [`AnswerGate::enable`]d,
/// which delivery does only where it shares one thread with one invocation at a time.
#[derive(Debug, Default)]
pub(crate) struct AnswerGate {
    enabled: AtomicBool,
    open: AtomicBool,
    /// Connections waiting to read, woken when the gate opens.
    parked: Mutex<Vec<Waker>>,
}

impl AnswerGate {
    /// A gate that is off: every read goes at once.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Turns the gate on (shut until the first response).
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// A response was posted (or the process is shutting down): the reads waiting go.
    /// Returns whether any were waiting.
    pub fn open(&self) -> bool {
        self.open.store(true, Ordering::Release);
        let parked = std::mem::take(&mut *self.parked.lock().unwrap_or_else(PoisonError::into_inner));
        let any = !parked.is_empty();
        for waker in parked {
            waker.wake();
        }
        any
    }

    /// The process is shutting down: no response is coming, so every read goes from now
    /// on, whatever a flush still under way does with the gate when it ends (one that
    /// shut it again left the last exports' answers parked, their spans counted as lost).
    pub fn open_for_good(&self) {
        self.enabled.store(false, Ordering::Release);
        self.open();
    }

    /// The flush is over: later reads wait for the next response (or the grace).
    pub fn shut(&self) {
        self.open.store(false, Ordering::Release);
    }

    /// Ready when a read may go; else parks `cx`'s task until the gate opens or `grace`
    /// (armed at the first wait) runs out.
    pub(crate) fn poll_open(
        &self,
        cx: &mut Context<'_>,
        grace: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> Poll<()> {
        if self.lets_reads_go() {
            *grace = None;
            return Poll::Ready(());
        }
        let sleep = grace.get_or_insert_with(|| Box::pin(tokio::time::sleep(ANSWER_GRACE)));
        if sleep.as_mut().poll(cx).is_ready() {
            *grace = None;
            return Poll::Ready(());
        }
        self.wake_when_open(cx.waker());
        Poll::Pending
    }

    /// Whether reads go now: the gate is off, or open.
    fn lets_reads_go(&self) -> bool {
        !self.enabled.load(Ordering::Relaxed) || self.open.load(Ordering::Acquire)
    }

    /// Wakes `task` at once if reads may go, else at the next [`AnswerGate::open`].
    fn wake_when_open(&self, task: &Waker) {
        if self.lets_reads_go() {
            task.wake_by_ref();
            return;
        }
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked again under the lock: an `open` in between has taken the list already.
        if self.open.load(Ordering::Acquire) {
            drop(parked);
            task.wake_by_ref();
        } else if !parked.iter().any(|waker| waker.will_wake(task)) {
            parked.push(task.clone());
        }
    }
}

/// What a connection's socket wakes when it becomes ready: the connection's task, at once
/// if the gate lets reads go, else at the next response (see the module doc).
pub(crate) struct Doorbell {
    gate: Arc<AnswerGate>,
    /// The task to wake: the last one that read through this doorbell.
    task: Mutex<Option<Waker>>,
}

impl Doorbell {
    /// A doorbell for one connection, and the waker its socket is given.
    pub fn new(gate: &Arc<AnswerGate>) -> (Arc<Self>, Waker) {
        let doorbell = Arc::new(Doorbell {
            gate: gate.clone(),
            task: Mutex::new(None),
        });
        let waker = Waker::from(doorbell.clone());
        (doorbell, waker)
    }

    /// The gate it rings through.
    pub fn gate(&self) -> &AnswerGate {
        &self.gate
    }

    /// Whether reads should go through the doorbell (the gate is on at all).
    pub fn is_needed(&self) -> bool {
        self.gate.enabled.load(Ordering::Relaxed)
    }

    /// Remembers `task` as the one to wake.
    pub fn listen(&self, task: &Waker) {
        let mut current = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if !current.as_ref().is_some_and(|waker| waker.will_wake(task)) {
            *current = Some(task.clone());
        }
    }
}

impl Wake for Doorbell {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            self.gate.wake_when_open(&task);
        }
    }
}
