//! Threads: cross-thread frees over channels, and blocks that outlive the
//! short-lived threads that allocated them.

use crossbeam::channel;
use std::sync::Mutex;
use std::thread;

/// Held by every test here: one of them reads process-wide pool counts,
/// which the others' blocks would inflate if they ran at the same time.
static SERIAL: Mutex<()> = Mutex::new(());

#[global_allocator]
static GLOBAL: strata::Strata = strata::Strata;

fn pattern(tag: u64, len: usize) -> Vec<u64> {
    (0..len as u64)
        .map(|i| tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i)
        .collect()
}

fn check(tag: u64, block: &[u64]) {
    assert!(
        block
            .iter()
            .enumerate()
            .all(|(i, &v)| v == tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64),
        "block {tag} corrupted"
    );
}

/// Runs `threads` threads that each make `per_thread` patterned blocks;
/// `route(me, n)` gives block `n` of thread `me` its length and the thread
/// that frees it (`None`: freed at once by its maker). Every block is
/// checked before it is freed, and every one is accounted for.
fn exchange_blocks(
    threads: usize,
    per_thread: u64,
    route: impl Fn(usize, u64) -> (usize, Option<usize>) + Copy + Send + 'static,
) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..threads)
        .map(|_| channel::unbounded::<(u64, Vec<u64>)>())
        .unzip();
    let workers: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(me, inbox)| {
            let outboxes = senders.clone();
            thread::spawn(move || {
                let mut checked = 0u64;
                for n in 0..per_thread {
                    let tag = me as u64 * per_thread + n;
                    let (len, target) = route(me, n);
                    let block = pattern(tag, len);
                    match target {
                        Some(target) => outboxes[target].send((tag, block)).unwrap(),
                        None => {
                            check(tag, &block);
                            checked += 1;
                        }
                    }
                    while let Ok((tag, block)) = inbox.try_recv() {
                        check(tag, &block);
                        checked += 1;
                    }
                }
                drop(outboxes);
                (inbox, checked)
            })
        })
        .collect();
    drop(senders);
    let mut total = 0;
    let inboxes: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let (inbox, checked) = w.join().unwrap();
            total += checked;
            inbox
        })
        .collect();
    for inbox in inboxes {
        for (tag, block) in inbox.iter() {
            check(tag, &block);
            total += 1;
        }
    }
    assert_eq!(total, threads as u64 * per_thread);
}

#[test]
fn blocks_freed_by_other_threads_keep_their_contents_and_are_reused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const THREADS: usize = 4;
    exchange_blocks(THREADS, 20_000, |me, n| {
        let target = (me + 1 + n as usize % (THREADS - 1)) % THREADS;
        (1 + (n as usize * 7) % 100, Some(target))
    });
}

#[test]
fn blocks_outliving_their_thread_are_freed_and_their_memory_reused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut survivors = Vec::new();
    for round in 0..200u64 {
        let blocks = thread::spawn(move || {
            (0..200u64)
                .map(|i| (round * 1000 + i, pattern(round * 1000 + i, 16)))
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        survivors.push(blocks);
        if survivors.len() > 8 {
            for (tag, block) in survivors.remove(0) {
                check(tag, &block);
            }
        }
    }
    for batch in survivors.drain(..) {
        for (tag, block) in batch {
            check(tag, &block);
        }
    }
    // Orphaned pools are adopted by threads that need them; after a trim none
    // is left holding only freed blocks.
    let _warm: Vec<Vec<u64>> = (0..2000).map(|i| pattern(i, 16)).collect();
    strata::trim();
    let stats = strata::stats();
    let class = stats
        .classes
        .iter()
        .position(|c| c.block_size == 128)
        .unwrap();
    assert!(
        stats.classes[class].pools < 40,
        "memory of exited threads is reused:\n{stats}"
    );
}

#[test]
fn many_threads_allocate_concurrently_without_losing_blocks() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let workers: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                let mut held: Vec<Vec<u64>> = Vec::new();
                for i in 0..30_000u64 {
                    held.push(pattern(t * 1_000_000 + i, (i % 70) as usize));
                    if i % 3 == 0 {
                        let victim = held.swap_remove((i as usize * 31) % held.len());
                        assert!(!victim.is_empty() || victim.capacity() == 0);
                    }
                }
                held.len()
            })
        })
        .collect();
    for w in workers {
        assert_eq!(w.join().unwrap(), 20_000);
    }
}

