//! The table printed at the end of a run: outcomes per size, and median kernel durations per
//! function × size.

use std::collections::BTreeMap;
use std::fmt::Write;

use dataset::{AlignedRequest, Outcome};

/// Renders the summary of a finished run's requests (warm-ups excluded from the medians).
pub fn render(requests: &[AlignedRequest], sizes: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:>6} {:>6} {:>6} {:>6} {:>8}",
        "size", "total", "ok", "failed", "oom", "timeout"
    );
    for size in sizes {
        let rows: Vec<_> = requests
            .iter()
            .filter(|r| &r.request.size == size)
            .collect();
        let count = |o: Outcome| rows.iter().filter(|r| r.request.outcome == o).count();
        let ok = count(Outcome::Ok);
        let _ = writeln!(
            out,
            "{:<8} {:>6} {:>6} {:>6} {:>6} {:>8}",
            size,
            rows.len(),
            ok,
            rows.len() - ok,
            count(Outcome::Oom),
            count(Outcome::Timeout)
        );
    }
    let mut durations: BTreeMap<(workloads::Function, &str), Vec<i64>> = BTreeMap::new();
    for r in requests
        .iter()
        .filter(|r| r.request.outcome == Outcome::Ok && !r.request.warmup)
    {
        durations
            .entry((r.request.function, r.request.size.as_str()))
            .or_default()
            .push(r.request.duration_ns);
    }
    let _ = writeln!(out, "\nmedian duration (s), ok requests without warm-ups");
    let _ = write!(out, "{:<8}", "function");
    for size in sizes {
        let _ = write!(out, " {size:>10}");
    }
    let _ = writeln!(out);
    for function in workloads::Function::ALL {
        let _ = write!(out, "{:<8}", function.name());
        for size in sizes {
            let cell = durations
                .get_mut(&(function, size.as_str()))
                .map(|d| format!("{:.3}", median(d) as f64 / 1e9))
                .unwrap_or_else(|| "-".to_owned());
            let _ = write!(out, " {cell:>10}");
        }
        let _ = writeln!(out);
    }
    out
}

fn median(values: &mut [i64]) -> i64 {
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2
    } else {
        values[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [4, 1, 3, 2]), 2);
    }
}
