//! Envelope formats: detection from S3 user metadata, parsing, and sealing.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::aead::{self, NONCE_LEN, TAG_LEN};
use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::key::DataKey;
use crate::object::Options;

/// User-metadata names, lowercase and without the `x-amz-meta-` prefix (as the S3 SDKs return
/// them).
pub mod names {
    /// Simple format: hex of the wrapped data key. Also the legacy v1 client's (base64) key.
    pub const KEY: &str = "x-amz-key";
    /// Simple format: the encryption context as a JSON object (this crate's name; optional).
    pub const CONTEXT: &str = "x-amz-context";
    /// S3EC v2: base64 of the wrapped data key (KMS `CiphertextBlob`).
    pub const KEY_V2: &str = "x-amz-key-v2";
    /// S3EC v1/v2: base64 of the content IV.
    pub const IV: &str = "x-amz-iv";
    /// S3EC v2: content cipher, `AES/GCM/NoPadding`.
    pub const CEK_ALG: &str = "x-amz-cek-alg";
    /// S3EC v2: key-wrap algorithm, `kms+context`.
    pub const WRAP_ALG: &str = "x-amz-wrap-alg";
    /// S3EC v1/v2: material description; for `kms+context` the full KMS encryption context.
    pub const MATDESC: &str = "x-amz-matdesc";
    /// S3EC v2: GCM tag length in bits, `128`.
    pub const TAG_LEN: &str = "x-amz-tag-len";
    /// S3EC v1/v2: plaintext length (optional in v2; the Go client writes it).
    pub const UNENCRYPTED_LEN: &str = "x-amz-unencrypted-content-length";
    /// S3EC v3 (key-committing) compressed names; present means "not a format we read".
    pub const V3: [&str; 7] = ["x-amz-3", "x-amz-c", "x-amz-d", "x-amz-i", "x-amz-w", "x-amz-m", "x-amz-t"];
    /// Names that belong to the S3 Encryption Client v1/v2 (besides the keys themselves).
    pub const S3EC_V1_V2: [&str; 6] = [IV, MATDESC, CEK_ALG, WRAP_ALG, TAG_LEN, UNENCRYPTED_LEN];
}

/// `x-amz-cek-alg` value for AES-256-GCM.
pub const CEK_ALG_AES_GCM: &str = "AES/GCM/NoPadding";
/// `x-amz-wrap-alg` value for KMS with encryption context.
pub const WRAP_ALG_KMS_CONTEXT: &str = "kms+context";
/// `x-amz-wrap-alg` value this crate writes for data keys wrapped by the
/// [local keyring](crate::LocalKeyring) (official clients will, correctly, not try KMS on it).
pub const WRAP_ALG_LOCAL_CONTEXT: &str = "kms-audit-local+context";
/// Reserved encryption-context entry the S3 Encryption Client v2 adds (value = the content
/// cipher), part of the context KMS sees.
pub const CONTEXT_CEK_ALG_KEY: &str = "aws:x-amz-cek-alg";
/// Wrapping algorithms the v2 reader knows how to hand to a keyring.
const KNOWN_WRAP_ALGS: [&str; 2] = [WRAP_ALG_KMS_CONTEXT, WRAP_ALG_LOCAL_CONTEXT];

/// A client-side envelope format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// Body = nonce ‖ ciphertext ‖ tag; `x-amz-key` = hex wrapped key; optional `x-amz-context`.
    #[serde(rename = "simple")]
    Simple,
    /// AWS S3 Encryption Client v2 metadata, `kms+context`, AES/GCM/NoPadding.
    #[serde(rename = "s3ec-v2")]
    S3ecV2,
}

impl Format {
    /// `simple` or `s3ec-v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Simple => "simple",
            Format::S3ecV2 => "s3ec-v2",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "simple" => Ok(Format::Simple),
            "s3ec-v2" | "s3ec" | "v2" => Ok(Format::S3ecV2),
            other => Err(format!("unknown envelope format {other:?} (expected simple or s3ec-v2)")),
        }
    }
}

/// Lowercases names (S3 is case-insensitive about them); two names that collide are ambiguous.
fn normalize(metadata: &BTreeMap<String, String>) -> Result<BTreeMap<String, &str>> {
    let mut out = BTreeMap::new();
    for (k, v) in metadata {
        let lower = k.to_ascii_lowercase();
        if out.insert(lower.clone(), v.as_str()).is_some() {
            return Err(Error::malformed(&lower, "present twice with different letter case"));
        }
    }
    Ok(out)
}

