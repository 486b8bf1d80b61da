-- KMS request cost by key, principal and SageMaker job: requests × {{price_per_10k}} / 10,000
-- (the published price per 10,000 requests, e.g. 0.03). A call is attributed to the job whose
-- execution role made it inside the job's window (open windows run to now); when several jobs
-- share a role and overlap, to the one that started last before the call; otherwise job_arn is NULL.
-- Inputs: kms_events, expectations (queries/reconcile/expectations_ddl.sql).
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)), {{price_per_10k}}.
WITH calls AS (
  SELECT event_id, key_arn, principal_arn, event_time
  FROM kms_events
  WHERE event_time >= CAST('{{from}}' AS TIMESTAMP)
    AND event_time < CAST('{{to}}' AS TIMESTAMP)
    AND dt >= substr('{{from}}', 1, 10)
    AND dt <= substr('{{to}}', 1, 10)
),
jobs AS (
  SELECT DISTINCT job_arn, role_arn, window_start, window_end FROM expectations
),
attributed AS (
  SELECT
    c.event_id,
    c.key_arn,
    c.principal_arn,
    j.job_arn,
    row_number() OVER (
      PARTITION BY c.event_id, c.key_arn
      ORDER BY j.window_start DESC NULLS LAST, j.job_arn
    ) AS pick
  FROM calls c
  LEFT JOIN jobs j
    ON j.role_arn = c.principal_arn
    AND c.event_time >= j.window_start
    AND (j.window_end IS NULL OR c.event_time <= j.window_end)
)
SELECT
  key_arn,
  principal_arn,
  job_arn,
  count(*) AS requests,
  CAST(count(*) AS DOUBLE) * {{price_per_10k}} / 10000 AS cost
FROM attributed
WHERE pick = 1
GROUP BY key_arn, principal_arn, job_arn
ORDER BY cost DESC, key_arn, principal_arn, job_arn
