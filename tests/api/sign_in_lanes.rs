//! Who gets in while others guess: the owner on a new browser from a network the account signed
//! in from before, and nobody faster than the per-account rate of successful sign-ins.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Instant,
};

use crate::{
    helpers::{TestApp, TestRedis},
    lockout::{guess_continuously, wait_for_the_slowdown},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_on_a_new_browser_from_a_known_network_signs_in_during_distributed_guessing() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("DEMO_USERS", "tove:toves password"),
            ("LOGIN_SLOWDOWN_AFTER_FAILURES_PER_USER", "2"),
            ("LOGIN_SLOWDOWN_MAX_SECONDS", "30"),
        ],
    )
    .await;
    // Her laptop at home signed in before; her phone, at home too, never did.
    let laptop = app.browser_from("127.0.9.10");
    assert_eq!(laptop.login("tove", "toves password").await, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let guessing = guess_continuously(&app, "tove", stop.clone());
    wait_for_the_slowdown(&redis, "tove").await;
    // Even with the right password, a browser on another network waits behind the guessers.
    let stranger = app.browser_from("127.0.8.1");
    let refused = stranger.login("tove", "toves password").await == 429;
    let phone = app.browser_from("127.0.9.20");
    let started = Instant::now();
    let from_phone = phone.login("tove", "toves password").await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let guesses = guessing.await.expect("guessing task");

    assert!(refused, "an unknown network waits behind the guessers");
    assert_eq!(
        from_phone, 200,
        "a known network is not behind anyone's guesses"
    );
    println!("the phone signed in in {took:?} during {guesses} guesses from 12 addresses");
}

#[tokio::test]
async fn successful_sign_ins_to_one_account_are_limited_per_window() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", "uma:umas password")]).await;
    let limit = sessionboard::server::accounts::SIGN_INS_PER_WINDOW;
    for i in 0..limit {
        let browser = app.browser_from(&format!("127.0.10.{}", i % 4 + 1));
        assert_eq!(
            browser.login("uma", "umas password").await,
            200,
            "sign-in {i}"
        );
    }
    let res = app
        .browser_from("127.0.10.9")
        .login_response("uma", "umas password")
        .await;
    assert_eq!(res.status(), 429);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Try again in"),
        "{body}"
    );
}

#[tokio::test]
async fn a_sign_in_through_a_device_cookie_makes_its_network_known_too() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("DEMO_USERS", "vivi:vivis password")]).await;
    let laptop = app.browser_from("127.0.13.5");
    assert_eq!(laptop.login("vivi", "vivis password").await, 200);
    laptop.logout().await;
    let networks = "sessionboard:sign-in-networks:user:{vivi}";
    redis.cli(&["DEL", networks]);
    // Now with the device cookie the first sign-in gave this browser.
    assert_eq!(laptop.login("vivi", "vivis password").await, 200);
    assert_ne!(
        redis.cli(&["ZSCORE", networks, "127.0.13.0/24"]).trim(),
        "",
        "the network is known"
    );
}
