//! `kms-audit compact` on a local lake built by `kms-audit ingest`: one sorted, deduplicated
//! file per partition; reruns change nothing; late files fold in; `--dt` selects a day.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;
use lake::read::{for_each_event_batch, EventFilter};
use lake::{LocalStore, Store};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kms-audit"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("kms-audit runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ingest(lake: &Path, files: &[PathBuf], extra: &[&str]) {
    let (code, _, err) = run(bin().arg("ingest").args(files).arg("--lake").arg(lake).args(extra));
    assert_eq!(code, 0, "{err}");
}

fn compact(lake: &Path, extra: &[&str]) -> serde_json::Value {
    let (code, out, err) = run(bin().args(["compact", "--json", "--lake"]).arg(lake).args(extra));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(out.trim()).unwrap()
}

fn snapshot(lake: &Path) -> BTreeMap<String, Vec<u8>> {
    let store = LocalStore::new(lake);
    store.list("kms_events/").unwrap().into_iter().map(|o| (o.key.clone(), store.get_bytes(&o.key).unwrap())).collect()
}

/// Files per partition folder.
fn files_per_partition(lake: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for key in snapshot(lake).keys() {
        let p = lake::Partition::from_path(key).unwrap();
        *out.entry(p.dir()).or_insert(0) += 1;
    }
    out
}

/// Rows of the lake, checking every file is sorted by time and free of (account, event id)
/// duplicates within its partition.
fn check_rows(lake: &Path) -> u64 {
    let store = LocalStore::new(lake);
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for_each_event_batch(&store, &EventFilter::default(), |file, batch| {
        let times = batch.column_by_name("event_time").unwrap().as_primitive::<TimestampMillisecondType>();
        let ids = batch.column_by_name("event_id").unwrap().as_string::<i32>();
        let accounts = batch.column_by_name("account_id").unwrap().as_string::<i32>();
        for i in 0..batch.num_rows() {
            let t = times.value(i);
            let prev = last.entry(file.object.key.clone()).or_insert(i64::MIN);
            assert!(t >= *prev, "{} not sorted", file.object.key);
            *prev = t;
            let account = if accounts.is_null(i) { String::new() } else { accounts.value(i).to_owned() };
            assert!(
                seen.insert((file.partition.dir(), account, ids.value(i).to_owned())),
                "duplicate {} in {}",
                ids.value(i),
                file.partition.dir()
            );
        }
        Ok(())
    })
    .unwrap()
}

fn trail(dir: &Path, seed: u64, files: usize) -> Vec<PathBuf> {
    let spec = synth::TrailSpec {
        records: 4000,
        files,
        days: 3,
        seed,
        duplicate_fraction: 0.05,
        ..synth::TrailSpec::default()
    };
    synth::generate_trail(&spec, dir).unwrap().files
}

#[test]
fn compaction_merges_deduplicates_sorts_and_reruns_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = trail(&dir.path().join("trail"), 7, 8);
    let lake = dir.path().join("lake");
    // Two overlapping runs with different windows: files 2 and 3 land twice, under other names,
    // so the lake holds duplicates across files, and most partitions hold several files.
    ingest(&lake, &files[..4], &["--window-mib", "1"]);
    ingest(&lake, &files[2..], &[]);
    // Reference: everything in one run (deduplicated by the ingest itself).
    let reference = dir.path().join("reference");
    ingest(&reference, &files, &[]);
    let reference_rows = check_rows(&reference);

    let before = files_per_partition(&lake);
    assert!(before.values().any(|&n| n > 2), "several files per partition before: {before:?}");
    let s = compact(&lake, &[]);
    assert!(s["compacted"].as_u64().unwrap() > 0);
    assert!(s["duplicates"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(
        s["output_rows"].as_u64().unwrap() + s["duplicates"].as_u64().unwrap(),
        s["input_rows"].as_u64().unwrap()
    );
    let after = files_per_partition(&lake);
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "same partitions");
    assert!(after.values().all(|&n| n == 1), "{after:?}");
    assert_eq!(check_rows(&lake), reference_rows);

    // Rerun: nothing to merge, not a byte changes.
    let snap = snapshot(&lake);
    let s = compact(&lake, &[]);
    assert_eq!(s["compacted"], 0);
    assert_eq!(snapshot(&lake), snap);
}

#[test]
fn late_files_fold_into_compacted_days_and_dt_selects_one_day() {
    let dir = tempfile::tempdir().unwrap();
    let files = trail(&dir.path().join("trail"), 11, 6);
    let lake = dir.path().join("lake");
    ingest(&lake, &files[..4], &["--window-mib", "1"]);
    compact(&lake, &[]);
    let compacted = snapshot(&lake);
    let rows = check_rows(&lake);

    // Later deliveries: redelivered and late events of days already compacted land as new
    // files in compacted partitions.
    ingest(&lake, &files[4..], &[]);
    let per = files_per_partition(&lake);
    let days_with_two: Vec<String> = per
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(d, _)| lake::Partition::from_path(&format!("{d}x.parquet")).unwrap().dt)
        .collect();
    assert!(!days_with_two.is_empty());
    let day = days_with_two[0].clone();

    // --dt compacts that day only.
    let s = compact(&lake, &["--dt", &day]);
    assert!(s["compacted"].as_u64().unwrap() > 0);
    for (dir_, n) in files_per_partition(&lake) {
        let p = lake::Partition::from_path(&format!("{dir_}x.parquet")).unwrap();
        if p.dt == day {
            assert_eq!(n, 1, "{dir_}");
        }
    }
    // --before a day leaves that day alone.
    let s = compact(&lake, &["--before", "2000-01-01"]);
    assert_eq!(s["compacted"], 0);
    // Everything: one file per partition, every row of the trail, none twice.
    compact(&lake, &[]);
    assert!(files_per_partition(&lake).values().all(|&n| n == 1));
    let all_rows = check_rows(&lake);
    assert!(all_rows > rows);
    let reference = dir.path().join("reference");
    ingest(&reference, &files, &[]);
    assert_eq!(all_rows, check_rows(&reference));
    assert_ne!(snapshot(&lake), compacted);
    // Usage errors.
    let (code, _, _) = run(bin().args(["compact", "--lake"]).arg(&lake).args(["--dt", "yesterday"]));
    assert_eq!(code, 2);
}
