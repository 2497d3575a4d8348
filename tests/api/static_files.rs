//! Static files leave compressed when the client accepts it; content-hashed files (cargo-leptos
//! `hash-files`, under the pkg directory) are cached as immutable, and nothing else is.

use leptos::prelude::LeptosOptions;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING};
use sessionboard::server::startup::Application;

use crate::helpers::{settings, TestRedis};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The app serving a site folder of its own, with or without hashed names.
async fn serve_site(redis: &TestRedis, hash_files: bool) -> (String, std::path::PathBuf) {
    let site = std::env::temp_dir().join(format!(
        "sessionboard-test-site-{}-{}",
        redis.port,
        std::process::id()
    ));
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let script = "console.log('hydrating');\n".repeat(200);
    std::fs::write(site.join("pkg/sessionboard.Ab12Cd.js"), &script).unwrap();
    std::fs::write(
        site.join("favicon.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .unwrap();
    let mut options = LeptosOptions::builder()
        .output_name("sessionboard")
        .site_root(site.to_string_lossy().to_string())
        .build();
    options.hash_files = hash_files;
    let settings = settings(redis.port, &[]).unwrap();
    let application = Application::build(settings, options, sessionboard::pages())
        .await
        .unwrap();
    let url = format!("http://{}", application.addr());
    tokio::spawn(application.run_until_stopped());
    (url, site)
}

#[tokio::test]
async fn hashed_files_are_immutable_and_compressed_but_api_answers_are_not_cached() {
    let redis = TestRedis::start();
    let (url, site) = serve_site(&redis, true).await;
    let http = reqwest::Client::new();

    let script = http
        .get(format!("{url}/pkg/sessionboard.Ab12Cd.js"))
        .header(ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()[CACHE_CONTROL], IMMUTABLE);
    assert_eq!(script.headers()[CONTENT_ENCODING], "br");

    let gzip = http
        .get(format!("{url}/pkg/sessionboard.Ab12Cd.js"))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzip.headers()[CONTENT_ENCODING], "gzip");

    let plain_asset = http.get(format!("{url}/favicon.svg")).send().await.unwrap();
    assert_eq!(plain_asset.status(), 200);
    assert!(plain_asset.headers().get(CACHE_CONTROL).is_none());

    let api = http.get(format!("{url}/api/session")).send().await.unwrap();
    assert_eq!(api.status(), 200);
    assert_eq!(
        api.headers()[CACHE_CONTROL],
        "no-store",
        "session data is never cached"
    );

    let _ = std::fs::remove_dir_all(site);
}

#[tokio::test]
async fn pages_and_files_without_hashed_names_are_compressed_but_never_immutable() {
    // Pages are rendered here without hashed names: with them, Leptos needs a hash.txt next to
    // the (test) binary.
    let redis = TestRedis::start();
    let (url, site) = serve_site(&redis, false).await;
    let http = reqwest::Client::new();
    let script = http
        .get(format!("{url}/pkg/sessionboard.Ab12Cd.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers().get(CACHE_CONTROL).is_none());

    let page = http
        .get(format!("{url}/"))
        .header(ACCEPT, "text/html")
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(
        page.headers()[CACHE_CONTROL],
        "no-store",
        "session data is never cached"
    );
    // A file that does not exist: a 404, never marked immutable.
    let missing = http
        .get(format!("{url}/pkg/sessionboard.gone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().get(CACHE_CONTROL).is_none());

    let _ = std::fs::remove_dir_all(site);
}

/// The status line of a request sent as written: an HTTP client would resolve the `..` itself.
async fn raw_status(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_path_that_climbs_out_of_a_file_is_not_found() {
    let redis = TestRedis::start();
    let (url, site) = serve_site(&redis, false).await;
    for path in [
        "/favicon.svg/..",
        "/favicon.svg/../favicon.svg",
        "/favicon.svg/x",
        // Backslashes are slashes to URL parsers (and so to Leptos' router).
        "/favicon.svg\\..",
        "/about\\..",
        "/\\..",
        "/favicon.svg\\%2e%2e",
        "/%5C..",
        "/about%5C..",
    ] {
        let status = raw_status(&url, path).await;
        assert_eq!(status, "HTTP/1.1 404 Not Found", "{path}");
    }
    assert_eq!(raw_status(&url, "/favicon.svg").await, "HTTP/1.1 200 OK");
    let _ = std::fs::remove_dir_all(site);
}
