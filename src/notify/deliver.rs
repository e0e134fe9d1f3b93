//! Sending one queued notification to its sink.
use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{NotifySink, SinkKind};

pub const SIGNATURE_HEADER: &str = "x-scim-bridge-signature";
pub const TIMESTAMP_HEADER: &str = "x-scim-bridge-timestamp";
const EVENT_HEADER: &str = "x-scim-bridge-event";
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`: the receiver recomputes it
/// with the shared secret, and rejects old timestamps to refuse replays.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A sink ready to send: its configuration and its secret, read once.
pub(crate) struct Sink {
    pub config: NotifySink,
    secret: Option<SecretString>,
}

impl Sink {
    pub fn new(config: NotifySink) -> Result<Self, String> {
        let secret = match &config.secret {
            Some(secret) => Some(
                secret
                    .resolve()
                    .map_err(|e| format!("notify sink {}: secret: {e}", config.name))?,
            ),
            None => None,
        };
        Ok(Self { config, secret })
    }

    /// Delivers `payload`; `Err` says why it should be tried again.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        event: &str,
        payload: &Value,
    ) -> Result<(), String> {
        let body = match self.config.kind {
            SinkKind::Webhook => payload.to_string(),
            SinkKind::Slack => json!({"text": payload["text"]}).to_string(),
        };
        let mut request = client
            .post(&self.config.url)
            .timeout(SEND_TIMEOUT)
            .header("content-type", "application/json")
            .header(EVENT_HEADER, event);
        if let (SinkKind::Webhook, Some(secret)) = (self.config.kind, &self.secret) {
            let timestamp = chrono::Utc::now().timestamp().to_string();
            let signed = signature(
                secret.expose_secret().as_bytes(),
                &timestamp,
                body.as_bytes(),
            );
            request = request
                .header(TIMESTAMP_HEADER, timestamp)
                .header(SIGNATURE_HEADER, signed);
        }
        // The URL may hold a token (Slack's do): errors name the sink, never the URL.
        let answer = request
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach the sink: {}", e.without_url()))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the sink answered HTTP {}",
                answer.status().as_u16()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 covers the primitive; this pins the framing.
        let s = signature(b"key", "1700000000", b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(
            s,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert_ne!(s, signature(b"key", "1700000001", b"{}"));
        assert_ne!(s, signature(b"other", "1700000000", b"{}"));
    }
}
