//! A decoder's tokenizer and the official decoder-only instance format
//! (`uie_collator.py` `decoder_call`): inference input `bos + source`; training sequence
//! `bos + source + target + eos`, loss on the target and eos tokens only; a sequence that is
//! too long is cut by decoding its first `limit` tokens and tokenizing that text again.

use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

use super::config::DecoderConfig;
use crate::model::error::{ModelError, Result};

#[derive(Clone)]
pub struct DecoderTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    pub bos: u32,
    pub eos: u32,
}

/// One training example in the decoder format.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderExample {
    /// bos + source + target + eos, cut to the limit.
    pub ids: Vec<u32>,
    /// The last `target_len` tokens are predicted (the loss is on them).
    pub target_len: usize,
}

impl DecoderExample {
    /// The tokens the loss is on: `target_len`, but never the first token (nothing predicts
    /// it).
    pub fn targets(&self) -> usize {
        self.target_len.min(self.ids.len().saturating_sub(1))
    }
}

impl DecoderTokenizer {
    pub fn load(path: &Path, cfg: &DecoderConfig) -> Result<DecoderTokenizer> {
        let inner = Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::wrap(inner, path, cfg)
    }

    pub fn from_json(json: &str, path: &Path, cfg: &DecoderConfig) -> Result<DecoderTokenizer> {
        let inner: Tokenizer =
            json.parse()
                .map_err(|e: tokenizers::Error| ModelError::Tokenizer {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
        Self::wrap(inner, path, cfg)
    }

    fn wrap(inner: Tokenizer, path: &Path, cfg: &DecoderConfig) -> Result<DecoderTokenizer> {
        let n = inner.get_vocab_size(true);
        if n != cfg.vocab_size {
            return Err(ModelError::Tokenizer {
                path: path.to_path_buf(),
                message: format!("{n} tokens, but the model has {}", cfg.vocab_size),
            });
        }
        Ok(DecoderTokenizer {
            inner,
            path: path.to_path_buf(),
            bos: cfg.bos,
            eos: cfg.eos[0],
        })
    }

    /// The `tokenizers` tokenizer underneath (its vocabulary, for constrained decoding).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl std::fmt::Display) -> ModelError {
        ModelError::Tokenizer {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Ids of `text`, no special tokens added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(|e| self.err(e))?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| self.err(e))
    }

    /// The collator's cut: the first `limit` ids decoded (special tokens kept), tokenized
    /// again and truncated to `limit`.
    fn cut(&self, ids: &[u32], limit: usize) -> Result<Vec<u32>> {
        if ids.len() <= limit {
            return Ok(ids.to_vec());
        }
        let text = self
            .inner
            .decode(&ids[..limit], false)
            .map_err(|e| self.err(e))?;
        let mut again = self.encode(&text)?;
        again.truncate(limit);
        Ok(again)
    }

    /// The inference input: bos + source, cut at `max_source_length`; and whether it was cut.
    pub fn source_ids(&self, source: &str, max_source_length: usize) -> Result<(Vec<u32>, bool)> {
        let mut ids = vec![self.bos];
        ids.extend(self.encode(source)?);
        let limit = max_source_length.max(1);
        Ok((self.cut(&ids, limit)?, ids.len() > limit))
    }

    /// A training sequence, cut at `max_source_length + max_target_length`; the target
    /// keeps what is left after the source (none when the source alone fills the limit).
    pub fn example(
        &self,
        source: &str,
        target: &str,
        max_source_length: usize,
        max_target_length: usize,
    ) -> Result<DecoderExample> {
        let limit = (max_source_length + max_target_length).max(1);
        let mut src = vec![self.bos];
        src.extend(self.encode(source)?);
        let mut tgt = self.encode(target)?;
        tgt.push(self.eos);
        let whole: Vec<u32> = src.iter().chain(&tgt).copied().collect();
        if whole.len() <= limit {
            return Ok(DecoderExample {
                ids: whole,
                target_len: tgt.len(),
            });
        }
        let ids = self.cut(&whole, limit)?;
        let target_len = limit
            .saturating_sub(src.len())
            .min(ids.len().saturating_sub(1));
        Ok(DecoderExample { ids, target_len })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner.save(path, false).map_err(|e| self.err(e))
    }
}
