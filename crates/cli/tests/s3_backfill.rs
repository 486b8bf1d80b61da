//! `kms-audit ingest s3://trail/... --lake s3://lake/...` and `kms-audit compact --lake s3://…`
//! against the moto server, configured only through the environment (AWS_ENDPOINT_URL,
//! KMS_AUDIT_S3_FORCE_PATH_STYLE=true, dummy credentials) as a user would.

use std::path::Path;
use std::process::Command;

use aws::s3::S3Store;
use lake::Store;
use testkit::MotoServer;

fn run(moto: &MotoServer, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kms-audit"));
    moto.configure(&mut cmd);
    let out = cmd.args(args).output().expect("kms-audit runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn backfill_from_an_s3_trail_into_an_s3_lake_with_glue_then_compact() {
    let moto = MotoServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = rt.block_on(aws::config::local(&moto.endpoint(), "us-east-1"));
    let s3 = aws::config::s3_client_path_style(&config, true);
    for b in ["trail", "lake"] {
        rt.block_on(s3.create_bucket().bucket(b).send()).unwrap();
    }
    let glue = aws::glue::GlueTable::new(aws::config::glue_client(&config), "kms_audit", "kms_events");
    rt.block_on(glue.create_kms_events_table("s3://lake/audit/kms_events/")).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let spec = synth::TrailSpec { records: 5000, files: 12, ..synth::TrailSpec::default() };
    let stats = synth::generate_trail(&spec, dir.path()).unwrap();
    let trail = S3Store::new(s3.clone(), "trail", "", rt.handle().clone());
    for f in &stats.files {
        let key = f.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned();
        trail.put(&key, &std::fs::read(f).unwrap()).unwrap();
    }
    // A poison file and a digest among them.
    trail.put("AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/10/bad.json.gz", b"\x1f\x8b\x08\x00broken").unwrap();
    trail.put("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2025/03/10/d.json.gz", b"{}").unwrap();

    // Reference: the local files.
    let reference = dir.path().join("reference");
    let (code, out, err) = run(
        &moto,
        &["ingest", "--json", "--lake", reference.to_str().unwrap(), dir.path().join("AWSLogs").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let want: serde_json::Value = serde_json::from_str(out.trim()).unwrap();

    let (code, out, err) = run(
        &moto,
        &[
            "ingest",
            "--json",
            "s3://trail/AWSLogs/",
            "--lake",
            "s3://lake/audit",
            "--concurrency",
            "8",
            "--glue-database",
            "kms_audit",
        ],
    );
    assert_eq!(code, 3, "poison file quarantined, the rest landed: {err}");
    let got: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for field in ["kms_events", "rows", "duplicates", "records"] {
        assert_eq!(got[field], want[field], "{field}: {got} vs {want}");
    }
    assert_eq!(got["quarantined_files"], 1);
    assert_eq!(got["skipped"], 1);
    assert!(err.contains("s3://trail/AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/10/bad.json.gz"), "{err}");
    assert!(err.contains("glue:"), "{err}");

    let lake = S3Store::new(s3, "lake", "audit", rt.handle().clone());
    let files = lake.list("kms_events/").unwrap();
    assert_eq!(files.len() as u64, got["output_files"].as_u64().unwrap());
    let quarantine = lake.list("_quarantine/").unwrap();
    assert_eq!(quarantine.len(), 1);
    let partitions = aws::glue::partitions_of(&files.iter().map(|f| f.key.clone()).collect::<Vec<_>>());
    assert_eq!(rt.block_on(glue.list_partitions()).unwrap().len(), partitions.len());

    // Rerun: same names, same bytes.
    let before: Vec<(String, Vec<u8>)> =
        files.iter().map(|f| (f.key.clone(), lake.get_bytes(&f.key).unwrap())).collect();
    let (code, _, err) = run(&moto, &["ingest", "s3://trail/AWSLogs/", "--lake", "s3://lake/audit"]);
    assert_eq!(code, 3, "{err}");
    let after: Vec<(String, Vec<u8>)> =
        lake.list("kms_events/").unwrap().iter().map(|f| (f.key.clone(), lake.get_bytes(&f.key).unwrap())).collect();
    assert_eq!(before, after);

    // A second backfill with one-file windows lands every row again under other names, so
    // every partition holds two files and every row a duplicate; compaction on S3 merges them.
    let (code, _, err) =
        run(&moto, &["ingest", "s3://trail/AWSLogs/", "--lake", "s3://lake/audit", "--window-mib", "1"]);
    assert_eq!(code, 3, "{err}");
    assert!(lake.list("kms_events/").unwrap().len() > partitions.len());
    let (code, out, err) = run(&moto, &["compact", "--json", "--lake", "s3://lake/audit"]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(s["output_rows"], got["rows"], "{s}");
    assert_eq!(s["duplicates"], got["rows"], "{s}");
    let compacted = lake.list("kms_events/").unwrap();
    assert_eq!(compacted.len(), partitions.len(), "one file per partition");
    // A single object URL is a source too.
    let one = format!("s3://trail/{}", stats.files[0].strip_prefix(dir.path()).unwrap().to_string_lossy());
    let local = dir.path().join("one");
    let (code, _, err) = run(&moto, &["ingest", &one, "--lake", local.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(Path::new(&local).join("kms_events").exists());
    // A missing prefix is an error, not an empty success.
    let (code, _, err) = run(&moto, &["ingest", "s3://trail/nothing-here/", "--lake", local.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
}
