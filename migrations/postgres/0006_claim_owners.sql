-- PostgreSQL twin of migrations/sqlite/0006_claim_owners.sql: which process claimed a
-- running job or deprovision, for lease renewal and the start-up give-back of a
-- crashed process's own claims.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT COLLATE "C";
ALTER TABLE deprovisions ADD COLUMN claimed_by TEXT COLLATE "C";
CREATE INDEX jobs_claimed_by ON jobs (claimed_by) WHERE state = 'running';
CREATE INDEX deprovisions_claimed_by ON deprovisions (claimed_by) WHERE state = 'running';
