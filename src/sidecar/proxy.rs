//! The proxy: each request is forwarded to the app over the client connection's own kept-alive
//! connection to the app ([`Upstream`]), its body streamed both ways (never buffered, so memory does not grow with body sizes), and
//! recorded in [`Metrics`] when its answer's last byte has gone (or the client went away).
//! When the app does not answer, the sidecar answers itself: 502 when nothing listens or the
//! connection breaks, 504 when no response head comes within the upstream timeout.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, Entry, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use tokio::net::TcpStream;

use super::metrics::{method_index, Exchange, Metrics};
use super::routes::Routes;
use super::timer::LazyTimer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The most a connection buffers, each way (hyper's read buffer; a request or response head
/// longer than this is refused with 431 or 502): with bodies streamed, what bounds the memory a
/// connection can hold, and with `--max-connections` the sidecar's.
pub const CONNECTION_BUFFER: usize = 64 * 1024;

/// A request body on its way to the app, its bytes counted as they pass (no counter for a
/// request without a body).
pub struct Counted {
    inner: Incoming,
    counter: Option<Counter>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let (Some(data), Some(counter)) = (frame.data_ref(), &self.counter) {
                counter.inc_by(data.len() as u64);
            }
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

/// An answer on its way to the client (the app's, or the sidecar's own 502/504), its bytes
/// counted; the exchange is recorded when this body is dropped.
pub struct Observed {
    inner: Either<Incoming, Full<Bytes>>,
    exchange: Exchange,
}

impl Body for Observed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let len = data.len();
                self.exchange.sent(len);
            }
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

/// Headers that belong to one hop, not to the message (RFC 9110 §7.6.1), removed both ways;
/// and Transfer-Encoding, which hyper sets itself from the body it sends.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::TRANSFER_ENCODING,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names (most messages carry none of these, or only Connection), then
    // a removal for each one found.
    let mut found = [false; 8];
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            found[i] = true;
        }
    }
    if found[0] {
        // Headers the Connection header names are hop-by-hop too (beyond the usual
        // `keep-alive` and `close`).
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|name| !name.eq_ignore_ascii_case("close") && !name.eq_ignore_ascii_case("keep-alive"))
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        for name in &named {
            headers.remove(name);
        }
    }
    for (name, _) in HOP_BY_HOP.iter().zip(found).filter(|(_, found)| *found) {
        headers.remove(name);
    }
}

/// The connection to the app of one client connection. HTTP/1 carries one exchange at a time
/// and a client connection sends its requests one after the other, so each client connection
/// gets its own connection to the app — opened at its first request, reused while both stay
/// open, closed with it — and no pool is shared (or locked) between connections. The number of
/// connections to the app is bounded by `--max-connections`, as the client connections are.
pub struct Upstream {
    sender: std::sync::Mutex<Option<SendRequest<Counted>>>,
    /// The upstream timeout of this connection's exchanges.
    timer: LazyTimer,
}

impl Upstream {
    /// A client connection's (no connection to the app yet); `timeout`: the upstream timeout.
    pub fn new(timeout: Duration) -> Self {
        Upstream {
            sender: std::sync::Mutex::new(None),
            timer: LazyTimer::new(timeout),
        }
    }

    fn take(&self) -> Option<SendRequest<Counted>> {
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, sender: SendRequest<Counted>) {
        *self.sender.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
    }
}

/// Why the app gave no answer.
enum Failure {
    /// Nothing accepted the connection (the app is down or starting), or not in time.
    Connect(String),
    /// The connection broke during the exchange.
    Upstream(hyper::Error),
}

pub struct Proxy {
    /// `host:port` of the app.
    target: String,
    routes: Routes,
    metrics: Arc<Metrics>,
    connect_timeout: Duration,
    upstream_timeout: Duration,
}

impl Proxy {
    pub fn new(
        target: String,
        routes: Routes,
        metrics: Arc<Metrics>,
        connect_timeout: Duration,
        upstream_timeout: Duration,
    ) -> Self {
        Proxy {
            target,
            routes,
            metrics,
            connect_timeout,
            upstream_timeout,
        }
    }

    pub fn upstream_timeout(&self) -> Duration {
        self.upstream_timeout
    }

    async fn connect(&self) -> Result<SendRequest<Counted>, Failure> {
        let stream = match tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.target)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(Failure::Connect(e.to_string())),
            Err(_) => {
                return Err(Failure::Connect(format!(
                    "no connection within {:?}",
                    self.connect_timeout
                )))
            }
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(Failure::Upstream)?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// Sends `request` on the client connection's connection to the app, opening one when there
    /// is none or the app has closed it. A request the connection refused before sending any of
    /// it (the app closed it at that moment) is sent once more on a new connection.
    async fn send(&self, upstream: &Upstream, mut request: Request<Counted>) -> Result<Response<Incoming>, Failure> {
        let mut retried = false;
        loop {
            let mut sender = match upstream.take() {
                Some(sender) if !sender.is_closed() => sender,
                _ => self.connect().await?,
            };
            if let Err(error) = sender.ready().await {
                if retried {
                    return Err(Failure::Upstream(error));
                }
                retried = true;
                continue;
            }
            let answer = sender.try_send_request(request);
            upstream.put(sender);
            match answer.await {
                Ok(response) => return Ok(response),
                Err(mut error) => match error.take_message() {
                    Some(unsent) if !retried => {
                        request = unsent;
                        retried = true;
                    }
                    _ => return Err(Failure::Upstream(error.into_error())),
                },
            }
        }
    }

