//! `ie-bench gold ...`: corrections to gold labels, kept as an append-only log with undo and
//! redo; `ie-bench runs rescore ID` scores a stored run against the corrections in force.

use anyhow::{bail, Context, Result};
use std::path::Path;

use super::through::Said;
use crate::export::Format;
use crate::ie::{parse_dataset_key, Named};
use crate::store::gold::GoldEvent;
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
        /// Store it even if a label is not among the example's options, a span is not in its
        /// sentence, or a piece does not parse.
        #[arg(long)]
        force: bool,
    },
    /// Correct one item of an example's gold, as the workbench's item editor does: add an
    /// item, delete, relabel or re-span item N (numbered from 1 in the gold's order, as
    /// Inspect numbers them). NER, ET, RE, EPR, EET and EEA golds; the result is checked and
    /// stored like `gold set`.
    #[command(group(clap::ArgGroup::new("edit").required(true).args(["add", "delete", "relabel", "respan"])))]
    Item {
        /// `TASK/dataset`, e.g. `NER/CoNLL 2003`.
        dataset: String,
        /// The example's id.
        id: String,
        /// A new item as the target writes it: `person: Ann`, `work for: John, IBM`, EEA's
        /// `the rebels: attacker`.
        #[arg(long)]
        add: Option<String>,
        /// Delete item N.
        #[arg(long, value_name = "N")]
        delete: Option<usize>,
        /// Give item N another label.
        #[arg(long, num_args = 2, value_names = ["N", "LABEL"])]
        relabel: Option<Vec<String>>,
        /// Give item N other spans (a relation: `HEAD, TAIL`).
        #[arg(long, num_args = 2, value_names = ["N", "SPANS"])]
        respan: Option<Vec<String>>,
        /// Store it even if a label is not among the example's options or a span is not in
        /// its sentence.
        #[arg(long)]
        force: bool,
    },
    /// Take back the newest correction in force.
    Undo,
    /// Apply the most recently undone correction again.
    Redo,
    /// Write every dataset with corrections in force to DIR in IE INSTRUCTIONS format: its
    /// test.json with the corrected records (offsets found in the sentence), its labels and
    /// other splits as they are. Only changed datasets are written; `ie-bench import DIR`
    /// then stores them as new versions.
    Export {
        #[arg(long)]
        out: std::path::PathBuf,
        /// The IE INSTRUCTIONS directory the corrected examples come from when their
        /// dataset was never imported (default: the sample data); an imported dataset's
        /// records come from its newest version in the database.
        #[arg(long)]
        data: Option<std::path::PathBuf>,
    },
    /// Every edit, undo and redo, oldest first.
    Log {
        #[arg(long, default_value = "table", value_parser = crate::spec::choice::<Format>())]
        format: Format,
    },
}

impl GoldCommand {
    /// The words after `gold` that give this command again.
    pub fn words(&self) -> Vec<String> {
        match self {
            GoldCommand::Set {
                dataset,
                id,
                gold,
                force,
            } => {
                let mut w = vec!["set".into(), dataset.clone(), id.clone(), gold.clone()];
                if *force {
                    w.push("--force".into());
                }
                w
            }
            GoldCommand::Item {
                dataset,
                id,
                add,
                delete,
                relabel,
                respan,
                force,
            } => {
                let mut w = vec!["item".into(), dataset.clone(), id.clone()];
                if let Some(a) = add {
                    w.extend(["--add".into(), a.clone()]);
                }
                if let Some(n) = delete {
                    w.extend(["--delete".into(), n.to_string()]);
                }
                for (flag, v) in [("--relabel", relabel), ("--respan", respan)] {
                    if let Some(v) = v {
                        w.push(flag.into());
                        w.extend(v.iter().cloned());
                    }
                }
                if *force {
                    w.push("--force".into());
                }
                w
            }
            GoldCommand::Undo => vec!["undo".into()],
            GoldCommand::Redo => vec!["redo".into()],
            GoldCommand::Log { format } => {
                vec!["log".into(), "--format".into(), format.name().into()]
            }
            GoldCommand::Export { out, data } => {
                let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
                let mut w = vec![
                    "export".into(),
                    "--out".into(),
                    abs(out).display().to_string(),
                ];
                if let Some(d) = data {
                    w.push("--data".into());
                    w.push(abs(d).display().to_string());
                }
                w
            }
        }
    }

