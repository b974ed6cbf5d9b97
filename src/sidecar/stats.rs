//! The app's own counters, translated: an app that keeps counts but no Prometheus endpoint
//! often serves them as JSON (`/stats`, `/debug/vars`, `/status?json`). On every scrape of
//! `/metrics` the sidecar reads that document from the app and exports the configured fields
//! (each a JSON pointer, RFC 6901) as counters or gauges beside its own series — stateless: what
//! it exports is what the app said at the scrape. `mttd_sidecar_stats_up` says whether the read
//! worked (1) or not (0: the app did not answer, answered an error, or not JSON); a field that is
//! absent or not a number is left out of that scrape and logged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{header, Request};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use tokio::net::TcpStream;

use super::metrics::OWN_NAMES;

/// The most of the app's stats document read (a larger one is an error: `up` 0).
pub const MAX_DOCUMENT: usize = 1024 * 1024;

/// Time the app has to answer the stats request (within Prometheus's scrape timeout).
pub const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// One exported field: `NAME=POINTER` or `NAME=POINTER:counter` / `:gauge` (the default).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The metric's name (a counter's gets `_total` in the exposition).
    pub name: String,
    pub pointer: String,
    pub kind: Kind,
}

impl Field {
    /// Parses one mapping; the error says what was expected.
    pub fn parse(text: &str) -> Result<Field, String> {
        let (name, rest) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: expected NAME=/json/pointer[:counter|:gauge]"))?;
        let (pointer, kind) = match rest.rsplit_once(':') {
            Some((pointer, "counter")) => (pointer, Kind::Counter),
            Some((pointer, "gauge")) => (pointer, Kind::Gauge),
            _ => (rest, Kind::Gauge),
        };
        let valid_name = name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() || !valid_name {
            return Err(format!(
                "`{text}`: `{name}` is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
            ));
        }
        let own = |own: &str| {
            name.strip_prefix(own)
                .is_some_and(|rest| ["", "_total", "_seconds", "_bytes"].contains(&rest))
        };
        if name.starts_with("mttd_sidecar_") || OWN_NAMES.into_iter().any(own) {
            return Err(format!(
                "`{text}`: `{name}` is one of the sidecar's own series; name it for the app"
            ));
        }
        if kind == Kind::Counter && name.ends_with("_total") {
            return Err(format!(
                "`{text}`: name the counter without `_total` (the exposition adds it)"
            ));
        }
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!(
                "`{text}`: `{pointer}` is not a JSON pointer (RFC 6901: empty, or starting with `/`)"
            ));
        }
        Ok(Field {
            name: name.to_string(),
            pointer: pointer.to_string(),
            kind,
        })
    }
}

/// What to read from the app, and how to export it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsConfig {
    /// The document's path on the app (`/stats`).
    pub path: String,
    pub fields: Vec<Field>,
}

