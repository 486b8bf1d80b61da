//! Synthetic CloudTrail trails in the S3 delivery layout, for tests, benchmarks and the demo.
//!
//! Records are shaped after the published KMS examples (see `tests/data/cloudtrail/`): S3
//! calling KMS for SageMaker execution roles, EBS volume keys, grants, key administration, the
//! trail reading its own logs, plus non-KMS noise (S3 data events, STS, EC2). A configurable
//! share of events is delivered twice, and some arrive in a later day's folder.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrailSpec {
    /// Records in all files, duplicates included.
    pub records: usize,
    /// Log files to spread them over.
    pub files: usize,
    /// Share of records that are KMS events.
    pub kms_fraction: f64,
    /// Share of KMS events delivered a second time (same eventID) in another file.
    pub duplicate_fraction: f64,
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub days: u32,
    pub account: String,
    pub region: String,
    pub keys: usize,
    pub roles: usize,
}

impl Default for TrailSpec {
    fn default() -> Self {
        TrailSpec {
            records: 10_000,
            files: 20,
            kms_fraction: 0.6,
            duplicate_fraction: 0.01,
            seed: 7,
            start: DateTime::parse_from_rfc3339("2025-03-10T00:00:00Z").unwrap().with_timezone(&Utc),
            days: 3,
            account: "111122223333".into(),
            region: "us-east-1".into(),
            keys: 8,
            roles: 12,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct TrailStats {
    pub files: Vec<PathBuf>,
    pub records: usize,
    pub kms_records: usize,
    pub duplicates: usize,
    pub json_bytes: u64,
}

/// Writes the trail under `out` as `AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`.
pub fn generate_trail(spec: &TrailSpec, out: &Path) -> io::Result<TrailStats> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let world = World::new(spec, &mut rng);
    let files = spec.files.max(1);
    let per_file = spec.records.div_ceil(files);
    let mut stats = TrailStats::default();
    let mut pending_duplicates: Vec<Value> = Vec::new();
    let span_ms = i64::from(spec.days.max(1)) * 86_400_000;
    let mut written = 0usize;
    for f in 0..files {
        let count = per_file.min(spec.records - written.min(spec.records));
        if count == 0 {
            break;
        }
        // Files cover consecutive slices of the period; delivery is a few minutes later.
        let slice_start = spec.start + Duration::milliseconds(span_ms * f as i64 / files as i64);
        let slice_ms = (span_ms / files as i64).max(1);
        let delivered = slice_start + Duration::milliseconds(slice_ms) + Duration::minutes(5);
        let mut records = Vec::with_capacity(count);
        // Duplicates of earlier events are redelivered at the start of the next file.
        while records.len() < count {
            if let Some(dup) = pending_duplicates.pop() {
                records.push(dup);
                stats.duplicates += 1;
                continue;
            }
            let mut t = slice_start + Duration::milliseconds(rng.random_range(0..slice_ms));
            // A few events are late: delivered in this file although they happened a day earlier.
            if rng.random_bool(0.002) {
                t -= Duration::days(1);
            }
            let record = if rng.random_bool(spec.kms_fraction) {
                stats.kms_records += 1;
                let r = world.kms_record(&mut rng, t);
                if rng.random_bool(spec.duplicate_fraction) {
                    pending_duplicates.push(r.clone());
                }
                r
            } else {
                world.other_record(&mut rng, t)
            };
            records.push(record);
        }
        written += records.len();
        stats.records += records.len();
        let path = out.join(delivery_key(&spec.account, &spec.region, delivered, &mut rng));
        fs::create_dir_all(path.parent().unwrap())?;
        let body = serde_json::to_vec(&json!({ "Records": records }))?;
        stats.json_bytes += body.len() as u64;
        let mut gz = GzEncoder::new(io::BufWriter::new(fs::File::create(&path)?), Compression::default());
        gz.write_all(&body)?;
        gz.finish()?.flush()?;
        stats.files.push(path);
    }
    Ok(stats)
}

/// `AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz`
pub fn delivery_key(account: &str, region: &str, delivered: DateTime<Utc>, rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = (0..16).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{suffix}.json.gz",
        delivered.format("%Y/%m/%d"),
        delivered.format("%Y%m%dT%H%MZ"),
    )
}

/// Keys, roles and users the records draw from.
struct World {
    account: String,
    region: String,
    keys: Vec<String>,
    roles: Vec<String>,
    users: Vec<String>,
    buckets: Vec<String>,
}

impl World {
    fn new(spec: &TrailSpec, rng: &mut impl Rng) -> Self {
        let acct = &spec.account;
        let region = &spec.region;
        let keys = (0..spec.keys.max(1))
            .map(|i| {
                let id = if i % 5 == 4 { format!("mrk-{:032x}", rng.random::<u128>()) } else { uuid(rng) };
                format!("arn:aws:kms:{region}:{acct}:key/{id}")
            })
            .collect();
        let roles = (0..spec.roles.max(1))
            .map(|i| match i % 3 {
                0 => format!("arn:aws:iam::{acct}:role/service-role/AmazonSageMaker-ExecutionRole-{i:04}"),
                1 => format!("arn:aws:iam::{acct}:role/ml/training-role-{i}"),
                _ => format!("arn:aws:iam::{acct}:role/data-pipeline-{i}"),
            })
            .collect();
        let users =
            vec![format!("arn:aws:iam::{acct}:user/key-admin"), format!("arn:aws:iam::{acct}:user/ci-deployer")];
        let buckets = (0..4).map(|i| format!("ml-data-{acct}-{i}")).collect();
        World { account: acct.clone(), region: region.clone(), keys, roles, users, buckets }
    }

