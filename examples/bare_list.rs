//! The floor of `bench/run.sh`'s read path: a bare axum handler answering every
//! `GET /scim/v2/Users` with one fixed body (the bridge's own answer to a lookup, saved
//! by the script), on the same runtime and machine, under the same wrk load. The ratio
//! of the bridge's lookups to this is the bridge's per-request overhead, measured in the
//! same run so that the machine's mood cancels out.
//!
//! `bare_list LISTEN_ADDR BODY_FILE`
use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, body_file] = args.as_slice() else {
        return Err("usage: bare_list LISTEN_ADDR BODY_FILE".into());
    };
    let body = Bytes::from(std::fs::read(body_file)?);
    let app = Router::new().route(
        "/scim/v2/Users",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/scim+json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
