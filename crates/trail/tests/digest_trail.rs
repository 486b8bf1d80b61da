//! Digest validation end to end, against trails made by the independent Python producer
//! `tests/integrity/make_trail.py` (python3 + the `cryptography` package are required: the
//! tests fail, not skip, without them), read through a local-folder `TrailObjects` that follows
//! the project's sidecar convention (`F.meta.json` = `{"metadata": {...}, ...}`).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use trail::digest::{
    validate_trail, DigestError, DigestStatus, IntegrityReport, LogFileStatus, MemoryObjects, PublicKeyList,
    StoreError, TrailObject, TrailObjects, TrailOrigin, ValidationOptions,
};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A temporary directory (under Cargo's per-target scratch folder) removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("digest-{}-{name}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn producer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/integrity/make_trail.py")
}

/// Runs the Python producer into `out`. Panics (fails the test) when python3 or the
/// `cryptography` package is missing.
fn make_trail(out: &Path, seed: &str, extra: &[&str]) {
    let output =
        Command::new("python3").arg(producer()).arg(out).args(["--seed", seed]).args(extra).output().unwrap_or_else(
            |e| panic!("python3 is required to run the digest tests (tests/integrity/make_trail.py): {e}"),
        );
    assert!(
        output.status.success(),
        "make_trail.py failed ({}); it needs python3 and the `cryptography` package:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The default trail (seed 7, 6 hours), generated once and copied per test. The producer's
/// output is deterministic, so it is kept between runs in Cargo's scratch folder, under a name
/// that changes with the producer's source.
fn base_trail() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        use sha2::Digest as _;
        let script = fs::read(producer()).expect("tests/integrity/make_trail.py");
        let version = hex::encode(&sha2::Sha256::digest(&script)[..6]);
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let base = scratch.join(format!("digest-base-7-{version}"));
        if !base.join("manifest.json").is_file() {
            // Written elsewhere and renamed into place: a killed run leaves no half trail.
            let staging = TempDir::new("base-staging");
            make_trail(staging.path(), "7", &[]);
            let _ = fs::remove_dir_all(&base);
            if fs::rename(staging.path(), &base).is_err() {
                assert!(base.join("manifest.json").is_file(), "cannot set up {}", base.display());
            }
        }
        base
    })
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A fresh copy of the base trail.
fn fresh(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    copy_dir(base_trail(), dir.path());
    dir
}

struct Manifest(Value);

