//! Every bad-input fixture in tests/data/bad/ (made by tests/data/make_bad.py, outcomes in
//! tests/data/expected.json): a bad file is refused whole with a reason naming it and the
//! position, and quarantined; a bad record is quarantined alone and its neighbours land.

mod common;

use std::collections::BTreeMap;

use common::*;
use lake::IngestOptions;
use serde_json::Value;

fn expected() -> BTreeMap<String, Value> {
    serde_json::from_str(&std::fs::read_to_string(data("expected.json")).unwrap()).unwrap()
}

fn quarantine_entries(lake: &std::path::Path) -> Vec<Value> {
    let dir = lake.join("_quarantine");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten() {
        let e = e.unwrap();
        out.push(serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap());
    }
    out
}

#[test]
fn every_bad_file_is_refused_named_and_quarantined() {
    for (name, want) in expected() {
        let Some(fragment) = want["file_error"].as_str() else { continue };
        let lake = tempfile::tempdir().unwrap();
        let path = data(&format!("bad/{name}"));
        let report = ingest(lake.path(), sources(&path), IngestOptions::default());
        assert_eq!(report.failures.len(), 1, "{name}: {report:?}");
        let failure = &report.failures[0];
        assert!(failure.object.ends_with(&name), "{name}: error must name the object: {}", failure.object);
        assert!(failure.reason.contains(fragment), "{name}: reason {:?} lacks {fragment:?}", failure.reason);
        assert!(!failure.retryable, "{name}: bad data is not retryable");
        assert_eq!(report.summary.quarantined_files, 1, "{name}");
        assert_eq!(read_rows(lake.path()).len(), 0, "{name}: nothing of a refused file lands");
        let entries = quarantine_entries(lake.path());
        assert_eq!(entries.len(), 1, "{name}");
        assert!(entries[0]["object"].as_str().unwrap().ends_with(&name));
        assert!(entries[0]["reason"].as_str().unwrap().contains(fragment));
        assert!(entries[0]["quarantined_at"].as_str().unwrap().ends_with('Z'));
    }
}

#[test]
fn json_errors_give_line_column_and_record_index() {
    let lake = tempfile::tempdir().unwrap();
    let report = ingest(lake.path(), sources(&data("bad/invalid-json.json")), IngestOptions::default());
    let reason = &report.failures[0].reason;
    assert!(reason.contains("line 1 column"), "{reason}");
    assert!(reason.contains("record index 1"), "the second record is the broken one: {reason}");
    let report = ingest(lake.path(), sources(&data("bad/truncated.json.gz")), IngestOptions::default());
    assert!(report.failures[0].reason.contains("decompressed bytes"), "{}", report.failures[0].reason);
}

