// mimalloc, not glibc's malloc: glibc's arenas contend between busy workers and keep memory that
// requests have freed (docs/benchmarks.md).
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(sessionboard::server::serve::WORKER_STACK_BYTES)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(serve()),
        Err(err) => {
            eprintln!("sessionboard: cannot start the async runtime: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "ssr")]
async fn serve() -> std::process::ExitCode {
    use std::process::ExitCode;

    use sessionboard::server::{
        config::Settings,
        observability::init_logging,
        redis::RedisError,
        startup::{Application, StartupError},
        DEFAULT_LOG_FILTER,
    };

    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("sessionboard: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.server.log_format(), DEFAULT_LOG_FILTER);
    let leptos_options = match leptos::config::get_configuration(None) {
        Ok(conf) => with_hashed_names_detected(conf.leptos_options),
        Err(err) => {
            eprintln!("sessionboard: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let application =
        match Application::build(settings, leptos_options, sessionboard::pages()).await {
            Ok(application) => application,
            Err(StartupError::Redis(RedisError::Config(err))) => {
                eprintln!("sessionboard: configuration error: {err}");
                return ExitCode::from(2);
            }
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

/// cargo-leptos (`hash-files`) writes the content-hashed file names to hash.txt next to the
/// binary and exports LEPTOS_HASH_FILES only to the processes it runs itself. The same binary
/// started any other way (tests, a container) finds its files through that hash.txt too.
#[cfg(feature = "ssr")]
fn with_hashed_names_detected(
    mut options: leptos::config::LeptosOptions,
) -> leptos::config::LeptosOptions {
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        options.hash_files = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(options.hash_file.as_ref())))
            .is_some_and(|path| path.is_file());
    }
    options
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser entry point is `hydrate` in lib.rs.
}
