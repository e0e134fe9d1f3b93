//! Keyset paging behind `startIndex`: where the last pages of recent listings ended.
//!
//! Okta and Entra read a whole directory as `startIndex` 1, 101, 201, ... with the same
//! filter and sort each time. Answered with `OFFSET`, page k makes the database step
//! over k x 100 rows, so a full read costs O(n^2). Instead, each page served remembers
//! the sort key and id of its last row under its end offset; a request whose
//! `startIndex` continues a remembered page reads `WHERE (sort key, id) > (last) LIMIT
//! count`, which costs the page alone. Without changes in between, the rows after the
//! last one served are exactly the rows at the following offsets, so the answer is the
//! one `OFFSET` gives. With rows inserted or deleted before the position meanwhile, it
//! is better: `OFFSET` would repeat or skip rows, the keyset neither.
//!
//! The memory is per process and bounded (a few positions for each of the most recently
//! used listings); a request with no position falls back to `OFFSET`, so another
//! replica, an evicted cursor or a client jumping around still gets the right page.
//!
//! Each listing also remembers its last `COUNT(*)` with the database's change marker
//! read just before it ([`super::Backend::change_marker`]). A later page reuses the
//! count only while the marker is unchanged, that is while no commit (by this process
//! or another replica) can have changed it; any write anywhere in the database gives a
//! new marker and a new count. So `totalResults` is the count at the time of the page,
//! as RFC 7644 3.4.2 asks, also for a client paging while users are added, while a
//! quiet directory read (Okta's import, Entra's first cycle) counts once, not once per
//! page. Carrying the first page's count with the cursor instead would answer a stale
//! total after an insert; caching it per tenant and invalidating on this process's
//! writes would miss another replica's.
use std::collections::HashMap;
use std::sync::Mutex;

use super::list::Sort;
use crate::store::sql_filter::SqlExpr;

/// Listings (table, tenant, filter, sort) remembered.
const MAX_CURSORS: usize = 1024;
/// Positions kept per listing: enough for a client or two reading it at the same time.
const POSITIONS: usize = 4;

/// The last row of a page served: its sort key (`None` for a missing value) and id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Position {
    pub sort_key: Option<String>,
    pub id: String,
}

/// One listing's identity: everything that decides its rows and order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CursorKey(String);

impl CursorKey {
    pub fn new(table: &str, tenant: &str, cond: Option<&SqlExpr>, order: &str) -> Self {
        let mut key = format!("{table}\0{tenant}\0{order}\0");
        if let Some(cond) = cond {
            key.push_str(&cond.sql);
            for bind in &cond.binds {
                key.push('\0');
                key.push_str(bind);
            }
        }
        Self(key)
    }
}

#[derive(Default)]
struct Listing {
    used: u64,
    /// (end offset, last row), most recent last.
    ends: Vec<(u64, Position)>,
    /// The change marker read before the last count, and the count.
    total: Option<(String, u64)>,
}

/// The remembered positions, shared by every request on one store.
#[derive(Default)]
pub struct Cursors {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tick: u64,
    listings: HashMap<CursorKey, Listing>,
}

impl Cursors {
    /// Where to resume a page that starts after `offset` rows: the nearest remembered
    /// end at or before `offset` and the rows still to skip from there, or `None`
    /// (read from the start with `OFFSET offset`).
    pub(crate) fn resume(&self, key: &CursorKey, offset: u64) -> Option<(Position, u64)> {
        if offset == 0 {
            return None;
        }
        let mut inner = self.inner.lock().ok()?;
        inner.tick += 1;
        let tick = inner.tick;
        let listing = inner.listings.get_mut(key)?;
        listing.used = tick;
        listing
            .ends
            .iter()
            .filter(|(end, _)| *end <= offset)
            .max_by_key(|(end, _)| *end)
            .map(|(end, position)| (position.clone(), offset - end))
    }

    /// Remembers that a page of `key` ended at `end` rows with `last`.
    pub(crate) fn remember(&self, key: CursorKey, end: u64, last: Position) {
        self.with_listing(key, |listing| {
            listing.ends.retain(|(e, _)| *e != end);
            listing.ends.push((end, last));
            if listing.ends.len() > POSITIONS {
                listing.ends.remove(0);
            }
        });
    }

    /// The count of `key` remembered under `marker`, if the database is unchanged since.
    pub(crate) fn total(&self, key: &CursorKey, marker: &str) -> Option<u64> {
        let inner = self.inner.lock().ok()?;
        match &inner.listings.get(key)?.total {
            Some((seen, total)) if seen == marker => Some(*total),
            _ => None,
        }
    }