/// Blocks of the big classes (16 KiB to 128 KiB), whose current pool goes
/// back to its arena as soon as it empties, freed half by their own thread
/// and half by another, while the owners keep allocating: every block keeps
/// its contents, and nothing is lost when pools go and come back.
#[test]
fn big_blocks_freed_locally_and_remotely_keep_their_contents() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const THREADS: usize = 3;
    exchange_blocks(THREADS, 3_000, |me, n| {
        // 2 Ki to 16 Ki words: 16 KiB to 128 KiB. Every other block is
        // freed by its maker at once (a current pool that empties), the
        // rest by the next thread.
        let words = 2048 + (n as usize * 977) % (14 * 1024);
        (words, (n % 2 == 1).then_some((me + 1) % THREADS))
    });
}

/// Lists grown by appends on several threads at once, as CPython grows
/// them (an eighth more each time the list is full), from 4 to 80,000
/// items and freed by another thread: they move between medium classes,
/// into runs placed with room, into cached huge mappings that another
/// thread's list left, and grow in place there, with every item kept.
#[test]
fn lists_growing_side_by_side_on_threads_keep_their_items() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const THREADS: usize = 4;
    const ROUNDS: u64 = 6;
    let (send, receive) = channel::unbounded::<(u64, Vec<u64>)>();
    thread::scope(|scope| {
        for me in 0..THREADS as u64 {
            let send = send.clone();
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    let tag = me * ROUNDS + round;
                    let mut lists: Vec<Vec<u64>> = (0..3).map(|_| Vec::with_capacity(4)).collect();
                    for i in 0..80_000u64 {
                        for list in &mut lists {
                            if list.len() == list.capacity() {
                                let n = list.len() + 1;
                                list.reserve_exact((n + (n >> 3) + 6) - list.len());
                            }
                            list.push(tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i);
                        }
                    }
                    for list in lists {
                        send.send((tag, list)).unwrap();
                    }
                }
            });
        }
        drop(send);
        scope.spawn(move || {
            let mut seen = 0;
            for (tag, list) in receive {
                assert_eq!(list.len(), 80_000);
                check(tag, &list);
                seen += 1;
            }
            assert_eq!(seen, THREADS * ROUNDS as usize * 3);
        });
    });
}

/// Blocks freed by another thread come back to their pools counted exactly:
/// once the owner has collected them, its pools of that class hold no block
/// in use. (The owner takes each chain of remote frees whole, with the
/// length the freeing threads kept in the chain's head.)
#[test]
fn remote_frees_are_counted_exactly_and_the_pools_empty_out() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const SIZE: usize = 232;
    let in_use = || {
        let stats = strata::stats();
        let class = stats
            .classes
            .iter()
            .position(|c| c.block_size == SIZE)
            .unwrap();
        stats.classes[class].blocks_in_use
    };
    let before = in_use();
    for round in 0..3 {
        let blocks: Vec<Vec<u8>> = (0..40_000).map(|i| vec![(i % 251) as u8; SIZE]).collect();
        assert!(in_use() >= before + 40_000);
        // Freed in several batches by two threads, so chains of many
        // lengths arrive while the owner keeps allocating.
        let (send, receive) = channel::unbounded::<Vec<Vec<u8>>>();
        let freers: Vec<_> = (0..2)
            .map(|_| {
                let receive = receive.clone();
                thread::spawn(move || {
                    for batch in receive {
                        for (i, block) in batch.into_iter().enumerate() {
                            assert!(
                                block.iter().all(|&b| b == block[0]),
                                "round {round}, block {i}"
                            );
                        }
                    }
                })
            })
            .collect();
        let mut blocks = blocks.into_iter();
        loop {
            let batch: Vec<Vec<u8>> = blocks.by_ref().take(997).collect();
            if batch.is_empty() {
                break;
            }
            send.send(batch).unwrap();
            // The owner allocates and frees meanwhile, collecting chains.
            drop(vec![0u8; SIZE]);
        }
        drop(send);
        freers.into_iter().for_each(|f| f.join().unwrap());
        // The owner collects what is left.
        strata::trim();
        assert_eq!(
            in_use(),
            before,
            "round {round}: blocks still counted in use"
        );
    }
}
