-- SCIM groups; members are rows, never a JSON array rewritten per change.
CREATE TABLE groups (
    tenant            TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    display_name      TEXT    NOT NULL,
    display_name_fold TEXT    NOT NULL,
    external_id       TEXT,
    resource          TEXT    NOT NULL,
    version           INTEGER NOT NULL,
    created_at        TEXT    NOT NULL,
    last_modified     TEXT    NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX groups_display_name ON groups (tenant, display_name_fold);
CREATE UNIQUE INDEX groups_external_id ON groups (tenant, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_last_modified ON groups (tenant, last_modified);

CREATE TABLE group_members (
    tenant    TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant, group_id, user_id),
    FOREIGN KEY (tenant, group_id) REFERENCES groups (tenant, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members (tenant, user_id);

-- sync_user jobs. At most one pending job per user (coalescing).
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       TEXT    NOT NULL,
    lease_until  TEXT,
    last_error   TEXT,
    created_at   TEXT    NOT NULL,
    FOREIGN KEY (tenant, user_id) REFERENCES users (tenant, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX jobs_one_pending ON jobs (tenant, user_id) WHERE state = 'pending';
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_user ON jobs (tenant, user_id);
