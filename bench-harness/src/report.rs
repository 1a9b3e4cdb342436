//! The terminal table and the Markdown report of a results file.

use crate::record::{Kind, Results};
use crate::summary::{self, CollectorSummary, Ratios, Spread, Summary};
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

/// The throughput ratio: where enough repetitions pair up, the median of
/// the per-repetition ratios and its 95% interval, `1.02x [0.99-1.04]`;
/// otherwise the ratio of the medians. The baseline's own row is `1.00x`.
fn speed_ratio(s: &Summary, baseline: &str, r: Option<Ratios>) -> String {
    let Some(r) = r else {
        return ratio(None);
    };
    match r.ops_per_sec_paired {
        Some(i) if s.peer != baseline => {
            format!("{} [{:.2}-{:.2}]", ratio(Some(i.median)), i.low, i.high)
        }
        _ => ratio(r.ops_per_sec),
    }
}

/// The median of a figure the run may not have measured; `-` where it did not.
fn median(spread: Option<Spread>, show: impl Fn(f64) -> String) -> String {
    spread.map_or("-".into(), |s| show(s.median))
}

/// Median and range of a time in seconds.
fn seconds(s: Spread) -> String {
    format!("{:.2} ({:.2}-{:.2})", s.median, s.min, s.max)
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
fn rows(results: &Results, kind: Kind) -> Vec<Vec<String>> {
    let summaries = summary::summarize(&results.records);
    summaries
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s: &Summary| {
            let base = summary::baseline_for(results, kind, &s.workload);
            let r = summary::ratios(s, &summaries, &base);
            let ops = &s.ops_per_sec;
            vec![
                s.workload.clone(),
                s.peer.clone(),
                format!("{} ({}-{})", rate(ops.median), rate(ops.min), rate(ops.max)),
                speed_ratio(s, &base, r),
                median(s.p99_ns, us),
                median(s.max_pause_ns, us),
                mib(s.peak_rss.median),
                ratio(r.and_then(|r| r.peak_rss)),
                median(s.rss_per_live_byte, |v| format!("{v:.2}")),
                median(s.same_page_rate, |v| format!("{:.0}%", v * 100.0)),
            ]
        })
        .collect()
}

const CPU_TIMED_HEADER: [&str; 7] = [
    "workload",
    "peer",
    "CPU s (min-max)",
    "wall s (min-max)",
    "wall vs base",
    "peak MiB",
    "RSS vs base",
];

/// The runs whose throughput is over CPU time (`cpython`, where ops/s are
/// records per CPU second): their CPU and wall seconds.
fn cpu_timed_rows(results: &Results) -> Vec<Vec<String>> {
    let summaries = summary::summarize(&results.records);
    summaries
        .iter()
        .filter_map(|s| Some((s, s.cpu_seconds?)))
        .map(|(s, cpu)| {
            let r = summary::ratios(
                s,
                &summaries,
                &summary::baseline_for(results, s.kind, &s.workload),
            );
            vec![
                s.workload.clone(),
                s.peer.clone(),
                seconds(cpu),
                seconds(s.wall_seconds),
                ratio(r.and_then(|r| r.wall_seconds)),
                mib(s.peak_rss.median),
                ratio(r.and_then(|r| r.peak_rss)),
            ]
        })
        .collect()
}

