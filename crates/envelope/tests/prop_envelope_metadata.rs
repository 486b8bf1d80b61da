//! Property tests of the envelope metadata parser and format detection (issue 8): real object
//! metadata (the checked-in vectors) mutated in every way S3 or an attacker could — a name
//! dropped, renamed, re-cased or added, a value replaced, padded or flipped — and arbitrary
//! sidecar files and encryption contexts never panic and end in a parsed envelope or a typed
//! metadata error; `detect` and `Envelope::parse` always agree.
//! (`fuzz.rs` covers generated metadata and bodies through `decrypt_object`.)

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::Engine as _;
use common::METADATA_NAMES;
use envelope::{
    detect, read_sidecar, write_sidecar, EncryptionContext, Envelope, Error, ErrorKind, Format, ObjectMeta,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

const SIMPLE: &str = include_str!("vectors/simple.json");
const V2: &str = include_str!("vectors/s3ec-v2.json");

struct Vector {
    name: String,
    format: Format,
    metadata: BTreeMap<String, String>,
    wrapped_key: Vec<u8>,
    kms_context: BTreeMap<String, String>,
}

fn vectors() -> &'static [Vector] {
    static V: OnceLock<Vec<Vector>> = OnceLock::new();
    V.get_or_init(|| {
        let mut out = Vec::new();
        for text in [SIMPLE, V2] {
            let file: Value = serde_json::from_str(text).unwrap();
            for case in file["cases"].as_array().unwrap() {
                out.push(Vector {
                    name: case["name"].as_str().unwrap().to_owned(),
                    format: case["format"].as_str().unwrap().parse().unwrap(),
                    metadata: serde_json::from_value(case["metadata"].clone()).unwrap(),
                    wrapped_key: hex::decode(case["wrapped_key_hex"].as_str().unwrap()).unwrap(),
                    kms_context: serde_json::from_value(case["kms_context"].clone()).unwrap(),
                });
            }
        }
        out
    })
}

/// The error kinds that metadata parsing may end in.
fn is_metadata_error(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::MalformedMetadata
            | ErrorKind::MissingMetadata
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::UnsupportedFormat
    )
}

/// Parses `md` both ways and checks that they agree; returns the parse.
fn parse_checked(md: &BTreeMap<String, String>) -> Result<Option<Envelope>, TestCaseError> {
    let detected = detect(md);
    let parsed = Envelope::parse(md);
    if let Err(e) = &detected {
        prop_assert!(is_metadata_error(e), "detect: unexpected error kind {:?}: {}", e.kind(), e);
        prop_assert!(!e.to_string().is_empty());
        prop_assert!(parsed.is_err(), "detect refused ({}) but parse accepted", e);
    }
    match &parsed {
        Err(e) => prop_assert!(is_metadata_error(e), "parse: unexpected error kind {:?}: {}", e.kind(), e),
        Ok(None) => prop_assert!(matches!(detected, Ok(None)), "parse found nothing, detect {:?}", detected),
        Ok(Some(env)) => {
            prop_assert_eq!(detected.as_ref().ok().copied().flatten(), Some(env.format));
            prop_assert!(!env.wrapped_key.is_empty());
            match env.format {
                Format::Simple => prop_assert!(env.iv.is_none() && env.wrap_algorithm.is_none()),
                Format::S3ecV2 => {
                    prop_assert!(env.iv.is_some());
                    prop_assert_eq!(env.kms_context.get("aws:x-amz-cek-alg"), Some("AES/GCM/NoPadding"));
                }
            }
        }
    }
    Ok(parsed.ok().flatten())
}

