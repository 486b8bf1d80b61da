//! One test per rule and per trap, on hand-built `kms_events` rows.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::Row;
use reconcile::{AllowEntry, Bucket, Expectations, Finding, Job, JobKeys, JobKind, Options, Reconciler, Rule, Window};

const A: &str = "111122223333";
fn key(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{A}:key/{id}")
}
fn role(p: &str) -> String {
    format!("arn:aws:iam::{A}:role/{p}")
}
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap()
}
fn at(min: i64) -> i64 {
    (t0() + Duration::minutes(min)).timestamp_millis()
}

fn k_out() -> String {
    key("out-1111-2222")
}
fn k_vol() -> String {
    key("vol-1111-2222")
}
fn k_other() -> String {
    key("other-1111-2222")
}
fn exec() -> String {
    role("service-role/Exec")
}

/// One training job, 0..60 min, volume + output keys, role with a path.
fn train(name: &str, role_arn: &str, start: i64, end: Option<i64>) -> Job {
    Job {
        kind: JobKind::Training,
        name: name.into(),
        arn: format!("arn:aws:sagemaker:us-east-1:{A}:training-job/{name}"),
        role_arn: role_arn.into(),
        keys: JobKeys { volume: Some(k_vol()), output: Some(k_out()), ..Default::default() },
        window: Window { start: t0() + Duration::minutes(start), end: end.map(|e| t0() + Duration::minutes(e)) },
        buckets: vec![],
        status: Some("Completed".into()),
    }
}

fn exp(jobs: Vec<Job>) -> Expectations {
    Expectations {
        jobs,
        allow: vec![AllowEntry {
            principal: role("KeyAdmin"),
            keys: vec!["*".into()],
            operations: vec!["*".into()],
            reason: "admins".into(),
        }],
        ..Default::default()
    }
}

fn opts() -> Options {
    Options {
        from: Some(t0() - Duration::days(1)),
        to: Some(t0() + Duration::days(1)),
        slack: std::time::Duration::from_secs(15 * 60),
        watermark: t0() + Duration::days(1) - Duration::minutes(1),
        run_id: "t".into(),
    }
}

/// A call by `principal` on `key` at minute `m`, through S3 (fas.s3).
fn call(id: &str, m: i64, name: &str, principal: &str, key: &str) -> Row {
    Row {
        event_id: id.into(),
        event_time: at(m),
        event_name: name.into(),
        account_id: Some(A.into()),
        key_arn: Some(key.into()),
        principal_arn: Some(principal.into()),
        principal_type: Some("AssumedRole".into()),
        invoked_by: Some("fas.s3.amazonaws.com".into()),
        source_ip: Some("fas.s3.amazonaws.com".into()),
        ..Default::default()
    }
}

fn direct(mut r: Row, ip: &str) -> Row {
    r.invoked_by = None;
    r.source_ip = Some(ip.into());
    r.tls_version = Some("TLSv1.3".into());
    r
}

/// Healthy evidence for the job `train(.., 0, 60)` of `role`: volume grant and output write.
fn healthy(role_arn: &str) -> Vec<Row> {
    let mut g = call("grant", -2, "CreateGrant", role_arn, &k_vol());
    g.invoked_by = Some("sagemaker.amazonaws.com".into());
    g.source_ip = Some("sagemaker.amazonaws.com".into());
    g.grantee_principal = Some("sagemaker.amazonaws.com".into());
    vec![g, call("write", 55, "GenerateDataKey", role_arn, &k_out())]
}

fn run_with(e: &Expectations, o: Options, rows: &[Row]) -> Vec<Finding> {
    let mut r = Reconciler::new(e, o).unwrap();
    r.observe(&common::batch(rows)).unwrap();
    r.finish()
}

fn run(e: &Expectations, rows: &[Row]) -> Vec<Finding> {
    run_with(e, opts(), rows)
}

fn rules(f: &[Finding]) -> Vec<(Rule, Option<&str>)> {
    f.iter().map(|f| (f.rule, f.event_id.as_deref())).collect()
}

