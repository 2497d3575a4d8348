//! The keep-alive close: a connection with nothing in flight for the keep-alive time is closed.
//! hyper has no such timeout for a server connection (its HTTP/1 header deadline also bounds
//! the wait between requests, but not a response its client stops reading; HTTP/2 PINGs prove
//! only that the peer is there). In flight: a request being answered, or on HTTP/1 bytes moving
//! either way (`socket.rs`); on HTTP/2 a response body while the server produces it, so control
//! frames (PING, SETTINGS, WINDOW_UPDATE) and a stream whose window stays shut hold nothing open.

use std::{
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper::body::{Body, Frame, SizeHint};

/// When a connection last moved, and how many of its requests are being answered.
pub(super) struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    pub(super) fn new() -> Self {
        Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub(super) fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Completes once nothing has been in flight for `limit`.
    pub(super) async fn idle_for(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let idle = self.opened.elapsed().saturating_sub(last);
            if idle >= limit && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            let step = limit.saturating_sub(idle).max(Duration::from_millis(100));
            tokio::time::sleep(step).await;
        }
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

pin_project_lite::pin_project! {
    /// An HTTP/2 response body, in flight from each time hyper asks for more until a frame (or
    /// the end) is handed over. While the client's window is shut hyper asks for nothing.
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
        if this.in_flight.is_none() {
            *this.in_flight = Some(InFlight::start(this.activity.clone()));
        }
        let polled = this.inner.poll_frame(cx);
        if polled.is_ready() {
            this.in_flight.take();
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
