//! The notifier of one running bridge: events become outbox rows per sink (durable,
//! de-duplicated), and a delivery task sends them with backoff. Also watches for IdPs
//! that stopped calling.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::deliver::Sink;
use super::{Event, EventKind, NotifySink, Scope};
use crate::store::{NewNotification, Notification, Store};

/// Outbox rows one delivery round claims.
const BATCH: u32 = 20;
/// A claimed row whose delivery never finished (a crash) is taken again after this.
const LEASE: Duration = Duration::from_secs(120);
/// How often the delivery task looks for due rows when nothing woke it.
const POLL: Duration = Duration::from_millis(500);
/// Attempts before a notification is given up (with `retry_max_secs` of 300, days).
const MAX_ATTEMPTS: u32 = 1000;

struct Notifier {
    store: Arc<dyn Store>,
    sinks: Vec<Sink>,
    /// Upstream account -> the tenants using it.
    tenants_of_account: HashMap<String, Vec<String>>,
    tenants: Vec<String>,
    wake: tokio::sync::Notify,
    client: reqwest::Client,
    /// When each (sink, key) was last queued by this process: repeats within the
    /// window are dropped here, so a flood of one event costs no database writes.
    recent: std::sync::Mutex<HashMap<String, Instant>>,
}

/// Starts the notifier for `sinks` over `store`, serving `tenants` (name, upstream
/// account). Nothing runs without sinks.
pub fn start(
    store: Arc<dyn Store>,
    sinks: &[NotifySink],
    tenants: &[(String, String)],
) -> Result<Option<Vec<tokio::task::JoinHandle<()>>>, String> {
    if sinks.is_empty() {
        return Ok(None);
    }
    let mut tenants_of_account: HashMap<String, Vec<String>> = HashMap::new();
    for (tenant, account) in tenants {
        tenants_of_account
            .entry(account.clone())
            .or_default()
            .push(tenant.clone());
    }
    let notifier = Arc::new(Notifier {
        store,
        sinks: sinks
            .iter()
            .cloned()
            .map(Sink::new)
            .collect::<Result<_, _>>()?,
        tenants_of_account,
        tenants: tenants.iter().map(|(t, _)| t.clone()).collect(),
        wake: tokio::sync::Notify::new(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("notify: cannot build HTTP client: {e}"))?,
        recent: std::sync::Mutex::new(HashMap::new()),
    });
    // Subscribed before returning, so no event raised after start is missed.
    let mut events = super::subscribe();
    let listener = {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => notifier.queue(&event).await,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "notify: fell behind; skipped events")
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    };
    let delivery = {
        let notifier = notifier.clone();
        tokio::spawn(async move { notifier.deliver_forever().await })
    };
    let watcher = {
        let notifier = notifier.clone();
        tokio::spawn(async move { notifier.watch_idp_traffic().await })
    };
    Ok(Some(vec![listener, delivery, watcher]))
}

impl Notifier {
    /// The tenants of this bridge an event concerns.
    fn tenants_of(&self, scope: &Scope) -> Vec<String> {
        match scope {
            Scope::Tenant(t) if self.tenants.contains(t) => vec![t.clone()],
            Scope::Tenant(_) => vec![],
            Scope::Account(a) => self.tenants_of_account.get(a).cloned().unwrap_or_default(),
        }
    }

    async fn queue(&self, event: &Event) {
        for tenant in self.tenants_of(&event.scope) {
            let payload = json!({
                "event": event.kind.as_str(),
                "tenant": tenant,
                "at": Utc::now().to_rfc3339(),
                "text": format!("[scim-bridge] {tenant}: {}", event.text),
                "detail": event.detail,
            });
            for sink in self
                .sinks
                .iter()
                .filter(|s| s.config.wants(event.kind, &tenant))
            {
                let notification = NewNotification {
                    sink: sink.config.name.clone(),
                    event: event.kind.as_str().into(),
                    tenant: tenant.clone(),
                    dedup_key: format!("{}:{tenant}", event.kind.as_str()),
                    payload: payload.clone(),
                };
                self.enqueue(sink, notification).await;
            }
        }
    }

