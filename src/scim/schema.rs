//! Attribute definitions of the schemas the bridge serves (RFC 7643 §4, §8.7): the single
//! source for validation, filter typing (caseExact, dateTime), projections (`returned`)
//! and the `/Schemas` discovery documents.
//!
//! Definitions are plain data built once (`LazyLock`), so the PATCH engine, the projection
//! and the discovery endpoints cannot disagree about an attribute's type or mutability.

use serde_json::{json, Map, Value};

use super::filter::AttrPath;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const BRIDGE_USER_SCHEMA: &str = "urn:scim-bridge:schemas:extension:bandwidth:2.0:User";
/// Sent by some older OneLogin templates; read as the core User schema.
pub const LEGACY_CORE_SCHEMA: &str = "urn:scim:schemas:core:2.0";
/// The legacy URN with a resource suffix, also seen from OneLogin.
pub const LEGACY_CORE_USER_SCHEMA: &str = "urn:scim:schemas:core:2.0:User";
/// Legacy Group URN (same family as [`LEGACY_CORE_SCHEMA`]).
pub const LEGACY_CORE_GROUP_SCHEMA: &str = "urn:scim:schemas:core:2.0:Group";
/// RFC 7643 §7: the schema of a `/Schemas` resource.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// RFC 7643 §6: the schema of a `/ResourceTypes` resource.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    String { case_exact: bool },
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Binary,
    Complex,
}

impl AttrKind {
    /// The RFC 7643 §7 `type` name.
    pub fn type_name(self) -> &'static str {
        match self {
            AttrKind::String { .. } => "string",
            AttrKind::Boolean => "boolean",
            AttrKind::Decimal => "decimal",
            AttrKind::Integer => "integer",
            AttrKind::DateTime => "dateTime",
            AttrKind::Reference => "reference",
            AttrKind::Binary => "binary",
            AttrKind::Complex => "complex",
        }
    }
}

/// What the filter evaluator needs to know about an attribute. `None` = unknown attribute
/// (RFC 7644: a filter on an unknown attribute matches nothing).
pub trait AttributeTypes {
    fn kind_of(&self, path: &AttrPath) -> Option<AttrKind>;
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute (or sub-attribute) definition, RFC 7643 §7.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDef {
    pub name: &'static str,
    pub kind: AttrKind,
    pub multi_valued: bool,
    pub required: bool,
    /// Published as `required` because Bandwidth cannot hold a user without it, but
    /// enforced by the provisioning mapping, which knows the fallbacks (an email may come
    /// from a userName that is an address) and names the Bandwidth rule in its error; the
    /// PATCH engine's own `required` check leaves these alone so that a PATCH the mapping
    /// accepts is not refused earlier for a stricter reason.
    pub required_upstream: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A readWrite, single-valued, optional, `returned: default` attribute; the builder
    /// methods below adjust it, so each definition reads like the RFC's table row.
    pub fn new(name: &'static str, kind: AttrKind) -> Self {
        Self {
            name,
            kind,
            multi_valued: false,
            required: false,
            required_upstream: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            description: "",
            sub_attributes: Vec::new(),
        }
    }

    /// RFC 7643 `caseExact`: declared on strings; binary values are compared exactly.
    pub fn case_exact(&self) -> bool {
        match self.kind {
            AttrKind::String { case_exact } => case_exact,
            AttrKind::Binary => true,
            _ => false,
        }
    }

    /// Sub-attribute by name, case-insensitively (RFC 7643 §2.1: names are case-insensitive).
    pub fn sub(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// See [`AttributeDef::required_upstream`]: published `required: true`, not enforced by
    /// the PATCH engine.
    fn required_upstream(mut self) -> Self {
        self.required = true;
        self.required_upstream = true;
        self
    }
    fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self
    }
    fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }
    fn unique(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }
    fn desc(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }
    fn subs(mut self, subs: Vec<AttributeDef>) -> Self {
        self.sub_attributes = subs;
        self
    }
    /// Marks this attribute and every sub-attribute readOnly (whole read-only schemas).
    fn all_read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self.sub_attributes = self
            .sub_attributes
            .into_iter()
            .map(Self::all_read_only)
            .collect();
        self
    }

    /// The RFC 7643 §7 attribute representation.
    pub fn to_document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("name".into(), json!(self.name));
        doc.insert("type".into(), json!(self.kind.type_name()));
        doc.insert("multiValued".into(), json!(self.multi_valued));
        doc.insert("description".into(), json!(self.description));
        doc.insert("required".into(), json!(self.required));
        doc.insert("caseExact".into(), json!(self.case_exact()));
        doc.insert("mutability".into(), json!(self.mutability.as_str()));
        doc.insert("returned".into(), json!(self.returned.as_str()));
        doc.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        if !self.canonical_values.is_empty() {
            doc.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            doc.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if !self.sub_attributes.is_empty() {
            let subs: Vec<Value> = self.sub_attributes.iter().map(Self::to_document).collect();
            doc.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(doc)
    }
}

