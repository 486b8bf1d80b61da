//! `kms-audit reconcile` end to end on a lake written by the real ingest.
//!
//! The synth scenario (every rule planted, every trap silent) is written as CloudTrail log
//! files, `kms-audit ingest` turns them into the Hive-partitioned `kms_events` lake, and
//! `kms-audit reconcile` reconciles it: the findings (JSON and the lake's `findings` Parquet
//! table) are exactly the planted ones, and the Athena SQL of `queries/reconcile/` (sqlglot
//! trino → duckdb, run by tests/reconcile/sql_equivalence.py over the same lake and the
//! expectations tables the reconcile wrote) finds exactly the same. Python with duckdb and
//! sqlglot is required: the test fails, it does not skip, without them (tests/env.sh installs
//! them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::SecondsFormat;
use reconcile::{Finding, Rule};
use serde_json::{json, Value};
use synth::scenario::{generate, Scenario, ScenarioSpec};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kms_audit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kms-audit"));
    c.env_remove("AWS_ENDPOINT_URL").env("KMS_AUDIT_LOG", "warn");
    c
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run kms-audit");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn t(d: chrono::DateTime<chrono::Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes the scenario's records as `files` CloudTrail log files, delivered the way S3 lays
/// them out (one folder per delivery day), records spread round-robin so each file holds
/// several days and partitions.
fn write_trail(s: &Scenario, dir: &Path, files: usize) {
    for f in 0..files {
        let records: Vec<&Value> = s.records.iter().skip(f).step_by(files).collect();
        let folder = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/17");
        std::fs::create_dir_all(&folder).unwrap();
        let name = format!("111122223333_CloudTrail_us-east-1_20250317T00{f:02}Z_scenario{f}.json");
        std::fs::write(folder.join(name), serde_json::to_vec(&json!({ "Records": records })).unwrap()).unwrap();
    }
}

struct World {
    dir: tempfile::TempDir,
    scenario: Scenario,
}

