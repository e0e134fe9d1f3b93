//! Table-driven filter tests (parse → AST, parse → error with position, evaluation against
//! Okta / Entra / OneLogin-shaped resources) and property tests (round trip, no panics).
use super::*;
use crate::scim::schema::{AttrKind, AttributeTypes};
use proptest::prelude::*;
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Stand-in for `schema.rs`'s real types: enough of User, Group and the enterprise
/// extension to exercise every kind.
struct TestTypes;

impl AttributeTypes for TestTypes {
    fn kind_of(&self, path: &AttrPath) -> Option<AttrKind> {
        use AttrKind::*;
        let ci = String { case_exact: false };
        let exact = String { case_exact: true };
        let attr = path.attr.to_ascii_lowercase();
        let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
        let schema = path.schema.as_deref().map(str::to_ascii_lowercase);
        let in_enterprise = match schema.as_deref() {
            None => false,
            Some(s) if s == ENTERPRISE.to_ascii_lowercase() => true,
            Some(s) if s.starts_with("urn:ietf:params:scim:schemas:core:2.0:") => false,
            Some(s) if s.starts_with("urn:scim:schemas:core:2.0") => false,
            Some(_) => return None,
        };
        let kind = if in_enterprise {
            match (attr.as_str(), sub.as_deref()) {
                ("employeenumber" | "department" | "costcenter" | "organization", None) => ci,
                ("manager", None) => Complex,
                ("manager", Some("value")) => exact,
                ("manager", Some("displayname")) => ci,
                _ => return None,
            }
        } else {
            match (attr.as_str(), sub.as_deref()) {
                ("id" | "externalid", None) => exact,
                ("username" | "displayname" | "nickname" | "title" | "usertype", None) => ci,
                ("active", None) => Boolean,
                ("logincount", None) => Integer,
                ("score", None) => Decimal,
                ("schemas", None) => Reference,
                ("name", None) => Complex,
                ("name", Some("givenname" | "familyname" | "formatted")) => ci,
                ("emails" | "phonenumbers", None) => Complex,
                ("emails" | "phonenumbers", Some("value" | "type" | "display")) => ci,
                ("emails" | "phonenumbers", Some("primary")) => Boolean,
                ("members" | "groups", None) => Complex,
                ("members" | "groups", Some("value")) => exact,
                ("members" | "groups", Some("display" | "type")) => ci,
                ("members" | "groups", Some("$ref")) => Reference,
                ("x509certificates", None) => Complex,
                ("x509certificates", Some("value")) => Binary,
                ("meta", None) => Complex,
                ("meta", Some("created" | "lastmodified")) => DateTime,
                ("meta", Some("resourcetype")) => ci,
                ("meta", Some("location")) => Reference,
                _ => return None,
            }
        };
        Some(kind)
    }
}

// ---------------------------------------------------------------------------------------
// AST helpers
// ---------------------------------------------------------------------------------------

fn p(attr: &str) -> AttrPath {
    AttrPath {
        schema: None,
        attr: attr.into(),
        sub_attr: None,
    }
}
fn ps(attr: &str, sub: &str) -> AttrPath {
    AttrPath {
        schema: None,
        attr: attr.into(),
        sub_attr: Some(sub.into()),
    }
}
fn pu(schema: &str, attr: &str) -> AttrPath {
    AttrPath {
        schema: Some(schema.into()),
        attr: attr.into(),
        sub_attr: None,
    }
}
fn cmp(path: AttrPath, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare { path, op, value }
}
fn s(v: &str) -> CompValue {
    CompValue::String(v.into())
}
fn n(v: i64) -> CompValue {
    CompValue::Number(v.into())
}
fn eq(attr: &str, v: &str) -> Filter {
    cmp(p(attr), CompareOp::Eq, s(v))
}
fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}
fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}
fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}
fn vp(attr: AttrPath, f: Filter) -> Filter {
    Filter::ValuePath {
        attr,
        filter: Box::new(f),
    }
}

