//! The Athena SQL (queries/reconcile/*.sql, transpiled to DuckDB) finds exactly what the Rust
//! reconciler finds on the synth scenario. Runs tests/reconcile/sql_equivalence.py; skipped when
//! python3 with duckdb and sqlglot is missing, unless KMS_AUDIT_REQUIRE_SQL=1.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::record_batch::RecordBatch;
use chrono::SecondsFormat;
use parquet::arrow::ArrowWriter;
use reconcile::{tables, Reconciler};
use synth::scenario::{generate, ScenarioSpec};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python_ready() -> bool {
    Command::new("python3").args(["-c", "import duckdb, sqlglot"]).status().is_ok_and(|s| s.success())
}

fn write_parquet(path: &Path, batches: &[RecordBatch]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, batches[0].schema(), None).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn sql_findings_equal_rust_findings() {
    if !python_ready() {
        assert!(
            std::env::var("KMS_AUDIT_REQUIRE_SQL").as_deref() != Ok("1"),
            "python3 with duckdb and sqlglot is required (pip install duckdb==2.0.1 sqlglot==30.30.0)"
        );
        eprintln!("SKIPPED: python3 with duckdb and sqlglot not found");
        return;
    }
    let s = generate(&ScenarioSpec { seed: 11, jobs: 80, events: 4_000 });
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");

    // kms_events, one file per day (dt partitions).
    let mut by_day: BTreeMap<String, Vec<common::Row>> = BTreeMap::new();
    for r in common::all_rows(&s.records) {
        let day = chrono::DateTime::from_timestamp_millis(r.event_time).unwrap().format("%Y-%m-%d").to_string();
        by_day.entry(day).or_default().push(r);
    }
    for (day, rows) in &by_day {
        write_parquet(&lake.join(format!("kms_events/dt={day}/part-0.parquet")), &[common::batch(rows)]);
    }
    // Expectations, JSON and the Rust-flattened tables.
    let exp_path = dir.path().join("expectations.json");
    std::fs::write(&exp_path, s.expectations.to_json()).unwrap();
    let tdir = dir.path().join("tables");
    write_parquet(&tdir.join("expectations.parquet"), &[tables::expectations_batch(&s.expectations)]);
    write_parquet(&tdir.join("expectations_allow.parquet"), &[tables::allow_batch(&s.expectations)]);
    write_parquet(&tdir.join("expectations_keys.parquet"), &[tables::keys_batch(&s.expectations)]);

    // Rust findings.
    let mut r = Reconciler::new(&s.expectations, s.options("eq")).unwrap();
    for b in common::batches(&s.records, 500) {
        r.observe(&b).unwrap();
    }
    let findings = r.finish();
    assert!(findings.len() >= 12);
    let fpath = dir.path().join("findings.json");
    std::fs::write(&fpath, serde_json::to_string_pretty(&findings).unwrap()).unwrap();

    let t = |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(SecondsFormat::Millis, true);
    let out = Command::new("python3")
        .arg(root().join("tests/reconcile/sql_equivalence.py"))
        .arg("--lake")
        .arg(&lake)
        .arg("--expectations")
        .arg(&exp_path)
        .arg("--findings")
        .arg(&fpath)
        .args(["--from", &t(s.from), "--to", &t(s.to), "--watermark", &t(s.watermark)])
        .args(["--slack-seconds", &s.slack.as_secs().to_string(), "--run-id", "eq"])
        .arg("--tables")
        .arg(&tdir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SQL and Rust differ:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
}
