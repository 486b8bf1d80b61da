//! `kms-audit demo`: the whole pipeline on a generated sample world, on the embedded default
//! (local lake, local keyring), no AWS account and no network.
//!
//! The world is the reconcile scenario of `synth` (SageMaker training, processing and transform
//! jobs, endpoints and notebooks with their expected keys, plus planted deviations: unexpected
//! principals, denials, weak TLS, a key-lifecycle change, …) written as CloudTrail log files,
//! and a folder of envelope-encrypted objects under a local keyring with one tampered. The demo
//! then runs the real commands in order — ingest, reconcile, verify, export — through the same
//! parser and code the binary uses, and says what it found and where the report is.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use synth::scenario::{generate, ScenarioSpec};

use crate::{run_subcommand, EXIT_OK};

/// Build a realistic sample world in a folder and run ingest → reconcile → verify → export on
/// it, locally (no AWS account, no network). Prints what it found and where report.html is.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the sample world and the results (created; a previous demo folder is reused).
    #[arg(long, default_value = "kms-audit-demo")]
    dir: PathBuf,
    /// Seed of the sample world.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Marks a folder the demo owns, so a rerun may clear it and nothing else ever is.
const MARKER: &str = ".kms-audit-demo";
const OBJECTS: usize = 12;
const TAMPERED: usize = 7;

pub fn run(args: &Args) -> Result<u8> {
    let dir = prepare(&args.dir)?;
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();

    // The world: CloudTrail log files and the expectations of the jobs they concern.
    let scenario = generate(&ScenarioSpec { seed: args.seed, jobs: 30, events: 4_000 });
    let files =
        synth::write_log_files(&scenario.records, &dir.join("trail"), "111122223333", "us-east-1", 500, args.seed)
            .context("writing the sample trail")?;
    fs::write(dir.join("expectations.json"), serde_json::to_vec_pretty(&scenario.expectations)?)?;
    eprintln!(
        "demo: sample world: {} CloudTrail records in {} log files, {} SageMaker jobs expected, {} deviations planted",
        scenario.records.len(),
        files.len(),
        scenario.expectations.jobs.len(),
        scenario.planted.len()
    );

    // A bucket folder of envelope-encrypted objects under a local keyring; one is tampered.
    let key = p("local-key.json");
    step(["keygen", "--out", &key, "--name", "demo"])?;
    let mut manifest = String::new();
    for i in 0..OBJECTS {
        let name = format!("datasets/churn/part-{i:04}.csv");
        let plain = dir.join("plaintext").join(&name);
        fs::create_dir_all(plain.parent().expect("has a folder"))?;
        let body: String = (0..200)
            .map(|r| format!("{i},{r},customer-{:05},{}\n", (i * 7919 + r * 104_729) % 100_000, r % 2))
            .collect();
        fs::write(&plain, &body)?;
        manifest.push_str(&format!("{}  {name}\n", report::manifest::sha256_hex(body.as_bytes())));
        let format = if i % 2 == 0 { "simple" } else { "s3ec-v2" };
        let object = p(&format!("bucket/{name}"));
        step([
            "encrypt",
            &plain.to_string_lossy(),
            &object,
            "--format",
            format,
            "--key",
            &format!("local:{key}"),
            "--context",
            &format!("dataset=churn/part-{i:04}"),
        ])?;
    }
    fs::write(dir.join("sha256sums.txt"), manifest)?;
    let tampered = dir.join(format!("bucket/datasets/churn/part-{TAMPERED:04}.csv"));
    let mut body = fs::read(&tampered)?;
    let middle = body.len() / 2;
    body[middle] ^= 0x20;
    fs::write(&tampered, body)?;

    // The pipeline, command by command.
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (from, to, watermark) = (fmt(scenario.from), fmt(scenario.to), fmt(scenario.watermark));
    let slack = humantime::format_duration(scenario.slack).to_string();
    step(["ingest", &p("trail"), "--lake", &p("lake")])?;
    step([
        "reconcile",
        "--lake",
        &p("lake"),
        "--expectations",
        &p("expectations.json"),
        "--from",
        &from,
        "--to",
        &to,
        "--watermark",
        &watermark,
        "--slack",
        &slack,
        "--fail-on",
        "none",
        "--out",
        &p("findings.json"),
    ])?;
    step([
        "verify",
        &p("bucket"),
        "--sample",
        &OBJECTS.to_string(),
        "--seed",
        "1",
        "--expect-key",
        "local:demo",
        "--keyring",
        &format!("local:{key}"),
        "--manifest",
        &p("sha256sums.txt"),
        "--out",
        &p("verification.json"),
    ])?;
    step([
        "export",
        "--lake",
        &p("lake"),
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        &p("bundle"),
        "--findings",
        &p("findings.json"),
        "--verification",
        &p("verification.json"),
        "--sign-with",
        &format!("local:{}", p("signing-key.json")),
        "--create-signing-key",
    ])?;

    summarize(&dir)?;
    Ok(EXIT_OK)
}

/// Runs one real subcommand; its own exit status (1 for "found something") is part of the
/// story, an error is not.
fn step<const N: usize>(words: [&str; N]) -> Result<u8> {
    eprintln!("\n$ kms-audit {}", words.join(" "));
    run_subcommand(words).with_context(|| format!("kms-audit {}", words[0]))
}

fn prepare(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        let empty = fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!("{} exists and is not a previous demo folder: choose another --dir", dir.display());
        }
        if !empty {
            fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(dir.join(MARKER), "kms-audit demo folder: `kms-audit demo` may clear it\n")?;
    Ok(dir.canonicalize()?)
}

fn summarize(dir: &Path) -> Result<()> {
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&fs::read(dir.join("findings.json"))?)?;
    let mut by_rule = std::collections::BTreeMap::<(String, String), usize>::new();
    for f in &findings {
        let key = (f["severity"].as_str().unwrap_or("?").to_owned(), f["rule"].as_str().unwrap_or("?").to_owned());
        *by_rule.entry(key).or_default() += 1;
    }
    let verification: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("verification.json"))?)?;
    let objects = verification["objects"].as_array().cloned().unwrap_or_default();
    let failed: Vec<String> = objects
        .iter()
        .filter(|o| o["verdict"] != "ok")
        .map(|o| format!("{} ({})", o["object"].as_str().unwrap_or("?"), o["reason"].as_str().unwrap_or("?")))
        .collect();
    eprintln!("\n== kms-audit demo: what it found");
    eprintln!("findings: {}", findings.len());
    for ((severity, rule), n) in &by_rule {
        eprintln!("  {severity:<6} {rule:<22} {n}");
    }
    eprintln!("objects verified: {} ok, {} failed", objects.len() - failed.len(), failed.len());
    for f in &failed {
        eprintln!("  fail: {f}");
    }
    println!("report: {}", dir.join("bundle/report.html").display());
    Ok(())
}
