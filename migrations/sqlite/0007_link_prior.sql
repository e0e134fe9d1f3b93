-- What a deprovision took from a user's upstream account, to give back when the user is
-- active again: the roles (a NetSapiens scope) a deactivation replaced, and the upstream
-- id (a NetSapiens extension) a deletion freed. Kept apart from the link's JSON, which
-- every sync rewrites from what upstream answers; only a deprovision writes these.
ALTER TABLE users ADD COLUMN prior_roles TEXT;
ALTER TABLE users ADD COLUMN prior_upstream_id TEXT;
