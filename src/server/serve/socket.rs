//! The connection's socket as hyper sees it: the bytes it moves are noted for the keep-alive
//! close (`idle.rs`) until its first bytes show HTTP/2, and its close lingers, which neither
//! hyper nor tokio does: the write side is shut, then what the client still sends is read and
//! dropped for a bounded time and amount (as nginx's `lingering_close`). Answered before its
//! body was read (a 413, say), a client may still be sending it; a socket closed with unread
//! bytes sends a reset, which can reach the client before the answer, which it then loses.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::Sleep,
};

use super::idle::Activity;

/// What an HTTP/2 client sends first (RFC 9113 §3.4); an HTTP/1 request never starts so.
const HTTP2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 8 * 1024 * 1024;

pub(super) struct Socket {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// How much of the HTTP/2 preface the first bytes matched so far (across reads: a preface
    /// sent a byte at a time is still one); `None` once decided.
    preface_matched: Option<usize>,
    /// The first bytes were the preface: bytes no longer count.
    http2: bool,
    /// Set once the write side is shut: until when, and how much more, the rest is read.
    lingering: Option<(Pin<Box<Sleep>>, usize)>,
}

impl Socket {
    pub(super) fn new(inner: TcpStream, activity: Arc<Activity>) -> Self {
        Socket {
            inner,
            activity,
            preface_matched: Some(0),
            http2: false,
            lingering: None,
        }
    }

    fn sniff(&mut self, bytes: &[u8]) {
        let Some(matched) = self.preface_matched else {
            return;
        };
        let expected = &HTTP2_PREFACE_START[matched..];
        let compared = bytes.len().min(expected.len());
        self.preface_matched = if bytes[..compared] != expected[..compared] {
            None
        } else if compared == expected.len() {
            self.http2 = true;
            None
        } else {
            Some(matched + compared)
        };
    }

    fn note_write<T>(&self, result: Poll<io::Result<T>>, moved: bool) -> Poll<io::Result<T>> {
        if moved && !self.http2 && matches!(result, Poll::Ready(Ok(_))) {
            self.activity.touch();
        }
        result
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.sniff(&buf.filled()[before..]);
            // A client trickling the HTTP/2 preface is idle (HTTP/1 differs by its second byte).
            if this.preface_matched.is_none() && !this.http2 {
                this.activity.touch();
            }
        }
        result
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note_write(result, !buf.is_empty())
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

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// The answer's last bytes and FIN, then the client's leftovers until it closes, the time
    /// or the amount is up, or the socket fails.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let (until, bytes_left) = match &mut this.lingering {
            Some(lingering) => lingering,
            None => {
                ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                let until = Box::pin(tokio::time::sleep(LINGER_TIME));
                this.lingering.insert((until, LINGER_BYTES))
            }
        };
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    *bytes_left = bytes_left.saturating_sub(buf.filled().len());
                    if *bytes_left == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return until.as_mut().poll(cx).map(Ok),
            }
        }
    }
}
