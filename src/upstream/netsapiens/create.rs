//! Creating a user: the lowest free extension of the configured range, with the upstream
//! as the arbiter. Two replicas (or two requests) picking the same number is resolved by
//! NetSapiens' 409 for a taken extension: the loser reads the extension back and, if the
//! user there is not its own (a lost answer of its own create), moves on to the next.
//! An extension from the user's configured source is tried alone: taken is a conflict.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};

use super::config::LoginUsername;
use super::wire::{self, RawUser, Taken, WriteUser, SYNCHRONOUS};
use super::NetsapiensTarget;
use crate::upstream::http;
use crate::upstream::raw::RawUsers;
use crate::upstream::{DesiredUser, TargetError};

/// The free extensions of `low..=high`, lowest first.
pub(crate) fn free_extensions(
    low: u32,
    high: u32,
    taken: &BTreeSet<u32>,
) -> impl Iterator<Item = u32> + '_ {
    (low..=high).filter(move |n| !taken.contains(n))
}

/// What a create attempt came to.
enum Attempt {
    Done(RawUser),
    /// Someone else holds the extension: try the next.
    Taken,
}

impl NetsapiensTarget {
    pub(crate) async fn create_with_extension(
        &self,
        user: &DesiredUser,
        scope: &str,
    ) -> Result<RawUser, TargetError> {
        // A user deleted and re-created gets its old extension back while it is free.
        if let Some(previous) = &user.previous_id {
            match self.try_create(user, scope, previous).await? {
                Attempt::Done(u) => return Ok(u),
                Attempt::Taken => {
                    tracing::info!(extension = %previous, "the user's earlier extension is taken; allocating another");
                }
            }
        }
        if let Some(ext) = &user.extension {
            return match self.try_create(user, scope, ext).await? {
                Attempt::Done(u) => Ok(u),
                Attempt::Taken => Err(TargetError::Conflict(format!(
                    "extension (user) {ext} is taken in NetSapiens domain {}",
                    self.config.domain
                ))),
            };
        }
        let (low, high) = self.config.extension_range;
        let taken: BTreeSet<u32> = self
            .all_raw()
            .await?
            .iter()
            .filter_map(|u| u.user.parse::<u32>().ok())
            .collect();
        for ext in free_extensions(low, high, &taken) {
            match self.try_create(user, scope, &ext.to_string()).await? {
                Attempt::Done(u) => return Ok(u),
                Attempt::Taken => {
                    tracing::debug!(
                        extension = ext,
                        "extension taken meanwhile; trying the next"
                    );
                }
            }
        }
        Err(TargetError::Invalid(format!(
            "no free extension left in the range {low}-{high} of NetSapiens domain {}",
            self.config.domain
        )))
    }

    /// The `login-username` a user created at `ext` gets, per the tenant's setting.
    pub(crate) fn login_username(&self, user: &DesiredUser, ext: &str) -> String {
        match self.config.login_username {
            LoginUsername::Username => user.username.clone(),
            LoginUsername::UserAtDomain => format!("{ext}@{}", self.config.domain),
        }
    }

    /// Whether the user at `ext` is `user` (a create whose answer was lost). Under
    /// `user@domain` every user at `ext` has the same login-username, so the names and
    /// emails must match too.
    fn is_ours(&self, found: &RawUser, user: &DesiredUser, ext: &str) -> bool {
        found
            .login_username
            .eq_ignore_ascii_case(&self.login_username(user, ext))
            && (self.config.login_username == LoginUsername::Username
                || super::shows_attributes(found, user))
    }

    async fn try_create(
        &self,
        user: &DesiredUser,
        scope: &str,
        ext: &str,
    ) -> Result<Attempt, TargetError> {
        let write = WriteUser {
            user: Some(ext.to_string()),
            name_first_name: Some(user.first_name.clone()),
            name_last_name: Some(user.last_name.clone()),
            email_address: Some(super::email_address(user)),
            user_scope: Some(scope.to_string()),
            department: user.department.clone().filter(|d| !d.is_empty()),
            site: user.site.clone(),
            login_username: Some(self.login_username(user, ext)),
            synchronous: SYNCHRONOUS,
        };
        let body = wire::encode(&write)?;
        let ours = |u: &RawUser| self.is_ours(u, user, ext);
        let mut failures = 0u32;
        loop {
            let why = match self
                .http
                .call(
                    Method::POST,
                    self.users_url(None)?,
                    Some(body.clone()),
                    false,
                )
                .await
            {
                Ok(resp) if resp.status == StatusCode::OK => {
                    return Ok(Attempt::Done(wire::decode_user(&resp.body)?));
                }
                Ok(resp) if resp.status == StatusCode::ACCEPTED => {
                    return self.read_back(ext, ours).await.map(Attempt::Done);
                }
                Ok(resp) if resp.status == StatusCode::CONFLICT => {
                    let message = wire::error_message(&resp.body).unwrap_or_default();
                    if wire::taken_field(&message) == Taken::LoginUsername {
                        return Err(Self::classify(&resp));
                    }
                    // Ours after all (an earlier attempt's answer was lost), or another's.
                    return Ok(match self.get_raw(ext).await? {
                        Some(u) if ours(&u) => Attempt::Done(u),
                        _ => Attempt::Taken,
                    });
                }
                Ok(resp) if resp.status.is_server_error() => Self::classify(&resp).to_string(),
                Ok(resp) => return Err(Self::classify(&resp)),
                Err(TargetError::Unavailable(m)) => m,
                Err(e) => return Err(e),
            };
            // The create may have happened although its answer was lost.
            if let Some(u) = self.get_raw(ext).await? {
                if ours(&u) {
                    tracing::info!(extension = %ext, "create answer was lost but the user exists; using it");
                    return Ok(Attempt::Done(u));
                }
                return Ok(Attempt::Taken);
            }
            if failures >= self.config.calls.max_retries {
                return Err(TargetError::Unavailable(why));
            }
            failures += 1;
            tokio::time::sleep(http::backoff(failures)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_takes_the_lowest_free_numbers_of_the_range() {
        let taken: BTreeSet<u32> = [2000, 2001, 2003, 1999, 3000].into_iter().collect();
        let free: Vec<u32> = free_extensions(2000, 2005, &taken).collect();
        assert_eq!(free, [2002, 2004, 2005]);
        let full: BTreeSet<u32> = (10..=12).collect();
        assert_eq!(free_extensions(10, 12, &full).count(), 0);
        assert_eq!(
            free_extensions(7, 7, &BTreeSet::new()).collect::<Vec<_>>(),
            [7]
        );
    }
}
