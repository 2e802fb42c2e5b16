//! Latency percentiles in fixed memory: a log-linear histogram of
//! microseconds (as HdrHistogram lays out its buckets), plus the exact
//! maximum.
//!
//! Values below `SUB` (32) get a bucket each; above, every power of two is cut
//! into `SUB` equal buckets, so a bucket is at most 1/32 of its lower
//! bound wide. A percentile is read as the upper bound of the bucket it
//! falls in (never above the exact maximum): it is at most 3.2% above the
//! true value and never below it. A million latencies below a second fill
//! about 500 buckets.

use serde::Serialize;

/// Linear buckets per power of two (and the values counted exactly).
const SUB: u64 = 32;
/// `log2(SUB)`.
const SUB_BITS: u32 = 5;

/// How precise a percentile read from a [`Histogram`] is, for the page.
pub const PRECISION: &str = "Percentiles are read from log-linear buckets: exact below 32 µs, \
     above that at most 3.2% above the true value (never below); max is exact";

/// Counts of microsecond values by log-linear bucket.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Per bucket, how many values fell in it; grown to the largest
    /// bucket seen, so a histogram of small values stays small.
    buckets: Vec<u64>,
    /// Values recorded.
    count: u64,
    /// The largest value, exact.
    max: u64,
    /// The sum of all values, for the mean.
    sum: u128,
}

/// A histogram summed up for the page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Median, µs (bucket upper bound, see [`PRECISION`]).
    pub p50: u64,
    /// 90th percentile, µs.
    pub p90: u64,
    /// 99th percentile, µs.
    pub p99: u64,
    /// The exact maximum, µs.
    pub max: u64,
    /// The mean, µs (exact, rounded).
    pub mean: u64,
    /// The histogram by powers of two: `[lower bound µs, count]` for each
    /// octave from the smallest value's to the largest's (zeros included,
    /// so the chart's x axis is evenly logarithmic).
    pub octaves: Vec<(u64, u64)>,
}

/// The bucket a value falls in.
fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let mantissa = v >> (e - SUB_BITS); // in [SUB, 2 SUB)
    ((u64::from(e - SUB_BITS) * SUB) + mantissa) as usize
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, i);
    }
    let shift = i / SUB - 1;
    let mantissa = i % SUB + SUB;
    let low = mantissa << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    /// Records one value.
    pub fn add(&mut self, v: u64) {
        let i = index(v);
        if i >= self.buckets.len() {
            self.buckets.resize(i + 1, 0);
        }
        self.buckets[i] += 1;
        self.count += 1;
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value at quantile `q` (0..=1): the upper bound of its bucket,
    /// capped by the exact maximum; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bounds(i).1.min(self.max);
            }
        }
        self.max
    }

    /// Percentiles, max, mean and the octave chart.
    pub fn summary(&self) -> Summary {
        let mut octaves: Vec<(u64, u64)> = Vec::new();
        let octave = |v: u64| 63 - v.max(1).leading_zeros();
        let mut first = None;
        let mut last = 0;
        let mut per_octave = [0u64; 64];
        for (i, &n) in self.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            // A bucket never straddles a power of two.
            let o = octave(bounds(i).0) as usize;
            per_octave[o] += n;
            first.get_or_insert(o);
            last = o;
        }
        if let Some(first) = first {
            for (o, &n) in per_octave.iter().enumerate().take(last + 1).skip(first) {
                octaves.push((if o == 0 { 0 } else { 1u64 << o }, n));
            }
        }
        Summary {
            count: self.count,
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            max: self.max,
            mean: if self.count == 0 {
                0
            } else {
                (self.sum / u128::from(self.count)) as u64
            },
            octaves,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_numbers() {
        // Every value lands in the bucket whose bounds hold it, and the
        // buckets follow each other without gaps.
        let mut next = 0;
        for i in 0..(SUB as usize * 40) {
            let (low, high) = bounds(i);
            assert_eq!(low, next, "bucket {i}");
            assert!(high >= low);
            assert_eq!(index(low), i);
            assert_eq!(index(high), i);
            // At most 1/SUB of the lower bound wide.
            assert!(
                (high - low + 1) * SUB <= low.max(SUB),
                "bucket {i} {low}..{high}"
            );
            next = high + 1;
        }
        assert_eq!(bounds(index(u64::MAX)).1, u64::MAX);
    }

    #[test]
    fn percentiles_are_within_the_stated_precision() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.add(v);
        }
        for (q, exact) in [(0.5, 5_000u64), (0.9, 9_000), (0.99, 9_900)] {
            let got = h.quantile(q);
            assert!(
                got >= exact && got as f64 <= exact as f64 * (1.0 + 1.0 / 31.0),
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.quantile(1.0), 10_000);
        let s = h.summary();
        assert_eq!(s.max, 10_000);
        assert_eq!(s.mean, 5_000);
        assert_eq!(s.count, 10_000);
        assert_eq!(s.octaves.iter().map(|o| o.1).sum::<u64>(), 10_000);
        // 1, 2-3, 4-7, … 8192-16383: 14 octaves.
        assert_eq!(s.octaves.len(), 14);
        assert_eq!(s.octaves[3], (8, 8));
    }

    #[test]
    fn small_values_are_exact_and_empty_is_zero() {
        let mut h = Histogram::default();
        assert_eq!(h.summary().p99, 0);
        assert!(h.summary().octaves.is_empty());
        for v in [3, 3, 7, 31] {
            h.add(v);
        }
        assert_eq!(h.quantile(0.5), 3);
        assert_eq!(h.quantile(0.75), 7);
        assert_eq!(h.quantile(1.0), 31);
        // A single slow value is its own max, not its bucket's bound.
        h.add(1_000_003);
        assert_eq!(h.quantile(1.0), 1_000_003);
    }
}
