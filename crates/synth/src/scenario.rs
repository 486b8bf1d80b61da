//! Reconcile scenarios: SageMaker expectations plus CloudTrail KMS records, benign and planted.
//!
//! [`generate`] returns [`Expectations`], CloudTrail records shaped exactly like the real ones
//! (`eventSource` `kms.amazonaws.com`; see the shared fixtures), and the list of [`Planted`]
//! findings: the reconciler (and the SQL in `queries/reconcile/`) must report exactly those.
//! Everything is derived from the seed (ChaCha8), so a scenario is reproducible.
//!
//! Planted, one or two per rule: `unexpected-principal` (an analyst role reading a job's output
//! through S3; the same by alias only, without `resources`), `outside-job-window` (a job role's
//! S3 write two hours after its job ended), `unexpected-key` (a job role using a key only another
//! role's jobs use), `missing-usage` (a completed training job with no call on its output key),
//! `access-denied` (denied calls that would otherwise be unexpected), `direct-use` (a job role
//! calling KMS from the container itself), `long-term-credentials` (an IAM user's access key
//! through EBS), `weak-tls` (TLSv1.1), `key-lifecycle` (ScheduleKeyDeletion and a CreateGrant to
//! an outside account on keys in use).
//!
//! Traps that must stay silent: S3 invokers `fas.s3`, `s3` and `internal.amazonaws.com`; role
//! paths (and expectations written without the path); `mrk-` keys used from another Region;
//! ReEncrypt (two keys) by an allow-listed admin; DryRun calls; the trail's own log-reading
//! Decrypts; events within the slack after a job ended; open windows of endpoints and notebooks;
//! jobs whose buckets all use S3 Bucket Keys and show no output call; failed jobs; jobs ending
//! after the watermark or starting before `from`; volume use seen only from an AWS service
//! principal; `RotateKey` by `AWS Internal`; lifecycle changes on a key no job uses or explicitly
//! allow-listed; events before `from`.

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reconcile::{AllowEntry, Bucket, Expectations, Job, JobKeys, JobKind, Options, Rule, Source, Window};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Account of every resource in a scenario.
pub const ACCOUNT: &str = "111122223333";
/// Home Region.
pub const REGION: &str = "us-east-1";
/// Region a multi-Region key is used from.
pub const OTHER_REGION: &str = "us-west-2";

/// Size and seed of a scenario.
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    pub seed: u64,
    /// Benign jobs, besides the dozen fixed ones the planted findings and traps need.
    pub jobs: usize,
    /// Approximate number of benign bulk records (S3 reads and writes within job windows).
    pub events: usize,
}

impl Default for ScenarioSpec {
    fn default() -> Self {
        ScenarioSpec { seed: 7, jobs: 40, events: 2_000 }
    }
}

/// A finding the scenario planted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Planted {
    pub rule: Rule,
    /// `None` for `missing-usage`.
    pub event_id: Option<String>,
    pub key_arn: Option<String>,
    pub job_arn: Option<String>,
    pub principal_arn: Option<String>,
    /// What was planted, for test messages.
    pub why: String,
}

/// A generated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub expectations: Expectations,
    /// CloudTrail records (`eventSource` `kms.amazonaws.com`), in generation order.
    pub records: Vec<Value>,
    pub planted: Vec<Planted>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub slack: std::time::Duration,
    pub watermark: DateTime<Utc>,
}

impl Scenario {
    /// Reconcile options matching the scenario.
    pub fn options(&self, run_id: &str) -> Options {
        Options {
            from: Some(self.from),
            to: Some(self.to),
            slack: self.slack,
            watermark: self.watermark,
            run_id: run_id.to_owned(),
        }
    }

    /// The records as one CloudTrail log file body: `{"Records":[…]}`.
    pub fn trail_json(&self) -> String {
        serde_json::to_string(&json!({ "Records": self.records })).expect("records serialize")
    }
}

