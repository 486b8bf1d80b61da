//! `kms-audit expectations`: what the SageMaker jobs were configured to do.
//!
//! Two sources, one mapping: `--from-sagemaker` lists and describes the jobs live
//! (`aws::sagemaker`, which returns each resource as the JSON `aws sagemaker describe-*` prints),
//! `--from-describe` reads such JSON saved earlier; both go through
//! `reconcile::ExpectationsBuilder`, so they produce the same expectations for the same jobs.
//! Key IDs and aliases are resolved to key ARNs (KMS `DescribeKey` live; `--alias` offline), and
//! the buckets' default encryption (SSE-KMS key, S3 Bucket Keys) comes from S3
//! `GetBucketEncryption` live, or `--bucket-key-enabled` / `--bucket-kms-key` offline.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use reconcile::{AllowEntry, Expectations, ExpectationsBuilder, Source};

use crate::{timearg, EXIT_OK};

/// Build expectations.json from SageMaker (live) or from saved describe outputs.
///
/// The schema is documented in crates/reconcile/README.md (and expectations.schema.json);
/// the flow in docs/reconcile.md. A summary goes to stderr.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from_sagemaker", "from_describe"])))]
pub struct Args {
    /// List and describe training, processing and transform jobs, endpoints (with their
    /// endpoint configs and models) and notebook instances through the SageMaker API
    /// (AWS configuration from the standard chain; AWS_ENDPOINT_URL for a local endpoint).
    #[arg(long)]
    from_sagemaker: bool,
    /// Saved `aws sagemaker describe-*` JSON outputs (training, processing and transform jobs,
    /// endpoints, endpoint configs, models, notebook instances; kind detected from the
    /// document), or folders of *.json files.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    from_describe: Vec<PathBuf>,
    /// Region of the SageMaker, KMS calls (default: the configured Region).
    #[arg(long, requires = "from_sagemaker")]
    region: Option<String>,
    /// Only jobs modified since T (RFC 3339, YYYY-MM-DD, or a duration ago such as 7d);
    /// endpoints and notebook instances are always all listed.
    #[arg(long, value_parser = parse_since, requires = "from_sagemaker")]
    since: Option<DateTime<Utc>>,
    /// Concurrent Describe* calls.
    #[arg(long, default_value_t = 8, requires = "from_sagemaker")]
    concurrency: usize,
    /// Do not read the buckets' default encryption (S3 GetBucketEncryption).
    #[arg(long, requires = "from_sagemaker")]
    no_bucket_encryption: bool,
    /// Also save every describe document fetched live into DIR (re-usable with --from-describe).
    #[arg(long, value_name = "DIR", requires = "from_sagemaker")]
    save_describe: Option<PathBuf>,
    /// Allow-list to merge: a JSON array of allow entries, or an expectations-shaped document
    /// whose `allow`, `keys` and `aliases` (and `jobs`) are merged.
    #[arg(long, value_name = "FILE")]
    allow: Vec<PathBuf>,
    /// Offline alias resolution for --from-describe: ALIAS=KEY_ARN (alias/name or alias ARN).
    #[arg(long, value_name = "ALIAS=KEY_ARN", value_parser = parse_pair)]
    alias: Vec<(String, String)>,
    /// --from-describe: a bucket (name or arn:aws:s3:::name) that uses S3 Bucket Keys.
    #[arg(long, value_name = "BUCKET")]
    bucket_key_enabled: Vec<String>,
    /// --from-describe: a bucket's default SSE-KMS key, BUCKET=KEY (the job role may use it).
    #[arg(long, value_name = "BUCKET=KEY", value_parser = parse_pair)]
    bucket_kms_key: Vec<(String, String)>,
    /// Where to write expectations.json (`-` for stdout).
    #[arg(long)]
    out: PathBuf,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_owned(), b.to_owned())),
        _ => Err(format!("{s:?}: expected NAME=VALUE")),
    }
}

/// RFC 3339, `YYYY-MM-DD` (midnight UTC), or a duration ago (`7d`, `36h`).
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    timearg::value(s).or_else(|e| match humantime::parse_duration(s) {
        Ok(d) => {
            chrono::Duration::from_std(d).map(|d| Utc::now() - d).map_err(|_| format!("{s:?}: duration out of range"))
        }
        Err(_) => Err(format!("{e}, nor a duration such as 7d")),
    })
}

pub fn run(args: &Args) -> Result<u8> {
    let mut exp = if args.from_sagemaker { from_sagemaker(args)? } else { from_describe(args)? };
    for path in &args.allow {
        merge_allow(&mut exp, path)?;
    }
    if let Err(errs) = exp.validate() {
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        bail!("the merged expectations are invalid:\n  {}", lines.join("\n  "));
    }
    let text = exp.to_json();
    if args.out.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
    } else {
        std::fs::write(&args.out, text + "\n").with_context(|| format!("writing {}", args.out.display()))?;
    }
    summary(&exp, &args.out);
    Ok(EXIT_OK)
}

fn summary(exp: &Expectations, out: &Path) {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for j in &exp.jobs {
        *kinds.entry(j.kind.as_str()).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let keys: std::collections::BTreeSet<&str> =
        exp.jobs.iter().flat_map(|j| j.expected_keys().into_iter().map(|(_, k)| k)).collect();
    eprintln!(
        "expectations: {} jobs ({}), {} distinct keys, {} allow entries, {} aliases -> {}",
        exp.jobs.len(),
        if kinds.is_empty() { "none".to_owned() } else { kinds.join(", ") },
        keys.len(),
        exp.allow.len(),
        exp.aliases.len(),
        out.display()
    );
}

/// Merges an allow-list file: an array of entries, or an expectations-shaped document.
pub fn merge_allow(exp: &mut Expectations, path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    let other = if v.is_array() {
        let allow: Vec<AllowEntry> =
            serde_json::from_value(v).with_context(|| format!("{}: not an array of allow entries", path.display()))?;
        Expectations { allow, ..Default::default() }
    } else {
        serde_json::from_value(v).with_context(|| format!("{}: not an expectations document", path.display()))?
    };
    let mut other = other;
    other.source.documents = vec![path.display().to_string()];
    exp.merge(other);
    Ok(())
}

/// The describe files given (folders expanded to their *.json files, sorted).
fn describe_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("listing {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        bail!("no describe documents given");
    }
    Ok(out)
}

