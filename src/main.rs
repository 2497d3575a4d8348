#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use std::process::ExitCode;

    use sessionboard::server::{
        config::Settings, observability::init_logging, startup::Application, DEFAULT_LOG_FILTER,
    };

    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("sessionboard: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.server.log_format, DEFAULT_LOG_FILTER);
    let leptos_options = match leptos::config::get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(err) => {
            eprintln!("sessionboard: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let application =
        match Application::build(settings, leptos_options, sessionboard::pages()).await {
            Ok(application) => application,
            Err(err) => {
                eprintln!("sessionboard: {err}");
                return ExitCode::from(3);
            }
        };
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sessionboard: server error: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser entry point is `hydrate` in lib.rs.
}
