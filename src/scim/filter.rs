//! SCIM filter (RFC 7644 §3.4.2.2): parser to a protocol-neutral form, and in-memory
//! evaluation of that form against a resource's JSON. The store translates the same form
//! to SQL for the indexed attributes, so both paths must agree.
//!
//! Layout: this file holds the AST, its canonical [`Display`](std::fmt::Display) form and
//! the public entry points; `filter/parse.rs` is the parser, `filter/eval.rs` the
//! evaluator, `filter/tests.rs` the table-driven and property tests.
//!
//! # Grammar accepted (a superset of the RFC ABNF, chosen for real IdP traffic)
//! - `attrPath op value`, `attrPath pr`, `attrPath[valFilter]`, `not (F)`, `(F)`,
//!   `F and F`, `F or F`; precedence `not` > `and` > `or`, `and`/`or` left-associative.
//! - Operators, `and`/`or`/`not`/`pr` and `true`/`false`/`null` are case-insensitive.
//! - Any run of whitespace separates tokens; `not(` without a space and `( a eq 1 )` with
//!   spaces inside the parentheses are accepted (RFC erratum 7319 shows both styles).
//! - `attrPath = [URN ":"] ATTRNAME ["." subAttr]`; the URN is everything up to the last
//!   `:`, so `urn:...:enterprise:2.0:User:manager.value` splits correctly. `$ref` is
//!   accepted as a (sub-)attribute name because RFC 7643 defines attributes with that name.
//! - Strings are JSON strings (all JSON escapes, including surrogate pairs); numbers are
//!   JSON numbers.
//! - **Extension:** `emails[type eq "work"].value eq "x"` — the RFC only allows a
//!   sub-attribute after a value path in PATCH paths, but Entra documents matching on
//!   `emails[type eq "work"].value`, and answering its lookup with 400 would make it create
//!   duplicates. It is read as `emails[type eq "work" and value eq "x"]`, which is what the
//!   expression means ("some work email whose value is x"), so no new AST node is needed and
//!   the canonical form stays RFC-valid.
//! - Value filters cannot nest (`a[b[c eq 1]]`) and their paths are plain sub-attribute
//!   names (no URN, no dots), as in the RFC.
//!
//! Limits keep hostile input harmless: at most [`MAX_NESTING`] levels of `(`/`not(`/`[`,
//! and at most [`MAX_TERMS`] attribute expressions (which also bounds the depth of the
//! left-leaning `and`/`or` chains that evaluation and `Drop` recurse over).
use super::error::ScimError;
use super::schema::AttributeTypes;
use std::fmt;

mod eval;
mod parse;
#[cfg(test)]
mod tests;

pub use eval::check_filter;

/// Deepest allowed nesting of parentheses, `not (..)` and value-filter brackets.
pub const MAX_NESTING: usize = 64;
/// Most attribute expressions (`a eq 1`, `a pr`) one filter may hold. Generous for
/// "id eq .. or id eq .." batch lookups, small enough that recursion over the tree is safe.
pub const MAX_TERMS: usize = 1000;

/// An attribute path as written in a filter: `[schemaURN:]attr[.subAttr]`.
/// Names keep their original spelling; comparisons of names are case-insensitive.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// Schema URN prefix when the path was URN-qualified (e.g. the enterprise extension).
    pub schema: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    /// `emails[type eq "work" and value co "@x"]`: `filter`'s paths are relative to each
    /// element of the multi-valued attribute `attr`.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH operation path (RFC 7644 §3.5.2): `attrPath`, `attr[valFilter]` or
/// `attr[valFilter].subAttr`. Provided for `patch.rs` so both modules share one grammar.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with `sub_attr` when written as `name.givenName`).
    pub attr: AttrPath,
    /// The value filter in brackets; paths inside are relative to each element.
    pub filter: Option<Filter>,
    /// The sub-attribute after the brackets (`.value` in `emails[type eq "work"].value`).
    pub sub_attr: Option<String>,
}

/// Parses a `filter=` query parameter (already URL-decoded) or a `/.search` filter.
///
/// Errors are `400 invalidFilter` whose detail names the byte position and the offending
/// token or what was expected, so an IdP admin can fix the mapping from the log alone.
pub fn parse_filter(input: &str) -> Result<Filter, ScimError> {
    parse::filter(input)
}

/// Parses a bare attribute path as used by `attributes=`, `excludedAttributes=` and
/// `sortBy=`. Surrounding whitespace is ignored. Errors are `400 invalidPath`; callers
/// that need another `scimType` (e.g. `invalidValue` for `sortBy`) re-map it.
pub fn parse_attr_path(input: &str) -> Result<AttrPath, ScimError> {
    parse::attr_path(input)
}

/// Parses a PATCH `path` (RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`).
/// Errors are `400 invalidPath`.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, ScimError> {
    parse::patch_path(input)
}

/// Evaluates `filter` against one resource's JSON. See `filter/eval.rs` for the exact
/// semantics (unknown attributes, `null`, `ne` on missing values, multi-valued "any").
pub fn matches(filter: &Filter, resource: &serde_json::Value, types: &dyn AttributeTypes) -> bool {
    eval::matches(filter, resource, types)
}

impl CompareOp {
    /// The operator as the RFC spells it (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Case-insensitive lookup of an operator keyword (`pr` is not a comparison).
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // serde_json's string serializer produces exactly the JSON escapes the parser reads.
            CompValue::String(s) => match serde_json::to_string(s) {
                Ok(quoted) => f.write_str(&quoted),
                Err(_) => Err(fmt::Error),
            },
            CompValue::Number(n) => {
                let text = n.to_string();
                f.write_str(&text)?;
                // A float that prints like an integer ("1") would re-parse as an integer
                // and break `parse(display(f)) == f`; keep it visibly a decimal.
                if n.is_f64() && !text.contains(['.', 'e', 'E']) {
                    f.write_str(".0")?;
                }
                Ok(())
            }
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

impl Filter {
    /// Binding strength used by `Display` to insert only the parentheses that matter.
    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }

    fn fmt_operand(&self, f: &mut fmt::Formatter<'_>, parenthesize: bool) -> fmt::Result {
        if parenthesize {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

/// Canonical form: lower-case keywords, single spaces, JSON-escaped strings, parentheses
/// only where precedence or (left-)associativity needs them, so `parse(display(f)) == f`.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(l, r) | Filter::Or(l, r) => {
                let p = self.precedence();
                l.fmt_operand(f, l.precedence() < p)?;
                f.write_str(if p == 1 { " or " } else { " and " })?;
                r.fmt_operand(f, r.precedence() <= p)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}
