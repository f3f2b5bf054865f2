//! How well the model predicts: held-out predictions against actual values, and which features
//! its trees split on.

use model::{HeldOutPrediction, ImportanceEntry, Target};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use workloads::Function;

use super::{
    AXIS_SIZE, CAPTION_SIZE, Drawn, FONT, LABEL_SIZE, TITLE_SIZE, decade_range, draw_legend,
    format_seconds, function_colour, palette, register_font,
};
use crate::PaperError;

/// One panel of [`actual_vs_predicted`]: a target (in seconds) and the predictor shown.
pub(crate) struct AccuracyPanel {
    pub target: Target,
    pub predictor: String,
    /// What the target is, in words ("duration", "CPU time").
    pub quantity: &'static str,
}

/// Predicted against actual on the random split's test requests, log–log, one colour per
/// function, with the identity line: points on it are perfect predictions.
pub(crate) fn actual_vs_predicted(
    predictions: &[HeldOutPrediction],
    panels: &[AccuracyPanel],
) -> Result<String, PaperError> {
    const FIGURE: &str = "actual_vs_predicted";
    register_font();
    let mut svg = String::new();
    {
        let width = 500 * panels.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (width, 560)).into_drawing_area();
        root.fill(&WHITE).drawing(FIGURE)?;
        let root = root
            .titled(
                "Predicted against actual, held-out requests of the random split (XGBoost)",
                (FONT, TITLE_SIZE),
            )
            .drawing(FIGURE)?;
        for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
            let points: Vec<&HeldOutPrediction> = predictions
                .iter()
                .filter(|p| p.target == panel.target && p.predictor == panel.predictor)
                .collect();
            let (low, high) = decade_range(points.iter().flat_map(|p| [p.actual, p.predicted]))
                .ok_or_else(|| {
                    PaperError::MissingResult(format!(
                        "held-out predictions of {} by {}",
                        panel.target, panel.predictor
                    ))
                })?;
            // A prediction of 0 (never negative) sits on the axis rather than off the log scale.
            let clamp = |v: f64| v.clamp(low, high);
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("{} ({} test requests)", panel.quantity, points.len()),
                    (FONT, CAPTION_SIZE),
                )
                .margin(14)
                .x_label_area_size(52)
                .y_label_area_size(84)
                .build_cartesian_2d((low..high).log_scale(), (low..high).log_scale())
                .drawing(FIGURE)?;
            chart
                .configure_mesh()
                .x_label_formatter(&|x| format_seconds(*x))
                .y_label_formatter(&|y| format_seconds(*y))
                .x_desc(format!("actual {} (log scale)", panel.quantity))
                .y_desc(format!("predicted {} (log scale)", panel.quantity))
                .label_style((FONT, LABEL_SIZE))
                .axis_desc_style((FONT, AXIS_SIZE))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .drawing(FIGURE)?;
            chart
                .draw_series(DashedLineSeries::new(
                    [(low, low), (high, high)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .drawing(FIGURE)?
                .label("actual = predicted")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK.stroke_width(1)));
            for function in Function::ALL {
                let colour = function_colour(function);
                let of_function: Vec<(f64, f64)> = points
                    .iter()
                    .filter(|p| p.function == function.name())
                    .map(|p| (clamp(p.actual), clamp(p.predicted)))
                    .collect();
                if of_function.is_empty() {
                    continue;
                }
                chart
                    .draw_series(
                        of_function
                            .iter()
                            .map(|&p| Circle::new(p, 3, colour.mix(0.6).filled())),
                    )
                    .drawing(FIGURE)?
                    .label(format!("/{function}"))
                    .legend(move |(x, y)| Circle::new((x + 9, y), 4, colour.filled()));
            }
            draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, FIGURE)?;
        }
        root.present().drawing(FIGURE)?;
    }
    Ok(svg)
}

/// The `top` features by share of the model's gain (averaged over targets), largest first.
pub(crate) fn feature_importance(
    importance: &[ImportanceEntry],
    top: usize,
) -> Result<String, PaperError> {
    const FIGURE: &str = "feature_importance";
    register_font();
    let shown = &importance[..top.min(importance.len())];
    if shown.is_empty() {
        return Err(PaperError::MissingResult("feature importance".into()));
    }
    let largest = shown
        .iter()
        .map(|e| e.gain_share * 100.0)
        .fold(0.0, f64::max);
    // Rank 0 at the top.
    let row = |rank: usize| (shown.len() - 1 - rank) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 40 * shown.len() as u32 + 130))
            .into_drawing_area();
        root.fill(&WHITE).drawing(FIGURE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Feature importance: top {} by gain, averaged over the targets",
                    shown.len()
                ),
                (FONT, TITLE_SIZE),
            )
            .margin(16)
            .x_label_area_size(54)
            .y_label_area_size(290)
            .build_cartesian_2d(0.0..largest * 1.15, -0.5..shown.len() as f64 - 0.5)
            .drawing(FIGURE)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(shown.len())
            .y_label_formatter(&|y| {
                let nearest = y.round();
                let rank = shown.len() as f64 - 1.0 - nearest;
                if (y - nearest).abs() < 1e-9 && rank >= 0.0 {
                    shown
                        .get(rank as usize)
                        .map_or(String::new(), |e| e.feature.clone())
                } else {
                    String::new()
                }
            })
            .x_label_formatter(&|x| format!("{x:.0} %"))
            .x_desc("share of the total gain")
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, AXIS_SIZE))
            .draw()
            .drawing(FIGURE)?;
        let colour = palette(0);
        chart
            .draw_series(shown.iter().enumerate().map(|(rank, e)| {
                let y = row(rank);
                Rectangle::new(
                    [(0.0, y - 0.35), (e.gain_share * 100.0, y + 0.35)],
                    colour.filled(),
                )
            }))
            .drawing(FIGURE)?;
        chart
            .draw_series(shown.iter().enumerate().map(|(rank, e)| {
                let share = e.gain_share * 100.0;
                let text = if share >= 1.0 {
                    format!("{share:.1} %")
                } else {
                    format!("{share:.2} %")
                };
                Text::new(
                    text,
                    (share + largest * 0.01, row(rank)),
                    (FONT, LABEL_SIZE)
                        .into_font()
                        .into_text_style(&root)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )
            }))
            .drawing(FIGURE)?;
        root.present().drawing(FIGURE)?;
    }
    Ok(svg)
}
