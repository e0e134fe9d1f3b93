use super::*;

#[test]
fn the_example_configuration_parses() {
    let config =
        Config::from_toml_str(include_str!("../../config/scim-bridge.example.toml")).unwrap();
    let acme = &config.tenants["acme"];
    assert_eq!(acme.policy.on_deactivate, DeactivatePolicy::Deactivate);
    assert_eq!(acme.base_roles, vec!["basicAccess"]);
    let Some(TargetSettings::Bandwidth(bw)) = acme.target() else {
        panic!("the example's tenant is a Bandwidth tenant")
    };
    assert!(matches!(
        bw.login.client_secret,
        Some(SecretRef::Env { .. })
    ));
    assert!(config.legacy_advice().is_empty());
    assert_eq!(acme.limits.max_members_per_request, 1000);
    let guard = acme.deprovision_guard.as_ref().unwrap();
    assert_eq!((guard.max, guard.window_secs), (50, 3600));
    assert_eq!(config.server.request_timeout_secs, 20);
}

#[test]
fn the_examples_commented_credentials_parse_when_uncommented() {
    let example = include_str!("../../config/scim-bridge.example.toml");
    let start = example.find("# [[tenants.acme.basic]]").unwrap();
    let end = example.find("[tenants.acme.policy]").unwrap();
    let uncommented: String = example[start..end]
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            // Commented settings, not the prose around them.
            Some(setting)
                if setting.starts_with('[')
                    || setting.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
            {
                setting
            }
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!("{}{uncommented}\n{}", &example[..start], &example[end..]);
    let config = Config::from_toml_str(&text).unwrap();
    let acme = &config.tenants["acme"];
    assert_eq!(acme.basic[0].id, "okta-basic-2026");
    let jwt = acme.jwt.as_ref().unwrap();
    assert!(jwt.jwks_url.is_some() && jwt.public_key_pem_file.is_none());
    assert_eq!(jwt.jwks_min_refetch_secs, 30);
}

const MINIMAL: &str = r#"
    [tenants.t]
    [tenants.t.target]
    kind = "bandwidth"
    base_url = "http://x"
    account_id = "1"
    client_id = "c"
    client_secret = "s"
"#;

#[test]
fn defaults_are_the_documented_ones() {
    let config = Config::from_toml_str(MINIMAL).unwrap();
    let t = &config.tenants["t"];
    // v1: Bandwidth App users can be deactivated, not deleted (issue 15).
    assert_eq!(t.policy.on_delete, DeletePolicy::Deactivate);
    assert_eq!(
        t.policy.on_username_change,
        UsernameChangePolicy::KeepUpstream
    );
    assert!(!t.policy.adopt_existing);
    let Some(TargetSettings::Bandwidth(bw)) = t.target() else {
        panic!("kind = bandwidth")
    };
    assert_eq!(bw.dialect, crate::upstream::bandwidth::Dialect::V1);
    assert_eq!(config.server.max_page_size, 1000);
    assert!(config.database.migrate_on_start);
    assert_eq!(config.database.acquire_timeout_secs, 10);
}

#[test]
fn tls_takes_certificate_and_key_paths() {
    let text = format!("[server.tls]\ncert_path = \"/c.pem\"\nkey_path = \"/k.pem\"\n{MINIMAL}");
    let tls = Config::from_toml_str(&text).unwrap().server.tls.unwrap();
    assert_eq!(tls.cert_path, std::path::Path::new("/c.pem"));
    assert_eq!(tls.reload_poll_secs, 5);
    assert!(
        Config::from_toml_str(&format!("[server.tls]\ncert_path = \"/c\"\n{MINIMAL}")).is_err()
    );
}

#[test]
fn typos_and_bad_values_are_errors() {
    let typo = MINIMAL.replace("account_id", "acount_id");
    assert!(Config::from_toml_str(&typo).is_err());
    let bad_policy = format!("{MINIMAL}\n[tenants.t.policy]\non_deactivate = \"nuke\"\n");
    assert!(Config::from_toml_str(&bad_policy).is_err());
    let bad_hash = format!("{MINIMAL}\n").replace(
        "[tenants.t]",
        "[tenants.t]\ntokens = [{ id = \"a\", sha256 = \"xyz\" }]",
    );
    assert!(Config::from_toml_str(&bad_hash)
        .unwrap_err()
        .to_string()
        .contains("64 hex"));
    let no_secret = MINIMAL.replace("client_secret = \"s\"", "");
    assert!(Config::from_toml_str(&no_secret)
        .unwrap_err()
        .to_string()
        .contains("client_secret"));
}

#[test]
fn a_token_belongs_to_one_tenant() {
    let hash = "a".repeat(64);
    let text = format!(
        "{MINIMAL}\n[tenants.u]\ntokens = [{{ id = \"b\", sha256 = \"{hash}\" }}]\n[tenants.u.bandwidth]\nbase_url = \"http://x\"\naccount_id = \"1\"\nclient_id = \"c\"\nclient_secret = \"s\"\n"
    )
    .replace("[tenants.t]", &format!("[tenants.t]\ntokens = [{{ id = \"a\", sha256 = \"{hash}\" }}]"));
    assert!(Config::from_toml_str(&text)
        .unwrap_err()
        .to_string()
        .contains("one tenant"));
}

