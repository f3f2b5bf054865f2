//! How much each placement policy overpays: the distribution of its decisions' regret.

use model::PlacementScore;
use plotters::prelude::*;

use super::{AXIS_SIZE, Drawn, FONT, LABEL_SIZE, TITLE_SIZE, draw_legend, palette, register_font};
use crate::PaperError;

/// The empirical distribution function of `values` as the corners of a step line, from
/// (min, 0) to (`x_end`, 1): at each distinct value the line rises by that value's share.
pub(crate) fn ecdf_steps(values: &[f64], x_end: f64) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mut points = Vec::with_capacity(2 * sorted.len() + 1);
    let mut below = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let value = sorted[i];
        while i < sorted.len() && sorted[i] == value {
            i += 1;
        }
        let share = i as f64 / n;
        points.extend([(value, below), (value, share)]);
        below = share;
    }
    if let Some(&(last, _)) = points.last()
        && last < x_end
    {
        points.push((x_end, below));
    }
    points
}

/// One line per policy: the share of decisions whose regret (extra cost over the cheapest size
/// that met the deadline) is at most x.
pub(crate) fn placement_regret(
    policies: &[(String, &PlacementScore)],
) -> Result<String, PaperError> {
    const FIGURE: &str = "placement_regret";
    register_font();
    // Log scale: regrets span 0 to several times the oracle's cost. Decisions within the 1 %
    // tolerance of the oracle sit at the left edge.
    let floor = 1.0;
    let percent = |score: &PlacementScore| -> Vec<f64> {
        score
            .regrets
            .iter()
            .map(|r| (r * 100.0).max(floor))
            .collect()
    };
    let (_, x_end) = super::decade_range(
        policies
            .iter()
            .flat_map(|(_, s)| percent(s))
            .chain([floor * 10.0]),
    )
    .unwrap_or((floor, floor * 10.0));
    let decisions = policies.first().map_or(0, |(_, s)| s.regrets.len());
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE).drawing(FIGURE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Placement regret per policy ({decisions} held-out decisions)"),
                (FONT, TITLE_SIZE),
            )
            .margin(16)
            .x_label_area_size(54)
            .y_label_area_size(84)
            .build_cartesian_2d((floor..x_end).log_scale(), 0.0..100.0)
            .drawing(FIGURE)?;
        chart
            .configure_mesh()
            .x_desc("regret: extra cost over the cheapest size that met the deadline (%, log scale; ≤ 1 % at the left edge)")
            .y_desc("decisions with at most this regret (%)")
            .x_label_formatter(&|x| {
                if *x >= 1.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x}")
                }
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, AXIS_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .drawing(FIGURE)?;
        for (index, (label, score)) in policies.iter().enumerate() {
            let colour = palette(index);
            let points = ecdf_steps(&percent(score), x_end)
                .into_iter()
                .map(|(x, y)| (x, y * 100.0));
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .drawing(FIGURE)?
                .label(format!(
                    "{label}: mean {:.1} %, deadline missed {:.1} %",
                    score.mean_regret * 100.0,
                    score.deadline_miss_share * 100.0
                ))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, FIGURE)?;
        root.present().drawing(FIGURE)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::ecdf_steps;

    #[test]
    fn the_ecdf_rises_by_each_values_share() {
        let steps = ecdf_steps(&[0.0, 2.0, 0.0, 1.0], 3.0);
        assert_eq!(
            steps,
            [
                (0.0, 0.0),
                (0.0, 0.5),
                (1.0, 0.5),
                (1.0, 0.75),
                (2.0, 0.75),
                (2.0, 1.0),
                (3.0, 1.0)
            ]
        );
        assert!(ecdf_steps(&[], 1.0).is_empty());
    }
}
