//! CloudTrail log files and records: any bytes (plain or gzip) end in records or a typed
//! `FileError`; the in-memory and streaming readers agree; a kept record keeps its eventID;
//! bad data is never classified as retryable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trail::{parse_record, read_log_bytes, read_log_stream, RawRecord, ReadLimits, RecordOutcome};

#[derive(serde::Deserialize)]
struct Ids {
    #[serde(rename = "eventID")]
    event_id: Option<String>,
}

fn visit(r: RawRecord<'_>, limits: &ReadLimits, out: &mut Vec<(u64, String, Option<String>)>) {
    let kept = match parse_record(r.raw, limits) {
        RecordOutcome::Kms(event) => {
            let ids: Ids = serde_json::from_str(r.raw.get()).expect("kept record has a string eventID");
            assert_eq!(ids.event_id.as_deref(), Some(&*event.event_id), "eventID changed");
            assert!(r.raw.get().len() <= limits.max_record_bytes);
            let _ = event.event_time.day();
            Some(event.event_id.into_owned())
        }
        RecordOutcome::Bad(issue) => {
            assert!(!issue.to_string().is_empty());
            None
        }
        RecordOutcome::NotKms => None,
    };
    out.push((r.index, r.raw.get().to_owned(), kept));
}

fuzz_target!(|data: &[u8]| {
    // Small bounds so that the streaming path and the record limit are reached with small inputs.
    let limits = ReadLimits { whole_buffer_max: 2048, max_record_bytes: 1024 };
    let mut mem = Vec::new();
    let a = read_log_bytes(data, &limits, |r| visit(r, &limits, &mut mem));
    let mut stream = Vec::new();
    let b = read_log_stream(data, &limits, |r| visit(r, &limits, &mut stream));
    for result in [&a, &b] {
        if let Err(e) = result {
            assert!(!e.is_retryable(), "in-memory bytes reported as an I/O failure: {e}");
            assert!(!e.to_string().is_empty());
        }
    }
    match (&a, &b) {
        (Ok(n), Ok(m)) => {
            assert_eq!(n, m);
            assert_eq!(*n as usize, mem.len());
            assert_eq!(mem, stream, "in-memory and streaming reads differ");
        }
        (Err(_), Err(_)) => {}
        _ => panic!("in-memory {a:?} vs streaming {b:?}"),
    }
});
