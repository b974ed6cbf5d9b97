//! `mttd-sidecar`: Monitor at the source, for a service that cannot be instrumented. A reverse
//! proxy in the service's pod (listen port → the app on `127.0.0.1:TARGET_PORT`) that records
//! every request ([`metrics`]: counts, latency, bytes, in flight, by method, [`routes`] template
//! and status class) and serves them on `/metrics` for Prometheus to scrape, beside `/healthz`.
//! Stateless, bounded (connections capped; bodies streamed, never buffered; label values from
//! fixed sets), and drained on SIGTERM: it stops accepting, lets the requests in flight finish
//! (up to the drain timeout), then exits.

pub mod aggregates;
pub mod metrics;
pub mod proxy;
pub mod routes;
pub mod stats;
pub mod timer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use metrics::Metrics;
use proxy::Proxy;
use routes::Routes;

#[derive(Debug, Clone)]
pub struct SidecarConfig {
    /// Where clients (the Service) reach the proxy.
    pub listen: SocketAddr,
    /// The app: `host:port`, normally `127.0.0.1:TARGET_PORT`.
    pub target: String,
    /// Where `/metrics` and `/healthz` are served.
    pub metrics_listen: SocketAddr,
    pub routes: Routes,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    pub connect_timeout: Duration,
    /// Time the app has to send a response head.
    pub upstream_timeout: Duration,
    /// Time given to requests in flight after SIGTERM.
    pub drain_timeout: Duration,
    /// Event loops (threads) serving the proxy.
    pub threads: usize,
    /// The app's own stats document to translate on every scrape, if any.
    pub stats: Option<stats::StatsConfig>,
    /// Where and how often to write the rolling aggregates, if at all.
    pub aggregates: Option<aggregates::AggregatesConfig>,
}

/// Runs the sidecar until `shutdown` completes, then drains; returns once every connection has
/// finished or the drain timeout has passed. Logs `listening` with the bound addresses once both
/// ports are open.
///
/// Like nginx's worker processes, the proxy runs `threads` single-threaded event loops that
/// share nothing on the request path: one acceptor hands each new connection to the next loop in
/// turn, and that connection, its connection to the app and every task of both stay there, so a
/// request never wakes another thread (a work-stealing runtime measured 0.72× nginx's
/// throughput here, the difference mostly cross-thread wake-ups; see BENCHMARKS.md).
pub fn run(config: SidecarConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let bind = |address: SocketAddr, what: &'static str| {
        let listener = std::net::TcpListener::bind(address)
            .map_err(|e| Error::io(format!("cannot listen on {address} ({what})"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(format!("{address} ({what})"), e))?;
        Ok::<_, Error>(listener)
    };
    let listener = bind(config.listen, "--listen")?;
    let metrics_listener = bind(config.metrics_listen, "--metrics-listen")?;
    let local = |l: &std::net::TcpListener| l.local_addr().map_err(|e| Error::io("the listening socket", e));
    let mut metrics = Metrics::new(config.routes.labels());
    let stats = config
        .stats
        .clone()
        .map(|stats| stats::Stats::new(stats, config.target.clone()));
    if let Some(stats) = &stats {
        metrics.register(Box::new(stats::StatsCollector(stats.clone())));
    }
    let metrics = Arc::new(metrics);
    // The first window is written before the ports open: a path the sidecar cannot write is an
    // error at start, not a warning every window.
    let roller = match &config.aggregates {
        Some(settings) => {
            let mut roller = aggregates::Roller::new(metrics.clone(), settings.clone());
            roller.write()?;
            Some(roller)
        }
        None => None,
    };
    let shared = Arc::new(Shared {
        proxy: Proxy::new(
            config.target.clone(),
            config.routes.clone(),
            metrics.clone(),
            config.connect_timeout,
            config.upstream_timeout,
        ),
        draining: AtomicBool::new(false),
        drain_timeout: config.drain_timeout,
    });
    tracing::info!(
        listen = %local(&listener)?,
        metrics = %local(&metrics_listener)?,
        target = %config.target,
        routes = config.routes.labels().len() - 1,
        threads = config.threads,
        "listening"
    );
    let (loops, inboxes): (Vec<_>, Vec<_>) = (0..config.threads)
        .map(|_| tokio::sync::mpsc::unbounded_channel::<Accepted>())
        .unzip();
    let mut first = Some(FirstLoop {
        listener,
        metrics_listener,
        shutdown,
        loops,
        max_connections: config.max_connections,
        stats,
        roller,
    });
    let mut threads = Vec::with_capacity(config.threads);
    for (i, inbox) in inboxes.into_iter().enumerate() {
        let shared = shared.clone();
        let first = first.take();
        let metrics = metrics.clone();
        let thread = std::thread::Builder::new().name(format!("proxy-{i}")).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .on_thread_park(yield_the_core)
                .enable_all()
                .build()
                .map_err(|e| Error::Internal(format!("the event loop cannot start: {e}")))?;
            runtime.block_on(async move {
                if let Some(first) = first {
                    let listener =
                        TcpListener::from_std(first.listener).map_err(|e| Error::io("the listening socket", e))?;
                    let metrics_listener = TcpListener::from_std(first.metrics_listener)
                        .map_err(|e| Error::io("the metrics socket", e))?;
                    tokio::spawn(serve_metrics(metrics_listener, metrics, first.stats, shared.clone()));
                    if let Some(roller) = first.roller {
                        tokio::spawn(aggregates::run(roller));
                    }
                    let (loops, max_connections) = (first.loops, first.max_connections);
                    tokio::spawn(accept(listener, loops, max_connections, shared.clone(), first.shutdown));
                }
                serve_connections(inbox, &shared).await;
                Ok::<(), Error>(())
            })
        });
        threads.push(thread.map_err(|e| Error::Internal(format!("a proxy thread cannot start: {e}")))?);
    }
    let mut result = Ok(());
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(Error::Internal("a proxy thread panicked".into())),
        }
    }
    result
}

