//! SQS message bodies that announce new objects in the trail bucket.
//!
//! Accepted shapes:
//! - S3 event notifications delivered straight to SQS (`{"Records":[{"eventSource":"aws:s3",
//!   "eventName":"ObjectCreated:Put","s3":{…}}]}`);
//! - EventBridge events delivered through SQS (`{"source":"aws.s3","detail-type":"Object
//!   Created","detail":{"bucket":{"name"},"object":{"key","size","etag"}}}`);
//! - either of them wrapped in an SNS notification (`{"Type":"Notification","Message":"…"}`).
//!
//! Object keys in both S3 and EventBridge notifications are URL-encoded the form way
//! (`+` is a space, `%2B` a plus): they are decoded here. `s3:TestEvent` (sent when the
//! notification is configured), events other than object creation, and unrecognised bodies are
//! told apart so the handler can skip the first two on purpose and fail the last.

use serde_json::Value;

/// An object announced by a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    pub size: Option<u64>,
    /// ETag without quotes.
    pub etag: Option<String>,
}

impl ObjectRef {
    /// `s3://bucket/key`.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What one message body announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// New objects (possibly none, if every record was skipped).
    Objects { objects: Vec<ObjectRef>, skipped: Vec<String> },
    /// Nothing to ingest, on purpose (test event, not a creation): the reason, for the log.
    Skip(String),
}

/// A body that is none of the accepted shapes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised message body: {0}")]
pub struct NotificationError(pub String);

/// Parses one SQS message body.
pub fn parse(body: &str) -> Result<Notification, NotificationError> {
    let value: Value = serde_json::from_str(body).map_err(|e| NotificationError(format!("not JSON: {e}")))?;
    parse_value(&value, 0)
}

fn parse_value(v: &Value, depth: u8) -> Result<Notification, NotificationError> {
    let Some(obj) = v.as_object() else { return Err(NotificationError("not a JSON object".into())) };
    // SNS envelope (S3 → SNS → SQS without raw delivery).
    if obj.get("Type").and_then(Value::as_str) == Some("Notification") && depth == 0 {
        let message = obj
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| NotificationError("SNS notification without Message".into()))?;
        let inner: Value =
            serde_json::from_str(message).map_err(|e| NotificationError(format!("SNS Message is not JSON: {e}")))?;
        return parse_value(&inner, depth + 1);
    }
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Skip("s3:TestEvent".into()));
    }
    if let Some(records) = obj.get("Records").and_then(Value::as_array) {
        return s3_records(records);
    }
    if obj.get("source").and_then(Value::as_str) == Some("aws.s3") && obj.contains_key("detail") {
        return eventbridge(obj);
    }
    Err(NotificationError(format!(
        "neither an S3 notification nor an EventBridge S3 event (keys: {})",
        obj.keys().take(8).cloned().collect::<Vec<_>>().join(", ")
    )))
}

fn s3_records(records: &[Value]) -> Result<Notification, NotificationError> {
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let name = r.get("eventName").and_then(Value::as_str).unwrap_or("");
        let source = r.get("eventSource").and_then(Value::as_str).unwrap_or("aws:s3");
        if source != "aws:s3" {
            return Err(NotificationError(format!("record {i}: eventSource {source:?} is not aws:s3")));
        }
        let bucket = r.pointer("/s3/bucket/name").and_then(Value::as_str);
        let key = r.pointer("/s3/object/key").and_then(Value::as_str);
        let (Some(bucket), Some(key)) = (bucket, key) else {
            return Err(NotificationError(format!("record {i}: no s3.bucket.name or s3.object.key")));
        };
        let key = decode_key(key).map_err(|e| NotificationError(format!("record {i}: {e}")))?;
        if !name.starts_with("ObjectCreated:") {
            skipped.push(format!("s3://{bucket}/{key}: {name} is not an object creation"));
            continue;
        }
        objects.push(ObjectRef {
            bucket: bucket.to_owned(),
            key,
            size: r.pointer("/s3/object/size").and_then(Value::as_u64),
            etag: r.pointer("/s3/object/eTag").and_then(Value::as_str).map(aws::s3::normalize_etag),
        });
    }
    Ok(Notification::Objects { objects, skipped })
}

fn eventbridge(obj: &serde_json::Map<String, Value>) -> Result<Notification, NotificationError> {
    let detail_type = obj.get("detail-type").and_then(Value::as_str).unwrap_or("");
    let detail = &obj["detail"];
    let bucket = detail.pointer("/bucket/name").and_then(Value::as_str);
    let key = detail.pointer("/object/key").and_then(Value::as_str);
    let (Some(bucket), Some(key)) = (bucket, key) else {
        return Err(NotificationError("EventBridge S3 event without detail.bucket.name or detail.object.key".into()));
    };
    let key = decode_key(key).map_err(NotificationError)?;
    if detail_type != "Object Created" {
        return Ok(Notification::Skip(format!(
            "s3://{bucket}/{key}: EventBridge {detail_type:?} is not an object creation"
        )));
    }
    Ok(Notification::Objects {
        objects: vec![ObjectRef {
            bucket: bucket.to_owned(),
            key,
            size: detail.pointer("/object/size").and_then(Value::as_u64),
            etag: detail.pointer("/object/etag").and_then(Value::as_str).map(aws::s3::normalize_etag),
        }],
        skipped: Vec::new(),
    })
}

/// Decodes a notification key: `+` is a space, `%XX` a byte.
pub fn decode_key(key: &str) -> Result<String, String> {
    let plus_decoded = key.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_decoded)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| format!("key {key:?} does not decode to UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(decode_key("a+b%2Bc/d%3D1.json.gz").unwrap(), "a b+c/d=1.json.gz");
        assert_eq!(decode_key("plain/key.json.gz").unwrap(), "plain/key.json.gz");
    }

    #[test]
    fn s3_notification_objects_and_skips() {
        let body = json!({"Records": [
            {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
             "s3": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs/1/x+y.json.gz", "size": 10, "eTag": "abc"}}},
            {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
             "s3": {"bucket": {"name": "trail"}, "object": {"key": "gone.json.gz"}}}
        ]});
        let n = parse(&body.to_string()).unwrap();
        let Notification::Objects { objects, skipped } = n else { panic!("objects expected") };
        assert_eq!(
            objects,
            vec![ObjectRef {
                bucket: "trail".into(),
                key: "AWSLogs/1/x y.json.gz".into(),
                size: Some(10),
                etag: Some("abc".into())
            }]
        );
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn test_event_eventbridge_and_sns() {
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"});
        assert!(matches!(parse(&test.to_string()).unwrap(), Notification::Skip(_)));
        let eb = json!({"version": "0", "source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "trail"}, "object": {"key": "k%20x.json.gz", "size": 5, "etag": "\"e\""}}});
        let Notification::Objects { objects, .. } = parse(&eb.to_string()).unwrap() else { panic!() };
        assert_eq!(objects[0].key, "k x.json.gz");
        assert_eq!(objects[0].etag.as_deref(), Some("e"));
        let sns = json!({"Type": "Notification", "Message": eb.to_string()});
        assert!(matches!(parse(&sns.to_string()).unwrap(), Notification::Objects { .. }));
        assert!(parse("{\"hello\":1}").is_err());
        assert!(parse("not json").is_err());
    }
}
