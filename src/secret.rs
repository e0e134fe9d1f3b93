//! Secrets in configuration are references: an environment variable or a file (a
//! Kubernetes or Docker secret mount). A plain string is accepted too, because an
//! environment override (`SCIM_BRIDGE__...=value`) arrives as one.
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretRef {
    Env { env: String },
    File { file: String },
    Inline(String),
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env { env } => write!(f, "env:{env}"),
            SecretRef::File { file } => write!(f, "file:{file}"),
            SecretRef::Inline(_) => f.write_str("inline:***"),
        }
    }
}

impl SecretRef {
    /// Reads the secret. The error names where it looked, never the value.
    pub fn resolve(&self) -> Result<SecretString, String> {
        let value = match self {
            SecretRef::Env { env } => {
                std::env::var(env).map_err(|_| format!("environment variable {env} is not set"))?
            }
            SecretRef::File { file } => std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read secret file {file}: {e}"))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            SecretRef::Inline(value) => value.clone(),
        };
        if value.is_empty() {
            return Err(format!("secret {self:?} is empty"));
        }
        Ok(SecretString::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn reads_env_file_and_inline() {
        std::env::set_var("SCIM_BRIDGE_TEST_SECRET_X", "from-env");
        let env = SecretRef::Env {
            env: "SCIM_BRIDGE_TEST_SECRET_X".into(),
        };
        assert_eq!(env.resolve().unwrap().expose_secret(), "from-env");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "from-file\n").unwrap();
        let file = SecretRef::File {
            file: path.display().to_string(),
        };
        assert_eq!(file.resolve().unwrap().expose_secret(), "from-file");

        assert_eq!(
            SecretRef::Inline("x".into())
                .resolve()
                .unwrap()
                .expose_secret(),
            "x"
        );
    }

    #[test]
    fn errors_and_debug_never_show_the_value() {
        let missing = SecretRef::Env {
            env: "SCIM_BRIDGE_TEST_UNSET_VAR".into(),
        };
        assert!(missing
            .resolve()
            .unwrap_err()
            .contains("SCIM_BRIDGE_TEST_UNSET_VAR"));
        let inline = SecretRef::Inline("hunter2".into());
        assert!(!format!("{inline:?}").contains("hunter2"));
    }
}
