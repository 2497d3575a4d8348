//! A response its client accepts no bytes of — an HTTP/2 stream whose flow-control window stays
//! shut, an HTTP/1 socket nobody reads — does not hold its connection: once nothing has moved
//! for the keep-alive time the connection is closed and its slot goes to the next client.

use std::{net::SocketAddr, time::Duration};

use http_body_util::Empty;
use hyper::{body::Bytes, client::conn::http2, Request};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
};

use crate::helpers::{TestApp, TestRedis};

/// An HTTP/2 connection from `local` that asks for the home page with a stream window of zero
/// and never reads the body (it pings every 200 ms, which must not count either): the task
/// driving it, which ends when the server closes the connection.
async fn zero_window_page_request(local: &str, to: SocketAddr) -> tokio::task::JoinHandle<()> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let stream = socket.connect(to).await.expect("connect");
    let (mut sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .initial_stream_window_size(0)
        .keep_alive_interval(Duration::from_millis(200))
        .keep_alive_timeout(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .handshake(TokioIo::new(stream))
        .await
        .expect("h2c served");
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(format!("http://{to}/"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("a response head");
    assert_eq!(response.status(), 200);
    // Held, never read: the window stays shut.
    tokio::spawn(async move {
        let _held = (response, sender);
        std::future::pending::<()>().await;
    });
    driver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_stream_with_a_shut_window_is_closed_and_its_slot_served_to_another_client() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("SERVER_KEEP_ALIVE_TIMEOUT_SECONDS", "1"),
            ("SERVER_MAX_CONNECTIONS", "2"),
        ],
    )
    .await;
    let stalled = [
        zero_window_page_request("127.0.7.1", app.addr).await,
        zero_window_page_request("127.0.7.1", app.addr).await,
    ];
    // Both slots are taken; the next client is served once the stalled ones are closed.
    let other = app.browser_from("127.0.7.2");
    let started = std::time::Instant::now();
    assert_eq!(other.get("/healthz").await.status(), 200);
    let waited = started.elapsed();
    for driver in stalled {
        let closed = tokio::time::timeout(Duration::from_secs(5), driver).await;
        assert!(
            closed.is_ok(),
            "a stream with a shut window still held its connection after 5 s"
        );
    }
    assert!(
        waited < Duration::from_secs(4),
        "the next client waited {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_response_nobody_reads_is_closed_and_its_slot_served_to_another_client() {
    let redis = TestRedis::start();
    let app = TestApp::spawn(
        &redis,
        &[
            ("SERVER_KEEP_ALIVE_TIMEOUT_SECONDS", "1"),
            ("SERVER_MAX_CONNECTIONS", "1"),
        ],
    )
    .await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.7.3:0".parse().unwrap()).unwrap();
    // A small receive buffer, so the server's writes stop once it is full.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(app.addr).await.expect("connect");
    // Many pages asked for at once (pipelined): far more than the socket buffers hold.
    let request = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).repeat(400);
    stalled.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 1];
    stalled
        .read_exact(&mut first)
        .await
        .expect("the answers began");

    let other = app.browser_from("127.0.7.4");
    let started = std::time::Instant::now();
    assert_eq!(other.get("/healthz").await.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "the next client waited {waited:?}"
    );
    drop(stalled);
}
