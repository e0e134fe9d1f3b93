-- Upstream deprovisions of users, for the mass-deprovision guard: the rows of the last
-- window are what it counts (so a restart does not reset it), and one it holds waits
-- here as 'held' until `scim-bridge jobs approve`. No foreign key to users: a held
-- delete outlives the SCIM user it came from.
CREATE TABLE deprovisions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant            TEXT    NOT NULL,
    user_id           TEXT    NOT NULL,
    upstream_id       TEXT    NOT NULL,
    upstream_username TEXT    NOT NULL,
    action            TEXT    NOT NULL, -- delete | deactivate | strip_roles
    resource          TEXT    NOT NULL,
    state             TEXT    NOT NULL, -- done | held | pending | running | failed
    attempts          INTEGER NOT NULL DEFAULT 0,
    run_at            TEXT    NOT NULL,
    lease_until       TEXT,
    last_error        TEXT,
    created_at        TEXT    NOT NULL
);
CREATE INDEX deprovisions_window ON deprovisions (tenant, created_at);
CREATE INDEX deprovisions_due ON deprovisions (state, run_at);
