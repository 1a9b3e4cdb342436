//! Settings: from `STRATA_*` environment variables, read once, and from code.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `STRATA_ARENA_SIZE` | `4M` | bytes mapped per arena: 1 MiB to 4 MiB, a multiple of 16 KiB (suffixes `K`, `M`); large blocks go up to a quarter of its pool pages (1 MiB at most) |
//! | `STRATA_PURGE_DELAY_MS` | `10` | how long free pages are kept resident before they are given back to the OS |
//! | `STRATA_RETAIN` | `1` | entirely free arenas kept mapped (their pages are still purged) |
//! | `STRATA_HUGE_PAGES` | `0` | transparent huge pages on arenas: `0` never, `1` always, `auto` once arenas hold 32 MiB (see `arena.rs`) |
//! | `STRATA_BLOCK_OFFSET` | `0` (`48` in `libstrata.so`) | where the first block of a pool of a small class (up to 512 bytes) starts: `0`, `16`, `32` or `48` bytes into its page (see [`block_offset`]) |
//! | `STRATA_VERBOSE` | `0` | report arena mapping and unmapping on standard error |
//! | `STRATA_SHOW_STATS` | `0` | print the statistics table when the program exits |
//!
//! The environment is read with `getenv`, which returns a pointer into the
//! process's environment block: no allocation, so it is safe on the first
//! allocation of a program. A malformed value prints one warning naming the
//! variable, and the default is used. The purge delay, the retained arena count
//! and verbosity can also be changed from code at any time; the arena size only
//! before the first arena is mapped, and the block offset only before the
//! first pool is cut.

use crate::os;
use core::ffi::CStr;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

/// The allocator's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `STRATA_ARENA_SIZE`: bytes per arena.
    pub arena_size: usize,
    /// `STRATA_PURGE_DELAY_MS`: milliseconds free pages stay resident.
    pub purge_delay_ms: usize,
    /// `STRATA_RETAIN`: entirely free arenas kept mapped for reuse.
    pub retain_arenas: usize,
    /// `STRATA_HUGE_PAGES`: when to ask for transparent huge pages on arenas.
    pub huge_pages: HugePages,
    /// `STRATA_VERBOSE`: report notable events on standard error.
    pub verbose: bool,
    /// `STRATA_SHOW_STATS`: print `strata::stats()` at exit.
    pub show_stats: bool,
    /// `STRATA_BLOCK_OFFSET`: bytes before the first block of a small
    /// class's pool. `None` (variable unset): the front end's default, 0 for
    /// the Rust global allocator and 48 in `libstrata.so` (see
    /// [`prefer_block_offset`]). [`get`] gives the offset in force.
    pub block_offset: Option<usize>,
}

/// When arenas ask the kernel for transparent huge pages (`madvise` with
/// `MADV_HUGEPAGE`, which matters where THP is in `madvise` mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HugePages {
    /// Never (`STRATA_HUGE_PAGES=0`, the default).
    Off = 0,
    /// Every arena (`STRATA_HUGE_PAGES=1`).
    On = 1,
    /// Arenas mapped once the arenas already hold
    /// [`AUTO_HUGE_PAGES_BYTES`](crate::arena::AUTO_HUGE_PAGES_BYTES): a heap
    /// that big gains from fewer TLB misses, a small one keeps its 4 KiB
    /// granularity (`STRATA_HUGE_PAGES=auto`).
    Auto = 2,
}

impl HugePages {
    fn from_u8(raw: u8) -> HugePages {
        match raw {
            0 => HugePages::Off,
            1 => HugePages::On,
            _ => HugePages::Auto,
        }
    }
}

/// Largest (and default) arena: the alignment every arena is mapped at.
pub const MAX_ARENA_SIZE: usize = crate::arena::ARENA_SIZE;
/// Smallest arena: must hold the header and the longest pool.
pub const MIN_ARENA_SIZE: usize = 1 << 20;

impl Settings {
    /// The settings when no variable is set. The purge delay is 10 ms, like
    /// mimalloc's: long enough that a program freeing and reallocating in a
    /// loop reuses resident pages, short enough that a mass free shows up in
    /// the resident set almost at once.
    pub const DEFAULT: Settings = Settings {
        arena_size: MAX_ARENA_SIZE,
        purge_delay_ms: 10,
        retain_arenas: 1,
        huge_pages: HugePages::Off,
        verbose: false,
        show_stats: false,
        block_offset: None,
    };
}

