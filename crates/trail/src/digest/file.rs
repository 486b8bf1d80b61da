//! The digest file: its JSON form, reading it out of gzip, the string CloudTrail signs, and the
//! streaming hash of a log file.

use std::io::{self, Read};

use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::DigestError;

/// Largest uncompressed digest file read by default (64 MiB). A digest lists one hour of log
/// files, a few hundred bytes each; anything near this bound is not a CloudTrail digest.
pub const DEFAULT_MAX_DIGEST_BYTES: u64 = 64 << 20;

/// The hash algorithm name CloudTrail writes in `hashAlgorithm` / `previousDigestHashAlgorithm`.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// A CloudTrail digest file, as documented in the CloudTrail User Guide ("CloudTrail digest
/// file structure"). Times are kept as the strings CloudTrail wrote: `digestEndTime` enters the
/// signed string verbatim.
///
/// Required (as the AWS CLI requires them): `digestStartTime`, `digestEndTime`,
/// `digestS3Bucket`, `digestS3Object`, `digestPublicKeyFingerprint`, `previousDigestSignature`
/// (present, `null` in a starting digest) and `logFiles` (possibly empty). Unknown fields are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    /// The account the digest was delivered for.
    #[serde(default)]
    pub aws_account_id: Option<String>,
    /// Start of the delivery-time window the digest covers (`YYYY-MM-DDTHH:MM:SSZ`).
    pub digest_start_time: String,
    /// End of the delivery-time window the digest covers; signed verbatim.
    pub digest_end_time: String,
    /// The bucket CloudTrail delivered this digest to.
    #[serde(rename = "digestS3Bucket")]
    pub digest_s3_bucket: String,
    /// The key CloudTrail delivered this digest to.
    #[serde(rename = "digestS3Object")]
    pub digest_s3_object: String,
    /// Hex fingerprint of the public key whose private key signed this digest.
    pub digest_public_key_fingerprint: String,
    /// Signature algorithm (`SHA256withRSA`).
    #[serde(default)]
    pub digest_signature_algorithm: Option<String>,
    /// Newest event in the listed log files (`null` when none).
    #[serde(default)]
    pub newest_event_time: Option<String>,
    /// Oldest event in the listed log files (`null` when none).
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    /// Bucket of the previous digest (`null` in a starting digest).
    #[serde(default, rename = "previousDigestS3Bucket")]
    pub previous_digest_s3_bucket: Option<String>,
    /// Key of the previous digest (`null` in a starting digest).
    #[serde(default, rename = "previousDigestS3Object")]
    pub previous_digest_s3_object: Option<String>,
    /// Hex hash of the previous digest's uncompressed bytes.
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    /// Algorithm of `previousDigestHashValue` (`SHA-256`).
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    /// Hex signature of the previous digest; the field is required, `null` in a starting digest.
    #[serde(deserialize_with = "required_nullable")]
    pub previous_digest_signature: Option<String>,
    /// The log files delivered in the window.
    pub log_files: Vec<DigestLogFile>,
}

/// One entry of a digest's `logFiles`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestLogFile {
    /// Bucket of the log file.
    #[serde(rename = "s3Bucket")]
    pub s3_bucket: String,
    /// Key of the log file.
    #[serde(rename = "s3Object")]
    pub s3_object: String,
    /// Hex hash of the uncompressed log file.
    pub hash_value: String,
    /// Algorithm of `hashValue` (`SHA-256`).
    pub hash_algorithm: String,
    /// Newest event in the file.
    #[serde(default)]
    pub newest_event_time: Option<String>,
    /// Oldest event in the file.
    #[serde(default)]
    pub oldest_event_time: Option<String>,
}

/// A field that must be present but may be `null`.
fn required_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

impl DigestFile {
    /// Parses the uncompressed JSON of the digest `object`.
    ///
    /// # Errors
    /// [`DigestError::Malformed`] naming `object`, the line and column, when the JSON is invalid
    /// or a required field is missing or of the wrong type.
    pub fn from_json(object: &str, json: &[u8]) -> Result<Self, DigestError> {
        serde_json::from_slice(json).map_err(|e| DigestError::Malformed {
            object: object.to_owned(),
            reason: format!("invalid digest JSON: {e}"),
        })
    }

