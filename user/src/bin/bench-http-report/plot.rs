//! The chart: one panel per keep-alive mode (rows) and file (columns); in each, grouped
//! bars of req/s per concurrency, one bar per server (khttpd, nginx, nginx-cache), and
//! above every group the first server's req/s divided by each other's, one number per
//! other server in that server's colour.

use crate::data::{self, num, Cell};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use user::plot::{ensure_font, series_color};

/// One panel: a mode and a file; per concurrency every server's req/s.
#[derive(Debug, PartialEq)]
pub struct Panel {
    pub mode: String,
    pub file: String,
    /// (concurrency, req/s of each server in the order of the servers given)
    pub groups: Vec<(u64, Vec<Option<f64>>)>,
}

pub fn panels(cells: &[Cell], servers: &[&str]) -> Vec<Panel> {
    let concs = data::concurrencies(cells);
    data::rows(cells)
        .into_iter()
        .map(|(mode, file)| {
            let groups = concs
                .iter()
                .map(|&conc| {
                    let c = cells.iter().find(|c| c.mode == mode && c.file == file && c.conc == conc);
                    let rps = |s: &str| c.and_then(|c| c.get(s)).and_then(|g| g.rps());
                    (conc, servers.iter().map(|s| rps(s)).collect())
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

pub fn png(path: &Path, title: &str, servers: &[&str], panels: &[Panel]) -> Result<(), String> {
    ensure_font()?;
    let (w, h, rows, cols) = size(panels);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    draw(root, title, servers, panels, rows, cols).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn svg(path: &Path, title: &str, servers: &[&str], panels: &[Panel]) -> Result<(), String> {
    ensure_font()?;
    let (w, h, rows, cols) = size(panels);
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    draw(root, title, servers, panels, rows, cols).map_err(|e| format!("{}: {e}", path.display()))
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
    servers: &[&str],
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
    // Legend strip at the bottom: a box per server, then what the numbers are.
    let (body, legend) = root.split_vertically(root.dim_in_pixel().1 - 40);
    let n = servers.len();
    let colors: Vec<_> = (0..n).map(series_color).collect();
    let text = ("sans-serif", 18).into_font().color(&BLACK);
    let a = servers[0];
    let note = if n == 2 {
        format!("number above a group: {a} req/s / {} req/s", servers[1])
    } else {
        format!("numbers above a group: {a} req/s / req/s of each other server, in its colour")
    };
    let widths: Vec<i32> = servers.iter().map(|s| 30 + 11 * s.chars().count() as i32 + 30).collect();
    let total = widths.iter().sum::<i32>() + 9 * note.chars().count() as i32;
    let mut x = (legend.dim_in_pixel().0 as i32 - total).max(0) / 2;
    for ((name, color), w) in servers.iter().zip(&colors).zip(&widths) {
        legend.draw(&Rectangle::new([(x, 10), (x + 24, 28)], color.filled())).map_err(err)?;
        legend.draw(&Text::new(name.to_string(), (x + 30, 10), text.clone())).map_err(err)?;
        x += w;
    }
    legend.draw(&Text::new(note, (x, 10), text.clone())).map_err(err)?;

    // Bars of a group side by side in [-0.38, 0.38] around the concurrency's position.
    let bar = 0.76 / n as f64;
    let label_px = 16;
    let areas = body.split_evenly((rows, cols));
    for (p, area) in panels.iter().zip(areas.iter()) {
        let groups = p.groups.len();
        let max_y = p.groups.iter().flat_map(|(_, v)| v.iter().flatten().copied()).fold(0.0, f64::max);
        // Room for one line of ratios per other server above the highest bar.
        let top = if max_y > 0.0 { max_y * (1.1 + 0.08 * (n - 1) as f64) } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{}, {}", file_name(&p.file), mode_name(&p.mode)), ("sans-serif", 17))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(58)
            .build_cartesian_2d(-0.5f64..(groups as f64 - 0.5), 0f64..top)
            .map_err(err)?;
        let labels: Vec<u64> = p.groups.iter().map(|g| g.0).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups)
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
        for (i, (_, values)) in p.groups.iter().enumerate() {
            let c = i as f64;
            for (j, (v, color)) in values.iter().zip(&colors).enumerate() {
                if let Some(v) = *v {
                    let x0 = c - 0.38 + j as f64 * bar;
                    let r = Rectangle::new([(x0 + 0.005, 0.0), (x0 + bar - 0.005, v)], color.filled());
                    chart.draw_series([r]).map_err(err)?;
                }
            }
            // The ratios, stacked: the first other server's lowest.
            let (Some(x), Some(high)) = (values[0], values.iter().flatten().copied().reduce(f64::max)) else {
                continue;
            };
            let mut line = 0;
            for (y, color) in values.iter().zip(&colors).skip(1) {
                let Some(y) = *y else { continue };
                let label = if y > 0.0 { format!("{:.2}", x / y) } else { "-".into() };
                // One number (two servers): black, as it needs no key.
                let color = if n == 2 { BLACK.into() } else { *color };
                let font = ("sans-serif", 14).into_font().color(&color);
                let style = font.pos(Pos::new(HPos::Center, VPos::Bottom));
                let at = EmptyElement::at((c, high + top * 0.01)) + Text::new(label, (0, -label_px * line), style);
                chart.draw_series([at]).map_err(err)?;
                line += 1;
            }
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Run;

    #[test]
    fn panels_have_a_bar_per_server() {
        let l = |s: &str, f: &str, c: u64, r: u64| {
            format!(r#"{{"server":"{s}","file":"{f}","mode":"keepalive","conc":{c},"exit":0,"tcp":{{}},"htstress":{{"bad":0,"socket_errors":0,"requests":{r},"seconds":1.0,"latency_us":{{"p99":10}}}}}}"#)
        };
        let runs: Vec<Run> = [
            l("nginx-cache", "12b", 1, 30),
            l("khttpd", "12b", 1, 50),
            l("nginx", "12b", 1, 20),
            l("khttpd", "12b", 100, 70),
            l("nginx", "dir", 1, 5),
        ]
        .iter()
        .map(|x| Run::from_json(&serde_json::from_str(x).unwrap()).unwrap())
        .collect();
        let cells = data::cells(&runs);
        let servers = ["khttpd", "nginx", "nginx-cache"];
        let p = panels(&cells, &servers);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].file.as_str(), p[1].file.as_str()), ("12b", "dir"));
        assert_eq!(
            p[0].groups,
            [(1, vec![Some(50.0), Some(20.0), Some(30.0)]), (100, vec![Some(70.0), None, None])]
        );
        assert_eq!(p[1].groups, [(1, vec![None, Some(5.0), None]), (100, vec![None, None, None])]);
        // Both formats draw, with three servers and with two.
        let dir = std::env::temp_dir();
        let id = std::process::id();
        for (k, s) in [&servers[..], &servers[..2]].into_iter().enumerate() {
            let svg = dir.join(format!("bench-http-report-test-{id}-{k}.svg"));
            let png = dir.join(format!("bench-http-report-test-{id}-{k}.png"));
            let p = panels(&cells, s);
            super::svg(&svg, "test", s, &p).unwrap();
            super::png(&png, "test", s, &p).unwrap();
            let text = std::fs::read_to_string(&svg).unwrap();
            let has = |t: &str| text.contains(&format!(">\n{t}\n</text>"));
            assert!(has("khttpd") && has("nginx"));
            assert_eq!(has("nginx-cache"), s.len() == 3);
            assert!(has("2.50"), "khttpd/nginx at 1 conn");
            assert_eq!(has("1.67"), s.len() == 3, "khttpd/nginx-cache at 1 conn");
            std::fs::remove_file(svg).unwrap();
            std::fs::remove_file(png).unwrap();
        }
    }
}
