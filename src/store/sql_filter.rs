//! Translates the neutral filter form into SQL over the indexed columns. Only forms whose
//! SQL meaning is exactly the in-memory meaning are translated; for the rest the store
//! narrows with what it can ([`prefilter`]) and evaluates the whole filter in memory, so
//! both paths give the same answer.
//!
//! Every column comparison is two-valued (`col IS NOT NULL AND ...`), so `NOT` over a
//! missing attribute behaves as the in-memory evaluator does instead of SQL's NULL logic.
//! Placeholders are `?`; the list planner (`sql/list.rs`) numbers them `$n` for both databases.
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::schema::{GROUP_SCHEMA, LEGACY_CORE_SCHEMA, USER_SCHEMA};

use super::fold;

/// A SQL boolean expression and its bound values, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlExpr {
    pub sql: String,
    pub binds: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Value {
    /// Compared after case folding (the column holds folded text).
    Folded,
    /// Compared as written (caseExact attributes).
    Exact,
    /// Timestamps stored in [`crate::store::timestamp`]'s fixed format.
    Timestamp,
}

#[derive(Debug, Clone, Copy)]
struct Column {
    /// The column, or an `EXISTS` subquery template with `{cond}` for a multi-valued one.
    expr: &'static str,
    multi: bool,
    value: Value,
}

/// Which table a filter is translated for; the SQL names it `users` or `groups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Users,
    Groups,
}

fn is_core(schema: &str, resource: Resource) -> bool {
    let own = match resource {
        Resource::Users => USER_SCHEMA,
        Resource::Groups => GROUP_SCHEMA,
    };
    let legacy = LEGACY_CORE_SCHEMA.to_ascii_lowercase();
    schema.eq_ignore_ascii_case(own)
        || schema.eq_ignore_ascii_case(LEGACY_CORE_SCHEMA)
        || schema
            .to_ascii_lowercase()
            .starts_with(&format!("{legacy}:"))
}

impl Column {
    const fn single(expr: &'static str, value: Value) -> Self {
        Self {
            expr,
            multi: false,
            value,
        }
    }

    /// A multi-valued attribute: `EXISTS` over its rows, `{cond}` on each.
    const fn multi(exists: &'static str, value: Value) -> Self {
        Self {
            expr: exists,
            multi: true,
            value,
        }
    }
}

/// The indexed attributes both tables have, by lowercase path (`attr` or `attr.sub`;
/// a multi-valued one is also named without its `.value`).
const INDEXED: &[(&str, Column)] = &[
    ("id", Column::single("id", Value::Exact)),
    ("externalid", Column::single("external_id", Value::Exact)),
    (
        "displayname",
        Column::single("display_name_fold", Value::Folded),
    ),
    (
        "meta.lastmodified",
        Column::single("last_modified", Value::Timestamp),
    ),
];

const EMAILS: &str = "EXISTS (SELECT 1 FROM user_emails e WHERE e.tenant = users.tenant AND e.user_id = users.id AND {cond})";
const MEMBERS: &str = "EXISTS (SELECT 1 FROM group_members m WHERE m.tenant = groups.tenant AND m.group_id = groups.id AND {cond})";

/// The users table's indexed attributes beyond [`INDEXED`].
const USER_INDEXED: &[(&str, Column)] = &[
    ("username", Column::single("user_name_fold", Value::Folded)),
    ("emails", Column::multi(EMAILS, Value::Folded)),
];

/// The groups table's indexed attributes beyond [`INDEXED`].
const GROUP_INDEXED: &[(&str, Column)] = &[("members", Column::multi(MEMBERS, Value::Exact))];

fn column(path: &AttrPath, resource: Resource) -> Option<Column> {
    if let Some(schema) = &path.schema {
        if !is_core(schema, resource) {
            return None;
        }
    }
    let own = match resource {
        Resource::Users => USER_INDEXED,
        Resource::Groups => GROUP_INDEXED,
    };
    let attr = path.attr.to_ascii_lowercase();
    let name = match path.sub_attr.as_deref().map(str::to_ascii_lowercase) {
        None => attr.clone(),
        Some(sub) => format!("{attr}.{sub}"),
    };
    INDEXED.iter().chain(own).find_map(|(indexed, column)| {
        let named = *indexed == name || (column.multi && name == format!("{indexed}.value"));
        named.then_some(*column)
    })
}

