//! Anonymous sessions are cheap to ask for, so they are limited: a shorter idle timeout and a
//! number of new ones per address and minute. The address is the TCP peer unless it is a trusted
//! proxy. A rotated cookie secret signs nobody out.

use crate::helpers::{Browser, TestApp, TestRedis, SESSION_KEYS, TEST_SECRET};

#[tokio::test]
async fn new_sessions_are_limited_per_address_and_refused_ones_store_nothing() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SESSION_NEW_PER_ADDRESS_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        let res = app.new_browser().post("/api/increment", &[]).await;
        assert_eq!(res.status(), 200);
    }
    let res = app.new_browser().post("/api/increment", &[]).await;
    assert_eq!(res.status(), 429);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Try again in"));
    let forged = app
        .post_with_cookie("/api/increment", "sessionboard=garbage", &[])
        .await;
    assert_eq!(forged.status(), 429, "a forged cookie counts like none");
    assert_eq!(
        redis.keys(SESSION_KEYS).len(),
        3,
        "refused requests stored nothing"
    );

    let elsewhere = app.browser_from("127.0.5.1");
    assert_eq!(
        elsewhere.increment().await,
        1,
        "other addresses are not affected"
    );
}

#[tokio::test]
async fn anonymous_sessions_idle_out_sooner_than_signed_in_ones() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("SESSION_ANONYMOUS_TTL_SECONDS", "60"),
            ("DEMO_USERS", "sam:sams password"),
        ],
    )
    .await;
    app.increment().await;
    let key = redis.keys(SESSION_KEYS).pop().unwrap();
    let ttl = redis.pttl(&key);
    assert!((50_000..=60_000).contains(&ttl), "{ttl}");
    assert_eq!(app.session().await.idle_timeout_seconds, 60);

    assert_eq!(app.login("sam", "sams password").await, 200);
    let key = redis.keys(SESSION_KEYS).pop().unwrap();
    assert!(
        redis.pttl(&key) > 6 * 24 * 3600 * 1000,
        "7 days once signed in"
    );
    let view = app.session().await;
    assert_eq!(view.idle_timeout_seconds, 604_800);
}

async fn address_seen(app: &TestApp, forwarded: &[(&str, &str)]) -> String {
    address_seen_by(&app.new_browser(), forwarded).await
}

/// The address "Your sessions" shows for a sign-in by `browser` sending `forwarded` headers.
async fn address_seen_by(browser: &Browser, forwarded: &[(&str, &str)]) -> String {
    let mut headers = crate::helpers::SAME_ORIGIN_JSON.to_vec();
    headers.extend_from_slice(forwarded);
    let form = [("username", "tess"), ("password", "tesss password")];
    let res = browser
        .post_with_headers("/api/login", &headers, &form)
        .await;
    assert_eq!(res.status(), 200);
    let sessions = browser.sessions().await;
    let this = sessions
        .iter()
        .find(|s| s["this_device"] == true)
        .expect("this session is listed");
    this["address"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let redis = TestRedis::start();
    let users = ("DEMO_USERS", "tess:tesss password");
    let direct = TestApp::spawn(&redis, &[users]).await;
    let xff = [("x-forwarded-for", "198.51.100.7")];
    assert_eq!(address_seen(&direct, &xff).await, "127.0.0.1");

    let proxied = TestApp::spawn(&redis, &[users, ("TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    assert_eq!(address_seen(&proxied, &xff).await, "198.51.100.7");
    let spoofed = [("x-forwarded-for", "1.1.1.1, 198.51.100.8")];
    assert_eq!(address_seen(&proxied, &spoofed).await, "198.51.100.8");
    let forwarded = [("forwarded", "for=\"[2001:db8::9]:443\"")];
    assert_eq!(address_seen(&proxied, &forwarded).await, "127.0.0.1");

    let overrides = [
        users,
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
        ("TRUSTED_PROXY_HEADER", "forwarded"),
    ];
    let standard = TestApp::spawn(&redis, &overrides).await;
    assert_eq!(address_seen(&standard, &forwarded).await, "2001:db8::9");
    assert_eq!(address_seen(&standard, &xff).await, "127.0.0.1");
}

/// A proxy that appends to `X-Forwarded-For` passes the client's own `Forwarded` through: only
/// the configured header may name the client, or every per-address limit keys on an address
/// the client picks.
#[tokio::test]
async fn a_clients_own_forwarded_header_does_not_choose_its_address() {
    let redis = TestRedis::start();
    let overrides = [
        ("DEMO_USERS", "tess:tesss password"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ];
    let app = TestApp::spawn(&redis, &overrides).await;
    let proxy = app.browser_from("127.0.0.9");
    let both = [
        ("forwarded", "for=203.0.113.66"),
        ("x-forwarded-for", "198.51.100.7"),
    ];
    assert_eq!(address_seen_by(&proxy, &both).await, "198.51.100.7");
    let only_forwarded = [("forwarded", "for=203.0.113.67")];
    let proxy = app.browser_from("127.0.0.9");
    assert_eq!(address_seen_by(&proxy, &only_forwarded).await, "127.0.0.9");

    let limited = TestApp::spawn(
        &redis,
        &[
            ("TRUSTED_PROXIES", "127.0.0.0/8"),
            ("SESSION_NEW_PER_ADDRESS_PER_MINUTE", "2"),
        ],
    )
    .await;
    let mut statuses = Vec::new();
    for n in 0..3 {
        let forwarded = format!("for=203.0.113.{n}");
        let headers = [
            ("accept", "application/json"),
            ("sec-fetch-site", "same-origin"),
            ("x-forwarded-for", "198.51.100.20"),
            ("forwarded", forwarded.as_str()),
        ];
        let browser = limited.browser_from("127.0.0.9");
        let res = browser
            .post_with_headers("/api/increment", &headers, &[])
            .await;
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429], "one client, one count");
}

#[tokio::test]
async fn rotating_the_cookie_secret_signs_nobody_out() {
    let redis = TestRedis::start();
    let users = ("DEMO_USERS", "uma:umas password");
    let before = TestApp::spawn(&redis, &[users]).await;
    assert_eq!(before.login("uma", "umas password").await, 200);
    let browser = before.new_browser();
    assert_eq!(browser.login("uma", "umas password").await, 200);
    before.kill().await;

    let new_secret = "a-brand-new-secret-of-forty-characters!!";
    let rotated = TestApp::spawn(
        &redis,
        &[
            users,
            ("SESSION_SECRET", new_secret),
            ("SESSION_SECRET_PREVIOUS", TEST_SECRET),
        ],
    )
    .await;
    let res = browser.at(&rotated).get("/api/session").await;
    assert!(
        res.headers().get("set-cookie").is_some(),
        "the cookie is re-issued signed with the new secret"
    );
    let view: serde_json::Value = res.json().await.unwrap();
    assert_eq!(view["user"], "uma", "still signed in after the rotation");
    rotated.kill().await;

    let only_new = TestApp::spawn(&redis, &[users, ("SESSION_SECRET", new_secret)]).await;
    let view = browser.at(&only_new).session().await;
    assert_eq!(
        view.user.as_deref(),
        Some("uma"),
        "the re-issued cookie needs no old secret"
    );
    let stranger = TestApp::spawn(&redis, &[users, ("SESSION_SECRET", new_secret)]).await;
    let (_, view) = stranger.session_with_cookie("sessionboard=forged").await;
    assert!(view.is_none_or(|v| v.user.is_none()));
}
