//! `kms-audit expectations`: `--from-describe` on saved `aws sagemaker describe-*` outputs
//! (crates/reconcile/tests/data/describe/, tests/reconcile/data/allow.json), and
//! `--from-sagemaker` against the moto server's SageMaker, KMS and S3 (resources created with
//! boto3 by tests/reconcile/moto_setup.py). What moto cannot do (LOCAL-PARTS.md) and is
//! therefore not checked here: real job windows (moto's jobs complete at creation, all times
//! equal) and a processing job's volume key (moto drops `ProcessingResources`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use testkit::MotoServer;

const A: &str = "111122223333";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kms_audit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kms-audit"));
    c.env_remove("AWS_ENDPOINT_URL");
    c
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run kms-audit");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn key(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{A}:key/{id}")
}

fn job<'a>(e: &'a Value, kind: &str) -> &'a Value {
    e["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == kind).unwrap_or_else(|| panic!("no {kind} job"))
}

#[test]
fn from_describe_builds_every_kind_and_merges_the_allow_list() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("expectations.json");
    let describe = root().join("crates/reconcile/tests/data/describe");
    let out = run(kms_audit()
        .args(["expectations", "--from-describe"])
        .arg(&describe)
        .args(["--alias", &format!("alias/ml-output={}", key("0987dcba-09fe-87dc-65ba-ab0987654321"))])
        .args(["--alias", &format!("alias/ml-volume={}", key("0b1c2d3e-1111-4a4a-8b8b-000000000001"))])
        .args(["--bucket-key-enabled", &format!("ml-artifacts-{A}")])
        .arg("--allow")
        .arg(root().join("tests/reconcile/data/allow.json"))
        .arg("--out")
        .arg(&out_path));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expectations: 5 jobs"));
    let e: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(e["version"], 1);
    assert_eq!(e["source"]["kind"], "describe");
    assert_eq!(e["jobs"].as_array().unwrap().len(), 5);

    let t = job(&e, "training");
    assert_eq!(
        t["role_arn"],
        format!("arn:aws:iam::{A}:role/service-role/AmazonSageMaker-ExecutionRole-20250101T000000")
    );
    assert_eq!(t["keys"]["output"], key("0987dcba-09fe-87dc-65ba-ab0987654321"), "alias resolved by --alias");
    assert_eq!(
        t["keys"]["volume"],
        key("1234abcd-12ab-34cd-56ef-1234567890ab"),
        "bare key ID → ARN of the job's account"
    );
    assert!(t["window"]["end"].is_string());
    let artifacts =
        t["buckets"].as_array().unwrap().iter().find(|b| b["arn"] == format!("arn:aws:s3:::ml-artifacts-{A}"));
    assert_eq!(artifacts.unwrap()["bucket_key_enabled"], true);
    let x = job(&e, "transform");
    assert_eq!(
        x["role_arn"],
        format!("arn:aws:iam::{A}:role/service-role/AmazonSageMaker-Inference"),
        "role from the model"
    );
    assert_eq!(x["keys"]["volume"], key("0b1c2d3e-1111-4a4a-8b8b-000000000001"), "alias ARN resolved by its name");
    let ep = job(&e, "endpoint");
    assert!(ep["window"]["end"].is_null(), "endpoints have open windows");
    assert_eq!(ep["role_arn"], x["role_arn"]);
    assert!(job(&e, "notebook")["window"]["end"].is_null());
    assert_eq!(e["allow"].as_array().unwrap().len(), 2);
    assert_eq!(e["aliases"]["alias/ml-output"], key("0987dcba-09fe-87dc-65ba-ab0987654321"));

    // The file is valid input of `reconcile` (round trip through the library).
    reconcile::Expectations::from_json(&std::fs::read_to_string(&out_path).unwrap()).unwrap();

    // Without the aliases, the error names the document and the field; nothing is written.
    let bad_out = dir.path().join("bad.json");
    let out = run(kms_audit().args(["expectations", "--from-describe"]).arg(&describe).arg("--out").arg(&bad_out));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("training.json: OutputDataConfig.KmsKeyId: cannot resolve key reference \"alias/ml-output\""),
        "{err}"
    );
    assert!(!bad_out.exists());
    // A transform job without its model's describe output.
    let out = run(kms_audit()
        .args(["expectations", "--from-describe"])
        .arg(describe.join("transform.json"))
        .args(["--alias", &format!("alias/ml-volume={}", key("0b1c2d3e-1111-4a4a-8b8b-000000000001"))])
        .arg("--out")
        .arg(&bad_out));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ModelName: the role comes from model \"churn-xgb-model\""));
}

