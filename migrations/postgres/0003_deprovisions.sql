-- PostgreSQL twin of migrations/sqlite/0003_deprovisions.sql. Admissions of one tenant
-- are serialised with a transaction-scoped advisory lock, so replicas share one count.
CREATE TABLE deprovisions (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant            TEXT    COLLATE "C" NOT NULL,
    user_id           TEXT    COLLATE "C" NOT NULL,
    upstream_id       TEXT    COLLATE "C" NOT NULL,
    upstream_username TEXT    COLLATE "C" NOT NULL,
    action            TEXT    COLLATE "C" NOT NULL,
    resource          TEXT    NOT NULL,
    state             TEXT    COLLATE "C" NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    run_at            TEXT    COLLATE "C" NOT NULL,
    lease_until       TEXT    COLLATE "C",
    last_error        TEXT,
    created_at        TEXT    COLLATE "C" NOT NULL
);
CREATE INDEX deprovisions_window_idx ON deprovisions (tenant, created_at);
CREATE INDEX deprovisions_due_idx ON deprovisions (state, run_at);
