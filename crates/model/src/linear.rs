//! The linear baseline: least squares on the payload fields and 1 / cores, each also per
//! function, solved by the (slightly ridged) normal equations.

use dataset::PayloadColumns;
use workloads::Function;

use crate::features::RequestInput;
use crate::train::cores;

/// A tiny ridge keeps the normal equations solvable when a column is constant or two collide.
const RIDGE: f64 = 1e-6;

pub struct LinearModel {
    means: Vec<f64>,
    scales: Vec<f64>,
    weights: Vec<f64>,
    intercept: f64,
}

fn design_row(input: &RequestInput<'_>) -> Vec<f64> {
    let p = PayloadColumns::of(input.payload);
    let payload = [
        p.input.map(|v| v as f64),
        p.num_samples.map(|v| v as f64),
        p.epochs.map(f64::from),
        p.batch_size.map(f64::from),
        p.num_layers.map(f64::from),
        p.units.map(f64::from),
        p.profile.map(f64::from),
        p.seconds,
    ]
    .map(|v| v.unwrap_or(0.0));
    let inverse_cores = 1.0 / cores(input.size);
    let function = input.payload.function();
    let mut row = Vec::with_capacity(2 * (payload.len() + Function::ALL.len()) + 1);
    for f in Function::ALL {
        row.push(if f == function { 1.0 } else { 0.0 });
    }
    row.extend(payload);
    row.push(inverse_cores);
    for f in Function::ALL {
        row.push(if f == function { inverse_cores } else { 0.0 });
    }
    row.extend(payload.iter().map(|v| v * inverse_cores));
    row
}

impl LinearModel {
    /// Fits `y` on the inputs' design rows; `None` if the system is degenerate.
    pub fn fit(inputs: &[RequestInput<'_>], y: &[f64]) -> Option<Self> {
        let rows: Vec<Vec<f64>> = inputs.iter().map(design_row).collect();
        let n = rows.len();
        let k = rows.first()?.len();
        let n_f = n as f64;
        let means: Vec<f64> = (0..k)
            .map(|c| rows.iter().map(|r| r[c]).sum::<f64>() / n_f)
            .collect();
        let scales: Vec<f64> = (0..k)
            .map(|c| {
                let var = rows.iter().map(|r| (r[c] - means[c]).powi(2)).sum::<f64>() / n_f;
                if var > 0.0 { var.sqrt() } else { 1.0 }
            })
            .collect();
        let y_mean = y.iter().sum::<f64>() / n_f;
        let standard: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| (0..k).map(|c| (r[c] - means[c]) / scales[c]).collect())
            .collect();
        // Normal equations on centred data: (XᵀX + λnI) w = Xᵀ(y − ȳ).
        let mut a = vec![vec![0.0; k + 1]; k];
        for (row, &target) in standard.iter().zip(y) {
            for i in 0..k {
                for j in 0..k {
                    a[i][j] += row[i] * row[j];
                }
                a[i][k] += row[i] * (target - y_mean);
            }
        }
        for (i, equation) in a.iter_mut().enumerate() {
            equation[i] += RIDGE * n_f;
        }
        let weights = solve(a)?;
        Some(Self {
            means,
            scales,
            weights,
            intercept: y_mean,
        })
    }

    pub fn predict(&self, inputs: &[RequestInput<'_>]) -> Vec<f64> {
        inputs
            .iter()
            .map(|input| {
                design_row(input)
                    .iter()
                    .enumerate()
                    .map(|(c, v)| (v - self.means[c]) / self.scales[c] * self.weights[c])
                    .sum::<f64>()
                    + self.intercept
            })
            .collect()
    }
}

/// Gaussian elimination with partial pivoting on an augmented k × (k + 1) system.
fn solve(mut a: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let k = a.len();
    for column in 0..k {
        let pivot =
            (column..k).max_by(|&i, &j| a[i][column].abs().total_cmp(&a[j][column].abs()))?;
        if a[pivot][column].abs() < 1e-12 {
            return None;
        }
        a.swap(column, pivot);
        let (upper, lower) = a.split_at_mut(column + 1);
        let pivot_row = &upper[column];
        for row in lower {
            let factor = row[column] / pivot_row[column];
            for (value, pivot_value) in row[column..].iter_mut().zip(&pivot_row[column..]) {
                *value -= factor * pivot_value;
            }
        }
    }
    let mut x = vec![0.0; k];
    for row in (0..k).rev() {
        let rest: f64 = (row + 1..k).map(|c| a[row][c] * x[c]).sum();
        x[row] = (a[row][k] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_system() {
        // 2x + y = 5, x − y = 1 → x = 2, y = 1.
        let x = solve(vec![vec![2.0, 1.0, 5.0], vec![1.0, -1.0, 1.0]]).unwrap();
        assert!((x[0] - 2.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12);
        assert!(solve(vec![vec![0.0, 0.0, 1.0], vec![0.0, 0.0, 1.0]]).is_none());
    }

    #[test]
    fn recovers_work_over_cores() {
        use dataset::SizeSpec;
        use workloads::{Payload, ml::MlParams};
        let sizes: Vec<SizeSpec> = [100, 250, 500]
            .iter()
            .map(|&m| SizeSpec {
                name: format!("s{m}"),
                cpu_millicores: m,
                memory_bytes: 1 << 30,
                price_per_core_second: 1.0,
                price_per_gib_second: 1.0,
            })
            .collect();
        let payloads: Vec<Payload> = (1..=6)
            .map(|i| {
                Payload::Ml(MlParams {
                    input: i * 1000,
                    seed: None,
                })
            })
            .collect();
        let mut inputs = Vec::new();
        let mut y = Vec::new();
        for size in &sizes {
            for payload in &payloads {
                let input = RequestInput {
                    payload,
                    size,
                    state: Default::default(),
                };
                let PayloadColumns {
                    input: Some(work), ..
                } = PayloadColumns::of(payload)
                else {
                    unreachable!("ml payloads have an input")
                };
                y.push(work as f64 * 1e-3 / cores(size) + 0.5);
                inputs.push(input);
            }
        }
        let model = LinearModel::fit(&inputs, &y).unwrap();
        for (p, a) in model.predict(&inputs).iter().zip(&y) {
            assert!((p - a).abs() / a < 1e-3, "{p} vs {a}");
        }
    }
}
