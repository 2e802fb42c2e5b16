//! Cassette expiry (`max_age`): a recording drifts from the real server as
//! time passes, so `resplay run` and the test plugins record one again once
//! it is older than the age they are given, as Ruby VCR's
//! `re_record_interval` and Polly.JS's `expiresIn` do. The clock is the
//! header's `created`; the file's modification time would change with
//! every checkout.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cassette::{read_header, CassetteError};

/// How old a cassette is next to a `max_age`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Age {
    /// Younger than (or exactly) `max_age`.
    Fresh {
        /// The header's `created`.
        created: String,
        /// Its age now.
        age: Duration,
    },
    /// Older than `max_age`: record it again.
    Expired {
        /// The header's `created`.
        created: String,
        /// Its age now.
        age: Duration,
    },
    /// The header has no readable `created` (a hand-written cassette): its
    /// age cannot be told, so it never expires.
    Unknown,
}

impl Age {
    /// True for [`Age::Expired`].
    pub fn is_expired(&self) -> bool {
        matches!(self, Age::Expired { .. })
    }

    /// One line for people: `created 2026-10-01T09:00:00.000Z, 67d 1h old
    /// (older than max_age 30d)`.
    pub fn describe(&self, max_age: Duration) -> String {
        let max = humantime::format_duration(max_age);
        match self {
            Age::Fresh { created, age } => {
                format!("created {created}, {} old (max_age {max})", rounded(*age))
            }
            Age::Expired { created, age } => format!(
                "created {created}, {} old (older than max_age {max})",
                rounded(*age)
            ),
            Age::Unknown => {
                format!("no readable `created` in its header: max_age {max} cannot apply")
            }
        }
    }
}

/// `age` in days and hours past a day (`67days 4h`: humantime's months
/// and years are fractions of days, which would add odd minutes), to the
/// second below.
fn rounded(age: Duration) -> String {
    let secs = age.as_secs();
    match (secs / 86_400, secs % 86_400 / 3600) {
        (0, _) => humantime::format_duration(Duration::from_secs(secs)).to_string(),
        (days, 0) => format!("{days}days"),
        (days, hours) => format!("{days}days {hours}h"),
    }
}

/// The age of a cassette created at `created` (the header's RFC 3339
/// text), at `now`, next to `max_age`.
pub fn age_of(created: &str, max_age: Duration, now: SystemTime) -> Age {
    let Ok(at) = humantime::parse_rfc3339_weak(created) else {
        return Age::Unknown;
    };
    // A `created` in the future (another machine's clock) is age zero.
    let age = now.duration_since(at).unwrap_or_default();
    let created = created.to_string();
    if age > max_age {
        Age::Expired { created, age }
    } else {
        Age::Fresh { created, age }
    }
}

/// The age of the cassette at `path` now (its header only is read).
pub fn cassette_age(path: &Path, max_age: Duration) -> Result<Age, CassetteError> {
    let header = read_header(path)?;
    Ok(age_of(&header.created, max_age, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).expect("time")
    }

    #[test]
    fn expired_past_max_age() {
        let day = Duration::from_secs(86_400);
        let now = at("2026-12-01T00:00:00Z");
        let old = age_of("2026-10-01T09:30:00.125Z", 30 * day, now);
        assert!(old.is_expired(), "{old:?}");
        assert_eq!(
            old.describe(30 * day),
            "created 2026-10-01T09:30:00.125Z, 60days 14h old (older than max_age 30days)"
        );
        let young = age_of("2026-11-30T00:00:00Z", 30 * day, now);
        assert_eq!(
            young,
            Age::Fresh {
                created: "2026-11-30T00:00:00Z".into(),
                age: day
            }
        );
        // Whole seconds (older cassettes), and a clock ahead of ours.
        assert!(age_of("2025-01-01T00:00:00Z", day, now).is_expired());
        assert!(!age_of("2027-01-01T00:00:00Z", day, now).is_expired());
        assert_eq!(age_of("", day, now), Age::Unknown);
        assert_eq!(age_of("x", day, now), Age::Unknown);
    }
}
