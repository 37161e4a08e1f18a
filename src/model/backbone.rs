//! The two kinds of model a run can use: a T5 encoder-decoder (our candle/CPU engine) or a
//! decoder-only language model (Gemma 3, `model::decoder`), behind one load and one predict.

use candle_core::Device;

use super::checkpoint::{self, Loaded};
use super::decoder::{self, DecoderModel};
use super::error::{ModelError, Result};
use super::predict::{predict, DecodeWeights, Generation, PredictOptions};
use crate::prompt::{AnswerGrammar, PromptInstance};

pub enum Backbone {
    // Boxed so that a `Backbone` is small to move whichever it holds; the weights live on the
    // heap either way.
    T5(Box<Loaded>),
    Decoder(Box<DecoderModel>),
}

impl Backbone {
    /// A T5 folder or repo id, a decoder folder, a `.gguf` file, or a fetched model's name.
    pub fn load(spec: &str, device: &Device) -> Result<Backbone> {
        if let Some(e) = decoder::fetch::not_installed(spec) {
            return Err(e);
        }
        let path = decoder::resolve(spec);
        if decoder::is_decoder(&path) {
            return Ok(Backbone::Decoder(Box::new(DecoderModel::load(&path)?)));
        }
        Ok(Backbone::T5(Box::new(checkpoint::load(spec, device)?)))
    }

    /// Whether `spec` names a decoder-only model.
    pub fn is_decoder(spec: &str) -> bool {
        decoder::is_decoder(&decoder::resolve(spec))
    }

    pub fn source(&self) -> String {
        match self {
            Backbone::T5(l) => l.dir.display().to_string(),
            Backbone::Decoder(d) => d.source.display().to_string(),
        }
    }

    /// Answers for `instances`, in order; with `opts.constrain`, inside their answer grammars.
    pub fn predict_instances(
        &self,
        instances: &[PromptInstance],
        opts: &PredictOptions,
        progress: impl FnMut(usize),
    ) -> Result<Vec<Generation>> {
        let sources: Vec<String> = instances.iter().map(|i| i.source.clone()).collect();
        let grammars: Option<Vec<AnswerGrammar>> = opts
            .constrain
            .then(|| instances.iter().map(PromptInstance::grammar).collect());
        self.predict(&sources, grammars.as_deref(), opts, progress)
    }

    /// Answers for `sources`; with `grammars` (one per source, decoder-only models), each
    /// answer stays inside its instance's answer grammar.
    pub fn predict(
        &self,
        sources: &[String],
        grammars: Option<&[AnswerGrammar]>,
        opts: &PredictOptions,
        progress: impl FnMut(usize),
    ) -> Result<Vec<Generation>> {
        match self {
            Backbone::T5(_) if grammars.is_some() => Err(ModelError::Unsupported(
                "--constrain is for decoder-only models (a .gguf file, a Gemma 3 folder or gemma-3-270m); T5 decoding is not constrained".into(),
            )),
            Backbone::T5(_) if opts.decode_weights != DecodeWeights::F32 => {
                Err(ModelError::Unsupported(
                    "--decode-weights q8 is for decoder-only models (a .gguf file, a Gemma 3 folder or gemma-3-270m); T5 decodes with its own weights".into(),
                ))
            }
            Backbone::T5(l) => predict(
                &super::predict::Decoding::of(&l.model, &l.params),
                &l.tokenizer,
                sources,
                opts,
                progress,
            ),
            Backbone::Decoder(d) => d.predict(sources, grammars, opts, progress),
        }
    }
}
