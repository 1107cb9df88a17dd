//! SVG plots of a run (and of a scaling series) with `plotters`' SVG
//! backend: latency CDF per tier, deliveries over time with fault windows
//! shaded, bytes per delivered entry per node, catch-up after restarts.

use crate::check::{Delivery, Figures};
use crate::run::{FaultRecord, MetricsSnapshot};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

type PlotResult = Result<(), Box<dyn std::error::Error>>;
/// A plot job: draws into the given file.
type PlotJob<'a> = Box<dyn Fn(&Path) -> PlotResult + 'a>;
/// A scaling panel: title, unit, riskmesh's series (one or two), and the
/// bare baseline's (empty without one).
type Panel = (
    &'static str,
    &'static str,
    Vec<(f64, f64)>,
    Option<Vec<(f64, f64)>>,
    Vec<(f64, f64)>,
);

const TIER_COLORS: [(&str, RGBColor); 4] = [
    ("public", RGBColor(31, 119, 180)),
    ("consortium", RGBColor(44, 160, 44)),
    ("restricted", RGBColor(255, 127, 14)),
    ("hazardous", RGBColor(214, 39, 40)),
];

fn fault_color(kind: &str) -> RGBColor {
    match kind {
        "crash" => RGBColor(214, 39, 40),
        "partition" => RGBColor(148, 103, 189),
        _ => RGBColor(127, 127, 127),
    }
}

