//! SVG plots: per kind, the speed and the peak-RSS ratio of every peer to
//! the baseline, one group of bars per workload.

use crate::record::{Kind, Results};
use crate::summary::{self, Ratios, Summary};
use plotters::coord::CoordTranslate;
use plotters::prelude::*;
use std::path::Path;

/// Bar colours, one per peer in order of appearance.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// A plot's file name part, its caption, and the ratio it shows.
type Figure = (&'static str, &'static str, fn(&Ratios) -> Option<f64>);

/// Writes the plots into `dir`; returns their file names.
pub fn write_plots(results: &Results, dir: &Path) -> Result<Vec<String>, String> {
    let summaries = summary::summarize(&results.records);
    let mut written = Vec::new();
    for (kind, prefix) in [
        (Kind::Allocator, "allocators"),
        (Kind::Collector, "collectors"),
    ] {
        let of_kind: Vec<&Summary> = summaries.iter().filter(|s| s.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let base = summary::baseline_label(results, kind);
        let figures: [Figure; 2] = [
            ("speed", "throughput / baseline (higher is faster)", |r| {
                r.ops_per_sec
            }),
            ("peak-rss", "peak RSS / baseline (lower is leaner)", |r| {
                r.peak_rss
            }),
        ];
        for (name, caption, pick) in figures {
            let file = format!("{prefix}-{name}.svg");
            let title = format!("{prefix}: {caption}, baseline {base}");
            bars(
                results,
                &of_kind,
                &summaries,
                pick,
                &title,
                &dir.join(&file),
            )
            .map_err(|e| format!("cannot draw {file}: {e}"))?;
            written.push(file);
        }
    }
    let mut collector_workloads: Vec<&str> = Vec::new();
    for s in summaries.iter().filter(|s| s.collector.is_some()) {
        if !collector_workloads.contains(&s.workload.as_str()) {
            collector_workloads.push(&s.workload);
        }
    }
    for workload in collector_workloads {
        let file = format!("mmu-{workload}.svg");
        mmu_curves(&summaries, workload, &dir.join(&file))
            .map_err(|e| format!("cannot draw {file}: {e}"))?;
        written.push(file);
    }
    Ok(written)
}

/// Minimum mutator utilisation against window length, one line per
/// collector: how much of any window of that length the program got to run.
fn mmu_curves(
    summaries: &[Summary],
    workload: &str,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let curves: Vec<(&str, &[(f64, f64)])> = summaries
        .iter()
        .filter(|s| s.workload == workload)
        .filter_map(|s| {
            s.collector
                .as_ref()
                .map(|c| (s.peer.as_str(), c.mmu.as_slice()))
        })
        .filter(|(_, mmu)| !mmu.is_empty())
        .collect();
    let (Some(first), Some(last)) = (
        curves
            .iter()
            .filter_map(|c| c.1.first())
            .map(|p| p.0)
            .reduce(f64::min),
        curves
            .iter()
            .filter_map(|c| c.1.last())
            .map(|p| p.0)
            .reduce(f64::max),
    ) else {
        return Ok(());
    };
    let root = SVGBackend::new(path, (700, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{workload}: minimum mutator utilisation"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((first..last).log_scale(), 0f64..1.05)?;
    chart
        .configure_mesh()
        .x_desc("window (ms)")
        .y_desc("utilisation")
        .draw()?;
    for (i, (peer, mmu)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(mmu.iter().copied(), colour.stroke_width(2)))?
            .label(*peer)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 12, y)], colour.stroke_width(2))
            });
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

fn bars(
    results: &Results,
    of_kind: &[&Summary],
    all: &[Summary],
    pick: fn(&Ratios) -> Option<f64>,
    title: &str,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut workloads: Vec<&str> = Vec::new();
    let mut peers: Vec<&str> = Vec::new();
    for s in of_kind {
        if !workloads.contains(&s.workload.as_str()) {
            workloads.push(&s.workload);
        }
        if !peers.contains(&s.peer.as_str()) {
            peers.push(&s.peer);
        }
    }
    let value = |w: &str, p: &str| {
        of_kind
            .iter()
            .find(|s| s.workload == w && s.peer == p)
            .and_then(|s| summary::ratios(s, all, &summary::baseline_for(results, s.kind, w)))
            .and_then(|r| pick(&r))
            .filter(|v| v.is_finite())
    };
    let values: Vec<f64> = workloads
        .iter()
        .flat_map(|w| peers.iter().filter_map(move |p| value(w, p)))
        .filter(|v| *v > 0.0)
        .collect();
    // A log scale around 1.0 shows 0.5x and 2x as equally far from the
    // baseline, and keeps a 300x outlier (bump's memory) from flattening
    // every other bar.
    let top = values.iter().copied().fold(1.0f64, f64::max) * 1.3;
    let bottom = values.iter().copied().fold(1.0f64, f64::min) / 1.3;
    let width = 160 + 90 * workloads.len() as u32;
    let root = SVGBackend::new(path, (width.max(700), 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..workloads.len() as f64, (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_label_formatter(&|y| format!("{y:.2}x"))
        .x_labels(workloads.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.01 {
                workloads.get(i).map_or(String::new(), |w| w.to_string())
            } else {
                String::new()
            }
        })
        .draw()?;
    let slot = 0.8 / peers.len() as f64;
    for (pi, peer) in peers.iter().enumerate() {
        let colour = COLOURS[pi % COLOURS.len()];
        let rects: Vec<Rectangle<(f64, f64)>> = workloads
            .iter()
            .enumerate()
            .filter_map(|(wi, w)| {
                let v = value(w, peer)?;
                let x = wi as f64 + 0.1 + pi as f64 * slot;
                Some(Rectangle::new(
                    [(x, 0.0), (x + slot * 0.9, v)],
                    colour.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(rects)?
            .label(*peer)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 1.0), (workloads.len() as f64, 1.0)],
        BLACK.stroke_width(1),
    )))?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}

/// The legend box every plot has, at `position`.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()?;
    Ok(())
}
