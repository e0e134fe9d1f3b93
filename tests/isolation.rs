//! Two tenants on one bridge, over real HTTP: neither can see or change the other's
//! users and groups by id, list, filter or .search, and each tenant's upstream calls go
//! to its own Bandwidth account with its own credentials.
mod common;

use common::scim::{group_body as group, one_op, patch_body};
use common::{urlencode, user, Harness, ACCOUNT_B, TOKEN, TOKEN_B};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The bridge as one tenant (by its token) sees it.
struct Tenant<'a> {
    h: &'a Harness,
    token: &'static str,
}

impl Tenant<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, _, body) = self
            .h
            .call_with(method, path, body, Some(self.token), &[])
            .await;
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    /// POSTs a resource that must be created; returns its id.
    async fn create(&self, path: &str, body: Value) -> String {
        let (status, created) = self.post(path, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().unwrap().to_string()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_tenant_cannot_reach_another_tenants_users_groups_or_upstream() {
    let h = Harness::with(|o| o.second_tenant = true).await;
    let sim_b = h.sim_b.as_ref().unwrap();
    let a = Tenant {
        h: &h,
        token: TOKEN,
    };
    let b = Tenant {
        h: &h,
        token: TOKEN_B,
    };

    let alice = a.create("/Users", user("alice@example.com")).await;
    let a_group = a.create("/Groups", group("A Team", &[&alice])).await;
    let bob = b.create("/Users", user("bob@globex.com")).await;
    let b_group = b.create("/Groups", group("B Team", &[&bob])).await;

    // By id: every verb on the other tenant's resources is 404, in both directions.
    let rename = patch_body(one_op("replace", "displayName", json!("stolen")));
    let deactivate = patch_body(json!([{"op":"replace","value":{"active":false}}]));
    for (tenant, user_id, group_id) in [(&b, &alice, &a_group), (&a, &bob, &b_group)] {
        let u = format!("/Users/{user_id}");
        let g = format!("/Groups/{group_id}");
        for (method, path, body) in [
            (Method::GET, &u, None),
            (Method::PUT, &u, Some(user("taken@example.com"))),
            (Method::PATCH, &u, Some(deactivate.clone())),
            (Method::DELETE, &u, None),
            (Method::GET, &g, None),
            (Method::PUT, &g, Some(group("stolen", &[] as &[&str]))),
            (Method::PATCH, &g, Some(rename.clone())),
            (Method::DELETE, &g, None),
        ] {
            let (status, body) = tenant.send(method.clone(), path, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
            common::assert_scim_error(&body, 404, None);
        }
    }

    // Lists, filters and searches see only the caller's own resources.
    let by_name = format!(
        "/Users?filter={}",
        urlencode("userName eq \"alice@example.com\"")
    );
    let by_id = format!("/Users?filter={}", urlencode(&format!("id eq \"{alice}\"")));
    let group_by_name = format!("/Groups?filter={}", urlencode("displayName eq \"A Team\""));
    let search = |filter: &str| json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter": filter});
    let (_, list) = b.get("/Users").await;
    assert_eq!(ids(&list), vec![bob.clone()], "{list}");
    let (_, list) = b.get("/Groups").await;
    assert_eq!(ids(&list), vec![b_group.clone()], "{list}");
    for path in [&by_name, &by_id, &group_by_name] {
        let (status, list) = b.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {list}");
        assert_eq!(list["totalResults"], 0, "{path}: {list}");
    }
    for (path, filter) in [
        ("/Users/.search", "userName sw \"alice\""),
        ("/Groups/.search", "displayName sw \"A\""),
    ] {
        let (_, found) = b.post(path, search(filter)).await;
        assert_eq!(found["totalResults"], 0, "{path}: {found}");
    }
    let (_, everything) = b
        .post(
            "/.search",
            json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        )
        .await;
    let mut seen = ids(&everything);
    seen.sort();
    let mut own = vec![bob.clone(), b_group.clone()];
    own.sort();
    assert_eq!(seen, own, "{everything}");
    let by_member = urlencode(&format!("members.value eq \"{bob}\""));
    let (_, members) = a.get(&format!("/Groups?filter={by_member}")).await;
    assert_eq!(members["totalResults"], 0, "{members}");

    // Another tenant's user cannot be put into one's own group.
    let add = patch_body(one_op("add", "members", json!([{"value": alice}])));
    let b_team_path = format!("/Groups/{b_group}");
    let (status, body) = b.send(Method::PATCH, &b_team_path, Some(add)).await;
    assert!(status.is_client_error(), "{status}: {body}");
    let (_, b_team) = b.get(&b_team_path).await;
    let members: Vec<&str> = b_team["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members, vec![bob.as_str()], "{b_team}");

    // A username taken in one tenant is free in the other: no 409 tells B that A has it.
    let (status, body) = b.post("/Users", user("alice@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["id"].as_str(), Some(alice.as_str()));

    // Nothing B tried changed A's resources.
    let (status, a_alice) = a.get(&format!("/Users/{alice}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a_alice["active"], true, "{a_alice}");
    let (_, a_team) = a.get(&format!("/Groups/{a_group}")).await;
    assert_eq!(a_team["displayName"], "A Team", "{a_team}");

    // Upstream: each tenant's users live in its own simulator, under its own account.
    let a_state = h.state();
    let b_state = sim_b.snapshot();
    let names = |s: &bandwidth_sim::SimSnapshot| {
        let mut n: Vec<String> = s.users.iter().map(|u| u.username.to_lowercase()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&a_state), vec!["alice@example.com"]);
    assert_eq!(names(&b_state), vec!["alice@example.com", "bob@globex.com"]);
    assert!(
        a_state
            .users
            .iter()
            .all(|u| u.accounts == vec!["9900000"] && u.status == "ACTIVE"),
        "{a_state:?}"
    );
    assert!(
        b_state.users.iter().all(|u| u.accounts == vec![ACCOUNT_B]),
        "{b_state:?}"
    );

    // And each tenant's audit holds only its own resources.
    let b_audit = h.store.list_audit("globex", 100).await.unwrap();
    assert!(!b_audit.is_empty());
    assert!(
        b_audit.iter().all(|e| e.resource_id != alice
            && e.resource_id != a_group
            && (e.actor == "globex-okta" || e.actor == "worker")),
        "{b_audit:?}"
    );
    let a_audit = h.audit().await;
    assert!(
        a_audit
            .iter()
            .all(|e| e.resource_id != bob && e.resource_id != b_group),
        "{a_audit:?}"
    );
}
