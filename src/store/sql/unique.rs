//! Which unique index refused a write, told by the index itself rather than by words of
//! the database's message: PostgreSQL names the index (`constraint()` on its error);
//! SQLite names no index but lists the index's columns exactly
//! (`UNIQUE constraint failed: users.tenant, users.user_name_fold`), which identifies it
//! just as well, since no two unique indexes share their columns.

/// A unique index whose violation the store reports or handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueIndex {
    UserId,
    UserName,
    UserExternalId,
    UserUpstreamId,
    GroupId,
    GroupDisplayName,
    GroupExternalId,
    /// A user's one pending job (coalescing).
    OnePendingJob,
}

/// Each index: its PostgreSQL name, its SQLite columns (as SQLite's message lists them).
const INDEXES: &[(UniqueIndex, &str, &str)] = &[
    (UniqueIndex::UserId, "users_pkey", "users.tenant, users.id"),
    (
        UniqueIndex::UserName,
        "users_user_name_key",
        "users.tenant, users.user_name_fold",
    ),
    (
        UniqueIndex::UserExternalId,
        "users_external_id_key",
        "users.tenant, users.external_id",
    ),
    (
        UniqueIndex::UserUpstreamId,
        "users_upstream_id_key",
        "users.tenant, users.upstream_id",
    ),
    (
        UniqueIndex::GroupId,
        "groups_pkey",
        "groups.tenant, groups.id",
    ),
    (
        UniqueIndex::GroupDisplayName,
        "groups_display_name_key",
        "groups.tenant, groups.display_name_fold",
    ),
    (
        UniqueIndex::GroupExternalId,
        "groups_external_id_key",
        "groups.tenant, groups.external_id",
    ),
    (
        UniqueIndex::OnePendingJob,
        "jobs_one_pending",
        "jobs.tenant, jobs.user_id",
    ),
];

/// The prefix of SQLite's message for a unique (or primary key) violation; the index's
/// columns follow it.
const SQLITE_UNIQUE: &str = "UNIQUE constraint failed: ";

impl UniqueIndex {
    /// The SCIM attribute a conflict on this index is about (the `Conflict` text).
    pub fn attribute(self) -> &'static str {
        match self {
            UniqueIndex::UserId | UniqueIndex::GroupId => "id",
            UniqueIndex::UserName => "userName",
            UniqueIndex::UserExternalId | UniqueIndex::GroupExternalId => "externalId",
            UniqueIndex::UserUpstreamId => "the upstream user",
            UniqueIndex::GroupDisplayName => "displayName",
            UniqueIndex::OnePendingJob => "the pending job",
        }
    }
}

/// The known unique index `error` violated, if it is such a violation.
pub fn violated(error: &sqlx::Error) -> Option<UniqueIndex> {
    let sqlx::Error::Database(db) = error else {
        return None;
    };
    if !db.is_unique_violation() {
        return None;
    }
    let found = match db.constraint() {
        Some(name) => INDEXES.iter().find(|(_, pg, _)| *pg == name),
        None => {
            let columns = db.message().strip_prefix(SQLITE_UNIQUE)?;
            INDEXES.iter().find(|(_, _, sqlite)| *sqlite == columns)
        }
    };
    found.map(|(index, _, _)| *index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_is_listed_once() {
        for (i, (index, pg, sqlite)) in INDEXES.iter().enumerate() {
            for (other, other_pg, other_sqlite) in &INDEXES[i + 1..] {
                assert_ne!(index, other);
                assert_ne!(pg, other_pg);
                assert_ne!(sqlite, other_sqlite);
            }
        }
    }
}