/// Writes every plot of a run into `dir`; returns the files written.
pub fn write_run_plots(
    dir: &Path,
    deliveries: &[Delivery],
    faults: &[FaultRecord],
    figures: &Figures,
    orgs: &[String],
    metrics: &[MetricsSnapshot],
    delivered_to: &[usize],
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let jobs: [(&str, PlotJob<'_>); 4] = [
        ("latency_cdf.svg", Box::new(|p| latency_cdf(p, deliveries))),
        (
            "deliveries_over_time.svg",
            Box::new(|p| deliveries_over_time(p, deliveries, faults)),
        ),
        (
            "bytes_per_entry.svg",
            Box::new(|p| bytes_per_entry(p, orgs, metrics, delivered_to)),
        ),
        ("catch_up.svg", Box::new(|p| catch_up(p, figures))),
    ];
    for (name, job) in jobs {
        let path = dir.join(name);
        match job(&path) {
            Ok(()) => out.push(path),
            Err(e) => eprintln!("warning: plot {name} failed: {e}"),
        }
    }
    out
}

fn latency_cdf(path: &Path, deliveries: &[Delivery]) -> PlotResult {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = deliveries.iter().map(|d| d.latency_ms).fold(10.0f64, f64::max) * 1.2;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Propagation latency CDF per tier (store time − author timestamp)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((1f64..max).log_scale(), 0f64..1.0)?;
    chart
        .configure_mesh()
        .x_desc("latency, ms (log scale)")
        .y_desc("fraction of deliveries")
        .draw()?;
    for (tier, color) in TIER_COLORS {
        let mut v: Vec<f64> = deliveries
            .iter()
            .filter(|d| d.tier == tier)
            .map(|d| d.latency_ms.max(1.0))
            .collect();
        if v.is_empty() {
            continue;
        }
        v.sort_by(f64::total_cmp);
        let len = v.len() as f64;
        let points: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .map(|(i, &x)| (x, (i + 1) as f64 / len))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(format!("{tier} ({} deliveries)", v.len()))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn deliveries_over_time(path: &Path, deliveries: &[Delivery], faults: &[FaultRecord]) -> PlotResult {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let end = deliveries
        .iter()
        .map(|d| d.received_s)
        .fold(1.0f64, f64::max)
        .ceil();
    let bins = end as usize + 1;
    let mut counts = vec![0u32; bins];
    for d in deliveries {
        let b = (d.received_s.max(0.0) as usize).min(bins - 1);
        counts[b] += 1;
    }
    let top = f64::from(counts.iter().copied().max().unwrap_or(1).max(1)) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Deliveries per second (all nodes); fault windows shaded",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..end.max(1.0), 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("s since the publishing phase started")
        .y_desc("entries stored per second")
        .draw()?;
    let mut labelled: Vec<String> = Vec::new();
    for f in faults {
        let color = fault_color(&f.kind);
        let end_s = if f.end_s.is_finite() { f.end_s } else { end };
        let series = chart.draw_series(std::iter::once(Rectangle::new(
            [(f.start_s, 0.0), (end_s, top)],
            color.mix(0.15).filled(),
        )))?;
        if !labelled.contains(&f.kind) {
            labelled.push(f.kind.clone());
            series
                .label(f.kind.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.mix(0.3).filled()));
        }
    }
    chart
        .draw_series(LineSeries::new(
            counts
                .iter()
                .enumerate()
                .map(|(i, &c)| (i as f64 + 0.5, f64::from(c))),
            BLUE.stroke_width(2),
        ))?
        .label("deliveries")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn bytes_per_entry(
    path: &Path,
    orgs: &[String],
    metrics: &[MetricsSnapshot],
    delivered_to: &[usize],
) -> PlotResult {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let rows: Vec<(f64, f64)> = metrics
        .iter()
        .zip(delivered_to)
        .map(|(m, &d)| {
            let d = d.max(1) as f64;
            (m.gossip_bytes_in as f64 / d, m.sync_bytes_in as f64 / d)
        })
        .collect();
    let top = rows.iter().map(|(g, s)| g + s).fold(1.0f64, f64::max) * 1.15;
    let n = orgs.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Application bytes received per delivered entry, per node",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(60)
        .y_label_area_size(65)
        .build_cartesian_2d((0..n.saturating_sub(1)).into_segmented(), 0f64..top)?;
    let labels = orgs.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(50))
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("bytes per delivered entry")
        .draw()?;
    let gossip = RGBColor(31, 119, 180);
    let sync = RGBColor(255, 127, 14);
    let bar = |i: usize, from: f64, to: f64, color: RGBColor| {
        let mut r = Rectangle::new(
            [(SegmentValue::Exact(i), from), (SegmentValue::Exact(i + 1), to)],
            color.filled(),
        );
        r.set_margin(0, 0, 8, 8);
        r
    };
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (g, _))| bar(i, 0.0, *g, gossip)))?
        .label("gossip")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], gossip.filled()));
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (g, s))| bar(i, *g, g + s, sync)))?
        .label("sync")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], sync.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn catch_up(path: &Path, figures: &Figures) -> PlotResult {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let x_max = figures
        .catch_up
        .iter()
        .flat_map(|c| c.samples.iter().map(|s| s.0))
        .fold(1.0f64, f64::max)
        * 1.1;
    let y_max = figures
        .catch_up
        .iter()
        .flat_map(|c| c.samples.iter().map(|s| s.1 as f64))
        .fold(1.0f64, f64::max)
        * 1.15;
    let caption = if figures.catch_up.is_empty() {
        "Sync catch-up after restart (no restarts in this scenario)"
    } else {
        "Sync catch-up after restart: entries still missing"
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("s since restart")
        .y_desc("entries behind")
        .draw()?;
    for (k, c) in figures.catch_up.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        chart
            .draw_series(LineSeries::new(
                c.samples.iter().map(|&(t, b)| (t, b as f64)),
                color.stroke_width(2),
            ))?
            .label(format!(
                "{} at {:.0} s: {}",
                c.org,
                c.restarted_at_s,
                c.seconds
                    .map_or("not caught up".to_string(), |s| format!("{s:.2} s"))
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    if !figures.catch_up.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// One network size of a scaling series.
#[derive(Debug, Clone, Copy)]
pub struct ScalePoint {
    /// Nodes.
    pub nodes: usize,
    /// Latency p50, ms.
    pub p50_ms: f64,
    /// Latency p99, ms.
    pub p99_ms: f64,
    /// Application bytes per delivered entry.
    pub bytes_per_delivery: f64,
    /// Resident memory per node, MiB.
    pub mib_per_node: f64,
    /// Process CPU seconds.
    pub cpu_s: f64,
    /// The bare baseline's p99, ms (NaN: none).
    pub bare_p99_ms: f64,
    /// The bare baseline's memory per node, MiB (NaN: none).
    pub bare_mib_per_node: f64,
    /// The bare baseline's CPU seconds (NaN: none).
    pub bare_cpu_s: f64,
}

/// Writes the scaling plot: latency, bytes, memory and CPU against N, with
/// the bare baseline in green where it ran.
pub fn write_scaling_plot(path: &Path, points: &[ScalePoint]) -> PlotResult {
    let root = SVGBackend::new(path, (1600, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 4));
    let x_max = points.iter().map(|p| p.nodes as f64).fold(10.0, f64::max) * 1.1;
    let xy = |f: &dyn Fn(&ScalePoint) -> f64| -> Vec<(f64, f64)> {
        points
            .iter()
            .map(|p| (p.nodes as f64, f(p)))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    let series: [Panel; 4] = [
        (
            "Latency p50 / p99 (bare p99 green)",
            "ms",
            xy(&|p| p.p50_ms),
            Some(xy(&|p| p.p99_ms)),
            xy(&|p| p.bare_p99_ms),
        ),
        (
            "Bytes per delivered entry",
            "bytes",
            xy(&|p| p.bytes_per_delivery),
            None,
            Vec::new(),
        ),
        (
            "Resident memory per node",
            "MiB",
            xy(&|p| p.mib_per_node),
            None,
            xy(&|p| p.bare_mib_per_node),
        ),
        ("Process CPU", "s", xy(&|p| p.cpu_s), None, xy(&|p| p.bare_cpu_s)),
    ];
    for (panel, (title, unit, main, second, bare)) in panels.iter().zip(series) {
        let y_max = main
            .iter()
            .chain(second.iter().flatten())
            .chain(bare.iter())
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(1.0f64, f64::max)
            * 1.2;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart.configure_mesh().x_desc("nodes").y_desc(unit).draw()?;
        let colored = [(main, BLUE), (second.unwrap_or_default(), RED), (bare, GREEN)];
        for (line, color) in colored {
            chart.draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?;
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
    }
    root.present()?;
    Ok(())
}
