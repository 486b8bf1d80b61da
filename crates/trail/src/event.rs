//! Normalisation of a CloudTrail record into a KMS event: the rules that decide which key a call
//! concerns, which principal made it, and on which day it belongs (DESIGN.md §2).

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::record::{KmsRequestParameters, Record, UserIdentity};
use crate::time::EventTime;

/// `eventSource` of the records kms-audit keeps.
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";
/// `errorCode` of a logged DryRun call: kept and labelled, never treated as a real use.
pub const DRY_RUN_ERROR_CODE: &str = "DryRunOperationException";
/// Encryption-context key that marks CloudTrail reading its own SSE-KMS log files.
pub const CLOUDTRAIL_CONTEXT_KEY: &str = "aws:cloudtrail:arn";
/// The principal of records whose identity is only `invokedBy: AWS Internal` (RotateKey, DeleteKey).
pub const AWS_INTERNAL_PRINCIPAL: &str = "aws-internal";
/// `invokedBy` value of KMS's own scheduled operations.
const AWS_INTERNAL_INVOKER: &str = "AWS Internal";
/// Prefix of the principal of calls an AWS service made under its own identity.
pub const SERVICE_PRINCIPAL_PREFIX: &str = "service:";
/// Principal of records that name no identity at all.
pub const UNKNOWN_PRINCIPAL: &str = "unknown";

/// Why a record that claims to be a KMS event cannot be normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record has no `eventID`: it cannot be deduplicated or cited.
    #[error("record has no eventID")]
    MissingEventId,
    /// The record has no `eventTime`: it cannot be placed in a day partition.
    #[error("record has no eventTime")]
    MissingEventTime,
    /// `eventTime` is present but not an ISO-8601 UTC timestamp.
    #[error("eventTime {0:?} is not an ISO-8601 UTC timestamp")]
    BadEventTime(String),
    /// `requestParameters` is not valid for its declared shape.
    #[error("requestParameters: {0}")]
    BadRequestParameters(String),
}

/// A KMS CloudTrail record, normalised; borrows from the record's buffer.
#[derive(Debug)]
pub struct KmsEvent<'a> {
    pub event_id: Cow<'a, str>,
    pub event_time: EventTime,
    pub event_name: Option<Cow<'a, str>>,
    pub event_version: Option<Cow<'a, str>>,
    pub aws_region: Option<Cow<'a, str>>,
    pub account_id: Option<Cow<'a, str>>,
    /// Every key the call names: zero (ListAliases, failed CreateKey), one, or two (ReEncrypt).
    pub key_arns: Vec<Cow<'a, str>>,
    pub key_alias: Option<Cow<'a, str>>,
    pub principal_arn: Cow<'a, str>,
    pub principal_type: Option<Cow<'a, str>>,
    pub session_arn: Option<Cow<'a, str>>,
    pub session_name: Option<Cow<'a, str>>,
    pub source_identity: Option<Cow<'a, str>>,
    pub access_key_id: Option<Cow<'a, str>>,
    pub invoked_by: Option<Cow<'a, str>>,
    pub source_ip: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub encryption_context: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    pub encryption_algorithm: Option<Cow<'a, str>>,
    pub grantee_principal: Option<Cow<'a, str>>,
    pub grant_operations: Option<Vec<Cow<'a, str>>>,
    pub error_code: Option<Cow<'a, str>>,
    pub error_message: Option<Cow<'a, str>>,
    pub request_id: Option<Cow<'a, str>>,
    pub read_only: Option<bool>,
    pub shared_event_id: Option<Cow<'a, str>>,
    pub vpc_endpoint_id: Option<Cow<'a, str>>,
    pub tls_version: Option<Cow<'a, str>>,
    pub tls_cipher_suite: Option<Cow<'a, str>>,
    /// `requestParameters` verbatim (`None` when absent or `null`).
    pub request_parameters: Option<&'a str>,
    /// `additionalEventData` verbatim (`None` when absent or `null`).
    pub additional_event_data: Option<&'a str>,
}