fn is_even_hex(s: &str) -> bool {
    !s.is_empty() && s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Classifies an object's user metadata.
///
/// * `Ok(None)`: no client-side envelope metadata at all (the object may still be SSE-KMS,
///   SSE-S3 or unencrypted; see [`crate::verify`]).
/// * `Ok(Some(Format::S3ecV2))`: `x-amz-key-v2` present, no v1/v3 key.
/// * `Ok(Some(Format::Simple))`: `x-amz-key` is non-empty even-length hex and none of the S3
///   Encryption Client names (`x-amz-iv`, `x-amz-matdesc`, `x-amz-cek-alg`, `x-amz-wrap-alg`,
///   `x-amz-tag-len`, `x-amz-unencrypted-content-length`, `x-amz-key-v2`, the v3 names) is
///   present. `x-amz-key` is also the legacy v1 client's name, hence the explicit check.
/// * `Err(UnsupportedFormat)`: S3EC v1 (`x-amz-key` with `x-amz-iv` or other S3EC names) or
///   v3 (`x-amz-3`, `x-amz-c`, …).
/// * `Err(MalformedMetadata)`: names of different formats mixed, or an `x-amz-key` that is not
///   even-length hex.
/// * `Err(MissingMetadata)`: envelope names present without the wrapped key.
///
/// Field values other than `x-amz-key` are checked by [`Envelope::parse`].
pub fn detect(metadata: &BTreeMap<String, String>) -> Result<Option<Format>> {
    let md = normalize(metadata)?;
    detect_normalized(&md)
}

fn detect_normalized(md: &BTreeMap<String, &str>) -> Result<Option<Format>> {
    let has = |k: &str| md.contains_key(k);
    let v3: Vec<&str> = names::V3.iter().copied().filter(|k| has(k)).collect();
    let s3ec: Vec<&str> = names::S3EC_V1_V2.iter().copied().filter(|k| has(k)).collect();
    let has_key = has(names::KEY);
    let has_key_v2 = has(names::KEY_V2);

    if !v3.is_empty() {
        if has_key || has_key_v2 {
            return Err(Error::malformed(v3[0], "S3 Encryption Client v3 names mixed with x-amz-key/x-amz-key-v2"));
        }
        return Err(Error::UnsupportedFormat {
            what: format!(
                "S3 Encryption Client v3 (key-committing) metadata ({}); re-encrypt with simple or s3ec-v2",
                v3.join(", ")
            ),
        });
    }
    if has_key && has_key_v2 {
        return Err(Error::malformed(names::KEY_V2, "both x-amz-key and x-amz-key-v2 present"));
    }
    if has_key_v2 {
        if has(names::CONTEXT) {
            return Err(Error::malformed(
                names::CONTEXT,
                "simple-format context beside S3 Encryption Client v2 metadata",
            ));
        }
        return Ok(Some(Format::S3ecV2));
    }
    if has_key {
        if !s3ec.is_empty() {
            return Err(Error::UnsupportedFormat {
                what: format!(
                    "S3 Encryption Client v1 (x-amz-key with {}); re-encrypt with simple or s3ec-v2",
                    s3ec.join(", ")
                ),
            });
        }
        if !is_even_hex(md[names::KEY]) {
            return Err(Error::malformed(
                names::KEY,
                "not non-empty even-length hex (a base64 value would be the legacy S3 Encryption Client v1, which also needs x-amz-iv)",
            ));
        }
        return Ok(Some(Format::Simple));
    }
    if let Some(k) = s3ec.first() {
        return Err(Error::missing(
            names::KEY_V2,
            format!("S3 Encryption Client metadata ({k}) without the wrapped data key"),
        ));
    }
    if has(names::CONTEXT) {
        return Err(Error::missing(names::KEY, "x-amz-context present without the wrapped data key"));
    }
    Ok(None)
}

/// A parsed client-side envelope: everything needed to unwrap the data key and open the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The format.
    pub format: Format,
    /// The wrapped data key (KMS `CiphertextBlob` or a local-keyring blob).
    pub wrapped_key: Vec<u8>,
    /// The encryption context exactly as it goes to the keyring (for v2 this includes
    /// `aws:x-amz-cek-alg`, as the official clients send it to KMS).
    pub kms_context: EncryptionContext,
    /// v2: the `x-amz-wrap-alg` value. `None` for simple.
    pub wrap_algorithm: Option<String>,
    /// v2: the content IV from `x-amz-iv`. `None` for simple (the nonce leads the body).
    pub iv: Option<[u8; NONCE_LEN]>,
    /// v2: `x-amz-unencrypted-content-length`, when present.
    pub plaintext_len: Option<u64>,
}

