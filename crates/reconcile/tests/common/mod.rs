//! Test helper: CloudTrail KMS records → `kms_events` Arrow batches, mapped as DESIGN.md §2 says
//! (a stand-in for the real ingest, so the reconciler can be tested on its own).

#![allow(dead_code)]

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, MapBuilder, StringArray, StringBuilder, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::DateTime;
use serde_json::Value;

/// One `kms_events` row.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub event_id: String,
    pub event_time: i64,
    pub event_name: String,
    pub event_version: Option<String>,
    pub aws_region: Option<String>,
    pub account_id: Option<String>,
    pub key_arn: Option<String>,
    pub key_alias: Option<String>,
    pub principal_arn: Option<String>,
    pub principal_type: Option<String>,
    pub session_arn: Option<String>,
    pub access_key_id: Option<String>,
    pub invoked_by: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub encryption_context: Option<Vec<(String, String)>>,
    pub grantee_principal: Option<String>,
    pub error_code: Option<String>,
    pub read_only: Option<bool>,
    pub tls_version: Option<String>,
    pub request_parameters: Option<String>,
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// The principal of DESIGN.md §2 (un-encoded).
pub fn principal(ui: &Value) -> Option<String> {
    match ui.get("type").and_then(Value::as_str) {
        Some("AssumedRole") => s(&ui["sessionContext"]["sessionIssuer"]["arn"]).or_else(|| s(&ui["arn"])),
        Some("AWSService") => s(&ui["invokedBy"]).map(|h| format!("service:{h}")),
        Some(_) => s(&ui["arn"]),
        None if ui.get("invokedBy").and_then(Value::as_str) == Some("AWS Internal") => Some("aws-internal".into()),
        None => s(&ui["arn"]),
    }
}

/// Rows of one record: one per key in `resources` (ReEncrypt has two), else one.
pub fn rows(r: &Value) -> Vec<Row> {
    let ui = &r["userIdentity"];
    let rp = &r["requestParameters"];
    let key_id = s(&rp["keyId"]).or_else(|| s(&rp["destinationKeyId"]));
    let ctx = rp
        .get("encryptionContext")
        .or_else(|| rp.get("sourceEncryptionContext"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect());
    let t = DateTime::parse_from_rfc3339(r["eventTime"].as_str().expect("eventTime"))
        .expect("eventTime")
        .timestamp_millis();
    let base = Row {
        event_id: s(&r["eventID"]).expect("eventID"),
        event_time: t,
        event_name: s(&r["eventName"]).expect("eventName"),
        event_version: s(&r["eventVersion"]),
        aws_region: s(&r["awsRegion"]),
        account_id: s(&r["recipientAccountId"]).or_else(|| s(&ui["accountId"])),
        key_arn: None,
        key_alias: key_id.clone().filter(|k| k.starts_with("alias/") || k.contains(":alias/")),
        principal_arn: principal(ui),
        principal_type: s(&ui["type"]),
        session_arn: s(&ui["arn"]),
        access_key_id: s(&ui["accessKeyId"]),
        invoked_by: s(&ui["invokedBy"]),
        source_ip: s(&r["sourceIPAddress"]),
        user_agent: s(&r["userAgent"]),
        encryption_context: ctx,
        grantee_principal: s(&rp["granteePrincipal"]),
        error_code: s(&r["errorCode"]),
        read_only: r["readOnly"].as_bool(),
        tls_version: s(&r["tlsDetails"]["tlsVersion"]),
        request_parameters: (!rp.is_null()).then(|| rp.to_string()),
    };
    let keys: Vec<String> = r["resources"]
        .as_array()
        .map(|rs| rs.iter().filter(|x| x["type"] == "AWS::KMS::Key").filter_map(|x| s(&x["ARN"])).collect())
        .unwrap_or_default();
    if keys.is_empty() {
        let mut row = base;
        row.key_arn = key_id.filter(|k| k.starts_with("arn:") && k.contains(":key/"));
        vec![row]
    } else {
        keys.into_iter().map(|k| Row { key_arn: Some(k), ..base.clone() }).collect()
    }
}

pub fn all_rows(records: &[Value]) -> Vec<Row> {
    records.iter().flat_map(rows).collect()
}

pub fn schema() -> SchemaRef {
    let map_entries = Field::new(
        "entries",
        DataType::Struct(
            vec![Field::new("keys", DataType::Utf8, false), Field::new("values", DataType::Utf8, true)].into(),
        ),
        false,
    );
    let st = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("event_time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("event_name", DataType::Utf8, false),
        st("event_version"),
        st("aws_region"),
        st("account_id"),
        st("key_arn"),
        st("key_alias"),
        st("principal_arn"),
        st("principal_type"),
        st("session_arn"),
        st("access_key_id"),
        st("invoked_by"),
        st("source_ip"),
        st("user_agent"),
        Field::new("encryption_context", DataType::Map(Arc::new(map_entries), false), true),
        st("grantee_principal"),
        st("error_code"),
        Field::new("read_only", DataType::Boolean, true),
        st("tls_version"),
        st("request_parameters"),
    ]))
}

pub fn batch(rows: &[Row]) -> RecordBatch {
    let col = |f: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef { Arc::new(rows.iter().map(f).collect::<StringArray>()) };
    let mut mb = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for r in rows {
        match &r.encryption_context {
            Some(kv) => {
                for (k, v) in kv {
                    mb.keys().append_value(k);
                    mb.values().append_value(v);
                }
                mb.append(true).expect("map");
            }
            None => mb.append(false).expect("map"),
        }
    }
    let cols: Vec<ArrayRef> = vec![
        col(&|r| Some(r.event_id.as_str())),
        Arc::new(rows.iter().map(|r| Some(r.event_time)).collect::<TimestampMillisecondArray>().with_timezone("UTC")),
        col(&|r| Some(r.event_name.as_str())),
        col(&|r| r.event_version.as_deref()),
        col(&|r| r.aws_region.as_deref()),
        col(&|r| r.account_id.as_deref()),
        col(&|r| r.key_arn.as_deref()),
        col(&|r| r.key_alias.as_deref()),
        col(&|r| r.principal_arn.as_deref()),
        col(&|r| r.principal_type.as_deref()),
        col(&|r| r.session_arn.as_deref()),
        col(&|r| r.access_key_id.as_deref()),
        col(&|r| r.invoked_by.as_deref()),
        col(&|r| r.source_ip.as_deref()),
        col(&|r| r.user_agent.as_deref()),
        Arc::new(mb.finish()),
        col(&|r| r.grantee_principal.as_deref()),
        col(&|r| r.error_code.as_deref()),
        Arc::new(rows.iter().map(|r| r.read_only).collect::<BooleanArray>()),
        col(&|r| r.tls_version.as_deref()),
        col(&|r| r.request_parameters.as_deref()),
    ];
    RecordBatch::try_new(schema(), cols).expect("batch")
}

/// Batches of at most `n` rows.
pub fn batches(records: &[Value], n: usize) -> Vec<RecordBatch> {
    all_rows(records).chunks(n.max(1)).map(batch).collect()
}
