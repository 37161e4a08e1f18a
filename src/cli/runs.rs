//! `ie-bench runs ...`: list, show, compare, cancel, resume and re-score stored runs. Reads
//! go through the process holding the database when there is one (see `launch`).

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;

use super::launch;
use crate::eval::by_label::ByLabel;
use crate::eval::Mode;
use crate::export::{render, report_tables, Cell, Column, Format, ResultTable, Row};
use crate::ie::Split;
use crate::service;
use crate::service::holder::{ask, Request};
use crate::service::results::stored_report;
use crate::service::run_table::{self, RunOrder};
use crate::service::socket::{open_or_reach, open_waiting, Opened, Reader};
use crate::store::{format_time, RunId, RunKind, RunStatus, Store};
use crate::text::SafeText;

#[derive(clap::Subcommand)]
pub enum RunsCommand {
    /// Show one run: settings, loss curve, and its score table.
    Show {
        id: RunId,
        #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
        format: Format,
        #[arg(long, default_value = "compat", value_parser = super::choice::<Mode>())]
        mode: Mode,
        /// Add each dataset's per-label precision, recall, F1 and support over the run's
        /// stored predictions, judged against the gold corrections in force (the table the
        /// workbench's F1 table opens; `eval --by-label` on a file).
        #[arg(long)]
        by_label: bool,
    },
    /// The loss curves of one or more runs side by side, by step: each run's loss and its EMA
    /// (alpha 0.1), as the Runs screen overlays the marked runs' curves; for plotting
    /// elsewhere (`--format csv` or `json`).
    Loss {
        /// The runs, by id.
        #[arg(required = true)]
        ids: Vec<RunId>,
        /// Print every Nth step (0: about 20 rows over the longest run; json always has all).
        #[arg(long, default_value_t = 0)]
        every: u64,
        #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
        format: Format,
    },
    /// Stop a run after its current step (it can be resumed).
    Cancel { id: RunId },
    /// Per dataset, how many test examples run B fixed, broke, or left right or wrong
    /// compared with run A (matched by task, dataset and id), both runs' scores on the
    /// examples both answered, and the difference B - A with a paired-bootstrap 95% interval
    /// and p-value ("n.s.": p >= 0.05; the method is in the README). Compat mode by default,
    /// as everywhere (the Compare screen too).
    ///
    /// With more runs (`runs compare A B C ...`): their scores side by side per dataset (each
    /// run's stored test table, else its newest dev one) and the examples each fixed and
    /// broke against run A, as the Compare screen shows runs marked on Runs.
    Compare {
        a: RunId,
        b: RunId,
        /// More runs to set beside A and B.
        more: Vec<RunId>,
        #[arg(long, default_value = "compat", value_parser = super::choice::<Mode>())]
        mode: Mode,
        #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
        format: Format,
        /// Bootstrap resamples.
        #[arg(long, default_value_t = crate::eval::significance::RESAMPLES)]
        resamples: usize,
        /// The bootstrap's seed: the same seed gives the same intervals.
        #[arg(long, default_value_t = crate::eval::significance::SEED)]
        seed: u64,
    },
    /// Score a run's stored predictions again against the gold corrections in force; the
    /// earlier scores are kept.
    Rescore { id: RunId },
    /// Write a run's stored predictions in the official predictions format
    /// (predict_eval_predictions.jsonl), for `ie-bench eval` or the official scorer, with the
    /// gold corrections in force (as the workbench scores them).
    Export {
        id: RunId,
        #[arg(long)]
        out: std::path::PathBuf,
        /// Write the gold as the run stored it, without the corrections.
        #[arg(long)]
        stored_gold: bool,
    },
    /// Label a run: add tags (words: letters, digits, -_.:/+=@), or take some off with
    /// --remove. `ie-bench runs --tag T` lists the runs with tag T.
    Tag {
        id: RunId,
        tags: Vec<String>,
        #[arg(long, num_args = 1..)]
        remove: Vec<String>,
    },
    /// Write a free-text note on a run (`runs show` prints it); --clear removes it.
    Note {
        id: RunId,
        #[arg(required_unless_present = "clear")]
        text: Option<String>,
        #[arg(long, conflicts_with = "text")]
        clear: bool,
    },
    /// Continue a cancelled or interrupted run from its newest checkpoint.
    Resume {
        id: RunId,
        #[arg(long)]
        detach: bool,
    },
}

