//! Answers from a decoder for many prompts: `bos + source` cut as the official collator cuts
//! it, sorted by length into batches, greedy continuations decoded back to text.

use super::DecoderModel;
use crate::model::cpu::decoder::Prepared;
use crate::model::cpu::decoder_generate::{generate, Stop};
use crate::model::error::Result;
use crate::model::predict::{Generation, PredictOptions};

impl DecoderModel {
    /// Ids whose piece holds a newline (the byte token and any piece with "\n" in it).
    pub fn newline_ids(&self) -> Vec<u32> {
        (0..self.cfg.vocab_size as u32)
            .filter(|&id| {
                self.tokenizer
                    .decode(&[id])
                    .map(|t| t.contains('\n'))
                    .unwrap_or(false)
            })
            .collect()
    }

    pub fn predict(
        &self,
        sources: &[String],
        opts: &PredictOptions,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<Generation>> {
        let encoded: Vec<Vec<u32>> = sources
            .iter()
            .map(|s| self.tokenizer.source_ids(s, opts.max_source_length))
            .collect::<Result<_>>()?;
        let cut: Vec<bool> = sources
            .iter()
            .zip(&encoded)
            .map(|(s, e)| {
                e.len() >= opts.max_source_length
                    && self.tokenizer.encode(s).map(|x| x.len() + 1).unwrap_or(0)
                        > opts.max_source_length
            })
            .collect();
        let longest = encoded.iter().map(Vec::len).max().unwrap_or(0);
        let p = Prepared::new(&self.cfg, &self.weights, longest + opts.max_new_tokens + 1);
        let stop = Stop {
            eos: self.cfg.eos.clone(),
            newline: if opts.stop_at_newline {
                self.newline_ids()
            } else {
                Vec::new()
            },
        };
        let mut order: Vec<usize> = (0..sources.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].len()));
        let mut out: Vec<Option<Generation>> = vec![None; sources.len()];
        let mut done = 0;
        for chunk in order.chunks(opts.batch_size.max(1)) {
            let prompts: Vec<Vec<u32>> = chunk.iter().map(|&i| encoded[i].clone()).collect();
            let gens = generate(&p, &prompts, opts.max_new_tokens, &stop, &mut |_| {});
            for (&i, g) in chunk.iter().zip(gens) {
                out[i] = Some(Generation {
                    text: self.tokenizer.decode(&g)?.trim().to_string(),
                    hit_limit: g.len() >= opts.max_new_tokens,
                    ids: g,
                    source_truncated: cut[i],
                });
            }
            done += chunk.len();
            progress(done);
        }
        Ok(out
            .into_iter()
            .map(|g| g.expect("every source is predicted"))
            .collect())
    }
}