    /// Whether this is a starting digest (no previous digest: validation was just enabled or
    /// logging restarted).
    pub fn is_starting(&self) -> bool {
        self.previous_digest_s3_object.is_none()
    }

    /// `digestEndTime` as an instant, when it parses.
    pub fn end_time(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.digest_end_time)
    }

    /// `digestStartTime` as an instant, when it parses.
    pub fn start_time(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.digest_start_time)
    }

    /// The string CloudTrail signed for this digest, given the hex SHA-256 of the digest's
    /// uncompressed bytes; see [`string_to_sign`].
    pub fn string_to_sign(&self, digest_sha256_hex: &str) -> String {
        string_to_sign(
            &self.digest_end_time,
            &self.digest_s3_bucket,
            &self.digest_s3_object,
            digest_sha256_hex,
            self.previous_digest_signature.as_deref(),
        )
    }
}

/// The data-signing string of a digest file, as the CloudTrail User Guide ("Custom
/// implementations of CloudTrail log file integrity validation") defines it:
///
/// ```text
/// digestEndTime + "\n" + digestS3Bucket + "/" + digestS3Object + "\n"
///   + hex(SHA-256(uncompressed digest file)) + "\n" + previousDigestSignature
/// ```
///
/// with the literal `null` for the previous signature of a starting digest (as the AWS CLI
/// does, to match CloudTrail's Java implementation). The fields are used verbatim.
pub fn string_to_sign(
    digest_end_time: &str,
    digest_s3_bucket: &str,
    digest_s3_object: &str,
    digest_sha256_hex: &str,
    previous_digest_signature: Option<&str>,
) -> String {
    format!(
        "{digest_end_time}\n{digest_s3_bucket}/{digest_s3_object}\n{digest_sha256_hex}\n{}",
        previous_digest_signature.unwrap_or("null")
    )
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (any RFC 3339) into UTC.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// Reads a digest object's body: gunzips it (into memory, at most `max_uncompressed` bytes).
///
/// # Errors
/// [`DigestError::Malformed`] when the body is not gzip, is truncated or corrupt (with the
/// compressed byte offset reached), or inflates beyond `max_uncompressed`;
/// [`DigestError::Store`] when the body itself fails to read.
pub fn gunzip_digest(object: &str, body: impl Read, max_uncompressed: u64) -> Result<Vec<u8>, DigestError> {
    let mut tracked = Tracked::new(body);
    let mut out = Vec::new();
    let result = MultiGzDecoder::new(&mut tracked).take(max_uncompressed.saturating_add(1)).read_to_end(&mut out);
    match result {
        Ok(_) if out.len() as u64 > max_uncompressed => Err(DigestError::Malformed {
            object: object.to_owned(),
            reason: format!("inflates to more than {max_uncompressed} bytes"),
        }),
        Ok(_) => Ok(out),
        Err(e) => match tracked.failure.take() {
            Some(source) => Err(DigestError::store(object, Box::new(source))),
            None => Err(DigestError::Malformed {
                object: object.to_owned(),
                reason: format!("gzip error after {} compressed bytes: {e}", tracked.consumed),
            }),
        },
    }
}

/// Why a log file could not be hashed.
#[derive(Debug)]
pub(crate) enum HashFailure {
    /// The body could not be read (a store failure).
    Read(io::Error),
    /// The body is not valid gzip (truncated, corrupt): the file was altered.
    Decode(String),
}

/// Lowercase hex SHA-256 of the *uncompressed* content of a log file, streamed through a
/// gzip decoder (all members) in fixed-size chunks: memory stays bounded whatever the size.
/// A body that does not start with the gzip magic bytes is hashed as it is (a log file stored
/// uncompressed has the same content).
///
/// # Errors
/// Any read or decode error, as `std::io::Error`.
pub fn uncompressed_sha256(body: impl Read) -> io::Result<String> {
    hash_uncompressed(body).map_err(|f| match f {
        HashFailure::Read(e) => e,
        HashFailure::Decode(reason) => io::Error::new(io::ErrorKind::InvalidData, reason),
    })
}

pub(crate) fn hash_uncompressed(body: impl Read) -> Result<String, HashFailure> {
    let mut tracked = Tracked::new(body);
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match tracked.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HashFailure::Read(e)),
        }
    }
    let mut hasher = Sha256::new();
    let gzip = got == 2 && head == [0x1f, 0x8b];
    let mut source: Box<dyn Read + '_> = if gzip {
        Box::new(MultiGzDecoder::new(io::Cursor::new(head).chain(&mut tracked)))
    } else {
        hasher.update(&head[..got]);
        Box::new(&mut tracked)
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                drop(source);
                return Err(match tracked.failure.take() {
                    Some(read) => HashFailure::Read(read),
                    None => HashFailure::Decode(format!("gzip error after {} compressed bytes: {e}", tracked.consumed)),
                });
            }
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A reader that counts the bytes it delivered and keeps its own read error, so that a store
/// failure is not mistaken for corrupt gzip (the decoder reports both as `io::Error`).
struct Tracked<R> {
    inner: R,
    consumed: u64,
    failure: Option<io::Error>,
}

