//! Answers that leak nothing: no caching of session data, HSTS in production, JSON errors with
//! the right status for bodies and paths no server function takes, redirects that stay on this
//! site, and the origin checks of state-changing requests.

use reqwest::{redirect::Policy, Client};

use crate::helpers::{TestApp, TestRedis, SAME_ORIGIN_JSON, SESSION_KEYS};

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn session_pages_and_api_answers_are_never_cached() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    for path in ["/", "/api/session"] {
        let res = app.get(path).await;
        assert_eq!(header(&res, "cache-control"), "no-store", "{path}");
    }
    let res = app.post("/api/increment", &[]).await;
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(
        header(&res, "strict-transport-security"),
        "",
        "no HSTS in development"
    );
}

#[tokio::test]
async fn production_sends_strict_transport_security_as_configured() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("LEPTOS_ENV", "PROD")]).await;
    let res = app.get("/healthz").await;
    assert_eq!(
        header(&res, "strict-transport-security"),
        "max-age=31536000"
    );
    let app = TestApp::spawn(
        &redis,
        &[
            ("LEPTOS_ENV", "PROD"),
            ("HSTS_MAX_AGE_SECONDS", "600"),
            ("HSTS_INCLUDE_SUBDOMAINS", "true"),
        ],
    )
    .await;
    let res = app.get("/").await;
    assert_eq!(
        header(&res, "strict-transport-security"),
        "max-age=600; includeSubDomains"
    );
}

/// A 413 goes out before the body is read. The client is still sending that body; a socket
/// closed with unread bytes answers them with a reset, which would take the 413 with it. The
/// connection is closed only after the rest of the body has been read and dropped.
#[tokio::test]
async fn a_client_still_sending_a_refused_body_reads_its_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let body_length = 3 * 1024 * 1024;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/note HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\
         Sec-Fetch-Site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {body_length}\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The body follows only once the answer is out (its head read here), so the server has
    // started closing before it arrives.
    let mut answer = Vec::new();
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.expect("the answer's head");
        assert!(n > 0, "closed before the answer: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..body_length / chunk.len() {
        stream
            .write_all(&chunk)
            .await
            .expect("the body is still taken");
    }
    stream.read_to_end(&mut answer).await.expect("no reset");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn client_mistakes_get_json_errors_with_their_status() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let client = Client::new();
    let post = |path: &str| {
        let mut request = client.post(app.url(path));
        for (name, value) in SAME_ORIGIN_JSON {
            request = request.header(name, value);
        }
        request.header("content-type", "application/x-www-form-urlencoded")
    };
    let cases = [
        (
            post("/api/note").body(vec![b'a'; 3 * 1024 * 1024]),
            413,
            "payload_too_large",
        ),
        (
            post("/api/note").body(b"note=\xff\xfe".to_vec()),
            400,
            "bad_request",
        ),
        (post("/api/x").body("a=1"), 404, "not_found"),
        (client.get(app.url("/api/x")), 404, "not_found"),
        (
            client.get(app.url("/api/increment")),
            405,
            "method_not_allowed",
        ),
        (
            client.get(app.url("/api/logout")),
            405,
            "method_not_allowed",
        ),
        (post("/healthz"), 405, "method_not_allowed"),
    ];
    for (request, status, code) in cases {
        let res = request.send().await.expect("the app answers");
        let (got, content_type) = (res.status(), header(&res, "content-type"));
        let body: serde_json::Value = res.json().await.expect("a JSON error");
        assert_eq!(got, status, "{body}");
        assert_eq!(content_type, "application/json");
        assert_eq!(body["code"], code, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(!message.contains("length limit") && !message.contains("server function"));
    }
    let res = client.get(app.url("/api/increment")).send().await.unwrap();
    assert_eq!(header(&res, "allow"), "POST", "the method it does answer");
    assert!(
        redis.keys(SESSION_KEYS).is_empty(),
        "no refused request made a session"
    );
}