fn with_auth(auth: &str) -> String {
    MINIMAL.replace("[tenants.t]", &format!("[tenants.t]\n{auth}"))
}

const PHC: &str = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$Dwm7uF1rO6T3Tq6rvPTvY7e5aQmXr5q0x7sVmQ0wQ1E";

#[test]
fn basic_and_jwt_credentials_parse_with_their_defaults() {
    let text = format!(
        "{}\n[[tenants.t.basic]]\nid = \"b\"\nusername = \"okta\"\npassword_hash = '{PHC}'\n[tenants.t.jwt]\nissuer = \"https://sts.windows.net/x/\"\naudiences = [\"app\"]\njwks_url = \"https://login.example/keys\"\n",
        MINIMAL
    );
    let config = Config::from_toml_str(&text).unwrap();
    let t = &config.tenants["t"];
    assert_eq!(t.basic[0].username, "okta");
    let jwt = t.jwt.as_ref().unwrap();
    assert_eq!(jwt.algorithms, vec!["RS256"]);
    assert_eq!(jwt.leeway_secs, 60);
    assert_eq!(jwt.id, "jwt");
}

#[test]
fn unsafe_or_ambiguous_credentials_are_refused() {
    let jwt = |extra: &str| {
        format!("{MINIMAL}\n[tenants.t.jwt]\nissuer = \"i\"\naudiences = [\"a\"]\n{extra}\n")
    };
    let error = |text: &str| Config::from_toml_str(text).unwrap_err().to_string();
    assert!(error(&jwt("")).contains("exactly one of"));
    assert!(error(&jwt("jwks_url = \"u\"\npublic_key_pem = \"p\"")).contains("exactly one of"));
    assert!(error(&jwt("jwks_url = \"u\"\nalgorithms = [\"HS256\"]")).contains("symmetric"));
    assert!(error(&jwt("jwks_url = \"u\"\nalgorithms = [\"none\"]")).contains("unknown algorithm"));
    let bad_hash = format!(
        "{MINIMAL}\n[[tenants.t.basic]]\nid = \"b\"\nusername = \"u\"\npassword_hash = \"plain\"\n"
    );
    assert!(error(&bad_hash).contains("PHC"));

    let second = |auth: &str| {
        format!("\n[tenants.u]\n[tenants.u.bandwidth]\nbase_url = \"http://x\"\naccount_id = \"2\"\nclient_id = \"c\"\nclient_secret = \"s\"\n{auth}")
    };
    let basic = |tenant: &str| {
        format!("\n[[tenants.{tenant}.basic]]\nid = \"b\"\nusername = \"shared\"\npassword_hash = '{PHC}'\n")
    };
    let shared_user = format!("{}{}{}", with_auth(""), second(&basic("u")), basic("t"));
    assert!(error(&shared_user).contains("another tenant"));
    let issuer = |tenant: &str| {
        format!("\n[tenants.{tenant}.jwt]\nissuer = \"i\"\naudiences = [\"a\"]\njwks_url = \"u\"\n")
    };
    let shared_audience = format!("{MINIMAL}{}{}", issuer("t"), second(&issuer("u")));
    assert!(error(&shared_audience).contains("also tenant"));
}

#[test]
fn a_legacy_bandwidth_section_is_read_as_a_bandwidth_target() {
    let legacy = MINIMAL
        .replace("[tenants.t.target]", "[tenants.t.bandwidth]")
        .replace("kind = \"bandwidth\"", "");
    assert!(legacy.contains("[tenants.t.bandwidth]") && !legacy.contains("kind"));
    let config = Config::from_toml_str(&legacy).unwrap();
    assert!(matches!(
        config.tenants["t"].target(),
        Some(TargetSettings::Bandwidth(bw)) if bw.account_id == "1"
    ));
    let advice = config.legacy_advice();
    assert_eq!(advice.len(), 1);
    assert!(advice[0].contains("[tenants.t.target]") && advice[0].contains("kind = \"bandwidth\""));
}

#[test]
fn a_tenant_has_exactly_one_known_target() {
    let error = |text: &str| Config::from_toml_str(text).unwrap_err().to_string();
    let both =
        format!("{MINIMAL}\n[tenants.t.bandwidth]\nbase_url = \"http://x\"\naccount_id = \"1\"\n");
    assert!(
        error(&both).contains("keep only target"),
        "{}",
        error(&both)
    );
    assert!(error("[tenants.t]\ntokens = []\n").contains("target] is missing"));
    let unknown = MINIMAL.replace("kind = \"bandwidth\"", "kind = \"vonage\"");
    assert!(error(&unknown).contains("vonage"), "{}", error(&unknown));
}

