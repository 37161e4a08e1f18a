//! The model's tokenizer: loading `tokenizer.json`, encoding with the official truncation,
//! decoding as transformers does, and training a small T5-style tokenizer for new models.

use std::path::{Path, PathBuf};
use tokenizers::models::unigram::{Unigram, UnigramTrainer};
use tokenizers::normalizers::unicode::NFKC;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer, TruncationParams};

use super::error::{ModelError, Result};

/// At most this many texts train a new tokenizer's pieces.
const TRAIN_TEXTS: usize = 40_000;
/// Multi-character pieces a trained vocabulary has room for beyond its single characters.
const MIN_PIECES: usize = 500;

#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
}

impl TextTokenizer {
    pub fn load(path: &Path) -> Result<TextTokenizer> {
        if !path.is_file() {
            return Err(ModelError::NotFound(format!(
                "{}: tokenizer file not found",
                path.display()
            )));
        }
        let inner = Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(TextTokenizer {
            inner,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> ModelError {
        ModelError::Tokenizer {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids with `</s>` appended, no truncation.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, true)
            .map_err(|e| self.err(e))?
            .get_ids()
            .to_vec())
    }

    /// The official collator's truncation (SPEC §2.2 step 3): a source longer than `max_len`
    /// tokens is cut to its first `max_len` tokens, decoded back to text with special tokens
    /// skipped, and re-encoded with truncation, so `</s>` still ends it. Returns the ids and
    /// whether the source was cut.
    pub fn encode_truncated(&self, text: &str, max_len: usize) -> Result<(Vec<u32>, bool)> {
        let ids = self.encode(text)?;
        if ids.len() <= max_len {
            return Ok((ids, false));
        }
        let cut = self
            .inner
            .decode(&ids[..max_len], true)
            .map_err(|e| self.err(e))?;
        let mut t = self.inner.clone();
        t.with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| self.err(e))?;
        let ids = t
            .encode(cut.as_str(), true)
            .map_err(|e| self.err(e))?
            .get_ids()
            .to_vec();
        Ok((ids, true))
    }

    /// Special tokens skipped and spaces cleaned up, as transformers' `decode` does by default.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let text = self.inner.decode(ids, true).map_err(|e| self.err(e))?;
        Ok(clean_up_tokenization(&text))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner.save(path, false).map_err(|e| self.err(e))
    }

    /// Trains a T5-style tokenizer on `texts`: SentencePiece-unigram pieces after NFKC and
    /// metaspace splitting, `</s>` appended, pad 0 / eos 1 / unk 2.
    ///
    /// A real corpus holds more distinct characters than a small vocabulary has room for (the
    /// unigram trainer then refuses), and training on every prompt of a benchmark takes
    /// minutes. So the pieces are learnt from at most `TRAIN_TEXTS` evenly spaced texts, every
    /// character of every text is kept as a piece of its own (no unknown characters later),
    /// and the vocabulary grows to hold them with `MIN_PIECES` pieces to spare.
    pub fn train_sized(texts: &[String], vocab_size: usize) -> Result<TextTokenizer> {
        let mut alphabet = std::collections::BTreeSet::new();
        for t in texts {
            alphabet.extend(t.chars().filter(|c| !c.is_whitespace()));
        }
        let size = vocab_size.max(alphabet.len() + 3 + MIN_PIECES);
        let step = texts.len().div_ceil(TRAIN_TEXTS).max(1);
        // One extra text holding each character once, so the rare ones are required pieces.
        let every_char: String = alphabet.iter().flat_map(|c| [*c, ' ']).collect();
        let sample = texts
            .iter()
            .step_by(step)
            .map(String::as_str)
            .chain(std::iter::once(every_char.as_str()));
        Self::train(sample, size)
    }

