//! Key material never shows up in Debug output or error messages.

mod common;

use common::{block_on, ctx};
use envelope::{decrypt_object, encrypt_object, DataKey, Format, GeneratedKey, Keyring, LocalKeyring};

const PATTERN: [u8; 32] = [
    0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32,
    0x10, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4,
];

fn assert_no_key(text: &str, key: &[u8; 32]) {
    let hex_lower = hex::encode(key);
    let lower = text.to_lowercase();
    // Any 4-byte window of the key, as hex, as decimal list, or as Rust's byte Debug.
    for w in key.windows(4) {
        assert!(!lower.contains(&hex::encode(w)), "hex window in {text}");
        let dec = format!("{}, {}, {}, {}", w[0], w[1], w[2], w[3]);
        assert!(!text.contains(&dec), "decimal window in {text}");
    }
    assert!(!lower.contains(&hex_lower));
}

#[test]
fn data_key_debug_is_redacted() {
    let key = DataKey::from_array(PATTERN);
    assert_eq!(format!("{key:?}"), "DataKey(<redacted>)");
    assert_no_key(&format!("{key:?} {key:#?}"), &PATTERN);
}

#[test]
fn key_holders_do_not_print_keys() {
    let kr = LocalKeyring::new("local:secret", DataKey::from_array(PATTERN)).unwrap();
    assert_no_key(&format!("{kr:?} {kr:#?}"), &PATTERN);
    let generated: GeneratedKey = block_on(kr.generate_data_key("local:secret", &ctx(&[("a", "b")]))).unwrap();
    let dk = *generated.key.expose_secret();
    let text = format!("{generated:?}");
    assert_no_key(&text, &dk);
    assert_no_key(&text, &PATTERN);
    let unwrapped = block_on(kr.decrypt_data_key(&generated.wrapped, &ctx(&[("a", "b")]), None)).unwrap();
    assert_no_key(&format!("{unwrapped:?}"), &dk);
    let file = kr.to_key_file_json();
    assert!(file.contains(&hex::encode(PATTERN)), "key file holds the key");
}

#[test]
fn errors_and_results_do_not_print_keys() {
    let kr = LocalKeyring::new("local:secret", DataKey::from_array(PATTERN)).unwrap();
    let other = LocalKeyring::generate("other").unwrap();
    for format in [Format::Simple, Format::S3ecV2] {
        let enc = block_on(encrypt_object(
            format,
            &kr,
            "local:secret",
            &ctx(&[("a", "b")]),
            b"plaintext that must not be printed",
        ))
        .unwrap();
        let err = block_on(decrypt_object(&enc.metadata, &enc.body, &other, None)).unwrap_err();
        assert_no_key(&format!("{err} {err:?}"), &PATTERN);
        let dec = block_on(decrypt_object(&enc.metadata, &enc.body, &kr, None)).unwrap();
        let text = format!("{dec:?}");
        assert!(!text.contains("must not be printed"));
        assert!(text.contains("plaintext_len"));
    }
}