fn parse_ok(input: &str) -> Filter {
    match parse_filter(input) {
        Ok(f) => f,
        Err(e) => panic!("{input:?} should parse: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// Valid parses, checked against a hand-built AST
// ---------------------------------------------------------------------------------------

#[test]
fn parses_to_expected_ast() {
    use CompareOp::*;
    let cases: Vec<(&str, Filter)> = vec![
        (r#"userName eq "bjensen""#, eq("userName", "bjensen")),
        (r#"userName EQ "x""#, eq("userName", "x")),
        (r#"USERNAME eq "x""#, eq("USERNAME", "x")),
        (r#"userName   eq	"x""#, eq("userName", "x")),
        (r#"  userName eq "x"  "#, eq("userName", "x")),
        (
            r#"name.familyName co "O'Malley""#,
            cmp(ps("name", "familyName"), Co, s("O'Malley")),
        ),
        (r#"userName sw "J""#, cmp(p("userName"), Sw, s("J"))),
        (r#"userName ew "son""#, cmp(p("userName"), Ew, s("son"))),
        (r#"title ne "boss""#, cmp(p("title"), Ne, s("boss"))),
        ("title pr", Filter::Present(p("title"))),
        ("title PR", Filter::Present(p("title"))),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            cmp(ps("meta", "lastModified"), Gt, s("2011-05-13T04:42:34Z")),
        ),
        (
            r#"meta.lastModified ge "2011""#,
            cmp(ps("meta", "lastModified"), Ge, s("2011")),
        ),
        (
            r#"meta.lastModified lt "2011""#,
            cmp(ps("meta", "lastModified"), Lt, s("2011")),
        ),
        (
            r#"meta.lastModified le "2011""#,
            cmp(ps("meta", "lastModified"), Le, s("2011")),
        ),
        (
            "active eq true",
            cmp(p("active"), Eq, CompValue::Bool(true)),
        ),
        (
            "active eq TRUE",
            cmp(p("active"), Eq, CompValue::Bool(true)),
        ),
        (
            "active eq False",
            cmp(p("active"), Eq, CompValue::Bool(false)),
        ),
        ("title eq null", cmp(p("title"), Eq, CompValue::Null)),
        ("title ne NULL", cmp(p("title"), Ne, CompValue::Null)),
        ("loginCount gt 5", cmp(p("loginCount"), Gt, n(5))),
        ("loginCount gt -5", cmp(p("loginCount"), Gt, n(-5))),
        (
            "score lt 2.5",
            cmp(
                p("score"),
                Lt,
                CompValue::Number(serde_json::Number::from_f64(2.5).unwrap()),
            ),
        ),
        (
            "score lt 1e3",
            cmp(
                p("score"),
                Lt,
                CompValue::Number(serde_json::Number::from_f64(1000.0).unwrap()),
            ),
        ),
        (
            "score lt -1.5E-2",
            cmp(
                p("score"),
                Lt,
                CompValue::Number(serde_json::Number::from_f64(-0.015).unwrap()),
            ),
        ),
        (
            r#"displayName eq "say \"hi\"""#,
            eq("displayName", "say \"hi\""),
        ),
        (
            r#"displayName eq "back\\slash""#,
            eq("displayName", "back\\slash"),
        ),
        (r#"displayName eq "caf\u00e9""#, eq("displayName", "café")),
        (r#"displayName eq "café""#, eq("displayName", "café")),
        (r#"displayName eq "\ud83d\ude00""#, eq("displayName", "😀")),
        (
            r#"displayName eq "a\nb\t/\/""#,
            eq("displayName", "a\nb\t//"),
        ),
        (r#"displayName eq """#, eq("displayName", "")),
        (
            r#"displayName eq "(not) [and] or""#,
            eq("displayName", "(not) [and] or"),
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Retail""#,
            cmp(pu(ENTERPRISE, "department"), Eq, s("Retail")),
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
            cmp(
                pu("urn:ietf:params:scim:schemas:core:2.0:User", "userName"),
                Eq,
                s("x"),
            ),
        ),
        (
            r#"urn:scim:schemas:core:2.0:User:userName eq "x""#,
            cmp(pu("urn:scim:schemas:core:2.0:User", "userName"), Eq, s("x")),
        ),
        (
            r#"urn:scim:schemas:core:2.0:userName eq "x""#,
            cmp(pu("urn:scim:schemas:core:2.0", "userName"), Eq, s("x")),
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m""#,
            cmp(
                AttrPath {
                    schema: Some(ENTERPRISE.into()),
                    attr: "manager".into(),
                    sub_attr: Some("value".into()),
                },
                Eq,
                s("m"),
            ),
        ),
        (r#"a eq "1" and b eq "2""#, and(eq("a", "1"), eq("b", "2"))),
        (r#"a eq "1" AND b eq "2""#, and(eq("a", "1"), eq("b", "2"))),
        (r#"a eq "1" or b eq "2""#, or(eq("a", "1"), eq("b", "2"))),
        (r#"a eq "1" Or b eq "2""#, or(eq("a", "1"), eq("b", "2"))),
        (
            r#"a eq "1" or b eq "2" and c eq "3""#,
            or(eq("a", "1"), and(eq("b", "2"), eq("c", "3"))),
        ),
        (
            r#"a eq "1" and b eq "2" or c eq "3""#,
            or(and(eq("a", "1"), eq("b", "2")), eq("c", "3")),
        ),
        (
            r#"(a eq "1" or b eq "2") and c eq "3""#,
            and(or(eq("a", "1"), eq("b", "2")), eq("c", "3")),
        ),
        (
            r#"a eq "1" and b eq "2" and c eq "3""#,
            and(and(eq("a", "1"), eq("b", "2")), eq("c", "3")),
        ),
        (
            r#"a eq "1" or b eq "2" or c eq "3""#,
            or(or(eq("a", "1"), eq("b", "2")), eq("c", "3")),
        ),
        (r#"not (a eq "1")"#, not(eq("a", "1"))),
        (r#"not(a eq "1")"#, not(eq("a", "1"))),
        (r#"NOT ( a eq "1" )"#, not(eq("a", "1"))),
        (
            r#"not (a eq "1") and b eq "2""#,
            and(not(eq("a", "1")), eq("b", "2")),
        ),
        (r#"not (not (a eq "1"))"#, not(not(eq("a", "1")))),
        (
            r#"( primary eq true )"#,
            cmp(p("primary"), Eq, CompValue::Bool(true)),
        ),
        (r#"((a eq "1"))"#, eq("a", "1")),
        (
            r#"(a eq "1")and(b eq "2")"#,
            and(eq("a", "1"), eq("b", "2")),
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            and(
                cmp(p("userType"), Ne, s("Employee")),
                not(or(
                    cmp(p("emails"), Co, s("example.com")),
                    cmp(ps("emails", "value"), Co, s("example.org")),
                )),
            ),
        ),
        (
            r#"emails[type eq "work"]"#,
            vp(p("emails"), eq("type", "work")),
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"]"#,
            vp(
                p("emails"),
                and(eq("type", "work"), cmp(p("value"), Co, s("@example.com"))),
            ),
        ),
        (
            r#"emails[ type eq "work" ]"#,
            vp(p("emails"), eq("type", "work")),
        ),
        (
            r#"emails[not (type eq "work")]"#,
            vp(p("emails"), not(eq("type", "work"))),
        ),
        (
            r#"emails[type eq "work"].value eq "x@y""#,
            vp(p("emails"), and(eq("type", "work"), eq("value", "x@y"))),
        ),
        (
            r#"emails[type eq "work"].value pr"#,
            vp(
                p("emails"),
                and(eq("type", "work"), Filter::Present(p("value"))),
            ),
        ),
        (
            r#"emails[type eq "work" or type eq "home"].value eq "x""#,
            vp(
                p("emails"),
                and(or(eq("type", "work"), eq("type", "home")), eq("value", "x")),
            ),
        ),
        (
            r#"members[value eq "abc"]"#,
            vp(p("members"), eq("value", "abc")),
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            or(
                and(
                    eq("userType", "Employee"),
                    vp(
                        p("emails"),
                        and(eq("type", "work"), cmp(p("value"), Co, s("@example.com"))),
                    ),
                ),
                vp(
                    p("ims"),
                    and(eq("type", "xmpp"), cmp(p("value"), Co, s("@foo.com"))),
                ),
            ),
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "m"]"#,
            vp(pu(ENTERPRISE, "manager"), eq("value", "m")),
        ),
        (r#"members.$ref pr"#, Filter::Present(ps("members", "$ref"))),
        (r#"not eq "x""#, eq("not", "x")),
        (
            r#"and eq "x" and or eq "y""#,
            and(eq("and", "x"), eq("or", "y")),
        ),
        (r#"x-y_z9 eq "v""#, eq("x-y_z9", "v")),
        (r#"userName eq"x""#, eq("userName", "x")),
        ("title\npr", Filter::Present(p("title"))),
    ];
    assert!(cases.len() >= 70, "{}", cases.len());
    for (input, expected) in &cases {
        let got = parse_ok(input);
        assert_eq!(&got, expected, "input {input:?}");
        // Canonical form re-parses to the same tree.
        assert_eq!(
            &parse_ok(&got.to_string()),
            expected,
            "display of {input:?}: {got}"
        );
    }
}

/// Canonical `Display` strings for a handful of shapes (parentheses only where needed).
#[test]
fn display_is_canonical() {
    let cases = [
        (r#"USERNAME EQ "x""#, r#"USERNAME eq "x""#),
        (r#"( a eq 1 )"#, "a eq 1"),
        (
            r#"a eq 1 or b eq 2 and c eq 3"#,
            "a eq 1 or b eq 2 and c eq 3",
        ),
        (
            r#"(a eq 1 or b eq 2) and c eq 3"#,
            "(a eq 1 or b eq 2) and c eq 3",
        ),
        (
            r#"a eq 1 and (b eq 2 and c eq 3)"#,
            "a eq 1 and (b eq 2 and c eq 3)",
        ),
        (
            r#"a eq 1 or (b eq 2 or c eq 3)"#,
            "a eq 1 or (b eq 2 or c eq 3)",
        ),
        (r#"not(a pr)"#, "not (a pr)"),
        (
            r#"emails[type eq "work"].value eq "x""#,
            r#"emails[type eq "work" and value eq "x"]"#,
        ),
        (r#"a eq "\u00e9\"""#, r#"a eq "é\"""#),
        ("a eq TRUE", "a eq true"),
        ("a eq NuLL", "a eq null"),
        ("a eq 1.0", "a eq 1.0"),
        ("a eq 1E2", "a eq 100.0"),
    ];
    for (input, canonical) in cases {
        assert_eq!(parse_ok(input).to_string(), canonical, "input {input:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Invalid filters: 400 invalidFilter, detail names the position
// ---------------------------------------------------------------------------------------

#[test]
fn rejects_invalid_filters_with_position() {
    // (input, byte position that must appear in the detail, another fragment of the detail)
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("userName", 8, "operator"),
        (r#"userName xx "a""#, 9, "'xx'"),
        (r#"userName eq"#, 11, "value"),
        (r#"userName eq bjensen"#, 12, "'bjensen'"),
        (r#"userName eq "unterminated"#, 12, "unterminated"),
        (r#"userName eq "bad \q escape""#, 12, "invalid string"),
        (r#"userName eq "x" extra"#, 16, "'extra'"),
        (r#"userName eq "x" and"#, 19, "end of input"),
        (r#"userName eq "x" or or b pr"#, 22, "'b'"),
        (r#"(userName eq "x""#, 16, "closing the '(' at position 0"),
        (r#"userName eq "x")"#, 15, "')'"),
        (r#"not userName eq "x""#, 4, "'(' after 'not'"),
        (r#"not"#, 3, "'(' after 'not'"),
        (r#"()"#, 1, "attribute name"),
        (r#"emails[type eq "work""#, 21, "closing the '['"),
        (r#"emails[]"#, 7, "attribute name"),
        (r#"emails[type eq "work"] eq "x""#, 23, "'eq'"),
        (r#"emails[type[value eq "x"] eq "y"]"#, 11, "nested"),
        (r#"emails[name.x eq "x"]"#, 7, "plain sub-attribute"),
        (r#"name.givenName[value eq "x"]"#, 14, "sub-attribute"),
        (r#"a.b.c eq "x""#, 0, "more than one '.'"),
        (r#"1abc eq "x""#, 0, "attribute name"),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User: eq "x""#,
            43,
            "attribute name",
        ),
        (r#":userName eq "x""#, 0, "schema URN"),
        (r#"userName eq 1.2.3"#, 12, "invalid number"),
        (r#"userName eq -"#, 12, "invalid number"),
        (r#"userName eq 1e999"#, 12, "invalid number"),
        (r#"userName eq +1"#, 12, "'+1'"),
        (r#"userName eq 'x'"#, 12, "'x'"),
        (r#""x" eq userName"#, 0, "string"),
        (r#"userName pr pr"#, 12, "'pr'"),
        (r#"userName eq "x" and (b pr"#, 25, "')'"),
        (r#"emails[type eq "w"].1bad eq "x""#, 20, "sub-attribute"),
        (r#"ümlaut eq "x""#, 0, "attribute name"),
        (r#"userName eq "x" ]"#, 16, "']'"),
        (r#"[a eq 1]"#, 0, "'['"),
        ("userName eq \"a\u{0}b\"", 12, "invalid string"),
        (r#"userName eq "x" and not (b pr"#, 29, "')'"),
    ];
    assert!(cases.len() >= 40, "{}", cases.len());
    for (input, pos, fragment) in cases {
        let err = match parse_filter(input) {
            Ok(f) => panic!("{input:?} should fail, parsed as {f:?}"),
            Err(e) => e,
        };
        assert_eq!(err.status, 400, "{input:?}");
        assert_eq!(
            err.scim_type,
            Some(crate::scim::error::ScimType::InvalidFilter),
            "{input:?}"
        );
        assert!(
            err.detail.contains(&format!("position {pos}")),
            "{input:?}: detail {:?} lacks position {pos}",
            err.detail
        );
        assert!(
            err.detail.contains(fragment),
            "{input:?}: detail {:?} lacks {fragment:?}",
            err.detail
        );
    }
}

#[test]
fn numbers_round_trip_exactly() {
    // serde_json's default float parser is not correctly rounded; ours must be, or the
    // canonical form of a filter would not re-parse to the same value.
    for text in [
        "-1.9986476934883626e127",
        "1.1825283702316356e-308",
        "0.1",
        "123456789.123456789",
    ] {
        let f = parse_ok(&format!("score eq {text}"));
        let Filter::Compare {
            value: CompValue::Number(n),
            ..
        } = &f
        else {
            panic!("{f:?}")
        };
        assert_eq!(n.as_f64(), text.parse::<f64>().ok(), "{text}");
        assert_eq!(parse_ok(&f.to_string()), f);
    }
    let big = parse_ok("loginCount eq 18446744073709551615");
    assert_eq!(big.to_string(), "loginCount eq 18446744073709551615");
    assert_eq!(
        parse_ok("loginCount eq -9223372036854775808").to_string(),
        "loginCount eq -9223372036854775808"
    );
    // Beyond u64: a float, like serde_json.
    assert_eq!(
        parse_ok("loginCount eq 18446744073709551616").to_string(),
        "loginCount eq 1.8446744073709552e+19"
    );
    for bad in ["01", "1.", ".5", "1e", "1e+", "--1", "0x10", "1_000"] {
        assert!(parse_filter(&format!("a eq {bad}")).is_err(), "{bad}");
    }
}

#[test]
fn nesting_and_size_limits_are_errors_not_crashes() {
    let deep = format!(
        "{}a pr{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    let err = parse_filter(&deep).unwrap_err();
    assert!(err.detail.contains("nested deeper"), "{}", err.detail);
    let deep_not = format!("{}a pr{}", "not(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_filter(&deep_not)
        .unwrap_err()
        .detail
        .contains("nested deeper"));
    let ok = format!("{}a pr{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert_eq!(parse_ok(&ok), Filter::Present(p("a")));

    let chain = |n: usize| vec!["id eq \"x\""; n].join(" or ");
    let err = parse_filter(&chain(MAX_TERMS + 1)).unwrap_err();
    assert!(err.detail.contains("more than"), "{}", err.detail);
    // The largest allowed chain parses, evaluates, displays and drops without overflow.
    let big = parse_ok(&chain(MAX_TERMS));
    assert!(matches(&big, &json!({"id": "x"}), &TestTypes));
    assert_eq!(parse_ok(&big.to_string()), big);
}

#[test]
fn attr_path_parsing() {
    let ok: &[(&str, AttrPath)] = &[
        ("userName", p("userName")),
        ("  name.givenName ", ps("name", "givenName")),
        ("members.$ref", ps("members", "$ref")),
        (
            &format!("{ENTERPRISE}:department"),
            pu(ENTERPRISE, "department"),
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
            AttrPath {
                schema: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                attr: "name".into(),
                sub_attr: Some("familyName".into()),
            },
        ),
    ];
    for (input, expected) in ok {
        assert_eq!(&parse_attr_path(input).unwrap(), expected, "{input:?}");
        assert_eq!(&parse_attr_path(&expected.to_string()).unwrap(), expected);
    }
    for bad in [
        "",
        "a b",
        "a.b.c",
        "emails[type eq \"x\"]",
        "9a",
        "a.",
        "\"a\"",
        "a)",
    ] {
        let err = parse_attr_path(bad).unwrap_err();
        assert_eq!(
            err.scim_type,
            Some(crate::scim::error::ScimType::InvalidPath),
            "{bad:?}"
        );
        assert!(err.detail.contains("position"), "{bad:?}: {}", err.detail);
    }
}

#[test]
fn patch_path_parsing() {
    let pp = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
    assert_eq!(pp.attr, p("emails"));
    assert_eq!(pp.filter, Some(eq("type", "work")));
    assert_eq!(pp.sub_attr.as_deref(), Some("value"));
    let pp = parse_patch_path(r#"members[value eq "2819c223"]"#).unwrap();
    assert_eq!(pp.filter, Some(eq("value", "2819c223")));
    assert_eq!(pp.sub_attr, None);
    let pp = parse_patch_path("name.givenName").unwrap();
    assert_eq!(
        (pp.attr, pp.filter, pp.sub_attr),
        (ps("name", "givenName"), None, None)
    );
    let pp = parse_patch_path(&format!("{ENTERPRISE}:manager")).unwrap();
    assert_eq!(pp.attr, pu(ENTERPRISE, "manager"));
    for bad in [
        "emails[type eq]",
        "emails[type eq \"w\"] x",
        "name.givenName[value eq 1]",
        "emails[a eq 1].b.c",
        "",
    ] {
        let err = parse_patch_path(bad).unwrap_err();
        assert_eq!(
            err.scim_type,
            Some(crate::scim::error::ScimType::InvalidPath),
            "{bad:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

fn okta_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "00u1abcdEFGH",
        "userName": "Barbara.Jensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
        "displayName": "Babs Jensen",
        "nickName": "",
        "title": null,
        "active": true,
        "emails": [
            {"value": "barbara.jensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "groups": [],
        "loginCount": 42,
        "score": 3.5,
        "meta": {
            "resourceType": "User",
            "created": "2019-06-01T12:00:00Z",
            "lastModified": "2021-03-04T05:06:07.5+01:00",
            "location": "https://scim.example.com/Users/2819c223"
        }
    })
}

fn entra_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "a1b2c3",
        "externalId": "6e0f6b7d-Entra",
        "UserName": "AlexW@contoso.onmicrosoft.com",
        "active": "True",
        "displayName": "Alex Wilber",
        "emails": [{"value": "AlexW@contoso.com", "type": "work", "primary": "true"}],
        "name": {"givenName": "Alex", "familyName": "Wilber"},
        ENTERPRISE: {
            "department": "Retail",
            "employeeNumber": "1234",
            "manager": {"value": "m-26"}
        },
        "meta": {"resourceType": "User", "lastModified": "2023-11-05T10:00:00Z"}
    })
}

fn onelogin_user() -> Value {
    json!({
        "schemas": ["urn:scim:schemas:core:2.0"],
        "id": "ol-77",
        "userName": "jdoe",
        "name": {"givenName": "John", "familyName": "Doe"},
        "active": false,
        "loginCount": "7",
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        "x509Certificates": [{"value": "TUlJRA=="}],
        "meta": {"lastModified": "not a date", "created": "2020-01-01T00:00:00"}
    })
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g-1",
        "displayName": "Engineering",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs"},
            {"value": "a1b2c3", "type": "User"}
        ],
        "meta": {"resourceType": "Group", "lastModified": "2022-01-01T00:00:00Z"}
    })
}

#[test]
fn evaluates_against_idp_shaped_resources() {
    let okta = okta_user();
    let entra = entra_user();
    let onelogin = onelogin_user();
    let grp = group();
    // (filter, resource, expected)
    let cases: Vec<(&str, &Value, bool)> = vec![
        // userName: case-insensitive lookups of every IdP
        (r#"userName eq "Barbara.Jensen@example.com""#, &okta, true),
        (r#"userName eq "barbara.jensen@EXAMPLE.com""#, &okta, true),
        (r#"USERNAME EQ "BARBARA.JENSEN@EXAMPLE.COM""#, &okta, true),
        (r#"userName eq "someone.else@example.com""#, &okta, false),
        (
            r#"userName eq "alexw@contoso.onmicrosoft.com""#,
            &entra,
            true,
        ),
        (
            r#"userName eq "0d2a5e6c-1f7e-4f63-a5b1-35b7e1c2a8f0""#,
            &entra,
            false,
        ),
        (r#"userName eq "JDOE""#, &onelogin, true),
        (r#"userName sw "barb""#, &okta, true),
        (r#"userName ew "@EXAMPLE.COM""#, &okta, true),
        (r#"userName co "JENSEN""#, &okta, true),
        (r#"userName co "smith""#, &okta, false),
        (r#"userName ne "jdoe""#, &onelogin, false),
        (r#"userName ne "other""#, &onelogin, true),
        (r#"userName gt "a""#, &onelogin, true),
        (r#"userName gt "JDOE""#, &onelogin, false),
        (r#"userName ge "JDOE""#, &onelogin, true),
        (r#"userName lt "K""#, &onelogin, true),
        (r#"userName le "jd""#, &onelogin, false),
        // id and externalId are case-exact
        (
            r#"id eq "2819c223-7f76-453a-919d-413861904646""#,
            &okta,
            true,
        ),
        (
            r#"id eq "2819C223-7F76-453A-919D-413861904646""#,
            &okta,
            false,
        ),
        (r#"id eq "g-1""#, &grp, true),
        (r#"id eq "G-1""#, &grp, false),
        (r#"externalId eq "00u1abcdEFGH""#, &okta, true),
        (r#"externalId eq "00u1abcdefgh""#, &okta, false),
        (r#"externalId eq "6e0f6b7d-Entra""#, &entra, true),
        (r#"externalId sw "6E0F""#, &entra, false),
        (r#"externalId pr"#, &onelogin, false),
        // sub-attributes and multi-valued "any"
        (r#"name.givenName eq "barbara""#, &okta, true),
        (r#"name.familyName co "ens""#, &okta, true),
        (r#"NAME.GIVENNAME eq "Alex""#, &entra, true),
        (r#"emails.value eq "babs@jensen.org""#, &okta, true),
        (
            r#"emails.value eq "BARBARA.JENSEN@example.com""#,
            &okta,
            true,
        ),
        (r#"emails.value eq "nobody@example.com""#, &okta, false),
        (r#"emails eq "babs@jensen.org""#, &okta, true),
        (r#"emails co "example.com""#, &okta, true),
        (r#"emails co "example.org""#, &okta, false),
        (r#"emails.type eq "home""#, &okta, true),
        (r#"emails.value ne "babs@jensen.org""#, &okta, true),
        (r#"emails.value ne "alexw@contoso.com""#, &entra, false),
        (r#"emails.value eq "x""#, &onelogin, false),
        (r#"emails.value ne "x""#, &onelogin, false),
        (r#"phoneNumbers.value sw "+1""#, &onelogin, true),
        // value paths (Entra matching on the work email)
        (r#"emails[type eq "work"]"#, &okta, true),
        (
            r#"emails[type eq "work" and value eq "babs@jensen.org"]"#,
            &okta,
            false,
        ),
        (
            r#"emails[type eq "home" and value eq "babs@jensen.org"]"#,
            &okta,
            true,
        ),
        (
            r#"emails[type eq "work"].value eq "barbara.jensen@example.com""#,
            &okta,
            true,
        ),
        (
            r#"emails[type eq "work"].value eq "babs@jensen.org""#,
            &okta,
            false,
        ),
        (
            r#"emails[type eq "work"].value eq "alexw@CONTOSO.com""#,
            &entra,
            true,
        ),
        (
            r#"emails[type eq "work" and primary eq true]"#,
            &entra,
            true,
        ),
        (r#"emails[type eq "work" and primary eq true]"#, &okta, true),
        (
            r#"emails[type eq "home" and primary eq true]"#,
            &okta,
            false,
        ),
        (r#"emails[primary pr]"#, &okta, true),
        (r#"emails[not (type eq "work")]"#, &okta, true),
        (r#"emails[not (type eq "work")]"#, &entra, false),
        (
            r#"emails[type eq "work" or type eq "other"].value co "@example""#,
            &okta,
            true,
        ),
        (r#"emails[type eq "work"]"#, &onelogin, false),
        (r#"emails[bogus eq "x"]"#, &okta, false),
        (
            r#"phoneNumbers[type eq "mobile"].value eq "+1 555 0100""#,
            &onelogin,
            true,
        ),
        (r#"phoneNumbers[type eq "mobile"]"#, &okta, false),
        // groups
        (r#"displayName eq "engineering""#, &grp, true),
        (r#"displayName eq "Engineering ""#, &grp, false),
        (r#"displayName eq "Babs Jensen""#, &okta, true),
        (r#"members[value eq "a1b2c3"]"#, &grp, true),
        (r#"members[value eq "A1B2C3"]"#, &grp, false),
        (r#"members[value eq "zzz"]"#, &grp, false),
        (
            r#"members.value eq "2819c223-7f76-453a-919d-413861904646""#,
            &grp,
            true,
        ),
        (
            r#"members[type eq "user" and value eq "a1b2c3"]"#,
            &grp,
            true,
        ),
        (
            r#"members[display eq "babs"].value eq "a1b2c3""#,
            &grp,
            false,
        ),
        (r#"members pr"#, &grp, true),
        (
            r#"displayName eq "Engineering" and members[value eq "a1b2c3"]"#,
            &grp,
            true,
        ),
        // booleans, including Entra's string booleans
        ("active eq true", &okta, true),
        ("active eq false", &okta, false),
        ("active ne false", &okta, true),
        ("active eq true", &entra, true),
        ("active eq TRUE", &entra, true),
        (r#"active eq "true""#, &okta, true),
        ("active eq false", &onelogin, true),
        ("active ne true", &onelogin, true),
        ("active gt false", &okta, false),
        ("active co true", &okta, false),
        ("active eq 1", &okta, false),
        ("emails.primary eq true", &entra, true),
        // numbers
        ("loginCount eq 42", &okta, true),
        ("loginCount eq 42.0", &okta, true),
        ("loginCount gt 41", &okta, true),
        ("loginCount ge 42", &okta, true),
        ("loginCount lt 42", &okta, false),
        ("loginCount le 4.2e1", &okta, true),
        ("loginCount ne 42", &okta, false),
        ("loginCount gt 5", &onelogin, true),
        (r#"loginCount eq "42""#, &okta, true),
        ("loginCount co 4", &okta, false),
        ("score gt 3", &okta, true),
        ("score lt 3.6", &okta, true),
        ("score eq 3.5", &okta, true),
        ("loginCount gt -1", &grp, false),
        // dateTime
        (
            r#"meta.lastModified gt "2020-01-01T00:00:00Z""#,
            &okta,
            true,
        ),
        (
            r#"meta.lastModified gt "2021-03-04T04:06:07Z""#,
            &okta,
            true,
        ),
        (
            r#"meta.lastModified gt "2021-03-04T04:06:07.5Z""#,
            &okta,
            false,
        ),
        (
            r#"meta.lastModified eq "2021-03-04T04:06:07.500Z""#,
            &okta,
            true,
        ),
        (
            r#"meta.lastModified ge "2021-03-04T04:06:07.5Z""#,
            &okta,
            true,
        ),
        (
            r#"meta.lastModified lt "2020-01-01T00:00:00Z""#,
            &okta,
            false,
        ),
        (
            r#"meta.lastModified le "2030-01-01T00:00:00+14:00""#,
            &entra,
            true,
        ),
        (
            r#"meta.lastModified gt "2023-11-05T09:59:59Z""#,
            &entra,
            true,
        ),
        (r#"meta.lastModified gt "yesterday""#, &okta, false),
        (r#"meta.lastModified ne "yesterday""#, &okta, false),
        (
            r#"meta.lastModified gt "2000-01-01T00:00:00Z""#,
            &onelogin,
            false,
        ),
        (
            r#"meta.lastModified lt "2000-01-01T00:00:00Z""#,
            &onelogin,
            false,
        ),
        (r#"meta.created eq "2020-01-01T00:00:00Z""#, &onelogin, true),
        (r#"meta.created sw "2019""#, &okta, false),
        (r#"meta.lastModified gt "2021-01-01T00:00:00Z""#, &grp, true),
        // pr and null
        ("title pr", &okta, false),
        ("nickName pr", &okta, false),
        ("displayName pr", &okta, true),
        ("groups pr", &okta, false),
        ("emails pr", &okta, true),
        ("emails.primary pr", &okta, true),
        ("active pr", &onelogin, true),
        ("name pr", &okta, true),
        ("meta.location pr", &okta, true),
        ("title eq null", &okta, true),
        ("nickName eq null", &okta, true),
        ("groups eq null", &okta, true),
        ("displayName eq null", &okta, false),
        ("displayName ne null", &okta, true),
        ("title ne null", &okta, false),
        ("emails eq null", &onelogin, true),
        ("title gt null", &okta, false),
        // ne on missing values, and the not() alternative
        (r#"title ne "boss""#, &okta, false),
        (r#"not (title eq "boss")"#, &okta, true),
        (r#"displayName ne "boss""#, &okta, true),
        // unknown attributes match nothing; not() negates
        (r#"bogus eq "x""#, &okta, false),
        (r#"bogus ne "x""#, &okta, false),
        ("bogus pr", &okta, false),
        ("bogus eq null", &okta, false),
        (r#"not (bogus eq "x")"#, &okta, true),
        (r#"bogus eq "x" or userName eq "jdoe""#, &onelogin, true),
        (r#"bogus eq "x" and userName eq "jdoe""#, &onelogin, false),
        (r#"name.bogus eq "x""#, &okta, false),
        (
            r#"urn:example:unknown:1.0:User:department eq "Retail""#,
            &entra,
            false,
        ),
        // URN-qualified names
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "retail""#,
            &entra,
            true,
        ),
        (
            r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT eq "Retail""#,
            &entra,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales""#,
            &entra,
            false,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr"#,
            &okta,
            false,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1234""#,
            &entra,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-26""#,
            &entra,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "m-26""#,
            &entra,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "M-26""#,
            &entra,
            false,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "m-26"]"#,
            &entra,
            true,
        ),
        (r#"department eq "Retail""#, &entra, false),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jdoe""#,
            &onelogin,
            true,
        ),
        (
            r#"urn:scim:schemas:core:2.0:User:userName eq "jdoe""#,
            &onelogin,
            true,
        ),
        (
            r#"urn:scim:schemas:core:2.0:userName eq "JDoe""#,
            &onelogin,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "alex""#,
            &entra,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Engineering""#,
            &grp,
            true,
        ),
        // reference / binary are case-exact
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group""#,
            &grp,
            true,
        ),
        (
            r#"schemas eq "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP""#,
            &grp,
            false,
        ),
        (r#"x509Certificates.value eq "TUlJRA==""#, &onelogin, true),
        (r#"x509Certificates.value eq "tuljra==""#, &onelogin, false),
        (
            r#"meta.location sw "https://scim.example.com/""#,
            &okta,
            true,
        ),
        // combinations and grouping
        (r#"userName eq "jdoe" and active eq false"#, &onelogin, true),
        (r#"userName eq "jdoe" and active eq true"#, &onelogin, false),
        (
            r#"userName eq "nobody" or externalId eq "6e0f6b7d-Entra""#,
            &entra,
            true,
        ),
        (
            r#"userName eq "nobody" or userName eq "x" or id eq "a1b2c3""#,
            &entra,
            true,
        ),
        (
            r#"not (active eq true) and userName sw "j""#,
            &onelogin,
            true,
        ),
        (r#"not(active eq true)"#, &okta, false),
        (
            r#"(userName eq "x" or userName eq "jdoe") and active eq false"#,
            &onelogin,
            true,
        ),
        (
            r#"userName eq "x" or userName eq "jdoe" and active eq true"#,
            &onelogin,
            false,
        ),
        (
            r#"( userName eq "jdoe" ) and ( active eq false )"#,
            &onelogin,
            true,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            &okta,
            false,
        ),
        (
            r#"name.givenName eq "Barbara" and emails[type eq "home"]"#,
            &okta,
            true,
        ),
        (r#"not (emails[type eq "home"])"#, &entra, true),
        (
            r#"displayName eq "Engineering" or members[value eq "nope"]"#,
            &grp,
            true,
        ),
    ];
    assert!(cases.len() >= 150, "{}", cases.len());
    let mut failures = Vec::new();
    for (input, resource, expected) in &cases {
        let f = parse_ok(input);
        if matches(&f, resource, &TestTypes) != *expected {
            failures.push(format!(
                "{input:?} on {} expected {expected}",
                resource["id"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn element_scoped_types_work_for_patch_style_use() {
    // patch.rs evaluates a value filter against one element with element-relative typing.
    struct ElemTypes;
    impl AttributeTypes for ElemTypes {
        fn kind_of(&self, path: &AttrPath) -> Option<AttrKind> {
            match path.attr.to_ascii_lowercase().as_str() {
                "value" | "type" => Some(AttrKind::String { case_exact: false }),
                "primary" => Some(AttrKind::Boolean),
                _ => None,
            }
        }
    }
    let f = parse_ok(r#"type eq "WORK" and primary eq true"#);
    assert!(matches(
        &f,
        &json!({"type": "work", "primary": "True"}),
        &ElemTypes
    ));
    assert!(!matches(
        &f,
        &json!({"type": "home", "primary": true}),
        &ElemTypes
    ));
}

#[test]
fn check_filter_reports_rfc_invalid_combinations() {
    let bad = [
        "active gt true",
        "emails.primary co true",
        "title co null",
        "x509Certificates.value sw \"a\"",
    ];
    for input in bad {
        let err = check_filter(&parse_ok(input), &TestTypes).unwrap_err();
        assert_eq!(
            err.scim_type,
            Some(crate::scim::error::ScimType::InvalidFilter),
            "{input}"
        );
    }
    let fine = [
        "active eq true",
        "title eq null",
        "bogus gt 1",
        "emails[primary ne false]",
        "userName co \"a\"",
    ];
    for input in fine {
        assert!(
            check_filter(&parse_ok(input), &TestTypes).is_ok(),
            "{input}"
        );
    }
    assert!(check_filter(&parse_ok("emails[primary gt true]"), &TestTypes).is_err());
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        Just("not".to_string()),
        Just("and".to_string()),
        Just("pr".to_string()),
        Just("$ref".to_string()),
    ]
}

fn arb_path() -> impl Strategy<Value = AttrPath> {
    let schema = prop_oneof![
        3 => Just(None),
        1 => Just(Some(ENTERPRISE.to_string())),
        1 => Just(Some("urn:scim:schemas:core:2.0".to_string())),
    ];
    (schema, arb_name(), proptest::option::of(arb_name())).prop_map(|(schema, attr, sub_attr)| {
        AttrPath {
            schema,
            attr,
            sub_attr,
        }
    })
}

fn arb_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::String),
        any::<i64>().prop_map(|i| CompValue::Number(i.into())),
        any::<u64>().prop_map(|i| CompValue::Number(i.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    use CompareOp::*;
    proptest::sample::select(vec![Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le])
}

fn arb_leaf(path: BoxedStrategy<AttrPath>) -> BoxedStrategy<Filter> {
    prop_oneof![
        (path.clone(), arb_op(), arb_value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        path.prop_map(Filter::Present),
    ]
    .boxed()
}

fn arb_logic(leaf: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| or(a, b)),
            inner.prop_map(not),
        ]
    })
    .boxed()
}

fn arb_filter() -> BoxedStrategy<Filter> {
    let simple = arb_name()
        .prop_map(|attr| AttrPath {
            schema: None,
            attr,
            sub_attr: None,
        })
        .boxed();
    let value_path = (
        (
            proptest::option::of(Just(ENTERPRISE.to_string())),
            arb_name(),
        )
            .prop_map(|(schema, attr)| AttrPath {
                schema,
                attr,
                sub_attr: None,
            }),
        arb_logic(arb_leaf(simple)),
    )
        .prop_map(|(attr, f)| vp(attr, f))
        .boxed();
    let leaf = prop_oneof![3 => arb_leaf(arb_path().boxed()), 1 => value_path].boxed();
    arb_logic(leaf)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn display_round_trips(f in arb_filter()) {
        let text = f.to_string();
        let back = parse_filter(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&f), "text {:?} -> {:?}", text, back);
    }

    #[test]
    fn parse_never_panics(input in any::<String>()) {
        let _ = parse_filter(&input);
        let _ = parse_attr_path(&input);
        let _ = parse_patch_path(&input);
    }

    #[test]
    fn parse_never_panics_on_filter_like_input(input in r#"[a-zA-Z0-9 \t()\[\]".:\\$éu-]{0,80}"#) {
        if let Ok(f) = parse_filter(&input) {
            // Whatever parses must evaluate, and re-parse from its canonical form.
            let _ = matches(&f, &okta_user(), &TestTypes);
            prop_assert_eq!(parse_filter(&f.to_string()).ok(), Some(f));
        }
        let _ = parse_patch_path(&input);
    }

    #[test]
    fn evaluation_never_panics(f in arb_filter()) {
        for r in [okta_user(), entra_user(), onelogin_user(), group(), json!(null), json!([1, 2])] {
            let _ = matches(&f, &r, &TestTypes);
        }
        let _ = check_filter(&f, &TestTypes);
    }
}
