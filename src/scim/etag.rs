//! Versions as HTTP entity tags (RFC 7644 §3.14): the `ETag` of a resource, and the
//! `If-Match` / `If-None-Match` checks against it. Pure, for every resource type.
use super::error::ScimError;

/// The ETag of a version, also `meta.version`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// `If-Match`: `*` or one of the listed ETags (weak or strong) must be the current one;
/// otherwise 412. No header matches everything.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = etag(version);
    let strong = format!("\"{version}\"");
    let ok = header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current || tag == strong);
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            412,
            None,
            format!("If-Match {header} does not match the current version {current}"),
        ))
    }
}

/// `If-None-Match` naming the current version (or `*`): the client's copy is fresh (304).
pub fn not_modified(if_none_match: Option<&str>, version: i64) -> bool {
    let current = etag(version);
    if_none_match.is_some_and(|h| h.split(',').any(|t| t.trim() == current || t.trim() == "*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_current_weak_strong_and_star() {
        assert!(check_if_match(None, 3).is_ok());
        assert!(check_if_match(Some("W/\"3\""), 3).is_ok());
        assert!(check_if_match(Some("\"3\""), 3).is_ok());
        assert!(check_if_match(Some("*"), 3).is_ok());
        assert!(check_if_match(Some("W/\"1\", W/\"3\""), 3).is_ok());
        assert!(check_if_match(Some("W/\"2\""), 3).is_err());
    }

    #[test]
    fn if_none_match_names_the_current_version_or_star() {
        assert!(!not_modified(None, 3));
        assert!(not_modified(Some("W/\"3\""), 3));
        assert!(not_modified(Some("W/\"1\", W/\"3\""), 3));
        assert!(not_modified(Some("*"), 3));
        assert!(!not_modified(Some("W/\"2\""), 3));
    }
}
