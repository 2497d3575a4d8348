//! The layers (built-in defaults < the file < the environment) on figment's own providers, and
//! figment's errors turned into the one-line messages of [`ConfigError`]. The environment is a
//! map given to [`super::Settings::parse`], not the process's (figment's `Env` reads only that),
//! so that tests run apps with environments of their own side by side.

use std::collections::HashMap;

use figment::{
    error::Kind,
    providers::{Format, Serialized, Toml},
    value::Value,
    Figment, Provider,
};

use super::{declared::VARIABLES, env_value, read::text_of, topology, ConfigError, Settings};

/// Says where such a value belongs instead: "not valid" alone would send the user looking for a
/// typo.
const PASSWORD_IN_FILE: &str =
    "no password in the file (a value with a password belongs in the environment)";

/// Variables that are no longer read, and where their value goes now: ignored, they would run
/// the app against database 0, or ask sentinels without their password.
pub(super) const MOVED_INTO_REDIS_URL: &[(&str, &str)] = &[
    ("REDIS_DB", "redis://host:6379/N"),
    (
        "REDIS_SENTINEL_USERNAME",
        "redis-sentinel://…?sentinelUsername=…",
    ),
    (
        "REDIS_SENTINEL_PASSWORD",
        "redis-sentinel://…?sentinelPassword=…",
    ),
];

pub(super) struct Sources<'a> {
    figment: Figment,
    /// The configuration file's path, as the user named it.
    file: Option<&'a str>,
    env: &'a HashMap<String, String>,
}

impl<'a> Sources<'a> {
    pub(super) fn new(
        file: Option<(&'a str, &str)>,
        env: &'a HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut sources = Sources {
            figment: Figment::new(),
            file: file.map(|(path, _)| path),
            env,
        };
        let mut moved = MOVED_INTO_REDIS_URL.iter();
        if let Some((variable, form)) = moved.find(|(name, _)| env_value(env, name).is_some()) {
            return Err(ConfigError::Conflict(format!(
                "{variable} is no longer read: put it in REDIS_URL ({form})"
            )));
        }
        for (_, path, default) in VARIABLES.iter().filter(|(_, _, text)| !text.is_empty()) {
            sources.figment = sources.figment.merge(Serialized::default(path, default));
        }
        if let Some((path, text)) = file {
            Toml::string(text).data().map_err(|err| ConfigError::File {
                path: path.to_string(),
                reason: one_line(&err.kind.to_string()),
            })?;
            sources.figment = sources.figment.merge(Toml::string(text));
            // No default has a URL: before the environment is merged, one is the file's.
            let url = sources.text_at("redis.url");
            if url.is_some_and(|url| topology::has_password(&url)) {
                return Err(sources.invalid_in_file("REDIS_URL", "redis.url", PASSWORD_IN_FILE));
            }
        }
        for (variable, path, _) in VARIABLES {
            if let Some(text) = env_value(env, variable) {
                sources.figment = sources.figment.merge(Serialized::default(path, text));
            }
        }
        Ok(sources)
    }

    pub(super) fn settings(&self) -> Result<Settings, ConfigError> {
        self.figment.extract().map_err(|err| self.explain(err))
    }

    fn text_at(&self, path: &str) -> Option<String> {
        Some(match self.figment.find_value(path).ok()? {
            Value::Dict(..) => "(a table)".to_string(),
            Value::Array(..) => "(a list)".to_string(),
            value => text_of(&value).unwrap_or_default(),
        })
    }

    /// A figment error is about one setting, found in the declaration; any other can only come
    /// from the file's shape, such as a section that is not a table.
    fn explain(&self, err: figment::Error) -> ConfigError {
        let path = err.path.join(".");
        let expected = match err.kind {
            Kind::Message(text) | Kind::InvalidType(_, text) | Kind::InvalidValue(_, text) => text,
            kind => kind.to_string(),
        };
        let declared = VARIABLES.iter().find(|(_, at, _)| *at == path);
        match declared.map(|(variable, _, _)| (variable, env_value(self.env, variable))) {
            Some((variable, Some(text))) => {
                ConfigError::invalid(*variable, topology::redacted(text), &expected)
            }
            // The defaults are valid: the value is the file's.
            Some((variable, None)) => self.invalid_in_file(variable, &path, &expected),
            None => ConfigError::File {
                path: self.file.unwrap_or(super::DEFAULT_CONFIG_FILE).to_string(),
                reason: match path.as_str() {
                    "" => expected,
                    section => format!("[{section}] must be a table of settings"),
                },
            },
        }
    }

    /// A bad value from the file: named by its key and the variable that would override it.
    fn invalid_in_file(&self, variable: &str, path: &str, expected: &str) -> ConfigError {
        let (section, key) = path.split_once('.').unwrap_or_default();
        let file = self.file.unwrap_or_default();
        let text = self.text_at(path).unwrap_or_default();
        let name = format!("{key} in [{section}] of {file} (or {variable})");
        ConfigError::invalid(name, topology::redacted(&text), expected)
    }
}

/// The TOML parser's message spans several lines around a drawing of the faulty line (`1 | …`,
/// `  |  ^`); keep the position and the explanation, as the message must fit one line.
fn one_line(message: &str) -> String {
    let gutter = |c: char| c.is_ascii_digit() || c == ' ';
    let lines = message.lines().map(str::trim);
    let text =
        lines.filter(|line| !line.is_empty() && !line.trim_start_matches(gutter).starts_with('|'));
    text.collect::<Vec<_>>().join(": ")
}
