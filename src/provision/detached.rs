//! Writes that outlive their request. Once a write has started upstream, dropping the
//! request's future (the IdP hung up, the request deadline fired) must not stop it
//! between the upstream call and the local commit that records it: that would leave an
//! upstream user, or an upstream value, that SCIM does not know. So a write runs in a
//! task of its own; the request only waits for its answer, and the IdP still gets its
//! 503 at the deadline while the work goes on and commits.
use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Error, Result};
use crate::scim::error::ScimError;
use crate::upstream::timing;

/// Where a detached write answers: the request that started it, if it still listens.
pub(crate) struct Reply<T> {
    sender: oneshot::Sender<Answer<T>>,
}

struct Answer<T> {
    result: Result<T>,
    upstream_time: Duration,
    upstream_calls: u32,
}

impl<T> Reply<T> {
    /// Hands `result` to the request; gives it back when nobody listens any more, so
    /// the write can leave word for the IdP's retry.
    pub(crate) fn send(self, result: Result<T>) -> Option<Result<T>> {
        let (upstream_time, upstream_calls) = timing::so_far();
        self.sender
            .send(Answer {
                result,
                upstream_time,
                upstream_calls,
            })
            .err()
            .map(|answer| answer.result)
    }
}

/// Runs `work` to its end in a task of its own (carrying the request id and the
/// tenant's system name, which logs and error texts use) and waits for its answer.
pub(crate) async fn run_to_completion<T, F, Fut>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(Reply<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = oneshot::channel();
    let task = work(Reply { sender });
    let request_id = crate::telemetry::request_id();
    let system = crate::upstream::current_system();
    tokio::spawn(async move {
        let task = timing::measure(crate::upstream::for_system(system, task));
        match request_id {
            Some(id) => crate::telemetry::with_request_id(id, task).await,
            None => task.await,
        };
    });
    match receiver.await {
        Ok(answer) => {
            timing::add(answer.upstream_time, answer.upstream_calls);
            answer.result
        }
        // The task ended without answering: it panicked (tokio logs the panic).
        Err(_) => Err(Error::Scim(ScimError::new(
            500,
            None,
            "the write ended unexpectedly; its result is unknown",
        ))),
    }
}
