//! Accuracy of predictions against actual values.

use serde::{Deserialize, Serialize};

/// Upper bounds (seconds) of the duration buckets; the last bucket is open.
pub const DURATION_BUCKETS: [(&str, f64, f64); 4] = [
    ("<0.1s", 0.0, 0.1),
    ("0.1-1s", 0.1, 1.0),
    ("1-10s", 1.0, 10.0),
    (">10s", 10.0, f64::INFINITY),
];

/// MAPE of the requests whose actual duration falls in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketError {
    pub bucket: String,
    pub count: usize,
    /// Percent; `None` for an empty bucket.
    pub mape: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub count: usize,
    pub mae: f64,
    pub rmse: f64,
    /// `None` when the actual values do not vary (R² undefined).
    pub r2: Option<f64>,
    /// Mean absolute percentage error, percent, over the non-zero actuals; `None` if none.
    pub mape: Option<f64>,
    /// Median absolute percentage error, percent, over the non-zero actuals.
    pub median_ape: Option<f64>,
}

impl Metrics {
    /// Metrics of `predicted` against `actual` (same length, at least one pair).
    pub fn of(actual: &[f64], predicted: &[f64]) -> Self {
        debug_assert_eq!(actual.len(), predicted.len());
        let n = actual.len().min(predicted.len());
        let pairs = || actual.iter().zip(predicted).take(n);
        let count_f = n.max(1) as f64;
        let mae = pairs().map(|(a, p)| (a - p).abs()).sum::<f64>() / count_f;
        let sse: f64 = pairs().map(|(a, p)| (a - p).powi(2)).sum();
        let mean = pairs().map(|(a, _)| a).sum::<f64>() / count_f;
        let sst: f64 = pairs().map(|(a, _)| (a - mean).powi(2)).sum();
        let mut ape = percentage_errors(&actual[..n], &predicted[..n]);
        Self {
            count: n,
            mae,
            rmse: (sse / count_f).sqrt(),
            r2: (sst > 0.0).then(|| 1.0 - sse / sst),
            mape: mean_of(&ape),
            median_ape: median(&mut ape),
        }
    }
}

/// |a − p| / |a| × 100 for every non-zero actual (a zero actual has no relative error).
fn percentage_errors(actual: &[f64], predicted: &[f64]) -> Vec<f64> {
    actual
        .iter()
        .zip(predicted)
        .filter(|(a, _)| **a != 0.0)
        .map(|(a, p)| (a - p).abs() / a.abs() * 100.0)
        .collect()
}

fn mean_of(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Median (mean of the middle two for an even count); sorts `values`.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// The `q` quantile (0 ≤ q ≤ 1) of `values`, interpolating linearly between order statistics;
/// `None` for no values.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let weight = position - low as f64;
    Some(values[low] * (1.0 - weight) + values[high] * weight)
}

/// MAPE per [`DURATION_BUCKETS`] bucket of the actual durations (seconds).
pub fn mape_by_duration_bucket(actual: &[f64], predicted: &[f64]) -> Vec<BucketError> {
    DURATION_BUCKETS
        .iter()
        .map(|&(name, low, high)| {
            let (a, p): (Vec<f64>, Vec<f64>) = actual
                .iter()
                .zip(predicted)
                .filter(|(a, _)| **a >= low && **a < high)
                .map(|(a, p)| (*a, *p))
                .unzip();
            BucketError {
                bucket: name.to_owned(),
                count: a.len(),
                mape: mean_of(&percentage_errors(&a, &p)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let mut values = [4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(quantile(&mut values, 0.0), Some(1.0));
        assert_eq!(quantile(&mut values, 0.5), Some(3.0));
        assert_eq!(quantile(&mut values, 1.0), Some(5.0));
        // Position 0.1 × 4 = 0.4 between 1 and 2.
        assert!((quantile(&mut values, 0.1).unwrap() - 1.4).abs() < 1e-12);
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        // errors: 1, −2, 0, 3 → MAE 1.5, RMSE √(14/4); mean actual 5, SST 4+0+4+20 … see below.
        let actual = [2.0, 4.0, 5.0, 9.0];
        let predicted = [3.0, 2.0, 5.0, 12.0];
        let m = Metrics::of(&actual, &predicted);
        assert_eq!(m.count, 4);
        assert!(close(m.mae, 1.5));
        assert!(close(m.rmse, (14.0f64 / 4.0).sqrt()));
        // mean 5: SST = 9 + 1 + 0 + 16 = 26; SSE = 14.
        assert!(close(m.r2.unwrap(), 1.0 - 14.0 / 26.0));
        // APE: 50, 50, 0, 33.33… → mean 33.33…, median (33.33 + 50) / 2.
        assert!(close(
            m.mape.unwrap(),
            (50.0 + 50.0 + 0.0 + 100.0 / 3.0) / 4.0
        ));
        assert!(close(m.median_ape.unwrap(), (100.0 / 3.0 + 50.0) / 2.0));
    }

    #[test]
    fn zero_actuals_are_left_out_of_percentages_and_constant_actuals_have_no_r2() {
        let m = Metrics::of(&[0.0, 0.0], &[1.0, 0.0]);
        assert_eq!((m.mape, m.median_ape, m.r2), (None, None, None));
        assert!(close(m.mae, 0.5));
        let m = Metrics::of(&[0.0, 2.0], &[1.0, 3.0]);
        assert!(close(m.mape.unwrap(), 50.0));
    }

    #[test]
    fn durations_fall_into_their_buckets() {
        let actual = [0.05, 0.5, 0.1, 2.0, 20.0];
        let predicted = [0.1, 0.5, 0.2, 3.0, 10.0];
        let buckets = mape_by_duration_bucket(&actual, &predicted);
        let counts: Vec<usize> = buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, [1, 2, 1, 1]);
        assert!(close(buckets[0].mape.unwrap(), 100.0));
        assert!(close(buckets[1].mape.unwrap(), 50.0)); // 0 % and 100 %
        assert!(close(buckets[2].mape.unwrap(), 50.0));
        assert!(close(buckets[3].mape.unwrap(), 50.0));
        let empty = mape_by_duration_bucket(&[], &[]);
        assert!(empty.iter().all(|b| b.count == 0 && b.mape.is_none()));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