    fn train<'a>(
        texts: impl Iterator<Item = &'a str> + Send,
        vocab_size: usize,
    ) -> Result<TextTokenizer> {
        let here = PathBuf::from("<trained tokenizer>");
        let err = |e: tokenizers::Error| ModelError::Tokenizer {
            path: here.clone(),
            message: e.to_string(),
        };
        let specials = ["<pad>", "</s>", "<unk>"];
        let trainer = UnigramTrainer::builder()
            .vocab_size(vocab_size as u32)
            .show_progress(false)
            .special_tokens(
                specials
                    .iter()
                    .map(|s| AddedToken::from(*s, true))
                    .collect(),
            )
            .unk_token(Some("<unk>".into()))
            .build()
            .map_err(|e| ModelError::Tokenizer {
                path: here.clone(),
                message: e.to_string(),
            })?;
        let mut tok = Tokenizer::new(Unigram::default());
        tok.with_normalizer(Some(NFKC)).map_err(err)?;
        tok.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
        tok.with_decoder(Some(Metaspace::new('▁', PrependScheme::Always, true)));
        let texts: Vec<String> = texts.map(str::to_string).collect();
        // esaxx-rs, the suffix array under the unigram trainer, panicked once in a CI run of
        // `model init` on the sample data ("range end index 7224 out of range for slice of
        // length 7223"; 100 local runs did not repeat it). The trainer hands it the words in
        // hash order, which changes from one attempt to the next, so the same texts are tried
        // again before giving up with an error.
        let mut attempts = 0;
        let trained = loop {
            attempts += 1;
            let mut t = tok.clone();
            let mut trainer = tokenizers::models::TrainerWrapper::UnigramTrainer(trainer.clone());
            let texts = texts.clone();
            let run = std::panic::AssertUnwindSafe(move || {
                t.train(&mut trainer, texts.into_iter())?;
                Ok(t)
            });
            match std::panic::catch_unwind(run) {
                Ok(result) => break result.map_err(err)?,
                Err(_) if attempts < 3 => continue,
                Err(_) => {
                    return Err(ModelError::Tokenizer {
                        path: here,
                        message: "the unigram trainer (esaxx-rs) panicked three times".into(),
                    })
                }
            }
        };
        let mut tok = trained;
        tok.add_special_tokens(specials.iter().map(|s| AddedToken::from(*s, true)))
            .map_err(err)?;
        let post = TemplateProcessing::builder()
            .try_single("$A </s>")
            .map_err(|e| ModelError::Tokenizer {
                path: here.clone(),
                message: e.to_string(),
            })?
            .special_tokens(vec![("</s>", 1)])
            .build()
            .map_err(|e| ModelError::Tokenizer {
                path: here.clone(),
                message: e.to_string(),
            })?;
        tok.with_post_processor(Some(post));
        for (i, s) in specials.iter().enumerate() {
            if tok.token_to_id(s) != Some(i as u32) {
                return Err(ModelError::Tokenizer {
                    path: here,
                    message: format!("special token {s} did not get id {i}"),
                });
            }
        }
        Ok(TextTokenizer {
            inner: tok,
            path: here,
        })
    }
}

/// transformers' `clean_up_tokenization`: removes spaces before punctuation and contractions.
pub fn clean_up_tokenization(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_matches_transformers() {
        // python: PreTrainedTokenizerBase.clean_up_tokenization("a , b . c ' d do n't I 'm it 's we 've they 're ?")
        assert_eq!(
            clean_up_tokenization("a , b . c ' d do n't I 'm it 's we 've they 're ?"),
            "a, b. c'd don't I'm it's we've they're?"
        );
    }

    #[test]
    fn real_t5_tokenizer_gives_the_documented_ids() {
        let Some(shared) = std::env::var_os("IE_BENCH_SHARED") else {
            return;
        };
        let t =
            TextTokenizer::load(&PathBuf::from(shared).join("models/t5-tokenizer/tokenizer.json"))
                .unwrap();
        assert_eq!(
            t.encode("EU rejects German call to boycott British lamb .")
                .unwrap(),
            [3371, 15092, 7, 2968, 580, 12, 30242, 2390, 17871, 3, 5, 1]
        );
        assert_eq!(
            t.decode(&[0, 3371, 15092, 7, 3, 5, 1]).unwrap(),
            "EU rejects."
        );
        let long = "word ".repeat(40);
        let (ids, cut) = t.encode_truncated(&long, 16).unwrap();
        assert!(cut);
        assert_eq!(ids.len(), 16);
        assert_eq!(*ids.last().unwrap(), 1);
    }

    #[test]
    fn trained_tokenizer_is_t5_shaped() {
        let texts = [
            "person: Marie Curie; location: Paris",
            "Option: person, location \nText: Marie went to Paris . \nAnswer:",
        ];
        let texts: Vec<String> = texts
            .iter()
            .map(std::string::ToString::to_string)
            .cycle()
            .take(50)
            .collect();
        let t = TextTokenizer::train_sized(&texts, 120).unwrap();
        let ids = t.encode("person: Marie").unwrap();
        assert_eq!(*ids.last().unwrap(), 1);
        assert!(
            !ids.contains(&2),
            "no unknown pieces for seen text: {ids:?}"
        );
        assert_eq!(t.decode(&ids).unwrap(), "person: Marie");
    }

    #[test]
    fn a_corpus_with_more_characters_than_the_vocabulary_still_trains() {
        // 3,000 distinct characters (CJK) against a requested vocabulary of 100.
        let texts: Vec<String> = (0..3000u32)
            .map(|i| {
                let c = char::from_u32(0x4e00 + i).unwrap();
                format!("person: {c}{c} went to Paris")
            })
            .collect();
        let t = TextTokenizer::train_sized(&texts, 100).unwrap();
        assert!(t.vocab_size() >= 3000 + 3, "{}", t.vocab_size());
        let rare = format!("{} Paris", char::from_u32(0x4e00 + 2999).unwrap());
        let ids = t.encode(&rare).unwrap();
        assert!(!ids.contains(&2), "every character is a piece: {ids:?}");
    }
}