fn setup(moto: &MotoServer) -> Value {
    let out = Command::new("python3")
        .arg(root().join("tests/reconcile/moto_setup.py"))
        .args(["--endpoint", &moto.endpoint(), "--jobs", "12", "sagemaker"])
        .output()
        .expect("python3 with boto3 (tests/env.sh)");
    assert!(out.status.success(), "moto_setup.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn from_sagemaker_against_moto() {
    let moto = MotoServer::start();
    let created = setup(&moto);
    let keys = &created["keys"];
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("expectations.json");
    let saved = dir.path().join("describe");
    let out = run(moto
        .configure(&mut kms_audit())
        .args(["expectations", "--from-sagemaker", "--region", "us-east-1", "--since", "1d", "--out"])
        .arg(&out_path)
        .arg("--save-describe")
        .arg(&saved));
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped transform-job/batch-orphan"), "the orphan transform job is reported: {stderr}");
    let e: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(e["source"]["kind"], "sagemaker");
    assert_eq!(e["source"]["region"], "us-east-1");
    let jobs = e["jobs"].as_array().unwrap();
    let count = |k: &str| jobs.iter().filter(|j| j["kind"] == k).count();
    assert_eq!(
        [count("training"), count("processing"), count("transform"), count("endpoint"), count("notebook")],
        [12, 1, 1, 1, 1]
    );
    let t = job(&e, "training");
    assert_eq!(t["role_arn"], created["roles"]["train"]);
    assert_eq!(t["keys"]["volume"], keys["volume"], "bare key ID resolved by KMS DescribeKey");
    assert_eq!(t["keys"]["output"], keys["output"], "alias resolved by KMS DescribeKey");
    assert_eq!(t["status"], "Completed");
    let buckets = t["buckets"].as_array().unwrap();
    let data = buckets.iter().find(|b| b["arn"] == "arn:aws:s3:::ml-data").unwrap();
    assert_eq!(data["bucket_key_enabled"], true, "GetBucketEncryption: Bucket Keys on");
    assert_eq!(data["keys"][0], keys["data"], "the bucket's default key (an alias) resolved");
    let art = buckets.iter().find(|b| b["arn"] == "arn:aws:s3:::ml-artifacts").unwrap();
    assert_eq!(art["bucket_key_enabled"], false);
    let x = job(&e, "transform");
    assert_eq!(x["role_arn"], created["roles"]["model"], "transform role from its model");
    let ep = job(&e, "endpoint");
    assert_eq!(ep["role_arn"], created["roles"]["model"], "endpoint → config → model → role");
    assert_eq!(ep["keys"]["endpoint"], keys["endpoint"]);
    assert_eq!(ep["keys"]["data_capture"], keys["capture"]);
    assert!(ep["window"]["end"].is_null());
    let nb = job(&e, "notebook");
    assert_eq!(nb["role_arn"], created["roles"]["notebook"]);
    assert_eq!(nb["keys"]["notebook"], keys["notebook"]);
    assert_eq!(e["aliases"]["alias/test-output"], keys["output"]);

    // The saved documents give the same jobs offline (--from-describe), given the aliases
    // and bucket settings the live run looked up.
    let again = dir.path().join("again.json");
    let out = run(kms_audit()
        .args(["expectations", "--from-describe"])
        .arg(&saved)
        .args(["--alias", &format!("alias/test-output={}", keys["output"].as_str().unwrap())])
        .args(["--alias", &format!("alias/test-endpoint={}", keys["endpoint"].as_str().unwrap())])
        .args(["--alias", &format!("alias/test-data={}", keys["data"].as_str().unwrap())])
        .args(["--bucket-key-enabled", "ml-data", "--bucket-kms-key", "ml-data=alias/test-data"])
        .args(["--bucket-kms-key", &format!("ml-artifacts={}", keys["output"].as_str().unwrap())])
        .arg("--out")
        .arg(&again));
    assert_eq!(out.status.code(), Some(0));
    let offline: Value = serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    assert_eq!(offline["jobs"], e["jobs"], "live and saved describe outputs give the same jobs");

    // --since in the future lists no jobs, but still the endpoint and the notebook.
    let out = run(moto.configure(&mut kms_audit()).args([
        "expectations",
        "--from-sagemaker",
        "--since",
        "2099-01-01",
        "--out",
        "-",
    ]));
    assert_eq!(out.status.code(), Some(0));
    let later: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = later["jobs"].as_array().unwrap().iter().map(|j| j["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"endpoint") && kinds.contains(&"notebook"));
}