#[test]
fn healthy_job_is_silent() {
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    assert_eq!(rules(&run(&e, &healthy(&exec()))), vec![]);
}

#[test]
fn s3_invokers_are_through_a_service_and_direct_calls_are_not() {
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    let mut rows = healthy(&exec());
    for (i, host) in ["s3.amazonaws.com", "fas.s3.amazonaws.com", "internal.amazonaws.com"].iter().enumerate() {
        let mut r = call(&format!("s3-{i}"), 10 + i as i64, "Decrypt", &exec(), &k_out());
        r.invoked_by = Some((*host).into());
        r.source_ip = Some((*host).into());
        rows.push(r);
    }
    // Older records: only sourceIPAddress names the service.
    let mut r = call("ip-only", 20, "Decrypt", &exec(), &k_out());
    r.invoked_by = None;
    rows.push(r);
    rows.push(direct(call("direct", 30, "Decrypt", &exec(), &k_out()), "10.0.1.2"));
    let f = run(&e, &rows);
    assert_eq!(rules(&f), vec![(Rule::DirectUse, Some("direct"))]);
    assert_eq!(f[0].job_arn.as_deref(), Some(e.jobs[0].arn.as_str()));
    assert_eq!(f[0].severity, reconcile::Severity::Medium);
}

#[test]
fn role_paths_match_whatever_side_has_them() {
    // Expectations without the path, CloudTrail with it (and the reverse).
    let e = exp(vec![train("j1", &role("Exec"), 0, Some(60))]);
    assert_eq!(rules(&run(&e, &healthy(&role("service-role/Exec")))), vec![]);
    let e = exp(vec![train("j1", &role("team/ml/Exec"), 0, Some(60))]);
    assert_eq!(rules(&run(&e, &healthy(&role("Exec")))), vec![]);
}

#[test]
fn alias_only_records_resolve_and_key_arn_wins_over_alias() {
    let mut e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    e.aliases.insert("alias/ml-output".into(), k_out());
    let mut by_alias = call("alias", 10, "Decrypt", &role("Analyst"), &k_out());
    by_alias.key_arn = None;
    by_alias.key_alias = Some("alias/ml-output".into());
    // The alias ARN form resolves too.
    let mut by_alias_arn = by_alias.clone();
    by_alias_arn.event_id = "alias-arn".into();
    by_alias_arn.key_alias = Some(format!("arn:aws:kms:us-east-1:{A}:alias/ml-output"));
    // key_arn set: the alias column is not used for the key.
    let mut both = call("both", 12, "Decrypt", &exec(), &k_out());
    both.key_alias = Some("alias/something-else".into());
    // Unknown alias, no key ARN: no key, no attribution.
    let mut unknown = by_alias.clone();
    unknown.event_id = "unknown".into();
    unknown.key_alias = Some("alias/unknown".into());
    let mut rows = healthy(&exec());
    rows.extend([by_alias, by_alias_arn, both, unknown]);
    let f = run(&e, &rows);
    assert_eq!(
        rules(&f),
        vec![(Rule::UnexpectedPrincipal, Some("alias")), (Rule::UnexpectedPrincipal, Some("alias-arn"))]
    );
    assert_eq!(f[0].key_arn.as_deref(), Some(k_out().as_str()));
}

