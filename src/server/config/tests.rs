//! Reading settings: defaults, layering, the one-line errors, and secrets that never print.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

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

#[test]
fn each_bad_value_names_its_variable() {
    for (name, value) in [
        ("REDIS_PORT", "abc"),
        ("SESSION_TTL_SECONDS", "0"),
        ("REDIS_POOL_SIZE", "0"),
        ("REDIS_URL", "http//nope"),
        ("LEPTOS_SITE_ADDR", "localhost"),
    ] {
        let err = error(&[(name, value)]);
        assert!(err.starts_with(name), "{name}: {err}");
    }
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
    let settings = parse(&[("LEPTOS_ENV", "PROD"), ("SESSION_SECRET", &"s".repeat(32))]).unwrap();
    assert!(settings.session.cookie_secure);
    assert_eq!(settings.session.cookie_name(), "__Host-sessionboard");
}

#[test]
fn the_file_fills_in_what_the_environment_leaves_unset() {
    let file = "[redis]\nport = 6380\n[session]\nrefresh_fraction = \"0.25\"\n";
    let settings = parse_with(Some(("conf/app.toml", file)), &[("REDIS_PORT", "")]).unwrap();
    assert_eq!(settings.redis.port, 6380);
    assert_eq!(settings.session.refresh_fraction, 0.25);
    assert_eq!(settings.redis.pool_size, 4);
}

#[test]
fn the_environment_beats_the_file() {
    let file = Some(("conf/app.toml", "[redis]\nport = 6380\n"));
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
    assert!(
        err.starts_with("could not read the configuration file conf/other.toml: "),
        "{err}"
    );
    assert!(!err.contains("Leptos.toml") && !err.contains('\n'), "{err}");
}

#[test]
fn secrets_never_come_from_the_file() {
    let file = format!("[session]\nsecret = \"{}\"\n", "s".repeat(40));
    let err = parse_with(Some(("app.toml", &file)), &[("LEPTOS_ENV", "prod")]).unwrap_err();
    assert!(matches!(err, ConfigError::MissingSecret), "{err}");
    let file = "[redis]\nurl = \"redis://u:hunter2@db:6379/0\"\n";
    let err = file_error("app.toml", file);
    assert!(
        err.starts_with("url in [redis] of app.toml (or REDIS_URL)="),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[cfg(unix)]
#[test]
fn the_dev_secret_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sessionboard-config-{}", std::process::id()));
    let path = dir.join(dev_secret::DEV_SECRET_FILE);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&path, "too short").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let secret = load_or_create_dev_secret(&dir).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    let again = load_or_create_dev_secret(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(secret.expose_secret().len() >= MIN_SECRET_LEN);
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(secret.expose_secret(), again.expose_secret());
}

#[cfg(unix)]
#[test]
fn a_dev_secret_file_others_may_read_is_made_private_and_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sessionboard-open-{}", std::process::id()));
    let path = dir.join(dev_secret::DEV_SECRET_FILE);
    std::fs::create_dir_all(&dir).unwrap();
    let kept = "k".repeat(64);
    std::fs::write(&path, &kept).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let secret = load_or_create_dev_secret(&dir);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(secret.unwrap().expose_secret(), kept);
    assert_eq!(mode & 0o777, 0o600);
}

#[cfg(unix)]
#[test]
fn a_dev_secret_that_is_a_link_is_refused_and_its_target_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sessionboard-link-{}", std::process::id()));
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let outside = dir.join("elsewhere");
    let content = "o".repeat(64);
    std::fs::write(&outside, &content).unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&outside, data.join(dev_secret::DEV_SECRET_FILE)).unwrap();

    let refused = load_or_create_dev_secret(&data).map(|_| ());
    let mode = std::fs::metadata(&outside).unwrap().permissions().mode();
    let left = std::fs::read_to_string(&outside).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let err = refused.unwrap_err().to_string();
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(mode & 0o777, 0o644, "the target's mode is not changed");
    assert_eq!(left, content, "nor its content replaced");
}

