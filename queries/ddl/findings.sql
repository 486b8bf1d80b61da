-- Athena DDL of the findings table written by `kms-audit reconcile` (and the scheduled
-- reconcile Lambda) under LAKE/findings/dt=<YYYY-MM-DD>/<run>.parquet.
-- Replace {{location}} with s3://BUCKET/PREFIX/findings/.
CREATE EXTERNAL TABLE IF NOT EXISTS findings (
  rule string,
  severity string,
  key_arn string,
  principal_arn string,
  event_id string,
  event_time timestamp,
  job_arn string,
  detail string,
  event_name string,
  account_id string,
  run_id string
)
PARTITIONED BY (dt string)
STORED AS PARQUET
LOCATION '{{location}}'
TBLPROPERTIES ('parquet.compression' = 'ZSTD')
