//! Tamper matrix: every alteration is rejected with its own error kind, never with plaintext.

mod common;

use std::collections::BTreeMap;

use base64::Engine as _;
use common::{block_on, ctx};
use envelope::aead::Backend;
use envelope::{decrypt_object_with, encrypt_object, ErrorKind, Format, LocalKeyring, Options};

const PLAINTEXT: &[u8] = b"model weights, or something equally precious; long enough to span blocks";

struct Fixture {
    kr: LocalKeyring,
    other: LocalKeyring,
    format: Format,
    metadata: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn fixture(format: Format) -> Fixture {
    let kr = LocalKeyring::generate("main").unwrap();
    let other = LocalKeyring::generate("other").unwrap();
    let c = ctx(&[("purpose", "training-data"), ("bucket", "ml-data")]);
    let enc = block_on(encrypt_object(format, &kr, "local:main", &c, PLAINTEXT)).unwrap();
    Fixture { kr, other, format, metadata: enc.metadata, body: enc.body }
}

fn decrypt_kind(
    kr: &LocalKeyring,
    md: &BTreeMap<String, String>,
    body: &[u8],
    expected: Option<&str>,
) -> Result<Vec<u8>, ErrorKind> {
    let mut last = None;
    for &b in Backend::available() {
        let options = Options { backend: b, ..Options::default() };
        let r =
            block_on(decrypt_object_with(&options, md, body, kr, expected)).map(|d| d.plaintext).map_err(|e| e.kind());
        if let Some(prev) = &last {
            assert_eq!(prev, &r, "backends disagree");
        }
        last = Some(r);
    }
    last.unwrap()
}

fn expect(f: &Fixture, md: &BTreeMap<String, String>, body: &[u8], kind: ErrorKind, what: &str) {
    let r = decrypt_kind(&f.kr, md, body, Some("local:main"));
    assert_eq!(r, Err(kind), "{:?}: {what}", f.format);
}

fn context_field(format: Format) -> &'static str {
    match format {
        Format::Simple => "x-amz-context",
        Format::S3ecV2 => "x-amz-matdesc",
    }
}

fn edit_context(
    f: &Fixture,
    edit: impl Fn(&mut serde_json::Map<String, serde_json::Value>),
) -> BTreeMap<String, String> {
    let field = context_field(f.format);
    let mut md = f.metadata.clone();
    let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&md[field]).unwrap();
    edit(&mut obj);
    md.insert(field.to_owned(), serde_json::to_string(&obj).unwrap());
    md
}

#[test]
fn untouched_objects_decrypt() {
    for format in [Format::Simple, Format::S3ecV2] {
        let f = fixture(format);
        assert_eq!(decrypt_kind(&f.kr, &f.metadata, &f.body, Some("local:main")).unwrap(), PLAINTEXT);
        assert_eq!(decrypt_kind(&f.kr, &f.metadata, &f.body, None).unwrap(), PLAINTEXT);
    }
}

#[test]
fn body_bit_flips_fail_authentication() {
    for format in [Format::Simple, Format::S3ecV2] {
        let f = fixture(format);
        // Every byte position: nonce (simple), ciphertext and tag.
        for i in 0..f.body.len() {
            let mut body = f.body.clone();
            body[i] ^= 0x80;
            expect(&f, &f.metadata, &body, ErrorKind::Authentication, &format!("flip byte {i}"));
        }
    }
}

#[test]
fn changed_iv_fails_authentication() {
    let f = fixture(Format::S3ecV2);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut iv = b64.decode(&f.metadata["x-amz-iv"]).unwrap();
    iv[0] ^= 1;
    let mut md = f.metadata.clone();
    md.insert("x-amz-iv".into(), b64.encode(&iv));
    expect(&f, &md, &f.body, ErrorKind::Authentication, "changed x-amz-iv");
    // An IV of the wrong length is malformed, not an authentication failure.
    md.insert("x-amz-iv".into(), b64.encode([0u8; 16]));
    expect(&f, &md, &f.body, ErrorKind::MalformedMetadata, "16-byte IV");

    let f = fixture(Format::Simple);
    let mut body = f.body.clone();
    body[..12].copy_from_slice(&[0u8; 12]);
    expect(&f, &f.metadata, &body, ErrorKind::Authentication, "replaced nonce");
}

