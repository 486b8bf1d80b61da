-- Which principals used each key over a period, and how often.
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)).
SELECT
  key_arn,
  count(DISTINCT principal_arn) AS principals,
  array_sort(array_agg(DISTINCT principal_arn)) AS principal_arns,
  count(*) AS calls
FROM kms_events
WHERE key_arn IS NOT NULL
  AND event_time >= CAST('{{from}}' AS TIMESTAMP)
  AND event_time < CAST('{{to}}' AS TIMESTAMP)
  AND dt >= substr('{{from}}', 1, 10)
  AND dt <= substr('{{to}}', 1, 10)
GROUP BY key_arn
ORDER BY key_arn
