//! The model store's guarantees, the same suite on `file://`, `memory://` and a real S3 server
//! (SeaweedFS on 127.0.0.1): racing publishers lose nothing, a publisher that stops half-way
//! leaves nothing visible, changed bytes are found and refused, promote / rollback / approve are
//! in the change log with who and why. On S3 also: the server stopped mid-publish gives a clear
//! error, and publishing again once it is back is safe.

use crate::common;

use std::sync::OnceLock;

use common::*;
use mttd::contract::registry::VersionStatus;
use mttd::store::registry::{self, Publication};
use mttd::store::Store;

/// One demo run's documents, published again and again under a test workload name.
fn publication(actor: &str) -> Publication {
    static BASE: OnceLock<Publication> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let dir = assert_fs::TempDir::new().unwrap();
        mttd()
            .current_dir(dir.path())
            .args(["run", "--demo", "--store", "scratch"])
            .assert()
            .success();
        let run = dir.path().join("mttd-out/demo-api");
        let args = mttd::steps::publish::Args {
            store: String::new(),
            dataset: run.join("dataset"),
            model: run.join("model"),
            validation: run.join("validation"),
            comparison: run.join("comparison"),
            decision: run.join("decision"),
            triggered_by: "test".into(),
            out: None,
        };
        args.publication().unwrap()
    });
    let mut p = base.clone();
    p.actor = actor.to_string();
    // Each publisher's version differs (publishing the very same documents again is a retry,
    // which returns the version already made).
    p.documents
        .insert("report.md".into(), format!("published by {actor}\n").into_bytes());
    p
}

fn suite(store: &Store) {
    let w = "demo-api";
    // 8 publishers at once: 8 versions, none lost, the change log unbroken.
    std::thread::scope(|s| {
        for i in 0..8 {
            let handle = store.handle();
            s.spawn(move || registry::publish(&handle, &publication(&format!("publisher-{i}"))).unwrap());
        }
    });
    let r = registry::registry(store, w).unwrap();
    let mut versions: Vec<u32> = r.versions.iter().map(|v| v.version).collect();
    versions.sort();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>(), "{}", store.url());
    assert_eq!(r.head_sequence, 8);
    let actors: std::collections::BTreeSet<String> = r.versions.iter().map(|v| v.published_by.clone()).collect();
    assert_eq!(actors.len(), 8, "every publisher's entry is there");
    assert_eq!(
        r.versions
            .iter()
            .filter(|v| v.status == VersionStatus::Promoted)
            .count(),
        1
    );
    assert!(registry::verify(store, w).unwrap().is_empty());

    // A publisher that stops after its documents and before its change-log entry.
    let (orphan, _) = registry::write_documents(store, &publication("crashed")).unwrap();
    assert_eq!(orphan, 9);
    let r = registry::registry(store, w).unwrap();
    assert_eq!(r.versions.len(), 8, "the orphan is not visible");
    assert!(
        registry::verify(store, w).unwrap().is_empty(),
        "verify is clean with an orphan"
    );
    assert!(
        registry::gc(store, w, 3600).unwrap().is_empty(),
        "gc leaves young objects alone"
    );
    let deleted = registry::gc(store, w, 0).unwrap();
    assert!(
        !deleted.is_empty() && deleted.iter().all(|k| k.starts_with("demo-api/models/v9/")),
        "{deleted:?}"
    );
    assert!(store.get("demo-api/models/v9/model.json").unwrap().is_none());
    let (version, _) = registry::publish(store, &publication("after-gc")).unwrap();
    assert_eq!(version, 9);
    // A retried publish of the same documents (Argo retries a step whose pod failed after
    // the entry was written) returns that version and writes nothing.
    let head = registry::registry(store, w).unwrap().head_sequence;
    let (again, r) = registry::publish(store, &publication("after-gc")).unwrap();
    assert_eq!(
        (again, r.head_sequence),
        (9, head),
        "no duplicate version, no new entry"
    );

    // Promote (approve), roll back, with who and why.
    let promoted = registry::registry(store, w).unwrap().promoted.unwrap();
    let candidate = if promoted == 9 { 8 } else { 9 };
    let r = registry::approve(
        store,
        w,
        candidate,
        "alice",
        "replay reviewed",
        "2026-11-28T10:00:00Z",
        false,
    )
    .unwrap();
    assert_eq!(r.promoted, Some(candidate));
    // A retried approval by the same operator is a no-op; another's is refused.
    let again = registry::approve(
        store,
        w,
        candidate,
        "alice",
        "replay reviewed",
        "2026-11-28T10:01:00Z",
        false,
    )
    .unwrap();
    assert_eq!(again.head_sequence, r.head_sequence);
    assert!(registry::approve(store, w, candidate, "mallory", "again", "2026-11-28T10:02:00Z", false).is_err());
    let r = registry::rollback(store, w, None, "bob", "latency regression", "2026-11-28T11:00:00Z").unwrap();
    assert_eq!(r.promoted, Some(promoted), "back to the version promoted before");
    let rolled = r.versions.iter().find(|v| v.version == candidate).unwrap();
    assert_eq!(rolled.status, VersionStatus::RolledBack);
    let log = registry::read_log(store, w).unwrap();
    let last = &log.last().unwrap().0;
    assert_eq!(
        (last.actor.as_str(), last.recorded_at.as_str()),
        ("bob", "2026-11-28T11:00:00Z")
    );
    assert!(
        matches!(&last.event, mttd::contract::registry::Event::Rollback { reason, .. } if reason == "latency regression")
    );
    assert!(
        !registry::diff(store, w, 1, 2)
            .unwrap()
            .iter()
            .any(|l| l.contains("model.manifest.json")),
        "same model bytes"
    );

    // One byte changed in a stored model: verify names it, loading it is refused.
    let key = format!("demo-api/models/v{promoted}/model.json");
    let mut bytes = store.get(&key).unwrap().unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    store.put(&key, &bytes).unwrap();
    let problems = registry::verify(store, w).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&key) && problems[0].contains("altered"),
        "{problems:?}"
    );
    let refused = registry::promoted_model(store, w)
        .err()
        .expect("a changed model is refused")
        .to_string();
    assert!(refused.contains(&key), "{refused}");
    assert!(registry::rollback(store, w, Some(promoted), "carol", "x", "t").is_err());
}

