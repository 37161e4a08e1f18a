//! Greedy decoding on the CPU with the hand-written forward pass: `stack`'s encoder, then one
//! decoder step per token over key/value caches, each weight matrix streamed once per step on
//! every core (`matmul::x_times_wt`). The same steps as `T5::generate_with` on candle, which
//! spent about as long on its per-op bookkeeping (some 45 tensor ops per layer and token) as
//! on reading the weights, which is all a step of one row has to do.

use super::layout::{Layout, Weights};
use super::ops::{linear, par_add_assign, Normed};
use super::stack::{Batch, Dims};
use crate::model::config::T5Config;
use crate::model::error::Result;
use crate::model::params::Params;

/// The new ids of each source, EOS included when reached; all rows stop at `max_new`, and
/// without `stop_at_eos` every row gets exactly `max_new` (benchmarks on random weights).
pub fn generate(
    cfg: &T5Config,
    layout: &Layout,
    params: &Params,
    sources: &[&[u32]],
    max_new: usize,
    stop_at_eos: bool,
) -> Result<Vec<Vec<u32>>> {
    layout.with_weights(params, |w| {
        // Inside the pool, the many small parallel loops of a step are handed to the other
        // threads directly instead of each being injected from outside and waited for.
        rayon::scope(|_| decode(cfg, layout, w, sources, max_new, stop_at_eos))
    })
}

fn decode(
    cfg: &T5Config,
    layout: &Layout,
    w: &Weights,
    sources: &[&[u32]],
    max_new: usize,
    stop_at_eos: bool,
) -> Vec<Vec<u32>> {
    let batch = Batch::new(cfg, sources, &[]);
    let Dims { b, s, d, inner, .. } = batch.dims;
    let eps = batch.eps();
    let enc = batch.stack(layout, w, None, false).last.out;
    // Cross-attention keys and values, once per layer.
    let cross: Vec<(Vec<f32>, Vec<f32>)> = layout
        .decoder
        .blocks
        .iter()
        .map(|blk| {
            let (slots, _) = blk.cross.as_ref().expect("decoder blocks have cross");
            (
                linear(&enc, b * s, &w[slots.k], inner),
                linear(&enc, b * s, &w[slots.v], inner),
            )
        })
        .collect();
    // Self-attention caches with room for every step: [b, max_new, inner] each.
    let cap = max_new.max(1);
    let mut caches: Vec<(Vec<f32>, Vec<f32>)> =
        vec![(vec![0f32; b * cap * inner], vec![0f32; b * cap * inner]); cross.len()];
    let (hw, factor) = layout.head(d);
    let vocab = w[hw].len() / d;
    let (eos, pad) = (cfg.eos_token_id as u32, cfg.pad_token_id as u32);
    let mut cur = vec![cfg.decoder_start_token_id as u32; b];
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut done = vec![false; b];
    for step in 0..max_new {
        let mut x = batch.embed(&w[layout.shared], &cur);
        let (bias, _) = batch.position_bias(&w[layout.decoder.rel_bias], step, 1, step + 1, true);
        for ((blk, (kc, vc)), (ck, cv)) in layout.decoder.blocks.iter().zip(&mut caches).zip(&cross)
        {
            let a = &blk.self_attn;
            let input = Normed::new(x.clone(), &w[blk.self_ln], eps, d);
            let q = linear(&input.out, b, &w[a.q], inner);
            let k = linear(&input.out, b, &w[a.k], inner);
            let v = linear(&input.out, b, &w[a.v], inner);
            for bi in 0..b {
                let at = (bi * cap + step) * inner;
                kc[at..at + inner].copy_from_slice(&k[bi * inner..(bi + 1) * inner]);
                vc[at..at + inner].copy_from_slice(&v[bi * inner..(bi + 1) * inner]);
            }
            let (_, ctx) = batch.attention(&q, kc, vc, (1, step + 1), cap, Some(&bias), None);
            par_add_assign(&mut x, &linear(&ctx, b, &w[a.o], d));
            let (c, cross_ln) = blk.cross.as_ref().expect("decoder blocks have cross");
            let input = Normed::new(x.clone(), &w[*cross_ln], eps, d);
            let q = linear(&input.out, b, &w[c.q], inner);
            let (_, ctx) = batch.attention(&q, ck, cv, (1, s), s, None, Some(&batch.src_mask));
            par_add_assign(&mut x, &linear(&ctx, b, &w[c.o], d));
            batch.ff_forward(w, &blk.ff, blk.ff_ln, &mut x);
        }
        let mut h = Normed::new(x, &w[layout.decoder.final_ln], eps, d).out;
        h.iter_mut().for_each(|v| *v *= factor);
        let logits = linear(&h, b, &w[hw], vocab);
        for (r, row) in logits.chunks_exact(vocab).enumerate() {
            if done[r] {
                cur[r] = pad;
                continue;
            }
            // The first of equal maxima, as torch's argmax.
            let next = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |m, (i, &v)| if v > m.1 { (i, v) } else { m },
                )
                .0 as u32;
            out[r].push(next);
            cur[r] = next;
            done[r] = stop_at_eos && next == eos;
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::model::params::{Params, SplitMix};
    use crate::model::predict::{pad_batch, Decoding};
    use crate::model::{T5Config, T5};
    use candle_core::Device;

    /// The hand-written decoder against candle's graph on the same random models (v1.0 and
    /// Flan forms), a padded batch of uneven sources, 24 tokens each, EOS ignored.
    #[test]
    fn greedy_decoding_equals_the_graph_path() {
        for gated in [false, true] {
            let mut cfg = T5Config::shape("tiny", 300).unwrap();
            if !gated {
                cfg.feed_forward_proj = "relu".into();
                cfg.tie_word_embeddings = true;
            }
            let params = Params::random(&cfg, 3, &Device::Cpu).unwrap();
            let model = T5::new(&cfg, &params).unwrap();
            let mut rng = SplitMix(9);
            let rows: Vec<Vec<u32>> = [7, 40, 1, 150]
                .iter()
                .map(|&n| (0..n).map(|_| 2 + (rng.next_u64() % 298) as u32).collect())
                .collect();
            let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
            let (ids, mask) = pad_batch(&refs, 0, &Device::Cpu).unwrap();
            let ours = Decoding::of(&model, &params)
                .generate(&refs, 24, false)
                .unwrap();
            let graph = model.generate_with(&ids, &mask, 24, false).unwrap();
            assert_eq!(ours, graph, "gated {gated}");
            assert!(ours.iter().all(|r| r.len() == 24));
        }
    }
}
