//! The streaming reconciler: observed KMS calls against expected SageMaker use.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};

use crate::arn;
use crate::columns::*;
use crate::expectations::{join_errors, Expectations, JobKind, Purpose};
use crate::finding::{Finding, Rule};
use crate::windows::{FxMap, Pending, Windows};
use crate::Error;

/// Operations that use a key (cryptographic operations, and `CreateGrant`, which hands out use).
/// Only these are judged by `unexpected-principal`, `unexpected-key`, `outside-job-window` and
/// `direct-use`, and count as usage for `missing-usage`. Read-only management calls
/// (`DescribeKey`, `ListGrants`, …), which SageMaker makes with the *caller's* identity when a
/// job is created, are not uses.
pub const USE_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "ReEncrypt",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "CreateGrant",
];

/// Operations reported by `key-lifecycle` on a key in use (plus `CreateGrant` to an unknown
/// grantee).
pub const LIFECYCLE_OPERATIONS: &[&str] = &["ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy", "DisableKeyRotation"];

/// `tlsDetails.tlsVersion` values below TLS 1.2.
pub const WEAK_TLS_VERSIONS: &[&str] = &["TLSv1", "TLSv1.0", "TLSv1.1", "SSLv3", "SSLv2"];

/// Encryption-context key of the trail's own log-file reads (ignored).
pub const CLOUDTRAIL_CONTEXT_KEY: &str = "aws:cloudtrail:arn";

/// Error code of DryRun calls (ignored).
pub const DRY_RUN_ERROR: &str = "DryRunOperationException";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Use,
    Grant,
    Lifecycle,
    Other,
}

#[inline]
fn classify(name: &str) -> Op {
    match name {
        "Decrypt"
        | "Encrypt"
        | "GenerateDataKey"
        | "GenerateDataKeyWithoutPlaintext"
        | "GenerateDataKeyPair"
        | "GenerateDataKeyPairWithoutPlaintext"
        | "ReEncrypt"
        | "Sign"
        | "Verify"
        | "GenerateMac"
        | "VerifyMac"
        | "DeriveSharedSecret" => Op::Use,
        "CreateGrant" => Op::Grant,
        "ScheduleKeyDeletion" | "DisableKey" | "PutKeyPolicy" | "DisableKeyRotation" => Op::Lifecycle,
        _ => Op::Other,
    }
}

/// Whether a denied call: `errorCode` `AccessDenied`, `AccessDeniedException`, ….
#[inline]
pub fn is_denied(error_code: &str) -> bool {
    error_code.starts_with("AccessDenied")
}

/// Reconcile parameters.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events before this are skipped (`None`: no lower bound).
    pub from: Option<DateTime<Utc>>,
    /// Events at or after this are skipped (`None`: no upper bound).
    pub to: Option<DateTime<Utc>>,
    /// Widening of every job window on both sides (provisioning before the recorded start, S3
    /// and EBS finishing after the end), and arrival allowance for `missing-usage`.
    pub slack: Duration,
    /// "As of" time: the lake is taken as complete up to here. `missing-usage` is only decided
    /// for windows whose end + slack is at or before it.
    pub watermark: DateTime<Utc>,
    /// Copied into every finding.
    pub run_id: String,
}

impl Options {
    /// No bounds, 15 minutes of slack.
    pub fn new(watermark: DateTime<Utc>, run_id: impl Into<String>) -> Self {
        Options { from: None, to: None, slack: Duration::from_secs(15 * 60), watermark, run_id: run_id.into() }
    }
}

/// Counters of what `observe` saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub rows: u64,
    pub in_range: u64,
    pub dry_run: u64,
    pub trail_reads: u64,
    pub denied: u64,
}

#[derive(Debug, Clone)]
struct JobRec {
    arn: String,
    name: String,
    kind: JobKind,
    role_arn: String,
    account: Option<String>,
    start: i64,
    end: Option<i64>,
}

#[derive(Debug, Clone)]
struct KeyRec {
    in_use: bool,
    in_scope: bool,
}

