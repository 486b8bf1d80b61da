-- Cross-account use: calls whose caller's account differs from the account that owns the key.
-- The caller's account is the account field of principal_arn (or the `account:<id>` principal).
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)).
WITH calls AS (
  SELECT
    key_arn,
    principal_arn,
    split_part(key_arn, ':', 5) AS key_account,
    CASE
      WHEN principal_arn LIKE 'arn:%' THEN split_part(principal_arn, ':', 5)
      WHEN principal_arn LIKE 'account:%' THEN substr(principal_arn, 9)
    END AS caller_account,
    event_time
  FROM kms_events
  WHERE key_arn IS NOT NULL
    AND event_time >= CAST('{{from}}' AS TIMESTAMP)
    AND event_time < CAST('{{to}}' AS TIMESTAMP)
    AND dt >= substr('{{from}}', 1, 10)
    AND dt <= substr('{{to}}', 1, 10)
)
SELECT
  key_arn,
  key_account,
  principal_arn,
  caller_account,
  count(*) AS calls,
  min(event_time) AS first_seen,
  max(event_time) AS last_seen
FROM calls
WHERE caller_account IS NOT NULL
  AND caller_account <> ''
  AND caller_account <> key_account
GROUP BY key_arn, key_account, principal_arn, caller_account
ORDER BY key_arn, principal_arn
