//! What a run is: its kind and every setting it needs, typed. The command line parses a
//! [`RunSpec`] (clap), the workbench's launch form builds one, the manifest stores it (serde)
//! and the socket carries it, so every front end starts exactly the same run; `to_words`
//! spells it back as the `ie-bench run ...` command that starts it.

mod args;
mod words;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use args::{
    EvalArgs, ExternalArgs, GenerateArgs, IngestArgs, PromptArgs, RunTrainArgs, TrainSettings,
};

/// The kind of a run, as the run list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    Train,
    ZeroShot,
    Eval,
    Ingest,
    External,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Train => "train",
            RunKind::ZeroShot => "zero-shot",
            RunKind::Eval => "eval",
            RunKind::Ingest => "ingest",
            RunKind::External => "external",
        }
    }
}

#[derive(clap::Subcommand, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunSpec {
    /// Fine-tune as a stored run: loss per step, dev scores at each checkpoint, test scores and
    /// predictions at the end.
    Train(RunTrainArgs),
    /// Run an external trainer command (after `--`): its log lines become metrics, and its
    /// predictions file is scored and stored when it ends.
    External(ExternalArgs),
    /// Store an official predictions file (predict_eval_predictions.jsonl) as a run.
    Ingest(IngestArgs),
    /// Predict and score a split with a model (a checkpoint, say), stored as a run.
    Eval(EvalArgs),
    /// Evaluate a model on the held-out test sets of a zero-shot config (`--config zeroshot`
    /// unless another is given); FewRel and Wiki-ZSL folds are reported as their mean.
    ZeroShot(EvalArgs),
}

impl RunSpec {
    pub fn kind(&self) -> RunKind {
        match self {
            RunSpec::Train(_) => RunKind::Train,
            RunSpec::External(_) => RunKind::External,
            RunSpec::Ingest(_) => RunKind::Ingest,
            RunSpec::Eval(_) => RunKind::Eval,
            RunSpec::ZeroShot(_) => RunKind::ZeroShot,
        }
    }

    pub fn model(&self) -> Option<String> {
        match self {
            RunSpec::Train(a) => Some(a.model.clone()),
            RunSpec::External(a) => Some(a.command.join(" ")),
            RunSpec::Ingest(a) => Some(a.predictions.display().to_string()),
            RunSpec::Eval(a) | RunSpec::ZeroShot(a) => Some(a.on.model.clone()),
        }
    }

    pub fn out(&self) -> Option<PathBuf> {
        match self {
            RunSpec::Train(a) => a.out.clone(),
            RunSpec::External(a) => a.out.clone(),
            RunSpec::Ingest(_) | RunSpec::Eval(_) | RunSpec::ZeroShot(_) => None,
        }
    }

    pub fn detach(&self) -> bool {
        match self {
            RunSpec::Train(a) => a.detach,
            RunSpec::External(a) => a.detach,
            RunSpec::Ingest(_) => false,
            RunSpec::Eval(a) | RunSpec::ZeroShot(a) => a.detach,
        }
    }
}

/// Parses the words after `ie-bench run`.
#[derive(clap::Parser)]
#[command(name = "run")]
struct Words {
    #[command(subcommand)]
    spec: RunSpec,
}

impl RunSpec {
    /// The spec the words after `ie-bench run` give (clap's checks and messages).
    pub fn from_words(words: &[String]) -> Result<RunSpec, clap::Error> {
        use clap::Parser;
        Ok(
            Words::try_parse_from(std::iter::once("run".to_string()).chain(words.iter().cloned()))?
                .spec,
        )
    }

    /// The words after `ie-bench run` that give this spec: settings left at their defaults
    /// are left out, so the command reads as a user would type it.
    pub fn to_words(&self) -> Vec<String> {
        words::to_words(self)
    }
}

/// A clap parser offering exactly a core enum's names.
pub fn choice<T: crate::ie::Named + Send + Sync>() -> impl clap::builder::TypedValueParser<Value = T>
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(T::ALL.iter().map(|c| c.name()))
        .map(|s| T::from_name(&s).expect("clap only passes listed names"))
}

/// A core enum stored under its command-line name, so a stored spec reads like its command.
mod named {
    use crate::ie::Named;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Named, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.name())
    }

    pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let name = String::deserialize(d)?;
        T::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = T::ALL.iter().map(|c| c.name()).collect();
            D::Error::custom(format!("{name:?} is not one of {}", names.join(", ")))
        })
    }
}

/// A settings group with every flag at its command-line default, so a stored spec that
/// predates a setting reads it as the command line would.
fn clap_defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = cmd
        .try_get_matches_from(std::iter::empty::<String>())
        .expect("every flag of a settings group has a default");
    T::from_arg_matches(&matches).expect("defaults parse")
}
