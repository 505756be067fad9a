//! The HTTP/1 server every route runs behind: a cap on open connections (a plain 503 past
//! it), a deadline for request headers that also closes idle keep-alive connections, a
//! deadline for each request body, and graceful shutdown that lets requests in flight finish.
//!
//! Signer pages face the internet, so a client that trickles bytes (slowloris) or opens
//! connections without end must cost the server a bounded number of sockets for a bounded time.

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// How long the server waits for a request's parts; configurable under `server:`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most; one more is answered 503 and closed.
    pub max_connections: usize,
    /// From the first byte of a request (or the end of the previous one on a kept-alive
    /// connection) to the end of its headers.
    pub header_read_timeout: Duration,
    /// From the end of a request's headers to the end of its body.
    pub body_timeout: Duration,
    /// How long shutdown waits for requests in flight before closing their connections.
    pub shutdown_grace: Duration,
}

/// The answer to a connection past `max_connections`, written without reading the request.
const BUSY_BODY: &str = r#"{"error":"the server has too many open connections; retry in a moment","code":"server_busy"}"#;

/// Serves `router` on `listener` until `shutdown` resolves, then waits up to the grace period
/// for requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // little instead of spinning, then go on.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse_busy(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok(service) = make_service.call(remote).await;
        let body_timeout = limits.body_timeout;
        let service = service.map_request(move |request: hyper::Request<Incoming>| {
            request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = limits.shutdown_grace.as_secs(),
            "requests still in flight at the end of the shutdown grace period were cut"
        );
    }
    Ok(())
}

/// Answers a connection past the cap with a 503 and closes it, reading nothing.
async fn refuse_busy(mut stream: TcpStream) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BUSY_BODY}",
        BUSY_BODY.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
}

/// The error a request body reports when its deadline passes (the body layers answer 408).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// A request body that fails with [`BodyTimedOut`] once `timeout` has passed since the
/// request's headers were read — a total deadline, so a body that trickles in cannot hold
/// its connection open forever.
pub struct DeadlineBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(self.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// True when a body error is the deadline of [`DeadlineBody`] (anywhere in its source chain).
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err.is::<BodyTimedOut>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// Bytes of request bodies held in memory at once by one class of requests (authenticated API
/// calls, or the public signer and webhook routes). A body is read only once it fits: a
/// declared `Content-Length` is reserved up front (waiting for room up to [`BUDGET_WAIT`]), a
/// chunked body reserves each chunk as it arrives and is refused as soon as one does not fit.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
}

/// How long a request with a declared length waits for room in its [`BodyBudget`].
pub const BUDGET_WAIT: Duration = Duration::from_secs(30);

/// How much of a refused body is read and thrown away, so the client can read the answer.
const DRAIN_CAP: usize = 512 * 1024 * 1024;

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefusal {
    /// Larger than the route's limit (declared, or seen while reading).
    TooLarge { limit: usize },
    /// The budget had no room for it in time.
    Busy,
    /// The body did not arrive within the body timeout.
    TimedOut,
    /// The connection broke while the body was read.
    Unreadable,
}

/// A refusal, with what is left of the body when it should be drained.
struct Refused {
    refusal: BodyRefusal,
    rest: Option<Body>,
}

impl From<BodyRefusal> for Refused {
    fn from(refusal: BodyRefusal) -> Self {
        Self {
            refusal,
            rest: None,
        }
    }
}