impl<'a> KmsEvent<'a> {
    /// Normalises a record already known to be a KMS event (see [`is_kms`]).
    pub fn from_record(record: Record<'a>) -> Result<Self, RecordError> {
        let event_id = record.event_id.ok_or(RecordError::MissingEventId)?;
        let time_text = record.event_time.ok_or(RecordError::MissingEventTime)?;
        let event_time =
            EventTime::parse(&time_text).ok_or_else(|| RecordError::BadEventTime(truncate(&time_text, 64)))?;

        let params = match record.request_parameters {
            Some(raw) => {
                KmsRequestParameters::parse(raw).map_err(|e| RecordError::BadRequestParameters(e.to_string()))?
            }
            None => KmsRequestParameters::default(),
        };

        let identity = record.user_identity.unwrap_or_default();
        let principal_arn = principal_of(&identity);
        let session_arn = identity.arn;
        let session_name = session_arn.as_ref().and_then(|arn| match arn {
            Cow::Borrowed(arn) => assumed_role_session_name(arn).map(Cow::Borrowed),
            Cow::Owned(arn) => assumed_role_session_name(arn).map(|s| Cow::Owned(s.to_owned())),
        });
        let source_identity = identity.session_context.and_then(|c| c.source_identity);

        let key_arns = key_arns_of(
            record.resources.as_deref().unwrap_or_default(),
            &params,
            record.aws_region.as_deref(),
            record.recipient_account_id.as_deref(),
        );
        let key_alias = params.key_id.as_ref().filter(|k| is_alias(k)).cloned();
        let account_id = record
            .recipient_account_id
            .or(identity.account_id)
            .or_else(|| key_arns.first().and_then(|arn| arn_account(arn)).map(|a| Cow::Owned(a.to_owned())));

        let tls = record.tls_details.unwrap_or_default();
        Ok(KmsEvent {
            event_id,
            event_time,
            event_name: record.event_name,
            event_version: record.event_version,
            aws_region: record.aws_region,
            account_id,
            key_arns,
            key_alias,
            principal_arn,
            principal_type: identity.identity_type,
            session_arn,
            session_name,
            source_identity,
            access_key_id: identity.access_key_id,
            invoked_by: identity.invoked_by,
            source_ip: record.source_ip_address,
            user_agent: record.user_agent,
            encryption_context: params.encryption_context,
            encryption_algorithm: params.encryption_algorithm,
            grantee_principal: params.grantee_principal,
            grant_operations: params.operations,
            error_code: record.error_code,
            error_message: record.error_message,
            request_id: record.request_id,
            read_only: record.read_only,
            shared_event_id: record.shared_event_id,
            vpc_endpoint_id: record.vpc_endpoint_id,
            tls_version: tls.tls_version,
            tls_cipher_suite: tls.cipher_suite,
            request_parameters: non_null(record.request_parameters),
            additional_event_data: non_null(record.additional_event_data),
        })
    }
}

fn non_null(raw: Option<&RawValue>) -> Option<&str> {
    raw.map(RawValue::get).filter(|text| *text != "null")
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Whether a record is a KMS event. Cheap: looks only at `eventSource`.
pub fn is_kms(record: &Record<'_>) -> bool {
    record.event_source.as_deref() == Some(KMS_EVENT_SOURCE)
}

/// Whether the call is a DryRun (logged by KMS with this error code, nothing was done).
pub fn is_dry_run(error_code: Option<&str>) -> bool {
    error_code == Some(DRY_RUN_ERROR_CODE)
}

/// Whether the call is CloudTrail decrypting its own SSE-KMS log files for a reader.
pub fn is_trail_log_read<K: AsRef<str>, V>(context: Option<&[(K, V)]>) -> bool {
    context.is_some_and(|c| c.iter().any(|(k, _)| k.as_ref() == CLOUDTRAIL_CONTEXT_KEY))
}

/// The stable identity behind a call (DESIGN.md §2 `principal`), un-encoded.
///
/// - assumed roles: the role ARN from `sessionContext.sessionIssuer.arn`, else derived from the
///   session ARN (`…:assumed-role/R/s` → `…:role/R`, losing any role path), so the principal is
///   the role and not the per-run session;
/// - IAM users, root, federated users and every other ARN-bearing type: `userIdentity.arn`
///   (the issuer's ARN for federated users when present, like assumed roles);
/// - `AWSService`: `service:<invokedBy>`;
/// - `AWSAccount` (a caller from another account named only by account): `account:<accountId>`;
/// - only `invokedBy: AWS Internal`: `aws-internal`; only another `invokedBy`: `service:<host>`;
/// - nothing usable: `unknown`.
pub fn principal_of<'a>(identity: &UserIdentity<'a>) -> Cow<'a, str> {
    let issuer_arn = identity
        .session_context
        .as_ref()
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|i| i.arn.as_ref())
        .filter(|a| !a.is_empty());
    let kind = identity.identity_type.as_deref();
    match kind {
        Some("AssumedRole") | Some("FederatedUser") => {
            if let Some(arn) = issuer_arn {
                return arn.clone();
            }
            if let Some(role) = identity.arn.as_deref().and_then(role_arn_from_session_arn) {
                return Cow::Owned(role);
            }
        }
        Some("AWSService") => {
            if let Some(by) = identity.invoked_by.as_deref().filter(|s| !s.is_empty()) {
                return Cow::Owned(format!("{SERVICE_PRINCIPAL_PREFIX}{by}"));
            }
        }
        Some("AWSAccount") => {
            if let Some(acct) = identity.account_id.as_deref().filter(|s| !s.is_empty()) {
                return Cow::Owned(format!("account:{acct}"));
            }
        }
        _ => {}
    }
    if let Some(arn) = identity.arn.as_ref().filter(|a| !a.is_empty()) {
        return arn.clone();
    }
    match identity.invoked_by.as_deref() {
        Some(AWS_INTERNAL_INVOKER) => Cow::Borrowed(AWS_INTERNAL_PRINCIPAL),
        Some(by) if !by.is_empty() => Cow::Owned(format!("{SERVICE_PRINCIPAL_PREFIX}{by}")),
        _ => match identity.principal_id.as_ref().filter(|p| !p.is_empty()) {
            Some(id) => id.clone(),
            None => Cow::Borrowed(UNKNOWN_PRINCIPAL),
        },
    }
}