    /// Remembers that `key` counted `total` rows when the change marker was `marker`.
    pub(crate) fn remember_total(&self, key: CursorKey, marker: String, total: u64) {
        self.with_listing(key, |listing| listing.total = Some((marker, total)));
    }

    /// Runs `change` on the listing of `key`, made the most recently used (and created,
    /// evicting the least recently used one when the memory is full).
    fn with_listing(&self, key: CursorKey, change: impl FnOnce(&mut Listing)) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.tick += 1;
        let tick = inner.tick;
        if !inner.listings.contains_key(&key) && inner.listings.len() >= MAX_CURSORS {
            // Evict the least recently used listing: a linear pass, only when a new
            // listing arrives and the memory is full.
            let oldest = inner
                .listings
                .iter()
                .min_by_key(|(_, l)| l.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                inner.listings.remove(&oldest);
            }
        }
        let listing = inner.listings.entry(key).or_default();
        listing.used = tick;
        change(listing);
    }
}

/// The condition "after `last` in `sort` order" with `?` placeholders and its binds.
/// Orders are those of [`super::list`]: by the sort column (missing values last
/// ascending, first descending), ties by id ascending; by id alone without a column.
pub(crate) fn after(sort: &Sort, last: &Position) -> SqlExpr {
    let id = last.id.clone();
    let (sql, binds) = match (sort, &last.sort_key) {
        (Sort::Id, _) => ("id > ?".to_string(), vec![id]),
        (
            Sort::Column {
                column: c,
                descending: false,
            },
            Some(v),
        ) => (
            format!("({c} > ? OR ({c} = ? AND id > ?) OR {c} IS NULL)"),
            vec![v.clone(), v.clone(), id],
        ),
        (
            Sort::Column {
                column: c,
                descending: false,
            },
            None,
        ) => (format!("({c} IS NULL AND id > ?)"), vec![id]),
        (
            Sort::Column {
                column: c,
                descending: true,
            },
            Some(v),
        ) => (
            format!("({c} < ? OR ({c} = ? AND id > ?))"),
            vec![v.clone(), v.clone(), id],
        ),
        (
            Sort::Column {
                column: c,
                descending: true,
            },
            None,
        ) => (
            format!("(({c} IS NULL AND id > ?) OR {c} IS NOT NULL)"),
            vec![id],
        ),
    };
    SqlExpr { sql, binds }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: &str) -> Position {
        Position {
            sort_key: Some(id.into()),
            id: id.into(),
        }
    }

    #[test]
    fn resumes_at_the_nearest_end_before_the_offset() {
        let cursors = Cursors::default();
        let key = CursorKey::new("users", "t", None, "id");
        assert_eq!(cursors.resume(&key, 100), None);
        cursors.remember(key.clone(), 100, at("a"));
        cursors.remember(key.clone(), 200, at("b"));
        assert_eq!(cursors.resume(&key, 0), None);
        assert_eq!(cursors.resume(&key, 50), None);
        assert_eq!(cursors.resume(&key, 100), Some((at("a"), 0)));
        assert_eq!(cursors.resume(&key, 250), Some((at("b"), 50)));
        let other = CursorKey::new("users", "other", None, "id");
        assert_eq!(cursors.resume(&other, 100), None);
    }

    #[test]
    fn memory_is_bounded() {
        let cursors = Cursors::default();
        let key = CursorKey::new("users", "t", None, "id");
        for end in 1..=10 {
            cursors.remember(key.clone(), end * 100, at("x"));
        }
        assert_eq!(cursors.resume(&key, 500), None, "old positions are dropped");
        assert!(cursors.resume(&key, 1000).is_some());
        for n in 0..MAX_CURSORS + 10 {
            let k = CursorKey::new("users", &format!("t{n}"), None, "id");
            cursors.remember(k, 100, at("x"));
        }
        let len = cursors.inner.lock().map(|i| i.listings.len()).unwrap_or(0);
        assert_eq!(len, MAX_CURSORS);
    }

    #[test]
    fn a_count_is_reused_only_under_its_marker() {
        let cursors = Cursors::default();
        let key = CursorKey::new("users", "t", None, "id");
        assert_eq!(cursors.total(&key, "1"), None);
        cursors.remember_total(key.clone(), "1".into(), 30);
        assert_eq!(cursors.total(&key, "1"), Some(30));
        assert_eq!(
            cursors.total(&key, "2"),
            None,
            "a commit since: count again"
        );
        cursors.remember(key.clone(), 100, at("a"));
        assert_eq!(
            cursors.total(&key, "1"),
            Some(30),
            "positions keep the count"
        );
        let other = CursorKey::new("users", "other", None, "id");
        assert_eq!(cursors.total(&other, "1"), None);
    }
}
