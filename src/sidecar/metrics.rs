//! What the sidecar exports, through the official Prometheus client: per request, by method,
//! route template and status class — a count, a latency histogram, request and response body
//! bytes — and the requests in flight and the upstream failures. Every label takes a bounded set
//! of values (methods: the nine standard ones and `other`; routes: [`super::routes`]; status:
//! `1xx`–`5xx` and `cancelled`), so the series count has a hard cap whatever the traffic.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Latency buckets (seconds): dense from 1 ms to 1 s, where p95 and p99 of a web service sit,
/// then up to a minute.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 10.0, 60.0,
];

/// The Content-Type of OpenMetrics text, served when the scraper asks for it.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label value from a fixed set (never built from the request's bytes).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Value(pub &'static str);

impl EncodeLabelValue for Value {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.0)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: Value,
    pub route: Value,
    pub status: Value,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: Value,
    pub route: Value,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `connect` (nothing listens: the app is down or starting), `timeout` (no response head
    /// within the upstream timeout), `upstream` (the connection broke mid-exchange).
    pub reason: Value,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The method labels, in index order.
pub const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other",
];

/// The status labels, in index order; [`CANCELLED`] is the last.
pub const STATUSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "cancelled"];
const CANCELLED: usize = 5;
/// The index in [`STATUSES`] of `5xx`.
const SERVER_ERROR: usize = 4;

/// The names the sidecar's own request series are registered under (an exposition adds their
/// unit, and `_total` to a counter's samples); `mttd_sidecar_` prefixes the rest.
pub const REQUESTS: &str = "http_requests";
pub const DURATION: &str = "http_request_duration";
pub const REQUEST_BODY: &str = "http_request_body";
pub const RESPONSE_BODY: &str = "http_response_body";
pub const IN_FLIGHT: &str = "http_requests_in_flight";
pub const OWN_NAMES: [&str; 5] = [REQUESTS, DURATION, REQUEST_BODY, RESPONSE_BODY, IN_FLIGHT];

/// The series of one method, route and status, resolved once: a request touches its counters
/// through this table (an index, an atomic load) rather than the families' locked hash maps.
struct Series {
    requests: Counter,
    duration: Histogram,
    response_bytes: Counter,
}

pub struct Metrics {
    registry: Registry,
    routes: Vec<&'static str>,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
    request_bytes: Family<RouteLabels, Counter>,
    response_bytes: Family<RequestLabels, Counter>,
    in_flight: Gauge,
    upstream_errors: Family<ErrorLabels, Counter>,
    /// methods × routes × statuses, filled as requests come.
    series: Box<[OnceLock<Series>]>,
    /// methods × routes.
    request_series: Box<[OnceLock<Counter>]>,
}

impl Metrics {
    /// The registry for requests labelled with `routes` (the route labels, by index).
    pub fn new(routes: Vec<&'static str>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let request_bytes = Family::<RouteLabels, Counter>::default();
        let response_bytes = Family::<RequestLabels, Counter>::default();
        let in_flight = Gauge::default();
        let upstream_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            REQUESTS,
            "Requests answered, by method, route template and status class (`cancelled`: the client left before the answer)",
            requests.clone(),
        );
        registry.register_with_unit(
            DURATION,
            "Time from the request's arrival to the last byte of the answer",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register_with_unit(
            REQUEST_BODY,
            "Request body bytes forwarded to the app",
            Unit::Bytes,
            request_bytes.clone(),
        );
        registry.register_with_unit(
            RESPONSE_BODY,
            "Response body bytes sent back to clients",
            Unit::Bytes,
            response_bytes.clone(),
        );
        registry.register(
            IN_FLIGHT,
            "Requests received and not yet answered to the last byte",
            in_flight.clone(),
        );
        registry.register(
            "mttd_sidecar_upstream_errors",
            "Requests the app did not answer (the sidecar answered 502 or 504 itself), by reason",
            upstream_errors.clone(),
        );
        let combinations = METHODS.len() * routes.len();
        Metrics {
            registry,
            series: (0..combinations * STATUSES.len()).map(|_| OnceLock::new()).collect(),
            request_series: (0..combinations).map(|_| OnceLock::new()).collect(),
            routes,
            requests,
            duration,
            request_bytes,
            response_bytes,
            in_flight,
            upstream_errors,
        }
    }