/// A body read into memory, with the share of the budget it holds until dropped.
pub struct BufferedBody {
    pub bytes: Bytes,
    _reserved: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl BodyBudget {
    /// A budget of `total` bytes (at least one body of `largest_body` bytes).
    pub fn new(total: usize, largest_body: usize) -> Self {
        let total = total.max(largest_body).min(Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
        }
    }

    /// Reads the body of a request with these `headers` (at most `limit` bytes) within the
    /// budget. A body refused as too large is drained first (see [`drain`]), so the client can
    /// read the 413.
    pub async fn read(
        &self,
        headers: &axum::http::HeaderMap,
        body: Body,
        limit: usize,
    ) -> Result<BufferedBody, BodyRefusal> {
        match self
            .read_within(body, declared_length(headers), limit)
            .await
        {
            Ok(buffered) => Ok(buffered),
            Err(Refused {
                refusal,
                rest: Some(rest),
            }) => {
                drain(headers, rest).await;
                Err(refusal)
            }
            Err(Refused { refusal, .. }) => Err(refusal),
        }
    }

    async fn read_within(
        &self,
        body: Body,
        declared: Option<usize>,
        limit: usize,
    ) -> Result<BufferedBody, Refused> {
        let too_large = |rest: Body| Refused {
            refusal: BodyRefusal::TooLarge { limit },
            rest: Some(rest),
        };
        let Some(declared_bytes) = declared.map(u32::try_from) else {
            return self.read_chunks(body, None, 0, limit).await;
        };
        match declared_bytes {
            Ok(n) if n as usize <= limit => {
                if n == 0 {
                    return self.read_chunks(body, None, 0, limit).await;
                }
                let acquire = self.bytes.clone().acquire_many_owned(n);
                match tokio::time::timeout(BUDGET_WAIT, acquire).await {
                    Ok(Ok(permit)) => {
                        self.read_chunks(body, Some(permit), n as usize, limit)
                            .await
                    }
                    _ => Err(Refused::from(BodyRefusal::Busy)),
                }
            }
            _ => Err(too_large(body)),
        }
    }

    /// Reads frames into a buffer of `capacity`, reserving past what `reserved` holds as the
    /// frames arrive.
    async fn read_chunks(
        &self,
        mut body: Body,
        mut reserved: Option<tokio::sync::OwnedSemaphorePermit>,
        capacity: usize,
        limit: usize,
    ) -> Result<BufferedBody, Refused> {
        let mut buffer = bytes::BytesMut::with_capacity(capacity);
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            let frame = frame.map_err(|err| Refused::from(classify_body_error(&err)))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if buffer.len() + data.len() > limit {
                return Err(Refused {
                    refusal: BodyRefusal::TooLarge { limit },
                    rest: Some(body),
                });
            }
            let held = reserved
                .as_ref()
                .map_or(0, tokio::sync::OwnedSemaphorePermit::num_permits);
            let missing = (buffer.len() + data.len()).saturating_sub(held);
            if missing > 0 {
                let more = u32::try_from(missing)
                    .ok()
                    .and_then(|n| self.bytes.clone().try_acquire_many_owned(n).ok())
                    .ok_or(Refused::from(BodyRefusal::Busy))?;
                match reserved.as_mut() {
                    Some(permit) => permit.merge(more),
                    None => reserved = Some(more),
                }
            }
            buffer.extend_from_slice(&data);
        }
        Ok(BufferedBody {
            bytes: buffer.freeze(),
            _reserved: reserved,
        })
    }
}

fn classify_body_error(err: &axum::Error) -> BodyRefusal {
    if is_body_timeout(err) {
        BodyRefusal::TimedOut
    } else {
        BodyRefusal::Unreadable
    }
}

/// Reads and throws away what is left of a refused body (up to a cap and the body deadline),
/// so a client that sends its body before reading the answer still gets to read it. A client
/// that asked `Expect: 100-continue` has sent nothing yet and is not drained.
pub async fn drain(headers: &axum::http::HeaderMap, body: Body) {
    let expects_continue = headers
        .get(axum::http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue {
        return;
    }
    let mut body = body;
    let mut drained = 0usize;
    while let Some(Ok(frame)) = http_body_util::BodyExt::frame(&mut body).await {
        if let Ok(data) = frame.into_data() {
            drained += data.len();
            if drained > DRAIN_CAP {
                break;
            }
        }
    }
}

/// The `Content-Length` a request declares, if it is a number.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<usize> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
}

/// Gives every request an id — the caller's `X-Request-Id` when it is a sensible token, else a
/// new one — returned in `X-Request-Id` and carried by a span around the request, so every log
/// line it causes (and the access line at its end) names it. Signing tokens never reach the
/// log: the path of a signing link is logged as `/sign/…`.
pub async fn request_id(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let given = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_string);
    let id = given.unwrap_or_else(|| format!("req_{}", hex::encode(rand::random::<[u8; 8]>())));
    let path = request.uri().path();
    let shown_path = if path.starts_with("/sign/") && !path.starts_with("/sign/assets/") {
        "/sign/…".to_string()
    } else {
        path.to_string()
    };
    let method = request.method().clone();
    let span = tracing::info_span!("request", request_id = %id, %method, path = %shown_path);
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request done"
        )
    });
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
