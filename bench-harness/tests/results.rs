//! The results schema round trip and `compare`'s verdicts.

use strata_bench::compare::{compare, parse_tolerance, Verdict};
use strata_bench::record::*;
use strata_bench::summary::ratio_records;

fn record(peer: &str, ops_per_sec: f64, peak_rss: u64, instructions: Option<u64>) -> Record {
    Record {
        workload: "tree".into(),
        kind: Kind::Allocator,
        peer: peer.into(),
        allocator: peer.into(),
        threads: 1,
        scale: 1.0,
        rep: 0,
        throughput: Throughput {
            ops: 100,
            seconds: 1.0,
            ops_per_sec,
            cpu_seconds: None,
        },
        pause: Some(Pause {
            samples: 1,
            max_ns: 10,
            p99_ns: 9,
            p999_ns: 10,
            mean_ns: 5.0,
        }),
        heap: Heap {
            start_rss: Some(1),
            peak_rss,
            final_rss: Some(2),
            peak_live_bytes: Some(3),
            peak_live_objects: Some(1),
            rss_per_live_byte: Some(1.5),
            overhead_bytes_per_object: Some(0.5),
        },
        locality: Some(Locality {
            same_page_rate: 0.5,
            median_distance: 64,
            walk_alloc_order_ns: 1.0,
            walk_shuffled_ns: 2.0,
        }),
        collector: Some(CollectorFigures {
            collections: 1,
            collect_seconds: 0.1,
            objects_reclaimed: 10,
            objects_per_collect_sec: 100.0,
            bytes_per_collect_sec: 1000.0,
            mmu: vec![(1.0, 0.5)],
        }),
        instructions,
        checksum: None,
    }
}

#[test]
fn results_survive_a_json_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/results.json");
    let results = Results::new(
        "system",
        vec![
            record("system", 1e6, 100, Some(42)),
            record("bump", 2e6, 50, None),
            python_run("pymalloc", 1.0, 2.0, 7),
        ],
    );
    let mut results = results;
    results.ratios = ratio_records(&results);
    assert_eq!(results.ratios.len(), 3);
    results.save(&path).unwrap();
    assert_eq!(Results::load(&path).unwrap(), results);
}

#[test]
fn a_file_without_ratios_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.json");
    let results = Results::new("system", vec![record("system", 1e6, 100, Some(42))]);
    results.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("\"ratios\""), "{text}");
    assert_eq!(Results::load(&path).unwrap(), results);
}

/// `record` with every compared figure multiplied by `f`, as repetition `rep`.
fn scaled(peer: &str, kind: Kind, rep: usize, f: f64) -> Record {
    let mut r = record(
        peer,
        1000.0 * f,
        (1000.0 * f) as u64,
        Some((100.0 * f) as u64),
    );
    r.kind = kind;
    r.workload = match kind {
        Kind::Allocator => "tree".into(),
        Kind::Collector => "cycles".into(),
    };
    r.rep = rep;
    r.pause = Some(Pause {
        samples: 10,
        max_ns: (400.0 * f) as u64,
        p99_ns: (100.0 * f) as u64,
        p999_ns: (200.0 * f) as u64,
        mean_ns: 1.0,
    });
    r.heap.final_rss = Some((500.0 * f) as u64);
    r.heap.rss_per_live_byte = Some(1.5 * f);
    r.heap.overhead_bytes_per_object = Some(16.0 * f);
    r.locality = Some(Locality {
        same_page_rate: 0.4 * f,
        median_distance: (64.0 * f) as u64,
        walk_alloc_order_ns: 2.0 * f,
        walk_shuffled_ns: 8.0 * f,
    });
    let c = r.collector.as_mut().unwrap();
    c.objects_per_collect_sec = 1e6 * f;
    c.bytes_per_collect_sec = 3e7 * f;
    if kind == Kind::Allocator {
        r.collector = None;
    }
    r
}

fn all_figures(r: &Ratios) -> Vec<Option<f64>> {
    vec![
        r.ops_per_sec,
        r.p99_ns,
        r.p999_ns,
        r.max_pause_ns,
        r.peak_rss,
        r.final_rss,
        r.rss_per_live_byte,
        r.overhead_bytes_per_object,
        r.same_page_rate,
        r.median_distance,
        r.walk_alloc_order_ns,
        r.walk_shuffled_ns,
        r.instructions,
    ]
}

