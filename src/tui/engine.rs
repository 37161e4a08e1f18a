//! The TUI's hands: the database it holds (with the job manager and the socket other
//! processes use), the default model, and saved template versions. Screens call these; they
//! never touch sled or threads themselves.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Mutex;
use std::time::Instant;

use crate::jobs::JobEvent;
use crate::service::holder::Holder;
use crate::service::reads::Reads;
use crate::store::gold::GoldEvent;
use crate::store::{Imported, RunId, Store, TemplateRecord};

pub struct Engine {
    pub holder: Holder,
    pub db: PathBuf,
    /// What the screens may read (they get this, never the store).
    pub reads: Reads,
    /// The models the screens offer, as they stand.
    pub models: Models,
    made: Mutex<Option<Receiver<Result<(), String>>>>,
    /// Job events, forwarded from the holder by a thread that wakes the event loop.
    events: Mutex<Receiver<JobEvent>>,
}

/// A gold correction undone or redone.
pub struct GoldStep {
    /// The edit it concerns.
    pub of: u64,
    /// The gold version now.
    pub version: u64,
    /// The example (dataset key, id) the edit was about.
    pub example: Option<(String, String)>,
}

/// The models a launch can start from: the default model, and the pretrained ones installed.
pub struct Models {
    default_model: Mutex<DefaultModel>,
    /// Pretrained models installed by `ie-bench model fetch`, by name; the launch form offers
    /// them.
    pub backbones: Vec<(String, PathBuf)>,
}

impl Models {
    /// The default model as it stands now; never waits.
    pub fn default_model(&self) -> DefaultModel {
        self.default_model
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Where the default model stands. Making it (a tokenizer trained on the data) takes seconds
/// to a minute on a real corpus, so it happens on a thread of its own.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultModel {
    Ready(PathBuf),
    Making { dir: PathBuf, since: Instant },
    Failed { dir: PathBuf, error: String },
}

impl DefaultModel {
    pub fn dir(&self) -> &Path {
        match self {
            DefaultModel::Ready(dir)
            | DefaultModel::Making { dir, .. }
            | DefaultModel::Failed { dir, .. } => dir,
        }
    }

    /// One line for the status bar or a pane that needs the model.
    pub fn describe(&self) -> String {
        match self {
            DefaultModel::Ready(dir) => format!("default model: {}", dir.display()),
            DefaultModel::Making { since, .. } => format!(
                "making the default model (a tokenizer trained on the data, then random weights): {} s so far",
                since.elapsed().as_secs()
            ),
            DefaultModel::Failed { error, .. } => format!(
                "the default model could not be made ({error}); type a model directory in the launch form, or make one with `ie-bench model init --data DIR --out DIR`"
            ),
        }
    }
}

impl Engine {
    /// Takes the database. The default model is `DB/models/tiny-default`; see
    /// `start_default_model`.
    pub fn new(store: Store, db: &Path) -> Result<Engine> {
        let dir = db.join("models").join("tiny-default");
        let state = if dir.join("model.safetensors").is_file() {
            DefaultModel::Ready(dir)
        } else {
            DefaultModel::Making {
                dir,
                since: Instant::now(),
            }
        };
        let mut holder = Holder::new(store, db)?;
        let (tx, events) = std::sync::mpsc::channel();
        let from_jobs = std::mem::replace(&mut holder.events, std::sync::mpsc::channel().1);
        // Ends when the compute thread does (its sender goes with it).
        std::thread::Builder::new()
            .name("job-events".into())
            .spawn(move || {
                for e in from_jobs {
                    if tx.send(e).is_err() {
                        break;
                    }
                    super::wake::wake();
                }
            })?;
        Ok(Engine {
            reads: Reads::new(std::sync::Arc::clone(&holder.store), db),
            holder,
            events: Mutex::new(events),
            db: db.to_path_buf(),
            models: Models {
                default_model: Mutex::new(state),
                backbones: crate::model::decoder::fetch::installed()
                    .into_iter()
                    .map(|(n, p)| (n.to_string(), p))
                    .collect(),
            },
            made: Mutex::new(None),
        })
    }

