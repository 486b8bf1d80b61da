//! Shared helpers of the verify / crypt / validate-trail CLI tests: run the binary, the Python
//! producers, and reach the moto server through the project's own `aws` crate.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use aws::s3::S3Store;
use lake::{ObjectMetadata, Store};
use serde_json::Value;
use testkit::MotoServer;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `kms-audit` binary, with the moto server's environment when given, and no inherited
/// local key default.
pub fn kms_audit(moto: Option<&MotoServer>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kms-audit"));
    cmd.env_remove("KMS_AUDIT_LOCAL_KEY").env_remove("AWS_PROFILE").env("KMS_AUDIT_LOG", "warn");
    if let Some(m) = moto {
        m.configure(&mut cmd);
    }
    cmd
}

/// Runs a command and returns its output (stderr is echoed for failing tests' logs).
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    eprintln!("$ {cmd:?}\n-- exit {:?}\n-- stderr:\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs a command that must exit with `code`; returns stdout.
pub fn run_expect(cmd: &mut Command, code: i32) -> String {
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit status; stdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs a Python script from the repository with the venv's `python3` (tests/env.sh puts it
/// on PATH); fails the test when Python or its packages are missing.
pub fn python(script: &str, args: &[&str], moto: Option<&MotoServer>) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join(script)).args(args);
    if let Some(m) = moto {
        m.configure(&mut cmd);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("python3 is required ({script}): {e}"));
    assert!(
        out.status.success(),
        "{script} failed ({}); it needs the venv of tests/env.sh (boto3, cryptography):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// A tokio runtime for the SDK calls the tests make.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// KMS and S3 access to one moto server, for setting up and tampering.
pub struct Aws {
    pub rt: tokio::runtime::Runtime,
    pub config: aws::config::SdkConfig,
    pub kms: aws::kms::KmsKeyring,
}

impl Aws {
    pub fn new(moto: &MotoServer) -> Aws {
        let rt = runtime();
        let config = rt.block_on(aws::config::local(&moto.endpoint(), "us-east-1"));
        let kms = aws::kms::KmsKeyring::from_config(&config);
        Aws { rt, config, kms }
    }

    /// A new symmetric KMS key; its ARN.
    pub fn create_key(&self) -> String {
        self.rt.block_on(async {
            let out = self.kms.client().create_key().description("kms-audit test").send().await.unwrap();
            out.key_metadata.unwrap().arn.unwrap()
        })
    }

    /// `alias/<name>` → key.
    pub fn create_alias(&self, alias: &str, key_arn: &str) {
        self.rt.block_on(async {
            self.kms.client().create_alias().alias_name(alias).target_key_id(key_arn).send().await.unwrap();
        });
    }

    /// A store over `bucket` (created when missing) rooted at the bucket.
    pub fn bucket(&self, bucket: &str) -> S3Store {
        let client = aws::config::s3_client_path_style(&self.config, true);
        self.rt.block_on(async {
            let _ = client.create_bucket().bucket(bucket).send().await;
        });
        S3Store::new(client, bucket, "", self.rt.handle().clone())
    }
}

/// Reads an object's body and metadata from a store.
pub fn get(store: &S3Store, key: &str) -> (Vec<u8>, ObjectMetadata) {
    let (_, meta) = store.head(key).unwrap().unwrap_or_else(|| panic!("{key} exists"));
    (store.get_bytes(key).unwrap(), meta)
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// `objects` of a verify report, by object name.
pub fn objects_by_name(report: &Value) -> BTreeMap<String, Value> {
    report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| (o["object"].as_str().unwrap().to_owned(), o.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Trails from tests/integrity/make_trail.py (seed 11)

pub fn make_trail(out: &Path, extra: &[&str]) {
    let mut args = vec![out.to_str().unwrap(), "--seed", "11"];
    args.extend_from_slice(extra);
    python("tests/integrity/make_trail.py", &args, None);
}

pub fn copy_dir(from: &Path, to: &Path) {
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

/// The clean trail. The producer is deterministic, so it is made once and kept in Cargo's
/// scratch folder under a name that changes with the producer's source.
pub fn base_trail() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let script = fs::read(repo().join("tests/integrity/make_trail.py")).unwrap();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        script.hash(&mut h);
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let base = scratch.join(format!("validate-trail-base-11-{:016x}", h.finish()));
        if !base.join("manifest.json").is_file() {
            let staging = scratch.join(format!("validate-trail-staging-{}", std::process::id()));
            let _ = fs::remove_dir_all(&staging);
            make_trail(&staging, &[]);
            if fs::rename(&staging, &base).is_err() {
                // Another test binary made it first.
                let _ = fs::remove_dir_all(&staging);
            }
        }
        base
    })
}