#[test]
fn reencrypt_rows_are_judged_per_key() {
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    let mut rows = healthy(&exec());
    // Analyst re-encrypts from the output key to a key outside the audit: one finding (the in-scope key).
    rows.push(direct(call("re", 20, "ReEncrypt", &role("Analyst"), &k_out()), "198.51.100.1"));
    rows.push(direct(call("re", 20, "ReEncrypt", &role("Analyst"), &k_other()), "198.51.100.1"));
    // The admin's ReEncrypt between two job keys: allowed, silent.
    rows.push(direct(call("re-admin", 21, "ReEncrypt", &role("KeyAdmin"), &k_out()), "198.51.100.1"));
    rows.push(direct(call("re-admin", 21, "ReEncrypt", &role("KeyAdmin"), &k_vol()), "198.51.100.1"));
    // A job role's ReEncrypt through S3: one key expected, the other not.
    rows.push(call("re-job", 22, "ReEncrypt", &exec(), &k_out()));
    rows.push(call("re-job", 22, "ReEncrypt", &exec(), &k_other()));
    let f = run(&e, &rows);
    let got: Vec<_> = f.iter().map(|f| (f.rule, f.event_id.as_deref().unwrap(), f.key_arn.clone().unwrap())).collect();
    assert_eq!(got, vec![(Rule::UnexpectedPrincipal, "re", k_out()), (Rule::UnexpectedKey, "re-job", k_other()),]);
}

#[test]
fn denied_calls_are_access_denied_only_and_no_evidence() {
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    let mut rows = healthy(&exec());
    rows.pop(); // no successful output write
    let mut d1 = call("d1", 20, "Decrypt", &role("Analyst"), &k_out());
    d1.error_code = Some("AccessDenied".into());
    let mut d2 = call("d2", 30, "GenerateDataKey", &exec(), &k_other());
    d2.error_code = Some("AccessDeniedException".into());
    let mut d3 = call("d3", 40, "GenerateDataKey", &exec(), &k_out()); // the job's write, denied
    d3.error_code = Some("AccessDenied".into());
    let mut d4 = call("d4", 41, "ScheduleKeyDeletion", &role("KeyAdmin"), &k_out());
    d4.error_code = Some("AccessDeniedException".into());
    rows.extend([d1, d2, d3, d4]);
    let f = run(&e, &rows);
    assert_eq!(
        rules(&f),
        vec![
            (Rule::AccessDenied, Some("d1")),
            (Rule::AccessDenied, Some("d2")),
            (Rule::AccessDenied, Some("d3")),
            (Rule::AccessDenied, Some("d4")),
            (Rule::MissingUsage, None),
        ]
    );
}

#[test]
fn other_errors_still_count_as_attempts() {
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    let mut rows = healthy(&exec());
    rows[1].error_code = Some("KMSInvalidStateException".into()); // the write failed, but was made
    let mut x = direct(call("x", 20, "Decrypt", &role("Analyst"), &k_out()), "198.51.100.1");
    x.error_code = Some("KMSInvalidStateException".into());
    let mut y = direct(call("y", 21, "DisableKey", &role("KeyAdmin"), &k_out()), "198.51.100.1");
    y.error_code = Some("KMSInvalidStateException".into()); // failed change: not lifecycle
    rows.extend([x, y]);
    assert_eq!(rules(&run(&e, &rows)), vec![(Rule::UnexpectedPrincipal, Some("x"))]);
}

#[test]
fn dry_runs_and_trail_log_reads_are_ignored() {
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    let mut rows = healthy(&exec());
    let mut dry = direct(call("dry", 10, "Decrypt", &role("Analyst"), &k_out()), "198.51.100.1");
    dry.error_code = Some("DryRunOperationException".into());
    dry.tls_version = Some("TLSv1".into());
    dry.principal_type = Some("IAMUser".into());
    let mut trail = call("trail", 11, "Decrypt", &role("Analyst"), &k_out());
    trail.encryption_context =
        Some(vec![("aws:cloudtrail:arn".into(), format!("arn:aws:cloudtrail:us-east-1:{A}:trail/main"))]);
    trail.tls_version = Some("TLSv1.1".into());
    rows.extend([dry, trail]);
    let mut r = Reconciler::new(&e, opts()).unwrap();
    r.observe(&common::batch(&rows)).unwrap();
    assert_eq!(r.stats().dry_run, 1);
    assert_eq!(r.stats().trail_reads, 1);
    assert_eq!(rules(&r.finish()), vec![]);
}