#[derive(Debug, Clone)]
enum Edit {
    Remove(Index),
    Replace(Index, String),
    Flip(Index, Index, u8),
    Pad(Index),
    Upcase(Index),
    Add(&'static str, String),
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[0-9a-fA-F]{0,64}",
        "[A-Za-z0-9+/]{0,40}={0,3}",
        Just("AES/GCM/NoPadding".to_owned()),
        Just("AES/CBC/PKCS5Padding".to_owned()),
        Just("kms+context".to_owned()),
        Just("kms".to_owned()),
        Just("128".to_owned()),
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just(r#"{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}"#.to_owned()),
        Just(r#"{"a":"1","a":"2"}"#.to_owned()),
        Just(r#"{"a":1}"#.to_owned()),
        Just("=?UTF-8?B?eyJrIjoiw6kifQ==?=".to_owned()),
        Just("=?UTF-8?Q?=ZZ=?=".to_owned()),
        Just("=?UTF-8?Q?=C3?=".to_owned()),
        Just(String::new()),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        (any::<Index>(), any::<Index>(), 1u8..128).prop_map(|(i, at, m)| Edit::Flip(i, at, m)),
        any::<Index>().prop_map(Edit::Pad),
        any::<Index>().prop_map(Edit::Upcase),
        (prop::sample::select(METADATA_NAMES), value()).prop_map(|(n, v)| Edit::Add(n, v)),
    ]
}

fn apply(md: &mut BTreeMap<String, String>, edit: &Edit) {
    let pick = |md: &BTreeMap<String, String>, i: &Index| md.keys().nth(i.index(md.len())).cloned();
    if md.is_empty() && !matches!(edit, Edit::Add(..)) {
        return;
    }
    match edit {
        Edit::Remove(i) => {
            let k = pick(md, i).unwrap();
            md.remove(&k);
        }
        Edit::Replace(i, v) => {
            let k = pick(md, i).unwrap();
            md.insert(k, v.clone());
        }
        Edit::Flip(i, at, mask) => {
            let k = pick(md, i).unwrap();
            let v = md.get_mut(&k).unwrap();
            if !v.is_empty() {
                let mut bytes = v.clone().into_bytes();
                let j = at.index(bytes.len());
                bytes[j] ^= mask; // ASCII values stay ASCII or become lossy-replaced
                *v = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        Edit::Pad(i) => {
            let k = pick(md, i).unwrap();
            let v = md.get_mut(&k).unwrap();
            *v = format!(" {v}\t");
        }
        Edit::Upcase(i) => {
            let k = pick(md, i).unwrap();
            let v = md.remove(&k).unwrap();
            md.insert(k.to_ascii_uppercase(), v);
        }
        Edit::Add(n, v) => {
            md.insert((*n).to_owned(), v.clone());
        }
    }
}

#[test]
fn the_vectors_parse_to_their_recorded_keys_and_contexts() {
    assert!(!vectors().is_empty());
    for v in vectors() {
        let env = Envelope::parse(&v.metadata).unwrap().unwrap_or_else(|| panic!("{}: no envelope", v.name));
        assert_eq!(env.format, v.format, "{}", v.name);
        assert_eq!(env.wrapped_key, v.wrapped_key, "{}", v.name);
        assert_eq!(env.kms_context.as_map(), &v.kms_context, "{}", v.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Real metadata with 1–4 edits: detect and parse agree and end in an envelope or a typed
    /// metadata error; names are case-insensitive (an all-uppercase copy parses the same).
    #[test]
    fn mutated_real_metadata_ends_in_an_envelope_or_a_typed_error(
        which in any::<Index>(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let v = &vectors()[which.index(vectors().len())];
        let mut md = v.metadata.clone();
        for e in &edits {
            apply(&mut md, e);
        }
        let parsed = parse_checked(&md)?;
        let upper: BTreeMap<String, String> = md.iter().map(|(k, v)| (k.to_ascii_uppercase(), v.clone())).collect();
        if upper.len() == md.len() {
            let again = parse_checked(&upper)?;
            prop_assert_eq!(&parsed, &again);
        }
        // An edit that left the envelope fields as they were parses to the vector's values.
        if let Some(env) = parsed {
            if md == v.metadata {
                prop_assert_eq!(&env.wrapped_key, &v.wrapped_key);
            }
        }
    }

    /// Any metadata map at all.
    #[test]
    fn arbitrary_metadata_ends_in_an_envelope_or_a_typed_error(
        md in prop::collection::btree_map(
            prop_oneof![prop::sample::select(METADATA_NAMES).prop_map(str::to_owned), "[a-zA-Z-]{0,12}"],
            value(),
            0..8,
        )
    ) {
        parse_checked(&md)?;
    }

    /// Sidecar files: arbitrary text or a real sidecar with flipped bytes reads to metadata or
    /// an InvalidSidecar error; metadata that reads parses as above.
    #[test]
    fn sidecars_end_in_metadata_or_a_typed_error(
        which in any::<Index>(),
        flips in prop::collection::vec((any::<Index>(), 1u8..128), 0..4),
        junk in ".{0,200}",
        use_junk in any::<bool>(),
    ) {
        let text = if use_junk {
            junk
        } else {
            let v = &vectors()[which.index(vectors().len())];
            let meta = ObjectMeta { metadata: v.metadata.clone(), ..ObjectMeta::default() };
            let mut bytes = write_sidecar(&meta).into_bytes();
            for (at, mask) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= mask;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        };
        match read_sidecar(&text) {
            Ok(meta) => {
                for k in meta.metadata.keys() {
                    prop_assert_eq!(k, &k.to_ascii_lowercase());
                    prop_assert!(!k.starts_with("x-amz-meta-"));
                }
                parse_checked(&meta.metadata)?;
            }
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::InvalidSidecar, "{}", e),
        }
    }

    /// A sidecar written from normalised metadata reads back unchanged.
    #[test]
    fn sidecars_round_trip(
        metadata in prop::collection::btree_map("[a-z0-9-]{1,16}".prop_filter("no meta prefix", |k| !k.starts_with("x-amz-meta-")), ".{0,40}", 0..6),
        sse in proptest::option::of(prop_oneof![Just("aws:kms".to_owned()), Just("AES256".to_owned()), ".{0,10}"]),
        key in proptest::option::of(".{0,60}"),
    ) {
        let meta = ObjectMeta { metadata, server_side_encryption: sse, sse_kms_key_id: key };
        prop_assert_eq!(read_sidecar(&write_sidecar(&meta)).unwrap(), meta);
    }

    /// Encryption contexts: any text parses or is refused; a context survives S3's RFC 2047
    /// encoding of non-ASCII metadata (B and Q forms).
    #[test]
    fn encryption_contexts_parse_or_are_refused(text in ".{0,80}",
                                                ctx in prop::collection::btree_map(".{0,8}", ".{0,16}", 0..4)) {
        let _ = EncryptionContext::from_json(&text);
        let _ = EncryptionContext::from_json(&format!("=?UTF-8?Q?{text}?="));
        let _ = EncryptionContext::from_json(&format!("=?utf-8?b?{text}?="));
        let ctx = EncryptionContext::from(ctx);
        let json = ctx.canonical_json();
        let b = format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(json.as_bytes()));
        prop_assert_eq!(&EncryptionContext::from_json(&b).unwrap(), &ctx);
        let q: String = json.bytes().map(|c| format!("={c:02X}")).collect();
        prop_assert_eq!(EncryptionContext::from_json(&format!("=?UTF-8?Q?{q}?=")).unwrap(), ctx);
    }
}
