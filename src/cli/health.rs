//! `scim-bridge health`: asks a running bridge's `/healthz`, for container health checks
//! (the runtime image has no curl) and for scripts. Exit code 0 when it answers 200.
use std::path::Path;
use std::time::Duration;

use crate::config::Config;

/// The `/healthz` URL of the bridge `config` describes: its listen address, with an
/// unspecified host (`0.0.0.0`, `[::]`) replaced by loopback, over HTTPS when the
/// bridge serves TLS itself.
pub fn healthz_url(config: &Config) -> String {
    let listen = &config.server.listen;
    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    // A host name (`localhost:8080`) is what `serve` binds, so it is probed as written.
    let Ok(addr) = listen.parse::<std::net::SocketAddr>() else {
        return format!("{scheme}://{listen}/healthz");
    };
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("{scheme}://{ip}:{}/healthz", addr.port())
}

pub async fn run(
    config: Option<&Path>,
    url: Option<String>,
    timeout_secs: u64,
) -> Result<(), String> {
    let url = match (url, config) {
        (Some(url), _) => url,
        (None, Some(path)) => healthz_url(&Config::load(path).map_err(|e| e.to_string())?),
        (None, None) => {
            return Err("give --config FILE (or SCIM_BRIDGE_CONFIG) or --url URL".into())
        }
    };
    let loopback = url::Url::parse(&url)
        .map_err(|e| format!("{url}: {e}"))?
        .host()
        .is_some_and(|host| match host {
            url::Host::Domain(d) => d == "localhost",
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        });
    // The certificate names the public host, not loopback; on loopback the probe checks
    // that the process answers, which needs no certificate check.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .danger_accept_invalid_certs(loopback)
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status().is_success() {
        println!("{url}: {}", response.status());
        Ok(())
    } else {
        Err(format!("{url}: {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        Config::from_toml_str(&format!("[server]\n{extra}")).unwrap()
    }

    #[test]
    fn unspecified_listen_addresses_are_probed_on_loopback() {
        assert_eq!(
            healthz_url(&config("listen = \"0.0.0.0:8080\"")),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(
            healthz_url(&config("listen = \"[::]:9000\"")),
            "http://[::1]:9000/healthz"
        );
        assert_eq!(
            healthz_url(&config(
                "listen = \"10.0.0.5:8443\"\ntls = { cert_path = \"c.pem\", key_path = \"k.pem\" }"
            )),
            "https://10.0.0.5:8443/healthz"
        );
    }

    #[test]
    fn a_host_name_is_probed_as_written() {
        assert_eq!(
            healthz_url(&config("listen = \"localhost:8080\"")),
            "http://localhost:8080/healthz"
        );
    }
}
