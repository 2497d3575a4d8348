//! What keeps a connection open: a request in flight, or on HTTP/1 bytes on their way. HTTP/2
//! control frames (PING, SETTINGS, WINDOW_UPDATE) carry no request and do not count.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{ready, Context, Poll},
    time::{Duration, Instant},
};

use hyper::body::{Body, Frame, SizeHint};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// When a connection last moved a byte, and how many of its requests are being answered.
pub(super) struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// The client spoke HTTP/2 (its first bytes were the connection preface): bytes no longer
    /// count as activity, since control frames (PING, SETTINGS, WINDOW_UPDATE) carry no request.
    http2: AtomicBool,
}

/// What an HTTP/2 client sends first (RFC 9113 §3.4); an HTTP/1 request never starts so.
const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

impl Activity {
    pub(super) fn new() -> Self {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            http2: AtomicBool::new(false),
        }
    }

    /// Bytes moved either way: activity on HTTP/1, where they are a request or its answer on the
    /// way; on HTTP/2 only streams count, which `InFlight` notes.
    fn bytes_moved(&self) {
        if !self.http2.load(Ordering::Relaxed) {
            self.touch();
        }
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Completes once the connection has been idle (nothing in flight, no bytes) for `limit`.
    pub(super) async fn idle_for(&self, limit: Duration) {
        loop {
            let idle = self
                .opened
                .elapsed()
                .saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)));
            if idle >= limit && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            let step = limit.saturating_sub(idle).max(Duration::from_millis(100));
            tokio::time::sleep(step).await;
        }
    }
}

pin_project_lite::pin_project! {
    /// An HTTP/2 response body, in flight while the server is producing it: from each time hyper
    /// asks for more until a frame (or the end) is handed over. While hyper waits for the
    /// client to open its flow-control window it asks for nothing, so a client that never reads
    /// lets the connection go idle, and it is closed after the keep-alive time like any other.
    pub(super) struct BodyInFlight<B> {
        #[pin]
        inner: B,
        activity: Arc<Activity>,
        in_flight: Option<InFlight>,
    }
}

impl<B> BodyInFlight<B> {
    /// `in_flight` is the request's, handed on until the first frame is out.
    pub(super) fn new(inner: B, in_flight: InFlight) -> Self {
        BodyInFlight {
            inner,
            activity: in_flight.0.clone(),
            in_flight: Some(in_flight),
        }
    }
}

impl<B: Body> Body for BodyInFlight<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let in_flight = this.in_flight;
        if in_flight.is_none() {
            *in_flight = Some(InFlight::start(this.activity.clone()));
        }
        let polled = this.inner.poll_frame(cx);
        if polled.is_ready() {
            // Handed over: what happens next is up to the client.
            in_flight.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One request being answered; the connection is not idle until it is dropped.
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The TCP stream, noting bytes read or written as activity.
pub(super) struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// How much of the HTTP/2 preface the first bytes matched so far; `None` once decided. Kept
    /// across reads: a preface sent a byte at a time is still one.
    preface_matched: Option<usize>,
    /// HTTP/2 over plain TCP is served. hyper-util's `http1_only` does not apply to connections
    /// served with upgrades, so a refused preface is refused here, as a read error.
    h2c: bool,
    /// Set once the connection is being closed: what the client still sends is read and dropped.
    lingering: Option<Lingering>,
}

/// A closing connection's last reads. Answered before its body was read (a 413 for a body over
/// the limit, say), a client may still be sending it; a socket closed with unread bytes sends a
/// reset, and a reset can reach the client before it has read the answer, which it then loses.
/// So the write side is shut first and the rest is read and dropped, for a bounded time and
/// amount (as nginx's `lingering_close` does).
struct Lingering {
    until: Pin<Box<tokio::time::Sleep>>,
    bytes_left: usize,
}

/// How long, and how much, a closing connection is read for.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 8 * 1024 * 1024;

impl Lingering {
    fn new() -> Self {
        Lingering {
            until: Box::pin(tokio::time::sleep(LINGER_TIME)),
            bytes_left: LINGER_BYTES,
        }
    }

    /// Reads and drops what the client still sends on `stream`, until it closes, the time or
    /// the amount is up, or the socket fails: then the connection may close.
    fn poll_drain(&mut self, stream: &mut TcpStream, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    self.bytes_left = self.bytes_left.saturating_sub(buf.filled().len());
                    if self.bytes_left == 0 {
                        return Poll::Ready(());
                    }
                }
                // Closed by the client, or failed: nothing left to wait for.
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return self.until.as_mut().poll(cx),
            }
        }
    }
}

impl Tracked {
    pub(super) fn new(inner: TcpStream, activity: Arc<Activity>, h2c: bool) -> Self {
        Tracked {
            inner,
            activity,
            preface_matched: Some(0),
            h2c,
            lingering: None,
        }
    }

    /// Follows the first bytes until they are, or cannot be, the HTTP/2 preface; an error
    /// when they are one and h2c is off.
    fn sniff(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(matched) = self.preface_matched else {
            return Ok(());
        };
        let expected = &HTTP2_PREFACE_START[matched..];
        let compared = bytes.len().min(expected.len());
        if bytes[..compared] != expected[..compared] {
            self.preface_matched = None;
        } else if compared == expected.len() {
            self.preface_matched = None;
            if !self.h2c {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "HTTP/2 without TLS (h2c) is turned off",
                ));
            }
            self.activity.http2.store(true, Ordering::Relaxed);
        } else {
            self.preface_matched = Some(matched + compared);
        }
        Ok(())
    }

    fn note_write<T>(&self, result: Poll<io::Result<T>>, moved: bool) -> Poll<io::Result<T>> {
        if moved && matches!(result, Poll::Ready(Ok(_))) {
            self.activity.bytes_moved();
        }
        result
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.sniff(&buf.filled()[before..])?;
            // Bytes of a preface still undecided do not count: a client trickling the HTTP/2
            // preface a byte at a time is idle (an HTTP/1 request differs by its second byte).
            if this.preface_matched.is_none() {
                this.activity.bytes_moved();
            }
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note_write(result, !buf.is_empty())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let lingering = match &mut this.lingering {
            Some(lingering) => lingering,
            None => {
                // The answer's last bytes, then FIN; a failure leaves nothing to linger for.
                ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                this.lingering.insert(Lingering::new())
            }
        };
        lingering.poll_drain(&mut this.inner, cx).map(Ok)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.note_write(result, true)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