fn b64(field: &str, value: &str) -> Result<Vec<u8>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(value.trim()).map_err(|e| Error::malformed(field, format!("not base64: {e}")))
}

impl Envelope {
    /// Detects the format ([`detect`]) and parses and checks every envelope field.
    /// `Ok(None)` when there is no client-side envelope metadata.
    pub fn parse(metadata: &BTreeMap<String, String>) -> Result<Option<Envelope>> {
        let md = normalize(metadata)?;
        match detect_normalized(&md)? {
            None => Ok(None),
            Some(Format::Simple) => Self::parse_simple(&md).map(Some),
            Some(Format::S3ecV2) => Self::parse_v2(&md).map(Some),
        }
    }

    fn parse_simple(md: &BTreeMap<String, &str>) -> Result<Envelope> {
        let wrapped_key =
            hex::decode(md[names::KEY]).map_err(|e| Error::malformed(names::KEY, format!("not hex: {e}")))?;
        let kms_context = match md.get(names::CONTEXT) {
            None => EncryptionContext::new(),
            Some(v) => EncryptionContext::from_json(v)
                .map_err(|e| Error::malformed(names::CONTEXT, format!("not a JSON object of strings: {e}")))?,
        };
        Ok(Envelope {
            format: Format::Simple,
            wrapped_key,
            kms_context,
            wrap_algorithm: None,
            iv: None,
            plaintext_len: None,
        })
    }

    fn parse_v2(md: &BTreeMap<String, &str>) -> Result<Envelope> {
        let get = |k: &str| {
            md.get(k).copied().ok_or_else(|| Error::missing(k, "required by the S3 Encryption Client v2 format"))
        };
        let wrapped_key = b64(names::KEY_V2, get(names::KEY_V2)?)?;
        if wrapped_key.is_empty() {
            return Err(Error::malformed(names::KEY_V2, "empty"));
        }
        let cek = get(names::CEK_ALG)?;
        if cek != CEK_ALG_AES_GCM {
            return Err(Error::UnsupportedAlgorithm {
                what: format!("content cipher {cek:?} in x-amz-cek-alg (only {CEK_ALG_AES_GCM})"),
            });
        }
        let wrap = get(names::WRAP_ALG)?;
        if !KNOWN_WRAP_ALGS.contains(&wrap) {
            return Err(Error::UnsupportedAlgorithm {
                what: format!(
                    "key wrapping {wrap:?} in x-amz-wrap-alg (only {WRAP_ALG_KMS_CONTEXT} and {WRAP_ALG_LOCAL_CONTEXT})"
                ),
            });
        }
        let tag_len = get(names::TAG_LEN)?;
        if tag_len.trim() != "128" {
            return Err(Error::UnsupportedAlgorithm {
                what: format!("GCM tag length {tag_len:?} in x-amz-tag-len (only 128)"),
            });
        }
        let iv_bytes = b64(names::IV, get(names::IV)?)?;
        let iv: [u8; NONCE_LEN] = iv_bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::malformed(names::IV, format!("{} bytes, expected {NONCE_LEN}", iv_bytes.len())))?;
        let kms_context = EncryptionContext::from_json(get(names::MATDESC)?)
            .map_err(|e| Error::malformed(names::MATDESC, format!("not a JSON object of strings: {e}")))?;
        match kms_context.get(CONTEXT_CEK_ALG_KEY) {
            None => {
                return Err(Error::malformed(
                    names::MATDESC,
                    format!("{CONTEXT_CEK_ALG_KEY} missing (kms+context requires it)"),
                ))
            }
            Some(v) if v != cek => {
                return Err(Error::malformed(
                    names::MATDESC,
                    format!("{CONTEXT_CEK_ALG_KEY} is {v:?} but x-amz-cek-alg is {cek:?}"),
                ))
            }
            Some(_) => {}
        }
        let plaintext_len = match md.get(names::UNENCRYPTED_LEN) {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| Error::malformed(names::UNENCRYPTED_LEN, "not a decimal byte count"))?,
            ),
        };
        Ok(Envelope {
            format: Format::S3ecV2,
            wrapped_key,
            kms_context,
            wrap_algorithm: Some(wrap.to_owned()),
            iv: Some(iv),
            plaintext_len,
        })
    }

    /// The caller's part of the context: [`Envelope::kms_context`] without the reserved
    /// `aws:x-amz-cek-alg` entry (v2).
    pub fn user_context(&self) -> EncryptionContext {
        let mut ctx = self.kms_context.clone();
        if self.format == Format::S3ecV2 {
            ctx.remove(CONTEXT_CEK_ALG_KEY);
        }
        ctx
    }

    /// Structural checks on the body that need no key: size bound, minimum length, and the
    /// recorded plaintext length (v2). Run before unwrapping so a bad body costs no KMS call.
    pub fn check_body(&self, body: &[u8], options: &Options) -> Result<()> {
        let len = body.len() as u64;
        if len > options.max_body_bytes {
            return Err(Error::BodyTooLarge { size: len, limit: options.max_body_bytes });
        }
        let overhead = match self.format {
            Format::Simple => (NONCE_LEN + TAG_LEN) as u64,
            Format::S3ecV2 => TAG_LEN as u64,
        };
        if len < overhead {
            return Err(Error::Truncated { len, min: overhead });
        }
        if let Some(pt) = self.plaintext_len {
            let want = pt.saturating_add(overhead);
            if len < want {
                return Err(Error::Truncated { len, min: want });
            }
            if len > want {
                return Err(Error::malformed(
                    names::UNENCRYPTED_LEN,
                    format!("says {pt} bytes but the body holds {}", len - overhead),
                ));
            }
        }
        Ok(())
    }

    /// Authenticates and decrypts `body` with the unwrapped data key.
    pub fn open(&self, key: &DataKey, body: &[u8], options: &Options) -> Result<Vec<u8>> {
        self.check_body(body, options)?;
        match self.format {
            Format::Simple => {
                let (nonce, rest) = body.split_at(NONCE_LEN);
                let nonce: &[u8; NONCE_LEN] = nonce
                    .try_into()
                    .map_err(|_| Error::Truncated { len: body.len() as u64, min: (NONCE_LEN + TAG_LEN) as u64 })?;
                aead::open(options.backend, key, nonce, b"", rest)
            }
            Format::S3ecV2 => {
                let iv = self.iv.as_ref().ok_or_else(|| Error::missing(names::IV, "no IV parsed"))?;
                aead::open(options.backend, key, iv, b"", body)
            }
        }
    }
}