/// Whether `filter` is an equality on an identifying user attribute (`id`, `userName`,
/// `externalId`): a few rows through an index, whatever the table's size. The IdPs send
/// these before every write, so the SQLite store answers them on the calling thread.
pub fn is_point_lookup(filter: &Filter, resource: Resource) -> bool {
    let Filter::Compare {
        path,
        op: CompareOp::Eq,
        value: CompValue::String(_),
    } = filter
    else {
        return false;
    };
    resource == Resource::Users
        && path.sub_attr.is_none()
        && column(path, resource).is_some()
        && ["id", "username", "externalid"]
            .iter()
            .any(|a| path.attr.eq_ignore_ascii_case(a))
}

/// The column a `sortBy` orders by in SQL, or `None` to sort in memory.
pub fn sort_column(path: &AttrPath, resource: Resource) -> Option<&'static str> {
    if let Some(schema) = &path.schema {
        if !is_core(schema, resource) {
            return None;
        }
    }
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    match (resource, attr.as_str(), sub.as_deref()) {
        (_, "id", None) => Some("id"),
        (_, "externalid", None) => Some("external_id"),
        (_, "displayname", None) => Some("display_name_fold"),
        (_, "meta", Some("lastmodified")) => Some("last_modified"),
        (_, "meta", Some("created")) => Some("created_at"),
        (Resource::Users, "username", None) => Some("user_name_fold"),
        _ => None,
    }
}

/// The whole filter in SQL, or `None` when some part must be evaluated in memory.
pub fn translate(filter: &Filter, resource: Resource) -> Option<SqlExpr> {
    match filter {
        Filter::And(a, b) => combine(translate(a, resource)?, "AND", translate(b, resource)?),
        Filter::Or(a, b) => combine(translate(a, resource)?, "OR", translate(b, resource)?),
        Filter::Not(inner) => {
            let inner = translate(inner, resource)?;
            Some(SqlExpr {
                sql: format!("NOT ({})", inner.sql),
                binds: inner.binds,
            })
        }
        Filter::Present(path) => {
            let column = column(path, resource)?;
            if column.multi {
                Some(SqlExpr {
                    sql: column.expr.replace("{cond}", "e.value_fold <> ''"),
                    binds: vec![],
                })
            } else {
                let c = column.expr;
                Some(SqlExpr {
                    sql: format!("({c} IS NOT NULL AND {c} <> '')"),
                    binds: vec![],
                })
            }
        }
        Filter::Compare { path, op, value } => compare(column(path, resource)?, *op, value),
        // `members[value eq "id"]`: the one value path IdPs send (Okta, Entra).
        Filter::ValuePath { attr, filter } => match filter.as_ref() {
            Filter::Compare { path, op, value }
                if path.sub_attr.is_none() && path.attr.eq_ignore_ascii_case("value") =>
            {
                let whole = AttrPath {
                    schema: attr.schema.clone(),
                    attr: attr.attr.clone(),
                    sub_attr: Some("value".into()),
                };
                compare(column(&whole, resource)?, *op, value)
            }
            _ => None,
        },
    }
}

/// A condition that every match of `filter` satisfies (it may let more through), used to
/// narrow the rows evaluated in memory. `None` means no narrowing is possible.
pub fn prefilter(filter: &Filter, resource: Resource) -> Option<SqlExpr> {
    if let Some(exact) = translate(filter, resource) {
        return Some(exact);
    }
    match filter {
        Filter::And(a, b) => match (prefilter(a, resource), prefilter(b, resource)) {
            (Some(a), Some(b)) => combine(a, "AND", b),
            (Some(one), None) | (None, Some(one)) => Some(one),
            (None, None) => None,
        },
        Filter::Or(a, b) => combine(prefilter(a, resource)?, "OR", prefilter(b, resource)?),
        _ => None,
    }
}

fn combine(a: SqlExpr, op: &str, b: SqlExpr) -> Option<SqlExpr> {
    let mut binds = a.binds;
    binds.extend(b.binds);
    Some(SqlExpr {
        sql: format!("({} {op} {})", a.sql, b.sql),
        binds,
    })
}

