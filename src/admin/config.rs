//! The `[admin]` section: local console accounts, separate from every IdP credential.
use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// Reads every page; changes nothing.
    Viewer,
    /// Also retries jobs, approves or rejects held deprovisions, runs reconcile.
    Operator,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Viewer => "viewer",
            AdminRole::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminAccount {
    pub name: String,
    /// argon2id PHC string (`scim-bridge admin new --name NAME`).
    pub password_hash: String,
    pub role: AdminRole,
    /// The tenants this admin sees; empty = every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// How long a console session lasts after login.
    pub session_ttl_secs: u64,
    /// Failed logins allowed per minute from one client address and for one account
    /// name, before further attempts are refused (429) for the rest of the minute.
    pub login_attempts_per_minute: u32,
    pub accounts: Vec<AdminAccount>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            session_ttl_secs: 8 * 3600,
            login_attempts_per_minute: 5,
            accounts: Vec::new(),
        }
    }
}

impl AdminConfig {
    /// Names unique, hashes parse, scoped tenants exist.
    pub fn validate<T>(&self, tenants: &BTreeMap<String, T>) -> Result<(), String> {
        let mut names = HashSet::new();
        for account in &self.accounts {
            if account.name.is_empty() || !names.insert(account.name.as_str()) {
                return Err(format!(
                    "admin account {:?}: names must be non-empty and unique",
                    account.name
                ));
            }
            argon2::PasswordHash::new(&account.password_hash).map_err(|_| {
                format!(
                    "admin account {}: password_hash is not a PHC string",
                    account.name
                )
            })?;
            if let Some(unknown) = account.tenants.iter().find(|t| !tenants.contains_key(*t)) {
                return Err(format!(
                    "admin account {}: unknown tenant {unknown:?}",
                    account.name
                ));
            }
        }
        if self.session_ttl_secs == 0 {
            return Err("admin.session_ttl_secs must be positive".into());
        }
        Ok(())
    }
}
