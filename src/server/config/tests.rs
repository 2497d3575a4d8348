//! Reading settings: defaults, layering, the one-line errors, and secrets that never print.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

/// Long enough for `SESSION_SECRET`.
const SECRET: &str = "a session secret of 32 characters";

pub(super) fn parse_with(
    file: Option<(&str, &str)>,
    env: &[(&str, &str)],
) -> Result<Settings, ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let secret = |_: &Path| Ok(SecretString::from("x".repeat(40)));
    Settings::parse(file, &env.collect(), secret)
}

fn parse(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    parse_with(None, env)
}

fn error(env: &[(&str, &str)]) -> String {
    parse(env).unwrap_err().to_string()
}

fn file_error(path: &str, text: &str) -> String {
    parse_with(Some((path, text)), &[]).unwrap_err().to_string()
}

#[test]
fn defaults_are_the_documented_ones() {
    let settings = parse(&[]).unwrap();
    assert_eq!(settings.session.idle_timeout, Duration::from_secs(604800));
    assert_eq!(settings.server.environment, Environment::Development);
    assert!(!settings.session.cookie_secure);
}

#[test]
fn every_variable_reaches_its_setting() {
    for (variable, _, _) in declared::VARIABLES {
        match parse(&[(variable, "zz9")]) {
            Ok(settings) => assert!(format!("{settings:?}").contains("zz9"), "{variable}"),
            Err(err) => assert!(err.to_string().starts_with(variable), "{variable}: {err}"),
        }
    }
}

/// Alone or with the settings it does not fit, a bad value stops the start with one line that
/// begins with its variable.
#[test]
fn each_bad_value_names_its_variable() {
    let durations = ["0", "-1", "nan", "inf", "1e12", "soon"];
    let durations = durations.map(|bad| ("SESSION_TTL_SECONDS", bad));
    let others = [
        ("REDIS_PORT", "abc"),
        ("REDIS_POOL_SIZE", "0"),
        ("REDIS_URL", "http//nope"),
        ("REDIS_URL", "redis-cluster://db:7000/2"),
        ("REDIS_URL", "redis://db:26379?sentinelServiceName=main"),
        ("LEPTOS_SITE_ADDR", "localhost"),
        ("LOG_FORMAT", "xml"),
        ("ALLOWED_HOSTS", "a.example/x"),
        ("REDIS_TLS", "maybe"),
        ("REDIS_TLS_CA_FILE", "/ca.pem"),
        ("REDIS_WAIT_REPLICAS", "99"),
    ];
    for (name, value) in durations.into_iter().chain(others) {
        let err = error(&[(name, value)]);
        assert!(
            err.starts_with(name) && !err.contains('\n'),
            "{name}={value}: {err}"
        );
    }
    let err = error(&[
        ("REDIS_TLS", "true"),
        ("REDIS_TLS_CLIENT_CERT_FILE", "/c.pem"),
    ]);
    assert!(err.contains("REDIS_TLS_CLIENT_KEY_FILE"), "{err}");
}

#[test]
fn durations_in_seconds_take_fractions() {
    let settings = parse(&[("SESSION_TTL_SECONDS", "0.25")]).unwrap();
    assert_eq!(settings.session.idle_timeout, Duration::from_millis(250));
}