impl<R> Tracked<R> {
    fn new(inner: R) -> Self {
        Tracked { inner, consumed: 0, failure: None }
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.consumed += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failure = Some(e);
                Err(copy)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const MINIMAL: &str = r#"{"digestStartTime":"2024-01-01T00:00:00Z","digestEndTime":"2024-01-01T01:00:00Z",
        "digestS3Bucket":"b","digestS3Object":"k","digestPublicKeyFingerprint":"f",
        "previousDigestSignature":null,"logFiles":[]}"#;

    #[test]
    fn parses_a_starting_digest_and_requires_previous_signature() {
        let d = DigestFile::from_json("k", MINIMAL.as_bytes()).unwrap();
        assert!(d.is_starting());
        assert_eq!(d.previous_digest_signature, None);
        assert_eq!(d.string_to_sign("ab"), "2024-01-01T01:00:00Z\nb/k\nab\nnull");
        let without = MINIMAL.replace(r#""previousDigestSignature":null,"#, "");
        let err = DigestFile::from_json("k", without.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("previousDigestSignature"), "{err}");
        assert!(err.to_string().contains("malformed digest file k"), "{err}");
    }

    #[test]
    fn missing_field_and_bad_json_name_the_object() {
        let err = DigestFile::from_json("d.json.gz", br#"{"logFiles":[]}"#).unwrap_err();
        assert!(matches!(err, DigestError::Malformed { ref object, .. } if object == "d.json.gz"));
        let err = DigestFile::from_json("d.json.gz", b"{not json").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn gunzip_reports_truncation_and_size_bound() {
        let body = gz(MINIMAL.as_bytes());
        assert_eq!(gunzip_digest("k", &body[..], 1 << 20).unwrap(), MINIMAL.as_bytes());
        let err = gunzip_digest("k", &body[..body.len() - 10], 1 << 20).unwrap_err();
        assert!(matches!(err, DigestError::Malformed { .. }), "{err}");
        let err = gunzip_digest("k", &body[..], 10).unwrap_err();
        assert!(err.to_string().contains("more than 10 bytes"), "{err}");
        let err = gunzip_digest("k", &b"plain text"[..], 1 << 20).unwrap_err();
        assert!(matches!(err, DigestError::Malformed { .. }), "{err}");
    }

    #[test]
    fn log_hash_is_of_uncompressed_content() {
        let content = b"{\"Records\":[]}".repeat(10_000);
        let expected = sha256_hex(&content);
        assert_eq!(uncompressed_sha256(&gz(&content)[..]).unwrap(), expected);
        assert_eq!(uncompressed_sha256(&content[..]).unwrap(), expected);
        // Two gzip members are one stream.
        let mut two = gz(&content[..5000]);
        two.extend(gz(&content[5000..]));
        assert_eq!(uncompressed_sha256(&two[..]).unwrap(), expected);
        let body = gz(&content);
        assert!(matches!(hash_uncompressed(&body[..body.len() / 2]), Err(HashFailure::Decode(_))));
        assert_eq!(uncompressed_sha256(&b""[..]).unwrap(), sha256_hex(b""));
    }

    #[test]
    fn store_read_errors_are_not_decode_errors() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
                }
                self.0 -= 1;
                buf[0] = 0x1f;
                if buf.len() > 1 {
                    buf[1] = 0x8b;
                    return Ok(2);
                }
                Ok(1)
            }
        }
        assert!(matches!(hash_uncompressed(Failing(1)), Err(HashFailure::Read(_))));
        assert!(matches!(gunzip_digest("k", Failing(1), 100), Err(DigestError::Store { .. })));
    }
}