    /// Queues unless a repeat within the sink's window (seen here, or in the store,
    /// which other replicas share).
    async fn enqueue(&self, sink: &Sink, notification: NewNotification) {
        let window = Duration::from_secs(sink.config.dedup_window_secs);
        let key = format!("{}|{}", sink.config.name, notification.dedup_key);
        {
            let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.get(&key).is_some_and(|at| at.elapsed() < window) {
                return;
            }
        }
        match self.store.enqueue_notification(&notification, window).await {
            Ok(queued) => {
                let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
                recent.retain(|_, at| at.elapsed() < window);
                recent.insert(key, Instant::now());
                if queued {
                    self.wake.notify_one();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, event = %notification.event, "notify: could not queue")
            }
        }
    }

    async fn deliver_forever(&self) {
        loop {
            match self.store.claim_notifications(BATCH, LEASE).await {
                Ok(batch) if !batch.is_empty() => {
                    for notification in batch {
                        self.deliver(notification).await;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "notify: cannot read the outbox"),
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn deliver(&self, n: Notification) {
        let sink = self.sinks.iter().find(|s| s.config.name == n.request.sink);
        let outcome = match sink {
            None => Err(("the sink is no longer configured".to_string(), None)),
            Some(sink) => match sink
                .send(&self.client, &n.request.event, &n.request.payload)
                .await
            {
                Ok(()) => Ok(()),
                Err(e) if n.retry.attempts >= MAX_ATTEMPTS => Err((e, None)),
                Err(e) => {
                    let delay = backoff(n.retry.attempts, sink.config.retry_max_secs);
                    tracing::info!(sink = %n.request.sink, attempt = n.retry.attempts, retry_in_s = delay.as_secs(), error = %e, "notify: delivery failed");
                    let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    Err((e, Some(at)))
                }
            },
        };
        if let Err(e) = self.store.finish_notification(n.id, outcome).await {
            tracing::warn!(error = %e, "notify: could not record a delivery; it will be sent again");
        }
    }

    /// Raises `idp_traffic_stopped` for a tenant whose IdP has not called this process
    /// for a sink's `idp_silence_secs` (each sink may wait a different time).
    async fn watch_idp_traffic(&self) {
        let shortest = self
            .sinks
            .iter()
            .filter(|s| {
                s.config.events.is_empty()
                    || s.config.events.contains(&EventKind::IdpTrafficStopped)
            })
            .map(|s| s.config.idp_silence_secs)
            .min();
        let Some(shortest) = shortest else {
            return;
        };
        let every = Duration::from_secs((shortest / 4).clamp(1, 30));
        let activity = crate::admin::activity::activity();
        let mut seen: HashMap<String, (u64, Instant)> = HashMap::new();
        loop {
            tokio::time::sleep(every).await;
            for tenant in &self.tenants {
                let count = activity.requests_total(tenant);
                let entry = seen
                    .entry(tenant.clone())
                    .or_insert((count, Instant::now()));
                if entry.0 != count {
                    *entry = (count, Instant::now());
                    continue;
                }
                let quiet = entry.1.elapsed();
                for sink in &self.sinks {
                    let limit = Duration::from_secs(sink.config.idp_silence_secs);
                    if quiet >= limit && sink.config.wants(EventKind::IdpTrafficStopped, tenant) {
                        self.queue_for(sink, tenant, quiet).await;
                    }
                }
            }
        }
    }

    async fn queue_for(&self, sink: &Sink, tenant: &str, quiet: Duration) {
        let kind = EventKind::IdpTrafficStopped;
        let notification = NewNotification {
            sink: sink.config.name.clone(),
            event: kind.as_str().into(),
            tenant: tenant.to_string(),
            dedup_key: format!("{}:{tenant}", kind.as_str()),
            payload: json!({
                "event": kind.as_str(),
                "tenant": tenant,
                "at": Utc::now().to_rfc3339(),
                "text": format!("[scim-bridge] {tenant}: no request from the IdP for {} s; is provisioning still running there?", quiet.as_secs()),
                "detail": {"quiet_secs": quiet.as_secs()},
            }),
        };
        self.enqueue(sink, notification).await;
    }
}

/// 1 s, 2 s, 4 s, ... up to `max_secs`.
fn backoff(attempts: u32, max_secs: u64) -> Duration {
    let exp = attempts.saturating_sub(1).min(20);
    Duration::from_secs((1u64 << exp).min(max_secs.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_sinks_maximum() {
        assert_eq!(backoff(1, 300), Duration::from_secs(1));
        assert_eq!(backoff(4, 300), Duration::from_secs(8));
        assert_eq!(backoff(30, 300), Duration::from_secs(300));
        assert_eq!(backoff(5, 2), Duration::from_secs(2));
    }
}
