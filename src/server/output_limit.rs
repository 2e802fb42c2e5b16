//! How much a client that does not read its replies may cost, in both
//! modes: the bound on replies owed to a client before resplay stops
//! reading its requests (`--client-output-limit`), and Redis's own rule
//! for subscribers, `client-output-buffer-limit pubsub`
//! (`--client-output-buffer-limit-pubsub`), sizes written as Redis writes
//! them (`16mb`, `1gb`, bytes).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The default bound on replies owed to one client: 16 MiB.
pub const DEFAULT_CLIENT_OUTPUT_LIMIT: usize = 16 << 20;

/// Both limits, as a server's connections apply them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Bytes of replies a client may be owed before resplay stops reading
    /// its requests: back-pressure, which the client cannot tell from a
    /// slow server (Redis would buffer without limit; resplay's memory
    /// stays flat instead).
    pub client: usize,
    /// When a subscriber that does not read is closed.
    pub pubsub: PubsubLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            client: DEFAULT_CLIENT_OUTPUT_LIMIT,
            pubsub: PubsubLimit::default(),
        }
    }
}

/// Redis's `client-output-buffer-limit pubsub <hard> <soft> <seconds>`:
/// a subscriber owed more than `hard` bytes of messages is closed at once,
/// one owed more than `soft` for `soft_for` on end too. Zero turns a limit
/// off, as in Redis. Pushes come from other connections (or the control
/// API), which cannot be held back the way a client's own requests are:
/// the subscriber goes instead, as from Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubsubLimit {
    /// Closed at once past this many bytes (0: no hard limit).
    pub hard: usize,
    /// Closed when past this many bytes for `soft_for` (0: no soft limit).
    pub soft: usize,
    /// How long the soft limit may be exceeded.
    pub soft_for: Duration,
}

impl Default for PubsubLimit {
    /// Redis's default: `32mb 8mb 60`.
    fn default() -> Self {
        PubsubLimit {
            hard: 32 << 20,
            soft: 8 << 20,
            soft_for: Duration::from_secs(60),
        }
    }
}

impl PubsubLimit {
    /// Whether a subscriber owed `bytes`, over the soft limit since
    /// `over_soft_since` (if it is), has reached the limit at `now`.
    pub fn reached(
        &self,
        bytes: usize,
        over_soft_since: Option<std::time::Instant>,
        now: std::time::Instant,
    ) -> bool {
        if self.hard > 0 && bytes >= self.hard {
            return true;
        }
        self.soft > 0
            && bytes >= self.soft
            && over_soft_since.is_some_and(|since| now.duration_since(since) >= self.soft_for)
    }
}

impl FromStr for PubsubLimit {
    type Err = String;

    /// `"<hard> <soft> <seconds>"`, as after `client-output-buffer-limit
    /// pubsub` in redis.conf: `"32mb 8mb 60"`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [hard, soft, seconds] = parts[..] else {
            return Err(format!(
                "{text:?}: expected \"<hard> <soft> <seconds>\", e.g. \"32mb 8mb 60\""
            ));
        };
        let seconds: u64 = seconds
            .parse()
            .map_err(|_| format!("{text:?}: {seconds:?} is not a number of seconds"))?;
        Ok(PubsubLimit {
            hard: parse_size(hard)?,
            soft: parse_size(soft)?,
            soft_for: Duration::from_secs(seconds),
        })
    }
}

impl fmt::Display for PubsubLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.hard, self.soft, self.soft_for.as_secs())
    }
}

/// A size as redis.conf writes one: bytes, or a number with a unit, `k`
/// (1000), `kb` (1024), `m`, `mb`, `g`, `gb`, in any case.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit: u64 = match &lower[digits.len()..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use k, kb, m, mb, g, gb)"
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 16mb, 1gb, 65536)"))?;
    n.checked_mul(unit)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn sizes_read_as_redis_reads_them() {
        assert_eq!(parse_size("16mb"), Ok(16 << 20));
        assert_eq!(parse_size("16MB"), Ok(16 << 20));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("1k"), Ok(1000));
        assert_eq!(parse_size("1kb"), Ok(1024));
        assert_eq!(parse_size("2m"), Ok(2_000_000));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("16 tb").is_err());
        assert!(parse_size("mb").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn pubsub_limit_reads_hard_soft_seconds() {
        let limit: PubsubLimit = "32mb 8mb 60".parse().unwrap();
        assert_eq!(limit, PubsubLimit::default());
        assert!("32mb 8mb".parse::<PubsubLimit>().is_err());
        assert!("32mb 8mb soon".parse::<PubsubLimit>().is_err());
    }

    #[test]
    fn hard_closes_at_once_soft_after_its_time() {
        let limit: PubsubLimit = "100 10 60".parse().unwrap();
        let now = Instant::now();
        assert!(!limit.reached(99, None, now));
        assert!(limit.reached(100, None, now));
        assert!(!limit.reached(50, Some(now), now));
        let later = now + Duration::from_secs(60);
        assert!(limit.reached(50, Some(now), later));
        assert!(!limit.reached(5, Some(now), later));
        let off: PubsubLimit = "0 0 0".parse().unwrap();
        assert!(!off.reached(usize::MAX, Some(now), later));
    }
}