fn key(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

fn role(path_and_name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{path_and_name}")
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Who made a call.
#[derive(Debug, Clone)]
enum Who {
    /// An assumed role (the issuer ARN, with its path), its session name, and the service that
    /// called on its behalf, if any.
    Role { arn: String, session: String, via: Option<&'static str> },
    /// An IAM user with a long-term access key.
    User { name: String, akid: String, via: Option<&'static str> },
    /// An AWS service acting as itself (`userIdentity.type` `AWSService`).
    Service(&'static str),
    /// `{accountId, invokedBy: "AWS Internal"}`.
    Internal,
}

/// One record to write.
#[derive(Debug, Clone)]
struct Ev {
    t: DateTime<Utc>,
    name: &'static str,
    who: Who,
    /// Keys in `resources` (ReEncrypt lists two).
    keys: Vec<String>,
    /// `requestParameters.keyId`, when the caller named the key.
    key_param: Option<String>,
    /// `aws:s3:arn` or another single context entry.
    context: Option<(&'static str, String)>,
    error: Option<(&'static str, String)>,
    tls: Option<&'static str>,
    source_ip: Option<String>,
    grantee: Option<String>,
    region: &'static str,
}

impl Ev {
    fn new(t: DateTime<Utc>, name: &'static str, who: Who, key: &str) -> Self {
        Ev {
            t,
            name,
            who,
            keys: vec![key.to_owned()],
            key_param: None,
            context: None,
            error: None,
            tls: None,
            source_ip: None,
            grantee: None,
            region: REGION,
        }
    }
}

const S3_HOSTS: [&str; 3] = ["fas.s3.amazonaws.com", "s3.amazonaws.com", "internal.amazonaws.com"];
const BOTO_UA: &str = "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#5.10.227 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.0";
const CLI_UA: &str = "aws-cli/2.22.0 md/awscrt#0.22.0 ua/2.1 os/linux#6.8 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe";

struct Gen {
    rng: ChaCha8Rng,
    records: Vec<Value>,
    planted: Vec<Planted>,
}

impl Gen {
    fn uuid(&mut self) -> String {
        let a: u128 = self.rng.random();
        let h = format!("{a:032x}");
        format!("{}-{}-4{}-{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[16..20], &h[20..32])
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.random_range(0..xs.len())]
    }

    fn s3(&mut self, arn: &str) -> Who {
        let via = *self.pick(&S3_HOSTS);
        Who::Role { arn: arn.to_owned(), session: "SageMaker".into(), via: Some(via) }
    }

    fn between(&mut self, a: DateTime<Utc>, b: DateTime<Utc>) -> DateTime<Utc> {
        let span = (b - a).num_seconds().max(1);
        a + Duration::seconds(self.rng.random_range(0..span))
    }

    /// Writes the record; returns its eventID.
    fn emit(&mut self, e: &Ev) -> String {
        let id = self.uuid();
        let request_id = self.uuid();
        let (identity, host) = match &e.who {
            Who::Role { arn, session, via } => {
                let name = role_name(arn);
                let mut ui = json!({
                    "type": "AssumedRole",
                    "principalId": format!("AROAEXAMPLE{:08X}:{session}", fxhash(name)),
                    "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}"),
                    "accountId": ACCOUNT,
                    "accessKeyId": format!("ASIAEXAMPLE{:09X}", fxhash(session) & 0xf_ffff_ffff),
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": format!("AROAEXAMPLE{:08X}", fxhash(name)),
                            "arn": arn,
                            "accountId": ACCOUNT,
                            "userName": name
                        },
                        "attributes": {
                            "creationDate": iso(e.t - Duration::minutes(5)),
                            "mfaAuthenticated": "false"
                        }
                    }
                });
                if let Some(v) = via {
                    ui["invokedBy"] = json!(v);
                }
                (ui, *via)
            }
            Who::User { name, akid, via } => {
                let mut ui = json!({
                    "type": "IAMUser",
                    "principalId": format!("AIDAEXAMPLE{:08X}", fxhash(name)),
                    "arn": format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
                    "accountId": ACCOUNT,
                    "accessKeyId": akid,
                    "userName": name
                });
                if let Some(v) = via {
                    ui["invokedBy"] = json!(v);
                }
                (ui, *via)
            }
            Who::Service(host) => (json!({ "type": "AWSService", "invokedBy": host }), Some(*host)),
            Who::Internal => (json!({ "accountId": ACCOUNT, "invokedBy": "AWS Internal" }), Some("AWS Internal")),
        };
        let (source_ip, user_agent) = match (host, &e.source_ip) {
            (_, Some(ip)) => (ip.clone(), if matches!(e.who, Who::User { .. }) { CLI_UA } else { BOTO_UA }.to_owned()),
            (Some(h), None) => (h.to_owned(), h.to_owned()),
            (None, None) => ("198.51.100.23".to_owned(), CLI_UA.to_owned()),
        };
        let mut params = Map::new();
        if let Some(k) = &e.key_param {
            if e.name == "ReEncrypt" {
                params.insert("destinationKeyId".into(), json!(k));
            } else {
                params.insert("keyId".into(), json!(k));
            }
        }
        match e.name {
            "Decrypt" | "Encrypt" => {
                params.insert("encryptionAlgorithm".into(), json!("SYMMETRIC_DEFAULT"));
            }
            "GenerateDataKey" => {
                params.insert("keySpec".into(), json!("AES_256"));
            }
            "GenerateDataKeyWithoutPlaintext" => {
                params.insert("numberOfBytes".into(), json!(64));
            }
            "CreateGrant" => {
                params.insert("granteePrincipal".into(), json!(e.grantee));
                params.insert(
                    "operations".into(),
                    json!([
                        "Decrypt",
                        "GenerateDataKeyWithoutPlaintext",
                        "ReEncryptFrom",
                        "ReEncryptTo",
                        "CreateGrant",
                        "DescribeKey"
                    ]),
                );
                if e.grantee.as_deref() == Some("sagemaker.amazonaws.com") {
                    params.insert("retiringPrincipal".into(), json!("sagemaker.amazonaws.com"));
                }
            }
            "ScheduleKeyDeletion" => {
                params.insert("pendingWindowInDays".into(), json!(30));
            }
            "ReEncrypt" => {
                params.insert("sourceEncryptionAlgorithm".into(), json!("SYMMETRIC_DEFAULT"));
                params.insert("destinationEncryptionAlgorithm".into(), json!("SYMMETRIC_DEFAULT"));
            }
            _ => {}
        }
        if let Some((k, v)) = &e.context {
            let ctx = json!({ *k: v });
            if e.name == "ReEncrypt" {
                params.insert("sourceEncryptionContext".into(), ctx.clone());
                params.insert("destinationEncryptionContext".into(), ctx);
            } else {
                params.insert("encryptionContext".into(), ctx);
            }
        }
        let read_only = matches!(
            e.name,
            "Decrypt" | "Encrypt" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" | "ReEncrypt" | "DescribeKey"
        );
        let mut r = json!({
            "eventVersion": "1.11",
            "userIdentity": identity,
            "eventTime": iso(e.t),
            "eventSource": "kms.amazonaws.com",
            "eventName": e.name,
            "awsRegion": e.region,
            "sourceIPAddress": source_ip,
            "userAgent": user_agent,
            "requestParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
            "responseElements": null,
            "requestID": request_id,
            "eventID": id,
            "readOnly": read_only,
            "eventType": if matches!(e.who, Who::Internal) { "AwsServiceEvent" } else { "AwsApiCall" },
            "managementEvent": true,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management"
        });
        if !e.keys.is_empty() {
            r["resources"] = Value::Array(
                e.keys.iter().map(|k| json!({ "accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": k })).collect(),
            );
        }
        if let Some((code, msg)) = &e.error {
            r["errorCode"] = json!(code);
            r["errorMessage"] = json!(msg);
        }
        if let Some(v) = e.tls {
            r["tlsDetails"] = json!({
                "tlsVersion": v,
                "cipherSuite": if v == "TLSv1.3" { "TLS_AES_128_GCM_SHA256" } else { "ECDHE-RSA-AES128-SHA" },
                "clientProvidedHostHeader": format!("kms.{}.amazonaws.com", e.region)
            });
        }
        if e.name == "CreateGrant" && e.error.is_none() {
            r["responseElements"] =
                json!({ "grantId": format!("{:064x}", self.rng.random::<u128>()), "keyId": e.keys.first() });
        }
        if e.name == "RotateKey" {
            r["serviceEventDetails"] = json!({ "rotationType": "AUTOMATIC", "keyOrigin": "AWS_KMS" });
            r.as_object_mut().expect("object").remove("requestID");
        }
        self.records.push(r);
        id
    }

    fn plant(
        &mut self,
        rule: Rule,
        event_id: Option<String>,
        key: Option<&str>,
        job: Option<&str>,
        principal: Option<&str>,
        why: &str,
    ) {
        self.planted.push(Planted {
            rule,
            event_id,
            key_arn: key.map(str::to_owned),
            job_arn: job.map(str::to_owned),
            principal_arn: principal.map(str::to_owned),
            why: why.to_owned(),
        });
    }

    /// The calls a healthy job makes: the volume grant (or an AWS service's volume call), the
    /// output write, a late write within the slack.
    fn job_calls(&mut self, j: &Job, output_write: bool) {
        let start = j.window.start;
        let end = j.window.end;
        if let Some(v) = &j.keys.volume.clone().or(j.keys.endpoint.clone()).or(j.keys.notebook.clone()) {
            if self.rng.random_bool(0.8) {
                let who = Who::Role {
                    arn: j.role_arn.clone(),
                    session: "SageMaker".into(),
                    via: Some("sagemaker.amazonaws.com"),
                };
                let mut e = Ev::new(start - Duration::minutes(self.rng.random_range(1..10)), "CreateGrant", who, v);
                e.key_param = Some(v.clone());
                e.grantee = Some("sagemaker.amazonaws.com".into());
                self.emit(&e);
            } else {
                let t = start + Duration::minutes(self.rng.random_range(0..5));
                let mut e = Ev::new(t, "GenerateDataKeyWithoutPlaintext", Who::Service("ec2.amazonaws.com"), v);
                e.context = Some(("aws:ebs:id", format!("vol-{:017x}", self.rng.random::<u64>() >> 4)));
                self.emit(&e);
            }
        }
        if let (Some(o), Some(end), true) = (&j.keys.output, end, output_write) {
            let t = end - Duration::minutes(self.rng.random_range(0..10));
            let who = self.s3(&j.role_arn);
            let (region, k) = mrk_region(self, o);
            let mut e = Ev::new(t, "GenerateDataKey", who, &k);
            e.region = region;
            e.key_param = Some(k.clone());
            e.context =
                Some(("aws:s3:arn", format!("arn:aws:s3:::ml-artifacts-{ACCOUNT}/{}/output/model.tar.gz", j.name)));
            self.emit(&e);
            // A late write inside the slack (eventTime after the end, before end + slack).
            if self.rng.random_bool(0.3) {
                let who = self.s3(&j.role_arn);
                let mut e = Ev::new(end + Duration::minutes(self.rng.random_range(1..10)), "GenerateDataKey", who, &k);
                e.region = region;
                e.key_param = Some(k);
                e.context = Some((
                    "aws:s3:arn",
                    format!("arn:aws:s3:::ml-artifacts-{ACCOUNT}/{}/output/output.tar.gz", j.name),
                ));
                self.emit(&e);
            }
        }
    }

    /// A read of input data through S3 with the bucket's key, or of output with the output key.
    fn bulk_call(&mut self, j: &Job, t: DateTime<Utc>) {
        let who = self.s3(&j.role_arn);
        let input_key = j.buckets.iter().flat_map(|b| b.keys.iter()).next().cloned();
        let use_output = j.keys.output.is_some() && (input_key.is_none() || self.rng.random_bool(0.3));
        let (k, name, bucket) = if use_output {
            (j.keys.output.clone().expect("output"), "GenerateDataKey", format!("ml-artifacts-{ACCOUNT}"))
        } else if let Some(k) = input_key {
            (k, "Decrypt", format!("ml-data-{ACCOUNT}"))
        } else if let Some(k) = j.keys.data_capture.clone() {
            (k, "GenerateDataKey", format!("ml-capture-{ACCOUNT}"))
        } else {
            return;
        };
        let (region, k) = mrk_region(self, &k);
        let mut e = Ev::new(t, name, who, &k);
        e.region = region;
        let bucket_key = j.buckets.iter().any(|b| b.bucket_key_enabled && b.arn.ends_with(&bucket));
        let obj = if bucket_key {
            format!("arn:aws:s3:::{bucket}")
        } else {
            format!("arn:aws:s3:::{bucket}/{}/part-{:05}.csv", j.name, self.rng.random_range(0..10_000))
        };
        e.context = Some(("aws:s3:arn", obj));
        if name == "GenerateDataKey" {
            e.key_param = Some(k);
        }
        self.emit(&e);
    }
}

/// A multi-Region key is used from its replica Region half the time.
fn mrk_region(g: &mut Gen, k: &str) -> (&'static str, String) {
    if k.contains(":key/mrk-") && g.rng.random_bool(0.5) {
        (OTHER_REGION, k.replace(&format!(":{REGION}:"), &format!(":{OTHER_REGION}:")))
    } else {
        (REGION, k.to_owned())
    }
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

#[allow(clippy::too_many_arguments)]
fn job(
    kind: JobKind,
    name: &str,
    role_arn: &str,
    keys: JobKeys,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    buckets: Vec<Bucket>,
    status: &str,
) -> Job {
    let res = match kind {
        JobKind::Training => "training-job",
        JobKind::Processing => "processing-job",
        JobKind::Transform => "transform-job",
        JobKind::Endpoint => "endpoint",
        JobKind::Notebook => "notebook-instance",
    };
    Job {
        kind,
        name: name.to_owned(),
        arn: format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:{res}/{name}"),
        role_arn: role_arn.to_owned(),
        keys,
        window: Window { start, end },
        buckets,
        status: Some(status.to_owned()),
    }
}

fn buckets(input_key: &str, bucket_keys: bool) -> Vec<Bucket> {
    vec![
        Bucket {
            arn: format!("arn:aws:s3:::ml-data-{ACCOUNT}"),
            bucket_key_enabled: bucket_keys,
            keys: vec![input_key.to_owned()],
        },
        Bucket {
            arn: format!("arn:aws:s3:::ml-artifacts-{ACCOUNT}"),
            bucket_key_enabled: bucket_keys,
            keys: Vec::new(),
        },
    ]
}

/// Generates a scenario.
pub fn generate(spec: &ScenarioSpec) -> Scenario {
    let mut g = Gen { rng: ChaCha8Rng::seed_from_u64(spec.seed), records: Vec::new(), planted: Vec::new() };
    let t0 = Utc.with_ymd_and_hms(2025, 3, 10, 0, 0, 0).single().expect("valid time");
    let from = t0;
    let to = t0 + Duration::days(7);
    let slack = Duration::minutes(15);
    let watermark = to - Duration::minutes(30);

    // Keys.
    let k_vol1 = key("0b1c2d3e-1111-4a4a-8b8b-000000000001");
    let k_vol2 = key("0b1c2d3e-2222-4a4a-8b8b-000000000002");
    let k_out = key("0b1c2d3e-3333-4a4a-8b8b-000000000003");
    let k_mrk = key("mrk-5678efgh56ef78gh90ij5678efgh90ij");
    let k_input = key("0b1c2d3e-4444-4a4a-8b8b-000000000004");
    let k_ep = key("0b1c2d3e-5555-4a4a-8b8b-000000000005");
    let k_dc = key("0b1c2d3e-6666-4a4a-8b8b-000000000006");
    let k_nb = key("0b1c2d3e-7777-4a4a-8b8b-000000000007");
    let k_trail = key("0b1c2d3e-8888-4a4a-8b8b-000000000008");
    let k_unused = key("0b1c2d3e-9999-4a4a-8b8b-000000000009");
    let k_ebs = key("aaaabbbb-1111-2222-3333-ccccddddeeee");

    // Roles (shared by benign jobs; planted cases get their own).
    let train_roles = [
        role("service-role/AmazonSageMaker-ExecutionRole-20250101T000000"),
        role("service-role/AmazonSageMaker-ExecutionRole-Team2"),
        role("ml/training/TrainRole-3"),
    ];
    let proc_role = role("service-role/AmazonSageMaker-Processing");
    let model_role = role("service-role/AmazonSageMaker-Inference");
    let nb_role = role("service-role/AmazonSageMaker-Notebook");
    let key_admin = role("KeyAdmin");
    let analyst = role("Analyst");
    let verifier = role("kms-audit-verifier");

    let mut jobs: Vec<Job> = Vec::new();
    let mut healthy: Vec<(Job, bool)> = Vec::new(); // (job, write output)

    // Benign jobs.
    for i in 0..spec.jobs {
        let slot = i % 20;
        let (kind, dur_min) = match slot {
            0..=11 => (JobKind::Training, g.rng.random_range(20..240)),
            12..=15 => (JobKind::Processing, g.rng.random_range(10..120)),
            16..=17 => (JobKind::Transform, g.rng.random_range(10..90)),
            18 => (JobKind::Endpoint, 0),
            _ => (JobKind::Notebook, 0),
        };
        let start = t0 - Duration::hours(6) + Duration::minutes(g.rng.random_range(0..(7 * 24 * 60)));
        let failed = kind != JobKind::Endpoint && kind != JobKind::Notebook && g.rng.random_bool(0.05);
        let all_bk = g.rng.random_bool(0.1);
        let (role_arn, keys, end, bks, status) = match kind {
            JobKind::Training | JobKind::Processing | JobKind::Transform => {
                let role_arn = match kind {
                    JobKind::Training => g.pick(&train_roles).clone(),
                    JobKind::Processing => proc_role.clone(),
                    _ => model_role.clone(),
                };
                let volume = if g.rng.random_bool(0.5) { &k_vol1 } else { &k_vol2 };
                let output = if g.rng.random_bool(0.7) { &k_out } else { &k_mrk };
                let keys = JobKeys { volume: Some(volume.clone()), output: Some(output.clone()), ..Default::default() };
                let status = if failed { "Failed" } else { "Completed" };
                (role_arn, keys, Some(start + Duration::minutes(dur_min)), buckets(&k_input, all_bk), status)
            }
            JobKind::Endpoint => {
                let keys =
                    JobKeys { endpoint: Some(k_ep.clone()), data_capture: Some(k_dc.clone()), ..Default::default() };
                let b = vec![Bucket {
                    arn: format!("arn:aws:s3:::ml-capture-{ACCOUNT}"),
                    bucket_key_enabled: false,
                    keys: Vec::new(),
                }];
                (model_role.clone(), keys, None, b, "InService")
            }
            JobKind::Notebook => {
                let keys = JobKeys { notebook: Some(k_nb.clone()), ..Default::default() };
                (nb_role.clone(), keys, None, Vec::new(), "InService")
            }
        };
        let name = format!("{}-{i:05}", kind.as_str());
        let j = job(kind, &name, &role_arn, keys, start, end, bks, status);
        if !failed {
            let write = !(all_bk && g.rng.random_bool(0.5));
            healthy.push((j.clone(), write));
        }
        jobs.push(j);
    }

    // Fixed jobs for the planted findings and traps.
    let day = |d: i64, h: i64| t0 + Duration::days(d) + Duration::hours(h);
    let r_ow = role("service-role/OutsideWindowRole");
    let j_ow = job(
        JobKind::Training,
        "planted-outside-window",
        &r_ow,
        JobKeys { volume: Some(k_vol1.clone()), output: Some(k_out.clone()), ..Default::default() },
        day(1, 2),
        Some(day(1, 4)),
        buckets(&k_input, false),
        "Completed",
    );
    let r_uk = role("service-role/UnexpectedKeyRole");
    let j_uk = job(
        JobKind::Training,
        "planted-unexpected-key",
        &r_uk,
        JobKeys { volume: Some(k_vol2.clone()), output: Some(k_out.clone()), ..Default::default() },
        day(2, 1),
        Some(day(2, 5)),
        buckets(&k_input, false),
        "Completed",
    );
    let r_mu = role("service-role/MissingUsageRole");
    let j_mu = job(
        JobKind::Training,
        "planted-missing-usage",
        &r_mu,
        JobKeys { volume: Some(k_vol1.clone()), output: Some(k_out.clone()), ..Default::default() },
        day(3, 1),
        Some(day(3, 3)),
        buckets(&k_input, false),
        "Completed",
    );
    let r_du = role("service-role/DirectUseRole");
    let j_du = job(
        JobKind::Training,
        "planted-direct-use",
        &r_du,
        JobKeys { volume: Some(k_vol2.clone()), output: Some(k_out.clone()), ..Default::default() },
        day(4, 1),
        Some(day(4, 6)),
        buckets(&k_input, false),
        "Completed",
    );
    // Traps.
    let r_bk = role("service-role/BucketKeyRole");
    let j_bk = job(
        JobKind::Training,
        "trap-bucket-keys",
        &r_bk,
        JobKeys { volume: Some(k_vol1.clone()), output: Some(k_out.clone()), ..Default::default() },
        day(2, 10),
        Some(day(2, 12)),
        buckets(&k_input, true),
        "Completed",
    );
    let r_late = role("service-role/LateRole");
    let j_late = job(
        JobKind::Training,
        "trap-ends-after-watermark",
        &r_late,
        JobKeys { output: Some(k_out.clone()), ..Default::default() },
        to - Duration::hours(2),
        Some(watermark - Duration::minutes(5)),
        buckets(&k_input, false),
        "Completed",
    );
    let r_failed = role("service-role/FailedRole");
    let j_failed = job(
        JobKind::Training,
        "trap-failed",
        &r_failed,
        JobKeys { volume: Some(k_vol1.clone()), output: Some(k_out.clone()), ..Default::default() },
        day(5, 1),
        Some(day(5, 2)),
        buckets(&k_input, false),
        "Failed",
    );
    let r_svc = role("service-role/ServiceVolumeRole");
    let j_svc = job(
        JobKind::Processing,
        "trap-service-volume",
        &r_svc,
        JobKeys { volume: Some(k_vol2.clone()), ..Default::default() },
        day(5, 8),
        Some(day(5, 9)),
        Vec::new(),
        "Completed",
    );
    let r_before = role("service-role/BeforeRangeRole");
    let j_before = job(
        JobKind::Training,
        "trap-starts-before-from",
        &r_before,
        JobKeys { output: Some(k_out.clone()), ..Default::default() },
        from - Duration::hours(3),
        Some(from + Duration::hours(1)),
        buckets(&k_input, false),
        "Completed",
    );
    // Expectations written without the role's path; CloudTrail shows `role/team/ml/PathRole`.
    let r_path_trail = role("team/ml/PathRole");
    let j_path = job(
        JobKind::Transform,
        "trap-role-path",
        &role("PathRole"),
        JobKeys { volume: Some(k_vol1.clone()), output: Some(k_mrk.clone()), ..Default::default() },
        day(6, 1),
        Some(day(6, 2)),
        buckets(&k_input, false),
        "Completed",
    );
    let j_ep = job(
        JobKind::Endpoint,
        "trap-open-endpoint",
        &model_role,
        JobKeys { endpoint: Some(k_ep), data_capture: Some(k_dc.clone()), ..Default::default() },
        from - Duration::days(20),
        None,
        Vec::new(),
        "InService",
    );
    let j_nb = job(
        JobKind::Notebook,
        "trap-open-notebook",
        &nb_role,
        JobKeys { notebook: Some(k_nb), ..Default::default() },
        from + Duration::hours(5),
        None,
        Vec::new(),
        "InService",
    );
    for j in [&j_ow, &j_uk, &j_mu, &j_du, &j_bk, &j_late, &j_failed, &j_svc, &j_before, &j_path, &j_ep, &j_nb] {
        jobs.push(j.clone());
    }

    // Healthy jobs' calls, then bulk reads/writes within windows.
    for (j, write) in &healthy {
        g.job_calls(j, *write);
    }
    if !healthy.is_empty() {
        for _ in 0..spec.events {
            let idx = g.rng.random_range(0..healthy.len());
            let j = healthy[idx].0.clone();
            let lo = j.window.start.max(from);
            let hi = j.window.end.unwrap_or(to).min(to - Duration::seconds(1));
            if hi <= lo {
                continue;
            }
            let t = g.between(lo, hi);
            g.bulk_call(&j, t);
        }
    }

    let s3_ctx = |b: &str, o: &str| ("aws:s3:arn", format!("arn:aws:s3:::{b}-{ACCOUNT}/{o}"));

    // --- planted: outside-job-window (and a late write within the slack, silent)
    g.job_calls(&j_ow, true);
    let who = g.s3(&r_ow);
    let mut e = Ev::new(j_ow.window.end.expect("end") + Duration::minutes(10), "GenerateDataKey", who, &k_out);
    e.context = Some(s3_ctx("ml-artifacts", "planted-outside-window/late.json"));
    g.emit(&e);
    let who = g.s3(&r_ow);
    let mut e = Ev::new(j_ow.window.end.expect("end") + Duration::hours(2), "GenerateDataKey", who, &k_out);
    e.key_param = Some(k_out.clone());
    e.context = Some(s3_ctx("ml-artifacts", "planted-outside-window/extra.json"));
    let id = g.emit(&e);
    g.plant(
        Rule::OutsideJobWindow,
        Some(id),
        Some(&k_out),
        Some(&j_ow.arn),
        Some(&r_ow),
        "job role writes through S3 2h after its job ended",
    );

    // --- planted: unexpected-key (a key only the endpoints' role uses)
    g.job_calls(&j_uk, true);
    let who = g.s3(&r_uk);
    let mut e = Ev::new(day(2, 3), "Decrypt", who, &k_dc);
    e.context = Some(s3_ctx("ml-capture", "endpoint/capture.jsonl"));
    let id = g.emit(&e);
    g.plant(
        Rule::UnexpectedKey,
        Some(id),
        Some(&k_dc),
        Some(&j_uk.arn),
        Some(&r_uk),
        "job role reads data under the endpoints' data-capture key",
    );

    // --- planted: missing-usage (volume grant seen, no output write)
    g.job_calls(&j_mu, false);
    g.plant(
        Rule::MissingUsage,
        None,
        Some(&k_out),
        Some(&j_mu.arn),
        Some(&r_mu),
        "completed training job never wrote its output",
    );

    // --- planted: direct-use (from the container, no invokedBy)
    g.job_calls(&j_du, true);
    let mut e =
        Ev::new(day(4, 3), "Decrypt", Who::Role { arn: r_du.clone(), session: "SageMaker".into(), via: None }, &k_out);
    e.key_param = Some(k_out.clone());
    e.source_ip = Some("10.0.12.34".into());
    e.tls = Some("TLSv1.3");
    e.context = Some(("purpose", "checkpoint".into()));
    let id = g.emit(&e);
    g.plant(
        Rule::DirectUse,
        Some(id),
        Some(&k_out),
        Some(&j_du.arn),
        Some(&r_du),
        "job role calls kms:Decrypt from the training container",
    );

    // --- planted: unexpected-principal (through S3, and by alias without resources)
    let who = g.s3(&analyst);
    let mut e = Ev::new(day(1, 9), "Decrypt", who, &k_out);
    e.context = Some(s3_ctx("ml-artifacts", "train-00001/output/model.tar.gz"));
    let id = g.emit(&e);
    g.plant(
        Rule::UnexpectedPrincipal,
        Some(id),
        Some(&k_out),
        None,
        Some(&analyst),
        "analyst reads a model artifact through S3",
    );
    let mut e = Ev::new(
        day(1, 10),
        "GenerateDataKey",
        Who::Role { arn: analyst.clone(), session: "bob".into(), via: None },
        &k_out,
    );
    e.keys.clear();
    e.key_param = Some("alias/ml-output".into());
    e.source_ip = Some("198.51.100.77".into());
    e.tls = Some("TLSv1.3");
    let id = g.emit(&e);
    g.plant(
        Rule::UnexpectedPrincipal,
        Some(id),
        Some(&k_out),
        None,
        Some(&analyst),
        "analyst names the key by alias only",
    );

    // --- planted: access-denied (two; neither is also unexpected-*)
    let who = g.s3(&train_roles[0]);
    let mut e = Ev::new(day(2, 7), "Decrypt", who, &k_dc);
    e.context = Some(s3_ctx("ml-capture", "endpoint/capture.jsonl"));
    e.error = Some(("AccessDenied", format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/{}/SageMaker is not authorized to perform: kms:Decrypt on resource: {k_dc} because no identity-based policy allows the kms:Decrypt action", role_name(&train_roles[0]))));
    let id = g.emit(&e);
    g.plant(
        Rule::AccessDenied,
        Some(id),
        Some(&k_dc),
        None,
        Some(&train_roles[0]),
        "job role denied on a key it does not use",
    );
    let mut e =
        Ev::new(day(3, 9), "Decrypt", Who::Role { arn: analyst.clone(), session: "bob".into(), via: None }, &k_out);
    e.source_ip = Some("198.51.100.77".into());
    e.tls = Some("TLSv1.3");
    e.error = Some(("AccessDeniedException", "denied".into()));
    let id = g.emit(&e);
    g.plant(Rule::AccessDenied, Some(id), Some(&k_out), None, Some(&analyst), "analyst denied (AccessDeniedException)");

    // --- planted: long-term-credentials (IAM user access key, through EBS, a key outside the audit)
    let alice = format!("arn:aws:iam::{ACCOUNT}:user/Alice");
    let mut e = Ev::new(
        day(2, 11),
        "GenerateDataKeyWithoutPlaintext",
        Who::User { name: "Alice".into(), akid: "AKIAEXAMPLEALICE0001".into(), via: Some("ec2.amazonaws.com") },
        &k_ebs,
    );
    e.key_param = Some("alias/aws/ebs".into());
    e.context = Some(("aws:ebs:id", "vol-0cfb133e847d28be9".into()));
    let id = g.emit(&e);
    g.plant(Rule::LongTermCredentials, Some(id), Some(&k_ebs), None, Some(&alice), "IAM user access key AKIA…");

    // --- planted: weak-tls (an allow-listed admin's DescribeKey over TLS 1.1)
    let mut e = Ev::new(
        day(3, 12),
        "DescribeKey",
        Who::Role { arn: key_admin.clone(), session: "carol".into(), via: None },
        &k_out,
    );
    e.key_param = Some(k_out.clone());
    e.tls = Some("TLSv1.1");
    e.source_ip = Some("198.51.100.23".into());
    let id = g.emit(&e);
    g.plant(Rule::WeakTls, Some(id), Some(&k_out), None, Some(&key_admin), "TLSv1.1");

    // --- planted: key-lifecycle
    let admin = |s: &str| Who::Role { arn: key_admin.clone(), session: s.into(), via: None };
    let mut e = Ev::new(day(5, 15), "ScheduleKeyDeletion", admin("carol"), &k_vol2);
    e.key_param = Some(k_vol2.rsplit('/').next().expect("id").to_owned());
    e.tls = Some("TLSv1.3");
    e.source_ip = Some("198.51.100.23".into());
    let id = g.emit(&e);
    g.plant(
        Rule::KeyLifecycle,
        Some(id),
        Some(&k_vol2),
        None,
        Some(&key_admin),
        "deletion scheduled for a volume key in use",
    );
    let mut e = Ev::new(day(5, 16), "CreateGrant", admin("carol"), &k_vol1);
    e.key_param = Some(k_vol1.clone());
    e.grantee = Some("arn:aws:iam::999988887777:role/Outsider".into());
    e.tls = Some("TLSv1.3");
    e.source_ip = Some("198.51.100.23".into());
    let id = g.emit(&e);
    g.plant(Rule::KeyLifecycle, Some(id), Some(&k_vol1), None, Some(&key_admin), "grant to another account's role");

    // --- traps (silent)
    // Explicitly allow-listed policy change; lifecycle on a key no job uses.
    let mut e = Ev::new(day(5, 17), "PutKeyPolicy", admin("carol"), &k_out);
    e.key_param = Some(k_out.clone());
    e.tls = Some("TLSv1.3");
    e.source_ip = Some("198.51.100.23".into());
    g.emit(&e);
    let mut e = Ev::new(day(5, 18), "DisableKey", admin("carol"), &k_unused);
    e.key_param = Some(k_unused);
    e.tls = Some("TLSv1.3");
    e.source_ip = Some("198.51.100.23".into());
    g.emit(&e);
    // ReEncrypt by the admin: one record, two keys.
    let mut e = Ev::new(day(5, 19), "ReEncrypt", admin("carol"), &k_out);
    e.keys.push(k_vol1.clone());
    e.key_param = Some(k_vol1.rsplit('/').next().expect("id").to_owned());
    e.context = Some(("Project", "Alpha".into()));
    e.tls = Some("TLSv1.3");
    e.source_ip = Some("198.51.100.23".into());
    g.emit(&e);
    // The verifier's allow-listed Decrypt (prefix pattern), directly.
    let mut e = Ev::new(day(6, 3), "Decrypt", Who::Role { arn: verifier, session: "verify".into(), via: None }, &k_out);
    e.tls = Some("TLSv1.3");
    e.source_ip = Some("203.0.113.9".into());
    e.context = Some(("aws:s3:arn", format!("arn:aws:s3:::ml-artifacts-{ACCOUNT}/train-00002/output/model.tar.gz")));
    g.emit(&e);
    // DryRun by the analyst.
    let mut e =
        Ev::new(day(1, 11), "Decrypt", Who::Role { arn: analyst.clone(), session: "bob".into(), via: None }, &k_out);
    e.source_ip = Some("198.51.100.77".into());
    e.tls = Some("TLSv1.2");
    e.error =
        Some(("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.".into()));
    g.emit(&e);
    // The trail's own log reads, under a key in scope, by the analyst (also over TLS 1.1: ignored whole).
    let mut e = Ev::new(
        day(1, 12),
        "Decrypt",
        Who::Role { arn: analyst.clone(), session: "bob".into(), via: Some("s3.amazonaws.com") },
        &k_trail,
    );
    e.context = Some(("aws:cloudtrail:arn", format!("arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/management")));
    e.tls = Some("TLSv1.1");
    g.emit(&e);
    // Before `from`.
    let who = g.s3(&analyst);
    let mut e = Ev::new(from - Duration::hours(1), "Decrypt", who, &k_out);
    e.context = Some(s3_ctx("ml-artifacts", "old/model.tar.gz"));
    g.emit(&e);
    // Key rotation by AWS.
    let mut e = Ev::new(day(4, 0), "RotateKey", Who::Internal, &k_out);
    e.region = REGION;
    g.emit(&e);
    // Bucket-keys job: volume grant only; trap-late, trap-failed, trap-before: no calls at all.
    g.job_calls(&j_bk, false);
    // Volume use seen only from an AWS service principal.
    let mut e = Ev::new(
        day(5, 8) + Duration::minutes(2),
        "GenerateDataKeyWithoutPlaintext",
        Who::Service("ec2.amazonaws.com"),
        &k_vol2,
    );
    e.context = Some(("aws:ebs:id", "vol-0123456789abcdef0".into()));
    g.emit(&e);
    // Role path: CloudTrail has the path, the expectations do not.
    let path_job = Job { role_arn: r_path_trail, ..j_path };
    g.job_calls(&path_job, true);
    // Open windows: endpoint and notebook calls all week.
    for d in 0..7 {
        let who = g.s3(&model_role);
        let mut e = Ev::new(day(d, 13), "GenerateDataKey", who, &k_dc);
        e.key_param = Some(k_dc.clone());
        e.context = Some(s3_ctx("ml-capture", &format!("trap-open-endpoint/capture-{d}.jsonl")));
        g.emit(&e);
    }
    g.job_calls(&j_nb, false);

    let expectations = Expectations {
        generated_at: Some(t0 + Duration::days(7)),
        source: Source {
            kind: "synth".into(),
            region: Some(REGION.into()),
            account: Some(ACCOUNT.into()),
            documents: Vec::new(),
        },
        jobs,
        allow: vec![
            AllowEntry {
                principal: key_admin.clone(),
                keys: vec!["*".into()],
                operations: vec!["*".into()],
                reason: "key administrators".into(),
            },
            AllowEntry {
                principal: key_admin.clone(),
                keys: vec![k_out.clone()],
                operations: vec!["PutKeyPolicy".into()],
                reason: "approved policy change CHG-1234".into(),
            },
            AllowEntry {
                principal: format!("arn:aws:iam::{ACCOUNT}:role/kms-audit-*"),
                keys: vec![k_out.clone(), k_mrk],
                operations: vec!["Decrypt".into()],
                reason: "kms-audit verify".into(),
            },
        ],
        keys: vec![k_trail],
        aliases: [("alias/ml-output".to_owned(), k_out.clone())].into_iter().collect(),
        ..Default::default()
    };
    let mut planted = g.planted;
    planted.sort();
    Scenario {
        expectations,
        records: g.records,
        planted,
        from,
        to,
        slack: slack.to_std().expect("positive slack"),
        watermark,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let a = generate(&ScenarioSpec::default());
        let b = generate(&ScenarioSpec::default());
        assert_eq!(a.records, b.records);
        assert_eq!(a.planted, b.planted);
        a.expectations.validate().expect("valid expectations");
        for r in &a.records {
            assert_eq!(r["eventSource"], "kms.amazonaws.com");
            assert!(r["eventID"].is_string() && r["eventTime"].is_string());
        }
        let rules: std::collections::BTreeSet<_> = a.planted.iter().map(|p| p.rule).collect();
        assert_eq!(rules.len(), 9, "every rule but audit-gap is planted: {rules:?}");
    }
}