/// The key material and context an object is sealed with.
#[derive(Debug)]
pub struct SealMaterials<'a> {
    /// Target format.
    pub format: Format,
    /// The plaintext data key.
    pub data_key: &'a DataKey,
    /// The same key, wrapped by the keyring.
    pub wrapped_key: &'a [u8],
    /// v2: the `x-amz-wrap-alg` to record (the keyring's [`crate::Keyring::wrap_algorithm`]).
    pub wrap_algorithm: &'a str,
    /// The context the key was wrapped with (see [`kms_context`]).
    pub kms_context: &'a EncryptionContext,
}

/// The context the keyring must wrap a new data key with: the caller's context for simple;
/// for v2 the caller's context plus `aws:x-amz-cek-alg` = `AES/GCM/NoPadding` (as the official
/// clients do; a caller context that already uses that name is rejected).
pub fn kms_context(format: Format, user_context: &EncryptionContext) -> Result<EncryptionContext> {
    let mut ctx = user_context.clone();
    if format == Format::S3ecV2 {
        if ctx.get(CONTEXT_CEK_ALG_KEY).is_some() {
            return Err(Error::InvalidContext {
                reason: format!("{CONTEXT_CEK_ALG_KEY} is reserved for the S3 Encryption Client"),
            });
        }
        ctx.insert(CONTEXT_CEK_ALG_KEY, CEK_ALG_AES_GCM);
    }
    Ok(ctx)
}

