//! Publishing notifications to an SNS topic (the reconcile Lambda's findings).
//!
//! Messages go out with `PublishBatch`, ten per request, each with a subject (email
//! subscriptions show it) and string message attributes (subscription filter policies can
//! select on them, e.g. `{"severity": ["high"]}`). Entries SNS rejects are reported per message;
//! a request that fails as a whole is an error (retryable when transient).

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

pub use aws_sdk_sns::Client;

use crate::config::classify;

/// An SNS client from `config`.
pub fn client(config: &SdkConfig) -> Client {
    Client::new(config)
}

/// Longest subject SNS accepts.
pub const MAX_SUBJECT: usize = 100;
/// Entries per `PublishBatch` request.
pub const BATCH: usize = 10;
/// Largest message body sent (a batch request carries at most 256 KiB in total).
pub const MAX_BODY: usize = 24 * 1024;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    /// String attributes (`severity`, `rule`, …).
    pub attributes: BTreeMap<String, String>,
}

/// What was published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub published: usize,
    /// (index in the input, reason) of rejected entries.
    pub failed: Vec<(usize, String)>,
}

/// A request that failed as a whole.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SNS PublishBatch to {topic}: {message}")]
pub struct SnsError {
    pub topic: String,
    pub message: String,
    pub retryable: bool,
}

/// A subject SNS accepts: printable ASCII, no line breaks, at most [`MAX_SUBJECT`] characters.
pub fn clean_subject(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' }).take(MAX_SUBJECT).collect();
    if out.trim().is_empty() {
        out = "kms-audit".into();
    }
    out
}

fn truncate(body: &str) -> String {
    if body.len() <= MAX_BODY {
        return body.to_owned();
    }
    let mut end = MAX_BODY - 32;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [truncated]", &body[..end])
}

/// Publishes `messages` to `topic_arn` in batches of ten, in order.
pub async fn publish(client: &Client, topic_arn: &str, messages: &[Message]) -> Result<PublishReport, SnsError> {
    let mut report = PublishReport::default();
    for (chunk_no, chunk) in messages.chunks(BATCH).enumerate() {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, m) in chunk.iter().enumerate() {
            let mut e = PublishBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message(truncate(&m.body))
                .subject(clean_subject(&m.subject));
            for (k, v) in &m.attributes {
                let attr =
                    MessageAttributeValue::builder().data_type("String").string_value(v).build().map_err(|e| {
                        SnsError {
                            topic: topic_arn.to_owned(),
                            message: format!("attribute {k}: {e}"),
                            retryable: false,
                        }
                    })?;
                e = e.message_attributes(k, attr);
            }
            entries.push(e.build().map_err(|e| SnsError {
                topic: topic_arn.to_owned(),
                message: format!("entry: {e}"),
                retryable: false,
            })?);
        }
        let out =
            client.publish_batch().topic_arn(topic_arn).set_publish_batch_request_entries(Some(entries)).send().await;
        let out = out.map_err(|e| {
            let c = classify(&e);
            SnsError {
                topic: topic_arn.to_owned(),
                message: c.message,
                retryable: c.kind == lake::StoreErrorKind::Transient,
            }
        })?;
        report.published += out.successful().len();
        for f in out.failed() {
            let i = f.id().trim_start_matches('m').parse::<usize>().unwrap_or(0);
            let why = format!("{}: {}", f.code(), f.message().unwrap_or_default());
            report.failed.push((chunk_no * BATCH + i, why));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_clean() {
        assert_eq!(clean_subject("a\nb"), "a b");
        assert_eq!(clean_subject(&"x".repeat(300)).len(), MAX_SUBJECT);
        assert_eq!(clean_subject("\n"), "kms-audit");
        assert_eq!(truncate("short"), "short");
        assert!(truncate(&"é".repeat(MAX_BODY)).len() < MAX_BODY);
    }
}