    /// Forwards one request; never fails (an app that does not answer gets a 502 or 504).
    /// The exchange is recorded when the answer's body is dropped, or with this future when the
    /// client leaves before the answer (`cancelled`).
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        client: &HeaderValue,
        upstream: &Upstream,
    ) -> Result<Response<Observed>, Infallible> {
        let method = method_index(request.method());
        let route = self.routes.route(request.uri().path());
        let exchange = self.metrics.start(method, route);
        let (mut parts, body) = request.into_parts();
        // Origin form on the wire (`GET /path?query`), as clients normally send it; the Host
        // header goes through as sent.
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            parts.uri = match path.parse::<Uri>() {
                Ok(uri) => uri,
                Err(_) => {
                    let message = "mttd-sidecar: the request's path is not a valid URI path\n";
                    return Ok(own_answer(exchange, StatusCode::BAD_REQUEST, message));
                }
            };
        }
        strip_hop_by_hop(&mut parts.headers);
        append_forwarded_for(&mut parts.headers, client);
        let counter = (!body.is_end_stream()).then(|| exchange.request_bytes());
        let forwarded = Request::from_parts(parts, Counted { inner: body, counter });

        let deadline = upstream.timer.until(Instant::now() + self.upstream_timeout);
        let answer = tokio::select! {
            biased;
            answer = self.send(upstream, forwarded) => Ok(answer),
            () = deadline => Err(()),
        };
        match answer {
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let mut exchange = exchange;
                exchange.answered(parts.status.as_u16());
                Ok(Response::from_parts(
                    parts,
                    Observed {
                        inner: Either::Left(body),
                        exchange,
                    },
                ))
            }
            Ok(Err(failure)) => {
                let (reason, error) = match failure {
                    Failure::Connect(e) => ("connect", e),
                    Failure::Upstream(e) => ("upstream", e.to_string()),
                };
                self.metrics.upstream_error(reason);
                tracing::warn!(target = %self.target, %error, reason, "the app did not answer: 502");
                let message = format!(
                    "mttd-sidecar: the app at http://{} did not answer ({reason})\n",
                    self.target
                );
                Ok(own_answer(exchange, StatusCode::BAD_GATEWAY, &message))
            }
            Err(_) => {
                self.metrics.upstream_error("timeout");
                let message = format!(
                    "mttd-sidecar: the app at http://{} sent no answer within {:?}\n",
                    self.target, self.upstream_timeout
                );
                Ok(own_answer(exchange, StatusCode::GATEWAY_TIMEOUT, &message))
            }
        }
    }
}

/// The sidecar's own answer (400, 502, 504), recorded like the app's.
fn own_answer(mut exchange: Exchange, status: StatusCode, message: &str) -> Response<Observed> {
    exchange.answered(status.as_u16());
    let mut response = Response::new(Observed {
        inner: Either::Right(Full::new(Bytes::from(message.to_string()))),
        exchange,
    });
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A client's address as an `X-Forwarded-For` value (made once per connection).
pub fn client_address(peer: SocketAddr) -> HeaderValue {
    HeaderValue::try_from(peer.ip().to_string()).expect("an IP address is a valid header value")
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// `X-Forwarded-For`: the client's address appended to what earlier proxies wrote.
fn append_forwarded_for(headers: &mut HeaderMap, client: &HeaderValue) {
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Occupied(mut earlier) => {
            let value = [earlier.get().as_bytes(), b", ", client.as_bytes()].concat();
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                earlier.insert(value);
            }
        }
        Entry::Vacant(entry) => {
            entry.insert(client.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut map = headers(&[
            ("host", "shop"),
            ("connection", "keep-alive, X-Trace-Hop"),
            ("connection", "close"),
            ("keep-alive", "timeout=5"),
            ("x-trace-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-request-id", "abc"),
        ]);
        strip_hop_by_hop(&mut map);
        let left: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["host", "x-request-id"]);

        let mut plain = headers(&[("host", "shop"), ("accept", "*/*")]);
        strip_hop_by_hop(&mut plain);
        assert_eq!(plain.len(), 2);
    }

    #[test]
    fn the_client_is_appended_to_earlier_proxies() {
        let client = client_address("10.0.0.7:4000".parse().unwrap());
        let mut first = headers(&[("host", "shop")]);
        append_forwarded_for(&mut first, &client);
        assert_eq!(first[X_FORWARDED_FOR], "10.0.0.7");
        let mut later = headers(&[("x-forwarded-for", "192.0.2.1")]);
        append_forwarded_for(&mut later, &client);
        assert_eq!(later[X_FORWARDED_FOR], "192.0.2.1, 10.0.0.7");
        assert_eq!(later.get_all(X_FORWARDED_FOR).iter().count(), 1);
    }
}
