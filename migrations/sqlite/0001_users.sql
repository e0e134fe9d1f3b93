-- SCIM users with the columns lookups need; the resource itself is JSON.
CREATE TABLE users (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    user_name       TEXT    NOT NULL,
    user_name_fold  TEXT    NOT NULL,
    external_id     TEXT,
    display_name_fold TEXT,
    active          INTEGER NOT NULL,
    resource        TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    created_at      TEXT    NOT NULL,
    last_modified   TEXT    NOT NULL,
    link            TEXT    NOT NULL,
    upstream_id     TEXT,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE UNIQUE INDEX users_user_name ON users (tenant, user_name_fold);
CREATE UNIQUE INDEX users_external_id ON users (tenant, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_display_name ON users (tenant, display_name_fold);
CREATE INDEX users_last_modified ON users (tenant, last_modified);
CREATE UNIQUE INDEX users_upstream_id ON users (tenant, upstream_id) WHERE upstream_id IS NOT NULL;

-- emails.value of each user, case-folded, for `emails.value eq` and Entra's matching.
CREATE TABLE user_emails (
    tenant      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    value_fold  TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id, value_fold),
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX user_emails_value ON user_emails (tenant, value_fold);

-- An upstream create in flight: lets a retried create link instead of duplicating.
CREATE TABLE create_intents (
    tenant          TEXT NOT NULL,
    user_name_fold  TEXT NOT NULL,
    scim_id         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (tenant, user_name_fold)
) WITHOUT ROWID;

CREATE TABLE audit (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    actor          TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    detail         TEXT NOT NULL
);
CREATE INDEX audit_tenant ON audit (tenant, seq);