    /// Adds `collector`'s series to the exposition (the app's translated stats).
    pub fn register(&mut self, collector: Box<dyn prometheus_client::collector::Collector>) {
        self.registry.register_collector(collector);
    }

    /// The exposition and its Content-Type: OpenMetrics when `accept` asks for it, else the
    /// Prometheus text format 0.0.4.
    pub fn encode(&self, accept: &str) -> (&'static str, String) {
        let mut out = String::new();
        if accept.contains("application/openmetrics-text") {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
                .expect("writing to a String cannot fail");
            (OPENMETRICS, out)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
                .expect("writing to a String cannot fail");
            (prometheus_client::encoding::prometheus_text::CONTENT_TYPE, out)
        }
    }

    /// A request has arrived (`method` and `route`: indices into [`METHODS`] and the routes):
    /// counted in flight until the returned record is dropped, which records it.
    pub fn start(self: &Arc<Self>, method: usize, route: usize) -> Exchange {
        self.in_flight.inc();
        Exchange {
            started: Instant::now(),
            series: method * self.routes.len() + route,
            status: None,
            response_bytes: 0,
            metrics: self.clone(),
        }
    }

    /// The request-body counter of `exchange`'s method and route.
    fn request_bytes(&self, series: usize) -> &Counter {
        self.request_series[series].get_or_init(|| {
            let routes = self.routes.len();
            self.request_bytes
                .get_or_create(&RouteLabels {
                    method: Value(METHODS[series / routes]),
                    route: Value(self.routes[series % routes]),
                })
                .clone()
        })
    }

    pub fn upstream_error(&self, reason: &'static str) {
        self.upstream_errors
            .get_or_create(&ErrorLabels { reason: Value(reason) })
            .inc();
    }

    fn finish(&self, exchange: &Exchange) {
        // The request-body series exists from a method and route's first request, body or not.
        self.request_bytes(exchange.series);
        let status = exchange.status.unwrap_or(CANCELLED);
        let series = self.series[exchange.series * STATUSES.len() + status].get_or_init(|| {
            let routes = self.routes.len();
            let labels = RequestLabels {
                method: Value(METHODS[exchange.series / routes]),
                route: Value(self.routes[exchange.series % routes]),
                status: Value(STATUSES[status]),
            };
            Series {
                requests: self.requests.get_or_create(&labels).clone(),
                duration: self.duration.get_or_create(&labels).clone(),
                response_bytes: self.response_bytes.get_or_create(&labels).clone(),
            }
        });
        series.requests.inc();
        series.duration.observe(exchange.started.elapsed().as_secs_f64());
        series.response_bytes.inc_by(exchange.response_bytes);
        self.in_flight.dec();
    }
}

/// What a route has seen since the sidecar started (all methods): [`Metrics::by_route`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RouteTotals {
    /// Requests answered or given up (`cancelled` included).
    pub requests: u64,
    /// Of those, answered 5xx (the app's or the sidecar's own 502/504).
    pub errors: u64,
    pub response_bytes: u64,
}

impl RouteTotals {
    /// What was added since `before`.
    pub fn since(&self, before: &RouteTotals) -> RouteTotals {
        RouteTotals {
            requests: self.requests - before.requests,
            errors: self.errors - before.errors,
            response_bytes: self.response_bytes - before.response_bytes,
        }
    }
}

impl Metrics {
    /// The route labels, by index.
    pub fn routes(&self) -> &[&'static str] {
        &self.routes
    }

