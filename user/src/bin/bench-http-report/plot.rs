//! The chart: one panel per keep-alive mode (rows) and file (columns); in each, grouped
//! bars of req/s per concurrency, one bar per server, and the ratio of the pair above
//! every group.

use crate::data::{self, Cell};
use crate::num;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use user::plot::{ensure_font, series_color};

/// One panel: a mode and a file; per concurrency the two servers' req/s.
pub struct Panel {
    pub mode: String,
    pub file: String,
    /// (concurrency, req/s of A, req/s of B)
    pub groups: Vec<(u64, Option<f64>, Option<f64>)>,
}

pub fn panels(cells: &[Cell], a: &str, b: &str) -> Vec<Panel> {
    let concs = data::concurrencies(cells);
    data::rows(cells)
        .into_iter()
        .map(|(mode, file)| {
            let groups = concs
                .iter()
                .map(|&conc| {
                    let c = cells.iter().find(|c| c.mode == mode && c.file == file && c.conc == conc);
                    let rps = |s: &str| c.and_then(|c| c.get(s)).and_then(|g| g.rps());
                    (conc, rps(a), rps(b))
                })
                .collect();
            Panel { mode, file, groups }
        })
        .collect()
}

fn size(panels: &[Panel]) -> (u32, u32, usize, usize) {
    let modes = {
        let mut m: Vec<&str> = panels.iter().map(|p| p.mode.as_str()).collect();
        m.dedup();
        m.len().max(1)
    };
    let cols = panels.len().div_ceil(modes).max(1);
    ((cols as u32 * 380 + 40).max(800), modes as u32 * 400 + 110, modes, cols)
}

pub fn png(path: &Path, title: &str, a: &str, b: &str, panels: &[Panel]) -> Result<(), String> {
    ensure_font()?;
    let (w, h, rows, cols) = size(panels);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    draw(root, title, a, b, panels, rows, cols).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn svg(path: &Path, title: &str, a: &str, b: &str, panels: &[Panel]) -> Result<(), String> {
    ensure_font()?;
    let (w, h, rows, cols) = size(panels);
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    draw(root, title, a, b, panels, rows, cols).map_err(|e| format!("{}: {e}", path.display()))
}

fn mode_name(m: &str) -> &str {
    match m {
        "close" => "keep-alive off (HTTP/1.0)",
        "keepalive" => "keep-alive on",
        m => m,
    }
}

fn file_name(f: &str) -> &str {
    match f {
        "12b" => "12 B file",
        "4k" => "4 KiB file",
        "64k" => "64 KiB file",
        "1m" => "1 MiB file",
        "dir" => "listing (200 entries)",
        f => f,
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    a: &str,
    b: &str,
    panels: &[Panel],
    rows: usize,
    cols: usize,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 26)).map_err(err)?;
    // Legend strip at the bottom.
    let (body, legend) = root.split_vertically(root.dim_in_pixel().1 - 40);
    let (ca, cb) = (series_color(0), series_color(1));
    let text = ("sans-serif", 18).into_font().color(&BLACK);
    let lx = legend.dim_in_pixel().0 as i32 / 2 - 330;
    for (i, (name, color)) in [(a, ca), (b, cb)].into_iter().enumerate() {
        let x = lx + i as i32 * 160;
        legend.draw(&Rectangle::new([(x, 10), (x + 24, 28)], color.filled())).map_err(err)?;
        legend.draw(&Text::new(name.to_string(), (x + 30, 10), text.clone())).map_err(err)?;
    }
    legend
        .draw(&Text::new(
            format!("number above a group: {a} req/s / {b} req/s"),
            (lx + 330, 10),
            text.clone(),
        ))
        .map_err(err)?;

    let areas = body.split_evenly((rows, cols));
    for (p, area) in panels.iter().zip(areas.iter()) {
        let n = p.groups.len();
        let max_y = p
            .groups
            .iter()
            .flat_map(|&(_, x, y)| [x, y])
            .flatten()
            .fold(0.0, f64::max);
        let top = if max_y > 0.0 { max_y * 1.18 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{}, {}", file_name(&p.file), mode_name(&p.mode)), ("sans-serif", 17))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(58)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)
            .map_err(err)?;
        let labels: Vec<u64> = p.groups.iter().map(|g| g.0).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].to_string()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| if top >= 10.0 { format!("{v:.0}") } else { num(*v) })
            .x_desc("concurrent connections")
            .y_desc("req/s")
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        for (i, &(_, x, y)) in p.groups.iter().enumerate() {
            let c = i as f64;
            if let Some(x) = x {
                chart.draw_series([Rectangle::new([(c - 0.38, 0.0), (c - 0.01, x)], ca.filled())]).map_err(err)?;
            }
            if let Some(y) = y {
                chart.draw_series([Rectangle::new([(c + 0.01, 0.0), (c + 0.38, y)], cb.filled())]).map_err(err)?;
            }
            if let (Some(x), Some(y)) = (x, y) {
                let label = if y > 0.0 { format!("{:.2}", x / y) } else { "-".into() };
                let style = ("sans-serif", 14).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
                chart
                    .draw_series([Text::new(label, (c, x.max(y) + top * 0.01), style)])
                    .map_err(err)?;
            }
        }
    }
    root.present().map_err(err)?;
    Ok(())
}
