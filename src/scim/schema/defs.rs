//! The attribute definitions themselves (RFC 7643 §4.1, §4.2, §4.3, §8.7.1 and the
//! bridge's read-only Bandwidth extension), kept apart from the machinery in `schema.rs`
//! so each reads as a table.
use std::sync::LazyLock;

use super::{
    AttrKind, AttributeDef, ExtensionDef, ResourceSchema, Returned, SchemaDef, Uniqueness,
    BRIDGE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA,
};

// ---------------------------------------------------------------------------------------

const STR: AttrKind = AttrKind::String { case_exact: false };
const STR_EXACT: AttrKind = AttrKind::String { case_exact: true };

fn s(name: &'static str) -> AttributeDef {
    AttributeDef::new(name, STR)
}

/// The multi-valued complex pattern of RFC 7643 §2.4 (value, display, type, primary).
fn multi_complex(
    name: &'static str,
    value_kind: AttrKind,
    types: &'static [&'static str],
    desc: &'static str,
) -> AttributeDef {
    AttributeDef::new(name, AttrKind::Complex)
        .multi()
        .desc(desc)
        .subs(vec![
            AttributeDef::new("value", value_kind).desc("The attribute's significant value."),
            s("display").desc("A human-readable name, primarily used for display purposes."),
            s("type")
                .canonical(types)
                .desc("A label indicating the attribute's function."),
            AttributeDef::new("primary", AttrKind::Boolean)
                .desc("Indicates the 'primary' or preferred attribute value; true at most once."),
        ])
}

fn common_attributes() -> Vec<AttributeDef> {
    vec![
        AttributeDef::new("id", STR_EXACT)
            .read_only()
            .returned(Returned::Always)
            .unique(Uniqueness::Server)
            .desc("Unique identifier issued by the service provider."),
        AttributeDef::new("externalId", STR_EXACT)
            .desc("Identifier of the resource as defined by the provisioning client."),
        AttributeDef::new("meta", AttrKind::Complex)
            .read_only()
            .desc("Resource metadata.")
            .subs(vec![
                s("resourceType")
                    .read_only()
                    .desc("Name of the resource type."),
                AttributeDef::new("created", AttrKind::DateTime)
                    .read_only()
                    .desc("When the resource was added to the service provider."),
                AttributeDef::new("lastModified", AttrKind::DateTime)
                    .read_only()
                    .desc("When the resource was last changed."),
                AttributeDef::new("location", AttrKind::Reference)
                    .read_only()
                    .refs(&["uri"])
                    .desc("URI of the resource."),
                AttributeDef::new("version", STR_EXACT)
                    .read_only()
                    .desc("Version (ETag) of the resource."),
            ]),
    ]
}

