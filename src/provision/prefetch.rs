//! Batch reads for role syncs. A group change can queue thousands of `sync_user` jobs
//! for one tenant; read one by one, each costs a read and a write upstream. When a
//! tenant has many such jobs waiting and its target has [`PagedReads`], the directory is
//! read page by page instead (one call per page), the users the waiting jobs need are
//! kept as views, and each job writes from its view (one call, or none when nothing
//! differs).
//!
//! The worker says which upstream users its claimed jobs need ([`Prefetch::want`]),
//! asks which page to read next ([`Prefetch::next_read`]) and whether a job should wait
//! for the pages ([`Prefetch::waits`]), and hands each job its view
//! ([`Prefetch::take`]). The scan goes round the directory, so a job claimed after its
//! user's page was read is served on the next round; a user no page showed within a
//! whole round (removed upstream, or listed elsewhere) is read singly. A view older than
//! [`crate::upstream::SEEN_MAX_AGE`] is never written from.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::upstream::{PagedReads, Seen, TargetError};

/// Fewer waiting users than this are read singly: a page read would save too little.
pub const MIN_BATCH: usize = 8;

/// After a failed page read, jobs read singly for this long (their own retries and
/// backoff apply) before pages are tried again.
const PAUSE_AFTER_ERROR: Duration = Duration::from_secs(5);

/// One tenant's scan of its directory.
#[derive(Default)]
struct Scan {
    /// Upstream ids the claimed jobs need -> `pages_read` when they were first wanted.
    wanted: HashMap<String, u64>,
    /// Views of wanted users found by the pages (always a subset of `wanted`).
    views: HashMap<String, Seen>,
    next_page: u32,
    /// Pages in the directory: from the upstream, or learnt at the end of a round.
    total_pages: Option<u32>,
    pages_read: u64,
    /// `pages_read` when the most recently wanted user was first wanted.
    last_wanted_at: u64,
    reading: bool,
    paused_until: Option<Instant>,
}

impl Scan {
    fn missing(&self) -> usize {
        self.wanted.len() - self.views.len()
    }

    fn ready(&self, upstream_id: &str) -> bool {
        self.views.get(upstream_id).is_some_and(Seen::fresh)
    }

    fn waits(&self, upstream_id: &str) -> bool {
        let Some(&since) = self.wanted.get(upstream_id) else {
            return false;
        };
        !self.views.contains_key(upstream_id)
            && self.worthwhile()
            && self
                .total_pages
                .is_none_or(|p| self.pages_read - since < u64::from(p))
    }

    /// Whether reading on is cheaper than reading the missing users singly: each page
    /// costs one call, each user found saves one. What counts is the pages still to
    /// read before every missing user has been passed, not the whole directory: near
    /// the end of a round, a few pages can still find many users (compared with the
    /// whole directory, a 5,000-member push over 101 pages gave up with ~100 members
    /// to go, which cost ~100 single reads after ~90 pages).
    fn worthwhile(&self) -> bool {
        let missing = self.missing();
        let cheaper = match self.total_pages {
            None => missing >= MIN_BATCH,
            // None left: the missing users are on no page.
            Some(p) => (1..missing).contains(&self.pages_to_pass_all(p)),
        };
        cheaper && self.paused_until.is_none_or(|t| Instant::now() >= t)
    }

    /// The pages still to read in a directory of `pages` before every missing user has
    /// been passed once since it was wanted. Counted from the most recently wanted user
    /// (an upper bound when that one was found already).
    fn pages_to_pass_all(&self, pages: u32) -> usize {
        let passed = self.pages_read.saturating_sub(self.last_wanted_at);
        usize::try_from(u64::from(pages).saturating_sub(passed)).unwrap_or(usize::MAX)
    }
}

/// Every tenant's scan. The lock is held only to look and record, never across the
/// upstream call.
#[derive(Default)]
pub struct Prefetch {
    scans: Mutex<HashMap<String, Scan>>,
}

impl Prefetch {
    fn with<R>(&self, tenant: &str, f: impl FnOnce(&mut Scan) -> R) -> R {
        let mut scans = self.scans.lock().unwrap_or_else(|p| p.into_inner());
        let scan = scans.entry(tenant.to_string()).or_default();
        let r = f(scan);
        if scan.wanted.is_empty() && !scan.reading {
            // Nothing waits: the next burst starts a fresh round (the directory may
            // have changed). What is known of its size is kept.
            let total_pages = scan.total_pages;
            *scan = Scan {
                total_pages,
                ..Scan::default()
            };
        }
        r
    }

    /// A claimed job of `tenant` will write upstream user `upstream_id`.
    pub fn want(&self, tenant: &str, upstream_id: &str) {
        self.with(tenant, |s| {
            if !s.wanted.contains_key(upstream_id) {
                s.wanted.insert(upstream_id.to_string(), s.pages_read);
                s.last_wanted_at = s.pages_read;
            }
        });
    }