const UNREAD: u8 = 0;
const READING: u8 = 1;
const READY: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNREAD);
static ARENA_SIZE: AtomicUsize = AtomicUsize::new(MAX_ARENA_SIZE);
static PURGE_DELAY_MS: AtomicUsize = AtomicUsize::new(10);
static RETAIN: AtomicUsize = AtomicUsize::new(1);
static HUGE_PAGES: AtomicU8 = AtomicU8::new(HugePages::Off as u8);
static VERBOSE: AtomicBool = AtomicBool::new(false);
static SHOW_STATS: AtomicBool = AtomicBool::new(false);
static ARENA_SIZE_FROZEN: AtomicBool = AtomicBool::new(false);
/// The block offset chosen by `STRATA_BLOCK_OFFSET` or [`set_block_offset`];
/// [`NO_OFFSET_CHOSEN`] when neither chose one.
static BLOCK_OFFSET_CHOSEN: AtomicUsize = AtomicUsize::new(NO_OFFSET_CHOSEN);
/// The front end's default, from [`prefer_block_offset`].
static BLOCK_OFFSET_PREFERRED: AtomicUsize = AtomicUsize::new(0);
/// The block offset in force plus one, once fixed; 0 before.
static BLOCK_OFFSET_FIXED: AtomicUsize = AtomicUsize::new(0);
const NO_OFFSET_CHOSEN: usize = usize::MAX;

fn ensure_read() {
    if STATE.load(Ordering::Acquire) == READY {
        return;
    }
    if STATE
        .compare_exchange(UNREAD, READING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        let env = from_env(|name| {
            // SAFETY: name is a valid C string; getenv returns null or a valid one.
            let value = unsafe { libc::getenv(name.as_ptr()) };
            // SAFETY: non-null results of getenv are NUL-terminated strings.
            (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_bytes())
        });
        store(&env);
        // Release: readers that see READY see the stored values.
        STATE.store(READY, Ordering::Release);
    } else {
        // Another thread is parsing a handful of variables: wait for it.
        while STATE.load(Ordering::Acquire) != READY {
            core::hint::spin_loop();
        }
    }
}

fn store(settings: &Settings) {
    ARENA_SIZE.store(settings.arena_size, Ordering::Relaxed);
    PURGE_DELAY_MS.store(settings.purge_delay_ms, Ordering::Relaxed);
    RETAIN.store(settings.retain_arenas, Ordering::Relaxed);
    HUGE_PAGES.store(settings.huge_pages as u8, Ordering::Relaxed);
    VERBOSE.store(settings.verbose, Ordering::Relaxed);
    SHOW_STATS.store(settings.show_stats, Ordering::Relaxed);
    BLOCK_OFFSET_CHOSEN.store(
        settings.block_offset.unwrap_or(NO_OFFSET_CHOSEN),
        Ordering::Relaxed,
    );
}

/// The settings in force (the environment is read on first use).
pub fn get() -> Settings {
    ensure_read();
    Settings {
        arena_size: ARENA_SIZE.load(Ordering::Relaxed),
        purge_delay_ms: PURGE_DELAY_MS.load(Ordering::Relaxed),
        retain_arenas: RETAIN.load(Ordering::Relaxed),
        huge_pages: HugePages::from_u8(HUGE_PAGES.load(Ordering::Relaxed)),
        verbose: VERBOSE.load(Ordering::Relaxed),
        show_stats: SHOW_STATS.load(Ordering::Relaxed),
        block_offset: Some(fixed_block_offset().unwrap_or_else(offset_to_fix)),
    }
}

/// Sets how long free pages stay resident before they are given back to the
/// OS. Zero gives them back at once.
pub fn set_purge_delay(delay: Duration) {
    ensure_read();
    PURGE_DELAY_MS.store(
        delay.as_millis().min(usize::MAX as u128) as usize,
        Ordering::Relaxed,
    );
}

/// Sets how many entirely free arenas are kept mapped for reuse.
pub fn set_retained_arenas(count: usize) {
    ensure_read();
    RETAIN.store(count, Ordering::Relaxed);
}

/// Sets when arenas mapped from now on ask for transparent huge pages.
pub fn set_huge_pages(mode: HugePages) {
    ensure_read();
    HUGE_PAGES.store(mode as u8, Ordering::Relaxed);
}

