//! The criterion settings every bench shares: short runs, because CI and the build machine are
//! 2 shared cores; criterion still reports a confidence interval.

use criterion::Criterion;
use std::time::Duration;

/// `samples` samples over `seconds` of measurement after one second of warm-up.
pub fn short(samples: usize, seconds: u64) -> Criterion {
    Criterion::default()
        .sample_size(samples)
        .measurement_time(Duration::from_secs(seconds))
        .warm_up_time(Duration::from_secs(1))
}
