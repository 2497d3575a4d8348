//! A lingering close, which neither hyper nor tokio does: a closing connection shuts its write
//! side, then reads and drops what the client still sends for a bounded time and amount (as
//! nginx's `lingering_close`). Answered before its body was read (a 413 for a body over the
//! limit, say), a client may still be sending it; a socket closed with unread bytes sends a
//! reset, which can reach the client before it has read the answer, which it then loses.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Sleep,
};

const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// A stream whose shutdown lingers.
pub(super) struct Lingering<S> {
    inner: S,
    /// Set once the write side is shut: when reading what is left stops.
    until: Option<Pin<Box<Sleep>>>,
    bytes_left: usize,
}

impl<S> Lingering<S> {
    pub(super) fn new(inner: S) -> Self {
        Lingering {
            inner,
            until: None,
            bytes_left: LINGER_BYTES,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// The answer's last bytes and FIN, then the client's leftovers until it closes, the time
    /// or the amount is up, or the socket fails.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let until = match &mut this.until {
            Some(until) => until,
            None => {
                ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                this.until.insert(Box::pin(tokio::time::sleep(LINGER_TIME)))
            }
        };
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    this.bytes_left = this.bytes_left.saturating_sub(buf.filled().len());
                    if this.bytes_left == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return until.as_mut().poll(cx).map(Ok),
            }
        }
    }
}
