-- Direct calls (not made through an AWS service) that did not come through a VPC endpoint, by
-- principals that are expected to use one: those whose ARN matches {{vpc_principal_pattern}}
-- (a LIKE pattern, e.g. '%:role/service-role/AmazonSageMaker-ExecutionRole-%').
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)), {{vpc_principal_pattern}}.
SELECT
  principal_arn,
  key_arn,
  source_ip,
  count(*) AS calls,
  min(event_time) AS first_seen,
  max(event_time) AS last_seen
FROM kms_events
WHERE vpc_endpoint_id IS NULL
  AND invoked_by IS NULL
  AND principal_arn LIKE '{{vpc_principal_pattern}}'
  AND event_time >= CAST('{{from}}' AS TIMESTAMP)
  AND event_time < CAST('{{to}}' AS TIMESTAMP)
  AND dt >= substr('{{from}}', 1, 10)
  AND dt <= substr('{{to}}', 1, 10)
GROUP BY principal_arn, key_arn, source_ip
ORDER BY principal_arn, key_arn, source_ip
