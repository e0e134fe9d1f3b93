//! What [`super::drift::differences`] compares of one user, reduced to 16 bytes, so that a
//! reconcile keeps one small entry per stored user instead of every expected and every
//! upstream user at once (a million of each took 1.8 GB).
//!
//! Both sides are written in one canonical form (length-prefixed texts, role and account
//! names as sorted sets, the email ASCII-folded) and hashed with SHA-256, cut to 128
//! bits. Two users whose fingerprints are equal have no difference unless SHA-256
//! collides on its first 128 bits; users whose fingerprints differ are compared again in
//! full (`differences`), so a report never shows a difference that is not there.
//!
//! Which fields are compared depends on the expected user (its department only where the
//! tenant manages departments; roles and scope only when the bridge sets its access;
//! accounts only when a grant names them): that is the [`Shape`], kept beside the digest
//! so that the upstream user is written in the same form.
use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::drift::Expected;
use crate::upstream::{AccountScope, UpstreamUser};

/// Which of the optional fields a comparison covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    department: bool,
    access: bool,
    accounts: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    shape: Shape,
    digest: [u8; 16],
}

impl Fingerprint {
    /// What `want` compares, in canonical form.
    pub fn of_expected(want: &Expected) -> Self {
        let held = &want.held;
        let access = want.access.as_ref();
        let shape = Shape {
            department: held.department.is_some(),
            access: access.is_some(),
            accounts: access.is_some_and(|a| a.accounts.is_some()),
        };
        let mut c = Canonical::default();
        c.text(&held.first_name);
        c.text(&held.last_name);
        c.text(&held.email.to_ascii_lowercase());
        c.option(held.phone.as_deref());
        if let Some(department) = &held.department {
            c.text(department);
        }
        c.flag(held.active);
        if let Some(access) = access {
            c.set(access.roles.iter().map(String::as_str));
            c.scope(access.scope);
            if let Some(accounts) = &access.accounts {
                c.set(accounts.iter().map(String::as_str));
            }
        }
        Self {
            shape,
            digest: c.finish(),
        }
    }

    /// Whether `have` shows no difference from the expected user this was made of
    /// (see the module for the one way this can be wrong).
    pub fn matches(&self, have: &UpstreamUser) -> bool {
        let shape = self.shape;
        let mut c = Canonical::default();
        c.text(&have.first_name);
        c.text(&have.last_name);
        c.text(&have.email.to_ascii_lowercase());
        c.option(have.phone.as_deref());
        if shape.department {
            c.text(have.department.as_deref().unwrap_or_default());
        }
        c.flag(have.active);
        if shape.access {
            c.set(have.roles.iter().map(String::as_str));
            c.scope(have.account_scope);
            if shape.accounts {
                c.set(have.accounts.iter().map(String::as_str));
            }
        }
        c.finish() == self.digest
    }
}

/// The canonical form, fed straight into the hash.
#[derive(Default)]
struct Canonical(Sha256);

impl Canonical {
    fn text(&mut self, s: &str) {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
    }

    fn option(&mut self, s: Option<&str>) {
        match s {
            None => self.0.update([0]),
            Some(s) => {
                self.0.update([1]);
                self.text(s);
            }
        }
    }

    fn flag(&mut self, on: bool) {
        self.0.update([u8::from(on)]);
    }

    /// Sorted and without repeats, as `differences` compares them.
    fn set<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        let names: BTreeSet<&str> = names.collect();
        self.0.update((names.len() as u64).to_le_bytes());
        for name in names {
            self.text(name);
        }
    }

    fn scope(&mut self, scope: AccountScope) {
        self.0.update([match scope {
            AccountScope::Account => 0,
            AccountScope::AccountAdmin => 1,
        }]);
    }

    fn finish(self) -> [u8; 16] {
        let full = self.0.finalize();
        let mut digest = [0; 16];
        digest.copy_from_slice(&full[..16]);
        digest
    }
}

#[cfg(test)]
#[path = "fingerprint_tests.rs"]
mod tests;