    fn kms_record(&self, rng: &mut impl Rng, t: DateTime<Utc>) -> Value {
        let key = &self.keys[rng.random_range(0..self.keys.len())];
        let roll = rng.random_range(0..100);
        let (name, identity, params, resources, extra): (&str, Value, Value, Vec<&String>, Value) = match roll {
            0..=44 => {
                let role = &self.roles[rng.random_range(0..self.roles.len())];
                let bucket = &self.buckets[rng.random_range(0..self.buckets.len())];
                let name = if rng.random_bool(0.6) { "Decrypt" } else { "GenerateDataKey" };
                let host =
                    ["fas.s3.amazonaws.com", "s3.amazonaws.com", "internal.amazonaws.com"][rng.random_range(0..3)];
                let mut params = json!({
                    "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                    "encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::{bucket}/datasets/part-{:05}.parquet", rng.random_range(0..50_000))}
                });
                if name == "GenerateDataKey" {
                    params["keyId"] = json!(key);
                    params["keySpec"] = json!("AES_256");
                }
                (
                    name,
                    self.role_identity(rng, role, Some(host)),
                    params,
                    vec![key],
                    json!({"sourceIPAddress": host, "userAgent": host}),
                )
            }
            45..=59 => {
                let role = &self.roles[rng.random_range(0..self.roles.len())];
                let name = ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"][rng.random_range(0..4)];
                let params =
                    json!({"keyId": key, "encryptionContext": {"job": format!("job-{}", rng.random_range(0..200))}});
                (name, self.role_identity(rng, role, None), params, vec![key], self.direct_extra(rng))
            }
            60..=69 => {
                let params = json!({"keyId": "alias/aws/ebs", "numberOfBytes": 64, "encryptionContext": {"aws:ebs:id": format!("vol-{:017x}", rng.random::<u64>())}});
                let identity = json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"});
                (
                    "GenerateDataKeyWithoutPlaintext",
                    identity,
                    params,
                    vec![key],
                    json!({"sourceIPAddress": "ec2.amazonaws.com", "userAgent": "ec2.amazonaws.com"}),
                )
            }
            70..=74 => {
                let trail = format!("arn:aws:cloudtrail:{}:{}:trail/org-trail", self.region, self.account);
                let params = json!({"encryptionContext": {"aws:cloudtrail:arn": trail, "aws:s3:arn": format!("arn:aws:s3:::trail-bucket/AWSLogs/{}/x.json.gz", self.account)}});
                let identity = json!({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"});
                (
                    "Decrypt",
                    identity,
                    params,
                    vec![key],
                    json!({"sourceIPAddress": "cloudtrail.amazonaws.com", "userAgent": "cloudtrail.amazonaws.com"}),
                )
            }
            75..=79 => {
                let other = &self.keys[rng.random_range(0..self.keys.len())];
                let role = &self.roles[rng.random_range(0..self.roles.len())];
                let params = json!({"sourceKeyId": key, "destinationKeyId": other, "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT", "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"});
                let resources = if other == key { vec![key] } else { vec![key, other] };
                ("ReEncrypt", self.role_identity(rng, role, None), params, resources, self.direct_extra(rng))
            }
            80..=84 => {
                let role = &self.roles[rng.random_range(0..self.roles.len())];
                let params = json!({"keyId": key, "granteePrincipal": format!("sagemaker.{}.amazonaws.com", self.region), "operations": ["Decrypt", "GenerateDataKey", "CreateGrant"], "retiringPrincipal": role});
                let mut identity = self.role_identity(rng, role, Some("sagemaker.amazonaws.com"));
                identity["invokedBy"] = json!("sagemaker.amazonaws.com");
                (
                    "CreateGrant",
                    identity,
                    params,
                    vec![key],
                    json!({"sourceIPAddress": "sagemaker.amazonaws.com", "userAgent": "sagemaker.amazonaws.com"}),
                )
            }
            85..=89 => {
                let user = &self.users[rng.random_range(0..self.users.len())];
                let name = ["DescribeKey", "PutKeyPolicy", "EnableKeyRotation", "DisableKey", "ScheduleKeyDeletion"]
                    [rng.random_range(0..5)];
                let identity = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER00001", "arn": user, "accountId": self.account, "accessKeyId": "AKIAEXAMPLEKEY000001", "userName": user.rsplit('/').next().unwrap()});
                (name, identity, json!({"keyId": key_id(key)}), vec![key], self.direct_extra(rng))
            }
            90..=93 => {
                let identity = json!({"accountId": self.account, "invokedBy": "AWS Internal"});
                (
                    "RotateKey",
                    identity,
                    Value::Null,
                    vec![key],
                    json!({"sourceIPAddress": "AWS Internal", "userAgent": "AWS Internal"}),
                )
            }
            94..=96 => {
                let user = &self.users[0];
                let identity = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER00001", "arn": user, "accountId": self.account, "accessKeyId": "AKIAEXAMPLEKEY000001"});
                ("ListAliases", identity, json!({"limit": 100}), vec![], self.direct_extra(rng))
            }
            _ => {
                let role = &self.roles[rng.random_range(0..self.roles.len())];
                let params = json!({"keyId": key, "encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::{}", self.buckets[0])}});
                let mut extra = self.direct_extra(rng);
                extra["errorCode"] = json!("AccessDenied");
                extra["errorMessage"] =
                    json!(format!("User: {role} is not authorized to perform: kms:Decrypt on resource: {key}"));
                ("Decrypt", self.role_identity(rng, role, None), params, vec![key], extra)
            }
        };
        let mut record = json!({
            "eventVersion": "1.11",
            "userIdentity": identity,
            "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": "kms.amazonaws.com",
            "eventName": name,
            "awsRegion": self.region,
            "requestParameters": params,
            "responseElements": null,
            "additionalEventData": {"keyMaterialId": format!("{:064x}", rng.random::<u128>())},
            "requestID": uuid(rng),
            "eventID": uuid(rng),
            "readOnly": matches!(name, "Decrypt" | "DescribeKey" | "ListAliases" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" | "Encrypt"),
            "resources": resources.iter().map(|k| json!({"accountId": self.account, "type": "AWS::KMS::Key", "ARN": k})).collect::<Vec<_>>(),
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
        });
        if resources.is_empty() {
            record.as_object_mut().unwrap().remove("resources");
        }
        for (k, v) in extra.as_object().unwrap() {
            record[k] = v.clone();
        }
        record
    }

    fn role_identity(&self, rng: &mut impl Rng, role: &str, invoked_by: Option<&str>) -> Value {
        let role_name = role.rsplit('/').next().unwrap();
        let session = if role_name.contains("SageMaker") {
            "SageMaker".to_owned()
        } else {
            format!("session-{}", rng.random_range(0..1000))
        };
        let mut identity = json!({
            "type": "AssumedRole",
            "principalId": format!("AROAEXAMPLE{:09}:{session}", rng.random_range(0..1_000_000_000u32)),
            "arn": format!("arn:aws:sts::{}:assumed-role/{role_name}/{session}", self.account),
            "accountId": self.account,
            "accessKeyId": format!("ASIA{:016X}", rng.random::<u64>()),
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLE000001", "arn": role, "accountId": self.account, "userName": role_name},
                "attributes": {"creationDate": "2025-03-01T00:00:00Z", "mfaAuthenticated": "false"}
            }
        });
        if let Some(host) = invoked_by {
            identity["invokedBy"] = json!(host);
        }
        identity
    }

