//! The one list planner: a list request is answered in SQL when its filter and its sort
//! translate, otherwise the SQL-narrowed candidates are filtered and sorted in memory,
//! with the same results either way and on either database.
use std::ops::DerefMut;

use serde_json::Value;

use super::cursor::{self, CursorKey, Position};
use super::rows::{records, Stored, StoredUser, GROUP_COLUMNS, USER_COLUMNS};
use super::{Backend, Conn, Stmt};
use crate::scim::filter::matches;
use crate::scim::schema::{self, ResourceSchema};
use crate::store::sql_filter::{self, Resource, SqlExpr};
use crate::store::sqlite::point::PointReader;
use crate::store::{
    filter_view, group_filter_view, sort_key, GroupRecord, ListPage, ListQuery, StoreError,
};

/// Reads one row of a point connection.
pub(crate) type PointRow<S> = fn(&rusqlite::Row) -> Result<S, StoreError>;

/// How to list one resource table: its SQL, its rows, and the document a filter that
/// SQL cannot answer is evaluated against.
pub(crate) struct Table<S: Stored> {
    pub name: &'static str,
    pub columns: &'static str,
    pub resource: Resource,
    /// The mapping for point reads; `None` keeps this table on the pool.
    pub point_row: Option<PointRow<S>>,
    pub view: fn(&S::Record) -> Value,
    pub types: fn() -> &'static ResourceSchema,
}

pub(crate) const USERS: Table<StoredUser> = Table {
    name: "users",
    columns: USER_COLUMNS,
    resource: Resource::Users,
    point_row: Some(StoredUser::from_point_row),
    view: filter_view,
    types: schema::user,
};

pub(crate) const GROUPS: Table<GroupRecord> = Table {
    name: "groups",
    columns: GROUP_COLUMNS,
    resource: Resource::Groups,
    point_row: None,
    view: group_filter_view,
    types: schema::group,
};

/// The total of a listing told by its page alone: a first page that is not full holds
/// every match. Saves the COUNT on the IdPs' most frequent request, the userName lookup.
fn total_from_page(offset: u64, count: u64, page_len: usize) -> Option<u64> {
    (offset == 0 && (page_len as u64) < count).then_some(page_len as u64)
}

/// How a list answered in SQL is ordered: by id, or by a sort column with missing
/// values as the greatest (last ascending, first descending, RFC 7644 3.4.2.3), ties by
/// id ascending.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sort {
    Id,
    Column {
        column: &'static str,
        descending: bool,
    },
}

impl Sort {
    /// `None` when `sortBy` names something SQL has no column for.
    fn of(query: &ListQuery, resource: Resource) -> Option<Self> {
        match &query.sort_by {
            None => Some(Sort::Id),
            Some(path) => sql_filter::sort_column(path, resource).map(|column| Sort::Column {
                column,
                descending: query.descending,
            }),
        }
    }

    fn order_by(&self) -> String {
        match self {
            Sort::Id => "id".to_string(),
            Sort::Column {
                column,
                descending: true,
            } => format!("{column} DESC NULLS FIRST, id"),
            Sort::Column { column, .. } => format!("{column} ASC NULLS LAST, id"),
        }
    }

    /// The value a row is sorted by, selected as `sort_key` so that the last row of a
    /// page can be remembered ([`cursor`]).
    fn key(&self) -> &'static str {
        match self {
            Sort::Id => "id",
            Sort::Column { column, .. } => column,
        }
    }
}

/// A row with its position in the order: its sort value and id.
struct Keyed<S> {
    row: S,
    position: Position,
}

impl<'r, R, S> sqlx::FromRow<'r, R> for Keyed<S>
where
    R: sqlx::Row,
    S: sqlx::FromRow<'r, R>,
    &'r str: sqlx::ColumnIndex<R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            row: S::from_row(row)?,
            position: Position {
                sort_key: row.try_get("sort_key")?,
                id: row.try_get("id")?,
            },
        })
    }
}

