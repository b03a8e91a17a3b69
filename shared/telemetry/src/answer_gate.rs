//! When the export connections may read their answers.
//!
//! The exports' answers wait for the response. Where Lambda runs one invocation at a
//! time, an export's answer usually arrives while the process is frozen (the collector
//! is milliseconds away; the flush waits only for the write). On thaw the socket with the
//! answer and the Runtime API's socket with the next event are ready together, and the
//! scheduler would read the answer (and let delivery book it) before the handler ran:
//! measured, about 50 us on every invocation's latency. So a connection's socket reads
//! only while the gate is open, from a response being posted to the end of its flush,
//! when the thread would otherwise wait; at any other time a read waits for the next
//! response, or for a short grace from when it first waits (a long handler, a process
//! never frozen, as under `cargo lambda watch`), whichever comes first. Only reads wait: writes, and so
//! exports queued behind a slow collector, go as soon as a connection is free.
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
    task::{Context, Poll, Waker},
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
        if !self.enabled.load(Ordering::Relaxed) || self.open.load(Ordering::Acquire) {
            *grace = None;
            return Poll::Ready(());
        }
        let sleep = grace.get_or_insert_with(|| Box::pin(tokio::time::sleep(ANSWER_GRACE)));
        if sleep.as_mut().poll(cx).is_ready() {
            *grace = None;
            return Poll::Ready(());
        }
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked again under the lock: an `open` in between has taken the list already.
        if self.open.load(Ordering::Acquire) {
            *grace = None;
            return Poll::Ready(());
        }
        if !parked.iter().any(|waker| waker.will_wake(cx.waker())) {
            parked.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
