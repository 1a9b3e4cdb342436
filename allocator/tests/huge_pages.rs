//! `STRATA_HUGE_PAGES=auto` (set here from code): arenas mapped once the heap holds
//! 32 MiB ask for transparent huge pages; the first arenas do not; an arena
//! that gives pages back stops asking. Observed through the `VmFlags` of
//! `/proc/self/smaps` (`hg`: MADV_HUGEPAGE, `nh`: MADV_NOHUGEPAGE). One test
//! in its own process, since it reads the whole process's mappings.

#[global_allocator]
static GLOBAL: strata::Strata = strata::Strata;

/// The `VmFlags` of the mapping holding `addr`, if any.
fn vm_flags(addr: usize) -> Option<Vec<String>> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((start, end)) = range.split_once('-') {
                if let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                ) {
                    inside = (start..end).contains(&addr);
                    continue;
                }
            }
        }
        if inside {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags.split_whitespace().map(str::to_owned).collect());
            }
        }
    }
    None
}

#[test]
fn big_heaps_ask_for_huge_pages_and_give_them_up_when_they_shrink() {
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
        eprintln!("SKIPPED: this kernel has no transparent huge pages");
        return;
    }
    strata::settings::set_huge_pages(strata::settings::HugePages::Auto);
    // 64 MiB of 256-byte blocks: the first arenas are mapped while the heap
    // is small, the last ones after it passed 32 MiB.
    let blocks: Vec<Box<[u8; 256]>> = (0..256 * 1024).map(|_| Box::new([7u8; 256])).collect();
    let first = &*blocks[0] as *const _ as usize;
    let last = &*blocks[blocks.len() - 1] as *const _ as usize;
    let first_flags = vm_flags(first).expect("the first block is mapped");
    let last_flags = vm_flags(last).expect("the last block is mapped");
    assert!(
        !first_flags.iter().any(|f| f == "hg"),
        "a small heap keeps 4 KiB pages: {first_flags:?}"
    );
    assert!(
        last_flags.iter().any(|f| f == "hg"),
        "arenas mapped past 32 MiB ask for huge pages: {last_flags:?}"
    );

    // Free all but every 64th block and give the pages back: the arenas that
    // purge must stop asking, or khugepaged would fill the holes again.
    let kept: Vec<_> = blocks.into_iter().step_by(64).collect();
    strata::trim();
    let kept_last = &*kept[kept.len() - 1] as *const _ as usize;
    let flags = vm_flags(kept_last).expect("a kept block is mapped");
    assert!(
        !flags.iter().any(|f| f == "hg") && flags.iter().any(|f| f == "nh"),
        "an arena that gave pages back no longer asks for huge pages: {flags:?}"
    );
    assert!(kept.iter().all(|b| b.iter().all(|&x| x == 7)));
}
