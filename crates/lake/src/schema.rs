//! The `kms_events` table: Arrow schema and column names (DESIGN.md §2). Partition columns
//! (`key_id`, `principal`, `dt`) live in the path, not in the files.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Column names, in file order. Renaming one is a contract change: `queries/` and the Glue
/// table name them too, and tests run those queries against the files this crate writes.
pub mod col {
    pub const EVENT_ID: &str = "event_id";
    pub const EVENT_TIME: &str = "event_time";
    pub const EVENT_NAME: &str = "event_name";
    pub const EVENT_VERSION: &str = "event_version";
    pub const AWS_REGION: &str = "aws_region";
    pub const ACCOUNT_ID: &str = "account_id";
    pub const KEY_ARN: &str = "key_arn";
    pub const KEY_ALIAS: &str = "key_alias";
    pub const PRINCIPAL_ARN: &str = "principal_arn";
    pub const PRINCIPAL_TYPE: &str = "principal_type";
    pub const SESSION_ARN: &str = "session_arn";
    pub const SESSION_NAME: &str = "session_name";
    pub const SOURCE_IDENTITY: &str = "source_identity";
    pub const ACCESS_KEY_ID: &str = "access_key_id";
    pub const INVOKED_BY: &str = "invoked_by";
    pub const SOURCE_IP: &str = "source_ip";
    pub const USER_AGENT: &str = "user_agent";
    pub const ENCRYPTION_CONTEXT: &str = "encryption_context";
    pub const ENCRYPTION_ALGORITHM: &str = "encryption_algorithm";
    pub const GRANTEE_PRINCIPAL: &str = "grantee_principal";
    pub const GRANT_OPERATIONS: &str = "grant_operations";
    pub const ERROR_CODE: &str = "error_code";
    pub const ERROR_MESSAGE: &str = "error_message";
    pub const REQUEST_ID: &str = "request_id";
    pub const READ_ONLY: &str = "read_only";
    pub const SHARED_EVENT_ID: &str = "shared_event_id";
    pub const VPC_ENDPOINT_ID: &str = "vpc_endpoint_id";
    pub const TLS_VERSION: &str = "tls_version";
    pub const TLS_CIPHER_SUITE: &str = "tls_cipher_suite";
    pub const REQUEST_PARAMETERS: &str = "request_parameters";
    pub const ADDITIONAL_EVENT_DATA: &str = "additional_event_data";
    pub const SOURCE_OBJECT: &str = "source_object";
}

/// Partition column names, in path order.
pub const PARTITION_COLUMNS: [&str; 3] = ["key_id", "principal", "dt"];

/// Type of `encryption_context`: `map<string,string>` as Athena and DuckDB read it.
pub fn context_map_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "key_value",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    )
}

/// Field names of the `encryption_context` map, for building one with Arrow's `MapBuilder`
/// (whose defaults differ from [`context_map_type`]).
pub fn context_map_field_names() -> arrow::array::MapFieldNames {
    arrow::array::MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() }
}

/// Type of `grant_operations`: `array<string>`.
pub fn string_list_type() -> DataType {
    DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)))
}

/// Schema of `kms_events` files.
pub fn kms_events_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            use col::*;
            let s = |name: &str| Field::new(name, DataType::Utf8, true);
            Arc::new(Schema::new(vec![
                Field::new(EVENT_ID, DataType::Utf8, false),
                Field::new(EVENT_TIME, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
                s(EVENT_NAME),
                s(EVENT_VERSION),
                s(AWS_REGION),
                s(ACCOUNT_ID),
                s(KEY_ARN),
                s(KEY_ALIAS),
                Field::new(PRINCIPAL_ARN, DataType::Utf8, false),
                s(PRINCIPAL_TYPE),
                s(SESSION_ARN),
                s(SESSION_NAME),
                s(SOURCE_IDENTITY),
                s(ACCESS_KEY_ID),
                s(INVOKED_BY),
                s(SOURCE_IP),
                s(USER_AGENT),
                Field::new(ENCRYPTION_CONTEXT, context_map_type(), true),
                s(ENCRYPTION_ALGORITHM),
                s(GRANTEE_PRINCIPAL),
                Field::new(GRANT_OPERATIONS, string_list_type(), true),
                s(ERROR_CODE),
                s(ERROR_MESSAGE),
                s(REQUEST_ID),
                Field::new(READ_ONLY, DataType::Boolean, true),
                s(SHARED_EVENT_ID),
                s(VPC_ENDPOINT_ID),
                s(TLS_VERSION),
                s(TLS_CIPHER_SUITE),
                s(REQUEST_PARAMETERS),
                s(ADDITIONAL_EVENT_DATA),
                Field::new(SOURCE_OBJECT, DataType::Utf8, false),
            ]))
        })
        .clone()
}
