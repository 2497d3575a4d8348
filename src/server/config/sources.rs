//! Where values come from. The settings: layered with figment (built-in defaults < the file < the
//! environment), with figment's errors turned into the one-line messages of [`ConfigError`],
//! worded from the declaration of the setting at fault.

use std::collections::HashMap;

use figment::{
    providers::{Format, Toml},
    value::{Dict, Map, Tag, Value},
    Figment, Metadata, Profile, Provider,
};

use super::{
    declared::{self, Setting, DECLARED},
    ConfigError,
};

// Figment keeps, for each value, the metadata of the layer it came from; blame reads it back to
// name either the file or the environment variable.
const DEFAULTS: &str = "built-in defaults";
const FILE: &str = "configuration file";
const ENVIRONMENT: &str = "environment";

/// Says where such a value belongs instead: "not valid" alone would send the user looking for a
/// typo.
const PASSWORD_IN_FILE: &str =
    "no password in the file (a value with a password belongs in the environment)";

pub(super) struct Sources<'a> {
    figment: Figment,
    /// The configuration file as the user named it, if there is one.
    file: Option<&'a str>,
}

impl<'a> Sources<'a> {
    pub(super) fn new(
        file: Option<(&'a str, &str)>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut sources = Sources {
            figment: Figment::new().merge(Layer::new(DEFAULTS, defaults())),
            file: file.map(|(path, _)| path),
        };
        if let Some((path, text)) = file {
            let dict = sources.read_file(path, text)?;
            sources.figment = sources.figment.merge(Layer::new(FILE, dict));
        }
        sources.figment = sources
            .figment
            .merge(Layer::new(ENVIRONMENT, environment(env)));
        Ok(sources)
    }

    /// Every setting that goes through figment, typed and checked.
    pub(super) fn values(&self) -> Result<declared::Values, ConfigError> {
        let raw: declared::Raw = self.figment.extract().map_err(|err| self.explain(err))?;
        raw.check(&|setting| self.blame(setting))
    }

    fn read_file(&self, path: &str, text: &str) -> Result<Dict, ConfigError> {
        let mut data = Toml::string(text).data().map_err(|err| ConfigError::File {
            path: path.to_string(),
            reason: one_line(&err.kind.to_string()),
        })?;
        let dict = data.remove(&Profile::Default).unwrap_or_default();
        for setting in DECLARED {
            let Some(refuse) = setting.env_only_if else {
                continue;
            };
            let (section, key) = setting.section_and_key();
            let value = dict.get(section).and_then(|section| section.find_ref(key));
            if let Some(text) = value.map(text_of).filter(|text| refuse(text)) {
                return Err(self.invalid(setting, &text, true, PASSWORD_IN_FILE));
            }
        }
        Ok(dict)
    }

    /// A figment error is about one key, found in the declaration; any other can only come from
    /// the file's shape, such as a section that is not a table.
    fn explain(&self, err: figment::Error) -> ConfigError {
        let path = err.path.join(".");
        if let Some(setting) = DECLARED.iter().find(|setting| setting.path == path) {
            return self.blame(setting);
        }
        let reason = match path.as_str() {
            "" => one_line(&err.kind.to_string()),
            section => format!("[{section}] must be a table of settings"),
        };
        ConfigError::File {
            path: self.file.unwrap_or(super::DEFAULT_CONFIG_FILE).to_string(),
            reason,
        }
    }

    fn blame(&self, setting: &Setting) -> ConfigError {
        let from_file = self
            .figment
            .find_metadata(setting.path)
            .is_some_and(|metadata| metadata.name == FILE);
        let text = self
            .figment
            .find_value(setting.path)
            .map(|value| text_of(&value));
        self.invalid(
            setting,
            &text.unwrap_or_default(),
            from_file,
            setting.expected,
        )
    }

    fn invalid(
        &self,
        setting: &Setting,
        text: &str,
        from_file: bool,
        expected: &'static str,
    ) -> ConfigError {
        let name = match self.file {
            Some(file) if from_file => {
                let (section, key) = setting.section_and_key();
                format!("{key} in [{section}] of {file} (or {})", setting.env)
            }
            _ => setting.env.to_string(),
        };
        ConfigError::Invalid {
            name,
            value: (setting.show)(text),
            expected,
        }
    }
}

/// One figment layer: a name that says where its values came from, and the values.
struct Layer {
    name: &'static str,
    dict: Dict,
}

impl Layer {
    fn new(name: &'static str, dict: Dict) -> Self {
        Layer { name, dict }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Map::from([(Profile::Default, self.dict.clone())]))
    }
}

fn defaults() -> Dict {
    let mut dict = Dict::new();
    for setting in DECLARED {
        if let Some(default) = setting.default {
            insert(&mut dict, setting, default);
        }
    }
    dict
}

/// Only declared variables, so that an unrelated variable never lands in the settings; an empty
/// one counts as unset, as a shell's `VAR=` usually means "no value".
fn environment(env: &HashMap<String, String>) -> Dict {
    let mut dict = Dict::new();
    for setting in DECLARED {
        if let Some(value) = env.get(setting.env).filter(|value| !value.is_empty()) {
            insert(&mut dict, setting, value);
        }
    }
    dict
}

fn insert(dict: &mut Dict, setting: &Setting, text: &str) {
    let (section, key) = setting.section_and_key();
    let section = dict
        .entry(section.to_string())
        .or_insert_with(|| Value::Dict(Tag::Default, Dict::new()));
    if let Value::Dict(_, section) = section {
        section.insert(key.to_string(), Value::from(text.to_string()));
    }
}

/// A value as the user wrote it, for an error message.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(_, text) => text.clone(),
        Value::Char(_, c) => c.to_string(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(..) => value
            .to_u128()
            .map(|n| n.to_string())
            .or_else(|| value.to_i128().map(|n| n.to_string()))
            .or_else(|| value.to_f64().map(|n| n.to_string()))
            .unwrap_or_default(),
        Value::Empty(..) => String::new(),
        Value::Dict(..) => "(a table)".to_string(),
        Value::Array(..) => "(a list)".to_string(),
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
