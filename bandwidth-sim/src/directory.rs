//! The Bandwidth users by id, with the listing order (by username) kept between lists.
//!
//! A list page used to clone and sort every user: fine for a test's ten users, but a
//! directory of a million read in pages of 100 cost 10,000 sorts of a million. The order
//! is now built once, on the first listing after the set of users changed, and a page
//! is a slice of it. Only inserts of new ids and removals change the order (a username
//! never changes), and they go through [`Directory::insert`] and [`Directory::remove`],
//! which drop it.

use crate::state::User;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Directory {
    by_id: BTreeMap<String, User>,
    /// User ids by username (then id); `None` after a change until the next listing.
    order: Option<Vec<String>>,
}

/// What a listing asks for: exact, case-insensitive matches; `None` matches all.
#[derive(Clone, Copy, Default)]
pub struct Filter<'a> {
    pub username: Option<&'a str>,
    pub email: Option<&'a str>,
    pub account: Option<&'a str>,
}

impl Filter<'_> {
    fn matches(&self, u: &User) -> bool {
        self.username
            .is_none_or(|n| u.username.eq_ignore_ascii_case(n))
            && self.email.is_none_or(|e| u.email.eq_ignore_ascii_case(e))
            && self
                .account
                .is_none_or(|a| u.accounts.iter().any(|x| x == a))
    }
}

impl Directory {
    pub fn get(&self, id: &str) -> Option<&User> {
        self.by_id.get(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &User> {
        self.by_id.values()
    }

    /// Stores `user` under its id, replacing the user there.
    pub fn insert(&mut self, user: User) {
        let id = user.user_id.clone();
        if self.by_id.insert(id, user).is_none() {
            self.order = None;
        }
    }

    pub fn remove(&mut self, id: &str) -> Option<User> {
        let removed = self.by_id.remove(id);
        if removed.is_some() {
            self.order = None;
        }
        removed
    }

    /// The users `filter` matches, ordered by username: the `skip` first left out, at
    /// most `take` of them, and how many match in all. Without a username or email
    /// filter (a directory read) the page costs its own size plus, with an account
    /// filter, a pass over the ids; with one, a pass over the users (it matches one).
    pub fn page(&mut self, filter: Filter<'_>, skip: usize, take: usize) -> (Vec<User>, usize) {
        if filter.username.is_some() || filter.email.is_some() {
            let mut found: Vec<&User> = self.by_id.values().filter(|u| filter.matches(u)).collect();
            found.sort_by(|a, b| a.username.cmp(&b.username));
            let items = found.iter().skip(skip).take(take).map(|u| (*u).clone());
            return (items.collect(), found.len());
        }
        let by_id = &self.by_id;
        let order = self.order.get_or_insert_with(|| ordered(by_id));
        if filter.account.is_none() {
            let rest = order.get(skip..).unwrap_or_default();
            let items = rest.iter().take(take).filter_map(|id| by_id.get(id));
            return (items.cloned().collect(), by_id.len());
        }
        let mut total = 0;
        let mut items = Vec::new();
        let users = order.iter().filter_map(|id| by_id.get(id));
        for u in users.filter(|u| filter.matches(u)) {
            if total >= skip && items.len() < take {
                items.push(u.clone());
            }
            total += 1;
        }
        (items, total)
    }
}

fn ordered(by_id: &BTreeMap<String, User>) -> Vec<String> {
    let mut users: Vec<&User> = by_id.values().collect();
    users.sort_by(|a, b| a.username.cmp(&b.username).then(a.user_id.cmp(&b.user_id)));
    users.into_iter().map(|u| u.user_id.clone()).collect()
}