#[test]
fn bad_records_are_quarantined_alone_and_neighbours_land() {
    let want = &expected()["bad-records.json"];
    let lake = tempfile::tempdir().unwrap();
    let report = ingest(lake.path(), sources(&data("bad/bad-records.json")), IngestOptions::default());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let bad: Vec<u64> = want["bad_records"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(report.summary.quarantined_records, bad.len() as u64);
    assert_eq!(report.summary.records, 20);

    let entries = quarantine_entries(lake.path());
    assert_eq!(entries.len(), 1);
    let got: Vec<u64> =
        entries[0]["records"].as_array().unwrap().iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(got, bad);
    let reasons: Vec<&str> =
        entries[0]["records"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons[0].contains("no eventID"), "{reasons:?}");
    assert!(reasons[1].contains("no eventTime"), "{reasons:?}");
    assert!(reasons[2].contains("yesterday"), "{reasons:?}");
    assert!(reasons[3].contains("exceeds"), "{reasons:?}");
    assert!(reasons[4].contains("not a valid CloudTrail record"), "{reasons:?}");
    assert!(entries[0]["records"][3]["excerpt"].as_str().unwrap().len() <= 1024, "excerpts are bounded");

    let rows = read_rows(lake.path());
    assert_eq!(rows.len() as u64, want["rows"].as_u64().unwrap());
    for (event_id, principal) in want["principals"].as_object().unwrap() {
        let row = rows.iter().find(|r| &r.event_id == event_id).unwrap_or_else(|| panic!("{event_id} landed"));
        assert_eq!(row.principal_arn, principal.as_str().unwrap(), "{event_id}");
        assert_eq!(row.principal, row.principal_arn, "partition decodes to the column value");
    }
    for event_id in want["keyless"].as_array().unwrap() {
        let row = rows.iter().find(|r| r.event_id == event_id.as_str().unwrap()).unwrap();
        assert_eq!(row.key_id, "_none");
        assert_eq!(row.key_arn, None);
    }
    let no_recipient = rows.iter().find(|r| r.event_id.ends_with("000000000117")).unwrap();
    assert_eq!(no_recipient.account_id.as_deref(), Some("111122223333"), "account from userIdentity.accountId");
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["truncated.json.gz", "bad-records.json", "no-records.json"] {
        std::fs::copy(data(&format!("bad/{name}")), dir.path().join(name)).unwrap();
    }
    std::fs::copy(repo_file("tests/data/cloudtrail/kms-examples.json"), dir.path().join("good.json")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let report = ingest(lake.path(), sources(dir.path()), IngestOptions::default());
    assert_eq!(report.failures.len(), 2);
    assert_eq!(report.summary.files, 2);
    assert_eq!(read_rows(lake.path()).len(), 14 + 13, "good file's 13 rows and the 14 good records land");
}

#[test]
fn identical_bad_files_are_each_quarantined_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.json.gz", "b.json.gz"] {
        std::fs::copy(data("bad/empty.json.gz"), dir.path().join(name)).unwrap();
    }
    let lake = tempfile::tempdir().unwrap();
    let report = ingest(lake.path(), sources(dir.path()), IngestOptions::default());
    assert_eq!(report.failures.len(), 2);
    let mut objects: Vec<String> =
        quarantine_entries(lake.path()).iter().map(|e| e["object"].as_str().unwrap().to_owned()).collect();
    objects.sort();
    assert_eq!(objects.len(), 2, "same bytes, two objects, two entries: {objects:?}");
    assert!(objects[0].ends_with("a.json.gz") && objects[1].ends_with("b.json.gz"), "{objects:?}");
    // A rerun keeps the entries as they are.
    let before = quarantine_entries(lake.path());
    ingest(lake.path(), sources(dir.path()), IngestOptions::default());
    assert_eq!(quarantine_entries(lake.path()), before);
}

/// A 3 MiB record (over the 1 MiB a record may take in memory, far over CloudTrail's 256 KiB
/// event limit) between good ones: set aside unread in bounded memory when the file streams, set
/// aside for the same reason when it is read whole; its neighbours land either way.
#[test]
fn a_record_too_large_to_hold_is_quarantined_alone() {
    let examples: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file("tests/data/cloudtrail/kms-examples.json")).unwrap())
            .unwrap();
    let mut records = examples["Records"].as_array().unwrap().clone();
    let mut huge = records[0].clone();
    huge["requestParameters"]["padding"] = Value::String("x".repeat(3 << 20));
    records.insert(2, huge);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge-record.json");
    std::fs::write(&path, serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap()).unwrap();

    let whole = tempfile::tempdir().unwrap();
    let whole_report = ingest(whole.path(), sources(&path), IngestOptions::default());
    let streamed = tempfile::tempdir().unwrap();
    let streamed_report = ingest(streamed.path(), sources(&path), streaming_options());
    for (lake, report) in [(whole.path(), &whole_report), (streamed.path(), &streamed_report)] {
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(report.summary.quarantined_records, 1);
        assert_eq!(report.summary.kms_events, examples["Records"].as_array().unwrap().len() as u64);
        let entries = quarantine_entries(lake);
        let record = &entries[0]["records"][0];
        assert_eq!(record["index"], 2);
        assert!(record["reason"].as_str().unwrap().contains("set aside unread"), "{record}");
    }
    assert_eq!(read_rows(streamed.path()), read_rows(whole.path()));
}
