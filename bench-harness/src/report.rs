//! The terminal table and the Markdown report of a results file.

use crate::record::{Kind, Results};
use crate::summary::{self, CollectorSummary, Ratios, Summary};
use std::fmt::Write;

fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / (1024.0 * 1024.0))
}

/// A rate with an SI prefix: `1.23M`, `45.6k`, `789`.
fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k", per_sec / 1e3)
    } else {
        format!("{per_sec:.1}")
    }
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1000.0)
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}

const HEADER: [&str; 10] = [
    "workload",
    "peer",
    "ops/s (min-max)",
    "speed vs base",
    "p99 us",
    "max us",
    "peak MiB",
    "RSS vs base",
    "RSS/live",
    "same-page",
];

/// The rows of one kind, as cells.
fn rows(results: &Results, kind: Kind) -> Vec<[String; 10]> {
    let summaries = summary::summarize(&results.records);
    let base = summary::baseline_for(results, kind);
    summaries
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s: &Summary| {
            let r = summary::ratios(s, &summaries, &base);
            let ops = &s.ops_per_sec;
            [
                s.workload.clone(),
                s.peer.clone(),
                format!("{} ({}-{})", rate(ops.median), rate(ops.min), rate(ops.max)),
                ratio(r.and_then(|r| r.ops_per_sec)),
                us(s.p99_ns.median),
                us(s.max_pause_ns.median),
                mib(s.peak_rss.median),
                ratio(r.and_then(|r| r.peak_rss)),
                format!("{:.2}", s.rss_per_live_byte.median),
                format!("{:.0}%", s.same_page_rate.median * 100.0),
            ]
        })
        .collect()
}

fn kinds(results: &Results) -> Vec<Kind> {
    [Kind::Allocator, Kind::Collector]
        .into_iter()
        .filter(|k| results.records.iter().any(|r| r.kind == *k))
        .collect()
}

/// A plain-text table with aligned columns.
pub fn terminal_table(results: &Results) -> String {
    let mut out = String::new();
    for kind in kinds(results) {
        let rows = rows(results, kind);
        let mut widths = HEADER.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let base = summary::baseline_for(results, kind);
        let _ = writeln!(out, "{} runs (ratios against {base}):", kind_name(kind));
        let line = |cells: &[&str]| {
            cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let _ = writeln!(out, "{}", line(&HEADER));
        let mut last_workload = String::new();
        for row in &rows {
            if row[0] != last_workload && !last_workload.is_empty() {
                out.push('\n');
            }
            last_workload = row[0].clone();
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            let _ = writeln!(out, "{}", line(&cells).trim_end());
        }
        out.push('\n');
    }
    out
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Allocator => "Allocator",
        Kind::Collector => "Collector",
    }
}

/// Windows of the utilisation curve shown in the table (the plots show all).
const TABLE_MMU_WINDOWS_MS: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];

/// The points of a utilisation curve the table shows.
fn table_mmu(c: &CollectorSummary) -> impl Iterator<Item = &(f64, f64)> {
    c.mmu
        .iter()
        .filter(|(w, _)| TABLE_MMU_WINDOWS_MS.contains(w))
}

/// The figures the main tables leave out: heap and locality details for
/// every run, collection throughput and mutator utilisation for collectors.
fn details(out: &mut String, results: &Results) {
    let summaries = summary::summarize(&results.records);
    let _ = writeln!(
        out,
        "## Heap and locality details\n\n| workload | peer | p99.9 us | final MiB | overhead B/object | \
         median distance B | walk in order ns/node | walk shuffled ns/node |\n|---|---|---|---|---|---|---|---|"
    );
    for s in &summaries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.0} | {:.2} | {:.2} |",
            s.workload,
            s.peer,
            us(s.p999_ns.median),
            mib(s.final_rss.median),
            s.overhead_bytes_per_object.median,
            s.median_distance.median,
            s.walk_alloc_order_ns.median,
            s.walk_shuffled_ns.median
        );
    }
    out.push('\n');
    let collected: Vec<_> = summaries
        .iter()
        .filter_map(|s| s.collector.as_ref().map(|c| (s, c)))
        .collect();
    if collected.is_empty() {
        return;
    }
    let windows: Vec<String> = table_mmu(collected[0].1)
        .map(|(w, _)| format!("MMU {w} ms"))
        .collect();
    let _ = writeln!(
        out,
        "## Collections\n\n| workload | peer | collections | collect s | objects/collect-s | MB/collect-s | {} |\n|{}",
        windows.join(" | "),
        "---|".repeat(6 + windows.len())
    );
    for (s, c) in collected {
        let mmu: Vec<String> = table_mmu(c).map(|(_, u)| format!("{u:.2}")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.3} | {} | {:.1} | {} |",
            s.workload,
            s.peer,
            c.collections,
            c.collect_seconds,
            rate(c.objects_per_collect_sec),
            c.bytes_per_collect_sec / 1e6,
            mmu.join(" | ")
        );
    }
    out.push('\n');
}

