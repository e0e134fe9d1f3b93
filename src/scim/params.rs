//! Query parameters of SCIM reads and lists (RFC 7644 §3.4.2, §3.9), parsed from the raw
//! query so that odd encodings (OneLogin's `+` for spaces, a trailing `&`) and bad
//! percent-escapes become SCIM answers rather than framework rejections.
use super::error::ScimError;
use super::filter::{parse_attr_path, parse_filter, AttrPath, Filter};

#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 1-based; values below 1 are read as 1 (RFC 7644 §3.4.2.4).
    pub start_index: u64,
    /// `None` = the server's page size.
    pub count: Option<u64>,
    pub attributes: Vec<AttrPath>,
    pub excluded_attributes: Vec<AttrPath>,
    pub sort_by: Option<AttrPath>,
    /// `sortOrder=descending`; ascending is the default (RFC 7644 §3.4.2.3).
    pub descending: bool,
}

impl ListParams {
    pub fn from_query(query: Option<&str>) -> Result<Self, ScimError> {
        let mut params = ListParams {
            start_index: 1,
            ..Default::default()
        };
        let Some(query) = query else {
            return Ok(params);
        };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.to_ascii_lowercase().as_str() {
                "filter" if !value.trim().is_empty() => params.filter = Some(filter(&value)?),
                "startindex" => params.start_index = parse_int(&key, &value)?.max(1) as u64,
                "count" => params.count = Some(parse_int(&key, &value)?.max(0) as u64),
                "attributes" => params.attributes = parse_paths(&value)?,
                "excludedattributes" => params.excluded_attributes = parse_paths(&value)?,
                "sortby" if !value.trim().is_empty() => {
                    params.sort_by = Some(parse_attr_path(value.trim())?)
                }
                "sortorder" => {
                    params.descending = match value.trim().to_ascii_lowercase().as_str() {
                        "ascending" | "" => false,
                        "descending" => true,
                        other => {
                            return Err(ScimError::invalid_value(format!(
                                "sortOrder must be ascending or descending, got {other:?}"
                            )))
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(params)
    }

    /// A `POST .search` body (RFC 7644 §3.4.3): the same parameters as JSON, with
    /// attribute lists as arrays.
    pub fn from_search_body(body: &serde_json::Value) -> Result<Self, ScimError> {
        let Some(map) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest must be a JSON object",
            ));
        };
        check_search_request(map)?;
        let mut params = ListParams {
            start_index: 1,
            ..Default::default()
        };
        for (key, value) in map {
            let text = || {
                value
                    .as_str()
                    .ok_or_else(|| ScimError::invalid_value(format!("{key} must be a string")))
            };
            let int = || match value {
                serde_json::Value::Number(n) => n
                    .as_i64()
                    .ok_or_else(|| ScimError::invalid_value(format!("{key} must be an integer"))),
                serde_json::Value::String(s) => parse_int(key, s),
                _ => Err(ScimError::invalid_value(format!(
                    "{key} must be an integer"
                ))),
            };
            let paths = || -> Result<Vec<AttrPath>, ScimError> {
                match value {
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|i| match i.as_str() {
                            Some(s) => parse_attr_path(s.trim()),
                            None => Err(ScimError::invalid_value(format!(
                                "{key} must list attribute names"
                            ))),
                        })
                        .collect(),
                    serde_json::Value::String(s) => parse_paths(s),
                    _ => Err(ScimError::invalid_value(format!(
                        "{key} must be an array of attribute names"
                    ))),
                }
            };
            match key.to_ascii_lowercase().as_str() {
                "filter" => {
                    let f = text()?;
                    if !f.trim().is_empty() {
                        params.filter = Some(filter(f)?);
                    }
                }
                "startindex" => params.start_index = int()?.max(1) as u64,
                "count" => params.count = Some(int()?.max(0) as u64),
                "attributes" => params.attributes = paths()?,
                "excludedattributes" => params.excluded_attributes = paths()?,
                "sortby" => params.sort_by = Some(parse_attr_path(text()?.trim())?),
                "sortorder" => params.descending = text()?.eq_ignore_ascii_case("descending"),
                _ => {}
            }
        }
        Ok(params)
    }

    /// The page size to use: what was asked, capped by the server's maximum.
    pub fn page_size(&self, max: u64) -> u64 {
        self.count.unwrap_or(max).min(max)
    }
}

/// RFC 7644 §3.4.3 SearchRequest URN.
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Members a SearchRequest may have (RFC 7644 §3.4.3), lower-cased.
const SEARCH_MEMBERS: &[&str] = &[
    "schemas",
    "filter",
    "startindex",
    "count",
    "attributes",
    "excludedattributes",
    "sortby",
    "sortorder",
];

/// A body that is not a SearchRequest (a `schemas` without the SearchRequest URN, or
/// members a SearchRequest does not have, as when a User is posted to `.search` by
/// mistake) is `400 invalidSyntax` rather than a search with no filter that lists
/// everything. A missing `schemas` is accepted, as for PATCH: nothing is ambiguous
/// without it.
fn check_search_request(map: &serde_json::Map<String, serde_json::Value>) -> Result<(), ScimError> {
    let schemas = map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v);
    if let Some(schemas) = schemas {
        let declared = schemas.as_array().is_some_and(|list| {
            list.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
            })
        });
        if !declared {
            return Err(ScimError::invalid_syntax(format!(
                "not a SearchRequest: schemas must contain {SEARCH_REQUEST_SCHEMA}"
            )));
        }
    }
    if let Some(other) = map
        .keys()
        .find(|k| !SEARCH_MEMBERS.contains(&k.to_ascii_lowercase().as_str()))
    {
        return Err(ScimError::invalid_syntax(format!(
            "not a SearchRequest: it has no member {other:?}"
        )));
    }
    Ok(())
}