/// The filter translation writes `?` placeholders; statements here number them, after
/// the tenant's `$1`. Our SQL never contains a literal `?`, so every one is a
/// placeholder. Numbered in order of appearance, which point reads rely on (rusqlite
/// binds by position).
fn renumber(sql: &str, first: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = first;
    for c in sql.chars() {
        if c == '?' {
            out.push('$');
            out.push_str(&n.to_string());
            n += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// `cond AND after`, either possibly absent.
fn both(cond: Option<&SqlExpr>, after: Option<SqlExpr>) -> Option<SqlExpr> {
    match (cond, after) {
        (Some(c), Some(a)) => Some(SqlExpr {
            sql: format!("({}) AND {}", c.sql, a.sql),
            binds: c.binds.iter().chain(&a.binds).cloned().collect(),
        }),
        (Some(c), None) => Some(c.clone()),
        (None, after) => after,
    }
}

/// What a list statement selects.
enum Select<'a> {
    /// `COUNT(*)` of the matches.
    Count,
    /// The matches in `sort` order, `skip` of them skipped, at most `limit`.
    Rows {
        sort: &'a Sort,
        skip: u64,
        limit: Option<u64>,
    },
}

/// The statement selecting the tenant's rows matching `cond` as `select` says.
fn statement<S: Stored>(
    table: &Table<S>,
    tenant: &str,
    cond: Option<&SqlExpr>,
    select: Select,
) -> Stmt {
    let mut sql = match &select {
        Select::Count => format!("SELECT COUNT(*) FROM {} WHERE tenant = $1", table.name),
        Select::Rows { sort, .. } => format!(
            "SELECT {}, {} AS sort_key FROM {} WHERE tenant = $1",
            table.columns,
            sort.key(),
            table.name
        ),
    };
    if let Some(cond) = cond {
        sql.push_str(" AND ");
        sql.push_str(&renumber(&cond.sql, 2));
    }
    if let Select::Rows { sort, skip, limit } = select {
        sql.push_str(" ORDER BY ");
        sql.push_str(&sort.order_by());
        if let Some(limit) = limit {
            sql.push_str(&format!(" LIMIT {limit}"));
            if skip > 0 {
                sql.push_str(&format!(" OFFSET {skip}"));
            }
        }
    }
    let mut stmt = Stmt::new(sql).text(tenant);
    for bind in cond.map(|c| c.binds.as_slice()).unwrap_or_default() {
        stmt = stmt.text(bind);
    }
    stmt
}

/// Where a list's SQL runs: a point connection (SQLite's lookups by an identifying
/// attribute) or a pooled connection.
enum Source<'a, C, S> {
    Point(&'a PointReader, PointRow<S>),
    Pool(C),
}

impl<C: DerefMut<Target = K> + Send, K: Conn, S: Stored> Source<'_, C, S> {
    /// A page's records and, on the pool, the position of its last row. Point reads
    /// find a handful of rows, never paged through, so they remember nothing.
    async fn page(&mut self, stmt: Stmt) -> Result<(Vec<S::Record>, Option<Position>), StoreError> {
        match self {
            Source::Point(reader, row) => Ok((records(reader.fetch_all(&stmt, *row)?)?, None)),
            Source::Pool(conn) => {
                let rows: Vec<Keyed<S>> = conn.fetch_all(stmt).await?;
                let last = rows.last().map(|k| k.position.clone());
                Ok((records(rows.into_iter().map(|k| k.row).collect())?, last))
            }
        }
    }

    /// The database's change marker: on this source's connection where the dialect
    /// has a statement for it, else as the backend tells it.
    async fn change_marker<B: Backend>(
        &mut self,
        backend: &B,
    ) -> Result<Option<String>, StoreError> {
        match (B::DIALECT.change_marker, self) {
            (Some(sql), Source::Pool(conn)) => {
                let row: Option<(String,)> = conn.fetch_optional(Stmt::new(sql)).await?;
                Ok(row.map(|(marker,)| marker))
            }
            _ => backend.change_marker().await,
        }
    }

    async fn count(&mut self, stmt: Stmt) -> Result<u64, StoreError> {
        Ok(match self {
            Source::Point(reader, _) => reader.count(&stmt)?,
            Source::Pool(conn) => conn.count(stmt).await?,
        })
    }
}

/// The number `count` answers for the listing `key`: remembered from an earlier page
/// while the database's change marker is the same, else counted (see [`cursor`]). The
/// marker is read before counting, so a commit racing the count changes the marker the
/// next page sees and cannot leave a stale count behind.
async fn counted<B: Backend, C: DerefMut<Target = K> + Send, K: Conn, S: Stored>(
    backend: &B,
    source: &mut Source<'_, C, S>,
    key: CursorKey,
    count: Stmt,
) -> Result<u64, StoreError> {
    let marker = source.change_marker(backend).await?;
    if let Some(total) = marker
        .as_ref()
        .and_then(|m| backend.cursors().total(&key, m))
    {
        return Ok(total);
    }
    let total = source.count(count).await?;
    if let Some(marker) = marker {
        backend.cursors().remember_total(key, marker, total);
    }
    Ok(total)
}

/// Lists `table` for the tenant as `query` asks.
pub(crate) async fn list<B: Backend, S: Stored>(
    backend: &B,
    table: &Table<S>,
    tenant: &str,
    query: &ListQuery,
) -> Result<ListPage<S::Record>, StoreError> {
    let offset = query.start_index.saturating_sub(1);
    let exact = match &query.filter {
        None => Some(None),
        Some(f) => sql_filter::translate(f, table.resource).map(Some),
    };
    if let (Some(cond), Some(sort)) = (&exact, Sort::of(query, table.resource)) {
        let cond = cond.as_ref();
        let is_point = query
            .filter
            .as_ref()
            .is_some_and(|f| sql_filter::is_point_lookup(f, table.resource));
        let mut source = match backend.point().zip(table.point_row) {
            Some((reader, row)) if is_point => Source::Point(reader, row),
            _ => Source::Pool(backend.acquire().await?),
        };
        // Built when needed: a point lookup (the first page, never continued) uses none.
        let key = || CursorKey::new(table.name, tenant, cond, &sort.order_by());
        let items = if query.count == 0 {
            Vec::new()
        } else {
            let resumed = (offset > 0)
                .then(|| backend.cursors().resume(&key(), offset))
                .flatten();
            let (after, skip) = match resumed {
                Some((last, skip)) => (Some(cursor::after(&sort, &last)), skip),
                None => (None, offset),
            };
            let select = Select::Rows {
                sort: &sort,
                skip,
                limit: Some(query.count),
            };
            let stmt = statement(table, tenant, both(cond, after).as_ref(), select);
            let (items, last) = source.page(stmt).await?;
            if let Some(last) = last {
                backend
                    .cursors()
                    .remember(key(), offset + items.len() as u64, last);
            }
            items
        };
        let total = match total_from_page(offset, query.count, items.len()) {
            Some(total) => total,
            None => {
                let count = statement(table, tenant, cond, Select::Count);
                counted(backend, &mut source, key(), count).await?
            }
        };
        return Ok(ListPage { total, items });
    }
    let narrowed = query
        .filter
        .as_ref()
        .and_then(|f| sql_filter::prefilter(f, table.resource));
    let select = Select::Rows {
        sort: &Sort::Id,
        skip: 0,
        limit: None,
    };
    let stmt = statement(table, tenant, narrowed.as_ref(), select);
    let rows: Vec<S> = backend.acquire().await?.fetch_all(stmt).await?;
    let types = (table.types)();
    let mut matching: Vec<(Value, S::Record)> = records(rows)?
        .into_iter()
        .map(|r| ((table.view)(&r), r))
        .filter(|(view, _)| {
            query
                .filter
                .as_ref()
                .is_none_or(|f| matches(f, view, types))
        })
        .collect();
    if let Some(path) = &query.sort_by {
        matching.sort_by_cached_key(|(view, _)| sort_key(view, path));
        if query.descending {
            matching.reverse();
        }
    }
    let total = matching.len() as u64;
    let items = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(query.count).unwrap_or(usize::MAX))
        .map(|(_, r)| r)
        .collect();
    Ok(ListPage { total, items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            renumber("(a = ? AND b IN (?, ?))", 2),
            "(a = $2 AND b IN ($3, $4))"
        );
        assert_eq!(renumber("no placeholders", 1), "no placeholders");
    }
}
