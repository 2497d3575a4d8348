//! Issue 3: accounts, sign-in and sign-out, and the session security around them.

mod common;

use std::time::{Duration, Instant};

use common::{
    bare_client, client, count, get_session, get_session_with, in_parallel, increment, login, post,
    register, session_cookie, TestApp, TestRedis,
};

#[tokio::test]
async fn register_sign_in_and_sign_out() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let http = client();
    register(&app, &http, "Alice", "correct horse").await;
    assert_eq!(
        redis
            .cli(&["EXISTS", "sessionboard:user:{alice}:account"])
            .trim(),
        "1"
    );
    assert!(!redis
        .cli(&["HGET", "sessionboard:user:{alice}:account", "password_hash"])
        .contains("correct horse"));

    increment(&app, &http).await;
    increment(&app, &http).await;
    assert_eq!(login(&app, &http, "alice", "correct horse").await, 200);
    let view = get_session(&app, &http).await;
    assert_eq!(view.user.as_deref(), Some("alice"));
    assert_eq!(
        view.counter, 2,
        "the anonymous counter is kept across sign-in"
    );
    let signed_in_at = view.signed_in_at.expect("sign-in time");
    assert!(
        view.absolute_expires_at >= signed_in_at + 30 * 24 * 3600 * 1000 - 1000,
        "the absolute clock starts at sign-in"
    );

    assert_eq!(post(&app, &http, "/api/logout", &[]).await.status(), 200);
    assert!(
        redis.session_keys().is_empty(),
        "sign-out deletes the record"
    );
    let view = get_session(&app, &http).await;
    assert!(!view.active && view.user.is_none());
}

#[tokio::test]
async fn sign_in_cycles_the_session_id_and_the_old_one_is_dead() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let http = bare_client();
    register(&app, &http, "bob", "bobs password").await;
    let res = post(&app, &http, "/api/increment", &[]).await;
    let before = session_cookie(&res).expect("anonymous cookie");
    let old_key = redis.session_keys().pop().unwrap();

    let res = http
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .header("cookie", &before)
        .form(&[("username", "bob"), ("password", "bobs password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after = session_cookie(&res).expect("a new cookie");
    assert_ne!(before, after);
    assert_eq!(redis.pttl(&old_key), -2, "the pre-login record is gone");
    let (_, old) = get_session_with(&app, &http, &before).await;
    assert!(!old.unwrap().active, "the pre-login id loads nothing");
    let (_, new) = get_session_with(&app, &http, &after).await;
    let new = new.unwrap();
    assert_eq!((new.user.as_deref(), new.counter), (Some("bob"), 1));
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_have_exactly_one_winner() {
    let redis = TestRedis::start();
    let app = std::sync::Arc::new(TestApp::spawn(&redis, &[]).await);
    let statuses = in_parallel(12, |i| {
        let app = app.clone();
        async move {
            let password = format!("password-{i}");
            let form = [("username", "carol"), ("password", password.as_str())];
            post(&app, &bare_client(), "/api/register", &form)
                .await
                .status()
                .as_u16()
        }
    })
    .await;
    assert_eq!(count(&statuses, 200), 1, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 11, "{statuses:?}");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("LOGIN_MAX_FAILURES_PER_USER", "100"),
            ("LOGIN_MAX_FAILURES_PER_ADDRESS", "100"),
        ],
    )
    .await;
    let http = bare_client();
    register(&app, &http, "dave", "daves password").await;
    let attempt = |user: &'static str| {
        let http = http.clone();
        let url = app.url("/api/login");
        async move {
            let started = Instant::now();
            let res = http
                .post(url)
                .header("accept", "application/json")
                .form(&[("username", user), ("password", "not the password")])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap(), started.elapsed())
        }
    };
    let (wrong_status, wrong_body, _) = attempt("dave").await;
    let (unknown_status, unknown_body, _) = attempt("nobody").await;
    assert_eq!((wrong_status, &wrong_body), (unknown_status, &unknown_body));
    assert_eq!(wrong_status, 401);

    // Both paths verify one Argon2id hash (the unknown user against a decoy): neither is a
    // shortcut that answers in a fraction of the time. Interleaved tries smooth out the noise of
    // other tests hashing at the same time; the bound is loose on purpose.
    let mut wrong = Duration::ZERO;
    let mut unknown = Duration::ZERO;
    for _ in 0..6 {
        wrong += attempt("dave").await.2;
        unknown += attempt("nobody").await.2;
    }
    assert!(
        unknown * 3 > wrong && wrong * 3 > unknown,
        "wrong password {wrong:?} vs unknown user {unknown:?}"
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_user_until_the_window_passes() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("LOGIN_MAX_FAILURES_PER_USER", "3"),
            ("LOGIN_FAILURE_WINDOW_SECONDS", "2"),
        ],
    )
    .await;
    let http = bare_client();
    register(&app, &http, "erin", "erins password").await;
    for _ in 0..3 {
        assert_eq!(login(&app, &http, "erin", "wrong password").await, 401);
    }
    let res = post(
        &app,
        &http,
        "/api/login",
        &[("username", "erin"), ("password", "erins password")],
    )
    .await;
    assert_eq!(res.status(), 429, "locked even with the right password");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Try again in"),
        "{body}"
    );

    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(login(&app, &http, "erin", "erins password").await, 200);
    assert_eq!(
        redis
            .cli(&["EXISTS", "sessionboard:login-failures:user:{erin}"])
            .trim(),
        "0",
        "success resets the count"
    );
}