    fn direct_extra(&self, rng: &mut impl Rng) -> Value {
        let tls = if rng.random_bool(0.02) {
            "TLSv1.1"
        } else if rng.random_bool(0.5) {
            "TLSv1.3"
        } else {
            "TLSv1.2"
        };
        json!({
            "sourceIPAddress": format!("10.0.{}.{}", rng.random_range(0..255), rng.random_range(1..255)),
            "userAgent": "aws-sdk-java/2.25.1 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9 Java/17.0.9 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE",
            "tlsDetails": {"tlsVersion": tls, "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": format!("kms.{}.amazonaws.com", self.region)}
        })
    }

    fn other_record(&self, rng: &mut impl Rng, t: DateTime<Utc>) -> Value {
        let role = &self.roles[rng.random_range(0..self.roles.len())];
        let (source, name, params) = match rng.random_range(0..3) {
            0 => (
                "s3.amazonaws.com",
                "GetObject",
                json!({"bucketName": self.buckets[0], "key": format!("datasets/part-{:05}.parquet", rng.random_range(0..50_000)), "Host": "s3.amazonaws.com"}),
            ),
            1 => (
                "sts.amazonaws.com",
                "AssumeRole",
                json!({"roleArn": role, "roleSessionName": "SageMaker", "durationSeconds": 3600}),
            ),
            _ => ("ec2.amazonaws.com", "DescribeInstances", json!({"instancesSet": {}, "filterSet": {}})),
        };
        let mut r = json!({
            "eventVersion": "1.10",
            "userIdentity": self.role_identity(rng, role, None),
            "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": source,
            "eventName": name,
            "awsRegion": self.region,
            "requestParameters": params,
            "responseElements": null,
            "requestID": uuid(rng),
            "eventID": uuid(rng),
            "readOnly": true,
            "eventType": "AwsApiCall",
            "managementEvent": source != "s3.amazonaws.com",
            "recipientAccountId": self.account,
            "eventCategory": if source == "s3.amazonaws.com" { "Data" } else { "Management" },
        });
        for (k, v) in self.direct_extra(rng).as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    }
}

fn key_id(arn: &str) -> &str {
    arn.rsplit_once("key/").map_or(arn, |(_, id)| id)
}

/// A random RFC 4122 version-4 UUID string.
pub fn uuid(rng: &mut impl Rng) -> String {
    let v: u128 = rng.random();
    let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Writes `records` as gzip log files of at most `per_file` records each, in the S3 delivery
/// layout under `out`, each file named after the time of its last record plus five minutes.
pub fn write_log_files(
    records: &[Value],
    out: &Path,
    account: &str,
    region: &str,
    per_file: usize,
    seed: u64,
) -> io::Result<Vec<PathBuf>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut paths = Vec::new();
    for chunk in records.chunks(per_file.max(1)) {
        let last = chunk
            .iter()
            .filter_map(|r| r["eventTime"].as_str())
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .max()
            .unwrap_or_default();
        let path = out.join(delivery_key(account, region, last + Duration::minutes(5), &mut rng));
        fs::create_dir_all(path.parent().expect("delivery key has folders"))?;
        let mut gz = GzEncoder::new(io::BufWriter::new(fs::File::create(&path)?), Compression::default());
        serde_json::to_writer(&mut gz, &json!({ "Records": chunk }))?;
        gz.finish()?.flush()?;
        paths.push(path);
    }
    Ok(paths)
}
