//! Time a request spends waiting on upstream calls, so the bridge can say in a
//! `Server-Timing` header how much of its answer time was the upstream's. An admin sees
//! at once whether a slow provisioning is Bandwidth or the bridge, and the benchmark
//! computes the bridge-added latency from it.
use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

tokio::task_local! {
    static UPSTREAM: Cell<(Duration, u32)>;
}

/// Runs `work`, returning its output and the upstream time and call count it recorded.
pub async fn measure<F: Future>(work: F) -> (F::Output, Duration, u32) {
    UPSTREAM
        .scope(Cell::new((Duration::ZERO, 0)), async {
            let output = work.await;
            let (time, calls) = UPSTREAM.with(Cell::get);
            (output, time, calls)
        })
        .await
}

/// Adds one upstream call's time to the current request, if there is one (a worker
/// job is not a request and records nothing).
pub fn record(elapsed: Duration) {
    add(elapsed, 1);
}

/// The upstream time and call count recorded so far in the current scope.
pub fn so_far() -> (Duration, u32) {
    UPSTREAM.try_with(Cell::get).unwrap_or_default()
}

/// Adds what a task of the request's own (a detached write) recorded to the request.
pub fn add(elapsed: Duration, calls: u32) {
    let _ = UPSTREAM.try_with(|cell| {
        let (time, count) = cell.get();
        cell.set((time + elapsed, count + calls));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sums_calls_inside_the_scope_only() {
        record(Duration::from_millis(100));
        let ((), time, calls) = measure(async {
            record(Duration::from_millis(3));
            tokio::task::yield_now().await;
            record(Duration::from_millis(4));
        })
        .await;
        assert_eq!((time, calls), (Duration::from_millis(7), 2));
        let ((), time, calls) = measure(async {}).await;
        assert_eq!((time, calls), (Duration::ZERO, 0));
    }
}