/// A filter parameter: parsed, and its values held to the character rule of
/// [`validate`](super::validate) before they reach the store.
fn filter(text: &str) -> Result<Filter, ScimError> {
    let filter = parse_filter(text)?;
    super::validate::check_filter(&filter)?;
    Ok(filter)
}

fn parse_int(key: &str, value: &str) -> Result<i64, ScimError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{key} must be an integer, got {value:?}")))
}

/// A comma-separated attribute list.
pub fn parse_paths(value: &str) -> Result<Vec<AttrPath>, ScimError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_attr_path)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let p = ListParams::from_query(None).unwrap();
        assert_eq!(p.start_index, 1);
        assert_eq!(p.count, None);
        assert!(p.filter.is_none());
        assert_eq!(p.page_size(100), 100);
    }

    #[test]
    fn onelogin_plus_encoding_and_trailing_ampersand() {
        let p = ListParams::from_query(Some("filter=userName+eq+%22jdoe%40x.com%22&")).unwrap();
        assert!(p.filter.is_some());
    }

    #[test]
    fn paging_values_are_clamped() {
        let p = ListParams::from_query(Some("startIndex=0&count=-5")).unwrap();
        assert_eq!((p.start_index, p.count), (1, Some(0)));
        let p = ListParams::from_query(Some("startindex=3&COUNT=5000")).unwrap();
        assert_eq!((p.start_index, p.page_size(1000)), (3, 1000));
    }

    #[test]
    fn bad_values_are_scim_errors() {
        assert_eq!(
            ListParams::from_query(Some("count=ten"))
                .unwrap_err()
                .status,
            400
        );
        let e = ListParams::from_query(Some("filter=userName+eq")).unwrap_err();
        assert_eq!(
            e.scim_type,
            Some(crate::scim::error::ScimType::InvalidFilter)
        );
    }

    #[test]
    fn search_body() {
        let body = serde_json::json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter":"userName eq \"a\"","startIndex":2,"count":"5","attributes":["userName","name.givenName"],
            "sortBy":"userName","sortOrder":"descending"});
        let p = ListParams::from_search_body(&body).unwrap();
        assert!(p.filter.is_some());
        assert_eq!(
            (p.start_index, p.count, p.attributes.len(), p.descending),
            (2, Some(5), 2, true)
        );
        assert!(ListParams::from_search_body(&serde_json::json!([])).is_err());
        let search = |extra: serde_json::Value| {
            let mut body = serde_json::json!({"schemas": [SEARCH_REQUEST_SCHEMA]});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            ListParams::from_search_body(&body)
        };
        assert!(search(serde_json::json!({"count": true})).is_err());
        assert!(search(serde_json::json!({"filter": "bad ("})).is_err());
        assert!(search(serde_json::json!({})).is_ok());
    }

    #[test]
    fn a_body_that_is_not_a_search_request_is_invalid_syntax() {
        use crate::scim::error::ScimType;
        for body in [
            serde_json::json!({"userName": "a"}),
            serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
            serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a"}),
            serde_json::json!({"schemas": SEARCH_REQUEST_SCHEMA}),
            serde_json::json!({"schemas": [SEARCH_REQUEST_SCHEMA], "userName": "a"}),
            serde_json::json!("x"),
        ] {
            let e = ListParams::from_search_body(&body).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{body}");
        }
        let lower = serde_json::json!({"SCHEMAS": [SEARCH_REQUEST_SCHEMA.to_ascii_lowercase()], "Count": 1});
        assert!(ListParams::from_search_body(&lower).is_ok());
        // Without `schemas`, a body of SearchRequest members is one.
        assert!(ListParams::from_search_body(&serde_json::json!({"count": 10})).is_ok());
        assert!(ListParams::from_search_body(&serde_json::json!({})).is_ok());
    }

    #[test]
    fn filter_values_with_control_characters_are_refused() {
        use crate::scim::error::ScimType;
        let e = ListParams::from_query(Some("filter=userName+eq+%22a%5Cu0000%22")).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{e}");
        let body = serde_json::json!({"schemas": [SEARCH_REQUEST_SCHEMA], "filter": "title eq \"\\u0000\""});
        let e = ListParams::from_search_body(&body).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{e}");
    }

    #[test]
    fn sorting() {
        let p =
            ListParams::from_query(Some("sortBy=name.familyName&sortOrder=DESCENDING")).unwrap();
        assert_eq!(p.sort_by.unwrap().sub_attr.as_deref(), Some("familyName"));
        assert!(p.descending);
        assert!(ListParams::from_query(Some("sortOrder=sideways")).is_err());
        assert!(
            !ListParams::from_query(Some("sortBy=userName"))
                .unwrap()
                .descending
        );
    }

    #[test]
    fn attribute_lists() {
        let p = ListParams::from_query(Some(
            "attributes=userName,%20name.givenName&excludedAttributes=members",
        ))
        .unwrap();
        assert_eq!(p.attributes.len(), 2);
        assert_eq!(p.excluded_attributes.len(), 1);
    }
}
