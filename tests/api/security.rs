//! Browser-facing hardening: state changes from other sites are refused, and every response
//! carries the security headers (a per-response CSP nonce on pages).

use crate::helpers::{TestApp, TestRedis, SESSION_KEYS};

#[tokio::test]
async fn cross_site_posts_are_refused_and_change_nothing() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", "grace:graces password")]).await;
    let evil = ("origin", "http://evil.example");
    let res = app
        .post_with_headers(
            "/api/login",
            &[evil, ("sec-fetch-site", "cross-site")],
            &[("username", "grace"), ("password", "graces password")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "cross_site_request");
    assert!(redis.keys(SESSION_KEYS).is_empty(), "no one was signed in");

    assert_eq!(app.login("grace", "graces password").await, 200);
    // An old browser without Sec-Fetch-Site: Origin alone decides.
    let res = app.post_with_headers("/api/logout", &[evil], &[]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.session().await.user.as_deref(),
        Some("grace"),
        "still signed in"
    );

    let same_origin = format!("http://{}", app.addr);
    let same = app
        .post_with_headers(
            "/api/logout",
            &[
                ("origin", same_origin.as_str()),
                ("accept", "application/json"),
            ],
            &[],
        )
        .await;
    assert_eq!(same.status(), 200);
    assert!(app.session().await.user.is_none(), "signed out");
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "same-origin");
    let csp = header("content-security-policy");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the CSP")
        .to_string();
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "inline scripts carry the nonce"
    );
    assert!(csp.contains("frame-ancestors 'none'"));

    let api = app.get("/api/session").await;
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}
