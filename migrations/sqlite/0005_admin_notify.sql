-- The admin console filters the audit log by action (last reconcile, an admin's own
-- actions) and the notification outbox delivers events to the configured sinks.
CREATE INDEX audit_tenant_action ON audit (tenant, action, seq);

-- One row per event and sink. A sink that is down leaves its rows pending (retried with
-- backoff); `dedup_key` lets one outage be one message: an event whose key was queued
-- for the same sink within the de-duplication window is not queued again.
CREATE TABLE notify_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sink         TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    tenant       TEXT    NOT NULL,
    dedup_key    TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL, -- pending | running | delivered | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       TEXT    NOT NULL,
    lease_until  TEXT,
    last_error   TEXT,
    created_at   TEXT    NOT NULL,
    delivered_at TEXT
);
CREATE INDEX notify_outbox_due ON notify_outbox (state, run_at);
CREATE INDEX notify_outbox_dedup ON notify_outbox (sink, dedup_key, created_at);