/// `rows` under `header` with aligned columns, a blank line between workloads.
fn aligned(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let _ = writeln!(out, "{}", line(header));
    let mut last_workload = "";
    for row in rows {
        if row[0] != last_workload && !last_workload.is_empty() {
            out.push('\n');
        }
        last_workload = &row[0];
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells).trim_end());
    }
    out.push('\n');
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
        let base = summary::baseline_label(results, kind);
        let _ = writeln!(out, "{} runs (ratios against {base}):", kind_name(kind));
        aligned(&mut out, &HEADER, &rows(results, kind));
    }
    let cpu_timed = cpu_timed_rows(results);
    if !cpu_timed.is_empty() {
        let _ = writeln!(
            out,
            "CPU-timed runs (their ops/s above are per CPU second; `-`: not measured):"
        );
        aligned(&mut out, &CPU_TIMED_HEADER, &cpu_timed);
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
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            s.workload,
            s.peer,
            median(s.p999_ns, us),
            median(s.final_rss, mib),
            median(s.overhead_bytes_per_object, |v| format!("{v:.1}")),
            median(s.median_distance, |v| format!("{v:.0}")),
            median(s.walk_alloc_order_ns, |v| format!("{v:.2}")),
            median(s.walk_shuffled_ns, |v| format!("{v:.2}"))
        );
    }
    out.push('\n');
    let cpu_timed = cpu_timed_rows(results);
    if !cpu_timed.is_empty() {
        let _ = writeln!(
            out,
            "## CPU-timed runs\n\nThroughput over CPU seconds (user + system): on a shared machine \
             wall time also counts waiting for a core.\n\n| {} |\n|{}",
            CPU_TIMED_HEADER.join(" | "),
            "---|".repeat(CPU_TIMED_HEADER.len())
        );
        for row in cpu_timed {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out.push('\n');
    }
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

const CPU_TIMED_RATIO_COLUMNS: [RatioColumn; 1] = [("wall time", |r| r.wall_seconds)];

const COLLECTOR_RATIO_COLUMNS: [RatioColumn; 2] = [
    ("objects/collect-s", |r| r.objects_per_collect_sec),
    ("bytes/collect-s", |r| r.bytes_per_collect_sec),
];

/// One table per kind: every compared figure of every peer over the same
/// figure of the baseline peer of that workload.
fn ratio_tables(out: &mut String, results: &Results) {
    let summaries = summary::summarize(&results.records);
    for kind in kinds(results) {
        let label = summary::baseline_label(results, kind);
        let cpu_timed = summaries
            .iter()
            .any(|s| s.kind == kind && s.cpu_seconds.is_some());
        let columns: Vec<&RatioColumn> = match kind {
            Kind::Allocator if cpu_timed => RATIO_COLUMNS
                .iter()
                .chain(&CPU_TIMED_RATIO_COLUMNS)
                .collect(),
            Kind::Allocator => RATIO_COLUMNS.iter().collect(),
            Kind::Collector => RATIO_COLUMNS
                .iter()
                .chain(&COLLECTOR_RATIO_COLUMNS)
                .collect(),
        };
        let headings: Vec<&str> = columns.iter().map(|c| c.0).collect();
        let _ = writeln!(
            out,
            "## {} figures vs base ({label} = 1.00x)\n\n| workload | peer | {} |\n|{}",
            kind_name(kind),
            headings.join(" | "),
            "---|".repeat(2 + columns.len())
        );
        for s in summaries.iter().filter(|s| s.kind == kind) {
            let base = summary::baseline_for(results, kind, &s.workload);
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
    // The most repetitions any (workload, peer) had, and the fewest: the
    // default suite repeats `cpython` more than the rest.
    let summaries = summary::summarize(&results.records);
    let most = summaries.iter().map(|s| s.reps).max().unwrap_or(0);
    let fewest = summaries.iter().map(|s| s.reps).min().unwrap_or(0);
    let reps = if most == fewest {
        most.to_string()
    } else {
        format!("{fewest} to {most}")
    };
    let _ = writeln!(
        out,
        "{} runs, each in its own process; {reps} repetitions interleaved across peers; scale {scale}; \
         machine: {} cores, {} {}. Figures are medians (min-max over repetitions); \
         with six repetitions or more, \"speed vs base\" in the first tables is the median of the \
         ratios taken repetition by repetition, with its 95% interval [low-high]. \
         Every figure is also given as a ratio to the same figure of the baseline peer of the same \
         workload in the same run (the \"vs base\" tables; `-` where the baseline's figure is zero \
         or where a figure was not measured).\n",
        results.records.len(),
        results.machine.cores,
        results.machine.os,
        results.machine.arch
    );
    for kind in kinds(results) {
        let base = summary::baseline_label(results, kind);
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
         consecutive allocations on the same 4 KiB page. `cpython` runs a foreign program: its ops/s \
         are records per CPU second, and it has no pause, live-byte or locality figures (`-`).\n\n",
    );
    for plot in plots {
        let _ = writeln!(out, "![{plot}]({plot})\n");
    }
    out
}