    /// The job for `upstream_id` starts: its view if a page found it and it is still
    /// fresh. Either way the user is no longer wanted.
    pub fn take(&self, tenant: &str, upstream_id: &str) -> Option<Seen> {
        self.with(tenant, |s| {
            s.wanted.remove(upstream_id);
            s.views.remove(upstream_id).filter(Seen::fresh)
        })
    }

    /// Whether a page found `upstream_id` and its view may still be written from.
    pub fn ready(&self, tenant: &str, upstream_id: &str) -> bool {
        self.with(tenant, |s| s.ready(upstream_id))
    }

    /// Whether the job for `upstream_id` should wait for the pages rather than read its
    /// user singly: a round is worthwhile and has not yet passed every page since the
    /// user was wanted.
    pub fn waits(&self, tenant: &str, upstream_id: &str) -> bool {
        self.with(tenant, |s| s.waits(upstream_id))
    }

    /// Which of `jobs` (tenant, upstream id if it may wait for pages) to start next: the
    /// first whose user a page found, else the first that does not wait for a page.
    /// One look under the lock for the whole backlog.
    pub fn pick<'a>(
        &self,
        mut jobs: impl Iterator<Item = (&'a str, Option<&'a str>)> + Clone,
    ) -> Option<usize> {
        let scans = self.scans.lock().unwrap_or_else(|p| p.into_inner());
        let on = |tenant: &str, id: Option<&str>, f: fn(&Scan, &str) -> bool| {
            id.zip(scans.get(tenant)).is_some_and(|(id, s)| f(s, id))
        };
        jobs.clone()
            .position(|(t, id)| on(t, id, Scan::ready))
            .or_else(|| jobs.position(|(t, id)| !on(t, id, Scan::waits)))
    }

    /// The page of `tenant` to read now, if one is worth reading: a round is
    /// worthwhile, no read is under way, and fewer than `low_water` views wait to be
    /// written (so the next page arrives before the slots run dry, and views stay
    /// fresh). The caller then calls [`Prefetch::read`] with it.
    pub fn next_read(&self, tenant: &str, low_water: usize) -> Option<u32> {
        self.with(tenant, |s| {
            if s.reading || !s.worthwhile() || s.views.len() >= low_water {
                return None;
            }
            s.reading = true;
            Some(s.next_page)
        })
    }

    /// Reads `page` (handed out by [`Prefetch::next_read`]) and keeps the views of the
    /// wanted users on it; returns how many it found.
    pub async fn read(
        &self,
        target: &dyn PagedReads,
        tenant: &str,
        page: u32,
    ) -> Result<usize, TargetError> {
        let read = target.seen_page(page).await;
        self.with(tenant, |s| {
            s.reading = false;
            let page_read = match read {
                Ok(p) => p,
                Err(e) => {
                    s.paused_until = Some(Instant::now() + PAUSE_AFTER_ERROR);
                    return Err(e);
                }
            };
            s.pages_read += 1;
            if page_read.total_pages.is_some() {
                s.total_pages = page_read.total_pages;
            }
            match page_read.next {
                Some(next) => s.next_page = next,
                None => {
                    s.total_pages = Some(page + 1);
                    s.next_page = 0;
                }
            }
            let mut found = 0;
            for seen in page_read.users {
                if s.wanted.contains_key(&seen.user.id) {
                    s.views.insert(seen.user.id.clone(), seen);
                    found += 1;
                }
            }
            Ok(found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::{DesiredUser, SeenPage, UpstreamUser};
    use async_trait::async_trait;

    /// A directory of `n` users `u0`.. in pages of `size`.
    struct Directory {
        n: u32,
        size: u32,
    }

    fn user(id: String) -> UpstreamUser {
        UpstreamUser {
            id: id.clone(),
            username: id,
            active: true,
            ..UpstreamUser::default()
        }
    }

    /// A prefetch that users `u{i}` of tenant `t` wait on, for each `i` of `ids`.
    fn wanting(ids: impl IntoIterator<Item = impl std::fmt::Display>) -> Prefetch {
        let p = Prefetch::default();
        for i in ids {
            p.want("t", &format!("u{i}"));
        }
        p
    }

    #[async_trait]
    impl PagedReads for Directory {
        async fn seen_page(&self, page: u32) -> Result<SeenPage, TargetError> {
            let users = (page * self.size..((page + 1) * self.size).min(self.n))
                .map(|i| Seen::new(user(format!("u{i}")), (), Instant::now()))
                .collect();
            let total = self.n.div_ceil(self.size);
            Ok(SeenPage {
                users,
                next: (page + 1 < total).then_some(page + 1),
                total_pages: Some(total),
            })
        }

        async fn update_seen(
            &self,
            seen: &Seen,
            _: &DesiredUser,
        ) -> Result<UpstreamUser, TargetError> {
            Ok(seen.user.clone())
        }
    }

    #[tokio::test]
    async fn a_few_users_are_read_singly() {
        let p = wanting(0..MIN_BATCH - 1);
        assert!(!p.waits("t", "u0"));
        assert_eq!(p.next_read("t", 4), None);
        let jobs = [("t", Some("u0")), ("t", None)];
        assert_eq!(p.pick(jobs.iter().copied()), Some(0), "the oldest first");
    }

    #[tokio::test]
    async fn pages_serve_the_wanted_users_and_a_user_on_no_page_is_read_singly() {
        let dir = Directory { n: 50, size: 10 };
        let p = wanting(0..50);
        p.want("t", "gone");
        assert!(p.waits("t", "u48"));
        let mut reads = 0;
        while let Some(page) = p.next_read("t", 100) {
            p.read(&dir, "t", page).await.unwrap();
            reads += 1;
            assert!(reads <= 5, "more pages read than the directory has");
        }
        assert_eq!(reads, 5);
        assert!(p.ready("t", "u48"));
        let jobs = [("t", Some("gone")), ("t", Some("u48"))];
        assert_eq!(p.pick(jobs.iter().copied()), Some(1), "a found user first");
        assert!(!p.waits("t", "gone"), "a whole round passed without it");
        assert!(p.take("t", "u48").is_some());
        assert!(p.take("t", "u48").is_none(), "a view serves one write");
        assert!(p.take("t", "gone").is_none());
    }

    /// Reads pages while `p` hands them out (taking every view found, as the jobs
    /// would); returns how many.
    async fn read_all(p: &Prefetch, dir: &Directory, wanted: &[String]) -> u32 {
        let mut reads = 0;
        while let Some(page) = p.next_read("t", 100) {
            p.read(dir, "t", page).await.unwrap();
            reads += 1;
            assert!(reads <= dir.n.div_ceil(dir.size), "more than one round");
            for id in wanted {
                if p.ready("t", id) {
                    assert!(p.take("t", id).is_some());
                }
            }
        }
        reads
    }

    #[tokio::test]
    async fn a_round_goes_on_while_the_pages_left_find_more_users_than_they_cost() {
        // 20 pages: the first 10 all wanted, then 2 wanted users on each later page.
        // Compared with the 20 pages of the whole directory, the 20 users left after
        // page 10 would not pay a round; the 10 pages left do.
        let dir = Directory { n: 200, size: 10 };
        let p = Prefetch::default();
        let wanted: Vec<String> = (0..100)
            .chain((100..200).filter(|i| i % 10 < 2))
            .map(|i| format!("u{i}"))
            .collect();
        for id in &wanted {
            p.want("t", id);
        }
        assert_eq!(read_all(&p, &dir, &wanted).await, 20);
        for id in &wanted {
            assert!(!p.waits("t", id), "{id} was found");
        }
    }

    #[tokio::test]
    async fn no_round_when_the_directory_has_more_pages_than_users_wanted() {
        let dir = Directory { n: 1000, size: 10 };
        let p = wanting((0..20).map(|i| i * 50));
        let page = p.next_read("t", 100).expect("the size is not known yet");
        p.read(&dir, "t", page).await.unwrap();
        // 100 pages for 19 users still missing: singly is cheaper.
        assert_eq!(p.next_read("t", 100), None);
        assert!(!p.waits("t", "u950"));
    }

    #[tokio::test]
    async fn a_view_past_the_bound_is_not_written_from() {
        let p = wanting(0..MIN_BATCH);
        let dir = Directory { n: 8, size: 10 };
        let page = p.next_read("t", 100).unwrap();
        p.read(&dir, "t", page).await.unwrap();
        assert!(p.ready("t", "u0"));
        let Some(long_ago) =
            Instant::now().checked_sub(crate::upstream::SEEN_MAX_AGE + Duration::from_secs(1))
        else {
            return; // the machine has been up for less than the bound
        };
        p.with("t", |s| {
            if let Some(v) = s.views.get_mut("u0") {
                v.read_at = long_ago;
            }
        });
        assert!(!p.ready("t", "u0"));
        assert!(!p.waits("t", "u0"), "found, though too old: read singly");
        assert!(p.take("t", "u0").is_none());
        assert!(p.take("t", "u1").is_some());
    }

    #[tokio::test]
    async fn views_wait_to_be_written_before_the_next_page() {
        let dir = Directory { n: 100, size: 10 };
        let p = wanting(0..100);
        let page = p.next_read("t", 4).unwrap();
        assert_eq!(p.next_read("t", 4), None, "one read at a time");
        p.read(&dir, "t", page).await.unwrap();
        assert_eq!(p.next_read("t", 4), None, "10 views wait to be written");
        for i in 0..7 {
            assert!(p.take("t", &format!("u{i}")).is_some());
        }
        assert_eq!(p.next_read("t", 4), Some(1));
    }
}
