-- Daily calls per key and principal over a period, with error counts.
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)).
SELECT
  key_arn,
  principal_arn,
  date(event_time) AS day,
  count(*) AS calls,
  count(error_code) AS errors
FROM kms_events
WHERE event_time >= CAST('{{from}}' AS TIMESTAMP)
  AND event_time < CAST('{{to}}' AS TIMESTAMP)
  AND dt >= substr('{{from}}', 1, 10)
  AND dt <= substr('{{to}}', 1, 10)
GROUP BY key_arn, principal_arn, date(event_time)
ORDER BY day, key_arn, principal_arn
