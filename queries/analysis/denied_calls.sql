-- Calls KMS refused for lack of permission (errorCode AccessDenied or AccessDeniedException),
-- one row per call. DryRun calls are not denials and are excluded.
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)).
SELECT
  event_time,
  event_id,
  event_name,
  key_arn,
  principal_arn,
  source_ip,
  error_code,
  error_message
FROM kms_events
WHERE error_code LIKE 'AccessDenied%'
  AND event_time >= CAST('{{from}}' AS TIMESTAMP)
  AND event_time < CAST('{{to}}' AS TIMESTAMP)
  AND dt >= substr('{{from}}', 1, 10)
  AND dt <= substr('{{to}}', 1, 10)
ORDER BY event_time, event_id, key_arn