#[derive(clap::Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: Option<RunsCommand>,
    #[arg(long, default_value = "table", value_parser = super::choice::<Format>())]
    format: Format,
    /// List only the runs with this tag (repeatable: runs with all of them).
    #[arg(long)]
    tag: Vec<String>,
    /// Add each run's settings: config, data and instruction-bank versions, lr, steps, batch
    /// size, seed, and its note.
    #[arg(long)]
    wide: bool,
    /// Order of the list (ties by id; runs without the setting last).
    #[arg(long, value_enum, default_value = "id")]
    sort: RunOrder,
    /// List only the runs matching every term: `#tag`, `key=value` (kind, status, model,
    /// config, lr, steps, batch, seed, note; numbers compare as numbers) or a substring of the
    /// id, kind, status, model, tags, note or data and bank versions. The Runs screen's `/`
    /// filter takes the same query.
    #[arg(long, default_value = "")]
    filter: String,
}

fn open(db: &Path) -> Result<Store> {
    open_waiting(db).context("opening the database")
}

pub fn runs(db: &Path, a: RunsArgs) -> Result<ExitCode> {
    match a.command {
        None => list(db, &a),
        Some(RunsCommand::Tag { id, tags, remove }) => {
            let req = Request::Tag {
                id,
                add: tags.clone(),
                remove: remove.clone(),
            };
            super::said(crate::service::through::on_database(db, req, |s| {
                service::tags::tag(s, id, &tags, &remove)
            }))
        }
        Some(RunsCommand::Note { id, text, clear: _ }) => {
            let req = Request::Note {
                id,
                text: text.clone(),
            };
            super::said(crate::service::through::on_database(db, req, |s| {
                service::tags::note(s, id, text)
            }))
        }
        Some(RunsCommand::Show {
            id,
            format,
            mode,
            by_label,
        }) => show(db, id, format, mode, by_label),
        Some(RunsCommand::Loss { ids, every, format }) => loss(db, &ids, every, format),
        Some(RunsCommand::Cancel { id }) => cancel(db, id),
        Some(RunsCommand::Rescore { id }) => rescore(db, id),
        Some(RunsCommand::Compare {
            a,
            b,
            more,
            mode,
            format,
            resamples,
            seed,
        }) => {
            if more.is_empty() {
                compare(db, (a, b), mode, format, (resamples, seed))
            } else {
                let runs: Vec<RunId> = [a, b].into_iter().chain(more).collect();
                compare_several(db, &runs, mode, format, (resamples, seed))
            }
        }
        Some(RunsCommand::Resume { id, detach }) => resume(db, id, detach),
        Some(RunsCommand::Export {
            id,
            out,
            stored_gold,
        }) => export(db, id, &out, stored_gold),
    }
}

