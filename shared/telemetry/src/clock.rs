//! Time the process ran, for timeouts that must not fire because of a freeze.
//!
//! Lambda freezes the process (SIGSTOP) between invocations, and the wall clock keeps
//! going. An export sent just before a freeze whose answer came back meanwhile would
//! look, on thaw, as if it had timed out, and be sent again: the collector would store
//! its spans twice (seen under the emulator's freeze with a 200 ms slow collector). So
//! an export attempt's timeout counts only time awake: it sleeps in short ticks, and a
//! tick that overshot by far was frozen through and counts as one tick.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

/// One step of the awake clock.
const TICK: Duration = Duration::from_millis(25);
/// A tick that took longer than this was frozen through.
const FROZEN_TICK: Duration = Duration::from_millis(250);

/// Runs `future` for at most `limit` of time the process was awake; `None` past it.
pub(crate) async fn awake_timeout<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = future => Some(output),
        () = awake_sleep(limit) => None,
    }
}

/// Sleeps until the process has been awake for `duration`.
async fn awake_sleep(duration: Duration) {
    let mut awake = Duration::ZERO;
    while awake < duration {
        let tick = TICK.min(duration - awake);
        let started = Instant::now();
        tokio::time::sleep(tick).await;
        let slept = started.elapsed();
        awake += if slept > FROZEN_TICK { tick } else { slept };
        if slept > FROZEN_TICK {
            // Whatever arrived while frozen (an answer in the socket) gets a turn first.
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_freeze_does_not_count_but_awake_time_does() {
        assert_eq!(
            awake_timeout(Duration::from_millis(100), async { 7 }).await,
            Some(7)
        );
        let never = std::future::pending::<()>();
        let started = Instant::now();
        assert_eq!(awake_timeout(Duration::from_millis(100), never).await, None);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_came_during_a_freeze_is_not_a_timeout() {
        // The answer lands 10.05 s after the request, 10 s of which the process was frozen.
        let answer = async {
            tokio::time::sleep(Duration::from_millis(10_050)).await;
            "answer"
        };
        let freeze = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tokio::time::advance(Duration::from_secs(10)).await;
        };
        let (outcome, ()) = tokio::join!(awake_timeout(Duration::from_millis(100), answer), freeze);
        assert_eq!(outcome, Some("answer"));
        // The wall clock would have called it a timeout.
        let answer = async {
            tokio::time::sleep(Duration::from_millis(10_050)).await;
            "answer"
        };
        let freeze = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tokio::time::advance(Duration::from_secs(10)).await;
        };
        let (outcome, ()) = tokio::join!(tokio::time::timeout(Duration::from_millis(100), answer), freeze);
        assert!(outcome.is_err());
    }
}
