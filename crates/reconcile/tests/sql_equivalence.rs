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

    check_sql(&lake, &exp_path, &fpath, &s.options("eq"), Some(&tdir));
}

/// Runs the Python checker; panics with its output when SQL and Rust differ.
fn check_sql(lake: &Path, exp_path: &Path, fpath: &Path, o: &reconcile::Options, tdir: Option<&Path>) {
    let t = |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("tests/reconcile/sql_equivalence.py"))
        .arg("--lake")
        .arg(lake)
        .arg("--expectations")
        .arg(exp_path)
        .arg("--findings")
        .arg(fpath)
        .args(["--from", &t(o.from.unwrap()), "--to", &t(o.to.unwrap()), "--watermark", &t(o.watermark)])
        .args(["--slack-seconds", &o.slack.as_secs().to_string(), "--run-id", &o.run_id]);
    if let Some(t) = tdir {
        cmd.arg("--tables").arg(t);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SQL and Rust differ:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
}

mod fuzz {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use common::Row;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use reconcile::{AllowEntry, Bucket, Expectations, Job, JobKeys, JobKind, Options, Window};

    const A: &str = "111122223333";

    fn key(i: usize) -> String {
        if i == 5 {
            format!("arn:aws:kms:us-east-1:{A}:key/mrk-00000000000000000000000000000005")
        } else {
            format!("arn:aws:kms:us-east-1:{A}:key/0000000{i}-aaaa-bbbb-cccc-dddddddddddd")
        }
    }

    fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
        &xs[rng.random_range(0..xs.len())]
    }

    /// Random expectations and rows aimed at the rules' edges (window boundaries to the
    /// millisecond, shared roles, paths, aliases, mrk Regions, every error kind).
    pub fn case(seed: u64) -> (Expectations, Vec<Row>, Options) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let base = Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap();
        let o = Options {
            from: Some(base),
            to: Some(base + Duration::days(3)),
            slack: std::time::Duration::from_secs(900),
            watermark: base + Duration::hours(60),
            run_id: format!("fuzz-{seed}"),
        };
        let paths = ["", "service-role/", "team/ml/"];
        let role = |rng: &mut ChaCha8Rng, i: usize| format!("arn:aws:iam::{A}:role/{}R{i}", pick(rng, &paths));
        let kinds = [JobKind::Training, JobKind::Processing, JobKind::Transform, JobKind::Endpoint, JobKind::Notebook];
        let statuses = [Some("Completed"), Some("Completed"), Some("Failed"), Some("Stopped"), Some("InService"), None];
        let mut jobs = Vec::new();
        for j in 0..14 {
            let kind = *pick(&mut rng, &kinds);
            let start = base - Duration::hours(6) + Duration::minutes(rng.random_range(0..(66 * 60)));
            let end = (rng.random_bool(0.75)).then(|| start + Duration::minutes(rng.random_range(5..600)));
            let mut keys = JobKeys::default();
            for p in [
                reconcile::Purpose::Volume,
                reconcile::Purpose::Output,
                reconcile::Purpose::Endpoint,
                reconcile::Purpose::DataCapture,
                reconcile::Purpose::Notebook,
            ] {
                if rng.random_bool(0.35) {
                    keys.set(p, Some(key(rng.random_range(0..6))));
                }
            }
            let nb = rng.random_range(0..3);
            let buckets = (0..nb)
                .map(|b| Bucket {
                    arn: format!("arn:aws:s3:::bucket-{b}"),
                    bucket_key_enabled: rng.random_bool(0.6),
                    keys: if rng.random_bool(0.3) { vec![key(rng.random_range(0..6))] } else { vec![] },
                })
                .collect();
            let ri = rng.random_range(0..4);
            jobs.push(Job {
                kind,
                name: format!("job-{j:02}"),
                arn: format!("arn:aws:sagemaker:us-east-1:{A}:{}-job/job-{j:02}", kind.as_str()),
                role_arn: role(&mut rng, ri),
                keys,
                window: Window { start, end },
                buckets,
                status: pick(&mut rng, &statuses).map(str::to_owned),
            });
        }
        let e = Expectations {
            jobs: jobs.clone(),
            allow: vec![
                AllowEntry {
                    principal: format!("arn:aws:iam::{A}:role/KeyAdmin"),
                    keys: vec!["*".into()],
                    operations: vec!["*".into()],
                    reason: "admins".into(),
                },
                AllowEntry {
                    principal: format!("arn:aws:iam::{A}:role/KeyAdmin"),
                    keys: vec![key(0), key(5)],
                    operations: vec!["PutKeyPolicy".into(), "CreateGrant".into()],
                    reason: "approved".into(),
                },
                AllowEntry {
                    principal: format!("arn:aws:iam::{A}:role/kms-audit-*"),
                    keys: vec![key(1)],
                    operations: vec!["Decrypt".into()],
                    reason: "verify".into(),
                },
                AllowEntry {
                    principal: format!("arn:aws:iam::{A}:role/other/R2"),
                    keys: vec![key(3)],
                    operations: vec!["*".into()],
                    reason: "R2 input".into(),
                },
            ],
            keys: vec![key(6)],
            aliases: [("alias/a0".to_owned(), key(0)), (format!("arn:aws:kms:us-east-1:{A}:alias/a1"), key(1))]
                .into_iter()
                .collect(),
            ..Default::default()
        };

        let principals: Vec<(Option<String>, Option<&str>)> = vec![
            (Some(format!("arn:aws:iam::{A}:role/Analyst")), Some("AssumedRole")),
            (Some(format!("arn:aws:iam::{A}:role/KeyAdmin")), Some("AssumedRole")),
            (Some(format!("arn:aws:iam::{A}:role/kms-audit-verifier")), Some("AssumedRole")),
            (Some("service:ec2.amazonaws.com".into()), Some("AWSService")),
            (Some("aws-internal".into()), None),
            (Some(format!("arn:aws:iam::{A}:user/Alice")), Some("IAMUser")),
            (None, None),
        ];
        let names = [
            "Decrypt",
            "Decrypt",
            "GenerateDataKey",
            "GenerateDataKey",
            "CreateGrant",
            "ReEncrypt",
            "DescribeKey",
            "ScheduleKeyDeletion",
            "DisableKey",
            "PutKeyPolicy",
            "DisableKeyRotation",
            "EnableKeyRotation",
            "ListKeys",
        ];
        let hosts = [
            None,
            None,
            Some("fas.s3.amazonaws.com"),
            Some("s3.amazonaws.com"),
            Some("internal.amazonaws.com"),
            Some("sagemaker.amazonaws.com"),
            Some("evil.example"),
        ];
        let errors = [
            None,
            None,
            None,
            None,
            None,
            None,
            Some("AccessDenied"),
            Some("AccessDeniedException"),
            Some("DryRunOperationException"),
            Some("KMSInvalidStateException"),
            Some(""),
        ];
        let tls = [None, Some("TLSv1.3"), Some("TLSv1.2"), Some("TLSv1.1"), Some("TLSv1")];
        let grantees = [
            None,
            Some("sagemaker.amazonaws.com".to_owned()),
            Some("arn:aws:iam::999988887777:role/Outsider".to_owned()),
            Some(format!("arn:aws:iam::{A}:role/R1")),
            Some(format!("arn:aws:iam::{A}:role/kms-audit-x")),
        ];
        let mut rows = Vec::new();
        for n in 0..2500 {
            // Time: anywhere, or on a job window's (widened) edge to the millisecond.
            let t = if rng.random_bool(0.5) {
                base - Duration::hours(2) + Duration::seconds(rng.random_range(0..(76 * 3600)))
            } else {
                let j = pick(&mut rng, &jobs);
                let edge = if rng.random_bool(0.5) {
                    j.window.start - Duration::minutes(15)
                } else {
                    j.window.end.unwrap_or(j.window.start) + Duration::minutes(15)
                };
                edge + Duration::milliseconds(*pick(&mut rng, &[-1, 0, 1, -600_000, 600_000]))
            };
            let (principal, ptype) = if rng.random_bool(0.55) {
                let j = pick(&mut rng, &jobs);
                let name = j.role_arn.rsplit('/').next().unwrap().to_owned();
                (Some(format!("arn:aws:iam::{A}:role/{}{name}", pick(&mut rng, &paths))), Some("AssumedRole"))
            } else {
                let (p, t) = pick(&mut rng, &principals).clone();
                (p, t)
            };
            let name = *pick(&mut rng, &names);
            let mut key_arn = Some(key(rng.random_range(0..10)));
            let mut key_alias = None;
            match rng.random_range(0..10) {
                0 => key_arn = key_arn.map(|k| k.replace("us-east-1", "us-west-2")),
                1 => {
                    key_arn = None;
                    key_alias = Some(
                        (*pick(
                            &mut rng,
                            &["alias/a0", "alias/a1", "alias/zz", "arn:aws:kms:us-east-1:111122223333:alias/a0", ""],
                        ))
                        .to_owned(),
                    );
                }
                2 => key_arn = None,
                _ => {}
            }
            let host = *pick(&mut rng, &hosts);
            let ctx = match rng.random_range(0..8) {
                0 => Some(vec![("aws:cloudtrail:arn".to_owned(), "arn:aws:cloudtrail:us-east-1:1:trail/t".to_owned())]),
                1 => Some(vec![("aws:s3:arn".to_owned(), "arn:aws:s3:::bucket-0".to_owned())]),
                2 => Some(vec![]),
                _ => None,
            };
            let row = Row {
                event_id: format!("ev-{seed}-{n:05}"),
                event_time: t.timestamp_millis(),
                event_name: name.to_owned(),
                account_id: Some(A.into()),
                key_arn: key_arn.clone(),
                key_alias,
                principal_arn: principal,
                principal_type: ptype.map(str::to_owned),
                access_key_id: Some(if rng.random_bool(0.1) { "AKIAEXAMPLE" } else { "ASIAEXAMPLE" }.into()),
                invoked_by: host.map(str::to_owned),
                source_ip: Some(host.unwrap_or("198.51.100.1").to_owned()),
                encryption_context: ctx,
                grantee_principal: pick(&mut rng, &grantees).clone(),
                error_code: pick(&mut rng, &errors).map(str::to_owned),
                tls_version: pick(&mut rng, &tls).map(str::to_owned),
                ..Default::default()
            };
            // ReEncrypt: one row per distinct key, as the ingest writes it.
            if name == "ReEncrypt" && key_arn.is_some() {
                let mut second = row.clone();
                second.key_arn = Some(key(rng.random_range(0..10)));
                if second.key_arn != key_arn {
                    rows.push(second);
                }
            }
            rows.push(row);
        }
        (e, rows, o)
    }
}

