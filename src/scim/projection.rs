//! Attribute projection of a resource for responses: `attributes` / `excludedAttributes`
//! (RFC 7644 §3.4.2.5, §3.9) combined with each attribute's `returned` (RFC 7643 §7).
//!
//! Rules:
//! - `returned: never` (password) is never sent; `returned: always` (`id`) always is, even
//!   when excluded or not selected. `schemas` is always sent: a resource without it is not
//!   a SCIM resource. `meta` is `returned: default` like other attributes.
//! - `returned: request` attributes are sent only when named in `attributes`.
//! - With `attributes`, only the named attributes (and `always` ones) are sent; a
//!   sub-attribute selection (`name.givenName`, `emails.value`) sends just that part; an
//!   extension URN selects the whole extension, a URN-qualified name one attribute in it.
//! - `excludedAttributes` removes attributes or sub-attributes from what would be sent.
//!   Both lists may be given; selection is applied first, then exclusion.
//! - Attributes the schema does not know (other extensions' data stored as sent) count as
//!   `returned: default`: sent unless a selection leaves them out or they are excluded.
//!   They are never dropped silently.
//! - Names compare case-insensitively; the stored spelling is kept in the output.
use serde_json::{Map, Value};

use super::filter::AttrPath;
use super::schema::{AttributeDef, ResolvedPath, ResourceSchema, Returned};

/// Projects `resource` for a response. `attributes`/`excluded` are the parsed query
/// parameters (empty = not given).
///
/// Takes the resource by value: an answer renders each resource once and projects it
/// once, so what is sent is moved, not copied (most reads name no attributes at all).
pub fn project(
    resource: Value,
    schema: &ResourceSchema,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) -> Value {
    let Value::Object(mut obj) = resource else {
        return resource;
    };
    let selected: Vec<ResolvedPath<'_>> = attributes.iter().map(|p| schema.resolve(p)).collect();
    let excluded: Vec<ResolvedPath<'_>> = excluded.iter().map(|p| schema.resolve(p)).collect();
    let rules = Rules {
        selected: &selected,
        excluded: &excluded,
    };
    // In place: what is kept stays where it is in the map, nothing is re-inserted.
    obj.retain(|key, value| {
        if key.eq_ignore_ascii_case("schemas") {
            return true;
        }
        if let (true, Value::Object(inner)) = (is_urn(key), &mut *value) {
            // An extension object: project its attributes one by one.
            let ext = schema.extension(key);
            let container = ext.map_or(key.as_str(), |e| e.schema.id);
            inner.retain(|name, v| {
                let def = ext.and_then(|e| e.schema.attribute(name));
                let at = Place {
                    container: Some(container),
                    stored_key: key,
                    name,
                };
                rules.project_in_place(&at, def, v)
            });
            return !inner.is_empty();
        }
        let def = schema.top_attribute(key);
        let at = Place {
            container: None,
            stored_key: key,
            name: key,
        };
        rules.project_in_place(&at, def, value)
    });
    Value::Object(obj)
}

/// Whether [`project`] with neither `attributes` nor `excludedAttributes` would return
/// `resource` as it is: nothing in it is `returned: never` or `request` (at the top, in
/// an extension, or as a sub-attribute its schema defines), and no extension object is
/// empty. An answer that would be unchanged is written without projecting it. Errs
/// towards `false`, which only costs the projection.
pub fn unchanged_by_default(resource: &Map<String, Value>, schema: &ResourceSchema) -> bool {
    resource.iter().all(|(key, value)| {
        if key.eq_ignore_ascii_case("schemas") {
            return true;
        }
        if let (true, Value::Object(inner)) = (is_urn(key), value) {
            let ext = schema.extension(key);
            return !inner.is_empty()
                && inner
                    .keys()
                    .all(|name| sent_whole(ext.and_then(|e| e.schema.attribute(name))));
        }
        sent_whole(schema.top_attribute(key))
    })
}

/// An attribute the default projection sends as stored: unknown ones (`returned:
/// default`, kept as sent), and known ones returned by default or always with no
/// sub-attribute that is not.
fn sent_whole(def: Option<&AttributeDef>) -> bool {
    let sent = |returned| matches!(returned, Returned::Default | Returned::Always);
    def.is_none_or(|d| sent(d.returned) && d.sub_attributes.iter().all(|s| sent(s.returned)))
}

fn is_urn(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// Where an attribute sits: its container (`None` = top level) and its name.
struct Place<'a> {
    container: Option<&'a str>,
    /// The stored key of the container (or of the attribute at top level).
    stored_key: &'a str,
    name: &'a str,
}

