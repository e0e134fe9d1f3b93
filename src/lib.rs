//! scim-bridge: a SCIM 2.0 service provider that carries identity-provider changes on to
//! Bandwidth. See DESIGN.md in the shared folder for the architecture.
pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod notify;
pub mod provision;
pub mod scim;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod worker;
