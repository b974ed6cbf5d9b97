//! A connection's timeouts, armed lazily as nginx arms its own: each connection keeps one tokio
//! timer per kind of timeout, and a new deadline re-arms it only when it would fire late or more
//! than a slack early. A request on a busy keep-alive connection then costs no timer-wheel work:
//! hyper's header-read timeout is set anew for every request head and the upstream timeout for
//! every exchange — each a wheel insertion and removal with a fresh tokio timer (4% of the
//! sidecar's CPU a request with both removed outright; armed lazily, 2% is saved: BENCHMARKS.md).
//! A timeout fires at most the slack early, never late.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The most a timeout fires early (nginx's `NGX_TIMER_LAZY_DELAY` is 300 ms).
pub const SLACK: Duration = Duration::from_millis(250);

/// One connection's timer for one kind of timeout (cheap to clone: the clones share it).
#[derive(Clone)]
pub struct LazyTimer {
    armed: Arc<Mutex<Pin<Box<tokio::time::Sleep>>>>,
    slack: Duration,
}

impl LazyTimer {
    /// A timer for timeouts of `timeout`: its slack is [`SLACK`], or a tenth of a shorter timeout.
    pub fn new(timeout: Duration) -> Self {
        LazyTimer {
            armed: Arc::new(Mutex::new(Box::pin(tokio::time::sleep(timeout)))),
            slack: SLACK.min(timeout / 10),
        }
    }

    /// Completes at `deadline` (up to the slack before it).
    pub fn until(&self, deadline: Instant) -> Deadline {
        Deadline {
            deadline,
            timer: self.clone(),
        }
    }
}

/// A deadline on a [`LazyTimer`].
pub struct Deadline {
    deadline: Instant,
    timer: LazyTimer,
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut armed = self.timer.armed.lock().unwrap_or_else(|e| e.into_inner());
        let at = armed.deadline().into_std();
        if at > self.deadline || at + self.timer.slack < self.deadline {
            armed.as_mut().reset(self.deadline.into());
        }
        armed.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for Deadline {}

impl hyper::rt::Timer for LazyTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.until(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Deadline>() {
            Some(deadline) => deadline.get_mut().deadline = new_deadline,
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Now on tokio's clock (paused in these tests; std's does not move with it).
    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// Whether the clock stands within the slack before `deadline` (the timer wheel counts whole
    /// milliseconds).
    fn fired_for(deadline: Instant) -> bool {
        now() + SLACK >= deadline && now() <= deadline + Duration::from_millis(1)
    }

    /// Whether `deadline` completes within 1 ms (of paused time).
    async fn completes_now(deadline: Deadline) -> bool {
        tokio::time::timeout(Duration::from_millis(1), deadline).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_fires_within_the_slack_and_never_late() {
        let timer = LazyTimer::new(Duration::from_secs(30));
        let start = now();
        timer.until(start + Duration::from_secs(30)).await;
        assert!(fired_for(start + Duration::from_secs(30)));
        // The timer stays armed at 30 s: a deadline 100 ms later is within the slack, so it is
        // due now, 100 ms early.
        assert!(completes_now(timer.until(start + Duration::from_millis(30_100))).await);
        // A deadline past the slack re-arms the timer: due at its time, not before.
        let later = now() + Duration::from_secs(10);
        assert!(!completes_now(timer.until(later)).await);
        timer.until(later).await;
        assert!(fired_for(later));
        // A deadline earlier than the armed one re-arms it earlier: never late.
        assert!(!completes_now(timer.until(now() + Duration::from_secs(20))).await);
        let soon = now() + Duration::from_secs(1);
        timer.until(soon).await;
        assert!(fired_for(soon));
    }

    #[test]
    fn a_short_timeout_has_a_short_slack() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        assert_eq!(
            LazyTimer::new(Duration::from_millis(500)).slack,
            Duration::from_millis(50)
        );
        assert_eq!(LazyTimer::new(Duration::from_secs(60)).slack, SLACK);
    }
}
