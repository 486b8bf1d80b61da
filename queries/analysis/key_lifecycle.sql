-- Key-lifecycle changes: policy, grants, rotation, enable/disable, deletion, key material,
-- aliases. One row per call, failed attempts included (error_code says so).
-- Parameters: {{from}}, {{to}} as UTC 'YYYY-MM-DD HH:MM:SS.mmm' ([from, to)).
SELECT
  event_time,
  event_id,
  event_name,
  key_arn,
  principal_arn,
  grantee_principal,
  error_code
FROM kms_events
WHERE event_name IN (
    'CreateKey', 'PutKeyPolicy', 'CreateGrant', 'RetireGrant', 'RevokeGrant',
    'EnableKeyRotation', 'DisableKeyRotation', 'RotateKey', 'RotateKeyOnDemand',
    'EnableKey', 'DisableKey', 'ScheduleKeyDeletion', 'CancelKeyDeletion', 'DeleteKey',
    'ImportKeyMaterial', 'DeleteImportedKeyMaterial', 'UpdatePrimaryRegion', 'ReplicateKey',
    'CreateAlias', 'UpdateAlias', 'DeleteAlias'
  )
  AND event_time >= CAST('{{from}}' AS TIMESTAMP)
  AND event_time < CAST('{{to}}' AS TIMESTAMP)
  AND dt >= substr('{{from}}', 1, 10)
  AND dt <= substr('{{to}}', 1, 10)
ORDER BY event_time, event_id, key_arn