/// Columns of the ratio tables: heading and the ratio shown.
type RatioColumn = (&'static str, fn(&Ratios) -> Option<f64>);

const RATIO_COLUMNS: [RatioColumn; 12] = [
    ("ops/s", |r| r.ops_per_sec),
    ("p99", |r| r.p99_ns),
    ("p99.9", |r| r.p999_ns),
    ("max pause", |r| r.max_pause_ns),
    ("peak RSS", |r| r.peak_rss),
    ("final RSS", |r| r.final_rss),
    ("RSS/live", |r| r.rss_per_live_byte),
    ("overhead B/object", |r| r.overhead_bytes_per_object),
    ("same-page", |r| r.same_page_rate),
    ("median distance", |r| r.median_distance),
    ("walk in order", |r| r.walk_alloc_order_ns),
    ("walk shuffled", |r| r.walk_shuffled_ns),
];

const COLLECTOR_RATIO_COLUMNS: [RatioColumn; 2] = [
    ("objects/collect-s", |r| r.objects_per_collect_sec),
    ("bytes/collect-s", |r| r.bytes_per_collect_sec),
];

/// One table per kind: every compared figure of every peer over the same
/// figure of the baseline peer of that workload.
fn ratio_tables(out: &mut String, results: &Results) {
    let summaries = summary::summarize(&results.records);
    for kind in kinds(results) {
        let base = summary::baseline_for(results, kind);
        let columns: Vec<&RatioColumn> = match kind {
            Kind::Allocator => RATIO_COLUMNS.iter().collect(),
            Kind::Collector => RATIO_COLUMNS
                .iter()
                .chain(&COLLECTOR_RATIO_COLUMNS)
                .collect(),
        };
        let headings: Vec<&str> = columns.iter().map(|c| c.0).collect();
        let _ = writeln!(
            out,
            "## {} figures vs base ({base} = 1.00x)\n\n| workload | peer | {} |\n|{}",
            kind_name(kind),
            headings.join(" | "),
            "---|".repeat(2 + columns.len())
        );
        for s in summaries.iter().filter(|s| s.kind == kind) {
            let r = summary::ratios(s, &summaries, &base);
            let cells: Vec<String> = columns
                .iter()
                .map(|c| ratio(r.as_ref().and_then(c.1)))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                s.workload,
                s.peer,
                cells.join(" | ")
            );
        }
        out.push('\n');
    }
}

/// The Markdown report: how it was run, then one table per kind, then the
/// plots.
pub fn markdown(results: &Results, plots: &[String]) -> String {
    let mut out = String::from("# strata-bench results\n\n");
    let scale = results.records.first().map_or(1.0, |r| r.scale);
    let reps = results.records.iter().map(|r| r.rep + 1).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "{} runs, each in its own process; {reps} repetitions interleaved across peers; scale {scale}; \
         machine: {} cores, {} {}. Figures are medians (min-max over repetitions). \
         Every figure is also given as a ratio to the same figure of the baseline peer of the same \
         workload in the same run (the \"vs base\" tables; `-` where the baseline's figure is zero).\n",
        results.records.len(),
        results.machine.cores,
        results.machine.os,
        results.machine.arch
    );
    for kind in kinds(results) {
        let base = summary::baseline_for(results, kind);
        let _ = writeln!(out, "## {} workloads (baseline: {base})\n", kind_name(kind));
        let _ = writeln!(out, "| {} |", HEADER.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(HEADER.len()));
        for row in rows(results, kind) {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out.push('\n');
    }
    details(&mut out, results);
    ratio_tables(&mut out, results);
    out.push_str(
        "Columns: operations per second; sampled single-operation latency (allocators) or \
         collection and 64-operation mutator batch times (collectors), p99 and max; peak resident \
         memory of the child process; peak RSS growth over the workload's peak live bytes; share of \
         consecutive allocations on the same 4 KiB page.\n\n",
    );
    for plot in plots {
        let _ = writeln!(out, "![{plot}]({plot})\n");
    }
    out
}