/// Turns reports on standard error on or off.
pub fn set_verbose(on: bool) {
    ensure_read();
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Error from [`set_arena_size`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaSizeError {
    /// Outside 1 MiB ..= 4 MiB or not a multiple of the 16 KiB pool page.
    OutOfRange(usize),
    /// An arena is already mapped; the size can no longer change.
    AlreadyInUse,
}

impl core::fmt::Display for ArenaSizeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ArenaSizeError::OutOfRange(size) => write!(
                f,
                "arena size {size} must be a multiple of {} between {MIN_ARENA_SIZE} and {MAX_ARENA_SIZE}",
                crate::arena::PAGE_SIZE
            ),
            ArenaSizeError::AlreadyInUse => f.write_str("the arena size cannot change once an arena is mapped"),
        }
    }
}

impl std::error::Error for ArenaSizeError {}

/// Sets the arena size; only before the first arena is mapped.
pub fn set_arena_size(bytes: usize) -> Result<(), ArenaSizeError> {
    ensure_read();
    if !valid_arena_size(bytes) {
        return Err(ArenaSizeError::OutOfRange(bytes));
    }
    if ARENA_SIZE_FROZEN.load(Ordering::Acquire) {
        return Err(ArenaSizeError::AlreadyInUse);
    }
    ARENA_SIZE.store(bytes, Ordering::Relaxed);
    Ok(())
}

/// The arena size, fixed from the first arena on (called under the arena lock).
pub(crate) fn freeze_arena_size() -> usize {
    ensure_read();
    ARENA_SIZE_FROZEN.store(true, Ordering::Release);
    ARENA_SIZE.load(Ordering::Relaxed)
}

fn valid_arena_size(bytes: usize) -> bool {
    (MIN_ARENA_SIZE..=MAX_ARENA_SIZE).contains(&bytes) && bytes % crate::arena::PAGE_SIZE == 0
}

/// The block offsets a pool may start its blocks at: multiples of 16, so that
/// every block of a class that is a multiple of 16 keeps `malloc`'s 16-byte
/// alignment, and less than a cache line, which is all an offset can change.
pub const BLOCK_OFFSETS: [usize; 4] = [0, 16, 32, 48];

/// Error from [`set_block_offset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOffsetError {
    /// Not one of [`BLOCK_OFFSETS`].
    Invalid(usize),
    /// A pool has been cut with another offset; it can no longer change.
    AlreadyInUse,
}

impl core::fmt::Display for BlockOffsetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BlockOffsetError::Invalid(bytes) => {
                write!(f, "block offset {bytes} must be one of 0, 16, 32 or 48")
            }
            BlockOffsetError::AlreadyInUse => {
                f.write_str("the block offset cannot change once a pool has been cut")
            }
        }
    }
}

impl std::error::Error for BlockOffsetError {}

/// Where the first block of a pool of a small class (up to 512 bytes)
/// starts, in bytes from the start of the pool's page; fixed for the life of
/// the process the first time it is asked for (when the first small pool is
/// cut). Medium classes and large blocks always start on the page.
///
/// Why an offset: CPython puts a 16-byte header (the GC links) in front of
/// every container object, and Rust's `Rc` and `Arc` put their two counts
/// in front of the value. At offset 48, as in pymalloc's pools (whose
/// 48-byte header precedes the first block), a 64-byte block holds its
/// header in the last 16 bytes of one cache line and the object's own fields
/// at the start of the next. A walk along a list of such objects in
/// allocation order (CPython's collector walks every container this way)
/// then reads the next object's header in the line it reads for the current
/// object's fields, and the two misses overlap. At offset 0 every
/// 64-byte block is one line, which suits objects read whole. Blocks
/// aligned beyond the offset's own alignment come from classes whose pools
/// start on the page (see `size_class::class_for`).
#[inline]
pub fn block_offset() -> usize {
    fixed_block_offset().unwrap_or_else(fix_block_offset)
}

/// The block offset, if it is fixed already (one load).
#[inline(always)]
fn fixed_block_offset() -> Option<usize> {
    BLOCK_OFFSET_FIXED.load(Ordering::Acquire).checked_sub(1)
}

