//! `kms-audit export` and `export-verify`: the auditor bundle.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use report::html::{FindingRow, VerificationRow};
use report::manifest::{sha256_hex, RSASSA_PSS_SHA_256};
use report::{ExportInputs, LocalSigner, Signature, Signer};
use sha2::{Digest, Sha256};

use crate::{location, timearg, EXIT_FAILURE, EXIT_OK};

/// Export an auditor bundle for a period: usage.csv, findings.csv/.json, verification.csv,
/// trail-integrity.json, a self-contained report.html, and manifest.json (SHA-256 of every file
/// and of every lake file read), optionally signed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Lake root: a local folder or s3://bucket/prefix.
    #[arg(long)]
    lake: String,
    /// Start of the period (RFC 3339 or YYYY-MM-DD, UTC), inclusive.
    #[arg(long)]
    from: String,
    /// End of the period (RFC 3339 or YYYY-MM-DD, UTC), exclusive.
    #[arg(long)]
    to: String,
    /// Bundle folder (must be new or empty).
    #[arg(long)]
    out: PathBuf,
    /// Findings JSON written by `reconcile --out`; without it, LAKE/findings/ for the period.
    #[arg(long)]
    findings: Option<PathBuf>,
    /// Report JSON written by `verify --out` (repeatable).
    #[arg(long)]
    verification: Vec<PathBuf>,
    /// Report JSON written by `validate-trail --json`.
    #[arg(long)]
    trail_integrity: Option<PathBuf>,
    /// Sign the manifest: a KMS asymmetric RSA key (ARN or alias; RSASSA_PSS_SHA_256) or
    /// `local:FILE` (an Ed25519 key file).
    #[arg(long)]
    sign_with: Option<String>,
    /// Create the `local:FILE` signing key first (refuses to overwrite one).
    #[arg(long, requires = "sign_with")]
    create_signing_key: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Check an export bundle: every file's SHA-256 against manifest.json, no unlisted files, and
/// the signature. Names every file that changed. Exit 0 when intact, 1 otherwise.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The bundle folder.
    dir: PathBuf,
    /// Require the signature to be by this key: a KMS key ARN or `local:<fingerprint>`.
    #[arg(long)]
    expect_key: Option<String>,
    /// Fail when the bundle is not signed.
    #[arg(long)]
    require_signature: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<u8> {
    let from = timearg::parse(&args.from).context("--from")?;
    let to = timearg::parse(&args.to).context("--to")?;
    if to <= from {
        bail!("--to must be after --from");
    }
    let lake = location::open(&args.lake)?;
    let findings = match &args.findings {
        Some(path) => Some(read_json::<Vec<FindingRow>>(path)?),
        None => None,
    };
    let mut verification = Vec::new();
    for path in &args.verification {
        #[derive(serde::Deserialize)]
        struct Report {
            objects: Vec<VerificationRow>,
        }
        verification.extend(read_json::<Report>(path)?.objects);
    }
    let trail_integrity = match &args.trail_integrity {
        Some(path) => Some(read_json::<serde_json::Value>(path)?),
        None => None,
    };
    let signer: Option<Box<dyn Signer>> = match &args.sign_with {
        None => None,
        Some(spec) => Some(match spec.strip_prefix("local:") {
            Some(file) => {
                let path = PathBuf::from(file);
                Box::new(if args.create_signing_key { LocalSigner::create(&path) } else { LocalSigner::load(&path) }?)
            }
            None => Box::new(KmsSigner::new(spec)?),
        }),
    };
    let inputs = ExportInputs {
        lake: &*lake.store,
        from_ms: from.timestamp_millis(),
        to_ms: to.timestamp_millis(),
        findings,
        verification,
        trail_integrity,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let summary = report::export(inputs, &args.out, signer.as_deref())
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&summary).expect("summary serializes"));
    }
    eprintln!(
        "export: {} calls in {} usage rows, {} findings, {} verified objects, {} lake files read; {} files{} in {}\nexport: open {}",
        summary.calls,
        summary.usage_rows,
        summary.findings,
        summary.verified_objects,
        summary.lake_files,
        summary.files.len() + 1,
        summary.signed_by.as_deref().map(|k| format!(" signed by {k}")).unwrap_or_default(),
        summary.out,
        args.out.join("report.html").display()
    );
    Ok(EXIT_OK)
}

pub fn verify(args: &VerifyArgs) -> Result<u8> {
    let check = report::verify_bundle(&args.dir, args.expect_key.as_deref(), args.require_signature)
        .with_context(|| format!("checking {}", args.dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&check).expect("check serializes"));
    }
    for f in &check.changed {
        eprintln!("export-verify: {}: changed (SHA-256 differs from manifest.json)", args.dir.join(f).display());
    }
    for f in &check.missing {
        eprintln!("export-verify: {}: missing", args.dir.join(f).display());
    }
    for f in &check.unlisted {
        eprintln!("export-verify: {}: not listed in manifest.json", args.dir.join(f).display());
    }
    match &check.signature {
        report::manifest::SignatureStatus::Absent => eprintln!("export-verify: not signed"),
        report::manifest::SignatureStatus::Valid { key_id, public_key_fingerprint, .. } => {
            eprintln!("export-verify: signature valid, by {key_id} (public key {public_key_fingerprint})")
        }
        report::manifest::SignatureStatus::Invalid { reason } => {
            eprintln!("export-verify: signature INVALID: {reason}")
        }
    }
    if check.is_ok() {
        eprintln!("export-verify: {}: intact", args.dir.display());
        Ok(EXIT_OK)
    } else {
        Ok(EXIT_FAILURE)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not the expected JSON", path.display()))
}

/// Signs with a KMS asymmetric key; the bundle carries its public key so it verifies offline.
struct KmsSigner {
    key: String,
    runtime: tokio::runtime::Runtime,
}

impl KmsSigner {
    fn new(key: &str) -> Result<Self> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
        Ok(KmsSigner { key: key.to_owned(), runtime })
    }
}

impl Signer for KmsSigner {
    fn sign(&self, manifest: &[u8]) -> Result<Signature, report::Error> {
        let digest: [u8; 32] = Sha256::digest(manifest).into();
        let fail = |e: &dyn std::fmt::Display| report::Error::Sign(format!("{}: {e}", self.key));
        self.runtime.block_on(async {
            let config = aws::config::load().await;
            let kms = aws::kms::KmsKeyring::from_config(&config);
            let sig = kms.sign_digest(&self.key, &digest).await.map_err(|e| fail(&e))?;
            let public = kms.public_key(&sig.key_arn).await.map_err(|e| fail(&e))?;
            let b64 = base64::engine::general_purpose::STANDARD;
            Ok(Signature {
                algorithm: RSASSA_PSS_SHA_256.into(),
                key_id: sig.key_arn,
                manifest_sha256: sha256_hex(manifest),
                signature: b64.encode(&sig.signature),
                public_key: b64.encode(&public.der),
            })
        })
    }
}
