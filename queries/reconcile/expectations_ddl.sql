-- kms-audit reconcile: the expectations tables the queries in queries/reconcile/ join against
-- (Athena engine v3). Written as Parquet by the reconcile crate's `tables` module
-- (`expectations_batch`, `allow_batch`, `keys_batch`) from an expectations.json, one file per
-- table, replaced whole at each run. Replace {{lake}} with the lake's s3:// URL (no trailing /).

-- One row per (job, key, purpose); a job with no key has one row with key_arn and purpose NULL.
-- purpose: volume | output | endpoint | data_capture | notebook | bucket.
-- window_end NULL = open window (endpoints, notebook instances, running jobs).
-- all_buckets_bucket_key: the job lists buckets and every one uses S3 Bucket Keys.
CREATE EXTERNAL TABLE IF NOT EXISTS expectations (
  job_arn STRING,
  job_name STRING,
  job_kind STRING,
  role_arn STRING,
  key_arn STRING,
  purpose STRING,
  window_start TIMESTAMP,
  window_end TIMESTAMP,
  status STRING,
  all_buckets_bucket_key BOOLEAN
)
STORED AS PARQUET
LOCATION '{{lake}}/expectations/';

-- One row per (allow entry, key, operation). principal: an ARN (role ARNs match whatever the
-- path), or a prefix ending in '*'. key_arn and operation may be '*'.
CREATE EXTERNAL TABLE IF NOT EXISTS expectations_allow (
  entry INT,
  principal STRING,
  key_arn STRING,
  operation STRING,
  reason STRING
)
STORED AS PARQUET
LOCATION '{{lake}}/expectations_allow/';

-- kind 'scope': a key under audit besides the jobs' keys (alias NULL);
-- kind 'alias': alias (alias/name or alias ARN) -> key_arn, for records naming a key only by alias.
CREATE EXTERNAL TABLE IF NOT EXISTS expectations_keys (
  kind STRING,
  key_arn STRING,
  alias STRING
)
STORED AS PARQUET
LOCATION '{{lake}}/expectations_keys/';
