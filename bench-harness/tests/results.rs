//! The results schema round trip and `compare`'s verdicts.

use strata_bench::compare::{compare, parse_tolerance, Verdict};
use strata_bench::record::*;

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
        },
        pause: Pause {
            samples: 1,
            max_ns: 10,
            p99_ns: 9,
            p999_ns: 10,
            mean_ns: 5.0,
        },
        heap: Heap {
            start_rss: 1,
            peak_rss,
            final_rss: 2,
            peak_live_bytes: 3,
            peak_live_objects: 1,
            rss_per_live_byte: 1.5,
            overhead_bytes_per_object: 0.5,
        },
        locality: Locality {
            same_page_rate: 0.5,
            median_distance: 64,
            walk_alloc_order_ns: 1.0,
            walk_shuffled_ns: 2.0,
        },
        collector: Some(CollectorFigures {
            collections: 1,
            collect_seconds: 0.1,
            objects_reclaimed: 10,
            objects_per_collect_sec: 100.0,
            bytes_per_collect_sec: 1000.0,
            mmu: vec![(1.0, 0.5)],
        }),
        instructions,
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
        ],
    );
    results.save(&path).unwrap();
    assert_eq!(Results::load(&path).unwrap(), results);
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