/// Called by each event loop when it has run every task that was ready, before it waits for
/// the sockets: lets any other thread waiting for this core run first.
///
/// Under load a loop finds new events every time it looks, so without this it would keep its
/// core turn after turn, up to the scheduler's tick (4 ms at 250 Hz), while the app whose answer
/// it waits for and the clients queue behind it — the p99 tail measured at one tick over the
/// median (BENCHMARKS.md, issue 18). nginx's workers leave their core more often by themselves.
/// When nothing else waits, the call returns at once (one system call a turn). Measured both
/// with the app, the proxy and the client in one CPU cgroup and in a cgroup each, as in a pod
/// (`bench/sidecar.sh`, `PODS=1`): the p99 fell below nginx's in both.
fn yield_the_core() {
    // SAFETY: sched_yield takes no arguments and changes nothing but who runs next.
    #[cfg(unix)]
    unsafe {
        libc::sched_yield();
    }
}

/// The time a client has to send a request's head (against slow-header attacks).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What loop 0 runs besides its share of the connections: the acceptor (until `shutdown`),
/// /metrics and /healthz, and the aggregates writer.
struct FirstLoop<S> {
    listener: std::net::TcpListener,
    metrics_listener: std::net::TcpListener,
    shutdown: S,
    loops: Vec<UnboundedSender<Accepted>>,
    max_connections: usize,
    stats: Option<Arc<stats::Stats>>,
    roller: Option<aggregates::Roller>,
}

/// What every event loop shares: the proxy (its metrics are atomics) and the drain state.
struct Shared {
    proxy: Proxy,
    draining: AtomicBool,
    drain_timeout: Duration,
}

/// A connection handed to an event loop, with its slot (of `--max-connections`).
type Accepted = (std::net::TcpStream, SocketAddr, OwnedSemaphorePermit);

/// The acceptor: hands connections to the event loops in turn while a slot is free, until
/// `shutdown`; then closes the port and lets the loops drain.
async fn accept(
    listener: TcpListener,
    loops: Vec<UnboundedSender<Accepted>>,
    max_connections: usize,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    tokio::pin!(shutdown);
    for next in (0..loops.len()).cycle() {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted.and_then(|(stream, peer)| Ok((stream.into_std()?, peer))) {
            Ok((stream, peer)) => {
                let _ = loops[next].send((stream, peer, slot));
            }
            Err(error) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    shared.draining.store(true, Ordering::SeqCst);
    tracing::info!("SIGTERM: no new connections; draining the requests in flight");
}

/// One event loop: serves the connections handed to it until the acceptor stops, then drains
/// them (up to the drain timeout).
async fn serve_connections(mut inbox: UnboundedReceiver<Accepted>, shared: &Arc<Shared>) {
    let graceful = GracefulShutdown::new();
    while let Some((stream, peer, slot)) = inbox.recv().await {
        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        // What the connection's requests share: one reference to take per request.
        let upstream = proxy::Upstream::new(shared.proxy.upstream_timeout());
        let state = Arc::new((shared.clone(), upstream, proxy::client_address(peer)));
        let connection = http1::Builder::new()
            .timer(timer::LazyTimer::new(HEADER_READ_TIMEOUT))
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .writev(false)
            .max_buf_size(proxy::CONNECTION_BUFFER)
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |request| {
                    let state = state.clone();
                    async move {
                        let (shared, upstream, client) = &*state;
                        shared.proxy.handle(request, client, upstream).await
                    }
                }),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained"),
        () = tokio::time::sleep(shared.drain_timeout) => {
            tracing::warn!(timeout = ?shared.drain_timeout, "drain timeout: the connections still open are cut");
        }
    }
}

async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stats: Option<Arc<stats::Stats>>,
    shared: Arc<Shared>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (metrics, stats, shared) = (metrics.clone(), stats.clone(), shared.clone());
        let service = service_fn(move |request: Request<Incoming>| {
            let (metrics, stats, shared) = (metrics.clone(), stats.clone(), shared.clone());
            async move {
                if let (Some(stats), "/metrics") = (&stats, request.uri().path()) {
                    stats.refresh().await;
                }
                Ok::<_, std::convert::Infallible>(answer_metrics(&request, &metrics, &shared.draining))
            }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer_metrics(request: &Request<Incoming>, metrics: &Metrics, draining: &AtomicBool) -> Response<Full<Bytes>> {
    let (status, kind, body) = match request.uri().path() {
        "/metrics" => {
            let accept = request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let (kind, text) = metrics.encode(accept);
            (StatusCode::OK, kind, text)
        }
        // Not ready once draining, so that a readiness probe on it takes the pod out of the
        // Service's endpoints while the requests in flight finish.
        "/healthz" if draining.load(Ordering::SeqCst) => {
            (StatusCode::SERVICE_UNAVAILABLE, "text/plain", "draining\n".to_string())
        }
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "/metrics or /healthz\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
    response
}
