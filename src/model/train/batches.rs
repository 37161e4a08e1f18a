//! The batches of each epoch: a seeded, length-bucketed order, reproducible from the seed and
//! the epoch alone, so a resumed run sees the same batches.

use super::*;

/// The micro-batches of one epoch: a seeded shuffle, megabatches of 50 batches sorted by source
/// length (as HF's `group_by_length`), cut into batches, and the batches shuffled again.
///
/// The last shuffle matters: without it every 50 steps run from the longest sources to the
/// shortest, and the shortest CoNLL sentences mostly have the target `None`. A model then
/// checkpointed at a multiple of 50 steps has just been pushed towards `None` by several
/// batches in a row, and answers `None` for every input.
pub fn epoch_batches(
    examples: &[Example],
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let lens: Vec<usize> = examples.iter().map(|e| e.source.len()).collect();
    epoch_batches_by_length(&lens, batch_size, seed, epoch)
}

/// `epoch_batches` for examples of the given lengths.
pub fn epoch_batches_by_length(
    lens: &[usize],
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let mut rng = SplitMix(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut idx: Vec<usize> = (0..lens.len()).collect();
    shuffle(&mut idx, &mut rng);
    let mega = batch_size * 50;
    let mut out = Vec::new();
    for chunk in idx.chunks(mega) {
        let mut c = chunk.to_vec();
        c.sort_by_key(|&i| std::cmp::Reverse(lens[i]));
        out.extend(c.chunks(batch_size).map(<[usize]>::to_vec));
    }
    shuffle(&mut out, &mut rng);
    out
}

/// Fisher-Yates with the seeded generator.
fn shuffle<T>(items: &mut [T], rng: &mut SplitMix) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
