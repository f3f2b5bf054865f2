//! One request's CPU use and throttling over time on a small and a large pod.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    AXIS_SIZE, CAPTION_SIZE, Drawn, FONT, LABEL_SIZE, TITLE_SIZE, draw_legend, palette,
    register_font,
};
use crate::PaperError;
use crate::timeline::{Interval, MARGIN_SECONDS, RequestTimeline};

const FIGURE: &str = "cpu_over_time";

/// A rate over each interval drawn as a step: flat between the two samples that measured it.
/// Intervals without a value break the line.
fn steps(
    timeline: &RequestTimeline,
    value: &dyn Fn(&Interval) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for interval in &timeline.intervals {
        match value(interval) {
            Some(v) => current.extend([(interval.from, v), (interval.to, v)]),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

struct Panel<'a> {
    caption: &'a str,
    y_desc: &'a str,
    y_max: f64,
    y_format: &'a dyn Fn(&f64) -> String,
    value: &'a dyn Fn(&Interval) -> Option<f64>,
    /// Draw each size's quota as a dashed level.
    quotas: bool,
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    timelines: &[RequestTimeline],
    x_range: (f64, f64),
    panel: &Panel<'_>,
) -> Result<(), PaperError> {
    let mut chart = ChartBuilder::on(area)
        .caption(panel.caption, (FONT, CAPTION_SIZE))
        .margin(14)
        .x_label_area_size(52)
        .y_label_area_size(84)
        .build_cartesian_2d(x_range.0..x_range.1, 0.0..panel.y_max)
        .drawing(FIGURE)?;
    chart
        .configure_mesh()
        .x_desc("time since the request started (s)")
        .y_desc(panel.y_desc)
        .y_label_formatter(panel.y_format)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, AXIS_SIZE))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .drawing(FIGURE)?;
    for (index, timeline) in timelines.iter().enumerate() {
        let colour = palette(index * 3);
        // Earlier sizes drawn wider, so a later line on the same values leaves them visible.
        let width = 2 + 2 * (timelines.len() - 1 - index) as u32;
        for (k, run) in steps(timeline, panel.value).into_iter().enumerate() {
            let series = chart
                .draw_series(LineSeries::new(run, colour.stroke_width(width)))
                .drawing(FIGURE)?;
            if k == 0 {
                series
                    .label(format!(
                        "{} ({} cores): request took {:.1} s",
                        timeline.size, timeline.quota_cores, timeline.duration_seconds
                    ))
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(width))
                    });
            }
        }
        if panel.quotas {
            chart
                .draw_series(DashedLineSeries::new(
                    [
                        (x_range.0, timeline.quota_cores),
                        (x_range.1, timeline.quota_cores),
                    ],
                    6,
                    4,
                    colour.stroke_width(1),
                ))
                .drawing(FIGURE)?;
        }
        // The request's end, where its pod goes idle.
        chart
            .draw_series(DashedLineSeries::new(
                [
                    (timeline.duration_seconds, 0.0),
                    (timeline.duration_seconds, panel.y_max),
                ],
                2,
                4,
                colour.stroke_width(1),
            ))
            .drawing(FIGURE)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight, FIGURE)
}

/// CPU cores used and the share of throttled CFS periods, per sampling interval, for the same
/// request on each of `timelines`' sizes; dashed: each size's quota; dotted: each request's end.
pub(crate) fn cpu_over_time(
    timelines: &[RequestTimeline],
    request: &str,
) -> Result<String, PaperError> {
    register_font();
    let x_max = timelines
        .iter()
        .map(|t| t.duration_seconds + MARGIN_SECONDS)
        .fold(0.0, f64::max);
    let x_range = (-MARGIN_SECONDS, x_max.ceil());
    let cores_max = timelines
        .iter()
        .flat_map(|t| t.intervals.iter().map(|i| i.cores).chain([t.quota_cores]))
        .fold(0.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 780)).into_drawing_area();
        root.fill(&WHITE).drawing(FIGURE)?;
        let root = root
            .titled(
                &format!("One request on a small and a large pod: {request}"),
                (FONT, TITLE_SIZE),
            )
            .drawing(FIGURE)?;
        let areas = root.split_evenly((2, 1));
        draw_panel(
            &areas[0],
            timelines,
            x_range,
            &Panel {
                caption: "CPU used (cgroup CPU time per second; dashed: the quota; dotted: the request ends)",
                y_desc: "CPU (cores)",
                // Head room above the highest quota for the legend.
                y_max: cores_max * 1.6,
                y_format: &|y| format!("{y:.2}"),
                value: &|i| Some(i.cores),
                quotas: true,
            },
        )?;
        draw_panel(
            &areas[1],
            timelines,
            x_range,
            &Panel {
                caption: "Throttling (share of CFS periods in which the quota ran out)",
                y_desc: "throttled periods (%)",
                y_max: 135.0,
                y_format: &|y| {
                    if *y <= 100.0 {
                        format!("{y:.0}")
                    } else {
                        String::new()
                    }
                },
                value: &|i| i.throttled_share.map(|s| s * 100.0),
                quotas: false,
            },
        )?;
        root.present().drawing(FIGURE)?;
    }
    Ok(svg)
}
