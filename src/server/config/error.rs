//! Why the settings cannot be used: each error names the variable (or file and key) to fix.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: expected {expected}")]
    Invalid {
        name: String,
        value: String,
        expected: String,
    },
    #[error("SESSION_SECRET is not set: production (LEPTOS_ENV=PROD) needs a secret of at least {MIN_SECRET_LEN} characters to sign session cookies")]
    MissingSecret,
    #[error("could not read the configuration file {path}: {reason}")]
    File { path: String, reason: String },
    /// Values that are each valid but do not fit together; the text names the variables.
    #[error("{0}")]
    Conflict(String),
    #[error("could not keep the generated development secret in {path}: {reason}")]
    DevSecret { path: String, reason: String },
}

pub const MIN_SECRET_LEN: usize = 32;