    /// Starts making the default model for `data` on a thread of its own, unless it exists
    /// or is being made. Its weights file is written last, so a model cut short by a crash is
    /// made again next time.
    pub fn start_default_model(&self, data: &Path) -> Result<()> {
        let mut made = self
            .made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut state = self
            .models
            .default_model
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if made.is_some() || matches!(*state, DefaultModel::Ready(_)) {
            return Ok(());
        }
        let dir = state.dir().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let (out, data) = (dir.clone(), data.to_path_buf());
        std::thread::Builder::new()
            .name("default-model".into())
            .spawn(move || {
                let outcome = crate::service::models::init_tiny(&out, &data)
                    .with_context(|| format!("creating the default model in {}", out.display()))
                    .map_err(|e| format!("{e:#}"));
                if let Err(e) = &outcome {
                    eprintln!("{e}");
                }
                let _ = tx.send(outcome);
                super::wake::wake();
            })?;
        *state = DefaultModel::Making {
            dir,
            since: Instant::now(),
        };
        *made = Some(rx);
        Ok(())
    }

    /// The default model as it stands now; never waits.
    pub fn default_model(&self) -> DefaultModel {
        self.models.default_model()
    }

    /// The default model's tokenizer, once the model is made (prompt lengths are counted with
    /// it).
    pub fn default_tokenizer(&self) -> Result<Option<crate::model::TextTokenizer>> {
        match self.default_model() {
            DefaultModel::Ready(dir) => Ok(Some(crate::model::TextTokenizer::load(
                &dir.join("tokenizer.json"),
            )?)),
            _ => Ok(None),
        }
    }

    /// The default model's new state once it is made or has failed; `None` while nothing
    /// changed.
    pub fn poll_default_model(&self) -> Option<DefaultModel> {
        let mut made = self
            .made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outcome = made.as_ref()?.try_recv().ok()?;
        *made = None;
        let mut state = self
            .models
            .default_model
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = state.dir().to_path_buf();
        *state = match outcome {
            Ok(()) => DefaultModel::Ready(dir),
            Err(error) => DefaultModel::Failed { dir, error },
        };
        Some(state.clone())
    }

    pub fn store(&self) -> &Store {
        &self.holder.store
    }

    /// Job events that arrived since the last call.
    pub fn events(&self) -> Vec<JobEvent> {
        let events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        events.try_iter().collect()
    }

    pub fn pending(&self) -> usize {
        self.holder.manager.pending()
    }

    pub fn launch(&self, spec: crate::spec::RunSpec) -> Result<RunId> {
        self.holder.submit(spec)
    }

    pub fn cancel(&self, id: RunId) -> Result<()> {
        self.holder.cancel(id)
    }

    pub fn resume(&self, id: RunId) -> Result<()> {
        self.holder.resume(id)
    }

    /// Stores a gold correction; returns the gold version it makes.
    pub fn gold_edit(&self, key: &str, id: &str, before: &str, after: &str) -> Result<u64> {
        Ok(self.store().gold_edit(key, id, before, after)?.seq)
    }

    /// Undoes (or, with `redo`, redoes) a gold correction. `None` when there is nothing to;
    /// otherwise the correction's sequence number, the gold version now, and the example it
    /// was about.
    pub fn gold_step(&self, redo: bool) -> Result<Option<GoldStep>> {
        let store = self.store();
        let done = if redo {
            store.gold_redo()?
        } else {
            store.gold_undo()?
        };
        let Some(entry) = done else {
            return Ok(None);
        };
        let of = match entry.event {
            GoldEvent::Undo { of } | GoldEvent::Redo { of } => of,
            GoldEvent::Edit { .. } => entry.seq,
        };
        let example = store.gold_log()?.into_iter().find_map(|e| match e.event {
            GoldEvent::Edit { dataset, id, .. } if e.seq == of => Some((dataset, id)),
            _ => None,
        });
        Ok(Some(GoldStep {
            of,
            version: entry.seq,
            example,
        }))
    }

    /// Queues a re-scoring of run `id` against the gold in force.
    pub fn rescore(&self, id: RunId) -> Result<()> {
        self.holder.rescore(id)
    }

    /// Saves an instruction bank's text as its next version, and as a file runs can name with
    /// `--instructions`. Returns the version and the file.
    pub fn save_bank(&self, text: &str) -> Result<(u32, PathBuf)> {
        let record = TemplateRecord::instruction_bank(text);
        let version = match self.store().import_template(record)? {
            Imported::Unchanged(v) | Imported::NewVersion(v) => v,
        };
        let path = self.reads.bank_file(version);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok((version, path))
    }

    /// Cancels every queued and running job and waits for the compute thread (a training run
    /// stops at its next step and keeps a checkpoint, so `resume` continues it). Returns the
    /// store, to read what the jobs left.
    pub fn shut_down(self) -> std::sync::Arc<Store> {
        self.holder.manager.cancel_all();
        let Engine { mut holder, .. } = self;
        holder.shut_down();
        holder.store
    }
}