    /// Parses the words `words` gives.
    pub fn from_words(words: &[String]) -> Result<GoldCommand> {
        use clap::Parser;
        #[derive(Parser)]
        struct Words {
            #[command(subcommand)]
            gold: GoldCommand,
        }
        Ok(
            Words::try_parse_from(
                std::iter::once("gold".to_string()).chain(words.iter().cloned()),
            )?
            .gold,
        )
    }
}

/// Runs a gold command on `store`, returning what it says.
pub fn apply(store: &Store, cmd: GoldCommand) -> Result<Said> {
    let mut said = Said::default();
    match cmd {
        GoldCommand::Set {
            dataset,
            id,
            gold,
            force,
        } => {
            let example = current_example(store, &dataset, &id)?;
            set(store, &example, (&dataset, &id), &gold, force, &mut said)?;
        }
        GoldCommand::Item {
            dataset,
            id,
            add,
            delete,
            relabel,
            respan,
            force,
        } => {
            use crate::eval::structure::{editable, parts, spans_per_item, target};
            let (task, _) = parse_dataset_key(&dataset)
                .with_context(|| format!("{dataset}: expected TASK/name, e.g. NER/CoNLL 2003"))?;
            if !editable(task) {
                bail!("{task} golds are not typed items: use `gold set`");
            }
            let example = current_example(store, &dataset, &id)?;
            let sentence = example.sentence.as_deref();
            let mut items = parts(task, &example.gold, sentence);
            // One edit per command (the group allows one), so the numbering is the stored one.
            let count = items.len();
            let n_of = |n: &str| -> Result<usize> {
                let n: usize = n
                    .parse()
                    .with_context(|| format!("{n:?} is not an item number"))?;
                if n == 0 || n > count {
                    bail!(
                        "{dataset} example {id} has {count} items (numbered from 1); there is no item {n}"
                    );
                }
                Ok(n - 1)
            };
            if let Some(item) = add {
                match parts(task, &item, sentence).as_slice() {
                    [one] if one.spans.len() == spans_per_item(task) && !one.label.is_empty() => {
                        items.push(one.clone());
                    }
                    _ => bail!(
                        "{item:?} is not one {task} item (e.g. {})",
                        example_item(task)
                    ),
                }
            }
            if let Some(n) = delete {
                let i = n_of(&n.to_string())?;
                items.remove(i);
            }
            if let Some(v) = relabel {
                let i = n_of(&v[0])?;
                items[i].label = v[1].trim().to_string();
                items[i].raw = None;
            }
            if let Some(v) = respan {
                let i = n_of(&v[0])?;
                let spans: Vec<String> = if spans_per_item(task) == 2 {
                    v[1].splitn(2, ',').map(|x| x.trim().to_string()).collect()
                } else {
                    vec![v[1].trim().to_string()]
                };
                if spans.len() != spans_per_item(task) || spans.iter().any(String::is_empty) {
                    bail!(
                        "{:?}: a {task} item needs {} span(s)",
                        v[1],
                        spans_per_item(task)
                    );
                }
                items[i].spans = spans;
                items[i].raw = None;
            }
            set(
                store,
                &example,
                (&dataset, &id),
                &target(task, &items),
                force,
                &mut said,
            )?;
        }
        GoldCommand::Undo => match store.gold_undo()? {
            Some(e) => said.note(format!(
                "gold version {}: took back {}",
                e.seq,
                what_of(store, &e)?
            )),
            None => bail!("no correction to undo"),
        },
        GoldCommand::Redo => match store.gold_redo()? {
            Some(e) => said.note(format!(
                "gold version {}: applied again {}",
                e.seq,
                what_of(store, &e)?
            )),
            None => bail!("no undone correction to redo"),
        },
        GoldCommand::Export { out, data } => {
            let root = super::workspace::data_dir(data)?;
            export(store, &root, &out, &mut said)?;
        }
        GoldCommand::Log { format } => {
            let log = store.gold_log()?;
            if format == Format::Json {
                said.out(format!("{}\n", serde_json::to_string_pretty(&log)?));
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
                said.out(text);
            }
        }
    }
    Ok(said)
}

