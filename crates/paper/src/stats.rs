//! Per function × size summaries of a run's requests.

use dataset::{Outcome, Run};
use workloads::Function;

/// Summary of one function on one size, over its successful, non-warm-up requests.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    pub function: Function,
    pub size: String,
    pub requests: usize,
    /// Median and inter-quartile range of the kernel's wall time, seconds.
    pub duration_median: f64,
    pub duration_iqr: f64,
    /// Median and inter-quartile range of the process's CPU time, seconds.
    pub cpu_median: f64,
    pub cpu_iqr: f64,
    /// Share of the CFS periods in which the pod hit its quota during these requests.
    pub throttled_share: Option<f64>,
    /// Requests of this function on this size killed for exceeding the memory limit.
    pub oom_kills: usize,
}

/// Quantile `q` (0..=1) by linear interpolation between order statistics (R's type 7).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

fn median_and_iqr(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        quantile(&values, 0.5),
        quantile(&values, 0.75) - quantile(&values, 0.25),
    )
}

/// One entry per function × size that has requests, functions in [`Function::ALL`] order and
/// sizes in the manifest's order.
pub fn group_stats(run: &Run) -> Vec<GroupStats> {
    let mut groups = Vec::new();
    for function in Function::ALL {
        for size in &run.manifest.sizes {
            let rows: Vec<_> = run
                .requests
                .iter()
                .map(|r| &r.request)
                .filter(|r| r.function == function && r.size == size.name)
                .collect();
            let ok: Vec<_> = rows
                .iter()
                .filter(|r| r.outcome == Outcome::Ok && !r.warmup)
                .collect();
            if ok.is_empty() {
                continue;
            }
            let (duration_median, duration_iqr) =
                median_and_iqr(ok.iter().map(|r| r.duration_ns as f64 / 1e9).collect());
            let (cpu_median, cpu_iqr) = median_and_iqr(
                ok.iter()
                    .filter_map(|r| r.usage.process_cpu_ns)
                    .map(|ns| ns as f64 / 1e9)
                    .collect(),
            );
            let periods: u64 = ok.iter().filter_map(|r| r.usage.cgroup_periods).sum();
            let throttled: u64 = ok
                .iter()
                .filter_map(|r| r.usage.cgroup_throttled_periods)
                .sum();
            groups.push(GroupStats {
                function,
                size: size.name.clone(),
                requests: ok.len(),
                duration_median,
                duration_iqr,
                cpu_median,
                cpu_iqr,
                throttled_share: (periods > 0).then(|| throttled as f64 / periods as f64),
                oom_kills: rows.iter().filter(|r| r.outcome == Outcome::Oom).count(),
            });
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_r_type_7() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.25), 1.75);
        assert_eq!(quantile(&v, 0.75), 3.25);
        assert_eq!(quantile(&[7.0], 0.9), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