#[test]
fn logs_are_pretty_in_development_and_json_in_production_unless_chosen() {
    assert_eq!(parse(&[]).unwrap().server.log_format(), LogFormat::Pretty);
    let secret = "s".repeat(32);
    let production = parse(&[("LEPTOS_ENV", "PROD"), ("SESSION_SECRET", &secret)]).unwrap();
    assert_eq!(production.server.log_format(), LogFormat::Json);
    let chosen = parse(&[("LOG_FORMAT", "json")]).unwrap();
    assert_eq!(chosen.server.log_format(), LogFormat::Json);
    let err = error(&[("LOG_FORMAT", "xml")]);
    assert!(err.starts_with("LOG_FORMAT"), "{err}");
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
fn redis_settings_that_do_not_fit_together_name_their_variables() {
    for (env, named) in [
        (
            vec![("REDIS_URL", "redis-cluster://db:7000/2")],
            "REDIS_URL",
        ),
        (
            vec![("REDIS_URL", "redis://db:26379?sentinelServiceName=main")],
            "REDIS_URL",
        ),
        (vec![("REDIS_TLS_CA_FILE", "/ca.pem")], "REDIS_TLS_CA_FILE"),
        (
            vec![
                ("REDIS_TLS", "true"),
                ("REDIS_TLS_CLIENT_CERT_FILE", "/c.pem"),
            ],
            "REDIS_TLS_CLIENT_KEY_FILE",
        ),
        (vec![("REDIS_TLS", "maybe")], "REDIS_TLS"),
        (vec![("REDIS_WAIT_REPLICAS", "99")], "REDIS_WAIT_REPLICAS"),
    ] {
        let err = error(&env);
        assert!(err.contains(named) && !err.contains('\n'), "{env:?}: {err}");
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
fn a_sentinel_password_stays_out_of_errors_and_files() {
    let url = "redis-sentinel://db:26379?sentinelServiceName=main&sentinelPassword=hunter2";
    let file = format!("[redis]\nurl = \"{url}\"\n");
    let err = file_error("app.toml", &file);
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn allowed_hosts_default_to_the_site_address_and_production_needs_a_name() {
    let hosts = |env: &[(&str, &str)]| parse(env).map(|s| s.server.allowed_hosts);
    assert_eq!(
        hosts(&[("ALLOWED_HOSTS", "Example.com, www.example.com")]).unwrap(),
        AllowedHosts::parse("example.com,www.example.com").unwrap()
    );
    let secret = "s".repeat(32);
    let production = [("LEPTOS_ENV", "PROD"), ("SESSION_SECRET", secret.as_str())];
    let everywhere = [
        production[0],
        production[1],
        ("LEPTOS_SITE_ADDR", "0.0.0.0:3000"),
    ];
    let err = hosts(&everywhere).unwrap_err().to_string();
    assert!(
        err.contains("ALLOWED_HOSTS") && err.contains("0.0.0.0:3000"),
        "{err}"
    );
    let named = [
        everywhere[0],
        everywhere[1],
        everywhere[2],
        ("ALLOWED_HOSTS", "*"),
    ];
    assert_eq!(hosts(&named).unwrap(), AllowedHosts::Any);
    assert!(
        hosts(&[("LEPTOS_SITE_ADDR", "0.0.0.0:3000")]).is_ok(),
        "development"
    );
    let err = error(&[("ALLOWED_HOSTS", "a.example/x")]);
    assert!(err.starts_with("ALLOWED_HOSTS"), "{err}");
}

#[test]
fn durations_in_seconds_take_fractions_and_refuse_what_is_no_duration() {
    let settings = parse(&[("SESSION_TTL_SECONDS", "0.25")]).unwrap();
    assert_eq!(settings.session.idle_timeout, Duration::from_millis(250));
    for bad in ["0", "-1", "nan", "inf", "1e12", "soon"] {
        let err = error(&[("SESSION_TTL_SECONDS", bad)]);
        assert!(err.starts_with("SESSION_TTL_SECONDS"), "{bad}: {err}");
    }
}
