//! Slow and idle clients cannot hold connections: a deadline for a request's headers, an idle
//! keep-alive timeout, a whole-request timeout and a cap on open connections.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, TestRedis};

/// Sends `bytes` one per second until the server closes the connection (or `limit` passes);
/// returns how long the connection stayed open.
async fn trickle(app: &TestApp, bytes: &[u8], limit: Duration) -> Duration {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    for byte in bytes.iter().cycle() {
        if started.elapsed() > limit || stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            _ => {}
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn a_client_sending_headers_one_byte_a_second_is_cut_off_at_the_header_deadline() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[]).await;
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let open = trickle(&app, head, Duration::from_secs(20)).await;
    println!("a slow-header connection was closed after {open:?} (default deadline 10 s)");
    assert!(
        open >= Duration::from_secs(9) && open < Duration::from_secs(13),
        "{open:?}"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_KEEP_ALIVE_TIMEOUT_SECONDS", "1")]).await;
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
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_times_out() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_REQUEST_TIMEOUT_SECONDS", "1")]).await;
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
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(redis.session_keys().is_empty());
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_MAX_CONNECTIONS", "2")]).await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let _second = TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
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