#[tokio::test]
async fn a_burst_of_concurrent_guesses_cannot_exceed_the_limit() {
    let redis = TestRedis::start();
    let app = std::sync::Arc::new(
        TestApp::spawn(
            &redis,
            &[
                ("LOGIN_MAX_FAILURES_PER_USER", "3"),
                ("DEMO_USERS", "kim:kims password"),
            ],
        )
        .await,
    );
    let statuses = in_parallel(12, |i| {
        let app = app.clone();
        async move { login(&app, &bare_client(), "kim", &format!("guess number {i}")).await }
    })
    .await;
    assert_eq!(
        count(&statuses, 401),
        3,
        "only 3 passwords were checked: {statuses:?}"
    );
    assert_eq!(count(&statuses, 429), 9, "{statuses:?}");
}

#[tokio::test]
async fn a_password_change_is_no_free_password_oracle() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("LOGIN_MAX_FAILURES_PER_USER", "3"),
            ("DEMO_USERS", "lee:lees password"),
        ],
    )
    .await;
    let http = client();
    assert_eq!(login(&app, &http, "lee", "lees password").await, 200);
    for _ in 0..3 {
        let res = post(
            &app,
            &http,
            "/api/password",
            &[("current", "a guess!"), ("new", "new password")],
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    let res = post(
        &app,
        &http,
        "/api/password",
        &[("current", "lees password"), ("new", "new password")],
    )
    .await;
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn repeated_failures_from_one_address_lock_it() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("LOGIN_MAX_FAILURES_PER_ADDRESS", "4")]).await;
    let http = bare_client();
    register(&app, &http, "frank", "franks password").await;
    for user in ["u1", "u2", "u3", "u4"] {
        assert_eq!(login(&app, &http, user, "whatever1").await, 401);
    }
    assert_eq!(login(&app, &http, "frank", "franks password").await, 429);
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_change_nothing() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", "grace:graces password")]).await;
    let http = client();
    let evil = |path: &str| {
        http.post(app.url(path))
            .header("origin", "http://evil.example")
            .header("sec-fetch-site", "cross-site")
            .form(&[("username", "grace"), ("password", "graces password")])
    };
    let res = evil("/api/login").send().await.unwrap();
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "cross_site_request");
    assert!(redis.session_keys().is_empty(), "no one was signed in");

    assert_eq!(login(&app, &http, "grace", "graces password").await, 200);
    // An old browser without Sec-Fetch-Site: Origin alone decides.
    let res = http
        .post(app.url("/api/logout"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        get_session(&app, &http).await.user.as_deref(),
        Some("grace"),
        "still signed in"
    );

    let same = http
        .post(app.url("/api/logout"))
        .header("origin", format!("http://{}", app.addr))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let res = client().get(app.url("/")).send().await.unwrap();
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

    let api = client().get(app.url("/api/session")).send().await.unwrap();
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}