/// Stores `gold` as the correction of `example` (example `id` of `dataset`, as
/// `current_example` found it), checked first unless `force`.
fn set(
    store: &Store,
    example: &Example,
    (dataset, id): (&str, &str),
    gold: &str,
    force: bool,
    said: &mut Said,
) -> Result<()> {
    let before = example.gold.clone();
    if before == gold {
        bail!("{dataset} example {id} already has that gold");
    }
    let (task, _) = parse_dataset_key(dataset)
        .with_context(|| format!("{dataset}: expected TASK/name, e.g. NER/CoNLL 2003"))?;
    let problems = crate::eval::verdict::gold_problems(
        task,
        gold,
        example.sentence.as_deref(),
        example.instruction.as_deref(),
    );
    if !problems.is_empty() && !force {
        bail!(
            "{dataset} example {id}: the new gold was not stored:\n  {}\n(sentence: {:?}; --force stores it anyway)",
            problems.join("\n  "),
            example.sentence.as_deref().unwrap_or("unknown")
        );
    }
    let e = store.gold_edit(dataset, id, &before, gold)?;
    said.note(format!(
        "gold version {}: {dataset} example {id}: {before:?} -> {gold:?}",
        e.seq
    ));
    Ok(())
}

/// One item of `task` as the target writes it, for messages.
fn example_item(task: crate::ie::TaskKind) -> &'static str {
    use crate::ie::TaskKind;
    match task {
        TaskKind::Re | TaskKind::Epr => "`work for: John, IBM`",
        TaskKind::Eea => "`the rebels: attacker`",
        TaskKind::Eet => "`attack: fired`",
        _ => "`person: Ann`",
    }
}

/// Where `gold export` reads a dataset's records: the newest version stored by `import`
/// (so the files need not be at hand, nor under `--data`), else its directory under the data
/// root.
enum Source {
    Stored(crate::store::imports::DatasetManifest),
    Files(crate::data::DatasetLocation),
}

impl Source {
    fn find(store: &Store, root: &Path, task: crate::ie::TaskKind, name: &str) -> Result<Source> {
        let key = crate::ie::dataset_key(task.main_task(), name);
        Ok(match store.dataset(&key)? {
            Some(m) => Source::Stored(m),
            None => Source::Files(crate::data::DatasetLocation::locate(root, task, name)?),
        })
    }

    fn records(&self, store: &Store, split: crate::ie::Split) -> Result<Vec<crate::ie::Record>> {
        Ok(match self {
            Source::Stored(m) => store.examples(&m.name, m.version, split.as_str())?,
            Source::Files(loc) => loc.read_split(split)?,
        })
    }

