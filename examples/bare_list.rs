//! The floor of `bench/run.sh`'s read path: a bare axum handler answering every
//! `GET /scim/v2/Users` with one fixed body (the bridge's own answer to a lookup, saved
//! by the script), on the same runtime and machine, under the same wrk load. The ratio
//! of the bridge's lookups to this is the bridge's per-request overhead, measured in the
//! same run so that the machine's load cancels out.
//!
//! `bare_list LISTEN_ADDR BODY_FILE [bytes|json]`: `bytes` sends the saved bytes as they
//! are (the transport alone); `json` (the usual shape of an axum handler) parses the
//! body once and answers `Json(value)`, serializing the ListResponse on every request.
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (listen, body_file, mode) = match args.as_slice() {
        [_, listen, body] => (listen, body, "bytes"),
        [_, listen, body, mode] => (listen, body, mode.as_str()),
        _ => return Err("usage: bare_list LISTEN_ADDR BODY_FILE [bytes|json]".into()),
    };
    let body = Bytes::from(std::fs::read(body_file)?);
    let app = match mode {
        "bytes" => Router::new().route(
            "/scim/v2/Users",
            get(move || {
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/scim+json")], body) }
            }),
        ),
        "json" => {
            let value: Value = serde_json::from_slice(&body)?;
            Router::new().route(
                "/scim/v2/Users",
                get(move || {
                    let value = value.clone();
                    async move { Json(value) }
                }),
            )
        }
        other => return Err(format!("unknown mode {other:?}: bytes or json").into()),
    };
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
