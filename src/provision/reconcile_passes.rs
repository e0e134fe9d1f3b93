//! The passes of a reconcile ([`Provisioner::reconcile`]): the store reduced to an
//! index, the upstream listing compared against it page by page, and the detail pass
//! that compares in full the few users that differ.
use std::collections::{HashMap, HashSet};

use super::drift::{self, Expected, Finding, Rules};
use super::fingerprint::Fingerprint;
use super::reconcile::{Progress, STORED_PAGE};
use super::reconcile_index::{Listed, StoredIndex};
use super::{Provisioner, Result, Tenant};
use crate::store::ListQuery;
use crate::upstream::UpstreamUser;

/// What the store pass found.
#[derive(Default)]
pub(super) struct StoredPass {
    pub index: StoredIndex,
    pub stored: usize,
    pub errors: Vec<String>,
    /// Active users that have no upstream user at all.
    pub findings: Vec<Finding>,
}

/// What the listing pass found.
#[derive(Default)]
pub(super) struct ListingPass {
    /// Distinct upstream users listed.
    pub count: usize,
    /// Listed users that differ from what their stored user expects, by id.
    pub drifted: HashMap<String, UpstreamUser>,
    /// Listed users no stored user links to.
    pub orphans: Vec<UpstreamUser>,
}

/// What one stored user should look like upstream ([`drift::expected_user`]).
type Expectation = std::result::Result<Option<Expected>, String>;

/// One page of stored users: each user's link (upstream id) and what it should look
/// like upstream, and how many users the store has.
struct StoredPage {
    users: Vec<(Option<String>, Expectation)>,
    total: usize,
}

/// The stored users, a page at a time, with their expected state.
#[derive(Default)]
struct StoredPages {
    /// Users read so far (the next page starts after them).
    read: u64,
    /// A short page ended the listing.
    done: bool,
}

impl StoredPages {
    async fn next(
        &mut self,
        provisioner: &Provisioner,
        tenant: &Tenant,
        rules: &Rules<'_>,
    ) -> Result<Option<StoredPage>> {
        if self.done {
            return Ok(None);
        }
        let query = ListQuery::page(None, self.read + 1, STORED_PAGE);
        let page = provisioner.store.list_users(&tenant.name, &query).await?;
        let got = page.items.len() as u64;
        self.read += got;
        self.done = got < STORED_PAGE;
        // The page's memberships in one query, not one per user.
        let ids: Vec<String> = page.items.iter().map(|u| u.id.clone()).collect();
        let groups = provisioner.store.users_groups(&tenant.name, &ids).await?;
        let policy = tenant.access_policy();
        let users = page
            .items
            .into_iter()
            .map(|user| {
                let user_groups = groups.get(&user.id).map(Vec::as_slice).unwrap_or_default();
                let access = super::with_prior(
                    policy.compute(user_groups, &user.resource),
                    &user.link.prior,
                );
                let expected = drift::expected_user(&user, &access, rules.clone());
                (user.link.upstream_id, expected)
            })
            .collect();
        Ok(Some(StoredPage {
            users,
            total: page.total as usize,
        }))
    }
}

impl Provisioner {
    /// The store pass: every stored user into the index, with what it should look like
    /// upstream; the users that cannot be computed as errors, and the active users that
    /// have no upstream user at all as findings.
    pub(super) async fn index_stored(
        &self,
        tenant: &Tenant,
        rules: &Rules<'_>,
        progress: &dyn Progress,
    ) -> Result<StoredPass> {
        let mut pass = StoredPass::default();
        let mut pages = StoredPages::default();
        while let Some(page) = pages.next(self, tenant, rules).await? {
            pass.index.reserve(page.total);
            for (linked, expected) in page.users {
                pass.stored += 1;
                match (expected, linked) {
                    (Ok(Some(want)), _) => match &want.upstream_id {
                        Some(id) => pass.index.expect(id, Fingerprint::of_expected(&want)),
                        None => pass.findings.push(drift::missing(&want)),
                    },
                    (Ok(None), linked) => linked.iter().for_each(|id| pass.index.link(id)),
                    (Err(e), linked) => {
                        linked.iter().for_each(|id| pass.index.link(id));
                        pass.errors.push(e);
                    }
                }
                progress.compared(pass.stored, page.total);
            }
        }
        pass.index.seal();
        Ok(pass)
    }

    /// The listing pass: each page against the index as it arrives.
    pub(super) async fn list_upstream(
        &self,
        tenant: &Tenant,
        index: &mut StoredIndex,
        progress: &dyn Progress,
    ) -> Result<ListingPass> {
        let mut pass = ListingPass::default();
        let mut orphan_ids = HashSet::new();
        let mut page = Some(0);
        while let Some(number) = page {
            let listed = tenant.target.list_users(number).await?;
            // A user created or deleted during the listing shifts the pages; a user seen
            // twice is counted once.
            let before = pass.count;
            let full = !listed.users.is_empty();
            for user in listed.users {
                match index.list(&user.id) {
                    Listed::Expected(fingerprint) => {
                        pass.count += 1;
                        if !fingerprint.matches(&user) {
                            pass.drifted.insert(user.id.clone(), user);
                        }
                    }
                    Listed::Linked => pass.count += 1,
                    Listed::Again => {}
                    Listed::Unknown => {
                        if orphan_ids.insert(user.id.clone()) {
                            pass.count += 1;
                            pass.orphans.push(user);
                        }
                    }
                }
            }
            progress.listed(pass.count);
            page = listed.next;
            if full && pass.count == before {
                // An upstream that ignores the page number would otherwise be listed
                // forever (the XML dialect only guesses "more" from a full page).
                tracing::warn!(tenant = %tenant.name, page = number, "a page brought no new users; listing stopped");
                break;
            }
        }
        Ok(pass)
    }

    /// The detail pass: the stored users whose upstream user differs (`drifted`, by
    /// upstream id) or was not listed (`missing`), compared in full. Skipped when there
    /// are none; ends once all are found (each at most once, should a page repeat one).
    pub(super) async fn detail(
        &self,
        tenant: &Tenant,
        rules: &Rules<'_>,
        mut drifted: HashMap<String, UpstreamUser>,
        mut missing: HashSet<String>,
        findings: &mut Vec<Finding>,
    ) -> Result<()> {
        let mut pages = StoredPages::default();
        while !(drifted.is_empty() && missing.is_empty()) {
            let Some(page) = pages.next(self, tenant, rules).await? else {
                break;
            };
            for (_, expected) in page.users {
                let Ok(Some(want)) = expected else { continue };
                let Some(id) = want.upstream_id.as_deref() else {
                    continue;
                };
                if let Some(have) = drifted.remove(id) {
                    findings.extend(drift::differences(&want, &have));
                } else if missing.remove(id) {
                    findings.push(drift::missing(&want));
                }
            }
        }
        Ok(())
    }
}
