"""Peer for bench/ingest.sh: the same job in DuckDB, in its fastest form — read_json with schema
auto-detection into structs, unnest(Records), COPY … PARTITION_BY. Usage: duckdb_ingest.py TRAIL OUT THREADS"""
import sys

import duckdb

trail, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute(
    f"""
COPY (
  WITH r AS (
    SELECT unnest(Records) AS r
    FROM read_json('{trail}/**/*.json.gz', format = 'auto', maximum_object_size = 268435456)
  ), kms AS (
    SELECT r FROM r WHERE r.eventSource = 'kms.amazonaws.com'
  ), keyed AS (
    SELECT r, unnest(CASE WHEN len(r.resources) > 0 THEN list_transform(r.resources, lambda x: x.ARN) ELSE [NULL] END) AS key_arn
    FROM kms
  )
  SELECT
    r.eventID AS event_id,
    CAST(r.eventTime AS TIMESTAMPTZ) AS event_time,
    r.eventName AS event_name,
    r.eventVersion AS event_version,
    r.awsRegion AS aws_region,
    r.recipientAccountId AS account_id,
    key_arn,
    r.userIdentity.arn AS session_arn,
    r.userIdentity.type AS principal_type,
    r.userIdentity.accessKeyId AS access_key_id,
    r.userIdentity.invokedBy AS invoked_by,
    r.sourceIPAddress AS source_ip,
    r.userAgent AS user_agent,
    r.errorCode AS error_code,
    r.errorMessage AS error_message,
    r.requestID AS request_id,
    r.readOnly AS read_only,
    r.tlsDetails.tlsVersion AS tls_version,
    r.tlsDetails.cipherSuite AS tls_cipher_suite,
    CAST(r.requestParameters AS JSON) AS request_parameters,
    CAST(r.additionalEventData AS JSON) AS additional_event_data,
    coalesce(split_part(key_arn, '/', 2), '_none') AS key_id,
    CASE
      WHEN r.userIdentity.type = 'AssumedRole' THEN r.userIdentity.sessionContext.sessionIssuer.arn
      WHEN r.userIdentity.type = 'AWSService' THEN 'service:' || r.userIdentity.invokedBy
      WHEN r.userIdentity.type IS NULL THEN 'aws-internal'
      ELSE r.userIdentity.arn
    END AS principal,
    strftime(CAST(r.eventTime AS TIMESTAMPTZ), '%Y-%m-%d') AS dt
  FROM keyed
) TO '{out}' (FORMAT PARQUET, COMPRESSION ZSTD, PARTITION_BY (key_id, principal, dt), OVERWRITE_OR_IGNORE)
"""
)
