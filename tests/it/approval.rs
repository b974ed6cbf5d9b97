//! The approval path: a policy that asks an operator for the first promotion leaves v1 a
//! candidate; `mttd registry approve` promotes it and the change log records who and why;
//! `mttd registry verify` checks the chain and every document, and names what was altered.

use crate::common;

use common::*;
use predicates::str::contains;

#[test]
fn first_promotion_waits_for_an_operator_and_the_log_says_who() {
    let dir = assert_fs::TempDir::new().unwrap();
    let root = dir.path();
    // The demo's files, with a policy that wants approval for the first promotion.
    mttd()
        .current_dir(root)
        .args(["run", "--demo", "--store", "scratch"])
        .assert()
        .success();
    let config = root.join("mttd-out/demo/mttd.yaml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("  approval_for_first_promotions: 1\n");
    std::fs::write(&config, text).unwrap();

    mttd()
        .current_dir(root)
        .args(["run", "--config", "mttd-out/demo/mttd.yaml"])
        .assert()
        .success()
        .stdout(contains(
            "decision        needs-approval: every check passed; 0 of the first 1 promotions need an operator",
        ));
    let registry = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(root.join("mttd-store/demo-api/registry.json")).unwrap()).unwrap()
    };
    assert_eq!(registry()["versions"][0]["status"], "candidate");
    assert!(registry().get("promoted").is_none());

    let registry_cmd = |args: &[&str]| {
        let mut c = mttd();
        c.current_dir(root)
            .args(["registry", "--workload", "demo-api"])
            .args(args);
        c
    };
    registry_cmd(&[
        "approve",
        "v1",
        "--approved-by",
        "alice",
        "--reason",
        "reviewed the replay",
    ])
    .assert()
    .success();
    assert_eq!(registry()["promoted"], 1);
    assert_eq!(registry()["versions"][0]["approval"]["by"], "alice");
    let entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("mttd-store/demo-api/changelog/00000002.json")).unwrap())
            .unwrap();
    assert_eq!(entry["actor"], "alice");
    assert_eq!(entry["event"]["type"], "approve");
    assert_eq!(entry["event"]["reason"], "reviewed the replay");
    registry_cmd(&["list"])
        .assert()
        .success()
        .stdout(contains("v1       promoted"));
    registry_cmd(&["approve", "v1", "--approved-by", "bob", "--reason", "again"])
        .assert()
        .failure()
        .stderr(contains("already the promoted version"));

    // The next run compares against the approved v1, and the policy no longer asks.
    mttd()
        .current_dir(root)
        .args(["run", "--config", "mttd-out/demo/mttd.yaml"])
        .assert()
        .success()
        .stdout(contains("control v1 (elastic-net)"));
    for file in json_files(&root.join("mttd-store")) {
        assert_valid_document(&file);
    }

    // v2 is the gate's to reject when it is not better than v1; approving a rejected version
    // takes --force, and the change log says it was forced.
    let registry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("mttd-store/demo-api/registry.json")).unwrap()).unwrap();
    assert_eq!(registry["versions"][1]["status"], "rejected", "{registry}");
    registry_cmd(&["approve", "v2", "--approved-by", "carol", "--reason", "hotfix"])
        .assert()
        .failure()
        .stderr(contains("was rejected by the gate"))
        .stderr(contains("--force"));
    registry_cmd(&[
        "approve",
        "v2",
        "--approved-by",
        "carol",
        "--reason",
        "hotfix",
        "--force",
    ])
    .assert()
    .success();
    let registry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("mttd-store/demo-api/registry.json")).unwrap()).unwrap();
    assert_eq!(registry["versions"][1]["approval"]["forced"], true);
    assert_eq!(registry["promoted"], 2);

    registry_cmd(&["verify"]).assert().success();
    let report = root.join("mttd-store/demo-api/models/v1/report.md");
    let mut bytes = std::fs::read(&report).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&report, bytes).unwrap();
    registry_cmd(&["verify"])
        .assert()
        .failure()
        .stderr(contains("demo-api/models/v1/report.md hashes to"));
}
