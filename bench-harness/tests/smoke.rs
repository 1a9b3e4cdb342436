//! Every workload on every peer at a tiny scale, through the real runner
//! processes: each must finish, reclaim everything it allocated, and report
//! all four families of figures.

mod common;
use common::{bench, bench_with_env, have, stderr, strata_library};
use std::path::Path;
use strata_bench::cpython::STRATA_LIBRARY_VAR;
use strata_bench::record::{Kind, Results};

fn run_json(args: &[&str]) -> Results {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let mut all = args.to_vec();
    all.extend([
        "--reps",
        "1",
        "--walk-nodes",
        "100",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    let out = bench(&all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    Results::load(&json).unwrap()
}

#[test]
fn every_allocator_workload_runs_on_every_allocator() {
    for workload in strata_bench::workloads::WORKLOADS {
        let allocators: Vec<&str> = strata_bench::peers::built_allocators()
            .map(|a| a.name)
            .filter(|&a| workload.never_free_fits || a != "bump")
            .collect();
        let results = run_json(&[
            "run",
            "--workload",
            workload.name,
            "--allocator",
            &allocators.join(","),
            "--scale",
            "0.002",
        ]);
        assert_eq!(results.records.len(), allocators.len(), "{}", workload.name);
        assert_eq!(results.ratios.len(), allocators.len(), "{}", workload.name);
        for r in &results.ratios {
            assert_eq!(r.baseline, "system", "{r:?}");
            assert!(r.ratios.ops_per_sec.is_some_and(|x| x > 0.0), "{r:?}");
            assert!(
                r.peer != "system" || r.ratios.peak_rss == Some(1.0),
                "{r:?}"
            );
        }
        for r in &results.records {
            assert_eq!(r.kind, Kind::Allocator);
            assert!(
                r.throughput.ops > 0 && r.throughput.ops_per_sec > 0.0,
                "{r:?}"
            );
            assert!(
                r.heap.peak_rss > 0 && r.heap.peak_live_bytes.is_some_and(|b| b > 0),
                "{r:?}"
            );
            assert!(r.pause.as_ref().is_some_and(|p| p.samples > 0), "{r:?}");
            assert!(
                r.locality
                    .as_ref()
                    .is_some_and(|l| l.walk_alloc_order_ns > 0.0),
                "{r:?}"
            );
        }
    }
}

#[test]
fn every_collector_workload_runs_on_every_collector_that_can_run_it() {
    for workload in strata_bench::gc_workloads::GC_WORKLOADS {
        let collectors: Vec<&str> = strata_bench::collectors::COLLECTORS
            .iter()
            .filter(|c| c.collects_cycles || workload.acyclic)
            .map(|c| c.name)
            .collect();
        let results = run_json(&[
            "run",
            "--workload",
            workload.name,
            "--collector",
            &collectors.join(","),
            "--scale",
            "0.002",
        ]);
        assert_eq!(results.records.len(), collectors.len(), "{}", workload.name);
        for r in &results.records {
            let figures = r.collector.as_ref().expect("collector figures");
            assert!(figures.collections > 0, "{r:?}");
            assert!(figures.objects_reclaimed > 0, "{r:?}");
            assert_eq!(
                figures.mmu.len(),
                strata_bench::metrics::pause::MMU_WINDOWS_MS.len()
            );
        }
    }
}

/// `run --workload cpython` on `peers` at a tiny scale, with `library` as
/// strata's; the results and what the harness printed on stderr.
fn run_cpython(peers: &str, reps: &str, library: &Path) -> (Results, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = bench_with_env(
        &[
            "run",
            "--workload",
            "cpython",
            "--allocator",
            peers,
            "--scale",
            "0.05",
            "--reps",
            reps,
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ],
        &[(STRATA_LIBRARY_VAR, library)],
    );
    assert!(out.status.success(), "{peers}: {}", stderr(&out));
    (Results::load(&json).unwrap(), stderr(&out))
}

#[test]
fn cpython_runs_on_pymalloc_glibc_and_strata_with_one_checksum() {
    if !have("python3") {
        return;
    }
    let (results, _) = run_cpython("pymalloc,system,strata", "2", &strata_library());
    assert_eq!(results.records.len(), 6);
    let checksum = results.records[0].checksum;
    for r in &results.records {
        assert_eq!(r.kind, Kind::Allocator);
        assert!(checksum.is_some() && r.checksum == checksum, "{r:?}");
        let cpu = r.throughput.cpu_seconds.expect("CPU seconds");
        assert!(cpu > 0.0 && r.throughput.seconds > 0.0, "{r:?}");
        assert!(
            r.throughput.ops_per_sec > 0.0 && r.heap.peak_rss > 0,
            "{r:?}"
        );
        // What objects.py cannot report is absent, not zero.
        assert!(r.pause.is_none() && r.locality.is_none(), "{r:?}");
        assert!(r.heap.peak_live_bytes.is_none() && r.heap.final_rss.is_none());
    }
    assert_eq!(results.ratios.len(), 3);
    for r in &results.ratios {
        assert_eq!(r.baseline, "pymalloc", "{r:?}");
        let figures = [
            r.ratios.ops_per_sec,
            r.ratios.wall_seconds,
            r.ratios.peak_rss,
        ];
        assert!(figures.iter().all(|f| f.is_some_and(|x| x > 0.0)), "{r:?}");
        if r.peer == "pymalloc" {
            assert_eq!(figures, [Some(1.0); 3]);
        }
        assert_eq!((r.ratios.p99_ns, r.ratios.same_page_rate), (None, None));
    }
}

#[test]
fn cpython_skips_a_peer_whose_library_is_missing_with_one_line() {
    if !have("python3") {
        return;
    }
    let missing = Path::new("/nonexistent/libstrata.so");
    let (results, stderr) = run_cpython("pymalloc,strata", "1", missing);
    let skips: Vec<&str> = stderr.lines().filter(|l| l.contains("skipping")).collect();
    assert_eq!(skips.len(), 1, "{stderr}");
    assert!(
        skips[0].contains("strata") && skips[0].contains("/nonexistent/libstrata.so"),
        "{stderr}"
    );
    let peers: Vec<&str> = results.records.iter().map(|r| r.peer.as_str()).collect();
    assert_eq!(peers, ["pymalloc"]);
}
