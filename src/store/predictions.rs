//! The prediction log: every forecast's recommendation ([`Recommendation::as_logged`]) in the
//! store, one object a forecast (`<workload>/predictions/<day>/<time>.json`), written only where
//! nothing is — the log is appended to, never rewritten, and no object grows.

use super::{Created, Store};
use crate::contract::document::canonical_json;
use crate::contract::{layout, Recommendation};
use crate::error::{Error, Result};

/// Reads of the log in flight at once: a week of 5-minute forecasts is about 2,000 objects.
const READ_CONCURRENCY: usize = 32;

/// Logs `rec`, made at the Unix time `made_at`; returns its key. The same prediction logged
/// again (the same `now`, the same inputs) is already there and is left as it is; a different
/// one for the same second is refused.
pub fn log(store: &Store, rec: &Recommendation, made_at: i64) -> Result<String> {
    let key = layout::prediction_key(&rec.workload, made_at);
    let bytes = canonical_json(&rec.as_logged());
    match store.put_new(&key, &bytes)? {
        Created::Yes => Ok(key),
        Created::AlreadyExists if store.get(&key)?.as_deref() == Some(&bytes[..]) => Ok(key),
        Created::AlreadyExists => Err(Error::Store {
            url: store.url().to_string(),
            problem: format!(
                "{key}: a different prediction made at the same second is already logged (the log is never rewritten)"
            ),
        }),
    }
}

/// Every logged prediction of `workload`, oldest first.
pub fn read_all(store: &Store, workload: &str) -> Result<Vec<Recommendation>> {
    read_keys(store, store.list(&layout::predictions_prefix(workload))?)
}

/// The predictions of `workload` made in the days from `since` to `until` (Unix times; whole
/// UTC days, one listing each), oldest first: what a score over a trailing window needs,
/// however long the log has grown.
pub fn read_days(store: &Store, workload: &str, since: i64, until: i64) -> Result<Vec<Recommendation>> {
    let mut keys = Vec::new();
    let mut day = since.div_euclid(86_400);
    while day <= until.div_euclid(86_400) {
        let key = layout::prediction_key(workload, day * 86_400);
        let (folder, _) = key.rsplit_once('/').expect("a prediction key has a day folder");
        keys.extend(store.list(&format!("{folder}/"))?);
        day += 1;
    }
    read_keys(store, keys)
}

fn read_keys(store: &Store, mut keys: Vec<String>) -> Result<Vec<Recommendation>> {
    keys.sort();
    let objects = store.get_many(&keys, READ_CONCURRENCY)?;
    keys.iter()
        .zip(objects)
        .filter_map(|(key, bytes)| bytes.map(|bytes| (key, bytes)))
        .map(|(key, bytes)| {
            serde_json::from_slice(&bytes).map_err(|e| Error::Altered {
                url: store.url().to_string(),
                problem: format!("{key}: not a logged recommendation: {e}"),
            })
        })
        .collect()
}
