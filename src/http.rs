//! What the HTTP clients share (the Prometheus source, the Alertmanager alert, the Pushgateway
//! floor): a small I/O runtime, retry backoff with jitter, a request sent with retries, and an
//! error description that names the cause.

use std::time::Duration;

/// Backoff before the first retry; doubled each time, capped at [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// A current-thread runtime for a step's requests (the step blocks on them).
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))
}

/// What went wrong with a request, with its chain of causes ("cannot connect: … refused").
pub fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Why a body was not read in full.
pub enum BodyError {
    /// The answer is larger than the limit: not a transient problem.
    TooLarge(usize),
    /// The connection failed while reading.
    Read(String),
}

/// Reads a response body of at most `limit` bytes, refusing a larger one as soon as it shows
/// (by its Content-Length, or while it streams) instead of holding it all.
pub async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(BodyError::Read(describe(&e))),
        }
    }
}

/// Sends one request with a body, retrying connection errors and 5xx twice (with backoff);
/// a 4xx is refused at once. The error names the status and the start of the answer.
pub fn send_with_retry(method: reqwest::Method, url: &str, content_type: &str, body: Vec<u8>) -> Result<(), String> {
    let runtime = runtime()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    runtime.block_on(async {
        let mut attempt = 0;
        loop {
            let sent = client
                .request(method.clone(), url)
                .header("content-type", content_type)
                .body(body.clone())
                .send()
                .await;
            let problem = match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status();
                    let text = match read_limited(r, 64 << 10).await {
                        Ok(body) => crate::error::shown(&String::from_utf8_lossy(&body), 300),
                        Err(_) => "(an unreadable or oversized answer)".into(),
                    };
                    if !status.is_server_error() {
                        return Err(format!("HTTP {status}: {text}"));
                    }
                    format!("HTTP {status}: {text}")
                }
                Err(e) => describe(&e),
            };
            if attempt >= 2 {
                return Err(format!("gave up after {} attempts: {problem}", attempt + 1));
            }
            tokio::time::sleep(backoff(attempt, 0)).await;
            attempt += 1;
        }
    })
}

/// Exponential backoff with jitter: the delay doubles with each attempt (capped), then a
/// pseudo-random share of up to half of it is taken off, so that retries of concurrent requests
/// spread out.
pub fn backoff(attempt: u32, seed: u64) -> Duration {
    let base = FIRST_BACKOFF.saturating_mul(1u32 << attempt.min(16)).min(MAX_BACKOFF);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    // splitmix64 of the clock and the request: enough spread for jitter.
    let mut x = nanos ^ seed.rotate_left(17) ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let share = (x % 1000) as f64 / 2000.0; // 0 to 0.5
    base.mul_f64(1.0 - share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_with_jitter() {
        for attempt in 0..10 {
            let full = FIRST_BACKOFF.saturating_mul(1 << attempt).min(MAX_BACKOFF);
            let d = backoff(attempt, 7);
            assert!(d <= full && d >= full / 2, "attempt {attempt}: {d:?} vs {full:?}");
        }
    }
}