#[test]
fn multi_region_keys_are_one_key() {
    let mrk = key("mrk-0123456789abcdef");
    let mut j = train("j1", &exec(), 0, Some(60));
    j.keys.output = Some(mrk.clone());
    let e = exp(vec![j]);
    let mut rows = healthy(&exec());
    rows[1].key_arn = Some(mrk.replace("us-east-1", "us-west-2"));
    rows.push(call("west", 20, "Decrypt", &exec(), &mrk.replace("us-east-1", "eu-west-1")));
    // A non-mrk key ID in another Region is another key.
    rows.push(call("other-region", 21, "Decrypt", &exec(), &k_out().replace("us-east-1", "us-west-2")));
    let f = run(&e, &rows);
    assert_eq!(rules(&f), vec![(Rule::UnexpectedKey, Some("other-region"))]);
}

#[test]
fn slack_boundaries_and_nearest_job() {
    let e = exp(vec![train("j1", &exec(), 0, Some(60)), train("j2", &exec(), 200, Some(260))]);
    let mut rows = healthy(&exec());
    rows.push(call("j2-write", 250, "GenerateDataKey", &exec(), &k_out())); // j2's evidence (volume too)
    rows.push(call("j2-vol", 250, "Decrypt", &exec(), &k_vol()));
    rows.push(call("late-ok", 60 + 15, "GenerateDataKey", &exec(), &k_out())); // end + slack: inside
    rows.push(call("early-ok", -15, "Decrypt", &exec(), &k_out())); // start - slack: inside
    let mut just_after = call("late-bad", 60 + 15, "GenerateDataKey", &exec(), &k_out());
    just_after.event_time += 1; // 1 ms past the slack
    rows.push(just_after);
    rows.push(call("near-j2", 170, "GenerateDataKey", &exec(), &k_out())); // 95 after j1, 15 before j2 - slack
    rows.push(call("before-from", -60 * 48, "GenerateDataKey", &exec(), &k_out())); // outside [from, to)
    let f = run(&e, &rows);
    assert_eq!(rules(&f), vec![(Rule::OutsideJobWindow, Some("late-bad")), (Rule::OutsideJobWindow, Some("near-j2"))]);
    assert_eq!(f[0].job_arn.as_deref(), Some(e.jobs[0].arn.as_str()));
    assert_eq!(f[1].job_arn.as_deref(), Some(e.jobs[1].arn.as_str()));
}

#[test]
fn open_windows_never_end_and_never_miss() {
    let mut ep = train("ep", &role("EndpointRole"), -60 * 24 * 30, None);
    ep.kind = JobKind::Endpoint;
    ep.keys = JobKeys { endpoint: Some(k_vol()), data_capture: Some(k_out()), ..Default::default() };
    let e = exp(vec![ep]);
    let rows = vec![call("capture", 60 * 20, "GenerateDataKey", &role("EndpointRole"), &k_out())];
    assert_eq!(rules(&run(&e, &rows)), vec![]);
    assert_eq!(rules(&run(&e, &[])), vec![], "open windows are never missing-usage");
}

