//! Arrow builders for `kms_events` rows: KMS events go straight from the parser into columns.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, ListBuilder, MapBuilder, StringBuilder, TimestampMillisecondBuilder};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use trail::KmsEvent;

use crate::schema::kms_events_schema;

/// Column builders for `kms_events` rows.
#[derive(Debug)]
pub struct EventBuilder {
    event_id: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    event_name: StringBuilder,
    event_version: StringBuilder,
    aws_region: StringBuilder,
    account_id: StringBuilder,
    key_arn: StringBuilder,
    key_alias: StringBuilder,
    principal_arn: StringBuilder,
    principal_type: StringBuilder,
    session_arn: StringBuilder,
    session_name: StringBuilder,
    source_identity: StringBuilder,
    access_key_id: StringBuilder,
    invoked_by: StringBuilder,
    source_ip: StringBuilder,
    user_agent: StringBuilder,
    encryption_context: MapBuilder<StringBuilder, StringBuilder>,
    encryption_algorithm: StringBuilder,
    grantee_principal: StringBuilder,
    grant_operations: ListBuilder<StringBuilder>,
    error_code: StringBuilder,
    error_message: StringBuilder,
    request_id: StringBuilder,
    read_only: BooleanBuilder,
    shared_event_id: StringBuilder,
    vpc_endpoint_id: StringBuilder,
    tls_version: StringBuilder,
    tls_cipher_suite: StringBuilder,
    request_parameters: StringBuilder,
    additional_event_data: StringBuilder,
    source_object: StringBuilder,
    rows: usize,
    bytes: usize,
}

/// Rows a new builder has room for. Small on purpose: Arrow's default (1,024 rows and 1 KiB per
/// column, ~200 KB per builder) is mostly page zeroing for a small log file; builders grow by
/// doubling when a file is busy.
const INITIAL_ROWS: usize = 8;

fn text() -> StringBuilder {
    StringBuilder::with_capacity(INITIAL_ROWS, INITIAL_ROWS * 32)
}

impl Default for EventBuilder {
    fn default() -> Self {
        let map_names = crate::schema::context_map_field_names();
        Self {
            event_id: text(),
            event_time: TimestampMillisecondBuilder::with_capacity(INITIAL_ROWS).with_timezone("UTC"),
            event_name: text(),
            event_version: text(),
            aws_region: text(),
            account_id: text(),
            key_arn: text(),
            key_alias: text(),
            principal_arn: text(),
            principal_type: text(),
            session_arn: text(),
            session_name: text(),
            source_identity: text(),
            access_key_id: text(),
            invoked_by: text(),
            source_ip: text(),
            user_agent: text(),
            encryption_context: MapBuilder::with_capacity(Some(map_names), text(), text(), INITIAL_ROWS),
            encryption_algorithm: text(),
            grantee_principal: text(),
            grant_operations: ListBuilder::with_capacity(text(), INITIAL_ROWS).with_field(Arc::new(Field::new(
                "element",
                DataType::Utf8,
                true,
            ))),
            error_code: text(),
            error_message: text(),
            request_id: text(),
            read_only: BooleanBuilder::with_capacity(INITIAL_ROWS),
            shared_event_id: text(),
            vpc_endpoint_id: text(),
            tls_version: text(),
            tls_cipher_suite: text(),
            request_parameters: text(),
            additional_event_data: text(),
            source_object: text(),
            rows: 0,
            bytes: 0,
        }
    }
}