#[test]
fn the_examples_netsapiens_tenant_parses_and_checks_its_credential() {
    let example = include_str!("../../config/scim-bridge.example.toml");
    let config = Config::from_toml_str(example).unwrap();
    let Some(TargetSettings::Netsapiens(ns)) = config.tenants["pbx"].target() else {
        panic!("the example's pbx tenant is a NetSapiens tenant")
    };
    assert_eq!(ns.domain, "acme");
    assert_eq!(ns.extension_range, [2000, 2999]);
    assert!(matches!(ns.api_key, Some(SecretRef::Env { .. })));
    assert_eq!(
        config.tenants["pbx"].target().map(|t| t.kind()),
        Some("netsapiens")
    );

    let error = |text: String| Config::from_toml_str(&text).unwrap_err().to_string();
    let both = example.replace(
        "api_key = { env = \"PBX_NS_API_KEY\" }",
        "api_key = \"k\"\nclient_id = \"c\"",
    );
    assert!(error(both).contains("not both"));
    let none = example.replace("api_key = { env = \"PBX_NS_API_KEY\" }", "");
    assert!(error(none).contains("needs api_key"));
    let half = example.replace(
        "api_key = { env = \"PBX_NS_API_KEY\" }",
        "client_id = \"c\"",
    );
    assert!(error(half).contains("password grant needs"));
    let range = example.replace(
        "extension_range = [2000, 2999]",
        "extension_range = [3000, 2000]",
    );
    assert!(error(range).contains("extension_range"));
}

#[test]
fn on_delete_defaults_by_target_and_check_config_warns_about_delete_on_v1() {
    let config = Config::from_toml_str(MINIMAL).unwrap();
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    // MINIMAL's tenant on the dashboard dialect, which signs in with a username and password.
    let dashboard = MINIMAL
        .replace(
            "kind = \"bandwidth\"",
            "kind = \"bandwidth\"\ndialect = \"dashboard\"",
        )
        .replace("client_id = \"c\"", "username = \"u\"")
        .replace("client_secret = \"s\"", "password = \"p\"");
    let config = Config::from_toml_str(&dashboard).unwrap();
    assert_eq!(config.tenants["t"].policy.on_delete, DeletePolicy::Delete);
    assert!(config.warnings().is_empty());
    let config = Config::from_toml_str(&format!(
        "{MINIMAL}\n[tenants.t.policy]\non_delete = \"delete\"\n"
    ))
    .unwrap();
    assert_eq!(config.tenants["t"].policy.on_delete, DeletePolicy::Delete);
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("tenant t") && warnings[0].contains("Bandwidth App"),
        "{warnings:?}"
    );
    let config = Config::from_toml_str(&format!(
        "{dashboard}\n[tenants.t.policy]\non_delete = \"deactivate\"\n"
    ))
    .unwrap();
    assert_eq!(
        config.tenants["t"].policy.on_delete,
        DeletePolicy::Deactivate
    );
}

#[test]
fn input_rules_and_connection_limits_have_defaults_and_bounds() {
    let config = Config::from_toml_str(MINIMAL).unwrap();
    let rules = config.tenants["t"].input_rules();
    assert_eq!(rules, crate::scim::validate::InputRules::default());
    let limits = config.connection_limits();
    assert_eq!(
        limits.header_read_timeout,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(limits.idle_timeout, std::time::Duration::from_secs(60));
    assert_eq!(limits.max_connections, 4096);
    let config = Config::from_toml_str(&format!(
        "[server]\nidle_timeout_secs = 5\n{MINIMAL}\n[tenants.t.limits]\nmax_value_bytes = 512\nmax_values_per_attribute = 5\n"
    ))
    .unwrap();
    let rules = config.tenants["t"].input_rules();
    assert_eq!((rules.max_value_bytes, rules.max_values), (512, 5));
    assert!(
        config.connection_limits().idle_timeout > std::time::Duration::from_secs(20),
        "never below the request deadline"
    );
    let text = MINIMAL.replace(
        "[tenants.t]\n",
        "[tenants.t]\nextensions = [\"urn:example:custom\"]\n",
    );
    let config = Config::from_toml_str(&text).unwrap();
    assert_eq!(
        config.tenants["t"].input_rules().extensions,
        vec!["urn:example:custom"]
    );
    for bad in [
        "not-a-urn",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ] {
        let text = MINIMAL.replace(
            "[tenants.t]\n",
            &format!("[tenants.t]\nextensions = [\"{bad}\"]\n"),
        );
        assert!(Config::from_toml_str(&text).is_err(), "{bad}");
    }
    for bad in [
        "max_value_bytes = 0",
        "max_value_bytes = 100000",
        "max_values_per_attribute = 0",
    ] {
        assert!(
            Config::from_toml_str(&format!("{MINIMAL}\n[tenants.t.limits]\n{bad}\n")).is_err(),
            "{bad}"
        );
    }
}
