-- PostgreSQL twin of migrations/sqlite/0002_groups_jobs.sql (see 0001 for why timestamps
-- are TEXT, why COLLATE "C", and why unique indexes are named *_key after their field).

-- SCIM groups; members are rows, never a JSON array rewritten per change.
CREATE TABLE groups (
    tenant            TEXT   COLLATE "C" NOT NULL,
    id                TEXT   COLLATE "C" NOT NULL,
    display_name      TEXT   COLLATE "C" NOT NULL,
    display_name_fold TEXT   COLLATE "C" NOT NULL,
    external_id       TEXT   COLLATE "C",
    resource          TEXT   NOT NULL,
    version           BIGINT NOT NULL,
    created_at        TEXT   COLLATE "C" NOT NULL,
    last_modified     TEXT   COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX groups_display_name_key ON groups (tenant, display_name_fold);
CREATE UNIQUE INDEX groups_external_id_key ON groups (tenant, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_last_modified_idx ON groups (tenant, last_modified);

CREATE TABLE group_members (
    tenant    TEXT COLLATE "C" NOT NULL,
    group_id  TEXT COLLATE "C" NOT NULL,
    user_id   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, group_id, user_id),
    FOREIGN KEY (tenant, group_id) REFERENCES groups (tenant, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user_idx ON group_members (tenant, user_id);

-- sync_user jobs. At most one pending job per user (coalescing): enqueues use
-- INSERT ... ON CONFLICT DO NOTHING against jobs_one_pending. Replicas claim with
-- FOR UPDATE SKIP LOCKED.
CREATE TABLE jobs (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant       TEXT    COLLATE "C" NOT NULL,
    user_id      TEXT    COLLATE "C" NOT NULL,
    state        TEXT    COLLATE "C" NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       TEXT    COLLATE "C" NOT NULL,
    lease_until  TEXT    COLLATE "C",
    last_error   TEXT,
    created_at   TEXT    COLLATE "C" NOT NULL,
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX jobs_one_pending ON jobs (tenant, user_id) WHERE state = 'pending';
CREATE INDEX jobs_due_idx ON jobs (state, run_at);
CREATE INDEX jobs_user_idx ON jobs (tenant, user_id);
