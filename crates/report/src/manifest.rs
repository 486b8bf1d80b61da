//! `manifest.json` (SHA-256 of every file), its optional signature `manifest.sig.json`, and the
//! check `export-verify` runs.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::usage::LakeFile;
use crate::Error;

pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig.json";
pub const ED25519: &str = "ED25519";
pub const RSASSA_PSS_SHA_256: &str = "RSASSA_PSS_SHA_256";

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A lake file the bundle was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    pub key: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    pub generated_at: String,
    pub period: Period,
    pub lake: String,
    pub files: Vec<FileEntry>,
    pub lake_files: Vec<SourceEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from: String,
    pub to: String,
}

/// A signature over `manifest.json`'s exact bytes; carries the public key so it verifies offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// `ED25519` or `RSASSA_PSS_SHA_256`.
    pub algorithm: String,
    /// `local:<fingerprint>` or the KMS key ARN.
    pub key_id: String,
    /// SHA-256 of manifest.json, hex: the digest that was signed.
    pub manifest_sha256: String,
    /// Base64.
    pub signature: String,
    /// Base64: raw 32 bytes (Ed25519) or SubjectPublicKeyInfo DER (RSA).
    pub public_key: String,
}

/// Something that signs a manifest: a local Ed25519 key here, a KMS key in the `aws` crate.
pub trait Signer {
    fn sign(&self, manifest: &[u8]) -> Result<Signature, Error>;
}

/// An Ed25519 key in a local file (PKCS#8, hex in a small JSON document).
pub struct LocalSigner {
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalSigner({})", fingerprint(self.key.public_key().as_ref()))
    }
}

#[derive(Serialize, Deserialize)]
struct SigningKeyFile {
    #[serde(rename = "type")]
    kind: String,
    algorithm: String,
    pkcs8_hex: String,
}

const SIGNING_KEY_TYPE: &str = "kms-audit-signing-key";

impl LocalSigner {
    /// Creates a new key file (mode 0600); refuses to overwrite one.
    pub fn create(path: &Path) -> Result<LocalSigner, Error> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|e| Error::Sign(e.to_string()))?;
        let doc = SigningKeyFile {
            kind: SIGNING_KEY_TYPE.into(),
            algorithm: ED25519.into(),
            pkcs8_hex: hex::encode(pkcs8.as_ref()),
        };
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path).map_err(|e| Error::io(path, e))?;
        std::io::Write::write_all(&mut f, serde_json::to_string_pretty(&doc).expect("serializes").as_bytes())
            .map_err(|e| Error::io(path, e))?;
        Self::load(path)
    }

    pub fn load(path: &Path) -> Result<LocalSigner, Error> {
        let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let invalid = |reason: &str| Error::Invalid { what: path.display().to_string(), reason: reason.into() };
        let doc: SigningKeyFile =
            serde_json::from_str(&text).map_err(|_| invalid("not a kms-audit signing key file"))?;
        if doc.kind != SIGNING_KEY_TYPE || doc.algorithm != ED25519 {
            return Err(invalid("not an Ed25519 kms-audit signing key"));
        }
        let der = hex::decode(&doc.pkcs8_hex).map_err(|_| invalid("pkcs8_hex is not hex"))?;
        let key = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| invalid("pkcs8_hex is not an Ed25519 PKCS#8 key"))?;
        Ok(LocalSigner { key })
    }

    pub fn key_id(&self) -> String {
        format!("local:{}", fingerprint(self.key.public_key().as_ref()))
    }
}

impl Signer for LocalSigner {
    fn sign(&self, manifest: &[u8]) -> Result<Signature, Error> {
        let sig = self.key.sign(manifest);
        Ok(Signature {
            algorithm: ED25519.into(),
            key_id: self.key_id(),
            manifest_sha256: sha256_hex(manifest),
            signature: base64::engine::general_purpose::STANDARD.encode(sig.as_ref()),
            public_key: base64::engine::general_purpose::STANDARD.encode(self.key.public_key().as_ref()),
        })
    }
}

/// Short fingerprint of a public key: first 16 hex digits of its SHA-256.
pub fn fingerprint(public_key: &[u8]) -> String {
    sha256_hex(public_key)[..16].to_owned()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn file_entry(dir: &Path, name: &str) -> Result<FileEntry, Error> {
    let path = dir.join(name);
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    Ok(FileEntry { path: name.to_owned(), bytes: bytes.len() as u64, sha256: sha256_hex(&bytes) })
}

pub(crate) fn source_entries(lake: &dyn lake::Store, files: &[LakeFile]) -> Result<Vec<SourceEntry>, Error> {
    files
        .iter()
        .map(|f| {
            let bytes = lake.get_bytes(&f.key).map_err(lake::LakeError::from)?;
            Ok(SourceEntry { key: f.key.clone(), bytes: bytes.len() as u64, sha256: sha256_hex(&bytes) })
        })
        .collect()
}

/// Whether the signature is present and valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SignatureStatus {
    Absent,
    Valid { algorithm: String, key_id: String, public_key_fingerprint: String },
    Invalid { reason: String },
}

