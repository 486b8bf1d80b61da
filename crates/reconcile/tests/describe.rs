//! Expectations from saved `aws sagemaker describe-*` outputs.

use chrono::{TimeZone, Utc};
use reconcile::describe::{detect, DocKind};
use reconcile::{ExpectationsBuilder, JobKind, KeyResolver, MapResolver};

const A: &str = "111122223333";

fn doc(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/describe/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn resolver() -> MapResolver {
    MapResolver::new("us-east-1", A)
        .alias("alias/ml-output", "0987dcba-09fe-87dc-65ba-ab0987654321")
        .alias("alias/ml-volume", &format!("arn:aws:kms:us-east-1:{A}:key/0b1c2d3e-1111-4a4a-8b8b-000000000001"))
}

const ALL: [&str; 7] = [
    "training.json",
    "processing.json",
    "transform.json",
    "model.json",
    "endpoint.json",
    "endpoint-config.json",
    "notebook.json",
];

#[test]
fn kinds_are_detected() {
    let kinds: Vec<_> = ALL.iter().map(|n| detect(&serde_json::from_str(&doc(n)).unwrap()).unwrap()).collect();
    assert_eq!(
        kinds,
        [
            DocKind::Training,
            DocKind::Processing,
            DocKind::Transform,
            DocKind::Model,
            DocKind::Endpoint,
            DocKind::EndpointConfig,
            DocKind::Notebook
        ]
    );
}

#[test]
fn every_kind_builds() {
    let r = resolver();
    let mut b = ExpectationsBuilder::new(&r);
    for n in ALL {
        b.add_json(n, &doc(n));
    }
    b.bucket_key_enabled("ml-capture-111122223333");
    let e = b.build().unwrap();
    e.validate().unwrap();
    assert_eq!(e.jobs.len(), 5);
    let job = |k: JobKind| e.jobs.iter().find(|j| j.kind == k).unwrap();
    let key = |id: &str| format!("arn:aws:kms:us-east-1:{A}:key/{id}");

    let t = job(JobKind::Training);
    assert_eq!(t.name, "churn-xgb-2025-03-14-09-01-55-123");
    assert_eq!(t.role_arn, format!("arn:aws:iam::{A}:role/service-role/AmazonSageMaker-ExecutionRole-20250101T000000"));
    assert_eq!(t.keys.volume.as_deref(), Some(key("1234abcd-12ab-34cd-56ef-1234567890ab").as_str()), "bare key ID");
    assert_eq!(t.keys.output.as_deref(), Some(key("0987dcba-09fe-87dc-65ba-ab0987654321").as_str()), "alias");
    assert_eq!(
        t.window.start,
        Utc.with_ymd_and_hms(2025, 3, 14, 9, 3, 12).unwrap() + chrono::Duration::milliseconds(4)
    );
    assert!(t.window.end.is_some());
    assert_eq!(t.status.as_deref(), Some("Completed"));
    let buckets: Vec<_> = t.buckets.iter().map(|b| b.arn.as_str()).collect();
    assert_eq!(buckets, [format!("arn:aws:s3:::ml-artifacts-{A}"), format!("arn:aws:s3:::ml-data-{A}")]);

    let p = job(JobKind::Processing);
    assert_eq!(p.keys.volume.as_deref(), Some(key("1234abcd-12ab-34cd-56ef-1234567890ab").as_str()));
    assert_eq!(p.keys.output.as_deref(), Some(key("0987dcba-09fe-87dc-65ba-ab0987654321").as_str()));
    // CLI v1 epoch seconds.
    assert_eq!(p.window.start.timestamp_millis(), 1_741_941_180_500);
    assert_eq!(p.window.end.unwrap().timestamp_millis(), 1_741_942_780_125);

    let x = job(JobKind::Transform);
    assert_eq!(
        x.role_arn,
        format!("arn:aws:iam::{A}:role/service-role/AmazonSageMaker-Inference"),
        "role from the model"
    );
    assert_eq!(x.keys.volume.as_deref(), Some(key("0b1c2d3e-1111-4a4a-8b8b-000000000001").as_str()), "alias ARN");
    assert!(x.keys.output.as_deref().unwrap().contains(":key/mrk-"));

    let ep = job(JobKind::Endpoint);
    assert_eq!(ep.role_arn, x.role_arn);
    assert_eq!(ep.keys.endpoint.as_deref(), Some(key("0b1c2d3e-1111-4a4a-8b8b-000000000001").as_str()));
    assert_eq!(ep.keys.data_capture.as_deref(), Some(key("0b1c2d3e-6666-4a4a-8b8b-000000000006").as_str()));
    assert_eq!(ep.window.end, None, "endpoints are open");
    assert!(ep.buckets.iter().all(|b| b.bucket_key_enabled));

    let nb = job(JobKind::Notebook);
    assert_eq!(nb.keys.notebook.as_deref(), Some(key("0b1c2d3e-7777-4a4a-8b8b-000000000007").as_str()));
    assert_eq!(nb.window.end, None);

    assert_eq!(
        e.aliases.get("alias/ml-output").map(String::as_str),
        Some(key("0987dcba-09fe-87dc-65ba-ab0987654321").as_str())
    );
    assert_eq!(e.source.kind, "describe");
    assert_eq!(e.source.documents.len(), 7);
    // Round trip through JSON.
    let back = reconcile::Expectations::from_json(&e.to_json()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn errors_name_the_document_and_field() {
    struct Nothing;
    impl KeyResolver for Nothing {
        fn resolve(&self, _: &str) -> Option<String> {
            None
        }
    }
    // Transform and endpoint without their model / config; unresolvable alias; bad JSON; unknown doc.
    let mut b = ExpectationsBuilder::new(&Nothing);
    b.add_json("training.json", &doc("training.json"))
        .add_json("transform.json", &doc("transform.json"))
        .add_json("endpoint.json", &doc("endpoint.json"))
        .add_json("broken.json", "{\"TrainingJobArn\": ")
        .add_json("other.json", "{\"Foo\": 1}");
    let err = b.build().unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    for want in [
        "training.json: OutputDataConfig.KmsKeyId: cannot resolve key reference \"alias/ml-output\"",
        "transform.json: ModelName: the role comes from model \"churn-xgb-model\"",
        "transform.json: TransformResources.VolumeKmsKeyId: cannot resolve",
        "endpoint.json: EndpointConfigName: no describe-endpoint-config output for \"churn-endpoint-config-1\"",
        "broken.json: -: invalid JSON at line 1",
        "other.json: -: not a recognised describe output",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // The bare key ID still resolves without a resolver (job's own account and Region).
    assert!(!text.contains("ResourceConfig.VolumeKmsKeyId"));
}

#[test]
fn missing_required_field() {
    let r = resolver();
    let mut v: serde_json::Value = serde_json::from_str(&doc("notebook.json")).unwrap();
    v.as_object_mut().unwrap().remove("RoleArn");
    let mut b = ExpectationsBuilder::new(&r);
    b.add("nb.json", v);
    let err = b.build().unwrap_err().to_string();
    assert_eq!(err, "nb.json: RoleArn: missing");
}

#[test]
fn running_and_terminal_jobs_windows() {
    let r = resolver();
    let mut v: serde_json::Value = serde_json::from_str(&doc("training.json")).unwrap();
    v.as_object_mut().unwrap().remove("TrainingEndTime");
    let mut running = v.clone();
    running["TrainingJobStatus"] = "InProgress".into();
    let mut b = ExpectationsBuilder::new(&r);
    b.add("failed.json", {
        let mut f = v.clone();
        f["TrainingJobStatus"] = "Failed".into();
        f
    });
    let e = b.build().unwrap();
    assert_eq!(e.jobs[0].window.end.unwrap().timestamp(), 1_741_945_481, "LastModifiedTime");
    let mut b = ExpectationsBuilder::new(&r);
    b.add("running.json", running);
    assert_eq!(b.build().unwrap().jobs[0].window.end, None);
}

#[test]
fn expectations_validation_reports_every_problem() {
    let text = r#"{"jobs":[{"kind":"training","name":"j","arn":"arn:aws:sagemaker:us-east-1:1:training-job/j",
        "role_arn":"arn:aws:iam::1:user/bob","keys":{"output":"alias/x"},
        "window":{"start":"2025-01-02T00:00:00Z","end":"2025-01-01T00:00:00Z"}}],
        "allow":[{"principal":"arn:*:role/x","keys":[],"operations":["*"]}]}"#;
    let err = reconcile::Expectations::from_json(text).unwrap_err().to_string();
    for want in ["role_arn", "keys.output", "window", "allow[0].principal", "allow[0].keys"] {
        assert!(err.contains(want), "{want} in {err}");
    }
}
