//! Real programs with strata preloaded: CPython running a slice of its own
//! regression suite, `git` on a generated repository and `sqlite3` on a
//! scripted workload. Each must behave exactly as it does on glibc's malloc.
//! A test whose program is not installed says so and passes.

mod common;

use common::{assert_success, have, preloaded, scratch};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real interpreter behind `python3` (not a version-manager shim), if it
/// ships its regression test package.
fn python_with_test_package() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import sys, test.support; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    let Some(output) = output else {
        eprintln!("SKIPPED: `python3` with its `test` package is not installed");
        return None;
    };
    Some(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

const PYTHON_TESTS: [&str; 6] = [
    "test_dict",
    "test_list",
    "test_set",
    "test_json",
    "test_gc",
    "test_weakref",
];

/// The test files a `python -m test` run reports as failed (its summary
/// prints "N tests failed:" and then their names).
fn python_failures(output: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let mut failed = Vec::new();
    while let Some(line) = lines.next() {
        if line.contains("failed:") {
            if let Some(names) = lines.next() {
                failed.extend(names.split_whitespace().map(str::to_owned));
            }
        }
    }
    if failed.is_empty() && !output.status.success() {
        failed.push(format!("exit status {}", output.status));
    }
    failed.sort();
    failed
}

#[test]
fn cpython_regression_slice_passes_on_strata() {
    let Some(python) = python_with_test_package() else {
        return;
    };
    let run = |preload: bool| {
        let mut command = if preload {
            preloaded(&python)
        } else {
            Command::new(&python)
        };
        command
            .env("PYTHONMALLOC", "malloc")
            .args(["-m", "test", "-q"])
            .args(PYTHON_TESTS)
            .output()
            .expect("run python3 -m test")
    };
    let on_strata = run(true);
    if on_strata.status.success() {
        assert!(String::from_utf8_lossy(&on_strata.stdout).contains("SUCCESS"));
        return;
    }
    // A failure only counts against strata if glibc's malloc passes the same.
    let on_glibc = run(false);
    assert_eq!(
        python_failures(&on_strata),
        python_failures(&on_glibc),
        "CPython fails differently on strata:\n{}",
        String::from_utf8_lossy(&on_strata.stdout)
    );
}

#[test]
fn cpython_runs_an_object_heavy_script_in_debug_mode() {
    let Some(python) = python_with_test_package() else {
        return;
    };
    let script = "import gc, json\n\
        gc.disable()\n\
        rows = [{'id': i, 'name': str(i) * 3, 'pair': (i, str(i))} for i in range(20000)]\n\
        text = json.dumps(rows)\n\
        back = json.loads(text)\n\
        assert len(back) == 20000 and back[123]['name'] == '123123123'\n\
        back.sort(key=lambda r: r['name'])\n\
        cycles = [[] for _ in range(5000)]\n\
        for a, b in zip(cycles, cycles[1:]): a.append(b); b.append(a)\n\
        del cycles, a, b\n\
        print('collected', gc.collect() > 0)\n";
    let output = preloaded(&python)
        .env("PYTHONMALLOC", "malloc")
        .env("STRATA_DEBUG", "1")
        .args(["-c", script])
        .output()
        .expect("run python3");
    assert_success("python3 under STRATA_DEBUG=1", &output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "collected True\n");
}

#[test]
fn the_benchmark_scripts_run_on_strata() {
    let Some(python) = python_with_test_package() else {
        return;
    };
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    let run = |script: &str, args: &[&str]| {
        let output = preloaded(&python)
            .env("PYTHONMALLOC", "malloc")
            .arg(bench.join(script))
            .args(args)
            .output()
            .expect("run python3");
        assert_success(script, &output);
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    // objects.py: "<wall s> <CPU s> <peak RSS KiB> <checksum>".
    let objects = run("objects.py", &["2", "500"]);
    assert_eq!(
        objects.split_whitespace().count(),
        4,
        "objects.py printed {objects:?}"
    );
    // rounds.py: one "rN=<seconds>" per round.
    let rounds = run("rounds.py", &["3", "500"]);
    let names: Vec<&str> = rounds
        .split_whitespace()
        .map(|field| field.split('=').next().unwrap_or(""))
        .collect();
    assert_eq!(names, ["r0", "r1", "r2"], "rounds.py printed {rounds:?}");
}

/// Runs a shell script in `dir`, preloaded or not, with fixed dates and
/// identities so that its output (commit hashes included) is reproducible.
fn run_script(script: &str, dir: &Path, preload: bool) -> Output {
    let mut command = if preload {
        preloaded("sh")
    } else {
        Command::new("sh")
    };
    command
        .args(["-eu", "-c", script])
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Strata Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.org")
        .env("GIT_COMMITTER_NAME", "Strata Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.org")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run sh")
}

/// Runs `script` on glibc and on strata in fresh directories and requires
/// the same successful output.
fn same_output_on_strata(name: &str, script: &str) {
    let reference = run_script(script, &scratch(&format!("{name}-glibc")), false);
    assert_success(&format!("{name} on glibc"), &reference);
    let on_strata = run_script(script, &scratch(&format!("{name}-strata")), true);
    assert_success(&format!("{name} on strata"), &on_strata);
    assert_eq!(
        String::from_utf8_lossy(&on_strata.stdout),
        String::from_utf8_lossy(&reference.stdout),
        "{name}: output differs on strata"
    );
    assert!(!reference.stdout.is_empty());
}

const GIT_SCRIPT: &str = r#"
git init -q -b main repo
cd repo
i=0
while [ $i -lt 300 ]; do
    mkdir -p dir$((i % 17))
    seq $i $((i * 3 + 50)) > dir$((i % 17))/file$i.txt
    i=$((i + 1))
done
git add -A
git commit -q -m "initial: 300 files"
c=0
while [ $c -lt 25 ]; do
    seq $c 7 2000 >> dir$((c % 17))/file$((c * 11 % 300)).txt
    rm -f dir$(((c + 3) % 17))/file$(((c * 7 + 1) % 300)).txt
    git add -A
    git commit -q -m "change $c"
    c=$((c + 1))
done
git checkout -q -b side HEAD~10
seq 1 5000 > side.txt
git add side.txt
git commit -q -m "side branch"
git checkout -q main
git merge -q --no-edit side
git gc -q --aggressive
git fsck --full --strict 2>&1
git log --format='%H %s' | head -40
git diff --stat HEAD~20 HEAD | tail -3
git grep -c 1999 | wc -l
git rev-list --objects --all | wc -l
"#;

#[test]
fn git_works_on_a_generated_repository() {
    if !have("git") {
        return;
    }
    same_output_on_strata("git", GIT_SCRIPT);
}

const SQL_SCRIPT: &str = r#"
sqlite3 bench.db <<'SQL'
PRAGMA journal_mode = WAL;
CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL, bio TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO people SELECT i, 'name' || i, 'city' || (i % 97), (i * 7919) % 1000 / 10.0,
    printf('%.*c', i % 300, 'x') FROM n;
CREATE INDEX people_city ON people(city, score);
CREATE TABLE visits(person INTEGER, day INTEGER, amount REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000)
INSERT INTO visits SELECT (i * 31) % 60000 + 1, i % 365, (i % 1000) / 7.0 FROM n;
SELECT city, count(*), round(avg(score), 3), max(length(bio)) FROM people
    GROUP BY city ORDER BY count(*) DESC, city LIMIT 5;
SELECT p.city, round(sum(v.amount), 2) FROM visits v JOIN people p ON p.id = v.person
    GROUP BY p.city ORDER BY 2 DESC LIMIT 5;
SELECT name FROM people WHERE city = 'city42' ORDER BY score DESC, id LIMIT 3;
UPDATE people SET bio = upper(bio) || name WHERE id % 3 = 0;
DELETE FROM visits WHERE day > 300;
SELECT count(*), round(sum(amount), 2) FROM visits;
SELECT group_concat(name, ',') FROM (SELECT name FROM people ORDER BY bio DESC, id LIMIT 4);
VACUUM;
PRAGMA integrity_check;
SQL
"#;

#[test]
fn sqlite3_runs_a_scripted_workload() {
    if !have("sqlite3") {
        return;
    }
    same_output_on_strata("sqlite3", SQL_SCRIPT);
}
