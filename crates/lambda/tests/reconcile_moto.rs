//! The scheduled reconcile handler against the moto server: SageMaker jobs, an endpoint and a
//! notebook instance, KMS keys and aliases, and encrypted buckets are created there with boto3
//! (tests/reconcile/moto_setup.py); CloudTrail records of their key use (and of misuse) are
//! ingested into an S3 lake by the real ingestor; the handler refreshes the expectations from
//! moto's SageMaker, reconciles, writes the findings to the S3 lake, and publishes the high ones
//! to an SNS topic whose SQS subscription is read back.
//!
//! moto's jobs are complete at creation with equal timestamps, so the records are placed around
//! the creation time; moto's processing jobs lose their volume key (not checked here).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use aws::s3::S3Store;
use aws::sagemaker::SageMakerSource;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use lake::{IngestOptions, Ingestor, LocalStore, Source, Store};
use lambda::reconcile::{ReconcileHandler, ReconcileSettings};
use serde_json::{json, Value};
use testkit::MotoServer;

const LAKE: &str = "lake-bucket";
const ACCOUNT: &str = "123456789012";

fn setup(moto: &MotoServer, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/reconcile/moto_setup.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["--endpoint", &moto.endpoint()])
        .args(args)
        .output()
        .expect("python3 with boto3 (tests/env.sh)");
    assert!(out.status.success(), "moto_setup.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A CloudTrail KMS record by an assumed role (issuer ARN with its path).
fn record(id: &str, t: DateTime<Utc>, name: &str, role: &str, via: Option<&str>, key: &str) -> Value {
    let role_name = role.rsplit('/').next().unwrap();
    let mut ui = json!({
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:session",
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/session"),
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": role,
                                             "accountId": ACCOUNT, "userName": role_name}}
    });
    if let Some(v) = via {
        ui["invokedBy"] = json!(v);
    }
    let mut params = json!({"keyId": key});
    if name == "CreateGrant" {
        params["granteePrincipal"] = json!("sagemaker.amazonaws.com");
        params["operations"] = json!(["Decrypt", "GenerateDataKeyWithoutPlaintext"]);
    }
    json!({
        "eventVersion": "1.11", "userIdentity": ui, "eventTime": iso(t), "eventSource": "kms.amazonaws.com",
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": via.unwrap_or("198.51.100.7"),
        "userAgent": via.unwrap_or("aws-cli/2"), "requestParameters": params,
        "responseElements": null, "requestID": format!("req-{id}"), "eventID": id, "readOnly": false,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key}],
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": ACCOUNT,
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_run_refreshes_expectations_writes_findings_and_publishes_high_ones() {
    let moto = MotoServer::start();
    let created = setup(&moto, &["--jobs", "3", "sagemaker"]);
    let t0 = Utc::now(); // the jobs' (zero-length) windows are at creation, a moment ago
    let topic = setup(&moto, &["topic"]);
    let config = aws::config::local(&moto.endpoint(), "us-east-1").await;
    let s3 = aws::config::s3_client_path_style(&config, true);
    s3.create_bucket().bucket(LAKE).send().await.unwrap();

    let keys = &created["keys"];
    let k = |n: &str| keys[n].as_str().unwrap().to_owned();
    let train = created["roles"]["train"].as_str().unwrap().to_owned();
    let model = created["roles"]["model"].as_str().unwrap().to_owned();
    let nb = created["roles"]["notebook"].as_str().unwrap().to_owned();
    let analyst = format!("arn:aws:iam::{ACCOUNT}:role/Analyst");
    let admin = format!("arn:aws:iam::{ACCOUNT}:role/KeyAdmin");
    let m = |x: i64| t0 + Duration::minutes(x);
    let mut denied = record("denied", m(3), "Decrypt", &analyst, None, &k("output"));
    denied["errorCode"] = json!("AccessDenied");
    let records = vec![
        // The jobs' own use: volume grants through SageMaker, output writes through S3 (and the
        // data bucket's key through S3), the notebook's volume: no finding.
        record("train-grant", m(-2), "CreateGrant", &train, Some("sagemaker.amazonaws.com"), &k("volume")),
        record("train-out", m(1), "GenerateDataKey", &train, Some("s3.amazonaws.com"), &k("output")),
        record("train-in", m(0), "Decrypt", &train, Some("fas.s3.amazonaws.com"), &k("data")),
        record("model-grant", m(-2), "CreateGrant", &model, Some("sagemaker.amazonaws.com"), &k("volume")),
        record("model-out", m(1), "GenerateDataKey", &model, Some("s3.amazonaws.com"), &k("output")),
        record("nb-vol", m(5), "CreateGrant", &nb, Some("sagemaker.amazonaws.com"), &k("notebook")),
        // Allow-listed (ALLOW_LIST_URL): the admin reading the output key.
        record("admin-read", m(4), "Decrypt", &admin, None, &k("output")),
        // Findings.
        record("analyst", m(2), "Decrypt", &analyst, Some("s3.amazonaws.com"), &k("output")), // unexpected-principal (high)
        record("wrong-key", m(2), "Decrypt", &train, Some("s3.amazonaws.com"), &k("notebook")), // unexpected-key (high)
        record("delete", m(6), "ScheduleKeyDeletion", &admin, None, &k("endpoint")),          // key-lifecycle (high)
        denied,                                                                               // access-denied (medium)
    ];

    // The real ingest into the S3 lake.
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("AWSLogs/123456789012/CloudTrail/us-east-1/2025/03/17");
    std::fs::create_dir_all(&trail).unwrap();
    let file = trail.join("123456789012_CloudTrail_us-east-1_20250317T0000Z_test.json");
    std::fs::write(&file, serde_json::to_vec(&json!({ "Records": records })).unwrap()).unwrap();
    let lake = Arc::new(S3Store::new(s3.clone(), LAKE, "audit", tokio::runtime::Handle::current()));
    let lake_dyn: Arc<dyn Store> = lake.clone();
    let src_store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path()));
    let key = file.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned();
    let size = std::fs::metadata(&file).unwrap().len();
    let report = tokio::task::spawn_blocking(move || {
        Ingestor::new(lake_dyn, IngestOptions::default())
            .ingest(vec![Source { store: src_store, key, size, etag: None }], &|_, _| {})
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.summary.kms_events, 11, "{:?}", report.summary);

    // The allow-list on S3.
    let allow = json!([{"principal": admin, "keys": ["*"], "operations": ["*"], "reason": "key administrators"}]);
    lake.put_async("config/allow.json", serde_json::to_vec(&allow).unwrap().into(), None).await.unwrap();

    let mut settings = ReconcileSettings::for_lake(&format!("s3://{LAKE}/audit"));
    settings.topic_arn = Some(topic["topic_arn"].as_str().unwrap().to_owned());
    settings.allow_url = Some(format!("s3://{LAKE}/audit/config/allow.json"));
    let handler = ReconcileHandler::new(
        s3.clone(),
        SageMakerSource::from_config_path_style(&config, true),
        Some(aws::sns::client(&config)),
        settings,
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    let payload = json!({"from": iso(m(-60)), "to": iso(m(120)), "watermark": iso(m(180))});
    let summary = handler.handle(payload.clone()).await.unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&summary).unwrap());

    assert_eq!(summary.jobs, 7, "3 training, 1 processing, 1 transform, 1 endpoint, 1 notebook");
    assert_eq!(summary.skipped_resources.len(), 1, "the orphan transform job: {:?}", summary.skipped_resources);
    let by_rule: Vec<(&str, usize)> = summary.by_rule.iter().map(|(r, n)| (r.as_str(), *n)).collect();
    assert_eq!(
        by_rule,
        vec![("access-denied", 1), ("key-lifecycle", 1), ("unexpected-key", 1), ("unexpected-principal", 1)],
        "exactly the planted findings (no missing-usage: every job shows its calls)"
    );
    assert_eq!((summary.notable, summary.published, summary.publish_failures), (3, 3, 0));

    // Lake outputs: findings table partition(s), expectations tables, the run's record.
    let objects: Vec<String> = lake.list_async("").await.unwrap().into_iter().map(|o| o.key).collect();
    let run = summary.run_id.clone();
    assert!(
        objects.iter().any(|k| k.starts_with("findings/dt=") && k.ends_with(&format!("/{run}.parquet"))),
        "{objects:?}"
    );
    for t in ["expectations/expectations.parquet", "expectations_allow/expectations_allow.parquet"] {
        assert!(objects.iter().any(|k| k == t), "{t} in {objects:?}");
    }
    let exp: Value =
        serde_json::from_slice(&lake.get_bytes_async(&format!("_reconcile/{run}/expectations.json")).await.unwrap())
            .unwrap();
    assert_eq!(exp["source"]["kind"], "sagemaker");
    let train_job = exp["jobs"].as_array().unwrap().iter().find(|j| j["name"] == "train-000").unwrap();
    assert_eq!(train_job["keys"]["volume"], keys["volume"], "bare key ID resolved by DescribeKey");
    assert_eq!(train_job["keys"]["output"], keys["output"], "alias resolved by DescribeKey");
    let data_bucket =
        train_job["buckets"].as_array().unwrap().iter().find(|b| b["arn"] == "arn:aws:s3:::ml-data").unwrap();
    assert_eq!(data_bucket["bucket_key_enabled"], true);
    assert_eq!(data_bucket["keys"][0], keys["data"], "bucket default key (by alias) resolved");

    // SNS → SQS: the three high findings, with their attributes.
    let messages = setup(&moto, &["receive", topic["queue_url"].as_str().unwrap()]);
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    let mut rules: Vec<String> = Vec::new();
    for env in messages {
        assert_eq!(env["MessageAttributes"]["severity"]["Value"], "high", "{env}");
        assert_eq!(env["MessageAttributes"]["run_id"]["Value"], run.as_str());
        assert!(env["Subject"].as_str().unwrap().starts_with("kms-audit high "), "{env}");
        let finding: Value = serde_json::from_str(env["Message"].as_str().unwrap()).unwrap();
        assert_eq!(finding["severity"], "high");
        rules.push(finding["rule"].as_str().unwrap().to_owned());
    }
    rules.sort();
    assert_eq!(rules, ["key-lifecycle", "unexpected-key", "unexpected-principal"]);

    // A repeated run of the same period replaces its own files (same run id, same objects).
    let payload_again = payload.clone();
    let again = handler.handle(payload).await.unwrap();
    assert_eq!(again.run_id, run);
    let objects2: Vec<String> = lake.list_async("").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(objects, objects2);

    // No allow-list object: the run goes on without one, and the admin's read is now unexpected.
    let mut settings = ReconcileSettings::for_lake(&format!("s3://{LAKE}/audit"));
    settings.allow_url = Some(format!("s3://{LAKE}/audit/_config/missing.json"));
    let handler = ReconcileHandler::new(
        s3.clone(),
        SageMakerSource::from_config_path_style(&config, true),
        None,
        settings,
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    let without = handler.handle(payload_again).await.unwrap();
    assert_eq!(without.by_rule.get("unexpected-principal"), Some(&2), "{:?}", without.by_rule);
    assert_eq!(without.published, 0, "no topic configured");
}