fn compare(column: Column, op: CompareOp, value: &CompValue) -> Option<SqlExpr> {
    let CompValue::String(text) = value else {
        return None;
    };
    let bound = match column.value {
        Value::Folded => fold(text),
        Value::Exact => text.clone(),
        Value::Timestamp => {
            super::timestamp(&chrono::DateTime::parse_from_rfc3339(text).ok()?.to_utc())
        }
    };
    let sql_op = match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        // Substring matching is left to the evaluator: LIKE's case rules differ per database.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => return None,
    };
    if column.multi {
        // `emails.value ne x` means "some email differs", which EXISTS expresses; ordering
        // operators on emails are rare and left to the evaluator.
        if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return None;
        }
        let cond = format!(
            "{} {sql_op} ?",
            if column.expr.contains("group_members") {
                "m.user_id"
            } else {
                "e.value_fold"
            }
        );
        return Some(SqlExpr {
            sql: column.expr.replace("{cond}", &cond),
            binds: vec![bound],
        });
    }
    let c = column.expr;
    Some(SqlExpr {
        sql: format!("({c} IS NOT NULL AND {c} {sql_op} ?)"),
        binds: vec![bound],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;

    fn sql(f: &str) -> Option<SqlExpr> {
        translate(&parse_filter(f).unwrap(), Resource::Users)
    }

    #[test]
    fn point_lookups_are_equalities_on_identifying_attributes() {
        let point = |f: &str, r| is_point_lookup(&parse_filter(f).unwrap(), r);
        for f in [
            r#"userName eq "a@b.c""#,
            r#"USERNAME EQ "a@b.c""#,
            r#"id eq "x""#,
            r#"externalId eq "00u1""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#,
        ] {
            assert!(point(f, Resource::Users), "{f}");
        }
        for f in [
            r#"userName co "a""#,
            r#"userName ne "a""#,
            r#"displayName eq "a""#,
            r#"emails.value eq "a@b.c""#,
            r#"userName eq "a" or id eq "b""#,
            r#"not (userName eq "a")"#,
            r#"active eq true"#,
            r#"id eq null"#,
            r#"title eq "a""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "a""#,
        ] {
            assert!(!point(f, Resource::Users), "{f}");
        }
        assert!(!point(r#"id eq "x""#, Resource::Groups));
    }

    #[test]
    fn username_eq_is_folded_and_bound() {
        let e = sql(r#"userName eq "Jane@Example.com""#).unwrap();
        assert_eq!(e.sql, "(user_name_fold IS NOT NULL AND user_name_fold = ?)");
        assert_eq!(e.binds, vec!["jane@example.com"]);
    }

    #[test]
    fn external_id_is_case_exact() {
        let e = sql(r#"externalId eq "AbC""#).unwrap();
        assert_eq!(e.binds, vec!["AbC"]);
    }

    #[test]
    fn conjunction_of_indexed_attributes_translates() {
        let e = sql(r#"userName eq "a" and (emails.value eq "B@x.com" or id eq "i")"#).unwrap();
        assert!(e.sql.contains("user_emails"));
        assert_eq!(e.binds, vec!["a", "b@x.com", "i"]);
    }

    #[test]
    fn urn_qualified_core_attribute_translates() {
        assert!(sql(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#).is_some());
    }

    #[test]
    fn unindexed_or_substring_forms_do_not_translate() {
        assert!(sql(r#"title eq "x""#).is_none());
        assert!(sql(r#"userName co "x""#).is_none());
        assert!(sql(r#"emails[type eq "work"]"#).is_none());
        assert!(sql(r#"userName eq true"#).is_none());
    }

    #[test]
    fn prefilter_keeps_the_indexed_half_of_a_conjunction() {
        let f = parse_filter(r#"userName eq "a" and title co "x""#).unwrap();
        assert!(translate(&f, Resource::Users).is_none());
        assert_eq!(prefilter(&f, Resource::Users).unwrap().binds, vec!["a"]);
        let f = parse_filter(r#"userName eq "a" or title co "x""#).unwrap();
        assert!(prefilter(&f, Resource::Users).is_none());
    }

    #[test]
    fn group_members_value_path_translates() {
        let f = parse_filter(r#"members[value eq "u-1"]"#).unwrap();
        let e = translate(&f, Resource::Groups).unwrap();
        assert!(e.sql.contains("group_members") && e.sql.contains("m.user_id = ?"));
        assert_eq!(e.binds, vec!["u-1"]);
        let f = parse_filter(r#"displayName eq "Admins""#).unwrap();
        assert_eq!(
            translate(&f, Resource::Groups).unwrap().binds,
            vec!["admins"]
        );
        assert!(translate(
            &parse_filter(r#"userName eq "a""#).unwrap(),
            Resource::Groups
        )
        .is_none());
    }

    #[test]
    fn dates_are_normalised() {
        let e = sql(r#"meta.lastModified gt "2020-01-01T00:00:00+01:00""#).unwrap();
        assert_eq!(e.binds, vec!["2019-12-31T23:00:00.000000Z"]);
        assert!(sql(r#"meta.lastModified gt "yesterday""#).is_none());
    }
}
