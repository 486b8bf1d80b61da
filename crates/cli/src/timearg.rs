//! Instants on the command line: RFC 3339 (`2025-03-14T09:00:00Z`) or a UTC day (`2025-03-14`,
//! meaning its midnight).

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate, Utc};

pub fn parse(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    bail!("{text:?} is neither RFC 3339 (2025-03-14T09:00:00Z) nor a day (2025-03-14)")
}