/// One schema (core or extension), RFC 7643 §7.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `/Schemas/{id}` resource (RFC 7643 §7, meta per §8.7).
    pub fn to_document(&self) -> Value {
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(AttributeDef::to_document)
            .collect();
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": attributes,
            "meta": {
                "resourceType": "Schema",
                "location": format!("/Schemas/{}", self.id),
            }
        })
    }
}

/// An extension schema attached to a resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionDef {
    pub schema: SchemaDef,
    /// `schemaExtensions[].required` of the resource type.
    pub required: bool,
}

/// One resource type: core schema + extensions + the common attributes (RFC 7643 §3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSchema {
    /// Resource type name (`User`, `Group`), also its `/ResourceTypes` id.
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    /// `id`, `externalId`, `meta`: part of every resource but, per RFC 7643 §3.1, not
    /// of any schema, so they are not rendered in `/Schemas`.
    pub common: Vec<AttributeDef>,
    pub core: SchemaDef,
    pub extensions: Vec<ExtensionDef>,
}

/// Where a path points once its URN prefix is understood.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPath<'a> {
    /// `None`: the resource's top level (core or common attribute). `Some(urn)`: inside the
    /// extension object keyed by `urn` (canonical spelling for known extensions, as written
    /// for unknown ones). With `attr: None` it names the whole extension (or, for `None`,
    /// the whole core schema, from a bare core URN).
    pub container: Option<String>,
    /// `None` when the path names a whole extension (`urn:...:enterprise:2.0:User`).
    pub attr: Option<String>,
    pub sub_attr: Option<String>,
    /// The known extension the container is, if any.
    pub extension: Option<&'a ExtensionDef>,
    /// Definition of `attr`, `None` for unknown attributes.
    pub def: Option<&'a AttributeDef>,
    /// Definition of `sub_attr`, `None` if unknown or absent.
    pub sub_def: Option<&'a AttributeDef>,
}

impl<'a> ResolvedPath<'a> {
    /// The definition the path finally designates (sub-attribute if given).
    pub fn target_def(&self) -> Option<&'a AttributeDef> {
        if self.sub_attr.is_some() {
            self.sub_def
        } else {
            self.def
        }
    }

    /// Whether a client may not write here: a readOnly attribute or sub-attribute, or a
    /// whole read-only extension (every attribute readOnly, e.g. the bridge's own).
    pub fn is_read_only(&self) -> bool {
        let ro = |d: Option<&AttributeDef>| d.is_some_and(|d| d.mutability == Mutability::ReadOnly);
        if ro(self.def) || ro(self.sub_def) {
            return true;
        }
        match (self.attr.as_ref(), self.extension) {
            (None, Some(ext)) => ext
                .schema
                .attributes
                .iter()
                .all(|a| a.mutability == Mutability::ReadOnly),
            _ => false,
        }
    }
}

/// True for the core URNs (current and legacy) of any resource type.
pub fn is_core_urn(urn: &str, schema: &ResourceSchema) -> bool {
    urn.eq_ignore_ascii_case(schema.core.id)
        || urn.eq_ignore_ascii_case(LEGACY_CORE_SCHEMA)
        || (schema.core.id == USER_SCHEMA && urn.eq_ignore_ascii_case(LEGACY_CORE_USER_SCHEMA))
        || (schema.core.id == GROUP_SCHEMA && urn.eq_ignore_ascii_case(LEGACY_CORE_GROUP_SCHEMA))
}

