//! Bodies: streamed through frame by frame, never collected (except the
//! bounded prefix the decision hashes). Both directions count bytes for
//! the audit and cut off a body that stalls longer than the idle timeout;
//! the request side also enforces the size limit.

use crate::outcomes::{Finish, Reporter};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt as _;
use http_body_util::combinators::BoxBody;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every body the gateway produces.
pub type Body = BoxBody<Bytes, BoxError>;

pub fn full(b: Bytes) -> Body {
    http_body_util::Full::new(b)
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {0} bytes")]
    TooLarge(u64),
    #[error("no body data for {0:?}")]
    Idle(Duration),
}

/// Arms an idle timer lazily: only when the inner body is not ready, and
/// only moved when there was progress since (a timer-wheel touch per
/// pending poll, not per frame).
#[derive(Debug)]
struct Idle {
    limit: Duration,
    last: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Idle {
    fn new(limit: Duration) -> Idle {
        Idle {
            limit,
            last: Instant::now(),
            timer: None,
        }
    }

    fn progress(&mut self) {
        self.last = Instant::now();
    }

    /// Called when the body is pending: true when the limit has passed.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.last + self.limit;
        let t = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if t.deadline() != deadline {
            t.as_mut().reset(deadline);
        }
        t.as_mut().poll(cx).is_ready()
    }
}

use std::future::Future as _;

/// The request body going upstream: a buffered prefix (already read for
/// hashing), then the rest of the client's stream.
#[derive(Debug)]
pub struct Upload {
    prefix: VecDeque<Bytes>,
    rest: Option<hyper::body::Incoming>,
    sent: Arc<AtomicU64>,
    max: u64,
    idle: Idle,
    /// Told once the whole body has been handed to the upstream
    /// connection: the response timeout starts then.
    done: Option<Arc<Notify>>,
}

impl Upload {
    pub fn new(
        prefix: VecDeque<Bytes>,
        rest: Option<hyper::body::Incoming>,
        sent: Arc<AtomicU64>,
        max: u64,
        idle: Duration,
        done: Arc<Notify>,
    ) -> Upload {
        Upload {
            prefix,
            rest,
            sent,
            max,
            idle: Idle::new(idle),
            done: Some(done),
        }
    }

    fn signal_if_done(&mut self) {
        if HttpBody::is_end_stream(self)
            && let Some(d) = self.done.take()
        {
            d.notify_one();
        }
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(b) = self.prefix.pop_front() {
            self.sent.fetch_add(b.len() as u64, Ordering::Relaxed);
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        let Some(rest) = self.rest.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(rest).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                self.idle.progress();
                if let Some(d) = f.data_ref() {
                    let n = self.sent.fetch_add(d.len() as u64, Ordering::Relaxed) + d.len() as u64;
                    if n > self.max {
                        return Poll::Ready(Some(Err(Box::new(BodyError::TooLarge(self.max)))));
                    }
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => {
                self.rest = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if self.idle.expired(cx) {
                    let limit = self.idle.limit;
                    return Poll::Ready(Some(Err(Box::new(BodyError::Idle(limit)))));
                }
                Poll::Pending
            }
        }
    }
}

impl HttpBody for Upload {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let r = this.poll_inner(cx);
        if r.is_ready() {
            this.signal_if_done();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_empty() && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let pre: u64 = self.prefix.iter().map(|b| b.len() as u64).sum();
        let rest = self
            .rest
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint);
        // Upper first: `set_lower` asserts lower <= upper.
        let mut h = SizeHint::new();
        if let Some(u) = rest.upper() {
            h.set_upper(u.saturating_add(pre));
        }
        h.set_lower(rest.lower().saturating_add(pre));
        h
    }
}

/// The response body going to the client; reports the outcome when it
/// ends, fails, or is dropped (the client went away).
#[derive(Debug)]
pub struct Download {
    inner: hyper::body::Incoming,
    bytes: u64,
    idle: Idle,
    done: bool,
    error: Option<String>,
    finish: Option<(Reporter, Finish)>,
}

impl Download {
    pub fn new(
        inner: hyper::body::Incoming,
        idle: Duration,
        finish: Option<(Reporter, Finish)>,
    ) -> Download {
        Download {
            inner,
            bytes: 0,
            idle: Idle::new(idle),
            done: false,
            error: None,
            finish,
        }
    }
}

impl HttpBody for Download {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                this.idle.progress();
                if let Some(d) = f.data_ref() {
                    this.bytes += d.len() as u64;
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.error = Some(format!("upstream body failed: {e}"));
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.idle.expired(cx) {
                    let limit = this.idle.limit;
                    this.error = Some(format!("upstream body idle for {limit:?}"));
                    return Poll::Ready(Some(Err(Box::new(BodyError::Idle(limit)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if let Some((reporter, finish)) = self.finish.take() {
            let clean = self.done || (self.error.is_none() && self.inner.is_end_stream());
            let error = if clean {
                None
            } else {
                Some(
                    self.error
                        .take()
                        .unwrap_or_else(|| "the client went away before the response ended".into()),
                )
            };
            reporter.send(finish.into_report(self.bytes, error));
        }
    }
}

/// Reads up to `limit` bytes of `body` for hashing. `Ok(Whole)` when the
/// body ended within the limit; `Ok(Partial)` hands back what was read and
/// the unread rest.
#[derive(Debug)]
pub enum Prefix {
    Whole(VecDeque<Bytes>, u64),
    Partial(VecDeque<Bytes>, hyper::body::Incoming),
}

pub async fn read_prefix(
    mut body: hyper::body::Incoming,
    limit: usize,
    idle: Duration,
) -> Result<Prefix, BoxError> {
    let mut chunks = VecDeque::new();
    let mut n: u64 = 0;
    loop {
        if n > limit as u64 {
            return Ok(Prefix::Partial(chunks, body));
        }
        if body.is_end_stream() {
            return Ok(Prefix::Whole(chunks, n));
        }
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(Box::new(BodyError::Idle(idle))),
            Ok(None) => return Ok(Prefix::Whole(chunks, n)),
            Ok(Some(f)) => f?,
        };
        // Trailers on a request we hash are dropped: they are not part of
        // what was decided on.
        if let Ok(d) = frame.into_data() {
            n += d.len() as u64;
            chunks.push_back(d);
        }
    }
}
