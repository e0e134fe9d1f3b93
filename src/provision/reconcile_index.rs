//! The stored side of a reconcile, small enough for a million users: for each upstream
//! id a stored user links to, the fingerprint of what that user should look like
//! upstream (none for a user linked but not expected there) and whether the listing has
//! shown it yet. About 60 bytes a user, where the expected users themselves took about
//! a kilobyte each and were held together with every listed upstream user.
//!
//! A reconcile reads the store into it first, then compares each listed page against it
//! as the page arrives, and keeps only what differs (see `reconcile`).
use super::fingerprint::Fingerprint;

#[derive(Default)]
pub(super) struct StoredIndex {
    /// By upstream id; sorted by [`StoredIndex::seal`].
    entries: Vec<(Box<str>, Entry)>,
}

struct Entry {
    expected: Option<Fingerprint>,
    listed: bool,
}

/// What the index says of an upstream id the listing shows.
pub(super) enum Listed {
    /// First seen; a stored user expects it to look like this.
    Expected(Fingerprint),
    /// First seen; a stored user links to it without expecting it upstream (inactive
    /// under the `delete` policy, or a user whose expected state could not be
    /// computed): neither compared nor an orphan.
    Linked,
    /// Shown before (the pages shifted between reads).
    Again,
    /// No stored user links to it.
    Unknown,
}

impl StoredIndex {
    /// Room for `users` more entries (the store's count), so a million users do not
    /// pass through the doublings of a growing vector.
    pub fn reserve(&mut self, users: usize) {
        self.entries
            .reserve(users.saturating_sub(self.entries.len()));
    }

    pub fn expect(&mut self, upstream_id: &str, fingerprint: Fingerprint) {
        self.push(upstream_id, Some(fingerprint));
    }

    pub fn link(&mut self, upstream_id: &str) {
        self.push(upstream_id, None);
    }

    fn push(&mut self, upstream_id: &str, expected: Option<Fingerprint>) {
        let entry = Entry {
            expected,
            listed: false,
        };
        self.entries.push((upstream_id.into(), entry));
    }

    /// Ends the store pass: sorted for lookups. Upstream ids are unique per tenant in
    /// the store; should a user still come twice, the first entry stands.
    pub fn seal(&mut self) {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.entries.dedup_by(|later, first| later.0 == first.0);
        self.entries.shrink_to_fit();
    }

    /// Records that the listing showed `upstream_id`.
    pub fn list(&mut self, upstream_id: &str) -> Listed {
        let Ok(at) = self
            .entries
            .binary_search_by(|(id, _)| (**id).cmp(upstream_id))
        else {
            return Listed::Unknown;
        };
        let entry = &mut self.entries[at].1;
        if std::mem::replace(&mut entry.listed, true) {
            return Listed::Again;
        }
        match entry.expected {
            Some(fingerprint) => Listed::Expected(fingerprint),
            None => Listed::Linked,
        }
    }

    /// The upstream ids stored users expect that the listing never showed.
    pub fn unlisted(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(_, e)| e.expected.is_some() && !e.listed)
            .map(|(id, _)| &**id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::drift::Expected;
    use crate::upstream::DesiredUser;

    fn fingerprint(name: &str) -> Fingerprint {
        Fingerprint::of_expected(&Expected {
            scim_id: "s".into(),
            upstream_id: None,
            username: name.into(),
            held: DesiredUser {
                first_name: name.into(),
                ..DesiredUser::default()
            },
            access: None,
        })
    }

    #[test]
    fn each_id_is_listed_once_and_the_unlisted_expected_ones_remain() {
        let mut index = StoredIndex::default();
        index.reserve(4);
        for id in ["c", "a", "d"] {
            index.expect(id, fingerprint(id));
        }
        index.link("b");
        index.expect("a", fingerprint("other"));
        index.seal();
        assert!(matches!(index.list("a"), Listed::Expected(f) if f == fingerprint("a")));
        assert!(matches!(index.list("a"), Listed::Again));
        assert!(matches!(index.list("b"), Listed::Linked));
        assert!(matches!(index.list("b"), Listed::Again));
        assert!(matches!(index.list("x"), Listed::Unknown));
        assert!(matches!(index.list("x"), Listed::Unknown));
        assert!(matches!(index.list("d"), Listed::Expected(_)));
        assert_eq!(index.unlisted().collect::<Vec<_>>(), vec!["c"]);
    }
}