/// `arn:aws:sts::A:assumed-role/R/S` → `arn:aws:iam::A:role/R`.
fn role_arn_from_session_arn(arn: &str) -> Option<String> {
    let (prefix, resource) = arn.split_once(":assumed-role/")?;
    let role = resource.split('/').next()?;
    let (partition_part, account) = prefix.rsplit_once(':')?;
    let partition = partition_part.strip_prefix("arn:")?.split(':').next()?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

/// Last segment of an assumed-role session ARN.
fn assumed_role_session_name(arn: &str) -> Option<&str> {
    if !arn.contains(":assumed-role/") {
        return None;
    }
    arn.rsplit('/').next().filter(|s| !s.is_empty())
}

fn is_alias(key_ref: &str) -> bool {
    key_ref.starts_with("alias/") || (key_ref.starts_with("arn:") && key_ref.contains(":alias/"))
}

fn is_key_arn(key_ref: &str) -> bool {
    key_ref.starts_with("arn:") && key_ref.contains(":key/")
}

/// Account field of an ARN (`arn:partition:service:region:ACCOUNT:resource`).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The key id of a KMS key ARN or bare key id: the segment after `key/` (a UUID or `mrk-…`).
pub fn key_id_of(key_arn: &str) -> &str {
    key_arn.rsplit_once("key/").map_or(key_arn, |(_, id)| id)
}

/// Keys a call concerns: `resources[type=AWS::KMS::Key].ARN`; without resources, ARNs in
/// `keyId`/`sourceKeyId`/`destinationKeyId`, and a bare key id becomes an ARN in the record's
/// region and account (a bare id always names a key in the caller's own account and region).
fn key_arns_of<'a>(
    resources: &[crate::record::Resource<'a>],
    params: &KmsRequestParameters<'a>,
    region: Option<&str>,
    account: Option<&str>,
) -> Vec<Cow<'a, str>> {
    let mut keys: Vec<Cow<'a, str>> = Vec::with_capacity(1);
    for r in resources {
        if r.resource_type.as_deref() == Some("AWS::KMS::Key") {
            if let Some(arn) = r.arn.as_ref().filter(|a| !a.is_empty()) {
                if !keys.contains(arn) {
                    keys.push(arn.clone());
                }
            }
        }
    }
    if !keys.is_empty() {
        return keys;
    }
    for key_ref in [&params.key_id, &params.source_key_id, &params.destination_key_id].into_iter().flatten() {
        let arn = if is_key_arn(key_ref) {
            key_ref.clone()
        } else if !key_ref.is_empty() && !is_alias(key_ref) && !key_ref.contains(['/', ':']) {
            match (region, account) {
                (Some(r), Some(a)) => Cow::Owned(format!("arn:{}:kms:{r}:{a}:key/{key_ref}", partition_of_region(r))),
                _ => continue,
            }
        } else {
            continue;
        };
        if !keys.contains(&arn) {
            keys.push(arn);
        }
    }
    keys
}

/// ARN partition of a region name.
fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}
