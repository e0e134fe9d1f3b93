-- Which process claimed a running job or deprovision, so that the process can renew
-- the leases of its own claims while they run (a short lease is then enough) and give
-- back, at start-up, the claims a crash of its own left running, without waiting out
-- their lease.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE deprovisions ADD COLUMN claimed_by TEXT;
CREATE INDEX jobs_claimed_by ON jobs (claimed_by) WHERE state = 'running';
CREATE INDEX deprovisions_claimed_by ON deprovisions (claimed_by) WHERE state = 'running';