/// What `export-verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleCheck {
    /// Listed files whose bytes differ from the manifest.
    pub changed: Vec<String>,
    /// Listed files that are gone.
    pub missing: Vec<String>,
    /// Files in the folder the manifest does not list.
    pub unlisted: Vec<String>,
    pub signature: SignatureStatus,
}

impl BundleCheck {
    /// Every file intact and, when signed, the signature valid (and by the expected key).
    pub fn is_ok(&self) -> bool {
        self.changed.is_empty()
            && self.missing.is_empty()
            && self.unlisted.is_empty()
            && !matches!(self.signature, SignatureStatus::Invalid { .. })
    }
}

/// Checks a bundle: every file's hash, no extra files, and the signature when there is one.
/// `expect_key` pins the signer (`local:<fingerprint>` or a KMS key ARN); without it any
/// well-formed signature over this manifest is accepted and its key reported.
pub fn verify_bundle(dir: &Path, expect_key: Option<&str>, require_signature: bool) -> Result<BundleCheck, Error> {
    let manifest_path = dir.join(MANIFEST);
    let manifest_bytes = fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| Error::Invalid { what: manifest_path.display().to_string(), reason: e.to_string() })?;
    let mut check =
        BundleCheck { changed: vec![], missing: vec![], unlisted: vec![], signature: SignatureStatus::Absent };
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for entry in &manifest.files {
        if entry.path.contains("..") || entry.path.starts_with('/') {
            return Err(Error::Invalid {
                what: MANIFEST.into(),
                reason: format!("path {:?} leaves the bundle", entry.path),
            });
        }
        match fs::read(dir.join(&entry.path)) {
            Ok(bytes) if sha256_hex(&bytes) == entry.sha256 && bytes.len() as u64 == entry.bytes => {}
            Ok(_) => check.changed.push(entry.path.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => check.missing.push(entry.path.clone()),
            Err(e) => return Err(Error::io(&dir.join(&entry.path), e)),
        }
    }
    for e in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let name = e.map_err(|e| Error::io(dir, e))?.file_name().to_string_lossy().into_owned();
        if name != MANIFEST && name != SIGNATURE && !listed.contains(name.as_str()) {
            check.unlisted.push(name);
        }
    }
    check.unlisted.sort();
    check.signature = match fs::read(dir.join(SIGNATURE)) {
        Ok(bytes) => check_signature(&bytes, &manifest_bytes, expect_key),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if require_signature || expect_key.is_some() {
                SignatureStatus::Invalid { reason: format!("{SIGNATURE} is missing") }
            } else {
                SignatureStatus::Absent
            }
        }
        Err(e) => return Err(Error::io(&dir.join(SIGNATURE), e)),
    };
    Ok(check)
}

fn check_signature(sig_bytes: &[u8], manifest: &[u8], expect_key: Option<&str>) -> SignatureStatus {
    let invalid = |reason: String| SignatureStatus::Invalid { reason };
    let sig: Signature = match serde_json::from_slice(sig_bytes) {
        Ok(s) => s,
        Err(e) => return invalid(format!("{SIGNATURE}: {e}")),
    };
    if sig.manifest_sha256 != sha256_hex(manifest) {
        return invalid(format!("{MANIFEST} changed: its SHA-256 is not the signed digest"));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(public_key), Ok(signature)) = (b64.decode(&sig.public_key), b64.decode(&sig.signature)) else {
        return invalid("public_key or signature is not base64".into());
    };
    let fp = fingerprint(&public_key);
    if let Some(expected) = expect_key {
        let matches =
            if let Some(want) = expected.strip_prefix("local:") { want == fp } else { expected == sig.key_id };
        if !matches {
            return invalid(format!("signed by {} (public key {fp}), not by {expected}", sig.key_id));
        }
    }
    if sig.algorithm == ED25519 && sig.key_id != format!("local:{fp}") {
        return invalid(format!("key_id {} does not name the public key {fp}", sig.key_id));
    }
    let algorithm: &dyn signature::VerificationAlgorithm = match sig.algorithm.as_str() {
        ED25519 => &signature::ED25519,
        RSASSA_PSS_SHA_256 => &signature::RSA_PSS_2048_8192_SHA256,
        other => return invalid(format!("unsupported algorithm {other}")),
    };
    match UnparsedPublicKey::new(algorithm, &public_key).verify(manifest, &signature) {
        Ok(()) => SignatureStatus::Valid { algorithm: sig.algorithm, key_id: sig.key_id, public_key_fingerprint: fp },
        Err(_) => invalid("the signature does not verify against the manifest".into()),
    }
}
