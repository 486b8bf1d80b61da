//! The synth scenario: every planted finding is found, and nothing else.

mod common;

use std::collections::BTreeSet;

use reconcile::{Finding, Reconciler, Rule};
use synth::scenario::{generate, Planted, Scenario, ScenarioSpec};

type Id = (Rule, Option<String>, Option<String>, Option<String>, Option<String>);

fn planted_ids(p: &[Planted]) -> BTreeSet<Id> {
    p.iter()
        .map(|p| (p.rule, p.event_id.clone(), p.key_arn.clone(), p.job_arn.clone(), p.principal_arn.clone()))
        .collect()
}

fn found_ids(f: &[Finding]) -> BTreeSet<Id> {
    f.iter()
        .map(|f| (f.rule, f.event_id.clone(), f.key_arn.clone(), f.job_arn.clone(), f.principal_arn.clone()))
        .collect()
}

pub fn run(s: &Scenario, batch_rows: usize) -> Vec<Finding> {
    let mut r = Reconciler::new(&s.expectations, s.options("test-run")).expect("reconciler");
    for b in common::batches(&s.records, batch_rows) {
        r.observe(&b).expect("observe");
    }
    r.finish()
}

fn check(spec: &ScenarioSpec, batch_rows: usize) {
    let s = generate(spec);
    let findings = run(&s, batch_rows);
    let want = planted_ids(&s.planted);
    let got = found_ids(&findings);
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = findings
        .iter()
        .filter(|f| {
            !want.contains(&(f.rule, f.event_id.clone(), f.key_arn.clone(), f.job_arn.clone(), f.principal_arn.clone()))
        })
        .collect();
    assert!(missing.is_empty() && extra.is_empty(), "seed {}: missing {missing:#?}\nextra {extra:#?}", spec.seed);
    assert_eq!(findings.len(), s.planted.len(), "no duplicate findings");
    for f in &findings {
        assert_eq!(f.severity, f.rule.severity());
        assert_eq!(f.run_id, "test-run");
    }
}

#[test]
fn every_planted_finding_and_nothing_else() {
    check(&ScenarioSpec::default(), 1024);
}

#[test]
fn other_seeds_and_batch_sizes() {
    for seed in [1, 2, 3, 42] {
        check(&ScenarioSpec { seed, jobs: 60, events: 3_000 }, 97);
    }
}

#[test]
fn findings_are_deterministic_whatever_the_batching() {
    let s = generate(&ScenarioSpec::default());
    let a = run(&s, 10_000);
    let b = run(&s, 7);
    assert_eq!(a, b);
}

#[test]
fn sharded_and_merged_equals_single() {
    let s = generate(&ScenarioSpec::default());
    let single = run(&s, 300);
    let base = Reconciler::new(&s.expectations, s.options("test-run")).unwrap();
    let mut shards = [base.clone(), base.clone(), base];
    for (i, b) in common::batches(&s.records, 300).iter().enumerate() {
        shards[i % 3].observe(b).unwrap();
    }
    let [mut a, b, c] = shards;
    a.merge(b);
    a.merge(c);
    assert_eq!(a.stats().rows as usize, common::all_rows(&s.records).len());
    assert_eq!(a.finish(), single);
}
