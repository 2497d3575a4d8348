//! Settings that hold secrets: read from the environment only, never through figment (whose
//! layers include the file, which gets copied, backed up and committed), and never shown in an
//! error.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, MIN_SECRET_LEN};
use crate::shared::input::{Password, Username};

pub const REDIS_PASSWORD: &str = "REDIS_PASSWORD";
pub const REDIS_SENTINEL_PASSWORD: &str = "REDIS_SENTINEL_PASSWORD";
const SESSION_SECRET: &str = "SESSION_SECRET";
const SESSION_SECRET_PREVIOUS: &str = "SESSION_SECRET_PREVIOUS";
const DEMO_USERS: &str = "DEMO_USERS";

/// Every setting of this kind, for the test that checks docs/configuration.md.
#[cfg(test)]
pub const ALL: [&str; 5] = [
    SESSION_SECRET,
    SESSION_SECRET_PREVIOUS,
    REDIS_PASSWORD,
    REDIS_SENTINEL_PASSWORD,
    DEMO_USERS,
];

/// An empty variable counts as unset, as for every other setting.
pub fn get(env: &HashMap<String, String>, name: &str) -> Option<SecretString> {
    let value = env.get(name).filter(|value| !value.is_empty())?;
    Some(SecretString::from(value.clone()))
}

fn invalid(name: &str, shown: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_string(),
        value: shown.to_string(),
        expected: expected.to_string(),
    }
}

pub fn session_secret(env: &HashMap<String, String>) -> Result<Option<SecretString>, ConfigError> {
    match get(env, SESSION_SECRET) {
        Some(secret) if secret.expose_secret().chars().count() < MIN_SECRET_LEN => Err(invalid(
            SESSION_SECRET,
            "(hidden)",
            "at least 32 characters",
        )),
        secret => Ok(secret),
    }
}

/// `SESSION_SECRET_PREVIOUS=old1,old2`: secrets cookies may still be signed with after a rotation.
pub fn previous_secrets(env: &HashMap<String, String>) -> Result<Vec<SecretString>, ConfigError> {
    let Some(list) = get(env, SESSION_SECRET_PREVIOUS) else {
        return Ok(Vec::new());
    };
    let expected = "secrets of at least 32 characters, separated by commas";
    let secrets = list.expose_secret().split(',').map(str::trim);
    secrets
        .filter(|secret| !secret.is_empty())
        .map(|secret| match secret.chars().count() < MIN_SECRET_LEN {
            true => Err(invalid(SESSION_SECRET_PREVIOUS, "(hidden)", expected)),
            false => Ok(SecretString::from(secret.to_string())),
        })
        .collect()
}

/// `DEMO_USERS=alice:password1,bob:password2`. An error may name a user, never a password.
pub fn demo_users(
    env: &HashMap<String, String>,
) -> Result<Vec<(Username, SecretString)>, ConfigError> {
    let Some(list) = get(env, DEMO_USERS).filter(|list| !list.expose_secret().trim().is_empty())
    else {
        return Ok(Vec::new());
    };
    let expected = "name:password pairs separated by commas (names of 3-32 a-z 0-9 . _ -, \
                    passwords of 8-128 characters)";
    let invalid = |shown: &str| invalid(DEMO_USERS, shown, expected);
    list.expose_secret()
        .split(',')
        .map(|pair| {
            let (name, password) = pair.split_once(':').ok_or_else(|| invalid("(hidden)"))?;
            let name = Username::parse(name).map_err(|_| invalid(&format!("user {name:?}")))?;
            Password::new_checked(password.to_string())
                .map_err(|_| invalid(&format!("password of {:?}", name.as_str())))?;
            Ok((name, SecretString::from(password.to_string())))
        })
        .collect()
}
