//! A NetSapiens tenant end to end: the real bridge (SCIM over HTTP, the store, the
//! worker) in front of the simulator's NetSapiens side, checked through `/_sim/state`.

mod common;

use bandwidth_sim::ns::{NsConfig, NsSimHandle, NsSimulator, NsUser, DOMAIN_KEY};
use common::{serve_bridge, user, TestDatabase, TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Bridge {
    base: String,
    sim: NsSimHandle,
    client: reqwest::Client,
    _db: TestDatabase,
}

impl Bridge {
    async fn start() -> Bridge {
        Bridge::start_with("").await
    }

    /// `target` is added to the tenant's `[target]` section.
    async fn start_with(target: &str) -> Bridge {
        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = NsSimulator::start(NsConfig::default(), sim_listener)
            .await
            .unwrap();
        let db = TestDatabase::from_env().await;
        let hash = hex::encode(scim_bridge::http::auth::sha256(TOKEN));
        let toml = format!(
            r#"
[database]
url = "{}"

[tenants.pbx]
tokens = [{{ id = "pbx-okta", sha256 = "{hash}" }}]
base_roles = []

[tenants.pbx.policy]
on_deactivate = "deactivate"
on_delete = "delete"

[[tenants.pbx.groups.map]]
display_name = "Call Center"
roles = ["Call Center Agent"]

[[tenants.pbx.groups.map]]
display_name = "PBX Admins"
roles = ["Office Manager"]

[tenants.pbx.target]
kind = "netsapiens"
base_url = "{}"
domain = "acme"
api_key = "{DOMAIN_KEY}"
extension_range = [2000, 2099]
rate_limit_per_second = 200
request_timeout_secs = 3
{target}
"#,
            db.url(),
            sim.base_url()
        );
        let (base, _app) = serve_bridge(&toml).await;
        Bridge {
            base,
            sim,
            client: reqwest::Client::new(),
            _db: db,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn upstream(&self) -> Vec<NsUser> {
        self.sim.snapshot().domains["acme"].users.clone()
    }

    async fn eventually(&self, what: &str, check: impl Fn(&[NsUser]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check(&self.upstream()) {
            assert!(
                Instant::now() < deadline,
                "never happened: {what}: {:?}",
                self.upstream()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

#[tokio::test]
async fn okta_style_lifecycle_ends_in_the_right_netsapiens_state() {
    let b = Bridge::start().await;
    let (status, created) = b
        .call(Method::POST, "/Users", Some(user("jane@acme.test")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let up = b.upstream();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].user, "2000");
    assert_eq!(up[0].login_username, "jane@acme.test");
    assert_eq!(up[0].email_address, "jane@acme.test");
    assert_eq!(up[0].user_scope, "Basic User");

    // Lookup as Okta does.
    let (status, found) = b
        .call(
            Method::GET,
            "/Users?filter=userName%20eq%20%22jane%40acme.test%22",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["totalResults"], 1, "{found}");

    // Update.
    let ops = patch(json!([{"op": "replace", "path": "name.familyName", "value": "Smith"}]));
    let (status, body) = b
        .call(Method::PATCH, &format!("/Users/{id}"), Some(ops))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(b.upstream()[0].name_last_name, "Smith");

    // Group push granting a scope.
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Call Center", "members": [{"value": id}]});
    let (status, body) = b.call(Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    b.eventually("scope from the group", |u| {
        u[0].user_scope == "Call Center Agent"
    })
    .await;

    // Deactivate keeps the extension with scope No Portal; reactivate restores a scope.
    let off = patch(json!([{"op": "replace", "value": {"active": false}}]));
    let (status, body) = b
        .call(Method::PATCH, &format!("/Users/{id}"), Some(off))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    b.eventually("No Portal", |u| u[0].user_scope == "No Portal")
        .await;
    let on = patch(json!([{"op": "replace", "value": {"active": true}}]));
    let (status, body) = b
        .call(Method::PATCH, &format!("/Users/{id}"), Some(on))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    b.eventually("scope back", |u| u[0].user_scope == "Call Center Agent")
        .await;
    assert_eq!(b.upstream()[0].user, "2000", "the extension never changes");

    // A second user gets the next extension; a taken login-username is a SCIM 409.
    let (status, _) = b
        .call(Method::POST, "/Users", Some(user("bob@acme.test")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(b.upstream()[1].user, "2001");
    b.sim.seed_user(NsUser {
        user: "100".into(),
        domain: "other".into(),
        name_first_name: "Carol".into(),
        name_last_name: "Elsewhere".into(),
        email_address: "carol@other.test".into(),
        login_username: "carol@acme.test".into(),
        ..NsUser::default()
    });
    let (status, body) = b
        .call(Method::POST, "/Users", Some(user("carol@acme.test")))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], "uniqueness", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("login-username"),
        "{body}"
    );
    assert_eq!(b.upstream().len(), 2);

    let (status, _) = b.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    b.eventually("deleted", |u| u.len() == 1 && u[0].user == "2001")
        .await;
}

#[tokio::test]
async fn extension_from_the_work_phone_department_site_and_every_work_email() {
    let b = Bridge::start_with(
        "extension_source = { kind = \"phone\", type = \"work\" }\nsite = \"HQ\"",
    )
    .await;
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut jane = user("jane@acme.test");
    jane["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", enterprise]);
    jane["phoneNumbers"] = json!([{"value": "+1 919 555 1234 x2042", "type": "work"}]);
    jane["emails"] = json!([{"value": "desk@acme.test", "type": "work"},
                            {"value": "jane@acme.test", "type": "work", "primary": true},
                            {"value": "home@example.test", "type": "home"}]);
    jane[enterprise] = json!({"department": "Sales"});
    let (status, created) = b.call(Method::POST, "/Users", Some(jane)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let up = b.upstream();
    assert_eq!(up.len(), 1);
    assert_eq!(
        up[0].user, "2042",
        "the extension comes from the work phone"
    );
    assert_eq!(up[0].email_address, "jane@acme.test;desk@acme.test");
    assert_eq!(
        (up[0].department.as_str(), up[0].site.as_str()),
        ("Sales", "HQ")
    );

    // A new source value is not sent (the extension never changes); the department is.
    let ops = patch(json!([
        {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 919 555 1234 x2043"},
        {"op": "replace", "path": format!("{enterprise}:department"), "value": "Ops"}
    ]));
    let (status, body) = b
        .call(Method::PATCH, &format!("/Users/{id}"), Some(ops))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let up = b.upstream();
    assert_eq!((up.len(), up[0].user.as_str()), (1, "2042"));
    assert_eq!(up[0].department, "Ops");

    // Without a usable suffix the extension is allocated from the range.
    let (status, body) = b
        .call(Method::POST, "/Users", Some(user("bob@acme.test")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(b.upstream()[0].user, "2000");

    // A taken source extension is a SCIM 409 naming it.
    let mut carol = user("carol@acme.test");
    carol["phoneNumbers"] = json!([{"value": "tel:+1-919-555-1234;ext=2042", "type": "work"}]);
    let (status, body) = b.call(Method::POST, "/Users", Some(carol)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], "uniqueness", "{body}");
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("2042"),
        "{body}"
    );
}
