//! What the app believes about where a request comes from and which site it asks for: forwarding
//! headers from a peer that is no trusted proxy are reported (once), and a `Host` that is not
//! this site's is refused before any session work, while the probes answer whatever the `Host`.

use std::time::Instant;

use serde_json::Value;
use tracing::Level;

use crate::{
    helpers::{http_client, TestApp, TestRedis, SESSION_KEYS},
    load::with_captured_logs,
};

const SAME_ORIGIN: [(&str, &str); 2] = [
    ("accept", "application/json"),
    ("sec-fetch-site", "same-origin"),
];

/// Three new sessions, each with `header` as a proxy would add it.
async fn new_sessions_with(app: &TestApp, header: (&str, &str)) {
    for _ in 0..3 {
        let mut headers = SAME_ORIGIN.to_vec();
        headers.push(header);
        let res = app
            .new_browser()
            .post_with_headers("/api/increment", &headers, &[])
            .await;
        assert_eq!(res.status(), 200);
    }
}

#[test]
fn forwarding_headers_from_a_peer_that_is_no_trusted_proxy_are_reported_once() {
    let started = Instant::now();
    let mut between = None;
    let mark = &mut between;
    let lines = with_captured_logs(move |_| async move {
        let redis = TestRedis::start();
        let behind_proxy = TestApp::spawn(&redis, &[("TRUSTED_PROXIES", "127.0.0.0/8")]).await;
        new_sessions_with(&behind_proxy, ("x-forwarded-for", "198.51.100.1")).await;
        *mark = Some(Instant::now());
        let direct = TestApp::spawn(&redis, &[]).await;
        new_sessions_with(&direct, ("x-forwarded-for", "198.51.100.1")).await;
        new_sessions_with(&direct, ("forwarded", "for=198.51.100.2")).await;
    });
    let between = between.expect("the test ran");
    let reported = |from, to| {
        lines
            .between(from, to)
            .into_iter()
            .filter(|line| line.level == Level::WARN && line.message.contains("TRUSTED_PROXIES"))
            .count()
    };
    assert_eq!(reported(started, between), 0, "a trusted proxy is expected");
    assert_eq!(reported(between, Instant::now()), 1, "once per process");
}

/// `GET path` with exactly this `Host`: the status and the body.
async fn get_with_host(app: &TestApp, path: &str, host: &str) -> (u16, String) {
    let res = http_client(false)
        .get(app.url(path))
        .header("host", host)
        .header("accept", "application/json")
        .send()
        .await
        .expect("the app answers");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_host_that_is_not_this_site_is_refused_before_any_session_work() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let port = app.addr.port();
    for path in ["/api/session", "/", "/no/such/file.css", "/metrics"] {
        let (status, body) = get_with_host(&app, path, "evil.example").await;
        assert_eq!(status, 400, "{path}: {body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(error["code"], "host_not_allowed", "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let res = http_client(false)
        .post(app.url("/api/increment"))
        .header("host", "evil.example:80")
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(redis.keys(SESSION_KEYS).is_empty(), "no session for it");

    for probe in ["/healthz", "/readyz"] {
        assert_eq!(get_with_host(&app, probe, "evil.example").await.0, 200);
    }
    // The site address and, in development, the loopback names of this machine.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, body) = get_with_host(&app, "/api/session", &host).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
}

#[tokio::test]
async fn allowed_hosts_names_the_hosts_this_site_answers_to() {
    let redis = TestRedis::start();
    let overrides = [("ALLOWED_HOSTS", "app.example, www.app.example")];
    let app = TestApp::spawn(&redis, &overrides).await;
    for (host, status) in [
        ("app.example", 200),
        ("WWW.App.Example:8443", 200),
        ("app.example.", 200),
        ("evil.example", 400),
        ("sub.app.example", 400),
        ("127.0.0.1", 400),
    ] {
        let (got, body) = get_with_host(&app, "/api/session", host).await;
        assert_eq!(got, status, "{host}: {body}");
    }

    let production = TestApp::spawn(&redis, &[("LEPTOS_ENV", "PROD")]).await;
    let port = production.addr.port();
    let ours = format!("127.0.0.1:{port}");
    assert_eq!(
        get_with_host(&production, "/api/session", &ours).await.0,
        200
    );
    let other_name = format!("localhost:{port}");
    let (status, _) = get_with_host(&production, "/api/session", &other_name).await;
    assert_eq!(status, 400, "production answers to the site address only");
}
