//! `larson`: the server pattern of Larson and Krishnan's benchmark. Each of
//! `--threads` threads owns a window of blocks and replaces random ones; at
//! the end of a round every window passes to the next thread, which goes on
//! replacing — and freeing — blocks another thread allocated.

use super::block::Block;
use super::Params;
use crate::metrics::Probe;
use rand::Rng;

const WINDOW: usize = 1_000;
const ROUNDS: u64 = 40;
/// Replacements per thread per round at scale 1.
const PER_ROUND: u64 = 50_000;

pub fn run(params: &Params, probe: &mut Probe) {
    let threads = params.threads.max(1);
    let mut rng = params.rng(20);
    let mut windows: Vec<Vec<Block>> = (0..threads)
        .map(|_| {
            (0..WINDOW)
                .map(|_| Block::new(rng.gen_range(16..=1024), probe))
                .collect()
        })
        .collect();
    let per_round = params.count(PER_ROUND);
    for round in 0..params.count(ROUNDS) {
        let done: Vec<(Vec<Block>, Probe)> = std::thread::scope(|scope| {
            let handles: Vec<_> = windows
                .drain(..)
                .enumerate()
                .map(|(t, mut window)| {
                    let mut local = probe.sibling();
                    let mut rng = params.rng(1000 * round + t as u64);
                    scope.spawn(move || {
                        for _ in 0..per_round {
                            let slot = rng.gen_range(0..WINDOW);
                            let timer = local.begin_op();
                            let fresh = Block::new(rng.gen_range(16..=1024), &mut local);
                            std::mem::replace(&mut window[slot], fresh).free(&mut local);
                            local.end_op(timer);
                        }
                        (window, local)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("worker thread panicked"))
                .collect()
        });
        for (window, local) in done {
            windows.push(window);
            probe.absorb(local);
        }
        windows.rotate_left(1);
    }
    windows.into_iter().flatten().for_each(|b| b.free(probe));
}
