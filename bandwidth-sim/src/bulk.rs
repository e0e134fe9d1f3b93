//! Many users copied from one ([`BulkSeed`]) in one call: a million in a few seconds,
//! where `POST /_sim/users` takes one HTTP call per user and picks the ids itself.
//!
//! Upstream's invariants still hold: the copies' ids, usernames and emails must be new
//! (case-insensitively, as for any user). Replacing the marker with distinct numbers
//! gives distinct values, so only a collision with a user already there is possible,
//! and each copy is checked against the users that were there before. Everything is
//! checked before anything is stored: a refused seed leaves the users as they were.

use crate::config::BulkSeed;
use crate::state::{ApiError, Shared, User};
use std::collections::HashSet;

/// Most copies one call may make (a million users hold about half a GiB here).
pub const MAX_BULK: u64 = 5_000_000;

/// Stores the copies; returns how many were made.
pub fn seed_bulk(shared: &Shared, seed: &BulkSeed) -> Result<u64, ApiError> {
    if seed.marker.is_empty() {
        return Err(ApiError::bad_request("marker must not be empty"));
    }
    if seed.count > MAX_BULK {
        return Err(ApiError::bad_request(format!(
            "count must be at most {MAX_BULK}, got {}",
            seed.count
        )));
    }
    if seed.first.checked_add(seed.count).is_none() {
        return Err(ApiError::bad_request("first + count is out of range"));
    }
    let mut inner = shared.lock();
    let template = inner
        .users
        .get(&seed.template_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no user with id {}", seed.template_id)))?;
    if seed.count > 1 {
        let unmarked: Vec<&str> = [
            ("ids", seed.ids.as_str()),
            ("username", template.username.as_str()),
            ("email", template.email.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.contains(&seed.marker))
        .map(|(name, _)| name)
        .collect();
        ApiError::unless_none(
            "validation_error",
            "the copies would share their value of (no marker in)",
            &unmarked,
        )?;
    }
    let taken = |f: fn(&User) -> &str| -> HashSet<String> {
        inner
            .users
            .values()
            .map(|u| f(u).to_ascii_lowercase())
            .collect()
    };
    let (usernames, emails) = (taken(|u| &u.username), taken(|u| &u.email));
    for n in seed.first..seed.first + seed.count {
        let copy = copy_of(&template, seed, n);
        if inner.users.contains(&copy.user_id) {
            return Err(conflict("user_id_taken", "user id", &copy.user_id));
        }
        if usernames.contains(&copy.username.to_ascii_lowercase()) {
            return Err(conflict("username_taken", "username", &copy.username));
        }
        if emails.contains(&copy.email.to_ascii_lowercase()) {
            return Err(conflict("email_taken", "email", &copy.email));
        }
    }
    drop((usernames, emails));
    for n in seed.first..seed.first + seed.count {
        inner.users.insert(copy_of(&template, seed, n));
    }
    Ok(seed.count)
}

fn conflict(code: &'static str, what: &str, value: &str) -> ApiError {
    ApiError::new(409, code, format!("{what} '{value}' is already taken"))
}

/// Copy number `n` of `template`.
fn copy_of(template: &User, seed: &BulkSeed, n: u64) -> User {
    let n = n.to_string();
    let numbered = |s: &str| s.replace(&seed.marker, &n);
    User {
        user_id: numbered(&seed.ids),
        username: numbered(&template.username),
        first_name: numbered(&template.first_name),
        last_name: numbered(&template.last_name),
        email: numbered(&template.email),
        phone: template.phone.as_deref().map(numbered),
        roles: template.roles.clone(),
        accounts: template.accounts.clone(),
        scope: template.scope,
        active: template.active,
    }
}
