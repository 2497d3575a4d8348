//! Slow and idle clients cannot hold connections: a deadline for a request's headers, an idle
//! keep-alive timeout, a whole-request timeout and a cap on open connections.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    connections::served_connection_from,
    helpers::{settings, TestApp, TestRedis, SESSION_KEYS},
};

/// Sends `bytes` one per `pace` until the server closes the connection (or `limit` passes);
/// returns how long the connection stayed open.
async fn trickle(app: &TestApp, bytes: &[u8], pace: Duration, limit: Duration) -> Duration {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    for byte in bytes.iter().cycle() {
        if started.elapsed() > limit || stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        // The client's pace: between two bytes it reads, and the server's close (what this
        // measures) ends the read at once. A timeout that passes is a slow client's silence,
        // not a wait for something to happen.
        let mut buf = [0u8; 512];
        match tokio::time::timeout(pace, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            _ => {}
        }
    }
    started.elapsed()
}

#[test]
fn the_header_deadline_is_ten_seconds_by_default() {
    let settings = settings(6390, &[]).expect("settings");
    assert_eq!(settings.server.header_read_timeout, Duration::from_secs(10));
}

#[tokio::test]
async fn a_client_sending_headers_a_byte_at_a_time_is_cut_off_at_the_header_deadline() {
    const DEADLINE: Duration = Duration::from_secs(1);
    const PACE: Duration = Duration::from_millis(100);
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_HEADER_READ_TIMEOUT_SECONDS", "1")]).await;
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let open = trickle(&app, head, PACE, Duration::from_secs(20)).await;
    println!("a slow-header connection was closed after {open:?} (deadline {DEADLINE:?})");
    assert!(
        open >= DEADLINE - PACE && open < DEADLINE + Duration::from_secs(3),
        "{open:?}"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_KEEP_ALIVE_TIMEOUT_SECONDS", "0.3")]).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "still open after 5 s"
    );
    assert!(
        started.elapsed() < Duration::from_millis(300 + 1_500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_times_out() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_REQUEST_TIMEOUT_SECONDS", "0.3")]).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /api/note HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: same-origin\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nnote=";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let error: serde_json::Value = serde_json::from_str(body).expect("a JSON error");
    assert_eq!(error["code"], "request_timeout", "{answer}");
    let id = error["request_id"].as_str().expect("the request id");
    assert!(head.contains(&format!("x-request-id: {id}")), "{answer}");
    assert!(started.elapsed() < Duration::from_millis(300 + 2_000));
    assert!(redis.keys(SESSION_KEYS).is_empty());
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_MAX_CONNECTIONS", "2")]).await;
    // Both connections are served (each answered once, and kept open): they hold the two slots.
    let first = served_connection_from("127.0.0.1", app.addr).await;
    let _second = served_connection_from("127.0.0.1", app.addr).await;
    // A negative check, with no event to wait for instead: a connection waiting for a slot sits
    // in the listen backlog, where the app shows nothing. 700 ms is far longer than the
    // /healthz just answered twice took, so a third connection not held back would be served.
    let waiting = tokio::time::timeout(
        Duration::from_millis(700),
        app.new_browser().get("/healthz"),
    )
    .await;
    assert!(
        waiting.is_err(),
        "a third connection is not served while two are open"
    );
    drop(first);
    let res = tokio::time::timeout(Duration::from_secs(5), app.new_browser().get("/healthz"))
        .await
        .expect("served once a connection closed");
    assert_eq!(res.status(), 200);
}