/// Whether small classes' blocks keep `align` (a power of two): the block
/// offset is fixed and a multiple of it. Before the offset is fixed, no:
/// the requests aligned beyond 16 that come before the first pool is cut
/// take medium classes. One load and no call, so that the allocation paths
/// that inline it keep no stack frame.
#[inline(always)]
pub(crate) fn block_offset_keeps(align: usize) -> bool {
    fixed_block_offset().is_some_and(|offset| offset & (align - 1) == 0)
}

#[cold]
fn fix_block_offset() -> usize {
    let want = offset_to_fix();
    match BLOCK_OFFSET_FIXED.compare_exchange(0, want + 1, Ordering::SeqCst, Ordering::Acquire) {
        Ok(_) => want,
        Err(fixed) => fixed - 1,
    }
}

/// The offset that would be fixed now: the one chosen, else the preferred.
fn offset_to_fix() -> usize {
    ensure_read();
    match BLOCK_OFFSET_CHOSEN.load(Ordering::SeqCst) {
        NO_OFFSET_CHOSEN => BLOCK_OFFSET_PREFERRED.load(Ordering::Relaxed),
        chosen => chosen,
    }
}

/// Chooses the block offset (as `STRATA_BLOCK_OFFSET` does, and over it):
/// only before the first small pool is cut, or to the offset already fixed.
pub fn set_block_offset(bytes: usize) -> Result<(), BlockOffsetError> {
    ensure_read();
    if !BLOCK_OFFSETS.contains(&bytes) {
        return Err(BlockOffsetError::Invalid(bytes));
    }
    // Sequentially consistent, with the fixing: either the fixing sees this
    // choice, or the check below sees the offset fixed without it.
    BLOCK_OFFSET_CHOSEN.store(bytes, Ordering::SeqCst);
    match BLOCK_OFFSET_FIXED.load(Ordering::SeqCst).checked_sub(1) {
        Some(fixed) if fixed != bytes => Err(BlockOffsetError::AlreadyInUse),
        _ => Ok(()),
    }
}

/// The default block offset of a front end, used when neither
/// `STRATA_BLOCK_OFFSET` nor [`set_block_offset`] chose one: `libstrata.so`
/// prefers 48, pymalloc's layout, for CPython (measured in its README). No
/// effect once the offset is fixed; a value not in [`BLOCK_OFFSETS`] is
/// ignored.
pub fn prefer_block_offset(bytes: usize) {
    // Stored only when it changes: `libstrata.so` calls this on every
    // allocation of its checked path (all of them in debug mode), and a
    // store each time would bounce the line between threads.
    if BLOCK_OFFSETS.contains(&bytes) && BLOCK_OFFSET_PREFERRED.load(Ordering::Relaxed) != bytes {
        BLOCK_OFFSET_PREFERRED.store(bytes, Ordering::Relaxed);
    }
}

/// Builds settings from a variable lookup (the environment, or a test's map).
pub fn from_env<'a>(lookup: impl Fn(&CStr) -> Option<&'a [u8]>) -> Settings {
    let default = Settings::DEFAULT;
    Settings {
        arena_size: parse(&lookup, c"STRATA_ARENA_SIZE", default.arena_size, |raw| {
            parse_size(raw).filter(|&n| valid_arena_size(n))
        }),
        purge_delay_ms: parse(
            &lookup,
            c"STRATA_PURGE_DELAY_MS",
            default.purge_delay_ms,
            parse_count,
        ),
        retain_arenas: parse(
            &lookup,
            c"STRATA_RETAIN",
            default.retain_arenas,
            parse_count,
        ),
        huge_pages: parse(
            &lookup,
            c"STRATA_HUGE_PAGES",
            default.huge_pages,
            parse_huge_pages,
        ),
        verbose: parse(&lookup, c"STRATA_VERBOSE", default.verbose, parse_flag),
        show_stats: parse(
            &lookup,
            c"STRATA_SHOW_STATS",
            default.show_stats,
            parse_flag,
        ),
        block_offset: parse(
            &lookup,
            c"STRATA_BLOCK_OFFSET",
            default.block_offset,
            |raw| {
                parse_count(raw)
                    .filter(|n| BLOCK_OFFSETS.contains(n))
                    .map(Some)
            },
        ),
    }
}

