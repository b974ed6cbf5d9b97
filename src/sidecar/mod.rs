//! `mttd-sidecar`: Monitor at the source, for a service that cannot be instrumented. A reverse
//! proxy in the service's pod (listen port → the app on `127.0.0.1:TARGET_PORT`) that records
//! every request ([`metrics`]: counts, latency, bytes, in flight, by method, [`routes`] template
//! and status class) and serves them on `/metrics` for Prometheus to scrape, beside `/healthz`.
//! Stateless, bounded (connections capped; bodies streamed, never buffered; label values from
//! fixed sets), and drained on SIGTERM: it stops accepting, lets the requests in flight finish
//! (up to the drain timeout), then exits.

pub mod metrics;
pub mod proxy;
pub mod routes;

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
use tokio::sync::Semaphore;

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
}

/// Runs the sidecar until `shutdown` completes, then drains. Logs `listening` with the bound
/// addresses once both ports are open.
pub async fn serve(config: SidecarConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let bind = |address: SocketAddr, what: &'static str| async move {
        TcpListener::bind(address)
            .await
            .map_err(|e| Error::io(format!("cannot listen on {address} ({what})"), e))
    };
    let listener = bind(config.listen, "--listen").await?;
    let metrics_listener = bind(config.metrics_listen, "--metrics-listen").await?;
    let metrics = Arc::new(Metrics::default());
    let draining = Arc::new(AtomicBool::new(false));
    let proxy = Arc::new(Proxy::new(
        config.target.clone(),
        config.routes.clone(),
        metrics.clone(),
        config.connect_timeout,
        config.upstream_timeout,
    ));
    let local = |l: &TcpListener| l.local_addr().map_err(|e| Error::io("the listening socket", e));
    tracing::info!(
        listen = %local(&listener)?,
        metrics = %local(&metrics_listener)?,
        target = %config.target,
        routes = config.routes.labels().len() - 1,
        "listening"
    );
    let metrics_server = tokio::spawn(serve_metrics(metrics_listener, metrics.clone(), draining.clone()));

    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |request| proxy.clone().handle(request, peer)),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }

    drop(listener);
    draining.store(true, Ordering::SeqCst);
    let in_flight = graceful.count();
    tracing::info!(connections = in_flight, "SIGTERM: no new connections; draining the requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained"),
        () = tokio::time::sleep(config.drain_timeout) => {
            tracing::warn!(timeout = ?config.drain_timeout, "drain timeout: the connections still open are cut");
        }
    }
    metrics_server.abort();
    Ok(())
}

async fn serve_metrics(listener: TcpListener, metrics: Arc<Metrics>, draining: Arc<AtomicBool>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let metrics = metrics.clone();
        let draining = draining.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let answer = answer_metrics(&request, &metrics, &draining);
            async move { Ok::<_, std::convert::Infallible>(answer) }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
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
        _ => (StatusCode::NOT_FOUND, "text/plain", "/metrics or /healthz\n".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
    response
}
