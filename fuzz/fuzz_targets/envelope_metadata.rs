//! Envelope metadata: a sidecar file (or `name=value` lines) read from any bytes ends in an
//! envelope or a typed metadata error, `detect` and `Envelope::parse` agree, and encryption
//! contexts parse or are refused.
#![no_main]

use std::collections::BTreeMap;

use envelope::{detect, read_sidecar, EncryptionContext, Envelope, ErrorKind};
use libfuzzer_sys::fuzz_target;

fn check(md: &BTreeMap<String, String>) {
    let detected = detect(md);
    let parsed = Envelope::parse(md);
    for kind in
        [detected.as_ref().err().map(|e| e.kind()), parsed.as_ref().err().map(|e| e.kind())].into_iter().flatten()
    {
        assert!(
            matches!(
                kind,
                ErrorKind::MalformedMetadata
                    | ErrorKind::MissingMetadata
                    | ErrorKind::UnsupportedAlgorithm
                    | ErrorKind::UnsupportedFormat
            ),
            "{kind:?}"
        );
    }
    match (&detected, &parsed) {
        (Err(_), Ok(_)) => panic!("detect refused but parse accepted"),
        (Ok(None), Ok(Some(_))) | (Ok(Some(_)), Ok(None)) => panic!("detect {detected:?} vs parse {parsed:?}"),
        (Ok(Some(f)), Ok(Some(env))) => assert_eq!(*f, env.format),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match read_sidecar(text) {
        Ok(meta) => check(&meta.metadata),
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidSidecar),
    }
    let md: BTreeMap<String, String> =
        text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    check(&md);
    let _ = EncryptionContext::from_json(text);
});
