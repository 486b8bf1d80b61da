//! Property tests of one CloudTrail record (issue 8): `parse_record` on generated records whose
//! fields have any JSON type never panics and ends in "not KMS", a normalised event that keeps
//! the record's eventID and time, or a reason; `eventTime` parsing agrees with chrono.

use chrono::DateTime;
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use trail::record::KmsRequestParameters;
use trail::{parse_record, EventTime, ReadLimits, RecordOutcome};

const FIELDS: &[&str] = &[
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "tlsDetails",
    "type",
    "arn",
    "accountId",
    "invokedBy",
    "principalId",
    "accessKeyId",
    "sessionContext",
    "sessionIssuer",
    "sourceIdentity",
    "ARN",
    "keyId",
    "sourceKeyId",
    "destinationKeyId",
    "encryptionContext",
    "encryptionAlgorithm",
    "granteePrincipal",
    "operations",
    "tlsVersion",
    "cipherSuite",
];

const STRINGS: &[&str] = &[
    "kms.amazonaws.com",
    "k\\u006ds.amazonaws.com",
    "2025-03-14T09:05:42Z",
    "2024-02-29T23:59:59.999Z",
    "2025-03-14T23:05:42-02:00",
    "2016-12-31T23:59:60Z",
    "AssumedRole",
    "FederatedUser",
    "AWSService",
    "AWSAccount",
    "IAMUser",
    "AWS Internal",
    "AWS::KMS::Key",
    "arn:aws:sts::111122223333:assumed-role/R/s",
    "arn:aws:iam::111122223333:role/R",
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:us-east-1:111122223333:alias/a",
    "alias/a",
    "mrk-1234",
    "cn-north-1",
    "us-gov-west-1",
    "true",
    "false",
    "",
    ":",
    "/",
    "key/",
    ":assumed-role/",
    "aws:cloudtrail:arn",
    "DryRunOperationException",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
        ".{0,24}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())),
        ]
    })
}

/// A record: mostly well-typed identity fields so that the normalisation runs, anything else
/// beside them.
fn record() -> impl Strategy<Value = Value> {
    let time = prop_oneof![
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})"
            .prop_map(Value::String),
        leaf(),
    ];
    (
        prop::option::of(prop_oneof![4 => Just(json!("kms.amazonaws.com")), 1 => leaf()]),
        prop::option::of(prop_oneof![4 => "[a-f0-9-]{1,36}".prop_map(Value::String), 1 => leaf()]),
        prop::option::of(time),
        prop::collection::vec((prop::sample::select(FIELDS), value()), 0..10),
    )
        .prop_map(|(source, id, time, rest)| {
            let mut m = Map::new();
            for (k, v) in rest {
                m.insert(k.to_owned(), v);
            }
            for (k, v) in [("eventSource", source), ("eventID", id), ("eventTime", time)] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
}

fn check(record: &Value, limits: &ReadLimits) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(record).unwrap();
    let raw: Box<RawValue> = serde_json::from_str(&text).unwrap();
    match parse_record(&raw, limits) {
        RecordOutcome::NotKms => {
            prop_assert_ne!(record.get("eventSource").and_then(Value::as_str), Some("kms.amazonaws.com"));
        }
        RecordOutcome::Bad(issue) => prop_assert!(!issue.to_string().is_empty()),
        RecordOutcome::Kms(event) => {
            prop_assert_eq!(record["eventSource"].as_str(), Some("kms.amazonaws.com"));
            prop_assert_eq!(record["eventID"].as_str(), Some(&*event.event_id));
            let time = record["eventTime"].as_str().unwrap();
            prop_assert_eq!(EventTime::parse(time), Some(event.event_time));
            prop_assert!(text.len() <= limits.max_record_bytes);
            prop_assert!(!event.principal_arn.is_empty());
            prop_assert_eq!(event.event_time.day().len(), 10);
            for (i, k) in event.key_arns.iter().enumerate() {
                prop_assert!(!k.is_empty() && !event.key_arns[..i].contains(k));
            }
            // Verbatim columns are the record's own JSON.
            if let Some(rp) = event.request_parameters {
                let verbatim = serde_json::from_str::<Value>(rp).ok();
                prop_assert_eq!(verbatim.as_ref(), record.get("requestParameters"));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn generated_records_end_in_an_event_or_a_reason(r in record(), small in any::<bool>()) {
        let limits = if small { ReadLimits { max_record_bytes: 300, ..ReadLimits::default() } } else { ReadLimits::default() };
        check(&r, &limits)?;
    }

    #[test]
    fn request_parameters_of_any_shape_never_panic(v in value()) {
        let text = serde_json::to_string(&v).unwrap();
        let raw: Box<RawValue> = serde_json::from_str(&text).unwrap();
        let _ = KmsRequestParameters::parse(&raw);
    }

    #[test]
    fn event_time_never_panics(s in ".{0,40}") {
        if let Some(t) = EventTime::parse(&s) {
            let _ = t.day();
            let _ = t.to_datetime();
        }
    }

    /// On CloudTrail's form and its neighbours the hand-written fast path agrees with chrono.
    #[test]
    fn event_time_agrees_with_chrono(
        s in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?(Z|z|[+-][0-9]{2}:[0-9]{2})?"
    ) {
        let ours = EventTime::parse(&s);
        match DateTime::parse_from_rfc3339(&s) {
            Ok(t) => prop_assert_eq!(ours, Some(EventTime(t.timestamp_millis())), "{}", s),
            Err(_) => prop_assert_eq!(ours, None, "{} accepted but chrono refuses it", s),
        }
    }
}
