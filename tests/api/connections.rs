//! What a connection may hold: HTTP/2 control frames do not keep an idle connection open, one
//! client address holds a bounded number of connections, h2c can be turned off, and a stopping
//! app drains before it closes its listener.

use std::{net::SocketAddr, time::Duration};

use http_body_util::Empty;
use hyper::{body::Bytes, client::conn::http2, Request};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::helpers::{TestApp, TestRedis};

/// An HTTP/2 (prior knowledge) connection that sends a PING every 200 ms while idle: the task
/// driving it, which ends when the server closes the connection.
async fn pinging_h2_connection(
    addr: SocketAddr,
) -> Result<tokio::task::JoinHandle<()>, hyper::Error> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_millis(200))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .handshake(TokioIo::new(stream))
        .await?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(format!("http://{addr}/healthz"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await?;
    assert_eq!(response.status(), 200);
    Ok(driver)
}

#[tokio::test]
async fn an_idle_http2_connection_closes_after_the_keep_alive_time_whatever_it_pings() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_KEEP_ALIVE_TIMEOUT_SECONDS", "1")]).await;
    let driver = pinging_h2_connection(app.addr).await.expect("h2c served");
    let closed = tokio::time::timeout(Duration::from_secs(4), driver).await;
    assert!(
        closed.is_ok(),
        "a connection with no open stream and PINGs every 200 ms was still open after 4 s \
         (keep-alive 1 s)"
    );
}

#[tokio::test]
async fn h2c_can_be_turned_off() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_H2C", "false")]).await;
    assert!(pinging_h2_connection(app.addr).await.is_err());
    // HTTP/1 is served as ever.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// A TCP connection from `local` (any 127.x.y.z) that sends nothing.
async fn connection_from(local: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{local}:0").parse().expect("address"))
        .expect("bind");
    socket.connect(to).await.expect("connect")
}

/// A connection from `local` that the server has accepted and answered once: with a listening
/// socket per worker, connections opened back to back are accepted in no set order, so a test
/// of which one is refused must let each be accepted before opening the next.
async fn served_connection_from(local: &str, to: SocketAddr) -> TcpStream {
    let mut stream = connection_from(local, to).await;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {to}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer))
        .await
        .expect("answered in time")
        .expect("answered");
    assert_eq!(&answer, b"HTTP/1.1 200", "served");
    stream
}

/// Whether the server closed `stream` within `wait` (a read sees the end of the stream).
async fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn one_address_holds_at_most_its_connections_and_others_are_not_affected() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(&redis, &[("SERVER_MAX_CONNECTIONS_PER_ADDRESS", "2")]).await;
    let mut first = served_connection_from("127.0.4.1", app.addr).await;
    let mut second = served_connection_from("127.0.4.1", app.addr).await;
    let mut third = connection_from("127.0.4.1", app.addr).await;
    assert!(
        closed_by_server(&mut third, Duration::from_secs(2)).await,
        "the third connection from one address is closed at once"
    );
    assert!(!closed_by_server(&mut first, Duration::from_millis(200)).await);
    assert!(!closed_by_server(&mut second, Duration::from_millis(200)).await);
    let other = app.browser_from("127.0.4.2");
    assert_eq!(other.get("/healthz").await.status(), 200);

    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connection_from("127.0.4.1", app.addr).await;
    assert!(
        !closed_by_server(&mut again, Duration::from_millis(300)).await,
        "a closed connection gives its slot back"
    );
}

#[tokio::test]
async fn a_trusted_proxy_is_not_held_to_the_per_address_limit() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("SERVER_MAX_CONNECTIONS_PER_ADDRESS", "1"),
            ("TRUSTED_PROXIES", "127.0.4.9"),
        ],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connection_from("127.0.4.9", app.addr).await);
    }
    for stream in &mut held {
        assert!(!closed_by_server(stream, Duration::from_millis(200)).await);
    }
}

#[tokio::test]
async fn a_stopping_app_answers_not_ready_and_closes_connections_before_it_stops_listening() {
    let redis = TestRedis::start();
    let mut app = TestApp::spawn(&redis, &[("SERVER_SHUTDOWN_DRAIN_MS", "1500")]).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("JSON");
    assert_eq!(body["status"], "draining");
    let read = app.get("/api/session").await;
    assert_eq!(read.status(), 200, "still served while draining");
    assert_eq!(
        read.headers()
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close"),
        "so that clients open their next connection elsewhere"
    );

    // (Whether the port still accepts says nothing: a parallel test may already have bound it.)
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(app.has_stopped(), "stopped once drained and answered");
}