fn user_core() -> SchemaDef {
    SchemaDef {
        id: USER_SCHEMA,
        name: "User",
        description: "User Account",
        attributes: vec![
            s("userName")
                .required()
                .unique(Uniqueness::Server)
                .desc("Unique identifier for the User, used to authenticate; case-insensitive."),
            // RFC 7643 §8.7.1 leaves `name` optional, but §7 has each service provider
            // publish its own `required`: Bandwidth users cannot exist without a first and
            // last name (creation is refused with 400 invalidValue), so discovery says so
            // and clients that build users from `/Schemas` send them.
            AttributeDef::new("name", AttrKind::Complex)
                .required_upstream()
                .desc("The components of the user's real name; Bandwidth requires the given and family names.")
                .subs(vec![
                    s("formatted").desc("The full name, formatted for display."),
                    s("familyName")
                        .required_upstream()
                        .desc("The family name (last name); required by Bandwidth."),
                    s("givenName")
                        .required_upstream()
                        .desc("The given name (first name); required by Bandwidth."),
                    s("middleName").desc("The middle name(s)."),
                    s("honorificPrefix").desc("The honorific prefix(es), e.g. 'Ms.'."),
                    s("honorificSuffix").desc("The honorific suffix(es), e.g. 'III'."),
                ]),
            s("displayName").desc("The name of the User, suitable for display."),
            s("nickName").desc("The casual way to address the user."),
            AttributeDef::new("profileUrl", AttrKind::Reference)
                .refs(&["external"])
                .desc("A fully qualified URL pointing to the User's online profile."),
            s("title").desc("The user's title, such as 'Vice President'."),
            s("userType").desc("Relationship between organization and user, e.g. 'Employee'."),
            s("preferredLanguage").desc("Preferred written or spoken language (RFC 7231)."),
            s("locale").desc("Default location for localisation (e.g. 'en-US')."),
            s("timezone").desc("Time zone in IANA format (e.g. 'America/Los_Angeles')."),
            AttributeDef::new("active", AttrKind::Boolean)
                .desc("The User's administrative status."),
            AttributeDef::new("password", STR)
                .write_only()
                .returned(Returned::Never)
                .desc("The User's cleartext password; never returned."),
            // Required for the same reason as `name`: Bandwidth users need an email. A
            // userName that is an address also serves (the mapping falls back to it), so
            // the published rule is stricter than the enforced one, never looser.
            {
                let mut emails = multi_complex(
                    "emails",
                    STR,
                    &["work", "home", "other"],
                    "Email addresses; Bandwidth requires one (a userName that is an address also serves).",
                )
                .required_upstream();
                if let Some(v) = emails.sub_attributes.first_mut() {
                    v.required = true;
                    v.required_upstream = true;
                }
                emails
            },
            multi_complex(
                "phoneNumbers",
                STR,
                &["work", "home", "mobile", "fax", "pager", "other"],
                "Phone numbers.",
            ),
            multi_complex(
                "ims",
                STR,
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
                "Instant messaging addresses.",
            ),
            {
                let mut photos = multi_complex(
                    "photos",
                    AttrKind::Reference,
                    &["photo", "thumbnail"],
                    "URLs of images of the user.",
                );
                if let Some(v) = photos.sub_attributes.first_mut() {
                    v.reference_types = &["external"];
                }
                photos
            },
            AttributeDef::new("addresses", AttrKind::Complex)
                .multi()
                .desc("Physical mailing addresses.")
                .subs(vec![
                    s("formatted").desc("The full mailing address, formatted for display."),
                    s("streetAddress").desc("The full street address component."),
                    s("locality").desc("The city or locality component."),
                    s("region").desc("The state or region component."),
                    s("postalCode").desc("The zip code or postal code component."),
                    s("country").desc("The country name component (ISO 3166-1 alpha-2)."),
                    s("type")
                        .canonical(&["work", "home", "other"])
                        .desc("The address label."),
                    AttributeDef::new("primary", AttrKind::Boolean)
                        .desc("Indicates the preferred address; true at most once."),
                ]),
            AttributeDef::new("groups", AttrKind::Complex)
                .multi()
                .read_only()
                .desc("Groups the user belongs to, managed through the Group resource.")
                .subs(vec![
                    s("value").read_only().desc("The identifier of the Group."),
                    AttributeDef::new("$ref", AttrKind::Reference)
                        .read_only()
                        .refs(&["User", "Group"])
                        .desc("The URI of the Group."),
                    s("display")
                        .read_only()
                        .desc("A human-readable name of the Group."),
                    s("type")
                        .read_only()
                        .canonical(&["direct", "indirect"])
                        .desc("Membership kind."),
                ]),
            multi_complex("entitlements", STR, &[], "Entitlements of the user."),
            multi_complex("roles", STR, &[], "Roles of the user."),
            multi_complex(
                "x509Certificates",
                AttrKind::Binary,
                &[],
                "DER-encoded X.509 certificates, base64.",
            ),
        ],
    }
}