#[test]
fn missing_usage_policy() {
    let base = train("j1", &exec(), 0, Some(60));
    // Nothing at all: volume and output are both required → one finding per key.
    let f = run(&exp(vec![base.clone()]), &[]);
    assert_eq!(f.len(), 2);
    assert!(f.iter().all(|f| f.rule == Rule::MissingUsage && f.event_id.is_none()));
    assert_eq!(f[0].event_time, base.window.end);
    assert_eq!(f[0].principal_arn.as_deref(), Some(exec().as_str()));
    // Volume use only by an AWS service principal counts; output does not.
    let mut svc = call("ebs", 5, "GenerateDataKeyWithoutPlaintext", "service:ec2.amazonaws.com", &k_vol());
    svc.principal_type = Some("AWSService".into());
    let mut svc_out = svc.clone();
    svc_out.key_arn = Some(k_out());
    let f = run(&exp(vec![base.clone()]), &[svc, svc_out]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].key_arn.as_deref(), Some(k_out().as_str()));
    // All buckets use Bucket Keys: the output key is not required.
    let mut bk = base.clone();
    bk.buckets = vec![Bucket { arn: "arn:aws:s3:::b1".into(), bucket_key_enabled: true, keys: vec![] }];
    let f = run(&exp(vec![bk.clone()]), &healthy(&exec())[..1]);
    assert_eq!(rules(&f), vec![]);
    bk.buckets.push(Bucket { arn: "arn:aws:s3:::b2".into(), bucket_key_enabled: false, keys: vec![] });
    assert_eq!(run(&exp(vec![bk]), &healthy(&exec())[..1]).len(), 1, "one bucket without Bucket Keys");
    // Failed / stopped jobs are excused.
    let mut failed = base.clone();
    failed.status = Some("Failed".into());
    assert_eq!(run(&exp(vec![failed]), &[]).len(), 0);
    // Not decidable: end + slack after the watermark, start before `from`, open.
    let mut o = opts();
    o.watermark = t0() + Duration::minutes(60 + 14);
    assert_eq!(run_with(&exp(vec![base.clone()]), o, &[]).len(), 0, "end + slack > watermark");
    let mut o = opts();
    o.watermark = t0() + Duration::minutes(60 + 15);
    assert_eq!(run_with(&exp(vec![base.clone()]), o, &[]).len(), 2, "end + slack == watermark");
    let mut o = opts();
    o.from = Some(t0() + Duration::minutes(1));
    assert_eq!(run_with(&exp(vec![base.clone()]), o, &[]).len(), 0, "starts before from");
    // Processing: only the volume is required; endpoint data capture never.
    let mut p = base.clone();
    p.kind = JobKind::Processing;
    let f = run(&exp(vec![p]), &healthy(&exec())[..1]);
    assert_eq!(rules(&f), vec![]);
    // Evidence by another role does not count (roles are shared, windows are not).
    let f = run(&exp(vec![base]), &healthy(&role("OtherRole")));
    assert_eq!(f.iter().filter(|f| f.rule == Rule::MissingUsage).count(), 2);
}

#[test]
fn shared_roles_attribute_to_any_job_of_the_role() {
    // Two jobs share a role; one uses a key the other does not.
    let mut j2 = train("j2", &exec(), 100, Some(160));
    j2.keys.output = Some(k_other());
    let e = exp(vec![train("j1", &exec(), 0, Some(60)), j2]);
    let mut rows = healthy(&exec());
    rows.push(call("j2-write", 150, "GenerateDataKey", &exec(), &k_other()));
    let mut g = call("j2-vol", 100, "CreateGrant", &exec(), &k_vol());
    g.grantee_principal = Some("sagemaker.amazonaws.com".into());
    rows.push(g);
    // k_other used during j1's window: j2 (same role) uses it, but not then → outside-job-window.
    rows.push(call("k-other-early", 30, "Decrypt", &exec(), &k_other()));
    let f = run(&e, &rows);
    assert_eq!(rules(&f), vec![(Rule::OutsideJobWindow, Some("k-other-early"))]);
    assert_eq!(f[0].job_arn.as_deref(), Some(e.jobs[1].arn.as_str()));
}

#[test]
fn unexpected_principal_only_on_keys_under_audit() {
    let mut e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    e.keys.push(k_other());
    let mut rows = healthy(&exec());
    rows.push(call("in-scope", 10, "Decrypt", &role("Analyst"), &k_other()));
    rows.push(call("not-audited", 11, "Decrypt", &role("Analyst"), &key("someone-elses")));
    rows.push(call("describe", 12, "DescribeKey", &role("Analyst"), &k_out())); // not a use
    let mut svc = call("svc", 13, "Decrypt", "service:cloudtrail.amazonaws.com", &k_out());
    svc.principal_type = Some("AWSService".into());
    rows.push(svc);
    let mut internal = call("internal", 14, "Decrypt", "aws-internal", &k_out());
    internal.principal_type = None;
    rows.push(internal);
    assert_eq!(rules(&run(&e, &rows)), vec![(Rule::UnexpectedPrincipal, Some("in-scope"))]);
}

