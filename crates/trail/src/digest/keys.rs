//! CloudTrail's digest-signing public keys (`ListPublicKeys`) and signature verification.

use std::fmt;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine as _;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::error::DigestError;

/// One CloudTrail public key: the `PublicKey` of `ListPublicKeys`.
///
/// `Value` is the DER encoding of the RSA public key, PKCS #1 `RSAPublicKey` (what CloudTrail
/// returns); an X.509 `SubjectPublicKeyInfo` is accepted too. The key is parsed once, when the
/// `PublicKey` is made.
#[derive(Clone)]
pub struct PublicKey {
    fingerprint: String,
    der: Vec<u8>,
    validity_start: Option<DateTime<Utc>>,
    validity_end: Option<DateTime<Utc>>,
    parsed: ParsedPublicKey,
}

impl PublicKey {
    /// A key from its fingerprint (as CloudTrail reports it and digests name it), its DER bytes
    /// and its validity window.
    ///
    /// # Errors
    /// [`DigestError::PublicKeys`] when `der` is not an RSA public key of 2048 to 8192 bits.
    pub fn new(
        fingerprint: impl Into<String>,
        der: Vec<u8>,
        validity_start: Option<DateTime<Utc>>,
        validity_end: Option<DateTime<Utc>>,
    ) -> Result<Self, DigestError> {
        let fingerprint = fingerprint.into().trim().to_ascii_lowercase();
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der).map_err(|e| DigestError::PublicKeys {
            reason: format!("key with fingerprint {fingerprint} is not a DER RSA public key of 2048 to 8192 bits: {e}"),
        })?;
        Ok(PublicKey { fingerprint, der, validity_start, validity_end, parsed })
    }

    /// The fingerprint, lowercase hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The DER bytes as given.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Start of the key's validity, if known.
    pub fn validity_start(&self) -> Option<DateTime<Utc>> {
        self.validity_start
    }

    /// End of the key's validity, if known.
    pub fn validity_end(&self) -> Option<DateTime<Utc>> {
        self.validity_end
    }

    /// Verifies an RSA PKCS #1 v1.5 SHA-256 (`SHA256withRSA`) signature, given in hex, of
    /// `message` (the data-signing string; it is hashed here). Returns why it fails.
    pub(crate) fn verify(&self, message: &[u8], signature_hex: &str) -> Result<(), String> {
        let signature = hex::decode(signature_hex.trim()).map_err(|e| format!("signature is not hex: {e}"))?;
        self.parsed
            .verify_sig(message, &signature)
            .map_err(|_| format!("signature does not verify with the public key {}", self.fingerprint))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("fingerprint", &self.fingerprint)
            .field("validity_start", &self.validity_start)
            .field("validity_end", &self.validity_end)
            .finish_non_exhaustive()
    }
}

/// The public keys digests may be signed with, looked up by fingerprint.
///
/// Which key signed a digest is decided by the digest's `digestPublicKeyFingerprint` alone, as
/// the AWS CLI does; the validity window is informational (CloudTrail's key list is fetched for
/// the validated period).
#[derive(Debug, Clone, Default)]
pub struct PublicKeyList {
    keys: Vec<PublicKey>,
}

#[derive(Deserialize)]
struct ListPublicKeysOutput {
    #[serde(rename = "PublicKeyList", alias = "publicKeyList")]
    public_key_list: Vec<ListedKey>,
}

#[derive(Deserialize)]
struct ListedKey {
    #[serde(rename = "Value", alias = "value")]
    value: Option<String>,
    #[serde(rename = "Fingerprint", alias = "fingerprint")]
    fingerprint: Option<String>,
    #[serde(rename = "ValidityStartTime", alias = "validityStartTime", default)]
    validity_start_time: Value,
    #[serde(rename = "ValidityEndTime", alias = "validityEndTime", default)]
    validity_end_time: Value,
}

impl PublicKeyList {
    /// A list of keys.
    pub fn new(keys: Vec<PublicKey>) -> Self {
        PublicKeyList { keys }
    }