#[tokio::test]
async fn a_form_posted_without_javascript_is_redirected_only_within_this_site() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let client = Client::builder().redirect(Policy::none()).build().unwrap();
    let own_page = format!("http://{}/?from=form", app.addr);
    for (referer, expected) in [
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        (own_page.as_str(), "/?from=form"),
    ] {
        let res = client
            .post(app.url("/api/increment"))
            .header("accept", "text/html")
            .header("sec-fetch-site", "same-origin")
            .header("referer", referer)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{}", res.status());
        assert_eq!(header(&res, "location"), expected, "Referer {referer}");
    }
}

#[tokio::test]
async fn the_origin_must_match_scheme_host_and_port_and_without_it_the_referer_must() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", "ida:idas password")]).await;
    let ours = format!("http://{}", app.addr);
    let other_port = format!("http://127.0.0.1:{}", app.addr.port() + 1);
    let ftp = format!("ftp://{}", app.addr);
    let https = format!("https://{}", app.addr);
    let own_page = format!("{ours}/");
    let form = [("username", "ida"), ("password", "idas password")];
    let json = ("accept", "application/json");
    for (headers, status) in [
        (vec![("origin", ftp.as_str())], 403),
        (vec![("origin", https.as_str())], 403),
        (vec![("origin", other_port.as_str())], 403),
        (vec![("origin", "null")], 403),
        (vec![], 403),
        (vec![("referer", "http://evil.example/")], 403),
        (vec![("referer", own_page.as_str())], 200),
        (vec![("origin", ours.as_str())], 200),
    ] {
        let browser = app.new_browser();
        let mut all = headers.clone();
        all.push(json);
        let res = browser.post_with_headers("/api/login", &all, &form).await;
        assert_eq!(res.status(), status, "{headers:?}");
    }
}

#[tokio::test]
async fn a_same_origin_referer_whose_path_looks_like_another_host_redirects_to_a_path_here() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let client = Client::builder().redirect(Policy::none()).build().unwrap();
    let ours = format!("http://{}", app.addr);
    for (path, expected) in [
        ("//evil.example/x", "/evil.example/x"),
        ("///evil.example/x", "/evil.example/x"),
        ("/\\evil.example/x", "/evil.example/x"),
        ("/%5Cevil.example", "/%5Cevil.example"),
    ] {
        let referer = format!("{ours}{path}");
        let res = client
            .post(app.url("/api/increment"))
            .header("accept", "text/html")
            .header("sec-fetch-site", "same-origin")
            .header("referer", &referer)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{}", res.status());
        let location = header(&res, "location");
        assert!(
            location.starts_with(expected),
            "Referer {referer}: Location {location}"
        );
        let second = location.chars().nth(1);
        assert!(!matches!(second, Some('/' | '\\')), "{location}");
    }
}

/// Every line the app logs while `test` runs on a runtime of its own, as JSON, filtered by
/// `filter`: the fields too, which is where a request's path would go.
fn logged_json<F, Fut>(filter: &str, test: F) -> String
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use tracing_subscriber::layer::SubscriberExt;
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(sessionboard::server::observability::json_lines(move || {
            writer.clone()
        }));
    crate::load::on_runtime_logging_to(tracing::Dispatch::new(subscriber), test());
    let text = buffer.0.lock().unwrap().clone();
    String::from_utf8(text).unwrap()
}

#[test]
fn a_refused_cross_site_request_costs_at_most_a_short_log_line() {
    let long_path = format!("/api/{}", "a".repeat(60_000));
    let text = logged_json("sessionboard=debug", || async {
        let redis = TestRedis::start();
        let app = TestApp::spawn(&redis, &[]).await;
        let cross_site = [
            ("sec-fetch-site", "cross-site"),
            ("accept", "application/json"),
        ];
        let res = app.post_with_headers(&long_path, &cross_site, &[]).await;
        assert_eq!(res.status(), 403);
        let scrape = app.get("/metrics").await.text().await.unwrap();
        let refused = r#"sessionboard_requests_refused_total{reason="cross_site"} 1"#;
        assert!(scrape.contains(refused), "{scrape}");
    });
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 600, "a log line of {longest} bytes");
}