    /// Writes into `dir` everything of the dataset but `split`: the stored labels and other
    /// splits, or the directory's other files as they are.
    fn write_rest(&self, store: &Store, dir: &Path, split: crate::ie::Split) -> Result<()> {
        fn write(dir: &Path, file: &str, value: &impl serde::Serialize) -> Result<()> {
            let path = dir.join(file);
            std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n")
                .with_context(|| format!("writing {}", path.display()))
        }
        match self {
            Source::Stored(m) => {
                write(dir, "labels.json", &m.labels)?;
                for (name, _) in &m.splits {
                    let other: crate::ie::Split = name
                        .parse()
                        .map_err(|e| anyhow::anyhow!("{}: stored split {name:?}: {e}", m.name))?;
                    if other != split {
                        write(
                            dir,
                            other.file_name(),
                            &store.examples(&m.name, m.version, name)?,
                        )?;
                    }
                }
            }
            Source::Files(loc) => {
                for entry in std::fs::read_dir(&loc.data_dir)? {
                    let path = entry?.path();
                    if path.is_file() && path.file_name() != Some(split.file_name().as_ref()) {
                        std::fs::copy(&path, dir.join(path.file_name().unwrap_or_default()))
                            .with_context(|| format!("copying {}", path.display()))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match self {
            Source::Stored(m) => format!("version {} in the database", m.version),
            Source::Files(loc) => loc.data_dir.display().to_string(),
        }
    }
}

/// `gold export`: the corrected test splits of the changed datasets, as IE INSTRUCTIONS
/// directories under `out`.
fn export(store: &Store, root: &Path, out: &Path, said: &mut Said) -> Result<()> {
    use crate::prompt::parse_target::record_from_target;
    let corrections = store.gold_state()?.corrections();
    if corrections.is_empty() {
        bail!("no gold corrections in force: nothing to export");
    }
    // By the directory that holds the records: EET and EEA corrections of a dataset both
    // change its EE files, so they are applied to the same records.
    type Edits<'a> = Vec<(crate::ie::TaskKind, &'a str, &'a str, &'a str)>;
    let mut by_dir: std::collections::BTreeMap<(crate::ie::TaskKind, &str), Edits> =
        Default::default();
    for ((key, id), gold) in &corrections {
        let (task, name) =
            parse_dataset_key(key).with_context(|| format!("{key}: not a TASK/name dataset"))?;
        by_dir
            .entry((task.main_task(), name))
            .or_default()
            .push((task, key, id, gold));
    }
    for ((main, name), mut edits) in by_dir {
        // EEA edits name the arguments of a record's one event: they go before EET edits,
        // which may add events. Otherwise by dataset and id, so the output is the same each
        // time.
        edits.sort_by_key(|e| (e.0 != crate::ie::TaskKind::Eea, e.1, e.2));
        let (first_task, first_key) = (edits[0].0, edits[0].1);
        let source = Source::find(store, root, first_task, name)?;
        let split = crate::ie::Split::Test;
        let mut records = source.records(store, split)?;
        for (task, key, id, gold) in &edits {
            let index: usize = id
                .parse()
                .ok()
                .filter(|i| *i < records.len())
                .with_context(|| {
                    format!(
                        "{key} example {id}: not a record of the {split} split ({})",
                        source.describe()
                    )
                })?;
            records[index] = record_from_target(*task, &records[index], gold)
                .map_err(|e| anyhow::anyhow!("{key} example {id}: {e}"))?;
        }
        let key = if edits.iter().all(|e| e.1 == first_key) {
            first_key.to_string()
        } else {
            format!("{main}/{name}")
        };
        let dir = out.join(main.as_str()).join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        source.write_rest(store, &dir, split)?;
        let text = serde_json::to_string_pretty(&records)?;
        std::fs::write(dir.join(split.file_name()), text + "\n")
            .with_context(|| format!("writing {}", dir.display()))?;
        said.note(format!(
            "{key}: {} corrected records ({}) -> {}",
            edits.len(),
            source.describe(),
            dir.join(split.file_name()).display()
        ));
    }
    Ok(())
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
        GoldEvent::Undo { of } => format!("undo of edit {of}"),
        GoldEvent::Redo { of } => format!("redo of edit {of}"),
    }
}

/// The edit an undo or redo entry is about, in words.
fn what_of(store: &Store, e: &crate::store::gold::GoldEntry) -> Result<String> {
    let of = match e.event {
        GoldEvent::Undo { of } | GoldEvent::Redo { of } => of,
        GoldEvent::Edit { .. } => return Ok(describe(&e.event)),
    };
    Ok(store
        .gold_log()?
        .into_iter()
        .find(|x| x.seq == of)
        .map_or(format!("edit {of}"), |x| {
            format!("{} {}", of, describe(&x.event))
        }))
}

/// An example as a correction sees it: its gold in force, and the sentence and options to
/// check a new gold against.
struct Example {
    gold: String,
    sentence: Option<String>,
    instruction: Option<String>,
}

/// The newest stored run holding the example gives its gold, sentence and instruction;
/// without one, the newest imported version of the dataset (its test split, else dev, the
/// id being the record's position) gives them. A correction in force replaces the gold.
fn current_example(store: &Store, dataset: &str, id: &str) -> Result<Example> {
    let corrections = store.gold_state()?.corrections();
    let corrected = corrections.get(&(dataset.to_string(), id.to_string()));
    for (run, _) in store.runs()?.into_iter().rev() {
        if let Some((_, _, p)) = store
            .predictions(run, Some(dataset))?
            .into_iter()
            .find(|(_, _, p)| p.id == id)
        {
            return Ok(Example {
                gold: corrected.cloned().unwrap_or(p.ground_truth),
                sentence: p.sentence,
                instruction: p.instruction,
            });
        }
    }
    if let Some(e) = imported_example(store, dataset, id)? {
        return Ok(Example {
            gold: corrected.cloned().unwrap_or(e.gold),
            ..e
        });
    }
    bail!("no stored run and no imported dataset has an example {id} of {dataset} (datasets are named TASK/name, e.g. NER/CoNLL 2003; `ie-bench import DIR` stores a dataset)")
}

fn imported_example(store: &Store, dataset: &str, id: &str) -> Result<Option<Example>> {
    use crate::prompt::render::{render, RecordRef};
    let Some((task, name)) = parse_dataset_key(dataset) else {
        return Ok(None);
    };
    // Auxiliary tasks are served by their main task's directory.
    let key = crate::ie::dataset_key(task.main_task(), name);
    let Some(m) = store.dataset(dataset)?.or(store.dataset(&key)?) else {
        return Ok(None);
    };
    let Ok(index) = id.parse::<usize>() else {
        return Ok(None);
    };
    let mut records = store.examples(&m.name, m.version, "test")?;
    if records.is_empty() {
        records = store.examples(&m.name, m.version, "dev")?;
    }
    let Some(record) = records.get(index) else {
        return Ok(None);
    };
    let here = Path::new(&m.name);
    let labels = crate::data::Labels::from_value(here, m.labels.clone())?.for_task(task, here)?;
    let r = render(task, &labels, "", record, &RecordRef { path: here, index })?;
    Ok(Some(Example {
        gold: r.ground_truth,
        sentence: Some(record.sentence.clone()),
        instruction: Some(r.template),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command sent to the process holding the database travels as its words.
    #[test]
    fn item_commands_survive_their_words() {
        for words in [
            &["item", "RE/x y", "3", "--relabel", "2", "located in"][..],
            &["item", "NER/x", "0", "--add", "person: Ann", "--force"],
            &["item", "NER/x", "0", "--delete", "1"],
            &["item", "RE/x", "0", "--respan", "1", "Ann, the BBC"],
        ] {
            let words: Vec<String> = words.iter().map(|w| (*w).to_string()).collect();
            let cmd = GoldCommand::from_words(&words).unwrap();
            assert_eq!(cmd.words(), words);
        }
        let two: Vec<String> = ["item", "NER/x", "0", "--delete", "1", "--add", "a: b"]
            .map(String::from)
            .to_vec();
        assert!(GoldCommand::from_words(&two).is_err(), "one edit at a time");
    }
}