struct Rules<'r, 's> {
    selected: &'r [ResolvedPath<'s>],
    excluded: &'r [ResolvedPath<'s>],
}

/// What a list of paths says about one attribute.
#[derive(Default)]
struct Mention {
    whole_container: bool,
    whole: bool,
    subs: Vec<String>,
}

fn same(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

fn mention(paths: &[ResolvedPath<'_>], at: &Place<'_>) -> Mention {
    let mut m = Mention::default();
    for p in paths {
        let container = p.container.as_deref();
        match p.attr.as_deref() {
            None if same(container, at.container) => m.whole_container = true,
            None => {}
            // An unknown extension named by its URN parses as `{schema}:{last segment}`.
            Some(a)
                if at.container.is_some()
                    && p.sub_attr.is_none()
                    && container.is_some_and(|c| {
                        format!("{c}:{a}").eq_ignore_ascii_case(at.stored_key)
                    }) =>
            {
                m.whole_container = true
            }
            Some(a) if same(container, at.container) && a.eq_ignore_ascii_case(at.name) => {
                match &p.sub_attr {
                    None => m.whole = true,
                    Some(s) => m.subs.push(s.clone()),
                }
            }
            Some(_) => {}
        }
    }
    m
}

impl Rules<'_, '_> {
    /// [`Self::project_attr`] on a value inside its map: false when it is to be removed.
    fn project_in_place(
        &self,
        at: &Place<'_>,
        def: Option<&AttributeDef>,
        value: &mut Value,
    ) -> bool {
        match self.project_attr(at, def, std::mem::take(value)) {
            Some(projected) => {
                *value = projected;
                true
            }
            None => false,
        }
    }

    fn project_attr(
        &self,
        at: &Place<'_>,
        def: Option<&AttributeDef>,
        value: Value,
    ) -> Option<Value> {
        let returned = def.map_or(Returned::Default, |d| d.returned);
        match returned {
            Returned::Never => return None,
            Returned::Always => return Some(value),
            Returned::Default | Returned::Request => {}
        }
        let (mut v, named_subs) = if self.selected.is_empty() {
            if returned == Returned::Request {
                return None;
            }
            (value, Vec::new())
        } else {
            let m = mention(self.selected, at);
            if m.whole || (m.whole_container && returned == Returned::Default) {
                (value, Vec::new())
            } else if !m.subs.is_empty() {
                (keep_subs(value, &m.subs)?, m.subs)
            } else {
                return None;
            }
        };
        let x = mention(self.excluded, at);
        if x.whole || x.whole_container {
            return None;
        }
        // Sub-attributes: `never` always goes, `request` unless named, excluded ones go.
        if let Some(def) = def {
            for sub in &def.sub_attributes {
                let named = named_subs.iter().any(|n| n.eq_ignore_ascii_case(sub.name));
                if sub.returned == Returned::Never || (sub.returned == Returned::Request && !named)
                {
                    v = drop_sub(v, sub.name)?;
                }
            }
        }
        for sub in &x.subs {
            v = drop_sub(v, sub)?;
        }
        Some(v)
    }
}

/// Keeps only `subs` of a complex value (or of each element of a list); `None` if
/// nothing remains.
fn keep_subs(value: Value, subs: &[String]) -> Option<Value> {
    edit_objects(value, false, |m| {
        m.into_iter()
            .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .collect()
    })
}

/// Removes sub-attribute `sub` from a complex value (or each element of a list);
/// `None` if nothing remains.
fn drop_sub(value: Value, sub: &str) -> Option<Value> {
    edit_objects(value, true, |mut m| {
        m.retain(|k, _| !k.eq_ignore_ascii_case(sub));
        m
    })
}

/// Applies `edit` to a complex value, or to each complex element of a list, dropping
/// what it leaves empty; a value that is not an object is kept if `keep_others`.
fn edit_objects(
    value: Value,
    keep_others: bool,
    edit: impl Fn(Map<String, Value>) -> Map<String, Value>,
) -> Option<Value> {
    let object = |m| {
        let m = edit(m);
        (!m.is_empty()).then_some(Value::Object(m))
    };
    match value {
        Value::Object(m) => object(m),
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .into_iter()
                .filter_map(|e| match e {
                    Value::Object(m) => object(m),
                    other => keep_others.then_some(other),
                })
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => keep_others.then_some(other),
    }
}

#[cfg(test)]
mod tests;
