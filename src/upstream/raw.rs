//! What both adapters are built on: the system's own form of a user, read by id,
//! listed page by page and written over (GET-merge-PUT). The operations that only
//! combine those, batch reads ([`PagedReads`]) among them, are written once here.
use std::time::Instant;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use url::Url;

use super::http::{Http, Incoming};
use super::{DesiredUser, PagedReads, Seen, SeenPage, TargetError, UpstreamUser};

/// One page of the system's own users.
pub(crate) struct RawPage<R> {
    pub users: Vec<R>,
    /// The page after this one, if any.
    pub next: Option<u32>,
    /// How many pages there are, when the upstream says.
    pub total_pages: Option<u32>,
}

#[async_trait]
pub(crate) trait RawUsers: Send + Sync {
    /// The system's own form of a user, which writes are built from.
    type Raw: Clone + Send + Sync + 'static;

    fn http(&self) -> &Http;
    /// The users collection, or one user in it.
    fn users_url(&self, id: Option<&str>) -> Result<Url, TargetError>;
    /// Maps a non-success answer to the error the IdP should see.
    fn failure(&self, resp: &Incoming) -> TargetError;
    fn decode_user(&self, resp: &Incoming) -> Result<Self::Raw, TargetError>;
    async fn raw_page(&self, page: u32) -> Result<RawPage<Self::Raw>, TargetError>;
    async fn upstream(&self, raw: Self::Raw) -> Result<UpstreamUser, TargetError>;
    /// Applies `user` over `current` (its `None` fields left as upstream has them) and
    /// writes the result, unless nothing would change.
    async fn write_over(
        &self,
        current: Self::Raw,
        user: &DesiredUser,
    ) -> Result<UpstreamUser, TargetError>;

    /// The user with this id; `None` when the upstream answers 404.
    async fn get_raw(&self, id: &str) -> Result<Option<Self::Raw>, TargetError> {
        let url = self.users_url(Some(id))?;
        let resp = self.http().call(Method::GET, url, None, true).await?;
        match resp.status {
            s if s.is_success() => Ok(Some(self.decode_user(&resp)?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.failure(&resp)),
        }
    }

    /// [`super::Target::update_user`]: reads the user and writes over it.
    async fn update_by_id(
        &self,
        id: &str,
        user: &DesiredUser,
    ) -> Result<UpstreamUser, TargetError> {
        let current = self.get_raw(id).await?.ok_or(TargetError::NotFound)?;
        self.write_over(current, user).await
    }

    /// [`super::Target::delete_user`]: a user already gone is deleted.
    async fn delete_by_id(&self, id: &str) -> Result<(), TargetError> {
        let url = self.users_url(Some(id))?;
        let resp = self.http().call(Method::DELETE, url, None, true).await?;
        if resp.status.is_success() || resp.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.failure(&resp))
        }
    }
}

#[async_trait]
impl<T: RawUsers> PagedReads for T {
    async fn seen_page(&self, page: u32) -> Result<SeenPage, TargetError> {
        let read_at = Instant::now();
        let raw = self.raw_page(page).await?;
        let mut users = Vec::with_capacity(raw.users.len());
        for u in raw.users {
            users.push(Seen::new(self.upstream(u.clone()).await?, u, read_at));
        }
        Ok(SeenPage {
            users,
            next: raw.next,
            total_pages: raw.total_pages,
        })
    }

    async fn update_seen(
        &self,
        seen: &Seen,
        user: &DesiredUser,
    ) -> Result<UpstreamUser, TargetError> {
        let current: &T::Raw = seen.raw()?;
        self.write_over(current.clone(), user).await
    }
}
