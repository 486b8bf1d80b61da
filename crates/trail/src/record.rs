//! The CloudTrail record as delivered, deserialized typed and borrowed.
//!
//! Every field is optional and `null`-tolerant: published records, AWS's own examples included,
//! omit fields freely, and eventVersion 1.0 through 1.11 differ in what they carry. Strings are
//! `Cow` so unescaped values borrow from the input buffer instead of allocating.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// One element of a log file's `Records` array.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(borrow, default)]
    pub event_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, default)]
    pub event_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub event_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub aws_region: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "sourceIPAddress")]
    pub source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub error_message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub additional_event_data: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "requestID")]
    pub request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "eventID")]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub read_only: Option<bool>,
    #[serde(borrow, default)]
    pub resources: Option<Vec<Resource<'a>>>,
    #[serde(borrow, default)]
    pub recipient_account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "sharedEventID")]
    pub shared_event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub vpc_endpoint_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tls_details: Option<TlsDetails<'a>>,
}

/// `userIdentity`: which fields are present depends on `type`, and some records have no `type`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    #[serde(borrow, default, rename = "type")]
    pub identity_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub arn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub access_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub invoked_by: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub session_context: Option<SessionContext<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    #[serde(borrow, default)]
    pub session_issuer: Option<SessionIssuer<'a>>,
    #[serde(borrow, default)]
    pub source_identity: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    #[serde(borrow, default)]
    pub arn: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Resource<'a> {
    #[serde(borrow, default, rename = "type")]
    pub resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "ARN")]
    pub arn: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails<'a> {
    #[serde(borrow, default)]
    pub tls_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub cipher_suite: Option<Cow<'a, str>>,
}

/// The parts of `requestParameters` that become columns; the rest stays verbatim JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KmsRequestParameters<'a> {
    #[serde(borrow, default)]
    pub key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub source_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub destination_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub encryption_context: Option<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    #[serde(borrow, default)]
    pub encryption_algorithm: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub grantee_principal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub operations: Option<Vec<Cow<'a, str>>>,
}

impl<'a> KmsRequestParameters<'a> {
    /// Parses the subset of `requestParameters` kms-audit models. `requestParameters` may be
    /// `null`, an object, or (in hostile input) anything else; only an object yields fields.
    pub fn parse(raw: &'a RawValue) -> Result<Self, serde_json::Error> {
        let text = raw.get();
        if !text.starts_with('{') {
            return Ok(Self::default());
        }
        let mut params: KmsRequestParametersWire<'a> = serde_json::from_str(text)?;
        Ok(Self {
            key_id: params.key_id.take(),
            source_key_id: params.source_key_id.take(),
            destination_key_id: params.destination_key_id.take(),
            encryption_context: params.encryption_context.take().map(|m| m.0),
            encryption_algorithm: params.encryption_algorithm.take(),
            grantee_principal: params.grantee_principal.take(),
            operations: params.operations.take(),
        })
    }
}

/// Wire shape of [`KmsRequestParameters`]: the encryption context is a JSON object whose
/// entries we keep in document order (a `Vec`, not a map, so no hashing on the hot path).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KmsRequestParametersWire<'a> {
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    source_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    destination_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    encryption_context: Option<ContextEntries<'a>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    encryption_algorithm: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    grantee_principal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    operations: Option<Vec<Cow<'a, str>>>,
}

struct ContextEntries<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for ContextEntries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for EntriesVisitor<'a> {
            type Value = ContextEntries<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an encryption context object of string values")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(2));
                while let Some((k, v)) = map.next_entry::<Cow<'de, str>, Cow<'de, str>>()? {
                    entries.push((k, v));
                }
                Ok(ContextEntries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}

/// `readOnly` is a boolean in every documented version; tolerate `"true"`/`"false"` strings
/// rather than quarantine an otherwise good record over it.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrString<'a> {
        Bool(bool),
        #[serde(borrow)]
        Str(Cow<'a, str>),
    }
    Ok(match Option::<BoolOrString<'de>>::deserialize(deserializer)? {
        Some(BoolOrString::Bool(b)) => Some(b),
        Some(BoolOrString::Str(s)) => match s.as_ref() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        None => None,
    })
}

/// A key id is a string; anything else (a number, an object) carries no key and is ignored
/// so the verbatim `request_parameters` column still preserves it.
fn lenient_str<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrOther<'a> {
        #[serde(borrow)]
        Str(Cow<'a, str>),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<StrOrOther<'a>>::deserialize(deserializer)? {
        Some(StrOrOther::Str(s)) => Some(s),
        _ => None,
    })
}
