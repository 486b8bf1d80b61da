//! The CloudTrail key layout:
//!
//! ```text
//! AWSLogs/[o-ID/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
//!     <account>_CloudTrail-Digest_<region>_<trail-name>_<home-region>_<YYYYMMDDTHHMMSSZ>[_backfill].json.gz
//! AWSLogs/[o-ID/]<account>/CloudTrail/<region>/YYYY/MM/DD/
//!     <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
//! ```

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// What a digest file's name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestName {
    /// Trail name (may contain `_`).
    pub trail: String,
    /// Home region of the trail.
    pub home_region: String,
    /// Digest end time, from the name.
    pub end: DateTime<Utc>,
    /// A backfill digest (`_backfill` suffix): delivered late, outside the hourly chain.
    pub backfill: bool,
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Parses a digest file's name (the last segment of `key`).
pub(crate) fn digest_name(key: &str) -> Option<DigestName> {
    let name = file_name(key).strip_suffix(".json.gz")?;
    let (name, backfill) = match name.strip_suffix("_backfill") {
        Some(n) => (n, true),
        None => (name, false),
    };
    let (rest, stamp) = name.rsplit_once('_')?;
    let end = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?;
    let (rest, home_region) = rest.rsplit_once('_')?;
    let (_account, rest) = rest.split_once("_CloudTrail-Digest_")?;
    let (_region, trail) = rest.split_once('_')?;
    if trail.is_empty() || home_region.is_empty() {
        return None;
    }
    Some(DigestName {
        trail: trail.to_owned(),
        home_region: home_region.to_owned(),
        end: Utc.from_utc_datetime(&end),
        backfill,
    })
}

/// The time in a log file's name (`…_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`).
pub(crate) fn log_name_time(key: &str) -> Option<DateTime<Utc>> {
    let name = file_name(key);
    let (_account, rest) = name.split_once("_CloudTrail_")?;
    let mut parts = rest.split('_');
    let _region = parts.next()?;
    let stamp = parts.next()?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ").ok().map(|t| Utc.from_utc_datetime(&t))
}

/// `base` + `YYYY/MM/DD/` for every day from `from` to `to` inclusive.
pub(crate) fn day_prefixes(base: &str, from: NaiveDate, to: NaiveDate) -> Vec<String> {
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        out.push(format!("{base}{}/", day.format("%Y/%m/%d")));
        match day.checked_add_days(Days::new(1)) {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

/// Objects that are never trail objects: hidden files (`.DS_Store`) and local metadata
/// sidecars (`*.meta.json`), should a store list them.
pub(crate) fn is_ignored(key: &str) -> bool {
    let name = file_name(key);
    name.starts_with('.') || name.ends_with(".meta.json")
}

/// Whether `name` is an account folder (twelve digits).
pub(crate) fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `name` is an organization folder (`o-…`).
pub(crate) fn is_organization(name: &str) -> bool {
    name.starts_with("o-") && name.len() > 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_digest_names() {
        let key = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/\
                   111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz";
        let n = digest_name(key).unwrap();
        assert_eq!(n.trail, "your-trail-name");
        assert_eq!(n.home_region, "us-east-2");
        assert_eq!(n.end.to_rfc3339(), "2015-08-17T15:01:31+00:00");
        assert!(!n.backfill);
        let n = digest_name(
            "x/111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20240101T000000Z_backfill.json.gz",
        )
        .unwrap();
        assert_eq!(n.trail, "my_trail");
        assert_eq!(n.home_region, "us-east-1");
        assert!(n.backfill);
        assert!(digest_name("x/copy.json.gz").is_none());
        assert!(digest_name("x/111122223333_CloudTrail-Digest_r_t_h_2024.json.gz").is_none());
    }

    #[test]
    fn parses_log_names() {
        let t = log_name_time(
            "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/\
             111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz",
        )
        .unwrap();
        assert_eq!(t.to_rfc3339(), "2015-08-17T14:45:00+00:00");
        assert!(log_name_time("a/b/extra.json.gz").is_none());
    }

    #[test]
    fn day_prefixes_span_month_ends() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let p = day_prefixes("R/", d("2024-02-28"), d("2024-03-01"));
        assert_eq!(p, ["R/2024/02/28/", "R/2024/02/29/", "R/2024/03/01/"]);
        assert!(day_prefixes("R/", d("2024-03-02"), d("2024-03-01")).is_empty());
    }
}
