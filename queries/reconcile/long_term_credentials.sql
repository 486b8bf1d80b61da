-- kms-audit reconcile rule `long-term-credentials` (Athena engine v3 / Trino).
-- A call made with IAM user credentials (userIdentity.type IAMUser, or an AKIA… access key).
-- Inputs: kms_events (queries/kms_events DDL), expectations, expectations_allow, expectations_keys
-- (queries/reconcile/expectations_ddl.sql). Output columns match the reconciler's Finding.
-- The block up to `-- rule:` is shared verbatim by every queries/reconcile/*.sql file (a test checks it).
WITH
-- Parameters (README "Running the SQL"): replace each {{…}} placeholder before running.
-- Timestamps are UTC 'YYYY-MM-DD HH:MM:SS.mmm'; slack is whole seconds.
params AS (
  SELECT
    CAST('{{from}}' AS TIMESTAMP) AS p_from,
    CAST('{{to}}' AS TIMESTAMP) AS p_to,
    CAST('{{watermark}}' AS TIMESTAMP) AS p_watermark,
    INTERVAL '{{slack_seconds}}' SECOND AS p_slack,
    '{{run_id}}' AS p_run_id
),
-- Expected (job, key, purpose) rows; role and key in canonical form, windows widened by the slack.
exp AS (
  SELECT
    x.job_arn, x.job_name, x.job_kind, x.role_arn, x.key_arn, x.purpose,
    x.window_start, x.window_end, x.status, x.all_buckets_bucket_key,
    CASE
      WHEN x.role_arn LIKE 'arn:%:iam::%:role/%'
        THEN split_part(x.role_arn, ':', 2) || ':' || split_part(x.role_arn, ':', 5) || ':' || regexp_extract(x.role_arn, '[^/]+$')
      WHEN x.role_arn LIKE 'arn:%:sts::%:assumed-role/%'
        THEN split_part(x.role_arn, ':', 2) || ':' || split_part(x.role_arn, ':', 5) || ':' || split_part(split_part(x.role_arn, ':', 6), '/', 2)
    END AS role_key,
    CASE
      WHEN split_part(x.key_arn, ':', 6) LIKE 'key/mrk-%'
        THEN split_part(x.key_arn, ':', 2) || ':' || split_part(x.key_arn, ':', 5) || ':' || split_part(x.key_arn, ':', 6)
      ELSE x.key_arn
    END AS key_canon,
    x.window_start - p.p_slack AS lo,
    COALESCE(x.window_end + p.p_slack, TIMESTAMP '9999-12-31 23:59:59') AS hi
  FROM expectations x
  CROSS JOIN params p
),
job_roles AS (SELECT DISTINCT role_key FROM exp),
role_windows AS (SELECT DISTINCT role_key, job_arn, lo, hi FROM exp),
key_windows AS (SELECT DISTINCT role_key, key_canon, job_arn, lo, hi FROM exp WHERE key_canon IS NOT NULL),
keys_in_use AS (SELECT DISTINCT key_canon FROM exp WHERE key_canon IS NOT NULL),
allow AS (
  SELECT
    a.entry, a.principal, a.key_arn, a.operation,
    CASE WHEN a.principal LIKE '%*' THEN substr(a.principal, 1, length(a.principal) - 1) END AS prefix,
    CASE
      WHEN a.principal LIKE 'arn:%:iam::%:role/%'
        THEN split_part(a.principal, ':', 2) || ':' || split_part(a.principal, ':', 5) || ':' || regexp_extract(a.principal, '[^/]+$')
      WHEN a.principal LIKE 'arn:%:sts::%:assumed-role/%'
        THEN split_part(a.principal, ':', 2) || ':' || split_part(a.principal, ':', 5) || ':' || split_part(split_part(a.principal, ':', 6), '/', 2)
    END AS a_role_key,
    CASE
      WHEN a.key_arn = '*' THEN NULL
      WHEN split_part(a.key_arn, ':', 6) LIKE 'key/mrk-%'
        THEN split_part(a.key_arn, ':', 2) || ':' || split_part(a.key_arn, ':', 5) || ':' || split_part(a.key_arn, ':', 6)
      ELSE a.key_arn
    END AS a_key_canon
  FROM expectations_allow a
),
keys_in_scope AS (
  SELECT key_canon FROM keys_in_use
  UNION
  SELECT a_key_canon FROM allow WHERE a_key_canon IS NOT NULL
  UNION
  SELECT
    CASE
      WHEN split_part(k.key_arn, ':', 6) LIKE 'key/mrk-%'
        THEN split_part(k.key_arn, ':', 2) || ':' || split_part(k.key_arn, ':', 5) || ':' || split_part(k.key_arn, ':', 6)
      ELSE k.key_arn
    END
  FROM expectations_keys k
  WHERE k.kind = 'scope'
),
-- kms_events in [from, to), without DryRun calls and the trail's own log reads; a key named only
-- by an alias is resolved through expectations_keys.
ev0 AS (
  SELECT
    e.event_id, e.event_time, e.account_id, e.principal_type, e.access_key_id, e.tls_version,
    NULLIF(e.event_name, '') AS event_name,
    NULLIF(e.principal_arn, '') AS principal_arn,
    NULLIF(e.invoked_by, '') AS invoked_by,
    NULLIF(e.source_ip, '') AS source_ip,
    NULLIF(e.error_code, '') AS error_code,
    NULLIF(e.grantee_principal, '') AS grantee_principal,
    COALESCE(NULLIF(e.key_arn, ''), a1.key_arn, a2.key_arn) AS key_arn
  FROM kms_events e
  CROSS JOIN params p
  LEFT JOIN expectations_keys a1
    ON a1.kind = 'alias' AND NULLIF(e.key_arn, '') IS NULL AND a1.alias = NULLIF(e.key_alias, '')
  LEFT JOIN expectations_keys a2
    ON a2.kind = 'alias' AND NULLIF(e.key_arn, '') IS NULL AND strpos(e.key_alias, ':alias/') > 0
    AND a2.alias = substr(e.key_alias, strpos(e.key_alias, ':alias/') + 1)
  WHERE e.event_time >= p.p_from AND e.event_time < p.p_to
    AND COALESCE(NULLIF(e.error_code, ''), '-') <> 'DryRunOperationException'
    AND NOT COALESCE(contains(map_keys(e.encryption_context), 'aws:cloudtrail:arn'), FALSE)
),
ev1 AS (
  SELECT
    ev0.*,
    CASE
      WHEN principal_arn LIKE 'arn:%:iam::%:role/%'
        THEN split_part(principal_arn, ':', 2) || ':' || split_part(principal_arn, ':', 5) || ':' || regexp_extract(principal_arn, '[^/]+$')
      WHEN principal_arn LIKE 'arn:%:sts::%:assumed-role/%'
        THEN split_part(principal_arn, ':', 2) || ':' || split_part(principal_arn, ':', 5) || ':' || split_part(split_part(principal_arn, ':', 6), '/', 2)
    END AS p_role_key,
    CASE
      WHEN split_part(key_arn, ':', 6) LIKE 'key/mrk-%'
        THEN split_part(key_arn, ':', 2) || ':' || split_part(key_arn, ':', 5) || ':' || split_part(key_arn, ':', 6)
      ELSE key_arn
    END AS k_canon,
    COALESCE(principal_arn LIKE 'service:%' OR principal_arn = 'aws-internal', FALSE) AS is_service,
    COALESCE(invoked_by LIKE '%.amazonaws.com' OR invoked_by LIKE '%.amazonaws.com.cn' OR invoked_by = 'AWS Internal', FALSE)
      OR COALESCE(source_ip LIKE '%.amazonaws.com' OR source_ip LIKE '%.amazonaws.com.cn' OR source_ip = 'AWS Internal', FALSE)
      AS through_service,
    COALESCE(error_code LIKE 'AccessDenied%', FALSE) AS denied,
    COALESCE(event_name IN (
      'Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair',
      'GenerateDataKeyPairWithoutPlaintext', 'ReEncrypt', 'Sign', 'Verify', 'GenerateMac', 'VerifyMac',
      'DeriveSharedSecret', 'CreateGrant'), FALSE) AS is_use,
    COALESCE(event_name IN ('ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy', 'DisableKeyRotation'), FALSE) AS is_lifecycle
  FROM ev0
),
-- Allow-list verdict per distinct (principal, key, operation).
combo AS (SELECT DISTINCT principal_arn, p_role_key, k_canon, event_name FROM ev1 WHERE principal_arn IS NOT NULL),
combo_allow AS (
  SELECT
    c.principal_arn, c.k_canon, c.event_name,
    bool_or(al.operation = '*' OR al.operation = c.event_name) AS allowed,
    bool_or(al.operation = c.event_name) AS allowed_explicit
  FROM combo c
  JOIN allow al
    ON ((al.prefix IS NOT NULL AND starts_with(c.principal_arn, al.prefix))
        OR (al.prefix IS NULL AND al.a_role_key IS NOT NULL AND al.a_role_key = c.p_role_key)
        OR (al.prefix IS NULL AND al.a_role_key IS NULL AND al.principal = c.principal_arn))
    AND (al.key_arn = '*' OR al.a_key_canon = c.k_canon)
  GROUP BY c.principal_arn, c.k_canon, c.event_name
),
events AS (
  SELECT
    ev1.*,
    jr.role_key IS NOT NULL AS is_job_role,
    ks.key_canon IS NOT NULL AS key_in_scope,
    ku.key_canon IS NOT NULL AS key_in_use,
    COALESCE(ca.allowed, FALSE) AS allowed,
    COALESCE(ca.allowed_explicit, FALSE) AS allowed_explicit
  FROM ev1
  LEFT JOIN job_roles jr ON jr.role_key = ev1.p_role_key
  LEFT JOIN keys_in_scope ks ON ks.key_canon = ev1.k_canon
  LEFT JOIN keys_in_use ku ON ku.key_canon = ev1.k_canon
  LEFT JOIN combo_allow ca
    ON ca.principal_arn = ev1.principal_arn
    AND COALESCE(ca.k_canon, '') = COALESCE(ev1.k_canon, '')
    AND COALESCE(ca.event_name, '') = COALESCE(ev1.event_name, '')
),
-- Uses of a key by a customer principal (the subject of the attribution rules).
uses AS (
  SELECT * FROM events
  WHERE NOT denied AND is_use AND key_arn IS NOT NULL AND principal_arn IS NOT NULL AND NOT is_service
)
-- rule: long-term-credentials
SELECT
  'long-term-credentials' AS rule,
  'medium' AS severity,
  e.key_arn,
  e.principal_arn,
  e.event_id,
  e.event_time,
  CAST(NULL AS VARCHAR) AS job_arn,
  COALESCE(e.event_name, 'call') || ' made with long-term IAM user credentials' AS detail,
  e.event_name,
  e.account_id,
  p.p_run_id AS run_id
FROM events e
CROSS JOIN params p
WHERE e.principal_type = 'IAMUser' OR COALESCE(e.access_key_id LIKE 'AKIA%', FALSE)