    /// Parses exactly what `aws cloudtrail list-public-keys` prints:
    /// `{"PublicKeyList": [{"Value": base64 DER, "ValidityStartTime": t, "ValidityEndTime": t,
    /// "Fingerprint": hex}, …]}`. Times may be epoch seconds (number or numeric string, as AWS
    /// CLI v1 prints them) or ISO 8601 / RFC 3339 strings (AWS CLI v2); a time without zone is
    /// UTC. The documentation's lowercase `publicKeyList` is accepted too; other fields
    /// (`NextToken`) are ignored.
    ///
    /// # Errors
    /// [`DigestError::PublicKeys`] naming the entry (index and fingerprint) at fault.
    pub fn from_list_public_keys_json(json: &str) -> Result<Self, DigestError> {
        let output: ListPublicKeysOutput = serde_json::from_str(json).map_err(|e| DigestError::PublicKeys {
            reason: format!("not the output of `aws cloudtrail list-public-keys`: {e}"),
        })?;
        let mut keys = Vec::with_capacity(output.public_key_list.len());
        for (i, entry) in output.public_key_list.into_iter().enumerate() {
            let fingerprint = entry
                .fingerprint
                .filter(|f| !f.trim().is_empty())
                .ok_or_else(|| DigestError::PublicKeys { reason: format!("PublicKeyList[{i}] has no Fingerprint") })?;
            let value = entry.value.ok_or_else(|| DigestError::PublicKeys {
                reason: format!("PublicKeyList[{i}] (fingerprint {fingerprint}) has no Value"),
            })?;
            let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map_err(|e| {
                DigestError::PublicKeys {
                    reason: format!("PublicKeyList[{i}] (fingerprint {fingerprint}): Value is not base64: {e}"),
                }
            })?;
            let time = |v: &Value, field: &str| {
                parse_key_time(v).map_err(|reason| DigestError::PublicKeys {
                    reason: format!("PublicKeyList[{i}] (fingerprint {fingerprint}): {field}: {reason}"),
                })
            };
            let start = time(&entry.validity_start_time, "ValidityStartTime")?;
            let end = time(&entry.validity_end_time, "ValidityEndTime")?;
            keys.push(PublicKey::new(fingerprint, der, start, end)?);
        }
        Ok(PublicKeyList { keys })
    }

    /// The key with this fingerprint (case-insensitive).
    pub fn get(&self, fingerprint: &str) -> Option<&PublicKey> {
        let fingerprint = fingerprint.trim();
        self.keys.iter().find(|k| k.fingerprint.eq_ignore_ascii_case(fingerprint))
    }

    /// All keys.
    pub fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds a key.
    pub fn push(&mut self, key: PublicKey) {
        self.keys.push(key);
    }
}

impl FromIterator<PublicKey> for PublicKeyList {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> Self {
        PublicKeyList { keys: iter.into_iter().collect() }
    }
}

/// A `list-public-keys` time: absent/null, epoch seconds, or an ISO 8601 string.
fn parse_key_time(v: &Value) -> Result<Option<DateTime<Utc>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_f64().and_then(epoch).map(Some).ok_or_else(|| format!("{n} is not a time")),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Ok(Some(t.with_timezone(&Utc)));
            }
            for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
                    return Ok(Some(Utc.from_utc_datetime(&t)));
                }
            }
            for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
                if let Ok(t) = DateTime::parse_from_str(s, format) {
                    return Ok(Some(t.with_timezone(&Utc)));
                }
            }
            s.parse::<f64>().ok().and_then(epoch).map(Some).ok_or_else(|| format!("{s:?} is not a time"))
        }
        other => Err(format!("{other} is not a time")),
    }
}

fn epoch(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_times_in_every_cli_form() {
        let t = |v: Value| parse_key_time(&v).unwrap().map(|t| t.timestamp());
        assert_eq!(t(serde_json::json!(1453076702.0)), Some(1453076702));
        assert_eq!(t(serde_json::json!(1453076702)), Some(1453076702));
        assert_eq!(t(serde_json::json!("1436317441.0")), Some(1436317441));
        assert_eq!(t(serde_json::json!("2016-01-18T00:25:02+00:00")), Some(1453076702));
        assert_eq!(t(serde_json::json!("2016-01-18T00:25:02Z")), Some(1453076702));
        assert_eq!(t(serde_json::json!("2016-01-18T00:25:02.000000+00:00")), Some(1453076702));
        assert_eq!(t(serde_json::json!("2016-01-18T00:25:02")), Some(1453076702));
        assert_eq!(t(serde_json::json!("2016-01-18 00:25:02+00:00")), Some(1453076702));
        assert_eq!(t(Value::Null), None);
        assert!(parse_key_time(&serde_json::json!("yesterday")).is_err());
        assert!(parse_key_time(&serde_json::json!(true)).is_err());
    }

    #[test]
    fn rejects_lists_that_are_not_list_public_keys_output() {
        for bad in [
            "[]",
            r#"{"Keys":[]}"#,
            r#"{"PublicKeyList":[{"Value":"AAAA"}]}"#,
            r#"{"PublicKeyList":[{"Fingerprint":"ab"}]}"#,
            r#"{"PublicKeyList":[{"Fingerprint":"ab","Value":"!!"}]}"#,
            r#"{"PublicKeyList":[{"Fingerprint":"ab","Value":"AAAA"}]}"#,
        ] {
            let err = PublicKeyList::from_list_public_keys_json(bad).unwrap_err();
            assert!(matches!(err, DigestError::PublicKeys { .. }), "{bad}: {err}");
        }
        assert!(PublicKeyList::from_list_public_keys_json(r#"{"PublicKeyList":[]}"#).unwrap().is_empty());
    }
}
