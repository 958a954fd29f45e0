//! Latency samples: statistics, CSV (write and read back) and the original text format.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub target: usize,
    pub round: u32,
    pub conn: u32,
    pub us: u64,
}

/// Successful samples of all targets; `target` indexes `targets`.
pub struct Samples {
    pub targets: Vec<String>,
    pub rows: Vec<Sample>,
}

pub struct Summary {
    pub min: u64,
    pub median: u64,
    pub p99: u64,
    pub max: u64,
    /// Arithmetic mean, rounded to the nearest microsecond.
    pub mean: u64,
}

impl Summary {
    pub fn of(values: &[u64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        // Nearest-rank percentile.
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        let sum: u128 = v.iter().map(|&x| x as u128).sum();
        let n = v.len() as u128;
        let mean = ((sum + n / 2) / n) as u64;
        Some(Summary { min: v[0], median: rank(0.5), p99: rank(0.99), max: v[v.len() - 1], mean })
    }
}

/// Series for the chart: per target, (connection index, mean us over rounds).
pub type Series = Vec<(String, Vec<(u32, f64)>)>;

impl Samples {
    pub fn write_csv(&self, path: &Path) -> Result<(), String> {
        let f = fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut w = BufWriter::new(f);
        let res = (|| {
            writeln!(w, "target,round,conn,us")?;
            for r in &self.rows {
                writeln!(w, "{},{},{},{}", self.targets[r.target], r.round, r.conn, r.us)?;
            }
            w.flush()
        })();
        res.map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn read_csv(path: &Path) -> Result<Samples, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Samples::parse_csv(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse_csv(text: &str) -> Result<Samples, String> {
        let mut s = Samples { targets: Vec::new(), rows: Vec::new() };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h.trim() == "target,round,conn,us" => {}
            _ => return Err("missing header 'target,round,conn,us'".into()),
        }
        for (no, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let bad = || format!("line {}: expected target,round,conn,us", no + 1);
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 4 {
                return Err(bad());
            }
            let target = match s.targets.iter().position(|t| t == f[0]) {
                Some(i) => i,
                None => {
                    s.targets.push(f[0].to_string());
                    s.targets.len() - 1
                }
            };
            s.rows.push(Sample {
                target,
                round: f[1].trim().parse().map_err(|_| bad())?,
                conn: f[2].trim().parse().map_err(|_| bad())?,
                us: f[3].trim().parse().map_err(|_| bad())?,
            });
        }
        Ok(s)
    }

    fn averages(&self, target: usize) -> Vec<(u32, f64)> {
        let mut acc: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for r in self.rows.iter().filter(|r| r.target == target) {
            let e = acc.entry(r.conn).or_default();
            e.0 += r.us;
            e.1 += 1;
        }
        acc.into_iter().map(|(c, (sum, n))| (c, sum as f64 / n as f64)).collect()
    }

    pub fn per_conn_averages(&self) -> Series {
        (0..self.targets.len()).map(|t| (self.targets[t].clone(), self.averages(t))).collect()
    }

    /// The original bench output: `i avg_us` per connection index, first target only.
    /// Connections that never succeeded have no line.
    pub fn write_txt(&self, path: &Path) -> Result<(), String> {
        let mut out = String::new();
        if !self.targets.is_empty() {
            for (c, avg) in self.averages(0) {
                out.push_str(&format!("{c} {}\n", avg.round() as u64));
            }
        }
        fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_and_averages() {
        let s = Samples {
            targets: vec!["a".into(), "b".into()],
            rows: vec![
                Sample { target: 0, round: 0, conn: 0, us: 10 },
                Sample { target: 0, round: 1, conn: 0, us: 30 },
                Sample { target: 1, round: 0, conn: 2, us: 7 },
            ],
        };
        let mut text = String::from("target,round,conn,us\n");
        for r in &s.rows {
            text.push_str(&format!("{},{},{},{}\n", s.targets[r.target], r.round, r.conn, r.us));
        }
        let back = Samples::parse_csv(&text).unwrap();
        assert_eq!(back.targets, s.targets);
        assert_eq!(back.rows, s.rows);
        let series = back.per_conn_averages();
        assert_eq!(series[0].1, vec![(0, 20.0)]);
        assert_eq!(series[1].1, vec![(2, 7.0)]);
        assert!(Samples::parse_csv("x,y\n").is_err());
        assert!(Samples::parse_csv("target,round,conn,us\na,1,2\n").is_err());
    }

    #[test]
    fn summary_percentiles() {
        let v: Vec<u64> = (1..=100).rev().collect();
        let s = Summary::of(&v).unwrap();
        assert_eq!((s.min, s.median, s.p99, s.max, s.mean), (1, 50, 99, 100, 51));
        assert!(Summary::of(&[]).is_none());
        let one = Summary::of(&[5]).unwrap();
        assert_eq!((one.min, one.median, one.p99, one.max, one.mean), (5, 5, 5, 5, 5));
        assert_eq!(Summary::of(&[1, 2]).unwrap().mean, 2, "mean rounds half up");
        assert_eq!(Summary::of(&[u64::MAX, u64::MAX]).unwrap().mean, u64::MAX, "no overflow");
    }
}
