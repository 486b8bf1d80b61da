//! `aws::sagemaker` against the moto server's SageMaker, KMS and S3: resources are created
//! with boto3 (tests/reconcile/moto_setup.py), then listed (paginated), described, resolved and
//! read back here. moto's limits (LOCAL-PARTS.md) shape what is checked: jobs are complete at
//! creation with equal timestamps, a processing job loses its volume key, and moto accepts and
//! stores whatever key reference it is given (it resolves nothing itself).

use std::path::Path;
use std::process::Command;

use aws::sagemaker::{bucket_encryption, collect, resolve_keys, CollectOptions, SageMakerSource};
use serde_json::Value;
use testkit::MotoServer;

fn setup(moto: &MotoServer, jobs: usize) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/reconcile/moto_setup.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["--endpoint", &moto.endpoint(), "--jobs", &jobs.to_string(), "sagemaker"])
        .output()
        .expect("python3 with boto3 (tests/env.sh)");
    assert!(out.status.success(), "moto_setup.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn doc<'a>(docs: &'a [(String, Value)], name: &str) -> &'a Value {
    &docs.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no document {name}")).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collects_describes_resolves_and_reads_bucket_encryption() {
    let moto = MotoServer::start();
    let created = setup(&moto, 5);
    let config = aws::config::local(&moto.endpoint(), "us-east-1").await;
    let src = SageMakerSource::from_config_path_style(&config, true);

    // Pages of two items: every list is paginated.
    let opts = CollectOptions { since: None, concurrency: 3, page_size: Some(2) };
    let c = collect(&src.sagemaker, &opts).await.unwrap();
    assert_eq!(c.counts.get("training-job"), Some(&5), "{:?}", c.counts);
    assert_eq!(c.counts.get("processing-job"), Some(&1));
    assert_eq!(c.counts.get("transform-job"), Some(&1), "the orphan transform job is skipped");
    assert_eq!(c.counts.get("endpoint"), Some(&1));
    assert_eq!(c.counts.get("endpoint-config"), Some(&1));
    assert_eq!(c.counts.get("model"), Some(&1), "only models in use are kept");
    assert_eq!(c.counts.get("notebook-instance"), Some(&1));
    assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
    assert!(c.skipped[0].starts_with("transform-job/batch-orphan: its model \"model-gone\" no longer exists"));

    // Documents are shaped like the AWS CLI's describe output.
    let keys = &created["keys"];
    let t = doc(&c.documents, "sagemaker:training-job/train-000");
    assert_eq!(t["RoleArn"], created["roles"]["train"]);
    assert_eq!(t["OutputDataConfig"]["KmsKeyId"], "alias/test-output");
    assert_eq!(t["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"], "s3://ml-data/train-000/");
    let vol_id = keys["volume"].as_str().unwrap().rsplit('/').next().unwrap();
    assert_eq!(t["ResourceConfig"]["VolumeKmsKeyId"], vol_id);
    assert_eq!(t["TrainingJobStatus"], "Completed");
    let start = t["TrainingStartTime"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(start).is_ok(), "{start}");
    let cfg = doc(&c.documents, "sagemaker:endpoint-config/cfg-a");
    assert_eq!(cfg["KmsKeyId"], "alias/test-endpoint");
    assert_eq!(cfg["ProductionVariants"][0]["ModelName"], "model-a");
    assert_eq!(cfg["DataCaptureConfig"]["KmsKeyId"], keys["capture"]);
    assert_eq!(doc(&c.documents, "sagemaker:model/model-a")["ExecutionRoleArn"], created["roles"]["model"]);
    assert_eq!(doc(&c.documents, "sagemaker:endpoint/ep-a")["EndpointConfigName"], "cfg-a");
    let nb = doc(&c.documents, "sagemaker:notebook-instance/nb-a");
    assert_eq!(nb["RoleArn"], created["roles"]["notebook"]);
    assert!(nb.get("NotebookInstanceStatus").is_some());
    // moto drops a processing job's ProcessingResources (and with them its volume key).
    let p = doc(&c.documents, "sagemaker:processing-job/proc-000");
    assert_eq!(p["ProcessingOutputConfig"]["KmsKeyId"], keys["output"]);

    // --since: jobs modified after a future time are not listed; endpoints and notebooks are.
    let later = CollectOptions { since: Some(chrono::Utc::now() + chrono::Duration::hours(1)), ..opts };
    let c2 = collect(&src.sagemaker, &later).await.unwrap();
    assert_eq!(c2.counts.get("training-job"), None, "{:?}", c2.counts);
    assert_eq!(c2.counts.get("endpoint"), Some(&1));
    assert_eq!(c2.counts.get("notebook-instance"), Some(&1));

    // DescribeKey resolves aliases and bare key IDs; an unknown alias is reported, not an error.
    let refs = vec!["alias/test-output".to_owned(), vol_id.to_owned(), "alias/nope".to_owned()];
    let r = resolve_keys(&src.kms, refs, 2).await.unwrap();
    assert_eq!(r.resolved["alias/test-output"], keys["output"].as_str().unwrap());
    assert_eq!(r.resolved[vol_id], keys["volume"].as_str().unwrap());
    assert!(r.failed["alias/nope"].contains("NotFound"), "{:?}", r.failed);

    // Bucket default encryption: SSE-KMS with Bucket Keys, SSE-KMS without, SSE-S3, missing.
    let buckets = ["ml-data", "ml-artifacts", "ml-capture", "no-such-bucket"].map(str::to_owned);
    let (enc, failed) = bucket_encryption(&src.s3, buckets, 4).await;
    assert!(enc["ml-data"].is_kms() && enc["ml-data"].bucket_key_enabled);
    assert_eq!(enc["ml-data"].kms_key.as_deref(), Some("alias/test-data"));
    assert!(enc["ml-artifacts"].is_kms() && !enc["ml-artifacts"].bucket_key_enabled);
    assert!(!enc["ml-capture"].is_kms());
    assert!(failed.contains_key("no-such-bucket"), "{failed:?}");
}