#[test]
fn allow_list_matching() {
    let mut e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    e.allow.push(AllowEntry {
        principal: format!("arn:aws:iam::{A}:role/kms-audit-*"),
        keys: vec![k_out()],
        operations: vec!["Decrypt".into()],
        reason: "verify".into(),
    });
    // A job role allowed to use an input key at any time.
    e.allow.push(AllowEntry {
        principal: role("Exec"),
        keys: vec![k_other()],
        operations: vec!["*".into()],
        reason: "input data".into(),
    });
    let mut rows = healthy(&exec());
    rows.push(direct(call("verify", 10, "Decrypt", &role("kms-audit-verifier"), &k_out()), "203.0.113.1"));
    rows.push(direct(call("verify-gdk", 11, "GenerateDataKey", &role("kms-audit-verifier"), &k_out()), "203.0.113.1"));
    rows.push(direct(call("verify-vol", 12, "Decrypt", &role("kms-audit-verifier"), &k_vol()), "203.0.113.1"));
    rows.push(call("input", 600, "Decrypt", &exec(), &k_other())); // outside any window, allowed
    let f = run(&e, &rows);
    assert_eq!(
        rules(&f),
        vec![(Rule::UnexpectedPrincipal, Some("verify-gdk")), (Rule::UnexpectedPrincipal, Some("verify-vol"))]
    );
    let mut r = Reconciler::new(&e, opts()).unwrap();
    assert_eq!(r.allow_reason(&role("kms-audit-verifier"), Some(&k_out()), "Decrypt"), Some("verify"));
}

#[test]
fn key_lifecycle() {
    let mut e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    e.allow.push(AllowEntry {
        principal: role("KeyAdmin"),
        keys: vec![k_out()],
        operations: vec!["PutKeyPolicy".into()],
        reason: "approved change".into(),
    });
    e.allow.push(AllowEntry {
        principal: role("Partner"),
        keys: vec![k_vol()],
        operations: vec!["Decrypt".into()],
        reason: "partner".into(),
    });
    let admin = role("KeyAdmin");
    let d = |id: &str, m: i64, name: &str, k: &str| direct(call(id, m, name, &admin, k), "198.51.100.1");
    let mut rows = healthy(&exec());
    rows.push(d("sched", 100, "ScheduleKeyDeletion", &k_vol()));
    rows.push(d("disable", 101, "DisableKey", &k_out()));
    rows.push(d("rot", 102, "DisableKeyRotation", &k_out()));
    rows.push(d("policy-ok", 103, "PutKeyPolicy", &k_out())); // explicitly allowed
    rows.push(d("policy", 104, "PutKeyPolicy", &k_vol())); // allowed only through "*"
    rows.push(d("unused", 105, "DisableKey", &k_other())); // no job uses it
    rows.push(d("enable", 106, "EnableKeyRotation", &k_out())); // not a lifecycle change we report
    let mut grant = |id: &str, grantee: &str| {
        let mut g = d(id, 107, "CreateGrant", &k_vol());
        g.grantee_principal = Some(grantee.into());
        rows.push(g);
    };
    grant("g-outsider", "arn:aws:iam::999988887777:role/Outsider");
    grant("g-service", "ec2.us-east-1.amazonaws.com");
    grant("g-jobrole", &role("Exec")); // job role, without its path
    grant("g-partner", &role("Partner")); // allow-listed for the key
    let f = run(&e, &rows);
    assert_eq!(
        rules(&f),
        vec![
            (Rule::KeyLifecycle, Some("sched")),
            (Rule::KeyLifecycle, Some("disable")),
            (Rule::KeyLifecycle, Some("rot")),
            (Rule::KeyLifecycle, Some("policy")),
            (Rule::KeyLifecycle, Some("g-outsider")),
        ]
    );
    assert!(f.iter().all(|f| f.severity == reconcile::Severity::High));
}

