//! The change log proves who wrote what (review: security-and-robustness M3): entries signed by
//! a publisher's or an approver's key; readers given the trusted keys refuse an appended entry
//! that is not signed, or signed by a key not trusted for its event; `verify --witness` shows
//! a deleted tail; `verify` names events about versions that were never published.

use std::path::Path;

use crate::common::*;
use predicates::str::contains;

fn keygen(root: &Path, name: &str) -> String {
    let out = mttd()
        .current_dir(root)
        .args(["keygen", "--out", name])
        .assert()
        .success();
    let public = String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(public.len(), 64, "{public}");
    public
}

fn entries(root: &Path) -> Vec<std::path::PathBuf> {
    let mut e: Vec<_> = std::fs::read_dir(root.join("mttd-store/demo-api/changelog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    e.sort();
    e
}

#[test]
fn a_signed_change_log_refuses_what_the_keys_did_not_write() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    let publisher = keygen(root, "publisher.key");
    let approver = keygen(root, "approver.key");
    std::fs::write(
        root.join("trusted"),
        format!("publisher: {publisher}\napprover: {approver}\n"),
    )
    .unwrap();
    let signed_by = |key: &str| {
        let mut c = mttd();
        // The signing key by its path, the trusted keys by their text (as a ConfigMap key gives
        // them to a container).
        let trusted = std::fs::read_to_string(root.join("trusted")).unwrap();
        c.current_dir(root)
            .env("MTTD_SIGNING_KEY_FILE", key)
            .env("MTTD_TRUSTED_KEYS", trusted);
        c
    };
    let registry = |key: &str, args: &[&str]| {
        let mut c = signed_by(key);
        c.args(["registry", "--workload", "demo-api"]).args(args);
        c
    };
    // A forecast of the store's state, signed by the publisher; its recommendation.
    let forecast = |out: &str| -> serde_json::Value {
        signed_by("publisher.key")
            .args([
                "forecast",
                "--config",
                "mttd-out/demo/mttd.yaml",
                "--store",
                "mttd-store",
            ])
            .args(["--out", out, "--now", "latest"])
            .assert()
            .success();
        serde_json::from_slice(&std::fs::read(root.join(out).join("recommendation.json")).unwrap()).unwrap()
    };
    signed_by("publisher.key").args(["run", "--demo"]).assert().success();
    let first: serde_json::Value = serde_json::from_slice(&std::fs::read(&entries(root)[0]).unwrap()).unwrap();
    assert_eq!(first["signature"]["key"], publisher.as_str());
    registry("publisher.key", &["verify"]).assert().success();

    // An operator's approval, signed with the approver's key, is accepted.
    signed_by("publisher.key").args(["run", "--demo"]).assert().success();
    registry(
        "approver.key",
        &["approve", "v2", "--approved-by", "alice", "--reason", "r", "--force"],
    )
    .assert()
    .success();
    registry("approver.key", &["verify"]).assert().success();
    // The forecast of this state remembers the log's head.
    forecast("fc");

    // An approval signed with the publisher's key: the readers refuse it.
    registry("publisher.key", &["rollback", "--by", "mallory", "--reason", "x"])
        .assert()
        .success();
    registry("approver.key", &["verify"])
        .assert()
        .failure()
        .stderr(contains("not a trusted approver key"));
    let last = entries(root).pop().unwrap();
    std::fs::remove_file(&last).unwrap();

    // A well-formed, chained but unsigned entry appended by someone with store write access.
    let forged_path = forge_entry(
        &root.join("mttd-store/demo-api/changelog"),
        "demo-api",
        serde_json::json!({"type": "rollback", "from": 2, "to": 1, "reason": "x"}),
    );
    let sequence = entries(root).len();
    registry("approver.key", &["verify"])
        .assert()
        .failure()
        .stderr(contains(format!("entry {sequence} is not signed")));
    let rec = forecast("fc2");
    assert_eq!(rec["fallback"]["reason"], "model-rejected", "{rec}");
    std::fs::remove_file(&forged_path).unwrap();
    registry("approver.key", &["verify"]).assert().success();

    // The last entry deleted (the approval vanishes): the forecast's witness shows it.
    let last = entries(root).pop().unwrap();
    std::fs::remove_file(&last).unwrap();
    registry("approver.key", &["verify", "--witness", "fc/recommendation.json"])
        .assert()
        .failure()
        .stderr(contains("truncated or rewritten"));
    let rec = forecast("fc");
    assert_eq!(rec["fallback"]["reason"], "model-rejected", "{rec}");
    assert!(rec["fallback"]["detail"]
        .as_str()
        .unwrap()
        .contains("truncated or rewritten"));
}

#[test]
fn verify_names_events_about_versions_never_published_and_an_altered_dataset() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    mttd().current_dir(root).args(["run", "--demo"]).assert().success();
    let registry = |args: &[&str]| {
        let mut c = mttd();
        c.current_dir(root)
            .args(["registry", "--workload", "demo-api"])
            .args(args);
        c
    };
    registry(&["verify"]).assert().success();
    let forged_path = forge_entry(
        &root.join("mttd-store/demo-api/changelog"),
        "demo-api",
        serde_json::json!({"type": "rollback", "from": 1, "to": 99, "reason": "x"}),
    );
    registry(&["verify"])
        .assert()
        .failure()
        .stderr(contains("names v99, which was never published"));
    std::fs::remove_file(&forged_path).unwrap();
    let dataset = std::fs::read_dir(root.join("mttd-store/demo-api/datasets"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&dataset).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&dataset, bytes).unwrap();
    registry(&["verify"])
        .assert()
        .failure()
        .stderr(contains("does not hash to its name"));
}
