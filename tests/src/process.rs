//! The function's child process, shared by [`crate::FunctionProcess`] (which owns it) and
//! the [`crate::RuntimeApi`] it was spawned against (which freezes, thaws, terminates and
//! kills it as Lambda does).
//!
//! Signals go through [`ChildProcess::signal`], which checks under the child's lock that
//! the process has not been reaped: a pid is never signalled after it could have been
//! recycled for another process.

use std::process::{Child, ExitStatus};
use std::sync::{Mutex, MutexGuard};

use anyhow::{bail, Context as _};

/// A spawned child process that several owners may signal.
pub(crate) struct ChildProcess {
    name: String,
    pid: u32,
    child: Mutex<Child>,
}

impl ChildProcess {
    pub(crate) fn new(name: &str, child: Child) -> Self {
        Self {
            name: name.to_owned(),
            pid: child.id(),
            child: Mutex::new(child),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    fn lock(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `signal`; fails when the process has already exited.
    pub(crate) fn signal(&self, signal: libc::c_int, label: &str) -> anyhow::Result<()> {
        let mut child = self.lock();
        if let Some(status) = child.try_wait()? {
            bail!(
                "cannot send {label} to {}: it already exited ({status})",
                self.name
            );
        }
        let pid = libc::pid_t::try_from(self.pid)?;
        // SAFETY: kill(2) with the pid of our own unreaped child: it cannot be recycled
        // while we hold the lock and have not waited on it.
        let rc = unsafe { libc::kill(pid, signal) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("sending {label} to {}", self.name));
        }
        Ok(())
    }

    /// The exit status, if it has exited.
    pub(crate) fn try_wait(&self) -> Option<ExitStatus> {
        self.lock().try_wait().ok().flatten()
    }

    /// True while the process has not exited (a stopped process is still running).
    pub(crate) fn is_running(&self) -> bool {
        matches!(self.lock().try_wait(), Ok(None))
    }

    /// True while the process is stopped (SIGSTOP): state `T` in `/proc/<pid>/stat`.
    pub(crate) fn is_stopped(&self) -> bool {
        // Held so that the pid cannot be reaped (and recycled) while we read its state.
        let mut child = self.lock();
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        // `pid (comm) S ...`: the state follows the last ')' (comm may contain spaces).
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "T" || state == "t")
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub(crate) fn kill_and_reap(&self) {
        let mut child = self.lock();
        let _ = child.kill();
        let _ = child.wait();
    }
}