fn parse<'a, T: Copy>(
    lookup: &impl Fn(&CStr) -> Option<&'a [u8]>,
    name: &CStr,
    default: T,
    parser: impl Fn(&[u8]) -> Option<T>,
) -> T {
    let Some(raw) = lookup(name) else {
        return default;
    };
    match parser(raw) {
        Some(value) => value,
        None => {
            let mut message = crate::check::StackMessage::new();
            let _ = writeln!(
                message,
                "strata: ignoring {}={:?}: not a valid value; using the default",
                name.to_str().unwrap_or("?"),
                core::str::from_utf8(raw).unwrap_or("<not UTF-8>")
            );
            os::write_stderr(message.as_bytes());
            default
        }
    }
}

/// A decimal count without sign or suffix.
pub fn parse_count(raw: &[u8]) -> Option<usize> {
    let text = core::str::from_utf8(raw).ok()?.trim();
    text.parse().ok()
}

/// A byte count with an optional `K`, `M` or `G` suffix (powers of 1024).
pub fn parse_size(raw: &[u8]) -> Option<usize> {
    let text = core::str::from_utf8(raw).ok()?.trim();
    let (digits, shift) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 10),
        (at, 'm' | 'M') => (&text[..at], 20),
        (at, 'g' | 'G') => (&text[..at], 30),
        _ => (text, 0),
    };
    let value: usize = digits.parse().ok()?;
    value.checked_mul(1 << shift)
}

/// `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
pub fn parse_flag(raw: &[u8]) -> Option<bool> {
    match core::str::from_utf8(raw).ok()?.trim() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// `auto`, or a flag as [`parse_flag`] reads it.
pub fn parse_huge_pages(raw: &[u8]) -> Option<HugePages> {
    if core::str::from_utf8(raw).ok()?.trim() == "auto" {
        return Some(HugePages::Auto);
    }
    parse_flag(raw).map(|on| if on { HugePages::On } else { HugePages::Off })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with(pairs: &[(&str, &str)]) -> Settings {
        let pairs: Vec<(String, Vec<u8>)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        from_env(|name| {
            pairs
                .iter()
                .find(|(k, _)| k.as_bytes() == name.to_bytes())
                .map(|(_, v)| &v[..])
        })
    }

    #[test]
    fn no_variables_give_the_defaults() {
        assert_eq!(settings_with(&[]), Settings::DEFAULT);
    }

    #[test]
    fn well_formed_values_are_taken() {
        let s = settings_with(&[
            ("STRATA_ARENA_SIZE", "2M"),
            ("STRATA_PURGE_DELAY_MS", "250"),
            ("STRATA_RETAIN", "0"),
            ("STRATA_HUGE_PAGES", "yes"),
            ("STRATA_VERBOSE", "1"),
            ("STRATA_SHOW_STATS", "on"),
            ("STRATA_BLOCK_OFFSET", "48"),
        ]);
        assert_eq!(
            s,
            Settings {
                arena_size: 2 << 20,
                purge_delay_ms: 250,
                retain_arenas: 0,
                huge_pages: HugePages::On,
                verbose: true,
                show_stats: true,
                block_offset: Some(48),
            }
        );
        assert_eq!(
            settings_with(&[("STRATA_ARENA_SIZE", "1048576")]).arena_size,
            1 << 20
        );
        for (raw, want) in [
            ("auto", HugePages::Auto),
            ("0", HugePages::Off),
            ("off", HugePages::Off),
            ("1", HugePages::On),
        ] {
            assert_eq!(
                settings_with(&[("STRATA_HUGE_PAGES", raw)]).huge_pages,
                want,
                "{raw}"
            );
        }
    }

    #[test]
    fn malformed_values_fall_back_to_the_default() {
        let s = settings_with(&[
            ("STRATA_ARENA_SIZE", "64M"),
            ("STRATA_PURGE_DELAY_MS", "soon"),
            ("STRATA_RETAIN", "-1"),
            ("STRATA_HUGE_PAGES", "maybe"),
            ("STRATA_VERBOSE", "2"),
            ("STRATA_SHOW_STATS", "loud"),
            ("STRATA_BLOCK_OFFSET", "40"),
        ]);
        assert_eq!(s, Settings::DEFAULT);
        assert_eq!(
            settings_with(&[("STRATA_ARENA_SIZE", "1000001")]).arena_size,
            Settings::DEFAULT.arena_size
        );
        assert_eq!(parse_size(b"12X"), None);
        assert_eq!(parse_huge_pages(b"Auto"), None);
        assert_eq!(parse_size(b"99999999999999999999G"), None);
    }
}