#[test]
fn sql_equals_rust_on_random_edges() {
    if !python_ready() {
        assert!(
            std::env::var("KMS_AUDIT_REQUIRE_SQL").as_deref() != Ok("1"),
            "python3 with duckdb and sqlglot is required"
        );
        eprintln!("SKIPPED: python3 with duckdb and sqlglot not found");
        return;
    }
    for seed in [1u64, 2, 3] {
        let (e, rows, o) = fuzz::case(seed);
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        write_parquet(&lake.join("kms_events/part-0.parquet"), &[common::batch(&rows)]);
        let exp_path = dir.path().join("expectations.json");
        std::fs::write(&exp_path, e.to_json()).unwrap();
        let mut r = Reconciler::new(&e, o.clone()).unwrap();
        for chunk in rows.chunks(333) {
            r.observe(&common::batch(chunk)).unwrap();
        }
        let findings = r.finish();
        let rules: std::collections::BTreeSet<_> = findings.iter().map(|f| f.rule).collect();
        eprintln!("seed {seed}: {} findings, rules {rules:?}", findings.len());
        let fpath = dir.path().join("findings.json");
        std::fs::write(&fpath, serde_json::to_string(&findings).unwrap()).unwrap();
        check_sql(&lake, &exp_path, &fpath, &o, None);
    }
}
