//! Every workload on every peer at a tiny scale, through the real runner
//! processes: each must finish, reclaim everything it allocated, and report
//! all four families of figures.

mod common;
use common::{bench, stderr};
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
            assert!(r.heap.peak_rss > 0 && r.heap.peak_live_bytes > 0, "{r:?}");
            assert!(r.pause.samples > 0, "{r:?}");
            assert!(r.locality.walk_alloc_order_ns > 0.0, "{r:?}");
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
