//! Batch reads: a target that can list its users page by page hands each user out as a
//! [`Seen`] view, and can later write a user starting from such a view instead of
//! reading it again. The provisioner (`provision::prefetch`) decides which pages to
//! read and how old a view may be when it is written from.
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{DesiredUser, TargetError, UpstreamUser};

/// The oldest view a write may start from.
///
/// A write built from a view sends what the bridge manages from its own store (names,
/// email, phone, roles, scope, accounts; all of them in a role sync) and takes from the
/// view only what it does not manage, plus the decision whether anything differs. A
/// change made by hand upstream after the view was read can therefore be lost only
/// within this window. Ten seconds is of the order of the window an ordinary
/// read-then-write already has: the write after a fresh read may wait for the
/// client-side rate limiter and a 429 (`max_rate_limit_wait_secs`, 30 s by default)
/// before it is sent. At 100 requests/s a page of 100 users is written in about one
/// second, so views are used well within the bound; a view older than it is dropped and
/// the user read again singly.
pub const SEEN_MAX_AGE: Duration = Duration::from_secs(10);

/// A user as one read (a page or a single read) found it, and when.
#[derive(Clone)]
pub struct Seen {
    pub user: UpstreamUser,
    pub read_at: Instant,
    /// The target's own form of the user, which its write is built from; opaque here.
    raw: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seen")
            .field("user", &self.user.id)
            .field("age", &self.read_at.elapsed())
            .finish_non_exhaustive()
    }
}

impl Seen {
    pub(crate) fn new<R: Any + Send + Sync>(user: UpstreamUser, raw: R, read_at: Instant) -> Self {
        Seen {
            user,
            read_at,
            raw: Arc::new(raw),
        }
    }

    /// Whether a write may still start from this view ([`SEEN_MAX_AGE`]).
    pub fn fresh(&self) -> bool {
        self.read_at.elapsed() <= SEEN_MAX_AGE
    }

    /// The target's own form, if this view was read by a target of that kind.
    pub(crate) fn raw<R: Any>(&self) -> Result<&R, TargetError> {
        self.raw.downcast_ref::<R>().ok_or_else(|| {
            TargetError::Protocol("a user view read by another kind of target".into())
        })
    }
}

/// One page of the directory as views.
#[derive(Debug, Clone)]
pub struct SeenPage {
    pub users: Vec<Seen>,
    /// The page to read next, if any.
    pub next: Option<u32>,
    /// How many pages the directory has, when the upstream says.
    pub total_pages: Option<u32>,
}

/// Reading many users in one call per page, and writing a user from such a read: what
/// lets a burst of role syncs cost about one upstream call per user instead of two.
#[async_trait]
pub trait PagedReads: Send + Sync {
    /// Page `page` (from 0) of the directory, in the target's order.
    async fn seen_page(&self, page: u32) -> Result<SeenPage, TargetError>;
    /// [`super::Target::update_user`] starting from `seen` instead of reading the user
    /// again: one call when something differs, none otherwise. The caller keeps `seen`
    /// within [`SEEN_MAX_AGE`].
    async fn update_seen(
        &self,
        seen: &Seen,
        user: &DesiredUser,
    ) -> Result<UpstreamUser, TargetError>;
}