#[derive(Debug, Clone)]
struct Req {
    job: u32,
    key_arn: String,
    purposes: Vec<Purpose>,
}

#[derive(Debug, Clone)]
enum PMatch {
    Prefix(String),
    Role(String),
    Exact(String),
}

impl PMatch {
    fn new(p: &str) -> Self {
        if let Some(prefix) = p.strip_suffix('*') {
            PMatch::Prefix(prefix.to_owned())
        } else if let Some(rk) = arn::role_key(p) {
            PMatch::Role(rk)
        } else {
            PMatch::Exact(p.to_owned())
        }
    }

    fn matches(&self, principal: &str, principal_role: Option<&str>) -> bool {
        match self {
            PMatch::Prefix(p) => principal.starts_with(p.as_str()),
            PMatch::Role(r) => principal_role == Some(r.as_str()),
            PMatch::Exact(e) => principal == e,
        }
    }
}

#[derive(Debug, Clone)]
struct AllowRec {
    principal: PMatch,
    /// `None`: any key.
    keys: Option<Vec<u32>>,
    /// `None`: any operation.
    ops: Option<Vec<String>>,
    reason: String,
}

impl AllowRec {
    fn key_ok(&self, key: Option<u32>) -> bool {
        match &self.keys {
            None => true,
            Some(ks) => key.is_some_and(|k| ks.contains(&k)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PClass {
    /// `service:<host>` or `aws-internal`: an AWS service acting as itself.
    Service,
    /// Anything else (roles, users, root, federated…).
    Other,
}

#[derive(Debug, Clone)]
struct PInfo {
    class: PClass,
    role: Option<u32>,
    allow: Vec<u32>,
}

/// Where a row's key came from, for the finding's `key_arn`.
#[derive(Debug, Clone, Copy)]
enum KeyRef<'a> {
    Arn(&'a str),
    Alias(u32),
    None,
}

/// Per-row values handed to `emit`.
#[derive(Debug)]
struct Row<'a> {
    id: Option<&'a str>,
    t: i64,
    name: Option<&'a str>,
    account: Option<&'a str>,
    principal: Option<&'a str>,
    key: KeyRef<'a>,
}

/// Streams `kms_events` batches against expectations; memory is bounded by the number of jobs,
/// keys and distinct principals, not by the number of events.
#[derive(Debug, Clone)]
pub struct Reconciler {
    run_id: String,
    from: i64,
    to: i64,
    slack: i64,
    jobs: Vec<JobRec>,
    keys: Vec<KeyRec>,
    key_index: FxMap<String, u32>,
    /// alias (`alias/x` or alias ARN) → index in `alias_targets`
    aliases: FxMap<String, u32>,
    /// (key ARN, key index)
    alias_targets: Vec<(String, u32)>,
    roles: FxMap<String, u32>,
    role_windows: Vec<Windows>,
    rk: FxMap<(u32, u32), u32>,
    rk_windows: Vec<Windows>,
    rk_pending: Vec<Pending>,
    service_pending: Vec<Option<Pending>>,
    reqs: Vec<Req>,
    done: Vec<bool>,
    allow: Vec<AllowRec>,
    pindex: FxMap<Box<str>, u32>,
    pinfos: Vec<PInfo>,
    kcache: FxMap<Box<str>, Option<u32>>,
    findings: Vec<Finding>,
    stats: Stats,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn to_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

impl Reconciler {
    /// Indexes the expectations (validated first).
    pub fn new(exp: &Expectations, opts: Options) -> Result<Self, Error> {
        exp.validate().map_err(|errs| Error::Expectations(join_errors(&errs)))?;
        let slack = i64::try_from(opts.slack.as_millis()).unwrap_or(i64::MAX / 4);
        let from = opts.from.map(ms).unwrap_or(i64::MIN);
        let to = opts.to.map(ms).unwrap_or(i64::MAX);
        let watermark = ms(opts.watermark);
        let mut r = Reconciler {
            run_id: opts.run_id,
            from,
            to,
            slack,
            jobs: Vec::new(),
            keys: Vec::new(),
            key_index: FxMap::default(),
            aliases: FxMap::default(),
            alias_targets: Vec::new(),
            roles: FxMap::default(),
            role_windows: Vec::new(),
            rk: FxMap::default(),
            rk_windows: Vec::new(),
            rk_pending: Vec::new(),
            service_pending: Vec::new(),
            reqs: Vec::new(),
            done: Vec::new(),
            allow: Vec::new(),
            pindex: FxMap::default(),
            pinfos: Vec::new(),
            kcache: FxMap::default(),
            findings: Vec::new(),
            stats: Stats::default(),
        };

        // Job ARN ranks, for ties resolved by the smallest ARN (as `ORDER BY job_arn` does).
        let mut order: Vec<usize> = (0..exp.jobs.len()).collect();
        order.sort_by(|&a, &b| exp.jobs[a].arn.cmp(&exp.jobs[b].arn));
        let mut rank = vec![0u32; exp.jobs.len()];
        for (rk, &j) in order.iter().enumerate() {
            rank[j] = rk as u32;
        }

        let mut role_items: Vec<Vec<(i64, i64, u32, u32)>> = Vec::new();
        let mut rk_items: Vec<Vec<(i64, i64, u32, u32)>> = Vec::new();
        let mut rk_req: Vec<Vec<(i64, i64, u32)>> = Vec::new();
        let mut svc_req: BTreeMap<u32, Vec<(i64, i64, u32)>> = BTreeMap::new();

        for (ji, j) in exp.jobs.iter().enumerate() {
            let start = ms(j.window.start);
            let end = j.window.end.map(ms);
            let lo = start.saturating_sub(slack);
            let hi = end.map_or(i64::MAX, |e| e.saturating_add(slack));
            let job = ji as u32;
            r.jobs.push(JobRec {
                arn: j.arn.clone(),
                name: j.name.clone(),
                kind: j.kind,
                role_arn: j.role_arn.clone(),
                account: arn::account(&j.arn).map(str::to_owned),
                start,
                end,
            });
            let role_key = arn::role_key(&j.role_arn).expect("validated role ARN");
            let next = r.roles.len() as u32;
            let role = *r.roles.entry(role_key).or_insert(next);
            if role as usize == role_items.len() {
                role_items.push(Vec::new());
            }
            role_items[role as usize].push((lo, hi, rank[ji], job));

            // Keys by canonical identity; requirements per (job, key).
            let mut per_key: BTreeMap<u32, (String, Vec<Purpose>)> = BTreeMap::new();
            for (p, k) in j.expected_keys() {
                let key = r.key_idx_or_insert(k);
                r.keys[key as usize].in_use = true;
                r.keys[key as usize].in_scope = true;
                let e = per_key.entry(key).or_insert_with(|| (k.to_owned(), Vec::new()));
                if k < e.0.as_str() {
                    e.0 = k.to_owned();
                }
                e.1.push(p);
            }
            let decidable = end
                .is_some_and(|e| start >= from && e.saturating_add(slack) <= watermark && e.saturating_add(slack) < to);
            for (key, (key_arn, purposes)) in per_key {
                let next = r.rk.len() as u32;
                let g = *r.rk.entry((role, key)).or_insert(next);
                if g as usize == rk_items.len() {
                    rk_items.push(Vec::new());
                    rk_req.push(Vec::new());
                }
                rk_items[g as usize].push((lo, hi, rank[ji], job));
                let required: Vec<Purpose> = purposes.iter().copied().filter(|&p| j.requires_usage(p)).collect();
                if decidable && !required.is_empty() {
                    let req = r.reqs.len() as u32;
                    rk_req[g as usize].push((lo, hi, req));
                    if required.iter().any(|p| p.is_volume_like()) {
                        svc_req.entry(key).or_default().push((lo, hi, req));
                    }
                    r.reqs.push(Req { job, key_arn, purposes: required });
                }
            }
        }
        r.role_windows = role_items.into_iter().map(Windows::build).collect();
        r.rk_windows = rk_items.into_iter().map(Windows::build).collect();
        r.rk_pending = rk_req.into_iter().map(Pending::build).collect();
        r.done = vec![false; r.reqs.len()];

        for k in &exp.keys {
            let key = r.key_idx_or_insert(k);
            r.keys[key as usize].in_scope = true;
        }
        for a in &exp.allow {
            let keys = if a.keys.iter().any(|k| k == "*") {
                None
            } else {
                let mut ks = Vec::new();
                for k in &a.keys {
                    let key = r.key_idx_or_insert(k);
                    r.keys[key as usize].in_scope = true;
                    ks.push(key);
                }
                Some(ks)
            };
            let ops = if a.operations.iter().any(|o| o == "*") { None } else { Some(a.operations.clone()) };
            r.allow.push(AllowRec { principal: PMatch::new(&a.principal), keys, ops, reason: a.reason.clone() });
        }
        for (alias, k) in exp.alias_map() {
            let key = r.key_idx_or_insert(&k);
            let i = r.alias_targets.len() as u32;
            r.alias_targets.push((k, key));
            r.aliases.insert(alias, i);
        }
        r.service_pending = (0..r.keys.len()).map(|_| None).collect();
        for (key, items) in svc_req {
            r.service_pending[key as usize] = Some(Pending::build(items));
        }
        Ok(r)
    }

    fn key_idx_or_insert(&mut self, key_arn: &str) -> u32 {
        let canon = arn::key_canon(key_arn).expect("validated key ARN");
        let next = self.keys.len() as u32;
        let k = *self.key_index.entry(canon).or_insert(next);
        if k == next {
            self.keys.push(KeyRec { in_use: false, in_scope: false });
        }
        k
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn principal(&mut self, p: &str) -> u32 {
        if let Some(&i) = self.pindex.get(p) {
            return i;
        }
        let class = if p.starts_with("service:") || p == "aws-internal" { PClass::Service } else { PClass::Other };
        let rk = arn::role_key(p);
        let role = rk.as_deref().and_then(|k| self.roles.get(k).copied());
        let allow = self
            .allow
            .iter()
            .enumerate()
            .filter(|(_, a)| a.principal.matches(p, rk.as_deref()))
            .map(|(i, _)| i as u32)
            .collect();
        let i = self.pinfos.len() as u32;
        self.pinfos.push(PInfo { class, role, allow });
        self.pindex.insert(p.into(), i);
        i
    }

    fn key(&mut self, k: &str) -> Option<u32> {
        if let Some(&v) = self.kcache.get(k) {
            return v;
        }
        let v = arn::key_canon(k).and_then(|c| self.key_index.get(&c).copied());
        self.kcache.insert(k.into(), v);
        v
    }

    /// Resolves a record's alias (`alias/x` or an alias ARN) through the expectations' aliases.
    fn alias(&self, a: &str) -> Option<u32> {
        if let Some(&i) = self.aliases.get(a) {
            return Some(i);
        }
        let short = &a[a.find(":alias/")? + 1..];
        self.aliases.get(short).copied()
    }

    fn allowed(&self, pi: u32, key: Option<u32>, name: &str) -> bool {
        self.pinfos[pi as usize].allow.iter().any(|&a| {
            let a = &self.allow[a as usize];
            a.key_ok(key) && a.ops.as_ref().is_none_or(|ops| ops.iter().any(|o| o == name))
        })
    }

    /// Allowed with the operation named explicitly (not through `*`): silences `key-lifecycle`.
    fn allowed_explicitly(&self, pi: u32, key: Option<u32>, name: &str) -> bool {
        self.pinfos[pi as usize].allow.iter().any(|&a| {
            let a = &self.allow[a as usize];
            a.key_ok(key) && a.ops.as_ref().is_some_and(|ops| ops.iter().any(|o| o == name))
        })
    }

    /// A grantee is known when it is an AWS service principal, a job role, or allow-listed for the key.
    fn grantee_known(&self, grantee: Option<&str>, key: Option<u32>) -> bool {
        let Some(g) = grantee else { return false };
        if arn::is_aws_service_host(g) {
            return true;
        }
        let rk = arn::role_key(g);
        if rk.as_deref().is_some_and(|k| self.roles.contains_key(k)) {
            return true;
        }
        self.allow.iter().any(|a| a.principal.matches(g, rk.as_deref()) && a.key_ok(key))
    }

    fn emit(&mut self, rule: Rule, row: &Row<'_>, job: Option<u32>, detail: String) {
        let key_arn = match row.key {
            KeyRef::Arn(a) => Some(a.to_owned()),
            KeyRef::Alias(i) => Some(self.alias_targets[i as usize].0.clone()),
            KeyRef::None => None,
        };
        self.findings.push(Finding {
            rule,
            severity: rule.severity(),
            key_arn,
            principal_arn: row.principal.map(str::to_owned),
            event_id: row.id.map(str::to_owned),
            event_time: to_time(row.t),
            job_arn: job.map(|j| self.jobs[j as usize].arn.clone()),
            detail,
            event_name: row.name.map(str::to_owned),
            account_id: row.account.map(str::to_owned),
            run_id: self.run_id.clone(),
        });
    }

    /// Consumes one batch of `kms_events` rows (columns named as in DESIGN.md §2; at least
    /// [`REQUIRED_COLUMNS`]). Batches may come in any order.
    pub fn observe(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let p = Prepared::new(batch)?;
        let time = p.time();
        let ids = p.str(C_EVENT_ID)?;
        let names = p.str(C_EVENT_NAME)?;
        let accounts = p.str(C_ACCOUNT_ID)?;
        let key_arns = p.str(C_KEY_ARN)?;
        let key_aliases = p.str(C_KEY_ALIAS)?;
        let principals = p.str(C_PRINCIPAL_ARN)?;
        let ptypes = p.str(C_PRINCIPAL_TYPE)?;
        let akids = p.str(C_ACCESS_KEY_ID)?;
        let invoked = p.str(C_INVOKED_BY)?;
        let ips = p.str(C_SOURCE_IP)?;
        let ctx = p.ctx()?;
        let errors = p.str(C_ERROR_CODE)?;
        let tls = p.str(C_TLS)?;
        let grantees = p.str(C_GRANTEE)?;

        let n = batch.num_rows();
        self.stats.rows += n as u64;
        // Last-value caches: the lake is partitioned by key and principal, so runs are long.
        let mut last_p: Option<(&str, u32)> = None;
        let mut last_k: Option<(&str, Option<u32>)> = None;
        let mut last_g: Option<((u32, u32), Option<u32>)> = None;

        for i in 0..n {
            if time.is_null(i) {
                continue;
            }
            let t = time.value(i);
            if t < self.from || t >= self.to {
                continue;
            }
            self.stats.in_range += 1;
            let err = errors.get_nonempty(i);
            if err == Some(DRY_RUN_ERROR) {
                self.stats.dry_run += 1;
                continue;
            }
            if ctx.has_key(i, CLOUDTRAIL_CONTEXT_KEY) {
                self.stats.trail_reads += 1;
                continue;
            }
            let principal = principals.get_nonempty(i);
            let name = names.get_nonempty(i);

            // Key: the ARN, else an alias the expectations resolved.
            let (key_ref, key) = match key_arns.get_nonempty(i) {
                Some(k) => {
                    let idx = match last_k {
                        Some((lk, v)) if lk == k => v,
                        _ => {
                            let v = self.key(k);
                            last_k = Some((k, v));
                            v
                        }
                    };
                    (KeyRef::Arn(k), idx)
                }
                None => match key_aliases.get_nonempty(i).and_then(|a| self.alias(a)) {
                    Some(ai) => (KeyRef::Alias(ai), Some(self.alias_targets[ai as usize].1)),
                    None => (KeyRef::None, None),
                },
            };
            let row = Row { id: ids.get(i), t, name, account: accounts.get(i), principal, key: key_ref };

            let long_term = ptypes.get(i) == Some("IAMUser") || akids.get(i).is_some_and(|a| a.starts_with("AKIA"));
            if long_term {
                let d = format!(
                    "{} made with long-term IAM user credentials (access key {})",
                    name.unwrap_or("call"),
                    akids.get(i).unwrap_or("unknown")
                );
                self.emit(Rule::LongTermCredentials, &row, None, d);
            }
            if let Some(v) = tls.get(i).filter(|v| WEAK_TLS_VERSIONS.contains(v)) {
                let d = format!("{} over {v} (below TLS 1.2)", name.unwrap_or("call"));
                self.emit(Rule::WeakTls, &row, None, d);
            }
            if let Some(e) = err.filter(|e| is_denied(e)) {
                self.stats.denied += 1;
                let d = format!("{} denied ({e})", name.unwrap_or("call"));
                self.emit(Rule::AccessDenied, &row, None, d);
                continue;
            }
            let Some(name) = name else { continue };
            if matches!(key_ref, KeyRef::None) {
                continue;
            }
            let op = classify(name);
            if op == Op::Other {
                continue;
            }
            let Some(principal) = principal else { continue };
            let pi = match last_p {
                Some((lp, v)) if lp == principal => v,
                _ => {
                    let v = self.principal(principal);
                    last_p = Some((principal, v));
                    v
                }
            };
            let in_use = key.is_some_and(|k| self.keys[k as usize].in_use);

            // key-lifecycle: successful changes to a key some job expects.
            if err.is_none() && in_use {
                let lifecycle = match op {
                    Op::Lifecycle => true,
                    Op::Grant => !self.grantee_known(grantees.get_nonempty(i), key),
                    _ => false,
                };
                if lifecycle && !self.allowed_explicitly(pi, key, name) {
                    let d = if op == Op::Grant {
                        format!(
                            "CreateGrant to unknown grantee {} on a key in use by jobs",
                            grantees.get_nonempty(i).unwrap_or("(none)")
                        )
                    } else {
                        format!("{name} on a key in use by jobs")
                    };
                    self.emit(Rule::KeyLifecycle, &row, None, d);
                }
            }
            if op == Op::Lifecycle {
                continue;
            }

            // A use of a key.
            let info = &self.pinfos[pi as usize];
            if info.class == PClass::Service {
                if let Some(p) = key.and_then(|k| self.service_pending[k as usize].as_mut()) {
                    p.hit(t, &mut self.done);
                }
                continue;
            }
            let role = info.role;
            let allowed = self.allowed(pi, key, name);
            let Some(role) = role else {
                if key.is_some_and(|k| self.keys[k as usize].in_scope) && !allowed {
                    let d = format!(
                        "{name} by a principal that is neither a job role nor allow-listed{}",
                        via(invoked.get_nonempty(i))
                    );
                    self.emit(Rule::UnexpectedPrincipal, &row, None, d);
                }
                continue;
            };
            let through_service = invoked.get_nonempty(i).is_some_and(arn::is_aws_service_host)
                || ips.get_nonempty(i).is_some_and(arn::is_aws_service_host);
            if !through_service && !allowed {
                let job = self.role_windows[role as usize].containing(t);
                let d = format!(
                    "job role called {name} itself from {} instead of through S3/SageMaker",
                    ips.get_nonempty(i).unwrap_or("an unknown source")
                );
                self.emit(Rule::DirectUse, &row, job, d);
            }
            let group = match (key, last_g) {
                (None, _) => None,
                (Some(k), Some((lk, g))) if lk == (role, k) => g,
                (Some(k), _) => {
                    let g = self.rk.get(&(role, k)).copied();
                    last_g = Some(((role, k), g));
                    g
                }
            };
            match group {
                None => {
                    if !allowed {
                        let job = self.role_windows[role as usize].containing(t);
                        let d = format!(
                            "job role used a key none of its jobs is configured with ({name}{})",
                            via(invoked.get_nonempty(i))
                        );
                        self.emit(Rule::UnexpectedKey, &row, job, d);
                    }
                }
                Some(g) => {
                    if self.rk_windows[g as usize].containing(t).is_some() {
                        self.rk_pending[g as usize].hit(t, &mut self.done);
                    } else if !allowed {
                        let job = self.rk_windows[g as usize].nearest(t);
                        let d = match job {
                            Some(j) => {
                                let jr = &self.jobs[j as usize];
                                format!("{name} outside the window (± slack) of {} job {}", jr.kind, jr.name)
                            }
                            None => format!("{name} outside every job window"),
                        };
                        self.emit(Rule::OutsideJobWindow, &row, job, d);
                    }
                }
            }
        }
        Ok(())
    }

    /// Folds in a reconciler built from the same expectations and options that observed other
    /// batches.
    pub fn merge(&mut self, other: Reconciler) {
        assert_eq!(self.done.len(), other.done.len(), "merging reconcilers of different expectations");
        for (d, o) in self.done.iter_mut().zip(&other.done) {
            *d |= *o;
        }
        self.findings.extend(other.findings);
        let s = &mut self.stats;
        s.rows += other.stats.rows;
        s.in_range += other.stats.in_range;
        s.dry_run += other.stats.dry_run;
        s.trail_reads += other.stats.trail_reads;
        s.denied += other.stats.denied;
    }

    /// Decides `missing-usage` and returns every finding, ordered by event time, event ID, rule,
    /// key ARN, job ARN.
    pub fn finish(mut self) -> Vec<Finding> {
        let reqs = std::mem::take(&mut self.reqs);
        for (ri, req) in reqs.iter().enumerate() {
            if self.done[ri] {
                continue;
            }
            let j = &self.jobs[req.job as usize];
            let purposes: Vec<&str> = req.purposes.iter().map(|p| p.as_str()).collect();
            let detail = format!(
                "{} job {} shows no call on its {} key between {} and {} (window ± {}s slack)",
                j.kind,
                j.name,
                purposes.join("+"),
                fmt_ms(j.start.saturating_sub(self.slack)),
                fmt_ms(j.end.unwrap_or(j.start).saturating_add(self.slack)),
                self.slack / 1000
            );
            self.findings.push(Finding {
                rule: Rule::MissingUsage,
                severity: Rule::MissingUsage.severity(),
                key_arn: Some(req.key_arn.clone()),
                principal_arn: Some(j.role_arn.clone()),
                event_id: None,
                event_time: j.end.and_then(to_time),
                job_arn: Some(j.arn.clone()),
                detail,
                event_name: None,
                account_id: j.account.clone(),
                run_id: self.run_id.clone(),
            });
        }
        let mut f = self.findings;
        f.sort_by(|a, b| {
            (a.event_time, &a.event_id, a.rule, &a.key_arn, &a.job_arn, &a.principal_arn).cmp(&(
                b.event_time,
                &b.event_id,
                b.rule,
                &b.key_arn,
                &b.job_arn,
                &b.principal_arn,
            ))
        });
        f
    }

    /// The reason of the first allow entry covering `(principal, key, operation)`, if any (for
    /// reports explaining why a use was not flagged).
    pub fn allow_reason(&mut self, principal: &str, key_arn: Option<&str>, operation: &str) -> Option<&str> {
        let pi = self.principal(principal);
        let key = key_arn.and_then(|k| self.key(k));
        let a = self.pinfos[pi as usize].allow.iter().copied().find(|&a| {
            let a = &self.allow[a as usize];
            a.key_ok(key) && a.ops.as_ref().is_none_or(|ops| ops.iter().any(|o| o == operation))
        })?;
        Some(self.allow[a as usize].reason.as_str())
    }
}

fn via(invoked_by: Option<&str>) -> String {
    invoked_by.map(|s| format!(" via {s}")).unwrap_or_default()
}

fn fmt_ms(t: i64) -> String {
    to_time(t).map_or_else(|| t.to_string(), |d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