#[test]
fn context_changes_fail_context_mismatch() {
    for format in [Format::Simple, Format::S3ecV2] {
        let f = fixture(format);
        let changed = edit_context(&f, |o| {
            o.insert("purpose".into(), "inference".into());
        });
        expect(&f, &changed, &f.body, ErrorKind::ContextMismatch, "changed entry");
        let dropped = edit_context(&f, |o| {
            o.remove("bucket");
        });
        expect(&f, &dropped, &f.body, ErrorKind::ContextMismatch, "dropped entry");
        let added = edit_context(&f, |o| {
            o.insert("extra".into(), "1".into());
        });
        expect(&f, &added, &f.body, ErrorKind::ContextMismatch, "added entry");
    }
    // Simple: removing the whole context is a change of context too.
    let f = fixture(Format::Simple);
    let mut md = f.metadata.clone();
    md.remove("x-amz-context");
    expect(&f, &md, &f.body, ErrorKind::ContextMismatch, "context removed");
    // v2: the reserved entry must stay and agree with x-amz-cek-alg.
    let f = fixture(Format::S3ecV2);
    let md = edit_context(&f, |o| {
        o.remove("aws:x-amz-cek-alg");
    });
    expect(&f, &md, &f.body, ErrorKind::MalformedMetadata, "reserved entry dropped");
}

#[test]
fn swapped_wrapped_key_fails_wrong_key() {
    for format in [Format::Simple, Format::S3ecV2] {
        let f = fixture(format);
        // Same context, same plaintext, but the data key wrapped under another key.
        let c = ctx(&[("purpose", "training-data"), ("bucket", "ml-data")]);
        let foreign = block_on(encrypt_object(format, &f.other, "local:other", &c, PLAINTEXT)).unwrap();
        let key_field = match format {
            Format::Simple => "x-amz-key",
            Format::S3ecV2 => "x-amz-key-v2",
        };
        let mut md = f.metadata.clone();
        md.insert(key_field.into(), foreign.metadata[key_field].clone());
        expect(&f, &md, &f.body, ErrorKind::WrongKey, "swapped wrapped key");
        // The object itself opened with the other keyring, or expecting another key.
        assert_eq!(decrypt_kind(&f.other, &f.metadata, &f.body, None), Err(ErrorKind::WrongKey));
        assert_eq!(decrypt_kind(&f.kr, &f.metadata, &f.body, Some("local:other")), Err(ErrorKind::WrongKey));
        // A corrupted wrapped key (right key check value) cannot authenticate.
        let mut md = f.metadata.clone();
        let mut blob = match format {
            Format::Simple => hex::decode(&md[key_field]).unwrap(),
            Format::S3ecV2 => base64::engine::general_purpose::STANDARD.decode(&md[key_field]).unwrap(),
        };
        let last = blob.len() - 1;
        blob[last] ^= 1;
        md.insert(
            key_field.into(),
            match format {
                Format::Simple => hex::encode(&blob),
                Format::S3ecV2 => base64::engine::general_purpose::STANDARD.encode(&blob),
            },
        );
        expect(&f, &md, &f.body, ErrorKind::ContextMismatch, "corrupted wrapped key");
        // A wrapped key of the wrong shape for the keyring.
        blob.truncate(40);
        md.insert(
            key_field.into(),
            match format {
                Format::Simple => hex::encode(&blob),
                Format::S3ecV2 => base64::engine::general_purpose::STANDARD.encode(&blob),
            },
        );
        expect(&f, &md, &f.body, ErrorKind::InvalidWrappedKey, "short wrapped key");
    }
}

#[test]
fn truncation() {
    for format in [Format::Simple, Format::S3ecV2] {
        let f = fixture(format);
        for len in [0, 1, 11, 15] {
            expect(&f, &f.metadata, &f.body[..len], ErrorKind::Truncated, &format!("len {len}"));
        }
    }
    // v2 records the plaintext length: any truncation is detected as such.
    let f = fixture(Format::S3ecV2);
    let n = f.body.len();
    expect(&f, &f.metadata, &f.body[..n - 1], ErrorKind::Truncated, "one byte short");
    let mut longer = f.body.clone();
    longer.push(0);
    expect(&f, &f.metadata, &longer, ErrorKind::MalformedMetadata, "one byte long");
    // Simple has no length record: a cut inside the ciphertext fails authentication.
    let f = fixture(Format::Simple);
    let n = f.body.len();
    expect(&f, &f.metadata, &f.body[..27], ErrorKind::Truncated, "below nonce+tag");
    expect(&f, &f.metadata, &f.body[..n - 1], ErrorKind::Authentication, "one byte short");
}

