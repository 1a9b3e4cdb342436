//! `compare`: what moved between two results files. Files with instruction
//! counts (from `ci`) are compared on instructions alone, which are
//! deterministic; timed files on throughput and peak resident memory.

use crate::record::{Kind, Results};
use crate::summary::{self, Summary};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Improved,
    Unchanged,
    Regressed,
}

/// One figure of one (workload, peer) in both files.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub workload: String,
    pub kind: Kind,
    pub peer: String,
    pub figure: &'static str,
    pub base: f64,
    pub new: f64,
    /// `(new - base) / base`, positive when the figure grew.
    pub change: f64,
    pub verdict: Verdict,
}

/// The comparison: changes, plus what only one file has.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub changes: Vec<Change>,
    pub only_in_base: Vec<String>,
    pub only_in_new: Vec<String>,
}

impl Comparison {
    pub fn regressed(&self) -> bool {
        self.changes.iter().any(|c| c.verdict == Verdict::Regressed)
    }
}

/// A figure, and whether a higher value is better.
type Figure = (&'static str, bool, fn(&Summary) -> Option<f64>);

const INSTRUCTION_FIGURES: [Figure; 1] =
    [("instructions", false, |s| s.instructions.map(|i| i.median))];
const TIMED_FIGURES: [Figure; 2] = [
    ("ops/s", true, |s| Some(s.ops_per_sec.median)),
    ("peak RSS", false, |s| Some(s.peak_rss.median)),
];

/// Parses a tolerance like `5%`, `5` or `0.5%`, as a fraction.
pub fn parse_tolerance(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v / 100.0),
        _ => Err(format!(
            "bad tolerance '{text}': expected a percentage like 5%"
        )),
    }
}

pub fn compare(base: &Results, new: &Results, tolerance: f64) -> Comparison {
    let base_summaries = summary::summarize(&base.records);
    let new_summaries = summary::summarize(&new.records);
    let key = |s: &Summary| format!("{} / {}", s.workload, s.peer);
    let find = |list: &[Summary], s: &Summary| {
        list.iter()
            .find(|o| o.workload == s.workload && o.kind == s.kind && o.peer == s.peer)
            .cloned()
    };
    let mut changes = Vec::new();
    for b in &base_summaries {
        let Some(n) = find(&new_summaries, b) else {
            continue;
        };
        let counted = b.instructions.is_some() && n.instructions.is_some();
        let figures: &[Figure] = if counted {
            &INSTRUCTION_FIGURES
        } else {
            &TIMED_FIGURES
        };
        for &(figure, higher_is_better, get) in figures {
            let (Some(bv), Some(nv)) = (get(b), get(&n)) else {
                continue;
            };
            let change = if bv != 0.0 { (nv - bv) / bv } else { 0.0 };
            let better = if higher_is_better { change } else { -change };
            let verdict = if better < -tolerance {
                Verdict::Regressed
            } else if better > tolerance {
                Verdict::Improved
            } else {
                Verdict::Unchanged
            };
            changes.push(Change {
                workload: b.workload.clone(),
                kind: b.kind,
                peer: b.peer.clone(),
                figure,
                base: bv,
                new: nv,
                change,
                verdict,
            });
        }
    }
    Comparison {
        changes,
        only_in_base: base_summaries
            .iter()
            .filter(|s| find(&new_summaries, s).is_none())
            .map(key)
            .collect(),
        only_in_new: new_summaries
            .iter()
            .filter(|s| find(&base_summaries, s).is_none())
            .map(key)
            .collect(),
    }
}

/// The comparison as a table, regressions first.
pub fn render(comparison: &Comparison, tolerance: f64) -> String {
    let mut out = String::new();
    let mut rows: Vec<&Change> = comparison.changes.iter().collect();
    rows.sort_by_key(|c| match c.verdict {
        Verdict::Regressed => 0,
        Verdict::Improved => 1,
        Verdict::Unchanged => 2,
    });
    let _ = writeln!(
        out,
        "{:<20} {:<16} {:<13} {:>16} {:>16} {:>9}  verdict (tolerance {:.1}%)",
        "workload",
        "peer",
        "figure",
        "base",
        "new",
        "change",
        tolerance * 100.0
    );
    for c in rows {
        let verdict = match c.verdict {
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
        };
        let _ = writeln!(
            out,
            "{:<20} {:<16} {:<13} {:>16.0} {:>16.0} {:>+8.2}%  {verdict}",
            c.workload,
            c.peer,
            c.figure,
            c.base,
            c.new,
            c.change * 100.0
        );
    }
    for (label, list) in [
        ("only in base", &comparison.only_in_base),
        ("only in new", &comparison.only_in_new),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "{label}: {}", list.join(", "));
        }
    }
    out
}
