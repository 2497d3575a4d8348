//! Accounts: registering, signing in and out, the new session id at sign-in, and the
//! brute-force limits on password checks.

use std::time::{Duration, Instant};

use crate::helpers::{
    count, eventually, in_parallel, session_cookie, TestApp, TestRedis, SESSION_KEYS,
};

#[tokio::test]
async fn register_sign_in_and_sign_out() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    assert_eq!(app.register("Alice", "correct horse").await, "alice");
    assert_eq!(
        redis
            .cli(&["EXISTS", "sessionboard:user:{alice}:account"])
            .trim(),
        "1"
    );
    assert!(!redis
        .cli(&["HGET", "sessionboard:user:{alice}:account", "password_hash"])
        .contains("correct horse"));

    app.increment().await;
    app.increment().await;
    assert_eq!(app.login("alice", "correct horse").await, 200);
    let view = app.session().await;
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

    app.logout().await;
    assert!(
        redis.keys(SESSION_KEYS).is_empty(),
        "sign-out deletes the record"
    );
    let view = app.session().await;
    assert!(!view.active && view.user.is_none());
}

#[tokio::test]
async fn sign_in_cycles_the_session_id_and_the_old_one_is_dead() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    app.register("bob", "bobs password").await;
    // Cookies by hand, to try the pre-login id after the browser has replaced it.
    let before = app.new_session_cookie().await;
    let old_key = redis.keys(SESSION_KEYS).pop().unwrap();

    let credentials = [("username", "bob"), ("password", "bobs password")];
    let res = app
        .post_with_cookie("/api/login", &before, &credentials)
        .await;
    assert_eq!(res.status(), 200);
    let after = session_cookie(&res).expect("a new cookie");
    assert_ne!(before, after);
    assert_eq!(redis.pttl(&old_key), -2, "the pre-login record is gone");
    let (_, old) = app.session_with_cookie(&before).await;
    assert!(!old.unwrap().active, "the pre-login id loads nothing");
    let (_, new) = app.session_with_cookie(&after).await;
    let new = new.unwrap();
    assert_eq!((new.user.as_deref(), new.counter), (Some("bob"), 1));
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_have_exactly_one_winner() {
    let redis = TestRedis::start();
    // Twelve registrations from one address: more than it may make an hour by default.
    let app = TestApp::spawn(&redis, &[("REGISTRATION_MAX_PER_ADDRESS_PER_HOUR", "100")]).await;
    let statuses = in_parallel(12, |i| {
        let browser = app.new_browser();
        async move {
            let password = format!("password-{i}");
            let form = [("username", "carol"), ("password", password.as_str())];
            browser.post("/api/register", &form).await.status().as_u16()
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
    app.register("dave", "daves password").await;
    let app = &app;
    let attempt = |user: &'static str| async move {
        let started = Instant::now();
        let res = app.login_response(user, "not the password").await;
        let status = res.status().as_u16();
        let mut body: serde_json::Value = res.json().await.unwrap();
        // Each answer names its own request; everything else must match.
        body.as_object_mut().unwrap().remove("request_id");
        (status, body, started.elapsed())
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
    const WINDOW: Duration = Duration::from_secs(1);
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("LOGIN_MAX_FAILURES_PER_USER", "3"),
            ("LOGIN_FAILURE_WINDOW_SECONDS", "1"),
        ],
    )
    .await;
    app.register("erin", "erins password").await;
    let first_failure = Instant::now();
    for _ in 0..3 {
        assert_eq!(app.login("erin", "wrong password").await, 401);
    }
    let res = app.login_response("erin", "erins password").await;
    assert_eq!(res.status(), 429, "locked even with the right password");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Try again in"),
        "{body}"
    );

    // Asking again while locked is refused without being counted: the lock lifts with the
    // window, and not before.
    eventually("the lock lifts with the window", WINDOW * 3, || async {
        app.login("erin", "erins password").await == 200
    })
    .await;
    let lifted_after = first_failure.elapsed();
    assert!(lifted_after >= WINDOW, "lifted after {lifted_after:?}");
    assert_eq!(
        redis
            .cli(&[
                "EXISTS",
                "sessionboard:login-failures:user:{erin}:ip:127.0.0.1"
            ])
            .trim(),
        "0",
        "success resets the count"
    );
}

#[tokio::test]
async fn a_burst_of_concurrent_guesses_cannot_exceed_the_limit() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("LOGIN_MAX_FAILURES_PER_USER", "3"),
            ("DEMO_USERS", "kim:kims password"),
        ],
    )
    .await;
    let statuses = in_parallel(12, |i| {
        let browser = app.new_browser();
        async move { browser.login("kim", &format!("guess number {i}")).await }
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
    assert_eq!(app.login("lee", "lees password").await, 200);
    for _ in 0..3 {
        let res = app.change_password("a guess!", "new password").await;
        assert_eq!(res.status(), 401);
    }
    let res = app.change_password("lees password", "new password").await;
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn repeated_failures_from_one_address_lock_it() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("LOGIN_MAX_FAILURES_PER_ADDRESS", "4")]).await;
    app.register("frank", "franks password").await;
    for user in ["u1", "u2", "u3", "u4"] {
        assert_eq!(app.login(user, "whatever1").await, 401);
    }
    assert_eq!(app.login("frank", "franks password").await, 429);
}
