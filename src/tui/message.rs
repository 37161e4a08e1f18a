//! What a screen asks the workbench to do beyond its own state. A screen returns these, and
//! `App` alone carries them out against the service, so the screens that send them never hold
//! the job queue.

use crate::spec::RunSpec;
use crate::store::RunId;

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Store and queue this run.
    Launch(Box<RunSpec>),
    /// Stop a queued or running run (a training run keeps its last checkpoint).
    Cancel(RunId),
    /// Queue a stored run again, from its last checkpoint.
    Resume(RunId),
    /// Open Inspect on the selected run.
    Inspect,
    /// Open Inspect on `run` with dataset `dataset`'s (`TASK/name`) per-label table.
    LabelTable { run: RunId, dataset: String },
    /// Correct the gold of example `id` of dataset `key` from `before` to `after` (checked by
    /// the screen), then re-score the run shown.
    EditGold {
        key: String,
        id: String,
        before: String,
        after: String,
    },
    /// Take back the newest gold correction in force (`redo: false`) or apply the newest
    /// undone one again.
    StepGold { redo: bool },
    /// Add and remove tags of run `id` (`runs tag`).
    Tag {
        id: RunId,
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// Set or clear run `id`'s note (`runs note`).
    Note { id: RunId, text: Option<String> },
    /// Store this instruction bank text as its next version.
    SaveBank(String),
    /// Score the `saved` and the `edited` bank zero-shot on the same sampled instances of
    /// `tasks`, as two stored `eval` runs (a template A/B).
    TemplateAb {
        saved: String,
        edited: String,
        tasks: Vec<crate::ie::TaskKind>,
    },
    /// Open Inspect on `run`, narrowed to these (dataset key, example id) pairs; `what` says
    /// which (a Compare cell).
    InspectOnly {
        run: RunId,
        ids: Vec<(String, String)>,
        what: String,
    },
}

/// An error's first line: clap's usage text does not fit a status line, and its first line
/// says what is wrong.
pub fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}
