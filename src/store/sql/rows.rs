//! The one set of row decoders: each stored row as its columns (decoded by either
//! database through the derived `FromRow`, or by a point read's rusqlite row), and the
//! record it becomes.
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::parse_json;
use crate::store::queue::{QueueRequest, Queued, Retry};
use crate::store::{
    parse_timestamp, AuditEntry, GroupRecord, GroupRef, NewDeprovision, NewNotification, Prior,
    StoreError, UpstreamLink, UserRecord, UserSync,
};

/// A stored row that becomes a record.
pub(crate) trait Stored: super::Decode {
    type Record;
    fn record(self) -> Result<Self::Record, StoreError>;
}

pub(crate) const GROUP_COLUMNS: &str = "id, resource, version, created_at, last_modified";
pub(crate) const USER_COLUMNS: &str =
    "id, resource, version, created_at, last_modified, link, prior_roles, prior_upstream_id";

/// A group's row decodes straight to its record (its columns are every SCIM resource
/// row's: a user's row has them and its link).
impl Stored for GroupRecord {
    type Record = GroupRecord;
    fn record(self) -> Result<GroupRecord, StoreError> {
        Ok(self)
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct StoredUser {
    #[sqlx(flatten)]
    resource: GroupRecord,
    link: String,
    prior_roles: Option<String>,
    prior_upstream_id: Option<String>,
}

impl StoredUser {
    /// The same row read on a point connection. Columns by position, as in
    /// [`USER_COLUMNS`]: a lookup by name compares every column name case-insensitively,
    /// which cost about 5,000 instructions a row; text that is parsed is borrowed.
    pub fn from_point_row(row: &rusqlite::Row) -> Result<Self, StoreError> {
        let text = |column: usize| -> Result<&str, StoreError> {
            row.get_ref(column)?
                .as_str()
                .map_err(|e| StoreError::Database(e.to_string()))
        };
        let resource = GroupRecord {
            id: row.get(0)?,
            resource: parse_json(text(1)?)?,
            version: row.get(2)?,
            created: parse_timestamp(text(3)?)?,
            last_modified: parse_timestamp(text(4)?)?,
        };
        Ok(Self {
            resource,
            link: row.get(5)?,
            prior_roles: row.get(6)?,
            prior_upstream_id: row.get(7)?,
        })
    }
}

impl Stored for StoredUser {
    type Record = UserRecord;
    fn record(self) -> Result<UserRecord, StoreError> {
        let GroupRecord {
            id,
            resource,
            version,
            created,
            last_modified,
        } = self.resource;
        Ok(UserRecord {
            id,
            resource,
            meta: crate::store::Meta {
                version,
                created,
                last_modified,
            },
            link: UpstreamLink {
                prior: Prior {
                    roles: match &self.prior_roles {
                        Some(text) => parse_json(text)?,
                        None => Vec::new(),
                    },
                    upstream_id: self.prior_upstream_id,
                },
                ..parse_json(&self.link)?
            },
        })
    }
}

/// A queue row: its request's columns and the queue's bookkeeping (see [`Queued`]).
#[derive(sqlx::FromRow)]
pub(crate) struct StoredQueued<Request> {
    #[sqlx(flatten)]
    request: Request,
    id: i64,
    state: String,
    attempts: i32,
    run_at: String,
    last_error: Option<String>,
    created_at: String,
}

impl<Request: QueueRequest + super::Decode> Stored for StoredQueued<Request> {
    type Record = Queued<Request, Request::State>;
    fn record(self) -> Result<Self::Record, StoreError> {
        Ok(Queued {
            id: self.id,
            request: self.request,
            state: Request::state(&self.state).ok_or_else(|| {
                let item = Request::ITEM;
                StoreError::Database(format!("unknown {item} state {:?}", self.state))
            })?,
            retry: Retry {
                attempts: u32::try_from(self.attempts).unwrap_or(0),
                run_at: parse_timestamp(&self.run_at)?,
                last_error: self.last_error,
            },
            created: parse_timestamp(&self.created_at)?,
        })
    }
}

pub(crate) type StoredJob = StoredQueued<UserSync>;
pub(crate) type StoredDeprovision = StoredQueued<NewDeprovision>;
pub(crate) type StoredNotification = StoredQueued<NewNotification>;

pub(crate) const JOB_COLUMNS: &str =
    "id, tenant, user_id, state, attempts, run_at, last_error, created_at";

pub(crate) const DEPROVISION_COLUMNS: &str =
    "id, tenant, user_id, upstream_id, upstream_username, action, \
     resource, state, attempts, run_at, last_error, created_at";

pub(crate) const NOTIFICATION_COLUMNS: &str =
    "id, sink, event, tenant, dedup_key, payload, state, attempts, run_at, last_error, created_at";

/// A column both databases keep as `TEXT` that holds a JSON document or a timestamp
/// (in [`crate::store::timestamp`]'s form); fields decode through it with
/// `#[sqlx(try_from = "TextColumn")]`.
pub(crate) struct TextColumn(String);

impl<DB: sqlx::Database> sqlx::Type<DB> for TextColumn
where
    String: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for TextColumn
where
    String: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <String as sqlx::Decode<'r, DB>>::decode(value).map(TextColumn)
    }
}

impl TryFrom<TextColumn> for Value {
    type Error = StoreError;

    fn try_from(text: TextColumn) -> Result<Self, StoreError> {
        parse_json(&text.0)
    }
}

impl TryFrom<TextColumn> for DateTime<Utc> {
    type Error = StoreError;

    fn try_from(text: TextColumn) -> Result<Self, StoreError> {
        parse_timestamp(&text.0)
    }
}

pub(crate) const AUDIT_COLUMNS: &str =
    "at, tenant, actor, resource_type, resource_id, action, outcome, detail";

#[derive(sqlx::FromRow)]
pub(crate) struct StoredAudit {
    at: String,
    tenant: String,
    actor: String,
    resource_type: String,
    resource_id: String,
    action: String,
    outcome: String,
    detail: String,
}

impl Stored for StoredAudit {
    type Record = AuditEntry;
    fn record(self) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            at: parse_timestamp(&self.at)?,
            tenant: self.tenant,
            actor: self.actor,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            action: self.action,
            outcome: self.outcome,
            detail: serde_json::from_str(&self.detail).unwrap_or(Value::String(self.detail)),
        })
    }
}

/// A [`GroupRef`] (which decodes straight from a pooled row) from a point read's row.
pub(crate) fn group_ref_from_point_row(row: &rusqlite::Row) -> Result<GroupRef, StoreError> {
    Ok(GroupRef {
        id: row.get("id")?,
        display_name: row.get("display_name")?,
        external_id: row.get("external_id")?,
    })
}

/// Every row's record, or the first error.
pub(crate) fn records<S: Stored>(rows: Vec<S>) -> Result<Vec<S::Record>, StoreError> {
    rows.into_iter().map(Stored::record).collect()
}
