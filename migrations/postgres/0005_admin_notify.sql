-- PostgreSQL twin of migrations/sqlite/0005_admin_notify.sql.
CREATE INDEX audit_tenant_action_idx ON audit (tenant, action, seq);

CREATE TABLE notify_outbox (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sink         TEXT    COLLATE "C" NOT NULL,
    event        TEXT    COLLATE "C" NOT NULL,
    tenant       TEXT    COLLATE "C" NOT NULL,
    dedup_key    TEXT    COLLATE "C" NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    COLLATE "C" NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       TEXT    COLLATE "C" NOT NULL,
    lease_until  TEXT    COLLATE "C",
    last_error   TEXT,
    created_at   TEXT    COLLATE "C" NOT NULL,
    delivered_at TEXT    COLLATE "C"
);
CREATE INDEX notify_outbox_due_idx ON notify_outbox (state, run_at);
CREATE INDEX notify_outbox_dedup_idx ON notify_outbox (sink, dedup_key, created_at);