#[test]
fn every_figure_is_a_ratio_to_the_baseline_of_its_workload() {
    // Medians: system 1, strata 2 (reps 1.5, 2, 4), bump 0.5; gcmodule 1,
    // strata-gc 4 (reps 4, 4).
    let mut results = Results::new(
        "system",
        vec![
            scaled("strata", Kind::Allocator, 0, 1.5),
            scaled("system", Kind::Allocator, 0, 1.0),
            scaled("bump", Kind::Allocator, 0, 0.5),
            scaled("strata", Kind::Allocator, 1, 2.0),
            scaled("strata", Kind::Allocator, 2, 4.0),
            scaled("strata-gc", Kind::Collector, 0, 4.0),
            scaled("gcmodule", Kind::Collector, 0, 1.0),
            scaled("strata-gc", Kind::Collector, 1, 4.0),
        ],
    );
    results.ratios = ratio_records(&results);
    let find = |peer: &str| {
        results
            .ratios
            .iter()
            .find(|r| r.peer == peer)
            .unwrap_or_else(|| panic!("no ratios for {peer}"))
    };
    let close = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 1e-9);
    for (peer, baseline, want) in [
        ("strata", "system", 2.0),
        ("system", "system", 1.0),
        ("bump", "system", 0.5),
        ("strata-gc", "gcmodule", 4.0),
        ("gcmodule", "gcmodule", 1.0),
    ] {
        let r = find(peer);
        assert_eq!(r.baseline, baseline);
        for (i, got) in all_figures(&r.ratios).into_iter().enumerate() {
            assert!(close(got, want), "{peer} figure {i}: {got:?}, want {want}");
        }
        let collector = [
            r.ratios.objects_per_collect_sec,
            r.ratios.bytes_per_collect_sec,
        ];
        if r.kind == Kind::Collector {
            assert!(
                collector.iter().all(|c| close(*c, want)),
                "{peer}: {collector:?}"
            );
        } else {
            assert_eq!(collector, [None, None]);
        }
    }
    assert_eq!(results.ratios.len(), 5);
    let report = strata_bench::report::markdown(&results, &[]);
    assert!(
        report.contains("## Allocator figures vs base (system = 1.00x)"),
        "{report}"
    );
    let cells = ["2.00x"; 12].join(" | ");
    assert!(
        report.contains(&format!("| tree | strata | {cells} |")),
        "{report}"
    );
    let cells = ["4.00x"; 14].join(" | ");
    assert!(
        report.contains(&format!("| cycles | strata-gc | {cells} |")),
        "{report}"
    );
}

#[test]
fn a_figure_the_baseline_lacks_has_no_ratio() {
    let mut base = scaled("system", Kind::Allocator, 0, 1.0);
    base.pause.as_mut().unwrap().max_ns = 0;
    let results = Results::new(
        "system",
        vec![base, scaled("strata", Kind::Allocator, 0, 2.0)],
    );
    let strata = &ratio_records(&results)[1];
    assert_eq!(strata.ratios.max_pause_ns, None);
    assert_eq!(strata.ratios.ops_per_sec, Some(2.0));
    // The chosen baseline not measured: the first peer of the kind serves.
    let alone = Results::new("system", vec![scaled("strata", Kind::Allocator, 0, 2.0)]);
    assert_eq!(ratio_records(&alone)[0].baseline, "strata");
}

/// A `cpython` run: `cpu` and `wall` seconds for 1000 records, peak RSS
/// 1 MiB times `cpu`.
fn python_run(peer: &str, cpu: f64, wall: f64, checksum: u64) -> Record {
    let params = strata_bench::workloads::Params {
        scale: 1.0,
        threads: 1,
        seed: 1,
    };
    let report = strata_bench::cpython::Report {
        wall_seconds: wall,
        cpu_seconds: cpu,
        peak_rss_kib: (1024.0 * cpu) as u64,
        checksum,
    };
    strata_bench::cpython::record(peer, &params, 1000, report)
}

#[test]
fn cpython_is_compared_with_pymalloc_and_has_no_unmeasured_ratios() {
    let records = vec![
        scaled("system", Kind::Allocator, 0, 1.0),
        scaled("strata", Kind::Allocator, 0, 2.0),
        python_run("pymalloc", 1.0, 1.5, 7),
        python_run("system", 2.0, 6.0, 7),
        python_run("strata", 0.5, 3.0, 7),
    ];
    let mut results = Results::new("system", records.clone());
    results
        .workload_baselines
        .insert("cpython".into(), "pymalloc".into());
    let ratios = ratio_records(&results);
    let find = |workload: &str, peer: &str| {
        ratios
            .iter()
            .find(|r| r.workload == workload && r.peer == peer)
            .unwrap()
    };
    assert_eq!(find("tree", "strata").baseline, "system");
    let strata = find("cpython", "strata");
    assert_eq!(strata.baseline, "pymalloc");
    // Half the CPU time of pymalloc: twice the records per CPU second.
    assert_eq!(strata.ratios.ops_per_sec, Some(2.0));
    assert_eq!(strata.ratios.wall_seconds, Some(2.0));
    assert_eq!(strata.ratios.peak_rss, Some(0.5));
    assert_eq!(
        (strata.ratios.p99_ns, strata.ratios.final_rss),
        (None, None)
    );
    assert_eq!(
        (
            strata.ratios.same_page_rate,
            strata.ratios.rss_per_live_byte
        ),
        (None, None)
    );
    // Wall time is a figure of its own only where throughput is over CPU time.
    assert_eq!(find("tree", "strata").ratios.wall_seconds, None);

    let table = strata_bench::report::terminal_table(&results);
    assert!(
        table.contains("Allocator runs (ratios against system; cpython against pymalloc)"),
        "{table}"
    );
    assert!(table.contains("CPU-timed runs"), "{table}");
    let markdown = strata_bench::report::markdown(&results, &[]);
    assert!(
        markdown.contains("| cpython | strata | 2.00x | - | - | - | 0.50x | - |"),
        "{markdown}"
    );

    // A --baseline named on the command line holds for cpython too.
    let explicit = Results::new("system", records);
    let strata = ratio_records(&explicit)
        .into_iter()
        .find(|r| r.workload == "cpython" && r.peer == "strata")
        .unwrap();
    assert_eq!(strata.baseline, "system");
    assert_eq!(strata.ratios.ops_per_sec, Some(4.0));
}