fn resume(db: &Path, id: RunId, detach: bool) -> Result<ExitCode> {
    let store = match open_or_reach(db).context("opening the database")? {
        Opened::Here(store) => store,
        Opened::Holder { holder, conn } => {
            ask(db, conn, &Request::Resume { id })
                .with_context(|| format!("queueing run {id} in {holder}"))?;
            eprintln!("run {id} queued in {holder}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let m = store.run(id)?;
    service::runs::check_resumable(&m, id)?;
    if detach {
        drop(store);
        service::runs::detach(db, id, Path::new(m.out_dir.as_deref().unwrap_or(".")))?;
        super::emit(&format!("{id}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let cmd = service::runs::stored_spec(&m, id)?;
    launch::hold(store, db, Some((id, cmd)))
}

fn list(db: &Path, a: &RunsArgs) -> Result<ExitCode> {
    let format = a.format;
    let mut store = Reader::open(db).context("opening the database")?;
    let mut runs = store.runs()?;
    runs.retain(|(id, m)| {
        a.tag.iter().all(|t| m.tags.contains(t)) && run_table::matches(*id, m, &a.filter)
    });
    run_table::sort(&mut runs, a.sort);
    let all_settings: std::collections::HashMap<RunId, serde_json::Value> = runs
        .iter()
        .map(|(id, m)| (*id, run_table::settings(m)))
        .collect();
    // A running training run's newest step and loss: what it is doing now.
    let mut progress = std::collections::HashMap::new();
    for (id, m) in &runs {
        if m.status == RunStatus::Running {
            if let Some(p) = store.metrics(*id)?.last() {
                progress.insert(*id, format!("step {}, loss {:.4}", p.step, p.loss));
            }
        }
    }
    if format == Format::Json {
        let rows: Vec<serde_json::Value> = runs
            .iter()
            .map(|(id, m)| {
                serde_json::json!({
                    "id": id,
                    "kind": m.kind.as_str(),
                    "status": m.status.as_str(),
                    "created": format_time(m.created),
                    "model": m.model,
                    "progress": progress.get(id),
                    "error": m.error,
                    "tags": m.tags,
                    "note": m.note,
                    "settings": all_settings[id],
                })
            })
            .collect();
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = |s: &str| Cell::Text(s.to_string());
    let mut columns = vec!["kind", "status", "progress", "created", "model", "tags"];
    let wide = [
        "config",
        "data",
        "templates",
        "lr",
        "steps",
        "batch",
        "seed",
        "note",
    ];
    if a.wide {
        columns.extend(wide);
    }
    let table = ResultTable {
        title: "Runs".into(),
        label_header: "id".into(),
        columns: columns
            .iter()
            .map(|c| Column {
                name: c.to_string(),
                is_score: false,
            })
            .collect(),
        rows: runs
            .iter()
            .map(|(id, m)| {
                let mut cells = vec![
                    text(m.kind.as_str()),
                    text(m.status.as_str()),
                    text(progress.get(id).map_or("", String::as_str)),
                    text(&format_time(m.created)),
                    text(m.model.as_deref().unwrap_or("-")),
                    text(&m.tags.join(" ")),
                ];
                if a.wide {
                    let s = &all_settings[id];
                    for k in [
                        "config",
                        "data",
                        "templates",
                        "lr",
                        "max_steps",
                        "batch_size",
                        "seed",
                    ] {
                        cells.push(text(&run_table::shown(&s[k])));
                    }
                    cells.push(text(m.note.as_deref().unwrap_or("")));
                }
                Row {
                    label: id.to_string(),
                    cells,
                    summary: false,
                }
            })
            .collect(),
    };
    print(&table, format)
}

/// `runs export ID --out FILE`: the stored predictions as official prediction lines, their
/// gold corrected as the workbench scores them unless `stored_gold`.
fn export(db: &Path, id: RunId, out: &Path, stored_gold: bool) -> Result<ExitCode> {
    use crate::eval::predictions::{OfficialInstance, OfficialLine};
    let mut store = Reader::open(db).context("opening the database")?;
    let predictions = store.predictions(id)?;
    if predictions.is_empty() {
        store.run(id)?;
        bail!("run {id} has no stored predictions to export");
    }
    let corrections = if stored_gold {
        Default::default()
    } else {
        store.corrections()?
    };
    let lines = crate::jobs::evaluate::corrected_lines(&predictions, &corrections);
    let mut buf = Vec::new();
    for (p, _) in &lines {
        let line = OfficialLine {
            task: p.task,
            dataset: &p.dataset,
            instance: OfficialInstance {
                id: &p.id,
                sentence: p.sentence.as_deref().unwrap_or_default(),
                label: &p.ground_truth,
                instruction: p.instruction.as_deref().unwrap_or_default(),
                ground_truth: &p.ground_truth,
            },
            prediction: &p.prediction,
            truncated: p.truncated,
        };
        serde_json::to_writer(&mut buf, &line)?;
        buf.push(b'\n');
    }
    std::fs::write(out, buf).with_context(|| format!("writing {}", out.display()))?;
    let corrected = lines.iter().filter(|l| l.1).count();
    let note = if corrected > 0 {
        format!(
            " ({corrected} with the gold corrections in force; --stored-gold writes the gold as stored)"
        )
    } else {
        String::new()
    };
    eprintln!(
        "run {id}: {} predictions -> {}{note}",
        predictions.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Per-label counts of a run's stored predictions, judged as the workbench judges them: with
/// the gold corrections in force.
fn run_by_label(store: &mut Reader, id: RunId, mode: Mode) -> Result<ByLabel> {
    let predictions = store.predictions(id)?;
    let corrections = store.corrections()?;
    let mut counts = ByLabel::default();
    for (line, _) in crate::jobs::evaluate::corrected_lines(&predictions, &corrections) {
        counts.add(&crate::eval::verdict(&line, mode));
    }
    Ok(counts)
}

fn show(db: &Path, id: RunId, format: Format, mode: Mode, by_label: bool) -> Result<ExitCode> {
    let mut store = Reader::open(db).context("opening the database")?;
    let m = store.run(id)?;
    let metrics = store.metrics(id)?;
    let rows = store.scores(id)?;
    let labels = if by_label {
        Some(run_by_label(&mut store, id, mode)?)
    } else {
        None
    };
    let test = stored_report(&rows, Split::Test, mode, None);
    // Zero-shot tables show the paper's zero-shot scores and the fold means beside them.
    let paper = (m.kind == RunKind::ZeroShot).then_some(crate::data::catalog::Setting::ZeroShot);
    // After gold corrections, the table against the released gold is kept beside it.
    let original = test
        .as_ref()
        .filter(|t| t.gold_version > 0)
        .and_then(|_| stored_report(&rows, Split::Test, mode, Some(0)));
    // The command that starts this run again, as `ie-bench run` takes it.
    let command = m
        .spec
        .as_ref()
        .map(super::super::spec::RunSpec::to_words)
        .or_else(|| crate::store::legacy_words(&m));
    if format == Format::Json {
        let value = serde_json::json!({
            "id": id,
            "kind": m.kind.as_str(),
            "status": m.status.as_str(),
            "created": format_time(m.created),
            "finished": m.finished.map(format_time),
            "model": m.model,
            "out_dir": m.out_dir,
            "checkpoint": m.checkpoint.as_ref().map(|(step, dir)| serde_json::json!({"step": step, "dir": dir})),
            "error": m.error,
            "trainer_group": m.trainer_group,
            "tags": m.tags,
            "note": m.note,
            "settings": run_table::settings(&m),
            "rescore_error": m.rescore_error,
            "templates": m.templates,
            "spec": m.spec,
            "command": command.as_ref().map(|w| w.join(" ")),
            "datasets": m.datasets,
            "metrics": metrics,
            "scores": test.as_ref().map(|t| t.report.to_json()),
            "fold_means": test.as_ref().map(|t| {
                t.report
                    .tasks
                    .iter()
                    .flat_map(|(task, r)| r.fold_means().into_iter().map(move |f| (task, f)))
                    .map(|(task, f)| serde_json::json!({
                        "task": task.as_str(), "group": f.group, "mean": f.mean, "folds": f.folds
                    }))
                    .collect::<Vec<_>>()
            }),
            "gold_version": test.as_ref().map(|t| t.gold_version),
            "scores_original_gold": original.as_ref().map(|t| t.report.to_json()),
            "by_label": labels.as_ref().map(super::eval::label_json),
        });
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "run {id}: {} {} (created {}{})\nmodel: {}\nout: {}\n",
        m.kind.as_str(),
        m.status.as_str(),
        format_time(m.created),
        m.finished
            .map(|f| format!(", ended {}", format_time(f)))
            .unwrap_or_default(),
        SafeText(m.model.as_deref().unwrap_or("-")),
        SafeText(m.out_dir.as_deref().unwrap_or("-")),
    );
    if let Some(words) = &command {
        text.push_str(&format!(
            "command: ie-bench run {}\n",
            SafeText(&words.join(" "))
        ));
    }
    if !m.templates.is_empty() {
        let used: Vec<String> = m
            .templates
            .iter()
            .map(|d| format!("{} (v{})", SafeText(&d.name), d.version))
            .collect();
        text.push_str(&format!("instructions: {}\n", used.join(", ")));
    }
    if let Some((step, dir)) = &m.checkpoint {
        text.push_str(&format!("checkpoint: step {step}, {}\n", SafeText(dir)));
    }
    if let Some(e) = &m.error {
        text.push_str(&format!("error: {}\n", SafeText(e)));
    }
    if let Some(e) = &m.rescore_error {
        text.push_str(&format!("re-scoring failed: {}\n", SafeText(e)));
    }
    if !m.tags.is_empty() {
        text.push_str(&format!("tags: {}\n", SafeText(&m.tags.join(" "))));
    }
    if let Some(n) = &m.note {
        text.push_str(&format!("note: {}\n", SafeText(n)));
    }
    if !m.datasets.is_empty() {
        let used: Vec<String> = m
            .datasets
            .iter()
            .map(|d| format!("{} (v{})", SafeText(&d.name), d.version))
            .collect();
        text.push_str(&format!("imported data used: {}\n", used.join(", ")));
    }
    if let (Some(first), Some(last)) = (metrics.first(), metrics.last()) {
        text.push_str(&format!(
            "loss: {:.4} at step {} -> {:.4} at step {} ({} points)\n",
            first.loss,
            first.step,
            last.loss,
            last.step,
            metrics.len()
        ));
    }
    match &test {
        Some(t) => {
            text.push_str(&format!(
                "\ntest scores ({} mode, step {}{})\n",
                mode.as_str(),
                t.step,
                if t.gold_version > 0 {
                    format!(", corrected gold version {}", t.gold_version)
                } else {
                    String::new()
                }
            ));
            text.push_str(&render(&report_tables(&t.report, paper), format));
        }
        None => text.push_str("no test scores yet\n"),
    }
    if let Some(t) = original {
        text.push_str("\ntest scores against the released gold\n");
        text.push_str(&render(&report_tables(&t.report, paper), format));
    }
    if let Some(b) = &labels {
        text.push_str("\nper label, against the gold in force\n");
        text.push_str(&render(&super::eval::label_tables(b, mode), format));
    }
    super::emit(&as_format(&text, format))?;
    Ok(ExitCode::SUCCESS)
}

/// Text around tables, made harmless for the format: LaTeX gets it as `%` comments, CSV
/// keeps only the table lines (the rest goes to stderr), so the output can be pasted or
/// read as it is.
fn as_format(text: &str, format: Format) -> String {
    let is_table_line = |l: &str| match format {
        Format::Latex => l.starts_with('\\') || l.starts_with('%') || l.contains(" & "),
        Format::Csv => l.contains(','),
        _ => true,
    };
    let mut out = String::new();
    for l in text.lines() {
        if is_table_line(l) {
            out.push_str(l);
            out.push('\n');
        } else if format == Format::Latex {
            if !l.trim().is_empty() {
                out.push_str(&format!("% {l}\n"));
            }
        } else if !l.trim().is_empty() {
            eprintln!("{l}");
        }
    }
    out
}

fn cancel(db: &Path, id: RunId) -> Result<ExitCode> {
    match open_or_reach(db).context("opening the database")? {
        Opened::Here(store) => {
            // Nobody holds the database, so nobody is executing the run.
            service::runs::cancel_stored(&store, id)?;
            eprintln!("run {id}: cancelled");
        }
        Opened::Holder { holder, conn } => {
            let answer = ask(db, conn, &Request::Cancel { id })
                .with_context(|| format!("asking {holder} to cancel run {id}"))?;
            if answer == "cancelling" {
                eprintln!("run {id}: {holder} stops it after its current step");
            } else {
                eprintln!("run {id}: cancelled");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(
    db: &Path,
    (a, b): (RunId, RunId),
    mode: Mode,
    format: Format,
    (resamples, seed): (usize, u64),
) -> Result<ExitCode> {
    let mut store = Reader::open(db).context("opening the database")?;
    let (pa, pb) = (
        store.predictions_in_force(a)?,
        store.predictions_in_force(b)?,
    );
    for (id, p) in [(a, &pa), (b, &pb)] {
        if p.is_empty() {
            store.run(id)?;
            bail!("run {id} has no stored predictions to compare");
        }
    }
    let rows = crate::service::results::compare_runs(&pa, &pb, mode, resamples, seed);
    if format == Format::Json {
        let value: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r.flips).expect("counts serialise");
                v["difference"] = serde_json::to_value(&r.difference).expect("numbers serialise");
                (r.dataset.clone(), v)
            })
            .collect();
        super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "a": a, "b": b, "mode": mode.as_str(),
                "bootstrap": {"resamples": resamples, "seed": seed, "interval": 0.95,
                              "alpha": crate::eval::significance::ALPHA},
                "datasets": value
            }))?
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let names = [
        "fixed",
        "broken",
        "both-right",
        "both-wrong",
        "unmatched",
        "A",
        "B",
        "B - A",
        "95% CI",
        "p",
    ];
    let table = ResultTable {
        title: format!(
            "run {a} (A) -> run {b} (B) ({} mode); paired bootstrap, {resamples} resamples, seed {seed}",
            mode.as_str()
        ),
        label_header: "Dataset".into(),
        columns: names
            .iter()
            .map(|c| Column {
                name: c.to_string(),
                is_score: matches!(*c, "A" | "B"),
            })
            .collect(),
        rows: rows
            .iter()
            .map(|r| {
                let f = r.flips;
                let mut cells: Vec<Cell> =
                    [f.fixed, f.broken, f.both_right, f.both_wrong, f.unmatched]
                        .into_iter()
                        .map(Cell::Count)
                        .collect();
                match &r.difference {
                    Some(d) => {
                        let (delta, interval, p) = d.words();
                        cells.extend([
                            Cell::Score(d.a),
                            Cell::Score(d.b),
                            Cell::Text(delta),
                            Cell::Text(interval),
                            Cell::Text(p),
                        ]);
                    }
                    None => cells.extend(std::iter::repeat_n(Cell::Empty, 5)),
                }
                Row {
                    label: r.dataset.clone(),
                    cells,
                    summary: false,
                }
            })
            .collect(),
    };
    print(&table, format)
}

/// `runs compare A B C ...`: scores side by side, flips against run A.
fn compare_several(
    db: &Path,
    runs: &[RunId],
    mode: Mode,
    format: Format,
    (resamples, seed): (usize, u64),
) -> Result<ExitCode> {
    use crate::service::results::{compare_many, Side};
    for (i, run) in runs.iter().enumerate() {
        if runs[..i].contains(run) {
            bail!("run {run} is named twice");
        }
    }
    let mut store = Reader::open(db).context("opening the database")?;
    let mut sides = Vec::new();
    for &run in runs {
        store.run(run)?;
        sides.push(Side {
            run,
            scores: store.scores(run)?,
            predictions: store.predictions_in_force(run)?,
        });
    }
    let rows = compare_many(&sides, 0, mode);
    let base = runs[0];
    // Each run's difference from run A with its bootstrap interval, per dataset.
    let differences: Vec<std::collections::HashMap<String, crate::eval::significance::Difference>> =
        sides[1..]
            .iter()
            .map(|side| {
                crate::service::results::compare_runs(
                    &sides[0].predictions,
                    &side.predictions,
                    mode,
                    resamples,
                    seed,
                )
                .into_iter()
                .filter_map(|r| Some((r.dataset, r.difference?)))
                .collect()
            })
            .collect();
    if format == Format::Json {
        let datasets: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|r| {
                let by_run = |v: Vec<serde_json::Value>| -> serde_json::Map<String, serde_json::Value> {
                    runs.iter().map(ToString::to_string).zip(v).collect()
                };
                let scores = r.scores.iter().map(|x| serde_json::json!(x)).collect();
                let flips = r.flips.iter().map(|x| serde_json::json!(x)).collect();
                let difference = std::iter::once(serde_json::Value::Null)
                    .chain(differences.iter().map(|d| serde_json::json!(d.get(&r.dataset))))
                    .collect();
                (
                    r.dataset.clone(),
                    serde_json::json!({"scores": by_run(scores), "flips": by_run(flips), "difference": by_run(difference), "best": r.best().iter().map(|i| runs[*i]).collect::<Vec<_>>()}),
                )
            })
            .collect();
        super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "runs": runs, "baseline": base, "mode": mode.as_str(), "datasets": datasets
            }))?
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut columns: Vec<Column> = runs
        .iter()
        .map(|id| Column {
            name: format!("run {id}"),
            is_score: true,
        })
        .collect();
    columns.extend(runs[1..].iter().map(|id| Column {
        name: format!("{id} vs {base} (+fixed -broken)"),
        is_score: false,
    }));
    columns.extend(runs[1..].iter().map(|id| Column {
        name: format!("{id} - {base} (95% CI)"),
        is_score: false,
    }));
    let table = ResultTable {
        title: format!(
            "runs {} side by side ({} mode); flips against run {base}",
            runs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            mode.as_str()
        ),
        label_header: "Dataset".into(),
        columns,
        rows: rows
            .iter()
            .map(|r| {
                let mut cells: Vec<Cell> = r
                    .scores
                    .iter()
                    .map(|x| x.map_or(Cell::Empty, Cell::Score))
                    .collect();
                cells.extend(r.flips[1..].iter().map(|f| match f {
                    Some(f) => Cell::Text(format!("+{} -{}", f.fixed, f.broken)),
                    None => Cell::Empty,
                }));
                cells.extend(differences.iter().map(|d| {
                    d.get(&r.dataset)
                        .map_or(Cell::Empty, |x| Cell::Text(x.cell()))
                }));
                Row {
                    label: r.dataset.clone(),
                    cells,
                    summary: false,
                }
            })
            .collect(),
    };
    print(&table, format)
}

/// Prints one table in `format`.
fn print(table: &ResultTable, format: Format) -> Result<ExitCode> {
    super::emit(&render(std::slice::from_ref(table), format))?;
    Ok(ExitCode::SUCCESS)
}

/// `runs loss ID...`: steps down, each run's loss and EMA across.
fn loss(db: &Path, ids: &[RunId], every: u64, format: Format) -> Result<ExitCode> {
    use crate::service::curves::{ema, EMA_ALPHA};
    use std::collections::BTreeMap;
    let mut store = Reader::open(db).context("opening the database")?;
    // Per run: step -> (loss, EMA at that step).
    type Curve = BTreeMap<u64, (f64, Option<f64>)>;
    let mut curves: Vec<(RunId, Curve)> = Vec::new();
    for &id in ids {
        store.run(id)?;
        let points = store.metrics(id)?;
        let smooth: BTreeMap<u64, f64> = ema(&points, EMA_ALPHA)
            .into_iter()
            .map(|(step, v)| (step as u64, v))
            .collect();
        let by_step = points
            .iter()
            .map(|p| (p.step, (p.loss, smooth.get(&p.step).copied())))
            .collect();
        curves.push((id, by_step));
    }
    if format == Format::Json {
        let runs: serde_json::Map<String, serde_json::Value> = curves
            .iter()
            .map(|(id, c)| {
                let points: Vec<serde_json::Value> = c
                    .iter()
                    .map(|(step, (loss, e))| {
                        // A NaN loss is JSON null, as `runs show` writes it.
                        let loss = loss.is_finite().then_some(*loss);
                        serde_json::json!({"step": step, "loss": loss, "ema": e})
                    })
                    .collect();
                (id.to_string(), points.into())
            })
            .collect();
        super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({"alpha": EMA_ALPHA, "runs": runs}))?
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let steps: std::collections::BTreeSet<u64> =
        curves.iter().flat_map(|(_, c)| c.keys().copied()).collect();
    let last = steps.iter().next_back().copied().unwrap_or(0);
    let every = if every > 0 { every } else { (last / 20).max(1) };
    let mut columns = Vec::new();
    for (id, _) in &curves {
        for what in ["loss", "EMA"] {
            columns.push(Column {
                name: format!("run {id} {what}"),
                is_score: false,
            });
        }
    }
    let rows = steps
        .iter()
        .filter(|s| *s % every == 0 || **s == last)
        .map(|step| Row {
            label: step.to_string(),
            cells: curves
                .iter()
                .flat_map(|(_, c)| match c.get(step) {
                    Some((loss, e)) => [
                        Cell::Text(format!("{loss:.4}")),
                        e.map_or(Cell::Empty, |v| Cell::Text(format!("{v:.4}"))),
                    ],
                    None => [Cell::Empty, Cell::Empty],
                })
                .collect(),
            summary: false,
        })
        .collect();
    let table = ResultTable {
        title: format!("loss every {every} steps (EMA alpha {EMA_ALPHA})"),
        label_header: "step".into(),
        columns,
        rows,
    };
    print(&table, format)
}

fn rescore(db: &Path, id: RunId) -> Result<ExitCode> {
    let store = open(db)?;
    if store.predictions(id, None)?.is_empty() {
        store.run(id)?;
        bail!("run {id} has no stored predictions to re-score");
    }
    let r = crate::service::results::rescore_now(&store, id)?;
    eprintln!(
        "run {id}: re-scored against gold version {} ({} of {} predictions have corrected gold)",
        r.gold_version, r.changed, r.predictions
    );
    Ok(ExitCode::SUCCESS)
}
