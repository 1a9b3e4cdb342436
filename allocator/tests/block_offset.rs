//! `STRATA_BLOCK_OFFSET`: small classes' blocks start that many bytes into
//! their pool's page. Each offset runs in a child process of its own, since
//! the offset is fixed for a process when its first pool is cut (and the test
//! harness allocates before any test runs).

use std::alloc::{GlobalAlloc, Layout};
use std::process::Command;
use strata::settings::{self, BlockOffsetError};
use strata::Strata;

#[global_allocator]
static GLOBAL: Strata = Strata;

mod common;
use common::{fill, holds, resident_bytes};

const CHILD_VAR: &str = "STRATA_BLOCK_OFFSET_TEST_CHILD";

fn alloc(size: usize, align: usize) -> (*mut u8, Layout) {
    let layout = Layout::from_size_align(size, align).unwrap();
    // SAFETY: non-zero size.
    let block = unsafe { Strata.alloc(layout) };
    assert!(!block.is_null(), "{size} bytes aligned to {align}");
    (block, layout)
}

fn dealloc((block, layout): (*mut u8, Layout)) {
    // SAFETY: allocated by `alloc` with this layout, not freed since.
    unsafe { Strata.dealloc(block, layout) };
}

/// What a child checks with the offset fixed at `offset`.
fn check_offset(offset: usize) {
    assert_eq!(settings::block_offset(), offset);
    assert_eq!(settings::get().block_offset, Some(offset));
    assert_eq!(settings::set_block_offset(offset), Ok(()));
    assert_eq!(
        settings::set_block_offset((offset + 16) % 64),
        Err(BlockOffsetError::AlreadyInUse)
    );
    assert_eq!(
        settings::block_offset(),
        offset,
        "a refused change is no change"
    );

    // A class whose size is a power of two lays its blocks at the offset
    // past every multiple of that size.
    for size in [64, 128, 256, 512] {
        let blocks: Vec<_> = (0..300).map(|_| alloc(size, 8)).collect();
        for &(block, _) in &blocks {
            assert_eq!(
                block as usize % size,
                offset,
                "a {size}-byte block at {block:p}"
            );
        }
        blocks.into_iter().for_each(dealloc);
    }

    // Requests aligned beyond the offset's own alignment stay aligned.
    for align in [16, 32, 64, 128, 256, 4096] {
        for size in (1..=700).step_by(23) {
            let (block, layout) = alloc(size, align);
            assert_eq!(block as usize % align, 0, "{size} bytes aligned to {align}");
            fill(block, size, size as u8);
            assert!(holds(block, size, size as u8));
            dealloc((block, layout));
        }
    }

    // Sparse pools give back the pages no live block touches, and bring them
    // back when the blocks are wanted again: with the offset, a block may
    // straddle two OS pages, and pages are found from the pool's page base.
    // Counted both ways: the pools' own count, and the process's resident
    // set, which falls only if the right pages went back.
    let class = 64 / 8 - 1;
    let resident = || strata::stats().classes[class].bytes_resident;
    let (before, rss_before) = (resident(), resident_bytes());
    let blocks: Vec<_> = (0..64 * 1024).map(|_| alloc(64, 8)).collect();
    for (i, &(block, _)) in blocks.iter().enumerate() {
        fill(block, 64, i as u8);
    }
    let at_peak = resident() - before;
    let rss_at_peak = resident_bytes() - rss_before;
    let mut kept = Vec::new();
    for (i, block) in blocks.into_iter().enumerate() {
        if i % 128 == 0 {
            kept.push((i, block));
        } else {
            dealloc(block);
        }
    }
    strata::trim();
    let sparse = resident() - before;
    assert!(
        sparse * 10 <= at_peak * 7,
        "the sparse pools still count {sparse} of {at_peak} bytes"
    );
    let rss_sparse = resident_bytes().saturating_sub(rss_before);
    assert!(
        rss_sparse * 10 <= rss_at_peak * 7,
        "{rss_sparse} of {rss_at_peak} bytes still resident"
    );
    for &(i, (block, _)) in &kept {
        assert!(
            holds(block, 64, i as u8),
            "kept block {i} at {block:p} changed"
        );
    }
    let again: Vec<_> = (0..64 * 1024).map(|_| alloc(64, 8)).collect();
    for (i, &(block, _)) in again.iter().enumerate() {
        assert_eq!(block as usize % 64, offset);
        fill(block, 64, !(i as u8));
    }
    for (i, &(block, _)) in again.iter().enumerate() {
        assert!(
            holds(block, 64, !(i as u8)),
            "block {i} at {block:p} was overwritten"
        );
    }
    for &(i, (block, _)) in &kept {
        assert!(
            holds(block, 64, i as u8),
            "kept block {i} at {block:p} changed"
        );
    }
    again.into_iter().for_each(dealloc);
    kept.into_iter().for_each(|(_, block)| dealloc(block));
}

#[test]
fn child_entry() {
    if let Ok(offset) = std::env::var(CHILD_VAR) {
        check_offset(offset.parse().unwrap());
    }
}

/// Runs `child_entry` in a child process, expecting `offset`, with
/// `STRATA_BLOCK_OFFSET` set to `setting` (unset for `None`); returns its
/// standard error once it has succeeded.
fn run_child(setting: Option<&str>, offset: usize) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, offset.to_string())
        .env_remove("STRATA_BLOCK_OFFSET");
    if let Some(value) = setting {
        command.env("STRATA_BLOCK_OFFSET", value);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "offset {offset}, STRATA_BLOCK_OFFSET={setting:?}:\n{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn every_offset_places_small_blocks_and_keeps_alignment_and_purges_right() {
    for offset in settings::BLOCK_OFFSETS {
        run_child(Some(&offset.to_string()), offset);
    }
}

#[test]
fn the_rust_allocator_starts_blocks_on_the_page_by_default() {
    run_child(None, 0);
}

#[test]
fn a_malformed_offset_is_reported_and_the_default_used() {
    for bad in ["8", "64", "-16", "forty"] {
        let stderr = run_child(Some(bad), 0);
        assert!(
            stderr.contains(&format!("ignoring STRATA_BLOCK_OFFSET=\"{bad}\"")),
            "{bad}: {stderr}"
        );
    }
}
