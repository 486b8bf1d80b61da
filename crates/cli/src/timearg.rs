//! Instants on the command line: RFC 3339 (`2025-03-14T09:00:00Z`), a UTC date and time without an
//! offset (`2025-03-14T09:00[:00]`, `T` or a space), or a UTC day (`2025-03-14`, meaning its
//! midnight). One parser for every command's time options.

use anyhow::{anyhow, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

pub fn parse(text: &str) -> Result<DateTime<Utc>> {
    value(text).map_err(|e| anyhow!(e))
}

/// [`parse`] as a clap value parser.
pub fn value(text: &str) -> Result<DateTime<Utc>, String> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), fmt) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!("{text:?} is neither RFC 3339 (2025-03-14T09:00:00Z) nor a day (2025-03-14)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        let t = value("2024-03-01T05:06:07Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-01T05:06:07+00:00");
        assert_eq!(value("2024-03-01T07:06:07+02:00").unwrap(), t);
        assert_eq!(value("2024-03-01").unwrap().to_rfc3339(), "2024-03-01T00:00:00+00:00");
        assert_eq!(value("2024-03-01T05:06").unwrap().to_rfc3339(), "2024-03-01T05:06:00+00:00");
        assert_eq!(value("2024-03-01 05:06:07").unwrap(), t);
        assert!(value("yesterday").is_err());
        assert!(parse("2024-13-01").is_err());
    }
}
