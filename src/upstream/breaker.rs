//! A circuit breaker for one upstream account: after `threshold` consecutive failures
//! (5xx, timeouts, refused or dropped connections) calls fail fast for `cooldown`, so a
//! down upstream costs the IdP an immediate 503 instead of a request held through every
//! retry. After the cool-down one probe goes through; its success closes the breaker,
//! its failure opens it for another cool-down.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    /// The value of the `scim_bridge_upstream_breaker_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The cool-down is over; `probing` while the one probe is in flight.
    HalfOpen {
        probing: bool,
    },
}

pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
    /// Told of every state change (the adapter sets a gauge).
    on_change: Box<dyn Fn(BreakerState) + Send + Sync>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("threshold", &self.threshold)
            .field("cooldown", &self.cooldown)
            .field("state", &self.state())
            .finish()
    }
}

/// Leave to make one call. Report its outcome with [`Permit::success`] or
/// [`Permit::failure`]; a permit dropped without either (the caller was cancelled) lets
/// the next caller probe instead.
#[must_use]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

impl Breaker {
    /// `threshold` 0 disables the breaker (every call is let through).
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self::observed(threshold, cooldown, |_| {})
    }

    pub fn observed(
        threshold: u32,
        cooldown: Duration,
        on_change: impl Fn(BreakerState) + Send + Sync + 'static,
    ) -> Self {
        Breaker {
            threshold,
            cooldown,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
            on_change: Box::new(on_change),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding it leaves a valid state; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() < until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// A permit, or how long until a call may be tried again.
    pub fn acquire(&self) -> Result<Permit<'_>, Duration> {
        let mut inner = self.lock();
        let probe = match *inner {
            Inner::Closed { .. } => false,
            Inner::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                *inner = Inner::HalfOpen { probing: true };
                (self.on_change)(BreakerState::HalfOpen);
                true
            }
            Inner::HalfOpen { probing: true } => {
                // Someone else is probing; wait for its answer at most one cool-down.
                return Err(self.cooldown.min(Duration::from_secs(1)));
            }
            Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            reported: false,
        })
    }

    fn record(&self, ok: bool) {
        if self.threshold == 0 {
            return;
        }
        let mut inner = self.lock();
        let next = match (&*inner, ok) {
            (_, true) => Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, false) if failures + 1 < self.threshold => Inner::Closed {
                failures: failures + 1,
            },
            // The threshold reached, a failed probe, or a late failure of a call that
            // started before the breaker opened: (re)open for a full cool-down.
            (_, false) => Inner::Open {
                until: Instant::now() + self.cooldown,
            },
        };
        let before = state_of(&inner);
        *inner = next;
        let after = state_of(&inner);
        if before != after {
            (self.on_change)(after);
        }
    }
}

fn state_of(inner: &Inner) -> BreakerState {
    match inner {
        Inner::Closed { .. } => BreakerState::Closed,
        Inner::Open { .. } => BreakerState::Open,
        Inner::HalfOpen { .. } => BreakerState::HalfOpen,
    }
}

impl Permit<'_> {
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.record(true);
    }

    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.record(false);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            let mut inner = self.breaker.lock();
            if matches!(*inner, Inner::HalfOpen { probing: true }) {
                *inner = Inner::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn fail(b: &Breaker, n: u32) {
        for _ in 0..n {
            b.acquire().expect("closed").failure();
        }
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let b = Breaker::new(3, Duration::from_secs(60));
        fail(&b, 2);
        b.acquire().expect("closed").success(); // resets the count
        fail(&b, 2);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b, 1);
        assert_eq!(b.state(), BreakerState::Open);
        let wait = b.acquire().expect_err("open fails fast");
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60));
    }

    #[test]
    fn one_probe_after_cooldown_closes_on_success() {
        let b = Breaker::new(1, Duration::from_millis(30));
        fail(&b, 1);
        assert!(b.acquire().is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.acquire().expect("probe allowed");
        assert!(b.acquire().is_err(), "only one probe at a time");
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
        b.acquire().expect("closed again").success();
    }

    #[test]
    fn failed_probe_reopens_for_a_full_cooldown() {
        let b = Breaker::new(1, Duration::from_millis(30));
        fail(&b, 1);
        std::thread::sleep(Duration::from_millis(40));
        b.acquire().expect("probe").failure();
        assert_eq!(b.state(), BreakerState::Open);
        let wait = b.acquire().expect_err("open again");
        assert!(wait > Duration::from_millis(20), "{wait:?}");
    }

    #[test]
    fn a_cancelled_probe_lets_the_next_caller_probe() {
        let b = Breaker::new(1, Duration::from_millis(10));
        fail(&b, 1);
        std::thread::sleep(Duration::from_millis(20));
        drop(b.acquire().expect("probe"));
        b.acquire().expect("another probe").success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = Breaker::new(0, Duration::from_secs(60));
        fail(&b, 100);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn observer_sees_each_transition_once() {
        let changes = Arc::new(AtomicU32::new(0));
        let seen = changes.clone();
        let b = Breaker::observed(2, Duration::from_millis(10), move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        fail(&b, 2); // closed -> open
        std::thread::sleep(Duration::from_millis(20));
        b.acquire().expect("probe").success(); // open -> half-open -> closed
        assert_eq!(changes.load(Ordering::SeqCst), 3);
    }
}
