//! Charts drawn in-process with plotters (font and colours from `user::plot`).

use crate::samples::Series;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use user::plot::{ensure_font, series_color};

const SIZE: (u32, u32) = (1280, 720);
/// Series with at most this many points are drawn with a marker on every point.
const MARKERS_UP_TO: usize = 50;

pub fn png(path: &Path, title: &str, series: &Series) -> Result<(), String> {
    ensure_font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(root, title, series).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn svg(path: &Path, title: &str, series: &Series) -> Result<(), String> {
    ensure_font()?;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    draw(root, title, series).map_err(|e| format!("{}: {e}", path.display()))
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &Series,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let max_x = series.iter().flat_map(|(_, p)| p.iter().map(|&(c, _)| c)).max().unwrap_or(0);
    let max_y = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y)).fold(0.0, f64::max);
    let y_top = if max_y > 0.0 { max_y * 1.1 } else { 1.0 };

    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 28))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        // Segmented: connection i is drawn in the middle of its own slot, so a chart with
        // a single connection (bench -n 1) still shows its point clear of the axis.
        .build_cartesian_2d((0u32..max_x).into_segmented(), 0f64..y_top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("connection no.")
        .y_desc("time (us)")
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(c) | SegmentValue::Exact(c) => c.to_string(),
            SegmentValue::Last => String::new(),
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;

    for (i, (name, points)) in series.iter().enumerate() {
        let color = series_color(i);
        let at = |&(c, y): &(u32, f64)| (SegmentValue::CenterOf(c), y);
        chart
            .draw_series(LineSeries::new(points.iter().map(at), color.stroke_width(1)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
        // A line needs two points: few connections also get a marker each.
        if points.len() <= MARKERS_UP_TO {
            chart
                .draw_series(points.iter().map(|p| Circle::new(at(p), 5, color.filled())))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
