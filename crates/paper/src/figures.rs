//! Figures as SVG, drawn with plotters and the committed DejaVu Sans.

use std::sync::Once;

use dataset::{Outcome, Run};
use plotters::prelude::*;
use workloads::Function;

use crate::PaperError;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

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

fn drawing_error(figure: &'static str) -> impl Fn(String) -> PaperError {
    move |reason| PaperError::Figure { figure, reason }
}

/// Duration of every successful request by pod size, one panel per function, log scale: how much
/// a smaller pod slows each kind of work down.
pub fn duration_by_size(run: &Run) -> Result<String, PaperError> {
    register_font();
    let fail = drawing_error("duration_by_size");
    let sizes: Vec<&str> = run.manifest.sizes.iter().map(|s| s.name.as_str()).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 760)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let root = root
            .titled(
                "Request duration by pod size (successful requests, warm-ups excluded)",
                (FONT, 20),
            )
            .map_err(|e| fail(e.to_string()))?;
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
                .caption(format!("/{function}"), (FONT, 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(-0.5f64..(sizes.len() as f64 - 0.5), (low..high).log_scale())
                .map_err(|e| fail(e.to_string()))?;
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
                .y_desc("duration (s, log scale)")
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .draw()
                .map_err(|e| fail(e.to_string()))?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 3, BLUE.mix(0.45).filled())),
                )
                .map_err(|e| fail(e.to_string()))?;
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(svg)
}

/// Tick labels readable across six orders of magnitude.
fn format_seconds(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.0}")
    } else if seconds >= 0.001 {
        format!("{:.0} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}
