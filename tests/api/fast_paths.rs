//! The fast paths (`server::session_api`) answer `GET /api/session` and `POST /api/increment`
//! without Leptos' dispatch, at the server functions' own `PATH`s and with the server functions'
//! own bodies (`ui::home::read_session_of`, `increment_counter_of`). Checked here: the paths are
//! the server functions', and for the same session the fast path answers what Leptos' dispatch
//! of the server function (the code a page render calls) answers, values and errors alike — so a
//! check added to the shared body holds for both.

use std::time::Duration;

use leptos::{prelude::LeptosOptions, server_fn::ServerFn};
use reqwest::{header::HeaderMap, Client, Method};
use serde_json::Value;
use sessionboard::{
    server::{router::Pages, startup::Application},
    ui::home::{GetSession, IncrementCounter},
};
use tokio::sync::oneshot;

use crate::helpers::{eventually_ok, http_client, settings, TestApp, TestRedis};

#[test]
fn the_fast_paths_are_at_the_server_functions_own_paths() {
    let fast_paths = (sessionboard::pages().fast_paths)();
    let paths: Vec<&str> = fast_paths.iter().map(|fast| fast.path()).collect();
    assert_eq!(paths, [GetSession::PATH, IncrementCounter::PATH]);
    // What browsers and scripts call.
    assert_eq!(paths, ["/api/session", "/api/increment"]);
}

/// The app with no fast paths: every `/api/…` call goes through Leptos' dispatch. Stops when
/// dropped.
struct LeptosDispatch {
    url: String,
    _stop: oneshot::Sender<()>,
}

async fn spawn_without_fast_paths(redis: &TestRedis) -> LeptosDispatch {
    let pages = Pages {
        fast_paths: Vec::new,
        ..sessionboard::pages()
    };
    let options = LeptosOptions::builder().output_name("sessionboard").build();
    let settings = settings(redis.port, &[]).expect("settings");
    let application = Application::build(settings, options, pages)
        .await
        .expect("the app connects to the test Redis");
    let url = format!("http://{}", application.addr());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    LeptosDispatch { url, _stop: stop }
}

/// A call as the page's script makes it, with exactly this cookie: status, headers, body.
async fn call(
    client: &Client,
    method: Method,
    url: &str,
    cookie: &str,
) -> (u16, HeaderMap, String) {
    let res = client
        .request(method, url)
        .header("accept", "application/json")
        .header("sec-fetch-site", "same-origin")
        .header("cookie", cookie)
        .send()
        .await
        .expect("the app answers");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

/// The first answer that is not a 200, asking for up to 5 s: a read the app still holds in
/// memory (the store's near cache) is answered until the app sees that Redis has gone.
async fn failing(
    client: &Client,
    method: Method,
    url: &str,
    cookie: &str,
) -> (u16, HeaderMap, String) {
    eventually_ok(
        "an answer other than 200",
        Duration::from_secs(5),
        || async {
            let answer = call(client, method.clone(), url, cookie).await;
            match answer.0 {
                200 => Err(answer.2),
                _ => Ok(answer),
            }
        },
    )
    .await
}

/// The session as read at `base`; `ttl_seconds` (counted from the moment of reading) apart.
async fn read(client: &Client, base: &str, cookie: &str) -> (HeaderMap, Value, i64) {
    let url = format!("{base}{}", GetSession::PATH);
    let (status, headers, body) = call(client, Method::GET, &url, cookie).await;
    assert_eq!(status, 200, "{url}: {body}");
    let mut view: Value = serde_json::from_str(&body).unwrap();
    let ttl = view["ttl_seconds"].as_i64().expect("ttl_seconds");
    view.as_object_mut().unwrap().remove("ttl_seconds");
    (headers, view, ttl)
}

#[tokio::test]
async fn the_fast_paths_answer_what_leptos_dispatch_answers_for_the_same_session() {
    let mut redis = TestRedis::start();
    let fast = TestApp::spawn(&redis, &[]).await;
    let leptos = spawn_without_fast_paths(&redis).await;
    let fast_url = format!("http://{}", fast.addr);
    let client = http_client(false);
    let cookie = fast.new_session_cookie().await;

    // One counter, counted through either; the same answer on the wire.
    for (base, expected) in [(&leptos.url, "2"), (&fast_url, "3"), (&leptos.url, "4")] {
        let url = format!("{base}{}", IncrementCounter::PATH);
        let (status, headers, body) = call(&client, Method::POST, &url, &cookie).await;
        assert_eq!((status, body.as_str()), (200, expected), "{url}");
        assert_eq!(headers["content-type"], "application/json", "{url}");
    }
    let (fast_headers, fast_view, fast_ttl) = read(&client, &fast_url, &cookie).await;
    let (leptos_headers, leptos_view, leptos_ttl) = read(&client, &leptos.url, &cookie).await;
    assert_eq!(fast_view, leptos_view);
    assert_eq!(fast_view["counter"], 4);
    assert!(
        (fast_ttl - leptos_ttl).abs() <= 1,
        "{fast_ttl} vs {leptos_ttl}"
    );
    assert_eq!(fast_headers["content-type"], leptos_headers["content-type"]);

    // Errors alike: status, code, words, the server-function header, Retry-After, request id.
    redis.stop();
    for (method, path) in [
        (Method::GET, GetSession::PATH),
        (Method::POST, IncrementCounter::PATH),
    ] {
        let mut answers = Vec::new();
        for base in [&fast_url, &leptos.url] {
            let url = format!("{base}{path}");
            let (status, headers, body) = failing(&client, method.clone(), &url, &cookie).await;
            assert_eq!(status, 503, "{url}: {body}");
            assert_eq!(headers["serverfnerror"], path, "{url}");
            assert_eq!(headers["retry-after"], "1", "{url}");
            let mut error: Value = serde_json::from_str(&body).unwrap();
            let request_id = error.as_object_mut().unwrap().remove("request_id");
            assert_eq!(
                request_id.as_ref().and_then(Value::as_str),
                headers["x-request-id"].to_str().ok(),
                "{url}"
            );
            assert_eq!(error["code"], "session_store_unavailable", "{url}");
            answers.push((headers["content-type"].clone(), error));
        }
        assert_eq!(answers[0], answers[1], "{path}");
    }
}
