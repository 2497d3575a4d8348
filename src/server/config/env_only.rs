//! Settings that hold secrets: read from the environment only, and never shown in an error.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, MIN_SECRET_LEN};
use crate::shared::input::{Password, Username};

/// A setting that holds secrets: it is read from the environment only and its value never
/// appears in an error.
pub struct EnvOnly {
    pub env: &'static str,
    pub expected: &'static str,
}

pub const SESSION_SECRET: EnvOnly = EnvOnly {
    env: "SESSION_SECRET",
    expected: "at least 32 characters",
};
pub const REDIS_SENTINEL_PASSWORD: EnvOnly = EnvOnly {
    env: "REDIS_SENTINEL_PASSWORD",
    expected: "a password",
};
pub const REDIS_PASSWORD: EnvOnly = EnvOnly {
    env: "REDIS_PASSWORD",
    expected: "a password",
};
pub const SESSION_SECRET_PREVIOUS: EnvOnly = EnvOnly {
    env: "SESSION_SECRET_PREVIOUS",
    expected: "secrets of at least 32 characters, separated by commas",
};
pub const DEMO_USERS: EnvOnly = EnvOnly {
    env: "DEMO_USERS",
    expected: "name:password pairs separated by commas (names of 3-32 a-z 0-9 . _ -, passwords of 8-128 characters)",
};

/// Every setting of this kind, for the test that checks docs/configuration.md.
#[cfg(test)]
pub const ALL: [&EnvOnly; 5] = [
    &SESSION_SECRET,
    &SESSION_SECRET_PREVIOUS,
    &REDIS_PASSWORD,
    &REDIS_SENTINEL_PASSWORD,
    &DEMO_USERS,
];

impl EnvOnly {
    pub fn get(&self, env: &HashMap<String, String>) -> Option<SecretString> {
        let value = env.get(self.env).filter(|value| !value.is_empty())?;
        Some(SecretString::from(value.clone()))
    }

    fn invalid(&self, shown: String) -> ConfigError {
        ConfigError::Invalid {
            name: self.env.to_string(),
            value: shown,
            expected: self.expected.to_string(),
        }
    }
}

pub fn session_secret(env: &HashMap<String, String>) -> Result<Option<SecretString>, ConfigError> {
    match SESSION_SECRET.get(env) {
        Some(secret) if secret.expose_secret().chars().count() < MIN_SECRET_LEN => {
            Err(SESSION_SECRET.invalid("(hidden)".into()))
        }
        secret => Ok(secret),
    }
}

/// `SESSION_SECRET_PREVIOUS=old1,old2`: secrets cookies may still be signed with after a rotation.
pub fn previous_secrets(env: &HashMap<String, String>) -> Result<Vec<SecretString>, ConfigError> {
    let Some(list) = SESSION_SECRET_PREVIOUS.get(env) else {
        return Ok(Vec::new());
    };
    list.expose_secret()
        .split(',')
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .map(|secret| {
            if secret.chars().count() < MIN_SECRET_LEN {
                Err(SESSION_SECRET_PREVIOUS.invalid("(hidden)".into()))
            } else {
                Ok(SecretString::from(secret.to_string()))
            }
        })
        .collect()
}

/// `DEMO_USERS=alice:password1,bob:password2`. An error may name a user, never a password.
pub fn demo_users(
    env: &HashMap<String, String>,
) -> Result<Vec<(Username, SecretString)>, ConfigError> {
    let Some(list) = DEMO_USERS.get(env) else {
        return Ok(Vec::new());
    };
    if list.expose_secret().trim().is_empty() {
        return Ok(Vec::new());
    }
    list.expose_secret()
        .split(',')
        .map(|pair| {
            let (name, password) = pair
                .split_once(':')
                .ok_or_else(|| DEMO_USERS.invalid("(hidden)".into()))?;
            let name =
                Username::parse(name).map_err(|_| DEMO_USERS.invalid(format!("user {name:?}")))?;
            Password::new_checked(password.to_string())
                .map_err(|_| DEMO_USERS.invalid(format!("password of {:?}", name.as_str())))?;
            Ok((name, SecretString::from(password.to_string())))
        })
        .collect()
}