impl EventBuilder {
    /// Rows appended since the last [`EventBuilder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes held (string payloads plus fixed-width columns), for flush decisions.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends the row of `event` for one of its keys (`key_arn`; `None` for keyless calls).
    pub fn append(&mut self, event: &KmsEvent<'_>, key_arn: Option<&str>, source_object: &str) {
        let mut bytes = 64;
        let mut put = |b: &mut StringBuilder, v: Option<&str>| {
            bytes += v.map_or(0, str::len) + 4;
            b.append_option(v);
        };
        put(&mut self.event_id, Some(&event.event_id));
        put(&mut self.event_name, event.event_name.as_deref());
        put(&mut self.event_version, event.event_version.as_deref());
        put(&mut self.aws_region, event.aws_region.as_deref());
        put(&mut self.account_id, event.account_id.as_deref());
        put(&mut self.key_arn, key_arn);
        put(&mut self.key_alias, event.key_alias.as_deref());
        put(&mut self.principal_arn, Some(&event.principal_arn));
        put(&mut self.principal_type, event.principal_type.as_deref());
        put(&mut self.session_arn, event.session_arn.as_deref());
        put(&mut self.session_name, event.session_name.as_deref());
        put(&mut self.source_identity, event.source_identity.as_deref());
        put(&mut self.access_key_id, event.access_key_id.as_deref());
        put(&mut self.invoked_by, event.invoked_by.as_deref());
        put(&mut self.source_ip, event.source_ip.as_deref());
        put(&mut self.user_agent, event.user_agent.as_deref());
        put(&mut self.encryption_algorithm, event.encryption_algorithm.as_deref());
        put(&mut self.grantee_principal, event.grantee_principal.as_deref());
        put(&mut self.error_code, event.error_code.as_deref());
        put(&mut self.error_message, event.error_message.as_deref());
        put(&mut self.request_id, event.request_id.as_deref());
        put(&mut self.shared_event_id, event.shared_event_id.as_deref());
        put(&mut self.vpc_endpoint_id, event.vpc_endpoint_id.as_deref());
        put(&mut self.tls_version, event.tls_version.as_deref());
        put(&mut self.tls_cipher_suite, event.tls_cipher_suite.as_deref());
        put(&mut self.request_parameters, event.request_parameters);
        put(&mut self.additional_event_data, event.additional_event_data);
        put(&mut self.source_object, Some(source_object));

        self.event_time.append_value(event.event_time.0);
        self.read_only.append_option(event.read_only);
        match &event.encryption_context {
            Some(entries) => {
                for (k, v) in entries {
                    bytes += k.len() + v.len() + 8;
                    self.encryption_context.keys().append_value(k);
                    self.encryption_context.values().append_value(v);
                }
                self.encryption_context.append(true).expect("keys and values appended in pairs");
            }
            None => self.encryption_context.append(false).expect("no entries appended"),
        }
        match &event.grant_operations {
            Some(ops) => {
                for op in ops {
                    bytes += op.len() + 4;
                    self.grant_operations.values().append_value(op);
                }
                self.grant_operations.append(true);
            }
            None => self.grant_operations.append(false),
        }
        self.rows += 1;
        self.bytes += bytes;
    }

    /// Takes the rows appended so far as a batch and resets the builder.
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.event_version.finish()),
            Arc::new(self.aws_region.finish()),
            Arc::new(self.account_id.finish()),
            Arc::new(self.key_arn.finish()),
            Arc::new(self.key_alias.finish()),
            Arc::new(self.principal_arn.finish()),
            Arc::new(self.principal_type.finish()),
            Arc::new(self.session_arn.finish()),
            Arc::new(self.session_name.finish()),
            Arc::new(self.source_identity.finish()),
            Arc::new(self.access_key_id.finish()),
            Arc::new(self.invoked_by.finish()),
            Arc::new(self.source_ip.finish()),
            Arc::new(self.user_agent.finish()),
            Arc::new(self.encryption_context.finish()),
            Arc::new(self.encryption_algorithm.finish()),
            Arc::new(self.grantee_principal.finish()),
            Arc::new(self.grant_operations.finish()),
            Arc::new(self.error_code.finish()),
            Arc::new(self.error_message.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.read_only.finish()),
            Arc::new(self.shared_event_id.finish()),
            Arc::new(self.vpc_endpoint_id.finish()),
            Arc::new(self.tls_version.finish()),
            Arc::new(self.tls_cipher_suite.finish()),
            Arc::new(self.request_parameters.finish()),
            Arc::new(self.additional_event_data.finish()),
            Arc::new(self.source_object.finish()),
        ];
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(kms_events_schema(), columns).expect("builder columns match the kms_events schema")
    }
}
