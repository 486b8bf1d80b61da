//! Property tests: arbitrary metadata and bodies never panic and never yield plaintext that
//! was not sealed; round trips hold for arbitrary contexts and plaintexts.

mod common;

use std::collections::BTreeMap;

use common::{block_on, PermissiveKeyring, METADATA_NAMES};
use envelope::{decrypt_object, detect, encrypt_object, EncryptionContext, Envelope, Format, LocalKeyring};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(METADATA_NAMES).prop_map(str::to_owned),
        1 => "[a-zA-Z-]{1,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{0,160}",
        "[A-Za-z0-9+/]{0,80}={0,2}",
        Just("AES/GCM/NoPadding".to_owned()),
        Just("kms+context".to_owned()),
        Just("128".to_owned()),
        Just(r#"{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}"#.to_owned()),
        "\\{\"[a-z:]{0,6}\":\"[^\"]{0,6}\"\\}",
        ".{0,40}",
    ]
}

fn metadata() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(name(), value(), 0..8)
}

fn context() -> impl Strategy<Value = EncryptionContext> {
    proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..5).prop_map(EncryptionContext::from)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_metadata_and_body_never_panic(md in metadata(), body in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = detect(&md);
        let _ = Envelope::parse(&md);
        let local = LocalKeyring::generate("fuzz").unwrap();
        prop_assert!(block_on(decrypt_object(&md, &body, &local, None)).is_err());
        // A keyring that hands out a key for anything: the body AEAD still refuses.
        let permissive = PermissiveKeyring([9; 32]);
        prop_assert!(block_on(decrypt_object(&md, &body, &permissive, None)).is_err());
    }

    #[test]
    fn roundtrip(format in prop_oneof![Just(Format::Simple), Just(Format::S3ecV2)],
                 ctx in context(),
                 plaintext in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let kr = LocalKeyring::generate("rt").unwrap();
        let enc = block_on(encrypt_object(format, &kr, "local:rt", &ctx, &plaintext));
        if format == Format::S3ecV2 && ctx.get("aws:x-amz-cek-alg").is_some() {
            prop_assert!(enc.is_err());
            return Ok(());
        }
        let enc = enc.unwrap();
        let dec = block_on(decrypt_object(&enc.metadata, &enc.body, &kr, Some("local:rt"))).unwrap();
        prop_assert_eq!(dec.plaintext, plaintext);
        prop_assert_eq!(dec.format, format);
        let env = Envelope::parse(&enc.metadata).unwrap().unwrap();
        prop_assert_eq!(env.user_context(), ctx);
    }

    #[test]
    fn mutations_never_yield_other_plaintext(format in prop_oneof![Just(Format::Simple), Just(Format::S3ecV2)],
                                             pos in any::<prop::sample::Index>(),
                                             bit in 0u8..8,
                                             md_edit in proptest::option::of((name(), value()))) {
        let kr = LocalKeyring::generate("m").unwrap();
        let ctx: EncryptionContext = [("k", "v")].into_iter().collect();
        let plaintext = b"the one true plaintext".to_vec();
        let enc = block_on(encrypt_object(format, &kr, "local:m", &ctx, &plaintext)).unwrap();
        let mut body = enc.body.clone();
        let i = pos.index(body.len());
        body[i] ^= 1 << bit;
        let mut md = enc.metadata.clone();
        if let Some((k, v)) = md_edit {
            md.insert(k, v);
        }
        // The body was altered, so nothing may decrypt.
        prop_assert!(block_on(decrypt_object(&md, &body, &kr, None)).is_err());
        // Metadata edits alone: either rejected or the original plaintext (a no-op edit).
        if let Ok(d) = block_on(decrypt_object(&md, &enc.body, &kr, None)) {
            prop_assert_eq!(d.plaintext, plaintext);
        }
    }

    #[test]
    fn canonical_json_parses_back(ctx in context()) {
        let json = ctx.canonical_json();
        prop_assert!(json.is_ascii());
        prop_assert_eq!(EncryptionContext::from_json(&json).unwrap(), ctx);
    }
}