impl World {
    fn new() -> World {
        let scenario = generate(&ScenarioSpec { seed: 11, jobs: 80, events: 4_000 });
        let dir = tempfile::tempdir().unwrap();
        write_trail(&scenario, &dir.path().join("trail"), 3);
        let out =
            run(kms_audit().arg("ingest").arg(dir.path().join("trail")).arg("--lake").arg(dir.path().join("lake")));
        assert_eq!(out.status.code(), Some(0), "ingest failed");
        std::fs::write(dir.path().join("expectations.json"), scenario.expectations.to_json()).unwrap();
        World { dir, scenario }
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn reconcile(&self, extra: &[&str]) -> Output {
        let s = &self.scenario;
        run(kms_audit()
            .arg("reconcile")
            .arg("--lake")
            .arg(self.lake())
            .arg("--expectations")
            .arg(self.dir.path().join("expectations.json"))
            .args(["--from", &t(s.from), "--to", &t(s.to), "--watermark", &t(s.watermark)])
            .args(["--slack", &format!("{}s", s.slack.as_secs())])
            .args(extra))
    }
}

/// (rule, event_id, key_arn, job_arn, principal_arn)
type Identity = (Rule, Option<String>, Option<String>, Option<String>, Option<String>);

fn identities(findings: &[Finding]) -> BTreeSet<Identity> {
    findings
        .iter()
        .map(|f| (f.rule, f.event_id.clone(), f.key_arn.clone(), f.job_arn.clone(), f.principal_arn.clone()))
        .collect()
}

#[test]
fn reconcile_on_an_ingested_lake_finds_the_planted_findings_and_sql_agrees() {
    let w = World::new();
    let s = &w.scenario;
    let out_path = w.dir.path().join("findings.json");
    let out =
        w.reconcile(&["--out", out_path.to_str().unwrap(), "--run-id", "eq", "--fail-on", "none", "--threads", "2"]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("unexpected-principal") && table.contains("SEVERITY"), "table on stdout:\n{table}");

    // Exactly what was planted.
    let findings: Vec<Finding> = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let planted: BTreeSet<_> = s
        .planted
        .iter()
        .map(|p| (p.rule, p.event_id.clone(), p.key_arn.clone(), p.job_arn.clone(), p.principal_arn.clone()))
        .collect();
    assert_eq!(identities(&findings), planted, "findings differ from the planted ones");
    let rules: BTreeSet<Rule> = findings.iter().map(|f| f.rule).collect();
    assert_eq!(rules.len(), 9, "every rule but audit-gap fires: {rules:?}");
    for f in &findings {
        assert_eq!(f.run_id, "eq");
        assert_eq!(f.severity, f.rule.severity());
    }
    // The JSON fields of the contract.
    let raw: Vec<Value> = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    for k in ["rule", "severity", "key_arn", "principal_arn", "event_id", "event_time", "job_arn", "detail"] {
        assert!(raw.iter().all(|f| f.get(k).is_some()), "every finding has {k}");
    }
    assert!(raw.iter().any(|f| f["rule"] == "missing-usage" && f["event_id"].is_null()));

    // Lake outputs: findings partitioned by day, and the expectations tables.
    let lake = w.lake();
    for table in ["expectations", "expectations_allow", "expectations_keys"] {
        assert!(lake.join(table).join(format!("{table}.parquet")).is_file(), "{table} table written");
    }
    let days: Vec<String> = std::fs::read_dir(lake.join("findings"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(days.len() >= 5 && days.iter().all(|d| d.starts_with("dt=2025-03-")), "{days:?}");
    assert!(lake.join("findings").join(&days[0]).join("eq.parquet").is_file());

    // The Athena SQL on DuckDB over the same lake and tables: same findings; the findings
    // table holds exactly the JSON rows.
    let py = Command::new("python3")
        .arg(root().join("tests/reconcile/sql_equivalence.py"))
        .arg("--lake")
        .arg(&lake)
        .arg("--expectations")
        .arg(w.dir.path().join("expectations.json"))
        .arg("--findings")
        .arg(&out_path)
        .args(["--from", &t(s.from), "--to", &t(s.to), "--watermark", &t(s.watermark)])
        .args(["--slack-seconds", &s.slack.as_secs().to_string(), "--run-id", "eq"])
        .arg("--tables")
        .arg(&lake)
        .args(["--lake-findings", "eq"])
        .output()
        .expect("python3 (run through tests/run or `source tests/env.sh`, which provide duckdb and sqlglot)");
    let stdout = String::from_utf8_lossy(&py.stdout);
    let stderr = String::from_utf8_lossy(&py.stderr);
    assert!(
        py.status.success(),
        "SQL (DuckDB) and Rust differ, or python3 lacks duckdb/sqlglot (pip install -r tests/requirements.txt):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(&format!("rust findings: {}", findings.len())), "{stdout}");
    eprintln!("{stdout}");

    // The same run on one thread gives the same findings (the split does not matter).
    let one = w.dir.path().join("one.json");
    let out = w.reconcile(&[
        "--out",
        one.to_str().unwrap(),
        "--run-id",
        "eq",
        "--fail-on",
        "none",
        "--threads",
        "1",
        "--no-write",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let again: Vec<Finding> = serde_json::from_slice(&std::fs::read(&one).unwrap()).unwrap();
    assert_eq!(again, findings);
}

#[test]
fn exit_status_follows_fail_on_and_errors() {
    let w = World::new();
    // High findings exist (unexpected-principal, unexpected-key, key-lifecycle): default high → 1.
    assert_eq!(w.reconcile(&["--no-write"]).status.code(), Some(1));
    assert_eq!(w.reconcile(&["--no-write", "--fail-on", "low"]).status.code(), Some(1));
    assert_eq!(w.reconcile(&["--no-write", "--fail-on", "none"]).status.code(), Some(0));
    // A period with no finding at all (before every event): 0 even with --fail-on low.
    let out = run(kms_audit()
        .arg("reconcile")
        .arg("--lake")
        .arg(w.lake())
        .arg("--expectations")
        .arg(w.dir.path().join("expectations.json"))
        .args(["--from", "2020-01-01", "--to", "2020-01-02", "--fail-on", "low", "--no-write", "--out", "-"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]", "--out - prints the JSON array on stdout");
    // Errors → 2: invalid expectations, missing lake, --to before --from.
    let bad = w.dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"version":1,"jobs":[{"kind":"training","name":"x","arn":"not-an-arn","role_arn":"r","window":{"start":"2025-03-10T00:00:00Z"}}]}"#).unwrap();
    let out = run(kms_audit().arg("reconcile").arg("--lake").arg(w.lake()).arg("--expectations").arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an ARN"));
    let out = run(kms_audit()
        .arg("reconcile")
        .arg("--lake")
        .arg(w.dir.path().join("no-such-lake"))
        .arg("--expectations")
        .arg(w.dir.path().join("expectations.json")));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(w.reconcile(&["--to", "2020-01-01"]).status.code(), Some(2));
}

#[test]
fn partitions_outside_the_period_are_not_read() {
    let w = World::new();
    // Corrupt every file of a day outside the period: the run must not touch it.
    let lake = w.lake();
    let mut corrupted = 0;
    for key in walk(&lake.join("kms_events")) {
        if key.to_string_lossy().contains("dt=2025-03-16") {
            std::fs::write(&key, b"not parquet").unwrap();
            corrupted += 1;
        }
    }
    assert!(corrupted > 0);
    let out = run(kms_audit()
        .arg("reconcile")
        .arg("--lake")
        .arg(&lake)
        .arg("--expectations")
        .arg(w.dir.path().join("expectations.json"))
        .args(["--from", "2025-03-10", "--to", "2025-03-16", "--fail-on", "none", "--no-write"]));
    assert_eq!(out.status.code(), Some(0), "a day outside [from, to) was read");
    // Including it is an error naming the file.
    let out = run(kms_audit()
        .arg("reconcile")
        .arg("--lake")
        .arg(&lake)
        .arg("--expectations")
        .arg(w.dir.path().join("expectations.json"))
        .args(["--from", "2025-03-10", "--to", "2025-03-17", "--no-write"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dt=2025-03-16"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
