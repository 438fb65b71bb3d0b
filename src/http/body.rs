//! Request bodies with a deadline: a body must arrive within
//! `body_read_timeout`, plus one second for every [`GRACE_BYTES`] it has
//! sent. A large import at any real speed passes; a body trickled a byte
//! every few seconds is cut, so it cannot hold a connection slot for
//! minutes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// Bytes that buy one more second.
pub const GRACE_BYTES: u64 = 64 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request's body, as every handler reads it.
pub struct RequestBody {
    inner: Incoming,
    started: Instant,
    base: Duration,
    received: u64,
    deadline: Pin<Box<Sleep>>,
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct TooSlow;

impl RequestBody {
    pub fn new(inner: Incoming, base: Duration) -> RequestBody {
        let started = Instant::now();
        RequestBody {
            inner,
            started,
            base,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + base)),
        }
    }

    fn deadline(&self) -> Instant {
        self.started + self.base + Duration::from_secs(self.received / GRACE_BYTES)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let deadline = this.deadline();
                    this.deadline.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(TooSlow.into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