#[test]
fn long_term_credentials_and_weak_tls() {
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    let mut rows = healthy(&exec());
    let mut u = direct(call("user", 10, "Decrypt", &format!("arn:aws:iam::{A}:user/Alice"), &key("x")), "192.0.2.1");
    u.principal_type = Some("IAMUser".into());
    u.access_key_id = Some("ASIAEXAMPLE".into()); // console session: still an IAM user
    let mut root = direct(call("root", 11, "ListKeys", &format!("arn:aws:iam::{A}:root"), &key("x")), "192.0.2.1");
    root.principal_type = Some("Root".into());
    root.access_key_id = Some("AKIAROOTKEY".into());
    root.key_arn = None;
    let mut tls10 = direct(call("tls10", 12, "DescribeKey", &role("KeyAdmin"), &k_out()), "192.0.2.1");
    tls10.tls_version = Some("TLSv1".into());
    let mut tls11 = tls10.clone();
    tls11.event_id = "tls11".into();
    tls11.tls_version = Some("TLSv1.1".into());
    let mut tls12 = tls10.clone();
    tls12.event_id = "tls12".into();
    tls12.tls_version = Some("TLSv1.2".into());
    rows.extend([u, root, tls10, tls11, tls12]);
    let f = run(&e, &rows);
    assert_eq!(
        rules(&f),
        vec![
            (Rule::LongTermCredentials, Some("user")),
            (Rule::LongTermCredentials, Some("root")),
            (Rule::WeakTls, Some("tls10")),
            (Rule::WeakTls, Some("tls11")),
        ]
    );
    assert_eq!(f[2].severity, reconcile::Severity::Low);
}

#[test]
fn bucket_keys_of_a_job_are_expected_in_its_window() {
    let mut j = train("j1", &exec(), 0, Some(60));
    j.buckets = vec![Bucket { arn: "arn:aws:s3:::input".into(), bucket_key_enabled: true, keys: vec![k_other()] }];
    let e = exp(vec![j]);
    let mut rows = healthy(&exec());
    let mut read = call("read", 10, "Decrypt", &exec(), &k_other());
    read.encryption_context = Some(vec![("aws:s3:arn".into(), "arn:aws:s3:::input".into())]);
    rows.push(read);
    rows.push(call("read-late", 200, "Decrypt", &exec(), &k_other()));
    assert_eq!(rules(&run(&e, &rows)), vec![(Rule::OutsideJobWindow, Some("read-late"))]);
}

#[test]
fn batches_need_the_required_columns_only() {
    use arrow::array::RecordBatch;
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    let full = common::batch(&[direct(call("d", 10, "Decrypt", &exec(), &k_out()), "10.0.0.1")]);
    let idx: Vec<usize> = reconcile::REQUIRED_COLUMNS.iter().map(|c| full.schema().index_of(c).unwrap()).collect();
    let projected: RecordBatch = full.project(&idx).unwrap();
    let mut r = Reconciler::new(&e, opts()).unwrap();
    r.observe(&projected).unwrap();
    assert_eq!(r.finish().iter().filter(|f| f.rule == Rule::DirectUse).count(), 1);

    let without = full.project(&idx[1..]).unwrap();
    let mut r = Reconciler::new(&e, opts()).unwrap();
    let err = r.observe(&without).unwrap_err().to_string();
    assert!(err.contains("event_id"), "{err}");
}

#[test]
fn string_views_and_dictionaries_are_read() {
    use arrow::compute::cast;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let e = exp(vec![train("j1", &exec(), 0, Some(60))]);
    let full = common::batch(&[direct(call("d", 10, "Decrypt", &exec(), &k_out()), "10.0.0.1")]);
    let mut fields = Vec::new();
    let mut cols = Vec::new();
    for (f, c) in full.schema().fields().iter().zip(full.columns()) {
        let (dt, c) = match (f.name().as_str(), f.data_type()) {
            ("principal_arn", _) => {
                let t = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                (t.clone(), cast(c, &t).unwrap())
            }
            (_, DataType::Utf8) => (DataType::Utf8View, cast(c, &DataType::Utf8View).unwrap()),
            _ => (f.data_type().clone(), Arc::clone(c)),
        };
        fields.push(Field::new(f.name(), dt, f.is_nullable()));
        cols.push(c);
    }
    let b = arrow::array::RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let mut r = Reconciler::new(&e, opts()).unwrap();
    r.observe(&b).unwrap();
    assert_eq!(r.finish().iter().filter(|f| f.rule == Rule::DirectUse).count(), 1);
}

