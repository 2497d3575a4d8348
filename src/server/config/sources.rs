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

use super::{declared::VARIABLES, read::text_of, topology, ConfigError, Settings};

/// Says where such a value belongs instead: "not valid" alone would send the user looking for a
/// typo.
const PASSWORD_IN_FILE: &str =
    "no password in the file (a value with a password belongs in the environment)";

/// Variables that are no longer read, and where their value goes now: ignored, they would run
/// the app against database 0, or ask sentinels without their password.
const MOVED_INTO_REDIS_URL: &[(&str, &str)] = &[
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
    /// The configuration file as the user named it, and its values alone.
    file: Option<(&'a str, Figment)>,
    env: &'a HashMap<String, String>,
}

impl<'a> Sources<'a> {
    pub(super) fn new(
        file: Option<(&'a str, &str)>,
        env: &'a HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        if let Some((variable, form)) = MOVED_INTO_REDIS_URL
            .iter()
            .find(|(variable, _)| env.get(*variable).is_some_and(|text| !text.is_empty()))
        {
            return Err(ConfigError::Conflict(format!(
                "{variable} is no longer read: put it in REDIS_URL ({form})"
            )));
        }
        let mut figment = Figment::new();
        for (_, path, default) in VARIABLES.iter().filter(|(_, _, text)| !text.is_empty()) {
            figment = figment.merge(Serialized::default(path, default));
        }
        let mut sources = Sources {
            figment,
            file: None,
            env,
        };
        if let Some((path, text)) = file {
            Toml::string(text).data().map_err(|err| ConfigError::File {
                path: path.to_string(),
                reason: one_line(&err.kind.to_string()),
            })?;
            sources.file = Some((path, Figment::from(Toml::string(text))));
            sources.figment = sources.figment.merge(Toml::string(text));
            let url = sources.file_text("redis.url");
            if let Some(url) = url.filter(|url| topology::has_password(url)) {
                return Err(sources.invalid("REDIS_URL", "redis.url", &url, PASSWORD_IN_FILE));
            }
        }
        for (variable, path, _) in VARIABLES {
            if let Some(text) = sources.env_text(variable) {
                sources.figment = sources.figment.merge(Serialized::default(path, text));
            }
        }
        Ok(sources)
    }

    pub(super) fn settings(&self) -> Result<Settings, ConfigError> {
        self.figment.extract().map_err(|err| self.explain(err))
    }

    /// An empty variable counts as unset, as a shell's `VAR=` usually means "no value".
    fn env_text(&self, variable: &str) -> Option<&'a String> {
        self.env.get(variable).filter(|text| !text.is_empty())
    }

    fn file_text(&self, path: &str) -> Option<String> {
        let (_, file) = self.file.as_ref()?;
        Some(match file.find_value(path).ok()? {
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
        if let Some((variable, _, _)) = VARIABLES.iter().find(|(_, at, _)| *at == path) {
            return match (self.env_text(variable), self.file_text(&path)) {
                (None, Some(text)) => self.invalid(variable, &path, &text, &expected),
                (text, _) => ConfigError::Invalid {
                    name: variable.to_string(),
                    value: topology::redacted(text.map_or("", String::as_str)),
                    expected,
                },
            };
        }
        let reason = match path.as_str() {
            "" => expected,
            section => format!("[{section}] must be a table of settings"),
        };
        let file = (self.file.as_ref()).map_or(super::DEFAULT_CONFIG_FILE, |(path, _)| path);
        ConfigError::File {
            path: file.to_string(),
            reason,
        }
    }

    /// A bad value from the file: named by its key and the variable that would override it.
    fn invalid(&self, variable: &str, path: &str, text: &str, expected: &str) -> ConfigError {
        let (section, key) = path.split_once('.').unwrap_or_default();
        let file = (self.file.as_ref()).map_or("", |(file, _)| file);
        ConfigError::Invalid {
            name: format!("{key} in [{section}] of {file} (or {variable})"),
            value: topology::redacted(text),
            expected: expected.to_string(),
        }
    }
}

/// The TOML parser's message spans several lines around a drawing of the faulty line; keep the
/// position and the explanation, as the message must fit one line.
fn one_line(message: &str) -> String {
    let is_drawing = |line: &str| {
        let rest = line
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit());
        rest.trim_start().starts_with('|')
    };
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_drawing(line))
        .collect::<Vec<_>>()
        .join(": ")
}
