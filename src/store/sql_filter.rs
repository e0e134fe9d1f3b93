//! Translates the neutral filter form into SQL over the indexed columns. Only forms whose
//! SQL meaning is exactly the in-memory meaning are translated; for the rest the store
//! narrows with what it can ([`prefilter`]) and evaluates the whole filter in memory, so
//! both paths give the same answer.
//!
//! Every column comparison is two-valued (`col IS NOT NULL AND ...`), so `NOT` over a
//! missing attribute behaves as the in-memory evaluator does instead of SQL's NULL logic.
//! Placeholders are `?`; the PostgreSQL store renumbers them.
use crate::scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::scim::schema::{LEGACY_CORE_SCHEMA, USER_SCHEMA};

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

/// The users table's indexed attributes.
fn user_column(path: &AttrPath) -> Option<Column> {
    if let Some(schema) = &path.schema {
        let core = schema.eq_ignore_ascii_case(USER_SCHEMA)
            || schema.eq_ignore_ascii_case(LEGACY_CORE_SCHEMA)
            || schema
                .to_ascii_lowercase()
                .starts_with(&format!("{}:", LEGACY_CORE_SCHEMA.to_ascii_lowercase()));
        if !core {
            return None;
        }
    }
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    let column = |expr, value| {
        Some(Column {
            expr,
            multi: false,
            value,
        })
    };
    match (attr.as_str(), sub.as_deref()) {
        ("id", None) => column("id", Value::Exact),
        ("username", None) => column("user_name_fold", Value::Folded),
        ("externalid", None) => column("external_id", Value::Exact),
        ("displayname", None) => column("display_name_fold", Value::Folded),
        ("meta", Some("lastmodified")) => column("last_modified", Value::Timestamp),
        ("emails", Some("value")) | ("emails", None) => Some(Column {
            expr: "EXISTS (SELECT 1 FROM user_emails e WHERE e.tenant = users.tenant AND e.user_id = users.id AND {cond})",
            multi: true,
            value: Value::Folded,
        }),
        _ => None,
    }
}

/// The whole filter in SQL, or `None` when some part must be evaluated in memory.
pub fn translate(filter: &Filter) -> Option<SqlExpr> {
    match filter {
        Filter::And(a, b) => combine(translate(a)?, "AND", translate(b)?),
        Filter::Or(a, b) => combine(translate(a)?, "OR", translate(b)?),
        Filter::Not(inner) => {
            let inner = translate(inner)?;
            Some(SqlExpr {
                sql: format!("NOT ({})", inner.sql),
                binds: inner.binds,
            })
        }
        Filter::Present(path) => {
            let column = user_column(path)?;
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
        Filter::Compare { path, op, value } => compare(path, *op, value),
        Filter::ValuePath { .. } => None,
    }
}

/// A condition that every match of `filter` satisfies (it may let more through), used to
/// narrow the rows evaluated in memory. `None` means no narrowing is possible.
pub fn prefilter(filter: &Filter) -> Option<SqlExpr> {
    if let Some(exact) = translate(filter) {
        return Some(exact);
    }
    match filter {
        Filter::And(a, b) => match (prefilter(a), prefilter(b)) {
            (Some(a), Some(b)) => combine(a, "AND", b),
            (Some(one), None) | (None, Some(one)) => Some(one),
            (None, None) => None,
        },
        Filter::Or(a, b) => combine(prefilter(a)?, "OR", prefilter(b)?),
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

fn compare(path: &AttrPath, op: CompareOp, value: &CompValue) -> Option<SqlExpr> {
    let column = user_column(path)?;
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
        let cond = format!("e.value_fold {sql_op} ?");
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
        translate(&parse_filter(f).unwrap())
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
        assert!(translate(&f).is_none());
        assert_eq!(prefilter(&f).unwrap().binds, vec!["a"]);
        let f = parse_filter(r#"userName eq "a" or title co "x""#).unwrap();
        assert!(prefilter(&f).is_none());
    }

    #[test]
    fn dates_are_normalised() {
        let e = sql(r#"meta.lastModified gt "2020-01-01T00:00:00+01:00""#).unwrap();
        assert_eq!(e.binds, vec!["2019-12-31T23:00:00.000000Z"]);
        assert!(sql(r#"meta.lastModified gt "yesterday""#).is_none());
    }
}
