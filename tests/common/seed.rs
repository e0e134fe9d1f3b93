//! Users an admin made by hand in the Bandwidth simulator. A file of its own so the
//! adapter tests, which do not start a harness, include it alone (`#[path]`).

use bandwidth_sim::SeedUser;

/// `username` with this name and email and the base role `basicAccess`.
pub fn seeded(username: &str, (first, last): (&str, &str), email: &str) -> SeedUser {
    SeedUser {
        username: username.into(),
        first_name: first.into(),
        last_name: last.into(),
        email: email.into(),
        roles: vec!["basicAccess".into()],
        ..SeedUser::default()
    }
}
