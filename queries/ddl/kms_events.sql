-- Athena DDL of the kms_events table (DESIGN.md §2). Partitions are registered by the ingest
-- Lambda through Glue; `MSCK REPAIR TABLE kms_events` also finds them, since the folders are
-- Hive-style (key_id=…/principal=…/dt=…). Replace {{location}} with s3://BUCKET/PREFIX/kms_events/.
-- The `principal` partition value is percent-encoded (every byte outside [A-Za-z0-9._-]); the
-- un-encoded value is the principal_arn column.
CREATE EXTERNAL TABLE IF NOT EXISTS kms_events (
  event_id string,
  event_time timestamp,
  event_name string,
  event_version string,
  aws_region string,
  account_id string,
  key_arn string,
  key_alias string,
  principal_arn string,
  principal_type string,
  session_arn string,
  session_name string,
  source_identity string,
  access_key_id string,
  invoked_by string,
  source_ip string,
  user_agent string,
  encryption_context map<string,string>,
  encryption_algorithm string,
  grantee_principal string,
  grant_operations array<string>,
  error_code string,
  error_message string,
  request_id string,
  read_only boolean,
  shared_event_id string,
  vpc_endpoint_id string,
  tls_version string,
  tls_cipher_suite string,
  request_parameters string,
  additional_event_data string,
  source_object string
)
PARTITIONED BY (key_id string, principal string, dt string)
STORED AS PARQUET
LOCATION '{{location}}'
TBLPROPERTIES ('parquet.compression' = 'ZSTD')