    /// Requests received and not yet answered.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Each route's totals (by route index), summed over methods and statuses.
    pub fn by_route(&self) -> Vec<RouteTotals> {
        let routes = self.routes.len();
        let mut totals = vec![RouteTotals::default(); routes];
        for (index, series) in self.series.iter().enumerate() {
            let Some(series) = series.get() else { continue };
            let (method_route, status) = (index / STATUSES.len(), index % STATUSES.len());
            let total = &mut totals[method_route % routes];
            let requests = series.requests.get();
            total.requests += requests;
            if status == SERVER_ERROR {
                total.errors += requests;
            }
            total.response_bytes += series.response_bytes.get();
        }
        totals
    }
}

/// One request from arrival to the last byte of its answer. Recorded when dropped — when the
/// answer's body is done, or when the client goes away first (status `cancelled`).
pub struct Exchange {
    started: Instant,
    /// Index of the method and route (`method × routes + route`).
    series: usize,
    /// Index into [`STATUSES`] once answered.
    status: Option<usize>,
    response_bytes: u64,
    metrics: Arc<Metrics>,
}

impl Exchange {
    pub fn answered(&mut self, status: u16) {
        self.status = Some(status_class(status));
    }

    pub fn sent(&mut self, bytes: usize) {
        self.response_bytes += bytes as u64;
    }

    /// The request-body counter of this exchange's method and route, for the body on its way
    /// to the app.
    pub fn request_bytes(&self) -> Counter {
        self.metrics.request_bytes(self.series).clone()
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.metrics.finish(self);
    }
}

/// The index in [`STATUSES`] of a status's class (`2xx` etc.); a status outside 100–599 (hyper
/// refuses those) would be `5xx`.
pub fn status_class(status: u16) -> usize {
    match status {
        100..=499 => usize::from(status / 100 - 1),
        _ => SERVER_ERROR,
    }
}

/// The index in [`METHODS`] of a method: the nine standard methods as themselves, anything
/// else `other`.
pub fn method_index(method: &hyper::Method) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(METHODS.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_carry_the_same_samples() {
        let metrics = Arc::new(Metrics::new(vec!["/orders/{id}", "other"]));
        let mut exchange = metrics.start(0, 0);
        exchange.answered(201);
        exchange.sent(10);
        exchange.request_bytes().inc_by(3);
        drop(exchange);
        let other = metrics.start(method_index(&hyper::Method::from_bytes(b"BREW").unwrap()), 1);
        drop(other); // never answered: cancelled
        metrics.upstream_error("connect");

        let (kind, text) = metrics.encode("text/plain");
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        assert!(text.contains("# TYPE http_requests_total counter"), "{text}");
        assert!(
            text.contains("http_requests_total{method=\"GET\",route=\"/orders/{id}\",status=\"2xx\"} 1"),
            "{text}"
        );
        assert!(text.contains("status=\"cancelled\"} 1"), "{text}");
        assert!(
            text.contains("http_response_body_bytes_total{method=\"GET\",route=\"/orders/{id}\",status=\"2xx\"} 10")
        );
        assert!(text.contains("http_request_body_bytes_total{method=\"GET\",route=\"/orders/{id}\"} 3"));
        assert!(text.contains("http_requests_in_flight 0"), "{text}");
        assert!(text.contains("mttd_sidecar_upstream_errors_total{reason=\"connect\"} 1"));
        assert!(text.contains("http_request_duration_seconds_bucket{"), "{text}");
        assert!(!text.contains("# EOF"));

        let (kind, open) = metrics.encode("application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
        assert_eq!(kind, OPENMETRICS);
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(open.contains("# TYPE http_requests counter"), "{open}");
        assert_eq!(METHODS[method_index(&hyper::Method::PATCH)], "PATCH");
        assert_eq!(STATUSES[status_class(503)], "5xx");
        assert_eq!(STATUSES[status_class(101)], "1xx");
        assert_eq!(STATUSES[status_class(999)], "5xx");
    }
}
