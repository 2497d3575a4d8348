//! A histogram of durations that takes no lock to observe. prometheus-client's `Histogram` takes
//! a write lock per observation, and every request observes two (its route's and its session
//! load's) from whichever worker thread runs it: the lock's cache line went back and forth
//! between the cores on every request. Here an observation is two relaxed atomic adds on the
//! calling thread's own shard; a scrape sums the shards.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeMetric, MetricEncoder, NoLabelSet},
    metrics::{MetricType, TypedMetric},
};

use super::sharded::Sharded;

/// Upper bounds a histogram may have; one more bucket (`+Inf`) takes the rest.
const MAX_BOUNDS: usize = 15;

#[derive(Default)]
struct Cells {
    buckets: [AtomicU64; MAX_BOUNDS + 1],
    sum_nanos: AtomicU64,
}

pub struct DurationHistogram {
    /// Upper bounds in nanoseconds, ascending; an observation lands in the first that holds it.
    bounds: Box<[u64]>,
    cells: Sharded<Cells>,
}

impl DurationHistogram {
    /// `count` buckets (at most 15), the first up to `first`, each next one twice as wide.
    pub fn doubling(first: Duration, count: usize) -> Self {
        let first = u64::try_from(first.as_nanos()).unwrap_or(u64::MAX);
        let bounds = (0..count.min(MAX_BOUNDS) as u32)
            .map(|step| first.saturating_mul(1 << step))
            .collect();
        DurationHistogram {
            bounds,
            cells: Sharded::default(),
        }
    }

    pub fn observe(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // Prometheus buckets are "less than or equal": the first bound not below the value.
        let bucket = self.bounds.partition_point(|&bound| bound < nanos);
        let cells = self.cells.local();
        cells.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        cells.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts as of now, summed over the threads' copies.
    pub fn snapshot(&self) -> Snapshot {
        let mut counts = vec![0u64; self.bounds.len() + 1];
        let mut sum_nanos = 0u64;
        for cells in self.cells.all() {
            for (total, bucket) in counts.iter_mut().zip(&cells.buckets) {
                *total += bucket.load(Ordering::Relaxed);
            }
            // Wraps after 584 years of summed latency (a decade at 50 s of it per second):
            // Prometheus' `rate` reads that as a counter reset.
            sum_nanos = sum_nanos.wrapping_add(cells.sum_nanos.load(Ordering::Relaxed));
        }
        let upper = self.bounds.iter().map(|&nanos| nanos as f64 / 1e9);
        // prometheus-client writes `f64::MAX` as `+Inf`.
        let buckets: Vec<(f64, u64)> = upper.chain([f64::MAX]).zip(counts).collect();
        Snapshot {
            count: buckets.iter().map(|(_, count)| count).sum(),
            sum_seconds: sum_nanos as f64 / 1e9,
            buckets,
        }
    }
}

impl std::fmt::Debug for DurationHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("DurationHistogram")
            .field("count", &snapshot.count)
            .field("sum_seconds", &snapshot.sum_seconds)
            .finish()
    }
}

pub struct Snapshot {
    count: u64,
    sum_seconds: f64,
    /// Per bucket, not cumulative: the encoder adds them up.
    buckets: Vec<(f64, u64)>,
}

impl Snapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl TypedMetric for Snapshot {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Snapshot {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum_seconds, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.snapshot().encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::{encoding::text::encode, registry::Registry};

    use super::*;

    fn exposition(histogram: DurationHistogram) -> String {
        let mut registry = Registry::default();
        registry.register("took_seconds", "test", histogram);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        text
    }

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let histogram = DurationHistogram::doubling(Duration::from_millis(1), 3);
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(1)); // on the bound: still the first bucket
        histogram.observe(Duration::from_micros(1500));
        histogram.observe(Duration::from_millis(9));
        assert_eq!(histogram.snapshot().count(), 4);
        let text = exposition(histogram);
        for line in [
            "took_seconds_sum 0.012",
            "took_seconds_count 4",
            r#"took_seconds_bucket{le="0.001"} 2"#,
            r#"took_seconds_bucket{le="0.002"} 3"#,
            r#"took_seconds_bucket{le="0.004"} 3"#,
            r#"took_seconds_bucket{le="+Inf"} 4"#,
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }

    #[test]
    fn no_more_bounds_than_the_cells_hold() {
        let histogram = DurationHistogram::doubling(Duration::from_micros(100), 40);
        assert_eq!(histogram.bounds.len(), MAX_BOUNDS);
        histogram.observe(Duration::MAX);
        assert_eq!(histogram.snapshot().count(), 1);
    }
}
