//! The one shape of the three work queues (`sync_user` jobs, approved deprovisions and
//! the notification outbox): what was asked for, plus where it stands in its queue.
use std::ops::Deref;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    DeprovisionState, JobState, NewDeprovision, NewNotification, NotificationState, UserSync,
};

/// An item of a work queue: its `request` and the queue's bookkeeping.
///
/// It reads as its request (`job.tenant`, `deprovision.user_id`): an item is that request
/// on its way through the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued<Request, State> {
    pub id: i64,
    pub request: Request,
    pub state: State,
    pub retry: Retry,
    pub created: DateTime<Utc>,
}

/// Where a queue item stands in its attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// Claims so far, including the current one.
    pub attempts: u32,
    /// When it is due (again).
    pub run_at: DateTime<Utc>,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
}

impl<Request, State> Deref for Queued<Request, State> {
    type Target = Request;

    fn deref(&self) -> &Request {
        &self.request
    }
}

/// Which items of a work queue a listing returns, oldest first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueFilter<'a, State> {
    /// `None` = every tenant.
    pub tenant: Option<&'a str>,
    /// `None` = every state.
    pub state: Option<State>,
    pub limit: u32,
}

impl<'a, State> QueueFilter<'a, State> {
    /// The oldest `limit` items of every tenant, in every state.
    pub fn all(limit: u32) -> Self {
        Self {
            tenant: None,
            state: None,
            limit,
        }
    }

    /// The oldest `limit` items of `tenant`, in every state.
    pub fn of(tenant: &'a str, limit: u32) -> Self {
        Self {
            tenant: Some(tenant),
            ..Self::all(limit)
        }
    }

    /// Only the items in `state`.
    pub fn in_state(self, state: State) -> Self {
        Self {
            state: Some(state),
            ..self
        }
    }

    /// The same filter with the state as `to` gives it (the text a row stores).
    pub(crate) fn map_state<T>(self, to: impl FnOnce(State) -> T) -> QueueFilter<'a, T> {
        QueueFilter {
            tenant: self.tenant,
            state: self.state.map(to),
            limit: self.limit,
        }
    }
}

/// A claimer's hold on the queue items it claims: `owner` names the claimer (its
/// renewals and its start-up give-back find its items by it), `term` is how long a
/// claim or a renewal lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease<'a> {
    pub owner: &'a str,
    pub term: Duration,
}

impl<'a> Lease<'a> {
    pub fn new(owner: &'a str, term: Duration) -> Self {
        Self { owner, term }
    }
}

/// How a worker's attempt at a queue item ended: `Ok` = done; `Err((error, Some(at)))`
/// = pending again at `at`; `Err((error, None))` = failed for good.
pub type Outcome = Result<(), (String, Option<DateTime<Utc>>)>;

/// The states a finished attempt leaves an item of one queue in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Finished<State> {
    pub done: State,
    pub retry: State,
    pub failed: State,
}

impl<State: Copy> Finished<State> {
    /// The state `outcome` leaves.
    pub fn state(&self, outcome: &Outcome) -> State {
        match outcome {
            Ok(()) => self.done,
            Err((_, Some(_))) => self.retry,
            Err((_, None)) => self.failed,
        }
    }
}

/// What one work queue's items ask for (decoded from their row by its derived
/// `FromRow`), and the states the queue's items go through.
pub(crate) trait QueueRequest {
    type State;
    /// What the queue calls an item (in errors).
    const ITEM: &'static str;
    /// The state a row's `state` column names; `None` when this build does not know it.
    fn state(text: &str) -> Option<Self::State>;
}

macro_rules! queue_request {
    ($request:ty, $state:ident, $item:literal) => {
        impl QueueRequest for $request {
            type State = $state;
            const ITEM: &'static str = $item;
            fn state(text: &str) -> Option<$state> {
                $state::parse(text)
            }
        }
    };
}

queue_request!(UserSync, JobState, "job");
queue_request!(NewDeprovision, DeprovisionState, "deprovision");
queue_request!(NewNotification, NotificationState, "notification");
