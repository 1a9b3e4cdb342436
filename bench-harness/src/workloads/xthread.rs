//! `xthread`: producer threads allocate blocks of 16-256 B and hand them in
//! batches to consumer threads, which free them: every free is a remote free.
//! `--threads N` runs N/2 producers and N/2 consumers (at least one each).

use super::block::Block;
use super::Params;
use crate::metrics::Probe;
use rand::Rng;
use std::sync::mpsc::sync_channel;

const BLOCKS: u64 = 3_000_000;
/// Blocks per message: amortises the channel so the allocator dominates.
const BATCH: usize = 256;
/// Batches in flight per producer: bounds the live heap.
const IN_FLIGHT: usize = 16;

pub fn run(params: &Params, probe: &mut Probe) {
    let pairs = (params.threads / 2).max(1);
    let per_producer = params.count(BLOCKS) / pairs as u64 + 1;
    let results: Vec<Probe> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for pair in 0..pairs {
            let (send, receive) = sync_channel::<Vec<Block>>(IN_FLIGHT);
            let mut producer_probe = probe.sibling();
            let mut rng = params.rng(10 + pair as u64);
            handles.push(scope.spawn(move || {
                let mut left = per_producer;
                while left > 0 {
                    let n = left.min(BATCH as u64) as usize;
                    let mut batch = Vec::with_capacity(n);
                    for _ in 0..n {
                        let timer = producer_probe.begin_op();
                        batch.push(Block::new(rng.gen_range(16..=256), &mut producer_probe));
                        producer_probe.end_op(timer);
                    }
                    left -= n as u64;
                    send.send(batch)
                        .expect("consumer alive until the channel closes");
                }
                producer_probe
            }));
            let mut consumer_probe = probe.sibling();
            handles.push(scope.spawn(move || {
                for batch in receive {
                    for block in batch {
                        let timer = consumer_probe.begin_op();
                        block.free(&mut consumer_probe);
                        consumer_probe.end_op(timer);
                    }
                }
                consumer_probe
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread panicked"))
            .collect()
    });
    results.into_iter().for_each(|p| probe.absorb(p));
}
