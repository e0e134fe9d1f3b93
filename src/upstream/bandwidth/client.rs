//! The building blocks the `Target` operations are made of: URLs, authenticated calls with
//! the one-time token refresh on 401, status classification, and the role cache.

use std::sync::Arc;

use reqwest::Method;
use url::Url;

use super::config::Dialect;
use super::roles::RoleTable;
use super::wire::{self, RawUser, WriteKind, WriteUser};
use super::BandwidthTarget;
use crate::upstream::http::Incoming;
use crate::upstream::raw::RawUsers;
use crate::upstream::{Role, TargetError, UpstreamUser};

/// Which lookup a list query does; the parameter names differ by dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup {
    Username,
    Email,
}

impl BandwidthTarget {
    fn url(&self, path: &str, id: Option<&str>) -> Result<Url, TargetError> {
        let mut url = Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| TargetError::Invalid(format!("bad base_url: {e}")))?;
        if let Some(id) = id {
            // Pushed as a segment, so an id can never change the path.
            url.path_segments_mut()
                .map_err(|_| TargetError::Invalid("base_url cannot take a path".into()))?
                .push(id);
        }
        Ok(url)
    }

    pub(crate) fn users_url(&self, id: Option<&str>) -> Result<Url, TargetError> {
        match self.dialect {
            Dialect::V1 => self.url("/api/v1/users", id),
            Dialect::Dashboard => self.account_url("users", id),
        }
    }

    fn roles_url(&self) -> Result<Url, TargetError> {
        match self.dialect {
            Dialect::V1 => self.url("/api/v1/roles", None),
            Dialect::Dashboard => self.account_url("roles", None),
        }
    }

    /// The dashboard's `/accounts/{account_id}/{collection}[/{id}]`.
    fn account_url(&self, collection: &str, id: Option<&str>) -> Result<Url, TargetError> {
        let mut u = self.url("/accounts", None)?;
        u.path_segments_mut()
            .map_err(|_| TargetError::Invalid("base_url cannot take a path".into()))?
            .push(&self.account_id)
            .push(collection)
            .extend(id);
        Ok(u)
    }

    /// Maps a non-success answer to the error the IdP should see.
    pub(crate) fn classify(resp: &Incoming) -> TargetError {
        crate::upstream::http::classify(resp.status, || {
            wire::error_description(resp.content_type.as_deref(), &resp.body)
                .unwrap_or_else(|| format!("HTTP {}", resp.status.as_u16()))
        })
    }

    /// Full-replacement PUT; safe to retry because it sends the whole user.
    pub(crate) async fn put_raw(&self, id: &str, user: &WriteUser) -> Result<RawUser, TargetError> {
        let body = wire::encode_user(self.dialect, WriteKind::Replace, user)?;
        let resp = self
            .http
            .call(Method::PUT, self.users_url(Some(id))?, Some(body), true)
            .await?;
        if resp.status.is_success() {
            self.decode_user(&resp)
        } else {
            Err(Self::classify(&resp))
        }
    }

    /// The upstream user whose username/email equals `value` (case-insensitively). The
    /// match is re-checked here so an upstream that ignores the filter cannot hand back
    /// someone else.
    pub(crate) async fn find_raw(
        &self,
        by: Lookup,
        value: &str,
    ) -> Result<Option<RawUser>, TargetError> {
        let key = match (self.dialect, by) {
            (Dialect::V1, Lookup::Username) => "username",
            (Dialect::V1, Lookup::Email) => "email",
            (Dialect::Dashboard, Lookup::Username) => "Username",
            (Dialect::Dashboard, Lookup::Email) => "Email",
        };
        let mut url = self.users_url(None)?;
        url.query_pairs_mut().append_pair(key, value);
        let resp = self.http.call(Method::GET, url, None, true).await?;
        if !resp.status.is_success() {
            return Err(Self::classify(&resp));
        }
        let page = wire::decode_list(self.dialect, resp.content_type.as_deref(), &resp.body)?;
        Ok(page.users.into_iter().find(|u| match by {
            Lookup::Username => u.profile.username.eq_ignore_ascii_case(value),
            Lookup::Email => u.profile.email.eq_ignore_ascii_case(value),
        }))
    }

    pub(crate) async fn fetch_roles(&self) -> Result<Vec<Role>, TargetError> {
        let resp = self
            .http
            .call(Method::GET, self.roles_url()?, None, true)
            .await?;
        if !resp.status.is_success() {
            return Err(Self::classify(&resp));
        }
        wire::decode_roles(self.dialect, resp.content_type.as_deref(), &resp.body)
    }

    /// The cached role table; `refresh` fetches it anew. The cache's lock is never held
    /// across the roles call, so a slow refresh delays only its own caller: every other
    /// call goes on with the table it has. Callers that refresh together may each fetch.
    pub(crate) async fn role_table(&self, refresh: bool) -> Result<Arc<RoleTable>, TargetError> {
        if !refresh {
            let cached = self.roles.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(t) = cached {
                return Ok(t);
            }
        }
        let table = Arc::new(RoleTable::new(self.fetch_roles().await?));
        *self.roles.lock().unwrap_or_else(|p| p.into_inner()) = Some(table.clone());
        Ok(table)
    }

    /// Role names -> ids; one cache refresh on an unknown name, then `Invalid` listing
    /// the valid names.
    pub(crate) async fn role_ids(&self, names: &[String]) -> Result<Vec<String>, TargetError> {
        if let Ok(ids) = self.role_table(false).await?.ids_for(names) {
            return Ok(ids);
        }
        let table = self.role_table(true).await?;
        table.ids_for(names).map_err(|unknown| {
            TargetError::Invalid(format!(
                "unknown role(s): {}; valid roles: {}",
                unknown.join(", "),
                table.names()
            ))
        })
    }

    /// Whether writing `write` over `current` would change nothing the bridge manages
    /// (role and account order does not matter; a dashboard user's account is its path).
    pub(crate) async fn unchanged(
        &self,
        current: &RawUser,
        write: &WriteUser,
    ) -> Result<bool, TargetError> {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        let accounts_same = match &current.accounts {
            Some(accounts) => sorted(accounts) == sorted(&write.grants.accounts),
            None => write.grants.accounts.is_empty(),
        };
        Ok(current.profile == write.profile
            && current.account_scope == write.grants.account_scope
            && current.active == write.active
            && accounts_same
            && sorted(&self.kept_role_ids(current).await?) == sorted(&write.grants.role_ids))
    }

    /// The ids of the roles a user has upstream, to write them back unchanged. XML answers
    /// may name a role without its id; such names are resolved through the table.
    pub(crate) async fn kept_role_ids(&self, user: &RawUser) -> Result<Vec<String>, TargetError> {
        let mut ids = Vec::with_capacity(user.roles.len());
        let mut names = Vec::new();
        for r in &user.roles {
            match (&r.id, &r.name) {
                (Some(id), _) => ids.push(id.clone()),
                (None, Some(name)) => names.push(name.clone()),
                (None, None) => {}
            }
        }
        if !names.is_empty() {
            ids.extend(self.role_ids(&names).await?);
        }
        Ok(ids)
    }

    /// A raw user with role names in place of ids. An id missing from the table triggers
    /// one refresh; one still unknown is reported by its id rather than failing the read.
    pub(crate) async fn to_upstream(&self, raw: RawUser) -> Result<UpstreamUser, TargetError> {
        let mut table = self.role_table(false).await?;
        let unknown = |t: &RoleTable| {
            raw.roles.iter().any(|r| {
                r.name.is_none() && r.id.as_deref().is_some_and(|id| t.name_of(id).is_none())
            })
        };
        if unknown(&table) {
            table = self.role_table(true).await?;
        }
        let roles = raw
            .roles
            .iter()
            .filter_map(|r| match (&r.name, &r.id) {
                (Some(n), _) => Some(n.clone()),
                (None, Some(id)) => Some(table.name_of(id).map(str::to_string).unwrap_or_else(|| {
                    tracing::warn!(role_id = %id, "upstream user has a role missing from the roles list");
                    id.clone()
                })),
                (None, None) => None,
            })
            .collect();
        Ok(UpstreamUser {
            id: raw.id,
            username: raw.profile.username,
            first_name: raw.profile.first_name,
            last_name: raw.profile.last_name,
            email: raw.profile.email,
            phone: raw.profile.phone,
            roles,
            account_scope: raw.account_scope,
            accounts: raw
                .accounts
                .unwrap_or_else(|| vec![self.account_id.clone()]),
            active: raw.active,
            department: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;

    #[test]
    fn an_upstream_413_is_a_refusal_of_the_data_not_an_outage() {
        let resp = Incoming {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            content_type: None,
            body: Vec::new(),
        };
        match BandwidthTarget::classify(&resp) {
            TargetError::Invalid(detail) => assert!(detail.contains("413"), "{detail}"),
            other => panic!("413 mapped to {other:?}"),
        }
    }
}