#[test]
fn secrets_never_print() {
    let settings = parse(&[("REDIS_URL", "redis://u:hunter2hunter2@db:6379/0")]).unwrap();
    let printed = format!("{settings:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains(&"x".repeat(40)), "{printed}");
    let err = error(&[("REDIS_URL", "ftp://u:hunter2@db")]);
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn production_refuses_to_start_without_a_secret() {
    let err = parse(&[("LEPTOS_ENV", "PROD")]).unwrap_err();
    assert!(matches!(err, ConfigError::MissingSecret));
    let settings = parse(&[("LEPTOS_ENV", "PROD"), ("SESSION_SECRET", SECRET)]).unwrap();
    assert!(settings.session.cookie_secure);
    assert_eq!(settings.session.cookie_name(), "__Host-sessionboard");
}

#[test]
fn the_environment_beats_the_file_which_beats_the_defaults() {
    let text = "[redis]\nport = 6380\n[session]\nrefresh_fraction = \"0.25\"\n";
    let file = Some(("conf/app.toml", text));
    let settings = parse_with(file, &[("REDIS_PORT", "")]).unwrap();
    assert_eq!(settings.redis.port, 6380);
    assert_eq!(settings.session.refresh_fraction, 0.25);
    assert_eq!(settings.redis.pool_size, 4);
    let settings = parse_with(file, &[("REDIS_PORT", "6381")]).unwrap();
    assert_eq!(settings.redis.port, 6381);
}

#[test]
fn a_bad_file_value_names_the_file_and_the_key() {
    let name = "port in [redis] of /etc/sb/custom.toml (or REDIS_PORT)";
    for (text, value) in [("\"abc\"", "abc"), ("0", "0"), ("[1]", "(a list)")] {
        let file = format!("[redis]\nport = {text}");
        let expected = format!("{name}={value:?} is not valid: expected a TCP port (1-65535)");
        assert_eq!(file_error("/etc/sb/custom.toml", &file), expected);
    }
}

#[test]
fn a_toml_syntax_error_names_the_given_path() {
    let err = file_error("conf/other.toml", "[redis\nport = 1");
    let start = "could not read the configuration file conf/other.toml: ";
    assert!(err.starts_with(start), "{err}");
    assert!(!err.contains("Leptos.toml") && !err.contains('\n'), "{err}");
}

#[test]
fn secrets_never_come_from_the_file() {
    let file = format!("[session]\nsecret = \"{}\"\n", "s".repeat(40));
    let err = parse_with(Some(("app.toml", &file)), &[("LEPTOS_ENV", "prod")]).unwrap_err();
    assert!(matches!(err, ConfigError::MissingSecret), "{err}");
    for url in [
        "redis://u:hunter2@db:6379/0",
        "redis-sentinel://db:26379?sentinelServiceName=main&sentinelPassword=hunter2",
    ] {
        let err = file_error("app.toml", &format!("[redis]\nurl = \"{url}\"\n"));
        let name = "url in [redis] of app.toml (or REDIS_URL)=";
        assert!(err.starts_with(name) && !err.contains("hunter2"), "{err}");
    }
}

#[cfg(unix)]
mod dev_secret_file {
    use std::{
        fs,
        os::unix::fs::PermissionsExt,
        path::{Path, PathBuf},
    };

    use super::*;

    /// A folder of the test's own holding the development secret's file, which others may read.
    fn readable_secret(test: &str, text: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("sessionboard-{test}-{}", std::process::id()));
        let path = dir.join(dev_secret::DEV_SECRET_FILE);
        fs::create_dir_all(&dir).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        (dir, path)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_short_secret_is_replaced_by_a_private_one_that_is_kept() {
        let (dir, path) = readable_secret("short", "too short");
        let secret = load_or_create_dev_secret(&dir).unwrap();
        let mode = mode(&path);
        let again = load_or_create_dev_secret(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();

        assert!(secret.expose_secret().len() >= MIN_SECRET_LEN);
        assert_eq!(mode, 0o600);
        assert_eq!(secret.expose_secret(), again.expose_secret());
    }

    #[test]
    fn one_others_may_read_is_made_private_and_kept() {
        let kept = "k".repeat(64);
        let (dir, path) = readable_secret("open", &kept);
        let secret = load_or_create_dev_secret(&dir);
        let mode = mode(&path);
        fs::remove_dir_all(&dir).unwrap();

        assert_eq!(secret.unwrap().expose_secret(), kept);
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_link_is_refused_and_its_target_left_alone() {
        let content = "o".repeat(64);
        let (dir, outside) = readable_secret("link", &content);
        let data = dir.join("data");
        fs::create_dir_all(&data).unwrap();
        std::os::unix::fs::symlink(&outside, data.join(dev_secret::DEV_SECRET_FILE)).unwrap();

        let refused = load_or_create_dev_secret(&data).map(|_| ());
        let (mode, left) = (mode(&outside), fs::read_to_string(&outside).unwrap());
        fs::remove_dir_all(&dir).unwrap();

        let err = refused.unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(mode, 0o644, "the target's mode is not changed");
        assert_eq!(left, content, "nor its content replaced");
    }
}

#[test]
fn logs_are_pretty_in_development_and_json_in_production_unless_chosen() {
    assert_eq!(parse(&[]).unwrap().server.log_format(), LogFormat::Pretty);
    let production = parse(&[("LEPTOS_ENV", "PROD"), ("SESSION_SECRET", SECRET)]).unwrap();
    assert_eq!(production.server.log_format(), LogFormat::Json);
    let chosen = parse(&[("LOG_FORMAT", "json")]).unwrap();
    assert_eq!(chosen.server.log_format(), LogFormat::Json);
}

#[test]
fn every_fred_url_form_is_accepted() {
    for url in [
        "redis://db:6379/0",
        "rediss://u:pw@db:6380",
        "redis-cluster://db:7000?node=db:7001&node=db:7002",
        "rediss-cluster://db:7000",
        "redis-sentinel://db:26379?sentinelServiceName=main&node=db:26380",
        "rediss-sentinel://db:26379/0?sentinelServiceName=main",
    ] {
        assert!(parse(&[("REDIS_URL", url)]).unwrap().redis.url.is_some());
    }
}

#[test]
fn a_variable_moved_into_redis_url_is_refused_and_its_value_never_printed() {
    for variable in [
        "REDIS_DB",
        "REDIS_SENTINEL_USERNAME",
        "REDIS_SENTINEL_PASSWORD",
    ] {
        let err = error(&[(variable, "hunter2")]);
        assert!(err.contains(variable) && err.contains("REDIS_URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn allowed_hosts_default_to_the_site_address_and_production_needs_a_name() {
    let hosts = |env: &[(&str, &str)]| parse(env).map(|s| s.server.allowed_hosts);
    let listed = hosts(&[("ALLOWED_HOSTS", "Example.com, www.example.com")]).unwrap();
    assert_eq!(
        listed,
        AllowedHosts::parse("example.com,www.example.com").unwrap()
    );
    let everywhere = ("LEPTOS_SITE_ADDR", "0.0.0.0:3000");
    assert!(hosts(&[everywhere]).is_ok(), "development");
    let production = [
        ("LEPTOS_ENV", "PROD"),
        ("SESSION_SECRET", SECRET),
        everywhere,
    ];
    let err = hosts(&production).unwrap_err().to_string();
    assert!(
        err.contains("ALLOWED_HOSTS") && err.contains("0.0.0.0:3000"),
        "{err}"
    );
    let named = [
        production[0],
        production[1],
        everywhere,
        ("ALLOWED_HOSTS", "*"),
    ];
    assert_eq!(hosts(&named).unwrap(), AllowedHosts::Any);
}
