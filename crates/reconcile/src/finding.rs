//! Rules, severities and findings.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Severity of a finding; ordered `Low < Medium < High` (for `--fail-on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            _ => Err(format!("unknown severity {s:?} (low, medium, high)")),
        }
    }
}

/// A finding kind. The names (`Rule::name`) are part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    UnexpectedPrincipal,
    OutsideJobWindow,
    UnexpectedKey,
    MissingUsage,
    AccessDenied,
    DirectUse,
    LongTermCredentials,
    WeakTls,
    KeyLifecycle,
    /// Produced by `verify`, not by the reconciler.
    AuditGap,
}

impl Rule {
    pub const ALL: [Rule; 10] = [
        Rule::UnexpectedPrincipal,
        Rule::OutsideJobWindow,
        Rule::UnexpectedKey,
        Rule::MissingUsage,
        Rule::AccessDenied,
        Rule::DirectUse,
        Rule::LongTermCredentials,
        Rule::WeakTls,
        Rule::KeyLifecycle,
        Rule::AuditGap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::UnexpectedPrincipal => "unexpected-principal",
            Rule::OutsideJobWindow => "outside-job-window",
            Rule::UnexpectedKey => "unexpected-key",
            Rule::MissingUsage => "missing-usage",
            Rule::AccessDenied => "access-denied",
            Rule::DirectUse => "direct-use",
            Rule::LongTermCredentials => "long-term-credentials",
            Rule::WeakTls => "weak-tls",
            Rule::KeyLifecycle => "key-lifecycle",
            Rule::AuditGap => "audit-gap",
        }
    }

    /// The documented severity of the rule.
    pub fn severity(self) -> Severity {
        match self {
            Rule::UnexpectedPrincipal | Rule::UnexpectedKey | Rule::KeyLifecycle | Rule::AuditGap => Severity::High,
            Rule::OutsideJobWindow
            | Rule::MissingUsage
            | Rule::AccessDenied
            | Rule::DirectUse
            | Rule::LongTermCredentials => Severity::Medium,
            Rule::WeakTls => Severity::Low,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Rule::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| format!("unknown rule {s:?}"))
    }
}

/// One finding. Serialized field names are the contract of `findings.json` and of the
/// `findings` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    pub key_arn: Option<String>,
    pub principal_arn: Option<String>,
    /// `null` when no event is concerned (`missing-usage`).
    pub event_id: Option<String>,
    /// The event's time; for `missing-usage`, the end of the job's window.
    #[serde(with = "ms_opt")]
    pub event_time: Option<DateTime<Utc>>,
    pub job_arn: Option<String>,
    pub detail: String,
    pub event_name: Option<String>,
    pub account_id: Option<String>,
    pub run_id: String,
}

impl Finding {
    /// Identity used to compare two findings lists (ignores `detail` and `run_id`).
    pub fn identity(&self) -> (Rule, Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
        (
            self.rule,
            self.event_id.as_deref(),
            self.key_arn.as_deref(),
            self.job_arn.as_deref(),
            self.principal_arn.as_deref(),
        )
    }
}

/// RFC 3339 with milliseconds and `Z` (`2025-03-14T09:05:42.000Z`).
mod ms_opt {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let v: Option<String> = Option::deserialize(d)?;
        v.map(|s| DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Rule::ALL {
            assert_eq!(r.name().parse::<Rule>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{}\"", r.name()));
        }
        assert!(Severity::High > Severity::Medium && Severity::Medium > Severity::Low);
    }

    #[test]
    fn finding_json_round_trip() {
        let f = Finding {
            rule: Rule::MissingUsage,
            severity: Severity::Medium,
            key_arn: Some("arn:aws:kms:us-east-1:1:key/k".into()),
            principal_arn: Some("arn:aws:iam::1:role/r".into()),
            event_id: None,
            event_time: DateTime::from_timestamp_millis(1_741_942_780_125),
            job_arn: Some("arn:aws:sagemaker:us-east-1:1:training-job/j".into()),
            detail: "d".into(),
            event_name: None,
            account_id: Some("1".into()),
            run_id: "r".into(),
        };
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["rule"], "missing-usage");
        assert_eq!(j["event_id"], serde_json::Value::Null);
        assert_eq!(j["event_time"], "2025-03-14T08:59:40.125Z");
        assert_eq!(serde_json::from_value::<Finding>(j).unwrap(), f);
    }
}
