//! Notifications: events the bridge raises (a job failed for good, the deprovision
//! guard tripped, a breaker opened or closed, upstream credentials refused, drift found
//! by a periodic reconcile, an IdP gone quiet) are queued in the store's outbox per
//! `[[notify]]` sink, de-duplicated per sink, kind and tenant, and delivered by a task
//! of their own with retries and backoff, so a sink that is down loses nothing and
//! never slows provisioning.
//!
//! Raising an event is a non-blocking send on a process-wide channel ([`emit`]); each
//! running notifier keeps the events of the tenants (and upstream accounts) it serves.
pub mod config;
mod deliver;
mod outbox;

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast;

pub use config::{NotifySink, SinkKind};
pub use deliver::{signature, SIGNATURE_HEADER, TIMESTAMP_HEADER};
pub use outbox::start;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    JobFailed,
    DeprovisionGuardTripped,
    BreakerOpened,
    BreakerClosed,
    CredentialRejected,
    DriftFound,
    IdpTrafficStopped,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::JobFailed => "job_failed",
            EventKind::DeprovisionGuardTripped => "deprovision_guard_tripped",
            EventKind::BreakerOpened => "breaker_opened",
            EventKind::BreakerClosed => "breaker_closed",
            EventKind::CredentialRejected => "credential_rejected",
            EventKind::DriftFound => "drift_found",
            EventKind::IdpTrafficStopped => "idp_traffic_stopped",
        }
    }
}

/// Where an event happened: a tenant, or an upstream account (the adapter knows only
/// that; the notifier maps it to the tenants using it).
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    Tenant(String),
    Account(String),
}

#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub scope: Scope,
    /// One line for people (Slack shows it as is).
    pub text: String,
    pub detail: Value,
}

/// Events waiting for notifiers; a notifier that falls this far behind skips the
/// oldest (repeats of one outage, which de-duplication would drop anyway).
const BUS_CAPACITY: usize = 4096;

fn bus() -> &'static broadcast::Sender<Event> {
    static BUS: OnceLock<broadcast::Sender<Event>> = OnceLock::new();
    BUS.get_or_init(|| broadcast::channel(BUS_CAPACITY).0)
}

/// Raises an event. Never blocks and never fails: with no notifier running it is
/// dropped.
pub fn emit(kind: EventKind, scope: Scope, text: impl Into<String>, detail: Value) {
    let _ = bus().send(Event {
        kind,
        scope,
        text: text.into(),
        detail,
    });
}

pub(crate) fn subscribe() -> broadcast::Receiver<Event> {
    bus().subscribe()
}
