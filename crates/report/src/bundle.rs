//! Building the bundle folder.

use std::fs;
use std::path::Path;

use arrow::json::writer::JsonArray;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::html::{self, FindingRow, ReportData, VerificationRow};
use crate::manifest::{self, Manifest, Period, Signer, MANIFEST, SIGNATURE};
use crate::usage::{self, rfc3339};
use crate::Error;

/// Folder of the findings table in the lake.
pub const FINDINGS_PREFIX: &str = "findings/";

/// What goes into a bundle.
#[derive(Debug)]
pub struct ExportInputs<'a> {
    pub lake: &'a dyn lake::Store,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Findings given as a file (a reconcile `--out`); `None` reads `LAKE/findings/`.
    pub findings: Option<Vec<FindingRow>>,
    pub verification: Vec<VerificationRow>,
    /// A `validate-trail --json` report.
    pub trail_integrity: Option<serde_json::Value>,
    pub version: String,
}

/// What a bundle holds.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub out: String,
    pub files: Vec<String>,
    pub usage_rows: usize,
    pub calls: u64,
    pub findings: usize,
    pub verified_objects: usize,
    pub lake_files: usize,
    pub signed_by: Option<String>,
}

/// Writes the bundle into `out` (created; must be empty if it exists).
pub fn export(inputs: ExportInputs<'_>, out: &Path, signer: Option<&dyn Signer>) -> Result<ExportSummary, Error> {
    if out.exists() && fs::read_dir(out).map_err(|e| Error::io(out, e))?.next().is_some() {
        return Err(Error::Invalid {
            what: out.display().to_string(),
            reason: "the bundle folder must be new or empty".into(),
        });
    }
    fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let (from, to) = (rfc3339(inputs.from_ms), rfc3339(inputs.to_ms));
    let (usage_rows, mut lake_files) = usage::usage(inputs.lake, inputs.from_ms, inputs.to_ms)?;
    let findings = match inputs.findings {
        Some(f) => f,
        None => {
            let (f, files) = lake_findings(inputs.lake, inputs.from_ms, inputs.to_ms)?;
            lake_files.extend(files);
            f
        }
    };
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), Error> {
        let path = out.join(name);
        fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        written.push(name.to_owned());
        Ok(())
    };
    put("usage.csv", &csv_bytes(&usage_rows, usage::USAGE_COLUMNS)?)?;
    put("findings.csv", &csv_bytes(&findings, html::FINDING_COLUMNS)?)?;
    put("findings.json", &serde_json::to_vec_pretty(&findings).expect("findings serialize"))?;
    if !inputs.verification.is_empty() {
        put("verification.csv", &csv_bytes(&inputs.verification, html::VERIFICATION_COLUMNS)?)?;
    }
    let integrity = inputs.trail_integrity.as_ref().map(integrity_counts);
    if let Some(report) = &inputs.trail_integrity {
        put("trail-integrity.json", &serde_json::to_vec_pretty(report).expect("json serializes"))?;
    }
    let page = html::render(&ReportData {
        from: &from,
        to: &to,
        lake: &inputs.lake.root(),
        lake_files: lake_files.len(),
        usage: &usage_rows,
        findings: &findings,
        verification: &inputs.verification,
        integrity,
        version: &inputs.version,
    });
    put("report.html", page.as_bytes())?;

    let manifest = Manifest {
        tool: "kms-audit".into(),
        version: inputs.version.clone(),
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        period: Period { from, to },
        lake: inputs.lake.root(),
        files: written.iter().map(|name| manifest::file_entry(out, name)).collect::<Result<_, _>>()?,
        lake_files: manifest::source_entries(inputs.lake, &lake_files)?,
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    let manifest_path = out.join(MANIFEST);
    fs::write(&manifest_path, &manifest_bytes).map_err(|e| Error::io(&manifest_path, e))?;
    let mut signed_by = None;
    if let Some(signer) = signer {
        let sig = signer.sign(&manifest_bytes)?;
        signed_by = Some(sig.key_id.clone());
        let path = out.join(SIGNATURE);
        fs::write(&path, serde_json::to_vec_pretty(&sig).expect("signature serializes"))
            .map_err(|e| Error::io(&path, e))?;
    }
    let calls = usage_rows.iter().map(|u| u.calls).sum();
    Ok(ExportSummary {
        out: out.display().to_string(),
        files: written,
        usage_rows: usage_rows.len(),
        calls,
        findings: findings.len(),
        verified_objects: inputs.verification.len(),
        lake_files: lake_files.len(),
        signed_by,
    })
}

/// CSV with a header row even when there are no rows (an empty findings.csv still says what
/// its columns are).
fn csv_bytes<T: Serialize>(rows: &[T], header: &[&str]) -> Result<Vec<u8>, Error> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().map_err(|e| Error::Invalid { what: "csv".into(), reason: e.to_string() })
}

fn integrity_counts(report: &serde_json::Value) -> (usize, usize, usize, usize) {
    let count = |list: &str| {
        let items = report[list].as_array().map(Vec::as_slice).unwrap_or_default();
        (items.iter().filter(|i| i["status"] == "valid").count(), items.len())
    };
    let (lv, lt) = count("log_files");
    let (dv, dt) = count("digests");
    (lv, lt, dv, dt)
}

/// Findings of the period from `LAKE/findings/dt=…/`, deduplicated across reconcile runs.
fn lake_findings(
    lake: &dyn lake::Store,
    from_ms: i64,
    to_ms: i64,
) -> Result<(Vec<FindingRow>, Vec<usage::LakeFile>), Error> {
    let first = rfc3339(from_ms)[..10].to_owned();
    let last = rfc3339(to_ms - 1)[..10].to_owned();
    let mut rows = Vec::new();
    let mut files = Vec::new();
    for object in lake.list(FINDINGS_PREFIX).map_err(lake::LakeError::from)? {
        let Some(dt) = object.key.split('/').find_map(|p| p.strip_prefix("dt=")) else { continue };
        if !object.key.ends_with(".parquet") || dt < first.as_str() || dt > last.as_str() {
            continue;
        }
        let bytes = Bytes::from(lake.get_bytes(&object.key).map_err(lake::LakeError::from)?);
        let mut json = arrow::json::WriterBuilder::new().build::<_, JsonArray>(Vec::new());
        for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
            json.write(&batch?)?;
        }
        json.finish()?;
        let text = json.into_inner();
        if !text.is_empty() {
            let parsed: Vec<FindingRow> = serde_json::from_slice(&text)
                .map_err(|e| Error::Invalid { what: object.key.clone(), reason: e.to_string() })?;
            rows.extend(parsed);
        }
        files.push(usage::LakeFile { key: object.key, bytes: object.size });
    }
    rows.sort_by(|a, b| {
        (
            severity_rank(&a.severity),
            &a.rule,
            &a.event_time,
            &a.event_id,
            &a.key_arn,
            &a.principal_arn,
            &a.job_arn,
            &a.detail,
        )
            .cmp(&(
                severity_rank(&b.severity),
                &b.rule,
                &b.event_time,
                &b.event_id,
                &b.key_arn,
                &b.principal_arn,
                &b.job_arn,
                &b.detail,
            ))
    });
    rows.dedup();
    Ok((rows, files))
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "high" => 0,
        "medium" => 1,
        "low" => 2,
        _ => 3,
    }
}