#[test]
fn shared_fixture_records() {
    // The twelve records of the shared fixtures, against expectations for their execution role.
    let text = include_str!("../../../tests/data/cloudtrail/kms-examples.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let records = v["Records"].as_array().unwrap().clone();
    let exec_role = format!("arn:aws:iam::{A}:role/service-role/AmazonSageMaker-ExecutionRole-20250101T000000");
    let k1 = key("1234abcd-12ab-34cd-56ef-1234567890ab");
    let mrk = "arn:aws:kms:us-east-1:444455556666:key/mrk-5678efgh56ef78gh90ij5678efgh90ij".to_owned();
    let e = Expectations {
        jobs: vec![Job {
            kind: JobKind::Training,
            name: "churn-xgb-2025-03-14-09-01-55-123".into(),
            arn: format!("arn:aws:sagemaker:us-east-1:{A}:training-job/churn-xgb-2025-03-14-09-01-55-123"),
            role_arn: exec_role,
            keys: JobKeys { volume: Some(k1), output: Some(mrk), ..Default::default() },
            window: Window {
                start: Utc.with_ymd_and_hms(2025, 3, 14, 9, 3, 0).unwrap(),
                end: Some(Utc.with_ymd_and_hms(2025, 3, 14, 9, 45, 0).unwrap()),
            },
            buckets: vec![],
            status: Some("Completed".into()),
        }],
        allow: vec![AllowEntry {
            principal: role("KeyAdmin"),
            keys: vec!["*".into()],
            operations: vec!["*".into()],
            reason: "admins".into(),
        }],
        ..Default::default()
    };
    let o = Options {
        from: Some(Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()),
        to: Some(Utc.with_ymd_and_hms(2025, 9, 30, 0, 0, 0).unwrap()),
        slack: std::time::Duration::from_secs(900),
        watermark: Utc.with_ymd_and_hms(2025, 9, 30, 0, 0, 0).unwrap(),
        run_id: "fixtures".into(),
    };
    let mut r = Reconciler::new(&e, o).unwrap();
    r.observe(&common::batch(&common::all_rows(&records))).unwrap();
    let got: Vec<_> = r.finish().iter().map(|f| (f.rule, f.event_id.clone().unwrap_or_default())).collect();
    assert_eq!(
        got,
        vec![
            // 09:05 Decrypt via fas.s3 with the volume key, 09:41 GenerateDataKey on the mrk: expected.
            // 10:15 denied Decrypt.
            (Rule::AccessDenied, "e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a8b".to_owned()),
            // 11:00 Alice's EBS call: IAM user, key outside the audit.
            (Rule::LongTermCredentials, "a7b8c9d0-e1f2-4a3b-9c4d-5e6f7a8b9c0d".to_owned()),
            // 2025-03-15 Alice: ScheduleKeyDeletion of a key no job uses, EnableKeyRotation.
            (Rule::LongTermCredentials, "c5d6e7f8-a9b0-4c1d-9e2f-3a4b5c6d7e8f".to_owned()),
            (Rule::LongTermCredentials, "e7f8a9b0-c1d2-4e3f-9a4b-5c6d7e8f9a0b".to_owned()),
            // KeyAdmin's PutKeyPolicy on the job's volume key (allowed only through "*").
            (Rule::KeyLifecycle, "b0c1d2e3-f4a5-4b6c-9d7e-8f9a0b1c2d3e".to_owned()),
        ]
    );
}
