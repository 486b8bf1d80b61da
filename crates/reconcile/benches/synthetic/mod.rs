//! Synthetic training jobs shared by the criterion bench (`benches/reconcile.rs`) and the
//! benchmark-lake writer (`examples/bench_lake.rs`): one account, shared execution roles (with
//! IAM paths) and keys, and job windows drawn from a seeded generator.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use reconcile::{Job, JobKeys, JobKind, Window};

pub const A: &str = "111122223333";
pub const ROLES: usize = 200;
pub const KEYS: usize = 20;

pub fn key(i: usize) -> String {
    format!("arn:aws:kms:us-east-1:{A}:key/{i:08}-aaaa-4bbb-8ccc-dddddddddddd")
}

pub fn role(i: usize) -> String {
    let path = ["service-role/", "ml/training/", ""][i % 3];
    format!("arn:aws:iam::{A}:role/{path}Exec-{i}")
}

/// `n` completed training jobs, each 10 minutes to 6 hours long and starting within `span_ms`
/// of `t0`; job `j` runs as role `j % ROLES` with its volume and output keys derived from it.
/// Also returns each job's (start, end) offset from `t0` in milliseconds and its role index.
pub fn training_jobs(
    rng: &mut ChaCha8Rng,
    n: usize,
    t0: DateTime<Utc>,
    span_ms: i64,
) -> (Vec<Job>, Vec<(i64, i64, usize)>) {
    let mut jobs = Vec::with_capacity(n);
    let mut windows = Vec::with_capacity(n);
    for j in 0..n {
        let start = rng.random_range(0..span_ms - 6 * 3_600_000);
        let end = start + rng.random_range(10..360) * 60_000;
        let r = j % ROLES;
        jobs.push(Job {
            kind: JobKind::Training,
            name: format!("job-{j:05}"),
            arn: format!("arn:aws:sagemaker:us-east-1:{A}:training-job/job-{j:05}"),
            role_arn: role(r),
            keys: JobKeys { volume: Some(key(r % KEYS)), output: Some(key((r + 7) % KEYS)), ..Default::default() },
            window: Window {
                start: t0 + chrono::Duration::milliseconds(start),
                end: Some(t0 + chrono::Duration::milliseconds(end)),
            },
            buckets: vec![],
            status: Some("Completed".into()),
        });
        windows.push((start, end, r));
    }
    (jobs, windows)
}