impl StatsConfig {
    /// `path` and the field mappings; names the flag and the mapping at fault.
    pub fn parse(path: &str, fields: &[String]) -> Result<StatsConfig, String> {
        if !path.starts_with('/') {
            return Err(format!("--stats-path `{path}`: a path on the app, starting with `/`"));
        }
        let fields = fields
            .iter()
            .map(|f| Field::parse(f.trim()).map_err(|e| format!("--stat {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if fields.is_empty() {
            return Err("--stats-path needs at least one --stat NAME=/json/pointer".into());
        }
        for (i, field) in fields.iter().enumerate() {
            if fields[..i].iter().any(|f| f.name == field.name) {
                return Err(format!("--stat: `{}` is given twice", field.name));
            }
        }
        Ok(StatsConfig {
            path: path.to_string(),
            fields,
        })
    }
}

/// The app's stats as last read, exported on every encode.
#[derive(Debug)]
pub struct Stats {
    config: StatsConfig,
    /// `host:port` of the app.
    target: String,
    /// Whether the last read worked, and each field's value (`None`: absent or not a number).
    latest: Mutex<(bool, Vec<Option<f64>>)>,
}

impl Stats {
    pub fn new(config: StatsConfig, target: String) -> Arc<Stats> {
        let fields = config.fields.len();
        Arc::new(Stats {
            config,
            target,
            latest: Mutex::new((false, vec![None; fields])),
        })
    }

    /// Reads the app's document (before a scrape is encoded).
    pub async fn refresh(&self) {
        let read = tokio::time::timeout(TIMEOUT, self.fetch()).await;
        let latest = match read {
            Ok(Ok(document)) => {
                let values = self.values(&document);
                (true, values)
            }
            Ok(Err(why)) => {
                tracing::warn!(target = %self.target, path = %self.config.path, why, "the app's stats could not be read");
                (false, vec![None; self.config.fields.len()])
            }
            Err(_) => {
                tracing::warn!(target = %self.target, path = %self.config.path, timeout = ?TIMEOUT, "the app's stats did not come in time");
                (false, vec![None; self.config.fields.len()])
            }
        };
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = latest;
    }

    /// Each field's value in `document`: a number, a boolean (1 or 0), or a string holding a
    /// number; else `None`, logged.
    fn values(&self, document: &serde_json::Value) -> Vec<Option<f64>> {
        self.config
            .fields
            .iter()
            .map(|field| {
                let value = match document.pointer(&field.pointer) {
                    Some(serde_json::Value::Number(n)) => n.as_f64(),
                    Some(serde_json::Value::Bool(b)) => Some(f64::from(u8::from(*b))),
                    Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                    _ => None,
                };
                if value.is_none() {
                    tracing::warn!(field = %field.name, pointer = %field.pointer, "the app's stats have no number there: left out");
                }
                value
            })
            .collect()
    }

    async fn fetch(&self) -> Result<serde_json::Value, String> {
        let stream = TcpStream::connect(&self.target).await.map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let request = Request::get(self.config.path.as_str())
            .header(header::HOST, self.target.as_str())
            .header(header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the app answered {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map_err(|e| format!("{e} (at most {MAX_DOCUMENT} bytes)"))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
    }
}

/// The [`Stats`] in the sidecar's registry.
#[derive(Debug)]
pub struct StatsCollector(pub Arc<Stats>);

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (up, values) = self.0.latest.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let help = "Whether the last read of the app's stats document worked (1) or not (0)";
        let metric = encoder.encode_descriptor("mttd_sidecar_stats_up", help, None, MetricType::Gauge)?;
        ConstGauge::new(i64::from(up)).encode(metric)?;
        for (field, value) in self.0.config.fields.iter().zip(values) {
            let Some(value) = value else { continue };
            let help = format!("The app's {} ({})", field.pointer, self.0.config.path);
            match field.kind {
                Kind::Counter => {
                    let metric = encoder.encode_descriptor(&field.name, &help, None, MetricType::Counter)?;
                    ConstCounter::new(value).encode(metric)?;
                }
                Kind::Gauge => {
                    let metric = encoder.encode_descriptor(&field.name, &help, None, MetricType::Gauge)?;
                    ConstGauge::new(value).encode(metric)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_parse_and_bad_ones_say_what_was_expected() {
        let field = Field::parse("app_jobs=/jobs/done:counter").unwrap();
        assert_eq!(
            (field.name.as_str(), field.pointer.as_str(), field.kind),
            ("app_jobs", "/jobs/done", Kind::Counter)
        );
        assert_eq!(Field::parse("app_queue=/queue").unwrap().kind, Kind::Gauge);
        assert_eq!(Field::parse("app_ratio=/a:b").unwrap().pointer, "/a:b");
        let error = |text: &str| Field::parse(text).unwrap_err();
        assert!(
            error("app_jobs").contains("expected NAME=/json/pointer"),
            "{}",
            error("app_jobs")
        );
        assert!(error("9jobs=/a").contains("not a Prometheus metric name"));
        assert!(error("jobs-done=/a").contains("not a Prometheus metric name"));
        assert!(error("jobs_total=/a:counter").contains("without `_total`"));
        assert!(error("jobs=a/b").contains("not a JSON pointer"));
        assert!(error("http_requests_in_flight=/a").contains("one of the sidecar's own series"));
        assert!(error("mttd_sidecar_stats_up=/a").contains("one of the sidecar's own series"));
        let config = |path: &str, fields: &[&str]| {
            StatsConfig::parse(path, &fields.iter().map(|f| f.to_string()).collect::<Vec<_>>())
        };
        assert!(config("stats", &["a=/a"]).unwrap_err().contains("--stats-path `stats`"));
        assert!(config("/stats", &[]).unwrap_err().contains("at least one --stat"));
        assert!(config("/stats", &["a=/a", "a=/b"])
            .unwrap_err()
            .contains("`a` is given twice"));
        assert!(config("/stats", &["a=b"]).unwrap_err().starts_with("--stat `a=b`"));
    }

    #[test]
    fn the_fields_are_exported_as_counters_and_gauges() {
        let config = StatsConfig::parse(
            "/stats",
            &[
                "app_jobs=/jobs/done:counter",
                "app_queue=/queue",
                "app_ready=/ready",
                "app_load=/load",
                "app_gone=/nothing",
            ]
            .map(String::from),
        )
        .unwrap();
        let stats = Stats::new(config, "127.0.0.1:1".into());
        let document = serde_json::json!({"jobs": {"done": 42}, "queue": 3.5, "ready": true, "load": " 0.25 "});
        let values = stats.values(&document);
        assert_eq!(values, [Some(42.0), Some(3.5), Some(1.0), Some(0.25), None]);
        *stats.latest.lock().unwrap() = (true, values);
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(StatsCollector(stats.clone())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "mttd_sidecar_stats_up 1",
            "app_jobs_total 42",
            "# TYPE app_jobs counter",
            "app_queue 3.5",
            "app_ready 1",
            "app_load 0.25",
        ] {
            assert!(text.lines().any(|l| l.starts_with(line)), "{line} in\n{text}");
        }
        assert!(!text.contains("app_gone"), "{text}");
    }

    #[tokio::test]
    async fn an_app_that_does_not_answer_is_up_0() {
        let config = StatsConfig::parse("/stats", &["app_queue=/queue".to_string()]).unwrap();
        // Nothing listens on port 1.
        let stats = Stats::new(config, "127.0.0.1:1".into());
        *stats.latest.lock().unwrap() = (true, vec![Some(1.0)]);
        stats.refresh().await;
        assert_eq!(*stats.latest.lock().unwrap(), (false, vec![None]));
    }
}
