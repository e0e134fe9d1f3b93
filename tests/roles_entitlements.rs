//! Okta Identity Governance's sequence ("Build a SCIM 2.0 server with entitlements"):
//! resource type discovery, the role and entitlement catalogs with paging, assignment by
//! POST, PATCH add/remove and PUT, and the import that shows every effective grant;
//! plus Entra's app-role PATCH. The simulator's state is checked after each step.
mod common;
mod support;

use bandwidth_sim::SimConfig;
use common::scim::{assert_error, assert_error_mentions, one_op, op_at};
use common::{assert_scim_error, urlencode, user, Harness, Options};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn get(h: &Harness, path: &str) -> Value {
    let (status, body) = h.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

fn values(user: &Value, attr: &str, inherited: bool) -> Vec<String> {
    let mut out: Vec<String> = user[attr]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter(|e| (e["type"] == "inherited") == inherited)
        .filter_map(|e| e["value"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

/// The roles `username` holds upstream; the user must exist there.
fn upstream_roles(h: &Harness, username: &str) -> Vec<String> {
    h.upstream(username)
        .unwrap_or_else(|| panic!("{username} is not upstream"))
        .roles
}

async fn harness() -> Harness {
    Harness::start(Options {
        sim: SimConfig {
            withheld_roles: vec!["Ordering".into()],
            ..SimConfig::default()
        },
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn discovery_and_catalogs_page_and_filter_like_any_resource() {
    let h = harness().await;
    let types = get(&h, "/ResourceTypes").await;
    let by_id = |id: &str| {
        types["Resources"]
            .as_array()
            .and_then(|l| l.iter().find(|t| t["id"] == id).cloned())
            .unwrap_or_else(|| panic!("resource type {id} in {types}"))
    };
    assert_eq!(by_id("Role")["endpoint"], "/Roles");
    assert_eq!(
        by_id("Role")["schema"],
        "urn:okta:scim:schemas:core:1.0:Role"
    );
    assert_eq!(by_id("Entitlement")["endpoint"], "/Entitlements");
    assert_eq!(
        by_id("Entitlement")["schema"],
        "urn:okta:scim:schemas:core:1.0:Entitlement"
    );
    get(&h, "/Schemas/urn:okta:scim:schemas:core:1.0:Role").await;

    // Every role of the account, in pages of five as an IdP pages them.
    let all = get(&h, "/Roles").await;
    let total = all["totalResults"].as_u64().unwrap_or_default();
    assert!(total >= 10, "{all}");
    let mut paged = Vec::new();
    let mut start = 1;
    while start <= total {
        let page = get(&h, &format!("/Roles?startIndex={start}&count=5")).await;
        assert_eq!(page["totalResults"], total);
        assert_eq!(page["startIndex"], start);
        paged.extend(ids(&page));
        start += 5;
    }
    assert_eq!(paged, ids(&all), "pages add up to the whole list, in order");
    assert!(paged.contains(&"Porting".to_string()) && paged.contains(&"basicAccess".to_string()));

    let porting = get(&h, "/Roles/Porting").await;
    assert_eq!(porting["displayName"], "Porting");
    assert_eq!(porting["value"], "Porting");
    assert_eq!(
        porting["schemas"],
        json!(["urn:okta:scim:schemas:core:1.0:Role"])
    );
    let spaced = get(&h, "/Roles/User%20Administrator").await;
    assert_eq!(spaced["id"], "User Administrator");
    let filtered = get(
        &h,
        &format!("/Roles?filter={}", urlencode("displayName eq \"porting\"")),
    )
    .await;
    assert_eq!(ids(&filtered), vec!["Porting"]);
    let projected = get(&h, "/Roles?count=1&attributes=displayName").await;
    assert!(
        projected["Resources"][0].get("description").is_none(),
        "{projected}"
    );

    let (status, body) = h.get("/Roles/Nope").await;
    assert_error(status, &body, 404, None);
    let (status, body) = h
        .get(&format!("/Roles?filter={}", urlencode("displayName zz 1")))
        .await;
    assert_error(status, &body, 400, Some("invalidFilter"));

    let ents = get(&h, "/Entitlements").await;
    assert_eq!(
        ids(&ents),
        vec!["scope:ACCOUNT_ADMIN", "account:9900000", "account:9900001"]
    );
    let admin = get(&h, "/Entitlements/scope:ACCOUNT_ADMIN").await;
    assert_eq!(admin["type"], "Admin scope");
}

#[tokio::test]
async fn okta_assigns_by_post_patch_and_put_and_imports_effective_access() {
    let h = harness().await;
    let mut body = user("grant@example.com");
    body["roles"] = json!([{"value": "Porting", "display": "Porting"}]);
    let (status, created) = h.create(body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        upstream_roles(&h, "grant@example.com"),
        ["Porting", "basicAccess"]
    );
    assert_eq!(values(&created, "roles", false), ["Porting"]);
    assert_eq!(values(&created, "roles", true), ["basicAccess"]);

    // PATCH add, as Okta sends it.
    let (status, patched) = h
        .patch(
            &id,
            one_op(
                "add",
                "roles",
                json!([{"value":"Reporting","display":"Reporting"}]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        upstream_roles(&h, "grant@example.com"),
        ["Porting", "Reporting", "basicAccess"],
        "written at the request, not later"
    );
    // PATCH remove by value filter.
    let (status, patched) = h
        .patch(&id, op_at("remove", "roles[value eq \"Porting\"]"))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        upstream_roles(&h, "grant@example.com"),
        ["Reporting", "basicAccess"]
    );

    // Okta's PUT of the whole user as it read it (inherited elements included) plus the
    // admin entitlement: the inherited role does not become a direct one.
    let mut whole = get(&h, &format!("/Users/{id}")).await;
    whole["entitlements"] = json!([{"value": "scope:ACCOUNT_ADMIN", "display": "Account Admin"}]);
    let (status, _, put) = h
        .call(Method::PUT, &format!("/Users/{id}"), Some(whole))
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    let up = h.upstream("grant@example.com").expect("upstream user");
    assert_eq!(up.account_scope, "ACCOUNT_ADMIN");
    assert_eq!(values(&put, "roles", false), ["Reporting"]);
    assert_eq!(values(&put, "roles", true), ["basicAccess"]);
    let stored = h
        .store
        .get_user("acme", &id)
        .await
        .ok()
        .flatten()
        .expect("stored");
    assert_eq!(
        stored.resource["roles"],
        json!([{"value": "Reporting", "display": "Reporting"}]),
        "inherited elements are never stored"
    );

    // A group grants a role too; the import shows it as inherited.
    let (status, group) = h
        .post("/Groups", support::group("bandwidth-role-Porting", &[&id]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    h.eventually("the group's role upstream", |s| {
        Harness::roles_of(s, "grant@example.com").contains(&"Porting".to_string())
    })
    .await;
    let import = get(&h, "/Users?startIndex=1&count=100").await;
    let me = import["Resources"]
        .as_array()
        .and_then(|l| l.iter().find(|u| u["id"] == id.as_str()).cloned())
        .expect("user in the import");
    assert_eq!(values(&me, "roles", false), ["Reporting"]);
    assert_eq!(values(&me, "roles", true), ["Porting", "basicAccess"]);
    assert_eq!(values(&me, "entitlements", false), ["scope:ACCOUNT_ADMIN"]);
    // Filterable like any attribute.
    let found = get(
        &h,
        &format!(
            "/Users?filter={}",
            urlencode("roles.value eq \"Reporting\"")
        ),
    )
    .await;
    assert_eq!(found["totalResults"], 1, "{found}");
}

#[tokio::test]
async fn assignments_the_upstream_cannot_grant_are_refused_at_the_request() {
    let h = harness().await;
    let mut body = user("refused@example.com");
    body["roles"] = json!([{"value": "Nuclear Launch"}]);
    let (status, answer) = h.create(body).await;
    assert_error_mentions(status, &answer, 400, Some("invalidValue"), "Nuclear Launch");
    assert!(
        h.upstream("refused@example.com").is_none(),
        "nothing created upstream"
    );

    let id = h.create_ok(user("kept@example.com")).await;
    for (ops, named) in [
        (
            json!([{"op":"add","path":"entitlements","value":[{"value":"account:123"}]}]),
            "account:123",
        ),
        // The account has the role, but the bridge's credential may not grant it.
        (
            json!([{"op":"add","path":"roles","value":[{"value":"Ordering"}]}]),
            "Ordering",
        ),
    ] {
        let (status, answer) = h.patch(&id, ops.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{ops}: {answer}");
        assert_scim_error(&answer, 400, Some("invalidValue"));
        assert!(
            answer["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(named),
            "{answer}"
        );
    }
    let kept = get(&h, &format!("/Users/{id}")).await;
    assert!(
        values(&kept, "roles", false).is_empty(),
        "nothing stored: {kept}"
    );
    assert!(values(&kept, "entitlements", false).is_empty(), "{kept}");
    assert_eq!(values(&kept, "entitlements", true), ["account:9900000"]);
    assert_eq!(upstream_roles(&h, "kept@example.com"), ["basicAccess"]);
}

#[tokio::test]
async fn entra_app_roles_arrive_in_its_patch_dialect() {
    let h = harness().await;
    let id = h.create_ok(user("entra@example.com")).await;
    let (status, answer) = h
        .patch(
            &id,
            json!([{"op":"Add","path":"roles","value":[
                {"primary":"False","type":"WindowsAzureActiveDirectoryRole","display":"Porting","value":"porting"}
            ]}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        values(&answer, "roles", false),
        ["Porting"],
        "the catalog's spelling"
    );
    assert_eq!(
        upstream_roles(&h, "entra@example.com"),
        ["Porting", "basicAccess"]
    );
    let (status, answer) = h
        .patch(&id, one_op("Remove", "roles", json!([{"value":"Porting"}])))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(upstream_roles(&h, "entra@example.com"), ["basicAccess"]);
}

#[tokio::test]
async fn an_unavailable_upstream_makes_the_catalog_503_not_an_empty_list() {
    let h = harness().await;
    h.sim.set_faults(bandwidth_sim::Faults {
        fail_rate: 1.0,
        ..bandwidth_sim::Faults::default()
    });
    let (status, headers, body) = h.call(Method::GET, "/Roles", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_scim_error(&body, 503, None);
    // A create naming a role cannot be checked either: refused, nothing created.
    let mut body = user("later@example.com");
    body["roles"] = json!([{"value": "Porting"}]);
    let (status, answer) = h.create(body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(h.upstream("later@example.com").is_none());
}