impl Manifest {
    fn load(dir: &Path) -> Manifest {
        Manifest(serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap())
    }
    fn time(&self, field: &str) -> DateTime<Utc> {
        self.0[field].as_str().unwrap().parse().unwrap()
    }
    /// Digest keys in time order (index 0 = digest 1).
    fn digest(&self, i: usize) -> String {
        self.0["digests"][i]["key"].as_str().unwrap().to_owned()
    }
    fn digest_count(&self) -> usize {
        self.0["digests"].as_array().unwrap().len()
    }
    fn logs_of(&self, i: usize) -> Vec<String> {
        self.0["digests"][i]["log_files"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    }
    fn log_files(&self) -> Vec<String> {
        self.0["log_files"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// A local-folder store with sidecars

struct LocalFolder {
    root: PathBuf,
    origin: TrailOrigin,
    fail_on: Option<String>,
}

impl LocalFolder {
    fn new(root: &Path) -> Self {
        LocalFolder { root: root.to_owned(), origin: TrailOrigin::default(), fail_on: None }
    }

    fn walk(&self, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                self.walk(&path, out)?;
            } else {
                let rel = path.strip_prefix(&self.root).unwrap();
                let key = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                if !key.ends_with(".meta.json") {
                    out.push(key);
                }
            }
        }
        Ok(())
    }
}

impl TrailObjects for LocalFolder {
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // Walk from the deepest folder the prefix names.
        let dir_part = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let start = self.root.join(dir_part);
        let mut keys = Vec::new();
        if start.is_dir() {
            self.walk(&start, &mut keys)?;
        }
        keys.retain(|k| k.starts_with(prefix));
        Ok(keys)
    }

    fn get(&self, key: &str) -> Result<Option<TrailObject>, StoreError> {
        if self.fail_on.as_deref() == Some(key) {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "injected store failure").into());
        }
        let path = self.root.join(key);
        if !path.is_file() {
            return Ok(None);
        }
        let mut metadata = BTreeMap::new();
        let sidecar = PathBuf::from(format!("{}.meta.json", path.display()));
        if sidecar.is_file() {
            let v: Value = serde_json::from_slice(&fs::read(&sidecar)?)?;
            if let Some(map) = v["metadata"].as_object() {
                for (k, v) in map {
                    metadata.insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
                }
            }
        }
        Ok(Some(TrailObject::new(fs::File::open(path)?, metadata)))
    }

    fn origin(&self) -> TrailOrigin {
        self.origin.clone()
    }

    fn display_key(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

fn keys(dir: &Path) -> PublicKeyList {
    PublicKeyList::from_list_public_keys_json(&fs::read_to_string(dir.join("public-keys.json")).unwrap()).unwrap()
}

fn validate_with(
    store: &(impl TrailObjects + Sync),
    dir: &Path,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> IntegrityReport {
    validate_trail(store, &keys(dir), &ValidationOptions::new(start, end)).unwrap()
}

fn validate(dir: &Path) -> IntegrityReport {
    let m = Manifest::load(dir);
    validate_with(&LocalFolder::new(dir), dir, m.time("start"), m.time("end"))
}

fn digest_status(report: &IntegrityReport, key: &str) -> DigestStatus {
    report.digest(key).unwrap_or_else(|| panic!("no verdict for digest {key}: {report:#?}")).status
}

fn log_status(report: &IntegrityReport, key: &str) -> LogFileStatus {
    report.log_file(key).unwrap_or_else(|| panic!("no verdict for log file {key}: {report:#?}")).status
}

/// Everything but `except_digests` / `except_logs` is valid.
fn assert_rest_valid(report: &IntegrityReport, except_digests: &[&str], except_logs: &[&str]) {
    for d in &report.digests {
        if !except_digests.contains(&d.key.as_str()) {
            assert_eq!(d.status, DigestStatus::Valid, "{d:#?}");
        }
    }
    for l in &report.log_files {
        if !except_logs.contains(&l.key.as_str()) {
            assert_eq!(l.status, LogFileStatus::Valid, "{l:#?}");
        }
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn move_with_sidecar(dir: &Path, from: &str, to: &str, copy: bool) {
    let (src, dst) = (dir.join(from), dir.join(to));
    fs::create_dir_all(dst.parent().unwrap()).unwrap();
    let side = |p: &Path| PathBuf::from(format!("{}.meta.json", p.display()));
    if copy {
        fs::copy(&src, &dst).unwrap();
        fs::copy(side(&src), side(&dst)).unwrap();
    } else {
        fs::rename(&src, &dst).unwrap();
        fs::rename(side(&src), side(&dst)).unwrap();
    }
}

/// Named `digest::…` so that `cargo test -p trail digest` runs them all.
mod digest {
    use super::*;

    // ---------------------------------------------------------------------------------------------
    // The clean trail

    #[test]
    fn clean_trail_validates() {
        let dir = fresh("clean");
        let m = Manifest::load(dir.path());
        let report = validate(dir.path());
        assert!(report.is_valid(), "{report:#?}");
        assert_eq!(report.digests.len(), m.digest_count());
        assert_eq!(report.log_files.len(), m.log_files().len());
        let valid = report.valid_log_files();
        for log in m.log_files() {
            assert!(valid.contains(log.as_str()), "{log}");
            assert!(report.is_log_file_valid(&log));
        }
        let covered = report.covered.unwrap();
        assert_eq!(covered.end, m.time("end"));
        assert_eq!(covered.start, m.time("start") + TimeDelta::seconds(91));
        let s = report.summary();
        assert_eq!((s.digests_valid, s.log_files_valid), (m.digest_count(), m.log_files().len()));

        // The JSON contract: log_files and digests, each item with object and status.
        let json = serde_json::to_value(&report).unwrap();
        for list in ["log_files", "digests"] {
            for item in json[list].as_array().unwrap() {
                assert!(item["object"].as_str().unwrap().starts_with(&dir.path().display().to_string()));
                assert_eq!(item["status"], "valid");
                assert!(item.get("reason").is_none());
            }
        }
        let back: IntegrityReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn the_in_memory_store_gives_the_same_verdicts() {
        let dir = fresh("memory");
        let m = Manifest::load(dir.path());
        let folder = LocalFolder::new(dir.path());
        let mut memory = MemoryObjects::new();
        for key in folder.list("").unwrap() {
            let mut object = folder.get(&key).unwrap().unwrap();
            let mut body = Vec::new();
            object.body.read_to_end(&mut body).unwrap();
            memory.insert(key, body, object.metadata);
        }
        let report = validate_with(&memory, dir.path(), m.time("start"), m.time("end"));
        assert!(report.is_valid(), "{report:#?}");
        assert_eq!(report.log_files.len(), m.log_files().len());
        // With the S3 origin known exactly.
        let memory = memory.with_origin(TrailOrigin::s3("kms-audit-trail", ""));
        assert!(validate_with(&memory, dir.path(), m.time("start"), m.time("end")).is_valid());
    }

    #[test]
    fn organization_trail_under_a_prefix_with_cli_v1_key_times() {
        let dir = TempDir::new("org");
        make_trail(
            dir.path(),
            "11",
            &["--prefix", "audit/trail", "--org-id", "o-exampleorg", "--time-format", "epoch", "--hours", "4"],
        );
        let m = Manifest::load(dir.path());
        assert!(m.digest(0).starts_with("AWSLogs/o-exampleorg/111122223333/CloudTrail-Digest/"));
        // Prefix inferred (local folder synced from s3://kms-audit-trail/audit/trail/).
        let report = validate(dir.path());
        assert!(report.is_valid(), "{report:#?}");
        assert_eq!(report.log_files.len(), m.log_files().len());
        // Origin known and right.
        let mut store = LocalFolder::new(dir.path());
        store.origin = TrailOrigin::s3("kms-audit-trail", "audit/trail");
        assert!(validate_with(&store, dir.path(), m.time("start"), m.time("end")).is_valid());
        // Origin known and wrong: every digest is somewhere it was not delivered to.
        store.origin = TrailOrigin::s3("another-bucket", "audit/trail");
        let report = validate_with(&store, dir.path(), m.time("start"), m.time("end"));
        assert!(report.digests.iter().all(|d| d.status == DigestStatus::Moved), "{report:#?}");
        assert!(!report.is_valid());
        // Filters.
        let only =
            |opts: ValidationOptions| validate_trail(&LocalFolder::new(dir.path()), &keys(dir.path()), &opts).unwrap();
        let opts = ValidationOptions::new(m.time("start"), m.time("end"));
        assert!(only(opts.clone().region("eu-west-1")).digests.is_empty());
        assert!(!only(opts.clone().region("eu-west-1")).is_valid(), "no digest proves nothing");
        assert!(only(opts.clone().account("111122223333").region("us-east-1")).is_valid());
        assert!(only(opts.account("999999999999")).digests.is_empty());
    }

    #[test]
    fn a_sub_range_checks_the_link_to_the_digest_before_it() {
        let dir = fresh("range");
        let m = Manifest::load(dir.path());
        // Hours 4-5 only: digests 4, 5 (and 6, within the 2 h window after end).
        let start = m.time("start") + TimeDelta::hours(3) + TimeDelta::minutes(30);
        let end = m.time("start") + TimeDelta::hours(4) + TimeDelta::minutes(30);
        let folder = LocalFolder::new(dir.path());
        let report = validate_with(&folder, dir.path(), start, end);
        assert!(report.is_valid(), "{report:#?}");
        assert!(report.digest(&m.digest(2)).is_none(), "digest 3 lies before the range");
        assert_eq!(digest_status(&report, &m.digest(3)), DigestStatus::Valid);

        // Its predecessor (digest 3, outside the range) deleted: the chain is broken at digest 4.
        fs::remove_file(dir.path().join(m.digest(2))).unwrap();
        let report = validate_with(&folder, dir.path(), start, end);
        assert_eq!(digest_status(&report, &m.digest(3)), DigestStatus::ChainBroken, "{report:#?}");
        assert!(report.digest(&m.digest(3)).unwrap().reason.as_deref().unwrap().contains("is missing"));

        assert!(matches!(
            validate_trail(&folder, &keys(dir.path()), &ValidationOptions::new(end, start)),
            Err(DigestError::InvalidRange { .. })
        ));
    }

    // ---------------------------------------------------------------------------------------------
    // The tamper matrix

    #[test]
    fn one_changed_byte_in_a_log_file_is_changed() {
        let dir = fresh("log-byte");
        let m = Manifest::load(dir.path());
        let log = m.logs_of(1)[0].clone();
        let path = dir.path().join(&log);
        let mut content = gunzip(&fs::read(&path).unwrap());
        let at = content.iter().position(|&b| b == b'D').unwrap(); // e.g. "Decrypt" -> "Eecrypt"
        content[at] = b'E';
        fs::write(&path, gzip(&content)).unwrap();
        let report = validate(dir.path());
        assert_eq!(log_status(&report, &log), LogFileStatus::Changed, "{report:#?}");
        let reason = report.log_file(&log).unwrap().reason.clone().unwrap();
        assert!(reason.contains("SHA-256"), "{reason}");
        assert!(!report.is_valid());
        assert!(!report.valid_log_files().contains(log.as_str()));
        assert_rest_valid(&report, &[], &[&log]);
    }

    #[test]
    fn one_changed_byte_of_compressed_log_file_is_changed() {
        let dir = fresh("log-gzip-byte");
        let m = Manifest::load(dir.path());
        let log = m.logs_of(0)[0].clone();
        let path = dir.path().join(&log);
        let mut bytes = fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        fs::write(&path, bytes).unwrap();
        let report = validate(dir.path());
        assert_eq!(log_status(&report, &log), LogFileStatus::Changed, "{report:#?}");
        assert_rest_valid(&report, &[], &[&log]);
    }

    #[test]
    fn a_deleted_log_file_is_missing() {
        let dir = fresh("log-deleted");
        let m = Manifest::load(dir.path());
        let log = m.logs_of(3)[0].clone();
        fs::remove_file(dir.path().join(&log)).unwrap();
        let report = validate(dir.path());
        assert_eq!(log_status(&report, &log), LogFileStatus::Missing, "{report:#?}");
        assert!(report.log_file(&log).unwrap().digest.as_deref().unwrap().ends_with(&m.digest(3)));
        assert_rest_valid(&report, &[], &[&log]);
    }

    #[test]
    fn a_deleted_digest_breaks_the_chain_at_the_next_one() {
        let dir = fresh("digest-deleted");
        let m = Manifest::load(dir.path());
        let (gone, next) = (m.digest(3), m.digest(4));
        fs::remove_file(dir.path().join(&gone)).unwrap();
        let report = validate(dir.path());
        assert!(report.digest(&gone).is_none());
        assert_eq!(digest_status(&report, &next), DigestStatus::ChainBroken, "{report:#?}");
        assert!(report.digest(&next).unwrap().reason.as_deref().unwrap().contains("is missing"));
        // The log files only the deleted digest listed are no longer covered.
        let orphans = m.logs_of(3);
        assert!(!orphans.is_empty());
        for log in &orphans {
            assert_eq!(log_status(&report, log), LogFileStatus::NotCovered, "{report:#?}");
        }
        let orphans: Vec<&str> = orphans.iter().map(String::as_str).collect();
        assert_rest_valid(&report, &[&next], &orphans);
    }

    #[test]
    fn a_reordered_chain_is_chain_broken() {
        let dir = TempDir::new("reordered");
        make_trail(dir.path(), "7", &["--reorder", "3"]);
        let m = Manifest::load(dir.path());
        let report = validate(dir.path());
        // Digest 4 names 2, digest 3 names 4, digest 5 names 3: all signed, all in place.
        for i in [2, 3, 4] {
            assert_eq!(
                digest_status(&report, &m.digest(i)),
                DigestStatus::ChainBroken,
                "digest {}: {report:#?}",
                i + 1
            );
        }
        let reason3 = report.digest(&m.digest(2)).unwrap().reason.clone().unwrap();
        assert!(reason3.contains("not before this digest"), "{reason3}");
        let reason4 = report.digest(&m.digest(3)).unwrap().reason.clone().unwrap();
        assert!(reason4.contains("skips digest"), "{reason4}");
        // The digests are CloudTrail's (validly signed), so their log files still validate.
        assert_rest_valid(&report, &[&m.digest(2), &m.digest(3), &m.digest(4)], &[]);
        assert_eq!(report.log_files.len(), m.log_files().len());
    }

    #[test]
    fn swapped_digest_files_are_moved_and_break_the_chain() {
        let dir = fresh("swapped");
        let m = Manifest::load(dir.path());
        let (a, b) = (m.digest(1), m.digest(2));
        let tmp = format!("{a}.tmp");
        move_with_sidecar(dir.path(), &a, &tmp, false);
        move_with_sidecar(dir.path(), &b, &a, false);
        move_with_sidecar(dir.path(), &tmp, &b, false);
        let report = validate(dir.path());
        assert_eq!(digest_status(&report, &a), DigestStatus::Moved, "{report:#?}");
        assert_eq!(digest_status(&report, &b), DigestStatus::Moved, "{report:#?}");
        assert_eq!(digest_status(&report, &m.digest(3)), DigestStatus::ChainBroken, "{report:#?}");
        assert!(!report.is_valid());
    }

    #[test]
    fn a_signature_from_another_key_is_bad_signature() {
        let dir = TempDir::new("foreign");
        make_trail(dir.path(), "7", &["--foreign-signature", "2"]);
        let m = Manifest::load(dir.path());
        let report = validate(dir.path());
        let forged = m.digest(1);
        assert_eq!(digest_status(&report, &forged), DigestStatus::BadSignature, "{report:#?}");
        let reason = report.digest(&forged).unwrap().reason.clone().unwrap();
        assert!(reason.contains("does not verify"), "{reason}");
        // What a forged digest lists is not trusted.
        let listed = m.logs_of(1);
        for log in &listed {
            let verdict = report.log_file(log).unwrap();
            assert_eq!(verdict.status, LogFileStatus::NotCovered, "{verdict:#?}");
            assert!(verdict.reason.as_deref().unwrap().contains("not validly signed"), "{verdict:#?}");
        }
        let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
        assert_rest_valid(&report, &[&forged], &listed);
    }

    #[test]
    fn a_digest_copied_to_another_path_is_moved() {
        let dir = fresh("copied");
        let m = Manifest::load(dir.path());
        let original = m.digest(1);
        // Same folder, another hour's name; and an arbitrary name in a digest folder.
        let renamed = original.replace("T020131Z", "T023000Z");
        assert_ne!(renamed, original);
        let arbitrary = format!("{}/copy.json.gz", original.rsplit_once('/').unwrap().0);
        move_with_sidecar(dir.path(), &original, &renamed, true);
        move_with_sidecar(dir.path(), &original, &arbitrary, true);
        let report = validate(dir.path());
        for copy in [&renamed, &arbitrary] {
            assert_eq!(digest_status(&report, copy), DigestStatus::Moved, "{report:#?}");
            let reason = report.digest(copy).unwrap().reason.clone().unwrap();
            assert!(reason.contains(&format!("s3://kms-audit-trail/{original}")), "{reason}");
        }
        assert_eq!(digest_status(&report, &original), DigestStatus::Valid);
        assert_rest_valid(&report, &[&renamed, &arbitrary], &[]);
        assert!(!report.is_valid());
    }

    #[test]
    fn an_extra_log_file_is_not_covered() {
        let dir = fresh("extra-log");
        let m = Manifest::load(dir.path());
        let existing = m.logs_of(4)[0].clone();
        let (folder, name) = existing.rsplit_once('/').unwrap();
        let (head, _unique) = name.rsplit_once('_').unwrap();
        let extra = format!("{folder}/{head}_InsertedLater0000.json.gz");
        fs::copy(dir.path().join(&existing), dir.path().join(&extra)).unwrap();
        let report = validate(dir.path());
        assert_eq!(log_status(&report, &extra), LogFileStatus::NotCovered, "{report:#?}");
        assert!(report.log_file(&extra).unwrap().reason.as_deref().unwrap().contains("not listed by any"));
        assert_rest_valid(&report, &[], &[&extra]);
    }

    // ---------------------------------------------------------------------------------------------
    // Malformed input and store failures

    #[test]
    fn malformed_digests_are_statuses_not_panics() {
        let dir = fresh("malformed");
        let m = Manifest::load(dir.path());
        // Truncated gzip.
        let truncated = dir.path().join(m.digest(1));
        let bytes = fs::read(&truncated).unwrap();
        fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        // Invalid JSON.
        fs::write(dir.path().join(m.digest(3)), gzip(b"{\"digestEndTime\": ")).unwrap();
        // Missing field.
        let path = dir.path().join(m.digest(4));
        let mut json: Value = serde_json::from_slice(&gunzip(&fs::read(&path).unwrap())).unwrap();
        json.as_object_mut().unwrap().remove("digestS3Object");
        fs::write(&path, gzip(&serde_json::to_vec(&json).unwrap())).unwrap();
        // No signature metadata.
        fs::remove_file(dir.path().join(format!("{}.meta.json", m.digest(5)))).unwrap();

        let report = validate(dir.path());
        let reason = |i: usize| report.digest(&m.digest(i)).unwrap().reason.clone().unwrap_or_default();
        for i in [1, 3, 4, 5] {
            assert_eq!(digest_status(&report, &m.digest(i)), DigestStatus::BadSignature, "{report:#?}");
        }
        assert!(reason(1).contains("malformed") && reason(1).contains("gzip"), "{}", reason(1));
        assert!(reason(3).contains("invalid digest JSON"), "{}", reason(3));
        assert!(reason(4).contains("digestS3Object"), "{}", reason(4));
        assert!(reason(5).contains("no `signature` metadata"), "{}", reason(5));
        // Digest 3 (valid itself) names the unreadable digest 2 as its previous one.
        assert_eq!(digest_status(&report, &m.digest(2)), DigestStatus::ChainBroken, "{report:#?}");
        assert!(reason(2).contains("cannot be decompressed"), "{}", reason(2));
        assert!(!report.is_valid());
    }

    #[test]
    fn store_failures_are_errors_naming_the_object() {
        let dir = fresh("store-failure");
        let m = Manifest::load(dir.path());
        let log = m.logs_of(0)[0].clone();
        let mut store = LocalFolder::new(dir.path());
        store.fail_on = Some(log.clone());
        let err = validate_trail(&store, &keys(dir.path()), &ValidationOptions::new(m.time("start"), m.time("end")))
            .unwrap_err();
        assert!(matches!(&err, DigestError::Store { key, .. } if *key == log), "{err}");
        assert!(err.to_string().contains(&log));
    }
}
