-- PostgreSQL twin of migrations/sqlite/0001_users.sql: same tables, columns, indexes and
-- constraints.
--
-- Timestamps are TEXT in the fixed-width UTC format of `store::timestamp`, not
-- TIMESTAMPTZ: text order is time order, and the filter translation shared with SQLite
-- (`store::sql_filter`) compares `meta.lastModified` against a bound text value.
-- Resources stay TEXT (not JSONB) so the IdP reads back exactly the JSON it wrote.
-- Text columns that are compared or sorted use COLLATE "C" (byte order), which is what
-- SQLite's BINARY collation does, so both databases page and sort identically.
--
-- Unique indexes are named so that PostgreSQL's violation message contains the field
-- ("external", "display"); `StoreError::from(sqlx::Error)` turns that into the right
-- `Conflict`, and anything else on users is the userName.
CREATE TABLE users (
    tenant            TEXT    COLLATE "C" NOT NULL,
    id                TEXT    COLLATE "C" NOT NULL,
    user_name         TEXT    NOT NULL,
    user_name_fold    TEXT    COLLATE "C" NOT NULL,
    external_id       TEXT    COLLATE "C",
    display_name_fold TEXT    COLLATE "C",
    active            BOOLEAN NOT NULL,
    resource          TEXT    NOT NULL,
    version           BIGINT  NOT NULL,
    created_at        TEXT    COLLATE "C" NOT NULL,
    last_modified     TEXT    COLLATE "C" NOT NULL,
    link              TEXT    NOT NULL,
    upstream_id       TEXT    COLLATE "C",
    PRIMARY KEY (tenant, id)
);

CREATE UNIQUE INDEX users_user_name_key ON users (tenant, user_name_fold);
CREATE UNIQUE INDEX users_external_id_key ON users (tenant, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_display_name_idx ON users (tenant, display_name_fold);
CREATE INDEX users_last_modified_idx ON users (tenant, last_modified);
CREATE UNIQUE INDEX users_upstream_id_key ON users (tenant, upstream_id) WHERE upstream_id IS NOT NULL;

-- emails.value of each user, case-folded, for `emails.value eq` and Entra's matching.
CREATE TABLE user_emails (
    tenant      TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL,
    value_fold  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, user_id, value_fold),
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
CREATE INDEX user_emails_value_idx ON user_emails (tenant, value_fold);

-- An upstream create in flight: lets a retried create link instead of duplicating.
CREATE TABLE create_intents (
    tenant          TEXT COLLATE "C" NOT NULL,
    user_name_fold  TEXT COLLATE "C" NOT NULL,
    scim_id         TEXT NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, user_name_fold)
);

CREATE TABLE audit (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             TEXT COLLATE "C" NOT NULL,
    tenant         TEXT COLLATE "C" NOT NULL,
    actor          TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    detail         TEXT NOT NULL
);
CREATE INDEX audit_tenant_idx ON audit (tenant, seq);
