//! The effective configuration as the console shows it. Rendered from the parsed
//! configuration's debug form (so defaults show), with every value whose key names a
//! secret, hash or credential replaced, and database URLs without their password.
use crate::config::Config;

/// Keys whose values are never shown (matched as parts of the key).
const SECRET_KEYS: &[&str] = &[
    "secret",
    "password",
    "token",
    "sha256",
    "hash",
    "key",
    "credential",
    "private",
];

fn redact_line(line: &str) -> String {
    let Some((key, value)) = line.split_once(": ") else {
        return line.to_string();
    };
    let name = key.trim().to_ascii_lowercase();
    let value = value.trim_end_matches(',');
    // A list or struct opening: its own lines are redacted one by one. A reference to
    // an environment variable or a file names where the secret is, not the secret.
    let opening = value.ends_with('[') || value.ends_with('{') || value.ends_with('(');
    let reference = value.contains("env:") || value.contains("file:");
    let shown = if name.ends_with("url") {
        format!("\"{}\"", crate::app::redact_url(value.trim_matches('"')))
    } else if SECRET_KEYS.iter().any(|k| name.contains(k))
        && !opening
        && !reference
        && value != "None"
        && value != "[]"
    {
        "\"***\"".to_string()
    } else {
        return line.to_string();
    };
    let comma = if line.ends_with(',') { "," } else { "" };
    format!("{key}: {shown}{comma}")
}

pub fn effective_config(config: &Config) -> String {
    let text = format!("{config:#?}");
    text.lines().map(redact_line).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hashes_and_url_passwords_are_replaced() {
        assert_eq!(
            redact_line("    client_secret: Some(Literal(\"s3cr3t\")),"),
            "    client_secret: \"***\","
        );
        assert_eq!(
            redact_line("    password_hash: \"$argon2id$x\","),
            "    password_hash: \"***\","
        );
        assert_eq!(
            redact_line("    metrics_token: None,"),
            "    metrics_token: None,"
        );
        assert_eq!(
            redact_line("    url: \"postgres://u:pw@h/db\","),
            "    url: \"postgres://u:***@h/db\","
        );
        assert_eq!(redact_line("    base_roles: ["), "    base_roles: [");
        assert_eq!(redact_line("    tokens: ["), "    tokens: [");
        assert_eq!(
            redact_line("    client_secret: Some(env:BW_SECRET),"),
            "    client_secret: Some(env:BW_SECRET),"
        );
    }
}