impl ResourceSchema {
    /// Known extension by URN, case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&ExtensionDef> {
        self.extensions
            .iter()
            .find(|e| e.schema.id.eq_ignore_ascii_case(urn))
    }

    /// Top-level (common or core) attribute by name.
    pub fn top_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.common
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .or_else(|| self.core.attribute(name))
    }

    /// Every URN this resource type reads as a schema prefix, longest first so that
    /// `urn:scim:schemas:core:2.0:User` is tried before `urn:scim:schemas:core:2.0`.
    fn known_urns(&self) -> Vec<&'static str> {
        let mut urns = vec![self.core.id, LEGACY_CORE_SCHEMA];
        if self.core.id == USER_SCHEMA {
            urns.push(LEGACY_CORE_USER_SCHEMA);
        }
        if self.core.id == GROUP_SCHEMA {
            urns.push(LEGACY_CORE_GROUP_SCHEMA);
        }
        urns.extend(self.extensions.iter().map(|e| e.schema.id));
        urns.sort_by_key(|u| std::cmp::Reverse(u.len()));
        urns
    }

    /// Splits `text` into a known schema URN and the rest (`None` rest = the URN alone),
    /// so URN-qualified paths never depend on how a generic parser splits a URN with
    /// colons in it.
    pub fn split_known_urn<'t>(&self, text: &'t str) -> Option<(&'static str, Option<&'t str>)> {
        for urn in self.known_urns() {
            let Some(head) = text.get(..urn.len()) else {
                continue;
            };
            if !head.eq_ignore_ascii_case(urn) {
                continue;
            }
            let rest = &text[urn.len()..];
            if rest.is_empty() {
                return Some((urn, None));
            }
            if let Some(attr) = rest.strip_prefix(':') {
                return Some((urn, Some(attr)));
            }
        }
        None
    }

    /// Resolves a parsed path (URN-qualified or not, any case) against this resource type.
    pub fn resolve(&self, path: &AttrPath) -> ResolvedPath<'_> {
        // Re-join the URN so both `{schema: "urn:..:2.0", attr: "User"}` and
        // `{schema: "urn:..:User", attr: "department"}` splits are understood.
        let full = match &path.schema {
            Some(s) => format!("{s}:{}", path.attr),
            None => path.attr.clone(),
        };
        let (container, attr, sub) = match self.split_known_urn(&full) {
            // A bare URN: the whole extension, or (container `None`) the whole core.
            Some((urn, None)) if is_core_urn(urn, self) => (None, None, None),
            Some((urn, None)) => (Some(urn.to_string()), None, None),
            Some((urn, Some(rest))) => {
                let c = if is_core_urn(urn, self) {
                    None
                } else {
                    Some(urn.to_string())
                };
                // `rest` is the attribute; the sub-attribute stays in `path.sub_attr`.
                (c, Some(rest.to_string()), path.sub_attr.clone())
            }
            None => (
                path.schema.clone(),
                Some(path.attr.clone()),
                path.sub_attr.clone(),
            ),
        };
        // A sub-attribute written into `attr` (`manager.value` after a URN) is split here.
        let (attr, sub) = match (attr, sub) {
            (Some(a), None) if a.contains('.') => {
                let (x, y) = a.split_once('.').unwrap_or((a.as_str(), ""));
                (Some(x.to_string()), Some(y.to_string()))
            }
            other => other,
        };
        let extension = container.as_deref().and_then(|c| self.extension(c));
        let def = match (&container, &attr, extension) {
            (None, Some(a), _) => self.top_attribute(a),
            (Some(_), Some(a), Some(ext)) => ext.schema.attribute(a),
            _ => None,
        };
        let sub_def = match (def, &sub) {
            (Some(d), Some(s)) => d.sub(s),
            _ => None,
        };
        let container = match (container, extension) {
            (Some(_), Some(ext)) => Some(ext.schema.id.to_string()),
            (c, _) => c,
        };
        ResolvedPath {
            container,
            attr,
            sub_attr: sub,
            extension,
            def,
            sub_def,
        }
    }

    /// Attribute definition a path designates (sub-attribute if the path has one).
    pub fn attribute(&self, path: &AttrPath) -> Option<&AttributeDef> {
        self.resolve(path).target_def()
    }

    /// The `/ResourceTypes/{name}` document (RFC 7643 §6).
    pub fn resource_type_document(&self) -> Value {
        let extensions: Vec<Value> = self
            .extensions
            .iter()
            .map(|e| json!({"schema": e.schema.id, "required": e.required}))
            .collect();
        let mut doc = json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.core.id,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("/ResourceTypes/{}", self.name),
            }
        });
        if !extensions.is_empty() {
            doc["schemaExtensions"] = Value::Array(extensions);
        }
        doc
    }
}

impl AttributeTypes for ResourceSchema {
    fn kind_of(&self, path: &AttrPath) -> Option<AttrKind> {
        self.attribute(path).map(|d| d.kind)
    }
}

mod defs;
pub mod grants;
mod legacy;
pub use defs::{group, user};
pub use legacy::normalize_schemas;

/// Every schema as its RFC 7643 §7 `/Schemas` resource, each schema once.
pub fn schema_documents() -> Vec<Value> {
    let mut docs = vec![user().core.to_document()];
    docs.extend(user().extensions.iter().map(|e| e.schema.to_document()));
    docs.push(group().core.to_document());
    docs.push(grants::role().core.to_document());
    docs.push(grants::entitlement().core.to_document());
    docs
}

/// The `/ResourceTypes` resources (RFC 7643 §6).
pub fn resource_type_documents() -> Vec<Value> {
    vec![
        user().resource_type_document(),
        group().resource_type_document(),
        grants::role().resource_type_document(),
        grants::entitlement().resource_type_document(),
    ]
}

#[cfg(test)]
mod tests;
