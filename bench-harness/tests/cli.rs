//! The command line: listing, bad input (one line, exit status 2), and a
//! run that writes a results file `report` and `compare` read back.

mod common;
use common::{bench, stderr, stdout};

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = bench(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?} printed more than one line: {err}"
    );
    assert!(err.contains(needle), "{args:?}: {err}");
}

#[test]
fn list_names_every_workload_and_peer() {
    let out = bench(&["list"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for name in [
        "small-churn",
        "tree",
        "mixed-sizes",
        "xthread",
        "larson",
        "realloc-grow",
        "list-grow",
        "fragmentation",
        "cpython-mix",
        "buffers",
        "large-churn",
        "cpython",
        "pymalloc",
        "acyclic-churn",
        "cycles",
        "big-live-heap",
        "doubly-linked-list",
        "graph",
        "system",
        "mimalloc",
        "jemalloc",
        "rpmalloc",
        "bump",
        "snmalloc",
        "gcmodule",
        "bacon-rajan-cc",
        "dumpster",
        "rust-cc",
        "rc",
    ] {
        assert!(text.contains(name), "list lacks {name}");
    }
}

/// Command lines that must be refused, and a part of the message each gives.
const BAD_INPUT: &[(&str, &str)] = &[
    ("--bogus", "--bogus"),
    (
        "run --workload nope --allocator system",
        "unknown workload 'nope'",
    ),
    (
        "run --workload tree --allocator nope",
        "unknown allocator 'nope'",
    ),
    (
        "run --workload cycles --collector nope",
        "unknown collector 'nope'",
    ),
    ("run --workload cycles --collector rc", "cannot reclaim"),
    (
        "run --workload tree --allocator system --scale 0",
        "--scale",
    ),
    ("run --workload tree --allocator system --reps x", "--reps"),
    (
        "run --workload realloc-grow --allocator bump",
        "never frees",
    ),
    (
        "run --workload tree --allocator pymalloc",
        "only the cpython workload runs on it",
    ),
    (
        "run --workload cpython --allocator pymalloc,nope",
        "unknown allocator 'nope'",
    ),
    (
        "run --workload cpython --allocator rpmalloc",
        "not on rpmalloc",
    ),
    (
        "run --workload cpython --collector rc",
        "allocator workload",
    ),
    (
        "run --workload tree --allocator system --baseline nope",
        "unknown baseline allocator 'nope'",
    ),
    (
        "ci --baseline /nonexistent/baseline.json",
        "cannot read /nonexistent/baseline.json",
    ),
    (
        "report /nonexistent/results.json",
        "cannot read /nonexistent/results.json",
    ),
    ("compare a.json b.json --tolerance lots", "bad tolerance"),
];

#[test]
fn bad_input_gives_one_line_and_status_2() {
    for (line, needle) in BAD_INPUT {
        let args: Vec<&str> = line.split_whitespace().collect();
        assert_usage_error(&args, needle);
    }
}

#[test]
fn unreadable_results_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.json");
    std::fs::write(&path, "{ not json").unwrap();
    assert_usage_error(&["report", path.to_str().unwrap()], "is not a results file");
}

#[test]
fn run_writes_results_that_report_and_compare_read() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = bench(&[
        "run",
        "--workload",
        "small-churn",
        "--allocator",
        "system,bump",
        "--scale",
        "0.002",
        "--reps",
        "2",
        "--walk-nodes",
        "100",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table.contains("small-churn") && table.contains("bump"),
        "{table}"
    );

    let results = strata_bench::record::Results::load(&json).unwrap();
    assert_eq!(results.records.len(), 4);
    assert!(results
        .records
        .iter()
        .any(|r| r.peer == "bump" && r.rep == 1));

    let report_dir = dir.path().join("report");
    let out = bench(&[
        "report",
        json.to_str().unwrap(),
        "--out",
        report_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Allocator runs (ratios against system)"));
    let markdown = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(markdown.contains("| small-churn | bump |"), "{markdown}");
    let svg = std::fs::read_to_string(report_dir.join("allocators-speed.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("bump"));

    // A file compared with itself has moved nowhere.
    let out = bench(&["compare", json.to_str().unwrap(), json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("unchanged"));
}
