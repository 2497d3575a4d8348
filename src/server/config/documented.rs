//! The documentation of the settings, checked against their declaration: docs/configuration.md
//! has one row per setting with its variable, file key and default, and no row for anything else;
//! the README names every setting and nothing else; Leptos.toml names only what exists and
//! changes no default (the binary reads it, so a value there that differs would be a second
//! default).

use figment::{
    providers::{Format, Toml},
    value::Value,
    Figment, Provider,
};

use super::{
    declared::VARIABLES, sources::MOVED_INTO_REDIS_URL, tests::parse_with, CONFIG_FILE_VARIABLE,
    ENV_ONLY,
};

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The rows of docs/configuration.md's tables, as cells; those of the settings first, then
/// those of the other variables (read by scripts or tests, no setting).
fn documented() -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let docs = read("docs/configuration.md");
    let (settings, others) = docs.split_once("## Other environment variables").unwrap();
    let rows = |text: &str| -> Vec<Vec<String>> {
        let rows = text.lines().filter(|line| line.starts_with("| `"));
        rows.map(|row| {
            row.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().into())
                .collect()
        })
        .collect()
    };
    (rows(settings), rows(others))
}

/// Every setting's variable: those read from the file too, those of the environment alone, and
/// the file's own.
fn settings() -> impl Iterator<Item = &'static str> {
    let declared = VARIABLES.iter().map(|(variable, _, _)| *variable);
    declared.chain(ENV_ONLY).chain([CONFIG_FILE_VARIABLE])
}

fn is_setting(name: &str) -> bool {
    settings().any(|setting| setting == name)
}

/// `NAME`s in `text` that look like environment variables.
fn variables_in(text: &str) -> Vec<&str> {
    let names = text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
    let looks_like = |name: &&str| name.contains('_') && name.starts_with(char::is_alphabetic);
    names.filter(looks_like).collect()
}

#[test]
fn every_setting_has_one_row_with_its_key_and_default_and_nothing_else_has_one() {
    let (rows, others) = documented();
    for row in &rows {
        let name = row[0].trim_matches('`');
        assert!(
            is_setting(name),
            "docs/configuration.md documents {name}, no setting"
        );
    }
    let row = |name: &str| {
        let mut found = rows.iter().filter(|row| row[0] == format!("`{name}`"));
        match (found.next(), found.next()) {
            (Some(row), None) => row,
            _ => panic!("docs/configuration.md has not one row for {name}"),
        }
    };
    for (variable, path, default) in VARIABLES {
        let (row, (section, key)) = (row(variable), path.split_once('.').unwrap());
        let default_shown = match *default {
            "" => !row[2].starts_with('`'),
            text => row[2].starts_with(&format!("`{text}`")),
        };
        let key_shown = row[1].starts_with(&format!("`[{section}] {key}`"));
        assert!(key_shown && default_shown, "{variable}: {row:?}");
    }
    for secret in ENV_ONLY {
        assert_eq!(row(secret)[1], "environment only", "{secret}");
    }
    let file = row(CONFIG_FILE_VARIABLE);
    assert_eq!(file[2], format!("`{}`", super::DEFAULT_CONFIG_FILE));
    for row in &others {
        let name = row[0].trim_matches('`');
        assert!(!is_setting(name), "{row:?} is a setting");
    }
}

/// The README's settings: the few a first deployment needs described, every other one named
/// (docs/configuration.md describes them all), and nothing else.
#[test]
fn the_readme_names_every_setting_and_nothing_else() {
    let readme = read("README.md");
    let (_, section) = readme.split_once("## Settings").unwrap();
    let named = variables_in(section.split("\n## ").next().unwrap());
    for name in settings() {
        assert!(named.contains(&name), "the README does not name {name}");
    }
    // Read by the binary, but set by cargo-leptos rather than by whoever deploys it; and the
    // variables a start refuses, which the README must name so that nobody sets them.
    let moved = MOVED_INTO_REDIS_URL.iter().map(|(name, _)| *name);
    let not_settings: Vec<&str> = moved.chain(["LEPTOS_HASH_FILES"]).collect();
    for name in &not_settings {
        assert!(named.contains(name), "the README does not name {name}");
    }
    for name in named {
        let known = is_setting(name) || not_settings.contains(&name);
        assert!(known, "the README names {name}, no setting");
    }
}

#[test]
fn leptos_toml_holds_settings_at_their_defaults() {
    let text = read("Leptos.toml");
    let (_, others) = documented();
    for name in variables_in(&text) {
        let other = others
            .iter()
            .any(|row| row[0].contains(&format!("`{name}`")));
        assert!(
            is_setting(name) || other,
            "Leptos.toml names {name}, no setting"
        );
    }
    let data = Figment::from(Toml::string(&text)).data().unwrap();
    for (section, keys) in data.into_values().flatten() {
        let Value::Dict(_, keys) = keys else {
            panic!("[{section}] is no table")
        };
        for key in keys.keys() {
            let path = format!("{section}.{key}");
            let declared = VARIABLES.iter().any(|(_, at, _)| *at == path);
            assert!(
                declared,
                "Leptos.toml sets {key} in [{section}], no setting"
            );
        }
    }
    let from_file = parse_with(Some(("Leptos.toml", &text)), &[]).unwrap();
    let defaults = parse_with(None, &[]).unwrap();
    assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"));
}
