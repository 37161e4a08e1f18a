//! Answers from a decoder for many prompts: `bos + source` cut as the official collator cuts
//! it, sorted by length into batches, greedy continuations decoded back to text.

use super::DecoderModel;
use crate::model::cpu::decoder::Prepared;
use crate::model::cpu::decoder_generate::{generate, Stop};
use crate::model::error::Result;
use crate::model::predict::{in_length_order, Generation, PredictOptions};

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
        progress: impl FnMut(usize),
    ) -> Result<Vec<Generation>> {
        let encoded: Vec<(Vec<u32>, bool)> = sources
            .iter()
            .map(|s| self.tokenizer.source_ids(s, opts.max_source_length))
            .collect::<Result<_>>()?;
        let longest = encoded.iter().map(|e| e.0.len()).max().unwrap_or(0);
        let p = Prepared::new(&self.cfg, &self.weights, longest + opts.max_new_tokens + 1);
        let stop = Stop {
            eos: self.cfg.eos.clone(),
            newline: if opts.stop_at_newline {
                self.newline_ids()
            } else {
                Vec::new()
            },
        };
        in_length_order(&encoded, opts.batch_size, progress, |rows| {
            let prompts: Vec<Vec<u32>> = rows.iter().map(|r| r.to_vec()).collect();
            generate(&p, &prompts, opts.max_new_tokens, &stop, &mut |_| {})
                .into_iter()
                .map(|g| {
                    Ok(Generation {
                        text: self.tokenizer.decode(&g)?.trim().to_string(),
                        hit_limit: g.len() >= opts.max_new_tokens,
                        ids: g,
                        source_truncated: false,
                    })
                })
                .collect()
        })
    }
}
