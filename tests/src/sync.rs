//! A mutex-guarded state plus a change notification, shared by every fake.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

/// State that background tasks update and tests wait on.
pub(crate) struct Shared<S> {
    state: Mutex<S>,
    changed: Notify,
}

impl<S> Shared<S> {
    pub(crate) fn new(state: S) -> Self {
        Self {
            state: Mutex::new(state),
            changed: Notify::new(),
        }
    }

    /// Locks the state; a panic in another holder does not poison it for the tests.
    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state and wakes every waiter.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        let result = f(&mut self.lock());
        self.changed.notify_waiters();
        result
    }

    /// Wakes every waiter without changing anything.
    pub(crate) fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// Runs `check` now and after every change until it returns `Some`, or until
    /// `timeout` passes (then `None`). `check` may change the state; call
    /// [`Shared::notify`] afterwards when it did.
    pub(crate) async fn wait_for<R>(
        &self,
        timeout: Option<Duration>,
        mut check: impl FnMut(&mut S) -> Option<R>,
    ) -> Option<R> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let found = check(&mut self.lock());
            if found.is_some() {
                return found;
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        let found = check(&mut self.lock());
                        return found;
                    }
                }
                None => notified.await,
            }
        }
    }
}