fn enterprise_user() -> SchemaDef {
    SchemaDef {
        id: ENTERPRISE_USER_SCHEMA,
        name: "EnterpriseUser",
        description: "Enterprise User",
        attributes: vec![
            s("employeeNumber").desc("Identifier assigned to a person by the organization."),
            s("costCenter").desc("Name of a cost center."),
            s("organization").desc("Name of an organization."),
            s("division").desc("Name of a division."),
            s("department").desc("Name of a department."),
            AttributeDef::new("manager", AttrKind::Complex)
                .desc("The User's manager.")
                .subs(vec![
                    s("value").desc("The id of the SCIM resource representing the manager."),
                    AttributeDef::new("$ref", AttrKind::Reference)
                        .refs(&["User"])
                        .desc("The URI of the manager's SCIM resource."),
                    s("displayName")
                        .read_only()
                        .desc("The displayName of the manager."),
                ]),
        ],
    }
}

fn bridge_user() -> SchemaDef {
    SchemaDef {
        id: BRIDGE_USER_SCHEMA,
        name: "BandwidthUser",
        description: "State of the user in Bandwidth, maintained by scim-bridge (read-only).",
        attributes: vec![
            AttributeDef::new("upstreamId", STR_EXACT).desc("The Bandwidth user id."),
            AttributeDef::new("upstreamUsername", STR_EXACT)
                .desc("The Bandwidth username; kept when the IdP renames userName."),
            s("roles").multi().desc("Effective Bandwidth role names."),
            s("accountScope")
                .canonical(&["ACCOUNT", "ACCOUNT_ADMIN"])
                .desc("Bandwidth account scope of the user."),
            s("accounts")
                .multi()
                .desc("Bandwidth accounts the user can access."),
            s("syncState")
                .canonical(&["synced", "pending", "failed", "deprovisioned", "held"])
                .desc("Where the last synchronisation to Bandwidth stands."),
            s("lastError").desc("The last synchronisation error, if any."),
            AttributeDef::new("lastSyncedAt", AttrKind::DateTime)
                .desc("When the user was last synchronised to Bandwidth."),
        ]
        .into_iter()
        .map(AttributeDef::all_read_only)
        .collect(),
    }
}

fn group_core() -> SchemaDef {
    SchemaDef {
        id: GROUP_SCHEMA,
        name: "Group",
        description: "Group",
        attributes: vec![
            s("displayName")
                .required()
                .desc("A human-readable name for the Group."),
            AttributeDef::new("members", AttrKind::Complex)
                .multi()
                .desc("A list of members of the Group.")
                .subs(vec![
                    // caseExact: member values are SCIM ids, which are case-sensitive.
                    AttributeDef::new("value", STR_EXACT)
                        .immutable()
                        .desc("Identifier of the member of this Group."),
                    AttributeDef::new("$ref", AttrKind::Reference)
                        .immutable()
                        .refs(&["User", "Group"])
                        .desc("The URI of the member resource."),
                    // Computed from the member (its displayName, else userName): the
                    // bridge stores memberships as ids only. Returned when asked for
                    // (`attributes=members.display`), so a group read echoes exactly
                    // the members a client wrote.
                    s("display")
                        .read_only()
                        .returned(Returned::Request)
                        .desc("A human-readable name of the member."),
                    s("type")
                        .immutable()
                        .canonical(&["User", "Group"])
                        .desc("The type of the member."),
                ]),
        ],
    }
}

static USER: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    common: common_attributes(),
    core: user_core(),
    extensions: vec![
        ExtensionDef {
            schema: enterprise_user(),
            required: false,
        },
        ExtensionDef {
            schema: bridge_user(),
            required: false,
        },
    ],
});

static GROUP: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    common: common_attributes(),
    core: group_core(),
    extensions: Vec::new(),
});

pub fn user() -> &'static ResourceSchema {
    &USER
}

pub fn group() -> &'static ResourceSchema {
    &GROUP
}