/// `--alias` table: exact reference, else an alias ARN by its `alias/name`. Bare key IDs are
/// left to the builder (an ARN in the job's own account and Region).
#[derive(Debug)]
struct AliasTable(BTreeMap<String, String>);

impl reconcile::KeyResolver for AliasTable {
    fn resolve(&self, key_ref: &str) -> Option<String> {
        self.0.get(key_ref).cloned().or_else(|| {
            let p = key_ref.find(":alias/")?;
            key_ref.starts_with("arn:").then(|| self.0.get(&key_ref[p + 1..]).cloned())?
        })
    }
}

fn from_describe(args: &Args) -> Result<Expectations> {
    let aliases = AliasTable(args.alias.iter().cloned().collect());
    let mut b = ExpectationsBuilder::new(&aliases);
    for f in describe_files(&args.from_describe)? {
        let text = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        b.add_json(f.display().to_string(), &text);
    }
    for bucket in &args.bucket_key_enabled {
        b.bucket_encryption(bucket, None, true);
    }
    for (bucket, key) in &args.bucket_kms_key {
        let bk = args.bucket_key_enabled.iter().any(|x| x.trim_start_matches("arn:aws:s3:::") == bucket.as_str());
        b.bucket_encryption(bucket, Some(key), bk);
    }
    b.build().map_err(|e| anyhow::anyhow!("cannot build expectations from the describe outputs:\n{e}"))
}

fn from_sagemaker(args: &Args) -> Result<Expectations> {
    let blocking = aws::config::blocking();
    let src = aws::sagemaker::SageMakerSource::from_config(blocking.config(), args.region.as_deref());
    let region = src.region();
    let opts =
        aws::sagemaker::CollectOptions { since: args.since, concurrency: args.concurrency.max(1), page_size: None };
    let collected = blocking.block_on(aws::sagemaker::collect(&src.sagemaker, &opts)).context("listing SageMaker")?;
    for s in &collected.skipped {
        eprintln!("expectations: skipped {s}");
    }
    if let Some(dir) = &args.save_describe {
        save_documents(dir, &collected.documents)?;
    }
    let buckets = if args.no_bucket_encryption {
        BTreeMap::new()
    } else {
        let none = reconcile::MapResolver::default();
        let mut probe = ExpectationsBuilder::new(&none);
        for (name, doc) in &collected.documents {
            probe.add(name.clone(), doc.clone());
        }
        let names = probe.bucket_names();
        let (ok, failed) =
            blocking.block_on(aws::sagemaker::bucket_encryption(&src.s3, names, args.concurrency.max(1)));
        for (b, why) in &failed {
            eprintln!(
                "expectations: bucket {b}: default encryption unknown ({why}); treated as without S3 Bucket Keys"
            );
        }
        ok
    };
    build_live(
        &collected,
        &buckets,
        |refs| blocking.block_on(aws::sagemaker::resolve_keys(&src.kms, refs, args.concurrency.max(1))),
        region,
    )
}

/// Builds expectations from live documents: bucket encryption declared, key references
/// resolved with `resolve` (KMS DescribeKey), source `sagemaker`.
pub fn build_live(
    collected: &aws::sagemaker::Collected,
    buckets: &BTreeMap<String, aws::sagemaker::BucketEncryption>,
    resolve: impl FnOnce(Vec<String>) -> Result<aws::sagemaker::KeyResolution, aws::sagemaker::SageMakerError>,
    region: Option<String>,
) -> Result<Expectations> {
    let none = reconcile::MapResolver::default();
    let mut b = ExpectationsBuilder::new(&none);
    for (name, doc) in &collected.documents {
        b.add(name.clone(), doc.clone());
    }
    for (bucket, enc) in buckets {
        if enc.is_kms() {
            b.bucket_encryption(bucket, enc.kms_key.as_deref(), enc.bucket_key_enabled);
        }
    }
    let refs: Vec<String> = b.key_refs().into_iter().collect();
    let resolution = resolve(refs).context("resolving key references with KMS DescribeKey")?;
    for (r, why) in &resolution.failed {
        eprintln!("expectations: key reference {r:?} not resolved by KMS DescribeKey: {why}");
    }
    let account = collected.documents.iter().find_map(|(_, d)| {
        d.as_object()?
            .iter()
            .find(|(k, _)| k.ends_with("Arn"))
            .and_then(|(_, v)| v.as_str()?.split(':').nth(4))
            .map(str::to_owned)
    });
    b.source(Source {
        kind: "sagemaker".into(),
        region,
        account,
        documents: collected.documents.iter().map(|(n, _)| n.clone()).collect(),
    });
    let b = b.with_resolver(&resolution.resolved);
    b.build().map_err(|e| anyhow::anyhow!("cannot build expectations from SageMaker:\n{e}"))
}

fn save_documents(dir: &Path, docs: &[(String, serde_json::Value)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, doc) in docs {
        let file: String = name
            .trim_start_matches("sagemaker:")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
            .collect();
        let path = dir.join(format!("{file}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