#[test]
fn file_store() {
    let dir = assert_fs::TempDir::new().unwrap();
    suite(&Store::open(&format!("file://{}", dir.path().display())).unwrap());
}

#[test]
fn memory_store() {
    suite(&Store::open("memory://").unwrap());
}

#[test]
fn s3_store_on_a_real_server() {
    let server = S3Server::start();
    suite(&Store::open_with("s3://models/suite", server.options()).unwrap());
}

/// Many small reads at once (the prediction log's): the same bytes as one at a time, in the
/// keys' order, `None` for a key with nothing; both timed (printed, not asserted: the figures
/// belong in BENCHMARKS.md).
#[test]
fn many_reads_at_once_on_a_real_s3_server_give_what_reads_one_at_a_time_give() {
    let server = S3Server::start();
    let store = Store::open_with("s3://models/many", server.options()).unwrap();
    let mut keys: Vec<String> = (0..400)
        .map(|i| format!("w/predictions/2026-01-01/{i:05}.json"))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        store.put(key, format!("{{\"i\":{i}}}").as_bytes()).unwrap();
    }
    keys.insert(17, "w/predictions/2026-01-01/missing.json".into());
    let started = std::time::Instant::now();
    let one_by_one: Vec<Option<Vec<u8>>> = keys.iter().map(|k| store.get(k).unwrap()).collect();
    let serial = started.elapsed();
    let started = std::time::Instant::now();
    let at_once = store.get_many(&keys, 32).unwrap();
    let concurrent = started.elapsed();
    assert_eq!(at_once, one_by_one);
    assert!(at_once[17].is_none() && at_once[18].as_deref() == Some(&b"{\"i\":17}"[..]));
    println!("401 reads from SeaweedFS: one at a time {serial:?}, 32 at once {concurrent:?}");
}

#[test]
fn s3_server_stopped_mid_publish_is_a_clear_error_and_retry_is_safe() {
    let mut server = S3Server::start();
    let url = "s3://models/outage";
    let store = Store::open_with(url, server.options()).unwrap();
    registry::publish(&store, &publication("before")).unwrap();
    server.stop();
    let err = registry::publish(&store, &publication("during"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("model store s3://models/outage: "), "{err}");
    server.restart();
    let store = Store::open_with(url, server.options()).unwrap();
    let (version, r) = registry::publish(&store, &publication("after")).unwrap();
    assert_eq!(version, 2);
    assert_eq!(r.versions.len(), 2);
    assert!(registry::verify(&store, "demo-api").unwrap().is_empty());
}

#[test]
fn mttd_run_against_s3() {
    let server = S3Server::start();
    let dir = assert_fs::TempDir::new().unwrap();
    for expected in ["mttd-model:v1", "mttd-model:v2"] {
        mttd()
            .current_dir(dir.path())
            .envs(server.env())
            .args(["run", "--demo", "--store", "s3://models/demo"])
            .assert()
            .success()
            .stdout(predicates::str::contains(expected));
    }
    mttd()
        .current_dir(dir.path())
        .envs(server.env())
        .args([
            "registry",
            "--store",
            "s3://models/demo",
            "--workload",
            "demo-api",
            "verify",
        ])
        .assert()
        .success();
}
