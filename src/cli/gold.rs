//! `ie-bench gold ...`: corrections to gold labels, kept as an append-only log with undo and
//! redo; `ie-bench runs rescore ID` scores a stored run against the corrections in force.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;

use crate::export::Format;
use crate::store::gold::GoldEvent;
use crate::store::remote::open_waiting;
use crate::store::{format_time, Store};

#[derive(clap::Subcommand)]
pub enum GoldCommand {
    /// Correct the ground truth of one example (as the stored runs saw it).
    Set {
        /// `TASK/dataset`, e.g. `NER/CoNLL 2003`.
        dataset: String,
        /// The example's id.
        id: String,
        /// The corrected target text, e.g. " person: Ann; location: Rome".
        gold: String,
    },
    /// Take back the newest correction in force.
    Undo,
    /// Apply the most recently undone correction again.
    Redo,
    /// Every edit, undo and redo, oldest first.
    Log {
        #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
        format: Format,
    },
}

pub fn run(db: &Path, cmd: GoldCommand) -> Result<ExitCode> {
    let store = open_waiting(db).context("opening the database")?;
    match cmd {
        GoldCommand::Set { dataset, id, gold } => {
            let before = current_gold(&store, &dataset, &id)?;
            if before == gold {
                bail!("{dataset} example {id} already has that gold");
            }
            let e = store.gold_edit(&dataset, &id, &before, &gold)?;
            eprintln!(
                "gold version {}: {dataset} example {id}: {before:?} -> {gold:?}",
                e.seq
            );
        }
        GoldCommand::Undo => match store.gold_undo()? {
            Some(e) => eprintln!("gold version {}: undid {}", e.seq, describe(&e.event)),
            None => bail!("no correction to undo"),
        },
        GoldCommand::Redo => match store.gold_redo()? {
            Some(e) => eprintln!("gold version {}: redid {}", e.seq, describe(&e.event)),
            None => bail!("no undone correction to redo"),
        },
        GoldCommand::Log { format } => {
            let log = store.gold_log()?;
            if format == Format::Json {
                super::emit(&format!("{}\n", serde_json::to_string_pretty(&log)?))?;
            } else {
                let mut text = String::new();
                for e in &log {
                    text.push_str(&format!(
                        "{:>4}  {}  {}\n",
                        e.seq,
                        format_time(e.at),
                        describe(&e.event)
                    ));
                }
                super::emit(&text)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(e: &GoldEvent) -> String {
    match e {
        GoldEvent::Edit {
            dataset,
            id,
            before,
            after,
        } => format!(
            "edit {} #{id}: {before:?} -> {after:?}",
            crate::text::SafeText(dataset)
        ),
        GoldEvent::Undo { of } => format!("undo of {of}"),
        GoldEvent::Redo { of } => format!("redo of {of}"),
    }
}

/// The gold in force: the newest correction, else what the newest run holding the example saw.
fn current_gold(store: &Store, dataset: &str, id: &str) -> Result<String> {
    let corrections = store.gold_state()?.corrections();
    if let Some(g) = corrections.get(&(dataset.to_string(), id.to_string())) {
        return Ok(g.clone());
    }
    for (run, _) in store.runs()?.into_iter().rev() {
        if let Some((_, _, p)) = store
            .predictions(run, Some(dataset))?
            .into_iter()
            .find(|(_, _, p)| p.id == id)
        {
            return Ok(p.ground_truth);
        }
    }
    bail!("no stored run has an example {id} of {dataset} (datasets are named TASK/name, e.g. NER/CoNLL 2003)")
}
