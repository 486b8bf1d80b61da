-- Callers using long-term IAM-user access keys (AKIA…) instead of role sessions.
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)).
SELECT
  principal_arn,
  access_key_id,
  count(*) AS calls,
  count(DISTINCT key_arn) AS keys,
  min(event_time) AS first_seen,
  max(event_time) AS last_seen
FROM kms_events
WHERE (access_key_id LIKE 'AKIA%' OR principal_type = 'IAMUser')
  AND event_time >= CAST('{{from}}' AS TIMESTAMP)
  AND event_time < CAST('{{to}}' AS TIMESTAMP)
  AND dt >= substr('{{from}}', 1, 10)
  AND dt <= substr('{{to}}', 1, 10)
GROUP BY principal_arn, access_key_id
ORDER BY principal_arn, access_key_id
