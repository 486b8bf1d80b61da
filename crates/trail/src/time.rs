//! `eventTime` parsing. CloudTrail writes `YYYY-MM-DDTHH:MM:SSZ`; that form is parsed by hand
//! (it is on the hot path), anything else RFC 3339 goes through chrono.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// An event's instant, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(pub i64);

impl EventTime {
    /// Parses an ISO-8601 / RFC 3339 timestamp; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::parse_canonical(text.as_bytes()).or_else(|| {
            DateTime::parse_from_rfc3339(text).ok().map(|t| EventTime(t.with_timezone(&Utc).timestamp_millis()))
        })
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff…]Z`.
    fn parse_canonical(b: &[u8]) -> Option<Self> {
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut millis = 0u32;
        let mut rest = &b[19..];
        if rest.first() == Some(&b'.') {
            let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            for (i, &c) in rest[1..=digits].iter().enumerate().take(3) {
                millis += u32::from(c - b'0') * [100, 10, 1][i];
            }
            rest = &rest[1 + digits..];
        }
        if rest != b"Z" {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
        let days = i64::from(date.num_days_from_ce()) - 719_163; // days from 0001-01-01 to 1970-01-01
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        Some(EventTime(secs * 1000 + i64::from(millis)))
    }

    /// UTC calendar day as `YYYY-MM-DD` (the `dt` partition value).
    pub fn day(self) -> String {
        self.to_datetime().format("%Y-%m-%d").to_string()
    }

    /// UTC calendar day number since the epoch; cheap key for grouping by day.
    pub fn day_number(self) -> i64 {
        self.0.div_euclid(86_400_000)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::EventTime;

    #[test]
    fn canonical_and_rfc3339_agree() {
        for text in ["2025-03-14T09:05:42Z", "2024-02-29T23:59:59.123Z", "1999-12-31T00:00:00Z"] {
            let fast = EventTime::parse(text).unwrap();
            let slow = chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis();
            assert_eq!(fast.0, slow, "{text}");
        }
        assert_eq!(EventTime::parse("2025-03-14T09:05:42+02:00").unwrap().day(), "2025-03-14");
        assert_eq!(EventTime::parse("2025-03-14T23:05:42-02:00").unwrap().day(), "2025-03-15");
    }

    #[test]
    fn rejects_non_timestamps() {
        for text in [
            "",
            "2025-13-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
            "yesterday",
            "2025-03-14 09:05:42",
            "2025-03-14T09:05:42",
        ] {
            assert!(EventTime::parse(text).is_none(), "{text}");
        }
    }
}
