//! What is checked before a request is routed, so that odd-but-real requests reach the
//! endpoint they mean and hostile ones get a SCIM error rather than a framework's bare
//! status: a doubled or trailing slash (an admin who pastes the base URL with a trailing
//! `/` makes some IdPs send `//Users`), a path segment that is not UTF-8 or holds a
//! control character (it would name an id the store cannot hold), an oversized URL
//! (414) or header block (431).
//!
//! hyper answers bare 414 and 431 itself beyond its own limits (a request line over
//! 64 KiB, a head over its ~400 KiB read buffer, more than 100 headers); the limits here
//! are lower, so every request an IdP or a probe plausibly sends is answered here.
use axum::extract::Request;
use axum::http::uri::PathAndQuery;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::scim::error::ScimError;
use crate::scim::validate;

/// Longest request target (path and query) answered; longer is 414. Filters an IdP
/// sends are far shorter; a long search belongs in `POST .search`.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Largest header block answered; larger is 431. An Entra JWT is about 2 KiB.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The answer refusing `request` (414, 431, or 400 for a path no id could hold), or
/// `None` once its URI is in the normal form; run before routing (by
/// [`super::frame`]), so that the rewritten path is the one routed.
pub fn refusal(request: &mut Request) -> Option<Response> {
    if let Some(refusal) = oversized(request) {
        return Some(refusal.into_response());
    }
    if let Err(e) = check_path(request.uri().path()) {
        return Some(ApiError::from(e).into_response());
    }
    if let Some(uri) = normalized_uri(request.uri()) {
        *request.uri_mut() = uri;
    }
    None
}

/// The 414 of a request whose URL is over [`MAX_URL_BYTES`], or the 431 of one whose
/// headers are over [`MAX_HEADER_BYTES`].
fn oversized(request: &Request) -> Option<ApiError> {
    let target_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if target_len > MAX_URL_BYTES {
        let why = format!("the request URL is {target_len} bytes long; at most {MAX_URL_BYTES} are accepted (use POST .search for long filters)");
        Some(ApiError::new(414, None, why))
    } else if header_bytes > MAX_HEADER_BYTES {
        let why = format!(
            "the request headers are {header_bytes} bytes; at most {MAX_HEADER_BYTES} are accepted"
        );
        Some(ApiError::new(431, None, why))
    } else {
        None
    }
}

/// Every segment of `path`, percent-decoded, must be UTF-8 and pass the character rule
/// of [`validate`]: the segments are ids the store would be asked about.
fn check_path(path: &str) -> Result<(), ScimError> {
    for segment in path.split('/') {
        let decoded = percent_decode(segment);
        let text = std::str::from_utf8(&decoded).map_err(|_| {
            ScimError::invalid_value("the request path is not valid UTF-8 once percent-decoded")
        })?;
        validate::check_text("the request path", text)?;
    }
    Ok(())
}

fn percent_decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The path with runs of `/` collapsed and a trailing `/` removed (the query kept), or
/// `None` when it is already so.
fn normalized_uri(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let mut clean = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && clean.ends_with('/') {
            continue;
        }
        clean.push(c);
    }
    if clean.len() > 1 && clean.ends_with('/') {
        clean.pop();
    }
    if clean == path {
        return None;
    }
    let target = match uri.query() {
        Some(q) => format!("{clean}?{q}"),
        None => clean,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(target).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let uri: Uri = s.parse().unwrap();
        normalized_uri(&uri).map_or_else(|| s.to_string(), |u| u.to_string())
    }

    #[test]
    fn slashes_are_collapsed_and_trailing_ones_dropped() {
        assert_eq!(norm("/scim/v2/Users"), "/scim/v2/Users");
        assert_eq!(norm("/scim/v2/Users/"), "/scim/v2/Users");
        assert_eq!(norm("/scim/v2//Users"), "/scim/v2/Users");
        assert_eq!(norm("//scim//v2///Users//"), "/scim/v2/Users");
        assert_eq!(
            norm("/scim/v2//Users/?filter=userName%20eq%20%22a%22&"),
            "/scim/v2/Users?filter=userName%20eq%20%22a%22&"
        );
        assert_eq!(norm("/"), "/");
        assert_eq!(
            norm("http://h:1/scim/v2//Groups?x=1"),
            "http://h:1/scim/v2/Groups?x=1"
        );
    }

    #[test]
    fn path_segments_must_be_utf8_without_control_characters() {
        for good in [
            "/scim/v2/Users/0b2c-ünï",
            "/scim/v2/Users/caf%C3%A9",
            "/scim/v2/Users/100%",
            "/scim/v2/Users/a%2",
        ] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in [
            "/scim/v2/Users/%ff%fe",
            "/scim/v2/Users/%00",
            "/scim/v2/Groups/a%1Fb",
            "/scim/v2/Users/%C3",
        ] {
            let e = check_path(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidValue),
                "{bad}"
            );
        }
    }
}
