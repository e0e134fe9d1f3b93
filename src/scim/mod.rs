//! The SCIM protocol and nothing else: resources as JSON, filters, PATCH, schemas,
//! projections, list parameters, errors. No I/O.
pub mod error;
pub mod etag;
pub mod filter;
pub mod params;
pub mod patch;
pub mod projection;
pub mod schema;
pub mod validate;
