//! Answers from a decoder for many prompts: `bos + source` cut as the official collator cuts
//! it, sorted by length into batches, greedy continuations decoded back to text.

use super::constrain::TokenBytes;
use super::DecoderModel;
use crate::model::cpu::decoder::Prepared;
use crate::model::cpu::decoder_generate::{generate, Constraint, KeptPrompt, Stop};
use crate::model::cpu::quantized::{HeadScreen, Q8Decoder};
use crate::model::error::{ModelError, Result};
use crate::model::predict::{in_length_order, DecodeWeights, Generation, PredictOptions};
use crate::prompt::AnswerGrammar;

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

    /// Answers for `sources`; with `grammars` (one per source), each answer stays inside its
    /// grammar.
    pub fn predict(
        &self,
        sources: &[String],
        grammars: Option<&[AnswerGrammar]>,
        opts: &PredictOptions,
        progress: impl FnMut(usize),
    ) -> Result<Vec<Generation>> {
        let encoded: Vec<(Vec<u32>, bool)> = sources
            .iter()
            .map(|s| self.tokenizer.source_ids(s, opts.max_source_length))
            .collect::<Result<_>>()?;
        let longest = encoded.iter().map(|e| e.0.len()).max().unwrap_or(0);
        let q8 = (opts.decode_weights == DecodeWeights::Q8)
            .then(|| Q8Decoder::of(&self.cfg, &self.weights));
        // With f32 weights the greedy tokens are the f32 head's, found through an int8 copy
        // (constrained decoding scores its few allowed tokens in f32 directly).
        let screen = (opts.decode_weights == DecodeWeights::F32 && grammars.is_none())
            .then(|| HeadScreen::of(self.weights.head(), self.cfg.vocab_size))
            .flatten();
        let p = Prepared::new(&self.cfg, &self.weights, longest + opts.max_new_tokens + 1)
            .with_q8(q8.as_ref())
            .with_head_screen(screen.as_ref());
        let stop = Stop {
            eos: self.cfg.eos.clone(),
            newline: if opts.stop_at_newline {
                self.newline_ids()
            } else {
                Vec::new()
            },
        };
        if grammars.is_some_and(|g| g.len() != sources.len()) {
            return Err(ModelError::Unsupported(
                "constrained decoding needs one answer grammar per source".into(),
            ));
        }
        let tokens = grammars.map(|_| TokenBytes::of_tokenizer(&self.tokenizer));
        let mut kept = KeptPrompt::default();
        in_length_order(&encoded, opts.batch_size, progress, |which, rows| {
            let prompts: Vec<Vec<u32>> = rows.iter().map(|r| r.to_vec()).collect();
            let constraint = grammars.zip(tokens.as_ref()).map(|(g, tokens)| Constraint {
                tokens,
                grammars: which.iter().map(|&i| &g[i]).collect(),
            });
            generate(
                &p,
                &prompts,
                opts.max_new_tokens,
                &stop,
                constraint.as_ref(),
                &mut kept,
                &mut |_| {},
            )
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