#[test]
fn removed_metadata_fails_missing_metadata() {
    for format in [Format::Simple, Format::S3ecV2] {
        let f = fixture(format);
        let names: Vec<&str> = match format {
            Format::Simple => vec!["x-amz-key"],
            Format::S3ecV2 => {
                vec!["x-amz-key-v2", "x-amz-iv", "x-amz-cek-alg", "x-amz-wrap-alg", "x-amz-matdesc", "x-amz-tag-len"]
            }
        };
        for name in names {
            let mut md = f.metadata.clone();
            md.remove(name);
            expect(&f, &md, &f.body, ErrorKind::MissingMetadata, &format!("removed {name}"));
        }
        expect(&f, &BTreeMap::new(), &f.body, ErrorKind::MissingMetadata, "all removed");
    }
}

#[test]
fn algorithm_and_format_changes() {
    let f = fixture(Format::S3ecV2);
    for (name, value, kind) in [
        ("x-amz-cek-alg", "AES/CBC/PKCS5Padding", ErrorKind::UnsupportedAlgorithm),
        ("x-amz-wrap-alg", "kms", ErrorKind::UnsupportedAlgorithm),
        ("x-amz-wrap-alg", "RSA-OAEP-SHA1", ErrorKind::UnsupportedAlgorithm),
        // A known algorithm this keyring does not hold.
        ("x-amz-wrap-alg", "kms+context", ErrorKind::WrongKey),
        ("x-amz-tag-len", "96", ErrorKind::UnsupportedAlgorithm),
        ("x-amz-key-v2", "@@@", ErrorKind::MalformedMetadata),
        ("x-amz-matdesc", "not json", ErrorKind::MalformedMetadata),
        ("x-amz-unencrypted-content-length", "ten", ErrorKind::MalformedMetadata),
        ("x-amz-key", "00ff", ErrorKind::MalformedMetadata),
        ("x-amz-3", "AAAA", ErrorKind::MalformedMetadata),
    ] {
        let mut md = f.metadata.clone();
        md.insert(name.into(), value.into());
        expect(&f, &md, &f.body, kind, &format!("{name}={value}"));
    }

    let f = fixture(Format::Simple);
    for (name, value, kind) in [
        ("x-amz-key", "not hex!", ErrorKind::MalformedMetadata),
        ("x-amz-key", "abc", ErrorKind::MalformedMetadata),
        ("x-amz-context", "[1,2]", ErrorKind::MalformedMetadata),
        ("x-amz-context", r#"{"a":"1","a":"2"}"#, ErrorKind::MalformedMetadata),
        ("x-amz-iv", "AAAAAAAAAAAAAAAA", ErrorKind::UnsupportedFormat),
        ("x-amz-c", "115", ErrorKind::MalformedMetadata),
    ] {
        let mut md = f.metadata.clone();
        md.insert(name.into(), value.into());
        expect(&f, &md, &f.body, kind, &format!("{name}={value}"));
    }
    // The legacy v1 shape on its own.
    let v1 = common::md(&[
        ("x-amz-key", "c29tZSB3cmFwcGVkIGtleQ=="),
        ("x-amz-iv", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("x-amz-matdesc", "{}"),
    ]);
    expect(&f, &v1, &f.body, ErrorKind::UnsupportedFormat, "v1 object");
    let v3 = common::md(&[("x-amz-3", "AAAA"), ("x-amz-c", "115"), ("x-amz-d", "AA"), ("x-amz-i", "AA")]);
    expect(&f, &v3, &f.body, ErrorKind::UnsupportedFormat, "v3 object");
}

#[test]
fn body_bound() {
    let f = fixture(Format::Simple);
    let options = Options { max_body_bytes: 50, ..Options::default() };
    let r = block_on(decrypt_object_with(&options, &f.metadata, &f.body, &f.kr, None));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::BodyTooLarge);
    let r = block_on(envelope::encrypt_object_with(
        &options,
        Format::Simple,
        &f.kr,
        "local:main",
        &envelope::EncryptionContext::new(),
        &[0u8; 64],
    ));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::BodyTooLarge);
}
