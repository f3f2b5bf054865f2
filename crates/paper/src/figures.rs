//! Figures as SVG, drawn with plotters and the committed DejaVu Sans.

mod accuracy;
mod regret;
mod usage;

use std::sync::Once;

use dataset::{Outcome, Run};
use plotters::prelude::*;
use workloads::Function;

use crate::PaperError;

pub(crate) use accuracy::{AccuracyPanel, actual_vs_predicted, feature_importance};
pub(crate) use regret::placement_regret;
pub(crate) use usage::cpu_over_time;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Text sizes shared by every figure.
/// Figures are about 900 px wide and set at the text width (~16 cm) in the paper: 15 px comes
/// out near 7 pt.
const TITLE_SIZE: u32 = 21;
const CAPTION_SIZE: u32 = 18;
const LABEL_SIZE: u32 = 15;
const AXIS_SIZE: u32 = 16;
const LEGEND_SIZE: u32 = 15;

/// Text is measured with the committed font, never the machine's, so layout is the same
/// everywhere.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).unwrap_or_else(|_| {
            panic!("the committed font fonts/DejaVuSans.ttf is not a valid TrueType font")
        });
    });
}

/// Drawing errors of one figure as [`PaperError::Figure`].
trait Drawn<T> {
    fn drawing(self, figure: &'static str) -> Result<T, PaperError>;
}

impl<T, E: std::fmt::Display> Drawn<T> for Result<T, E> {
    fn drawing(self, figure: &'static str) -> Result<T, PaperError> {
        self.map_err(|e| PaperError::Figure {
            figure,
            reason: e.to_string(),
        })
    }
}

/// Draws `chart`'s legend, as every figure does, at `position`.
fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    figure: &'static str,
) -> Result<(), PaperError>
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, LEGEND_SIZE))
        .draw()
        .drawing(figure)
}

/// The Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(117, 112, 179),
];

fn palette(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

fn function_colour(function: Function) -> RGBColor {
    palette(
        Function::ALL
            .iter()
            .position(|f| *f == function)
            .unwrap_or(0),
    )
}

/// Tick labels of seconds readable across six orders of magnitude.
fn format_seconds(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.0} s")
    } else if seconds >= 0.001 {
        format!("{:.0} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}

/// The decades around `values`' positive range: log axes that start and end on a labelled tick.
fn decade_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (low, high) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    (low <= high).then(|| {
        (
            10f64.powi(low.log10().floor() as i32),
            10f64.powi(high.log10().ceil().max(low.log10().floor() + 1.0) as i32),
        )
    })
}

/// Duration of every successful request by pod size, one panel per function, log scale: how much
/// a smaller pod slows each kind of work down.
pub(crate) fn duration_by_size(run: &Run) -> Result<String, PaperError> {
    const FIGURE: &str = "duration_by_size";
    register_font();
    let sizes: Vec<&str> = run.manifest.sizes.iter().map(|s| s.name.as_str()).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 760)).into_drawing_area();
        root.fill(&WHITE).drawing(FIGURE)?;
        let root = root
            .titled(
                "Request duration by pod size (successful requests, warm-ups excluded)",
                (FONT, TITLE_SIZE),
            )
            .drawing(FIGURE)?;
        for (panel, function) in root.split_evenly((2, 2)).iter().zip(Function::ALL) {
            let points: Vec<(f64, f64)> = run
                .requests
                .iter()
                .map(|r| &r.request)
                .filter(|r| r.function == function && r.outcome == Outcome::Ok && !r.warmup)
                .enumerate()
                .filter_map(|(k, r)| {
                    let column = sizes.iter().position(|s| *s == r.size)?;
                    // A fixed spread so equal values stay visible; no randomness in figures.
                    let jitter = ((k % 9) as f64 - 4.0) * 0.035;
                    Some((
                        column as f64 + jitter,
                        (r.duration_ns as f64 / 1e9).max(1e-6),
                    ))
                })
                .collect();
            let (low, high) = points
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, y)| {
                    (lo.min(y), hi.max(y))
                });
            let (low, high) = if points.is_empty() {
                (1e-3, 1.0)
            } else {
                (low / 2.0, high * 2.0)
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(format!("/{function}"), (FONT, CAPTION_SIZE))
                .margin(12)
                .x_label_area_size(50)
                .y_label_area_size(84)
                .build_cartesian_2d(-0.5f64..(sizes.len() as f64 - 0.5), (low..high).log_scale())
                .drawing(FIGURE)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(sizes.len())
                .x_label_formatter(&|x| {
                    let nearest = x.round();
                    if (x - nearest).abs() < 1e-9 && nearest >= 0.0 {
                        sizes
                            .get(nearest as usize)
                            .map_or(String::new(), |s| (*s).to_owned())
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|y| format_seconds(*y))
                .x_desc("pod size")
                .y_desc("duration (log scale)")
                .label_style((FONT, LABEL_SIZE))
                .axis_desc_style((FONT, AXIS_SIZE))
                .draw()
                .drawing(FIGURE)?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 3, function_colour(function).mix(0.5).filled())),
                )
                .drawing(FIGURE)?;
        }
        root.present().drawing(FIGURE)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_in_their_unit() {
        assert_eq!(format_seconds(10.0), "10 s");
        assert_eq!(format_seconds(0.1), "100 ms");
        assert_eq!(format_seconds(0.000_01), "10 µs");
    }

    #[test]
    fn log_axes_span_whole_decades() {
        assert_eq!(
            decade_range([0.003, 42.0, 0.0, f64::NAN].into_iter()),
            Some((0.001, 100.0))
        );
        // A single value still gets one decade.
        assert_eq!(decade_range([1.0].into_iter()), Some((1.0, 10.0)));
        assert_eq!(decade_range([0.0].into_iter()), None);
    }
}
