//! Upstream deprovisions (deactivations, role strips and deletions) as the
//! mass-deprovision guard sees them. Each one is a row: the rows of the last window are
//! what the guard counts (durably, and shared by replicas on PostgreSQL), and one the
//! guard holds waits as `held` until an admin approves it (`scim-bridge jobs approve`),
//! after which the job worker carries it out.
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::queue::{Finished, Queued};
use super::sql::rows::TextColumn;
use super::StoreError;

/// What the deprovision does upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeprovisionAction {
    Delete,
    Deactivate,
    StripRoles,
}

impl TryFrom<String> for DeprovisionAction {
    type Error = StoreError;

    fn try_from(text: String) -> Result<Self, StoreError> {
        Self::parse(&text)
    }
}

impl DeprovisionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeprovisionAction::Delete => "delete",
            DeprovisionAction::Deactivate => "deactivate",
            DeprovisionAction::StripRoles => "strip_roles",
        }
    }

    pub fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "delete" => Ok(DeprovisionAction::Delete),
            "deactivate" => Ok(DeprovisionAction::Deactivate),
            "strip_roles" => Ok(DeprovisionAction::StripRoles),
            _ => Err(StoreError::Database(format!(
                "unknown deprovision action {text:?}"
            ))),
        }
    }
}

/// `done` rows only count towards the guard; `held` ones wait for approval; approved
/// ones are `pending` for the worker, then `running`, then `done` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeprovisionState {
    Done,
    Held,
    Pending,
    Running,
    Failed,
}

impl DeprovisionState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeprovisionState::Done => "done",
            DeprovisionState::Held => "held",
            DeprovisionState::Pending => "pending",
            DeprovisionState::Running => "running",
            DeprovisionState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            DeprovisionState::Done,
            DeprovisionState::Held,
            DeprovisionState::Pending,
            DeprovisionState::Running,
            DeprovisionState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A deprovision about to happen, with what the worker needs to carry it out later
/// even if the SCIM user is gone by then.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NewDeprovision {
    pub tenant: String,
    pub user_id: String,
    pub upstream_id: String,
    pub upstream_username: String,
    #[sqlx(try_from = "String")]
    pub action: DeprovisionAction,
    /// The SCIM resource as the IdP last wrote it (to send the upstream user whole).
    #[sqlx(try_from = "TextColumn")]
    pub resource: Value,
}

/// A recorded deprovision.
pub type Deprovision = Queued<NewDeprovision, DeprovisionState>;

/// The tenant's guard: at most `max` deprovisions per `window`.
#[derive(Debug, Clone, Copy)]
pub struct GuardLimit {
    pub max: u32,
    pub window: Duration,
}

impl GuardLimit {
    /// Rows created before this are outside the window.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::days(365))
    }
}

/// The guard's decision on one deprovision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Under the limit: recorded as `done`; the caller carries it out now.
    Now,
    /// Held as job `id`. `tripped` when no other deprovision of the tenant was held yet,
    /// i.e. this one tripped the guard; `recent` is how many the window holds with it.
    Held { id: i64, tripped: bool, recent: u64 },
}

/// Whether this deprovision must wait: the window is full, or earlier ones already wait
/// (later ones must not overtake them).
pub fn must_hold(recent_before: u64, held_before: u64, limit: &GuardLimit) -> bool {
    held_before > 0 || recent_before >= u64::from(limit.max)
}

/// The states a worker's attempt leaves a deprovision in.
pub(crate) const FINISHED: Finished<DeprovisionState> = Finished {
    done: DeprovisionState::Done,
    retry: DeprovisionState::Pending,
    failed: DeprovisionState::Failed,
};
