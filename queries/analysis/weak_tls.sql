-- Calls made over TLS older than 1.2, per principal, key and version. Calls an AWS service made
-- for you carry no tlsDetails and never appear here.
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)).
SELECT
  principal_arn,
  key_arn,
  tls_version,
  count(*) AS calls,
  min(event_time) AS first_seen,
  max(event_time) AS last_seen
FROM kms_events
WHERE tls_version IN ('TLSv1', 'TLSv1.0', 'TLSv1.1', 'SSLv3')
  AND event_time >= CAST('{{from}}' AS TIMESTAMP)
  AND event_time < CAST('{{to}}' AS TIMESTAMP)
  AND dt >= substr('{{from}}', 1, 10)
  AND dt <= substr('{{to}}', 1, 10)
GROUP BY principal_arn, key_arn, tls_version
ORDER BY principal_arn, key_arn, tls_version