/// Seals `plaintext` with the given materials and nonce; returns (metadata, body).
///
/// The nonce must never repeat under one data key. [`crate::encrypt_object`] uses a fresh data
/// key and a random nonce for every object; a caller-chosen nonce is for test vectors.
pub fn seal(
    materials: &SealMaterials<'_>,
    nonce: [u8; NONCE_LEN],
    plaintext: &[u8],
    options: &Options,
) -> Result<(BTreeMap<String, String>, Vec<u8>)> {
    // The bound applies to the stored body, which is what a reader will have to hold.
    let size = plaintext.len() as u64 + (NONCE_LEN + TAG_LEN) as u64;
    if size > options.max_body_bytes {
        return Err(Error::BodyTooLarge { size, limit: options.max_body_bytes });
    }
    let ct = aead::seal(options.backend, materials.data_key, &nonce, b"", plaintext)?;
    let mut md = BTreeMap::new();
    match materials.format {
        Format::Simple => {
            let mut body = Vec::with_capacity(NONCE_LEN + ct.len());
            body.extend_from_slice(&nonce);
            body.extend_from_slice(&ct);
            md.insert(names::KEY.to_owned(), hex::encode(materials.wrapped_key));
            if !materials.kms_context.is_empty() {
                md.insert(names::CONTEXT.to_owned(), materials.kms_context.canonical_json());
            }
            Ok((md, body))
        }
        Format::S3ecV2 => {
            if materials.kms_context.get(CONTEXT_CEK_ALG_KEY) != Some(CEK_ALG_AES_GCM) {
                return Err(Error::InvalidContext {
                    reason: format!(
                        "an s3ec-v2 context must contain {CONTEXT_CEK_ALG_KEY}={CEK_ALG_AES_GCM} (see kms_context)"
                    ),
                });
            }
            let b64 = base64::engine::general_purpose::STANDARD;
            md.insert(names::KEY_V2.to_owned(), b64.encode(materials.wrapped_key));
            md.insert(names::IV.to_owned(), b64.encode(nonce));
            md.insert(names::CEK_ALG.to_owned(), CEK_ALG_AES_GCM.to_owned());
            md.insert(names::WRAP_ALG.to_owned(), materials.wrap_algorithm.to_owned());
            md.insert(names::MATDESC.to_owned(), materials.kms_context.canonical_json());
            md.insert(names::TAG_LEN.to_owned(), "128".to_owned());
            md.insert(names::UNENCRYPTED_LEN.to_owned(), plaintext.len().to_string());
            Ok((md, ct))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn detection_table() {
        use crate::error::ErrorKind as K;
        type Case<'a> = (Vec<(&'a str, &'a str)>, std::result::Result<Option<Format>, K>);
        let cases: Vec<Case<'_>> = vec![
            (vec![], Ok(None)),
            (vec![("owner", "me")], Ok(None)),
            (vec![("x-amz-key", "00ff")], Ok(Some(Format::Simple))),
            (vec![("X-Amz-Key", "00FF")], Ok(Some(Format::Simple))),
            (vec![("x-amz-key", "00ff"), ("x-amz-context", "{}")], Ok(Some(Format::Simple))),
            (vec![("x-amz-key", "0ff")], Err(K::MalformedMetadata)),
            (vec![("x-amz-key", "")], Err(K::MalformedMetadata)),
            (vec![("x-amz-key", "AAAA+w==")], Err(K::MalformedMetadata)),
            (vec![("x-amz-key", "AAAA+w=="), ("x-amz-iv", "AAAA")], Err(K::UnsupportedFormat)),
            (vec![("x-amz-key", "00ff"), ("x-amz-matdesc", "{}")], Err(K::UnsupportedFormat)),
            (vec![("x-amz-key-v2", "AAAA")], Ok(Some(Format::S3ecV2))),
            (vec![("x-amz-key-v2", "AAAA"), ("x-amz-key", "00")], Err(K::MalformedMetadata)),
            (vec![("x-amz-key-v2", "AAAA"), ("x-amz-context", "{}")], Err(K::MalformedMetadata)),
            (vec![("x-amz-3", "AAAA"), ("x-amz-c", "115")], Err(K::UnsupportedFormat)),
            (vec![("x-amz-3", "AAAA"), ("x-amz-key-v2", "AAAA")], Err(K::MalformedMetadata)),
            (vec![("x-amz-iv", "AAAA")], Err(K::MissingMetadata)),
            (vec![("x-amz-context", "{}")], Err(K::MissingMetadata)),
            (vec![("x-amz-key", "00"), ("X-AMZ-KEY", "00")], Err(K::MalformedMetadata)),
        ];
        for (pairs, want) in cases {
            let got = detect(&md(&pairs)).map_err(|e| e.kind());
            assert_eq!(got, want, "{pairs:?}");
        }
    }

    #[test]
    fn format_names() {
        assert_eq!("simple".parse::<Format>().unwrap(), Format::Simple);
        assert_eq!("s3ec-v2".parse::<Format>().unwrap(), Format::S3ecV2);
        assert!("v1".parse::<Format>().is_err());
        assert_eq!(serde_json::to_string(&Format::S3ecV2).unwrap(), "\"s3ec-v2\"");
    }

    #[test]
    fn reserved_context_entry() {
        let mut ctx = EncryptionContext::new();
        ctx.insert("a", "b");
        let v2 = kms_context(Format::S3ecV2, &ctx).unwrap();
        assert_eq!(v2.get(CONTEXT_CEK_ALG_KEY), Some(CEK_ALG_AES_GCM));
        assert_eq!(kms_context(Format::Simple, &ctx).unwrap(), ctx);
        ctx.insert(CONTEXT_CEK_ALG_KEY, "x");
        assert!(kms_context(Format::S3ecV2, &ctx).is_err());
    }
}