/// Repetitions whose machine speed drifts by up to 40%: strata is 5% faster
/// than the baseline in every repetition, which the medians of the two
/// peers' runs hide and the paired ratios find.
#[test]
fn paired_ratios_see_through_drift_between_repetitions() {
    let drift = [1.0, 1.4, 0.8, 1.2, 0.9, 1.3, 1.1];
    let mut records = Vec::new();
    for (rep, d) in drift.iter().enumerate() {
        records.push(scaled("system", Kind::Allocator, rep, *d));
        records.push(scaled("strata", Kind::Allocator, rep, d * 1.05));
    }
    let results = Results::new("system", records.clone());
    let strata = ratio_records(&results)
        .into_iter()
        .find(|r| r.peer == "strata")
        .unwrap();
    let paired = strata.ratios.ops_per_sec_paired.unwrap();
    assert_eq!(paired.pairs, 7);
    for x in [paired.low, paired.median, paired.high] {
        assert!((x - 1.05).abs() < 1e-9, "{paired:?}");
    }
    let table = strata_bench::report::terminal_table(&results);
    assert!(table.contains("1.05x [1.05-1.05]"), "{table}");

    // Three repetitions: too few for an interval, so no pairs and no brackets.
    let few: Vec<Record> = records.into_iter().filter(|r| r.rep < 3).collect();
    let results = Results::new("system", few);
    let strata = ratio_records(&results)
        .into_iter()
        .find(|r| r.peer == "strata")
        .unwrap();
    assert_eq!(strata.ratios.ops_per_sec_paired, None);
    assert!(!strata_bench::report::terminal_table(&results).contains('['));
}

#[test]
fn a_file_of_another_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.json");
    let mut results = Results::new("system", vec![]);
    results.schema = 99;
    results.save(&path).unwrap();
    let error = Results::load(&path).unwrap_err().to_string();
    assert!(error.contains("schema 99"), "{error}");
}

#[test]
fn tolerance_parses_percentages() {
    assert_eq!(parse_tolerance("5%"), Ok(0.05));
    assert_eq!(parse_tolerance("2.5"), Ok(0.025));
    assert!(parse_tolerance("-1%").is_err());
    assert!(parse_tolerance("five").is_err());
}

fn verdicts(base: Vec<Record>, new: Vec<Record>, tolerance: f64) -> Vec<(&'static str, Verdict)> {
    let c = compare(
        &Results::new("system", base),
        &Results::new("system", new),
        tolerance,
    );
    c.changes.iter().map(|c| (c.figure, c.verdict)).collect()
}

#[test]
fn slower_or_bigger_beyond_tolerance_regresses() {
    let v = verdicts(
        vec![record("system", 100.0, 1000, None)],
        vec![record("system", 90.0, 1200, None)],
        0.05,
    );
    assert_eq!(
        v,
        [
            ("ops/s", Verdict::Regressed),
            ("peak RSS", Verdict::Regressed)
        ]
    );
}

#[test]
fn faster_and_leaner_improves_and_small_moves_are_unchanged() {
    let v = verdicts(
        vec![record("system", 100.0, 1000, None)],
        vec![record("system", 120.0, 990, None)],
        0.05,
    );
    assert_eq!(
        v,
        [
            ("ops/s", Verdict::Improved),
            ("peak RSS", Verdict::Unchanged)
        ]
    );
}

#[test]
fn instruction_counts_alone_decide_when_both_files_have_them() {
    let base = vec![record("system", 100.0, 1000, Some(1_000_000))];
    let more = vec![record("system", 1.0, 9999, Some(1_030_000))];
    assert_eq!(
        verdicts(base.clone(), more, 0.02),
        [("instructions", Verdict::Regressed)]
    );
    let same = vec![record("system", 1.0, 9999, Some(1_010_000))];
    assert_eq!(
        verdicts(base, same, 0.02),
        [("instructions", Verdict::Unchanged)]
    );
}

#[test]
fn peers_in_one_file_only_are_listed_not_judged() {
    let c = compare(
        &Results::new("system", vec![record("system", 1.0, 1, None)]),
        &Results::new("system", vec![record("bump", 1.0, 1, None)]),
        0.05,
    );
    assert!(c.changes.is_empty() && !c.regressed());
    assert_eq!(c.only_in_base, ["tree / system"]);
    assert_eq!(c.only_in_new, ["tree / bump"]);
}
