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

use crate::helpers::{eventually, eventually_ok, TestApp, TestRedis};

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

/// A connection from `local` that the server has accepted and answered once, so a test of which
/// one is refused knows each was counted before the next was opened.
pub(crate) async fn served_connection_from(local: &str, to: SocketAddr) -> TcpStream {
    let mut stream = connection_from(local, to).await;
    assert!(answered(&mut stream, to).await, "served");
    stream
}

/// Whether `stream` is answered 200 to a `/healthz` it sends now (within 5 s); false when the
/// server has closed it.
async fn answered(stream: &mut TcpStream, to: SocketAddr) -> bool {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {to}\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer))
        .await
        .expect("answered or closed in time");
    if read.is_err() {
        return false;
    }
    assert_eq!(&answer, b"HTTP/1.1 200", "served");
    // The rest of the answer (`/healthz` answers a short body): read to the end of it, so the
    // next request on this connection reads its own answer.
    let mut rest = Vec::new();
    while !rest.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream
            .read_exact(&mut byte)
            .await
            .expect("the answer's head");
        rest.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&rest).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a content-length");
    let mut body = vec![0u8; length];
    stream
        .read_exact(&mut body)
        .await
        .expect("the answer's body");
    true
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
    // The two it holds are still served (not merely still open).
    assert!(answered(&mut first, app.addr).await, "the first is kept");
    assert!(answered(&mut second, app.addr).await, "the second is kept");
    let other = app.browser_from("127.0.4.2");
    assert_eq!(other.get("/healthz").await.status(), 200);

    // A closed connection gives its slot back: once the server has seen the close, a new one
    // is served (until then a new one is closed at once, unanswered).
    drop(first);
    let again = eventually_ok(
        "a new connection is served",
        Duration::from_secs(2),
        || async {
            let mut again = connection_from("127.0.4.1", app.addr).await;
            match answered(&mut again, app.addr).await {
                true => Ok(again),
                false => Err("closed unanswered"),
            }
        },
    )
    .await;
    drop(again);
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
    // Each is served while the others are open: all three are held at once.
    for stream in &mut held {
        assert!(answered(stream, app.addr).await, "closed, not served");
    }
}

#[tokio::test]
async fn a_stopping_app_answers_not_ready_and_closes_connections_before_it_stops_listening() {
    let redis = TestRedis::start();
    let mut app = TestApp::spawn(&redis, &[("SERVER_SHUTDOWN_DRAIN_MS", "1500")]).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.begin_shutdown();
    let ready = eventually_ok(
        "/readyz answers draining",
        Duration::from_millis(200),
        || async {
            let ready = app.get("/readyz").await;
            match ready.status().as_u16() {
                503 => Ok(ready),
                other => Err(other),
            }
        },
    )
    .await;
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
    eventually(
        "stopped once drained and answered",
        Duration::from_secs(2),
        || {
            let stopped = app.has_stopped();
            async move { stopped }
        },
    )
    .await;
}
