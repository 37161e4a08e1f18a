//! The TUI's hands: the database it holds (with the job manager and the socket other
//! processes use), the default model, and saved template versions. Screens call these; they
//! never touch sled or threads themselves.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use crate::cli::launch::Holder;
use crate::jobs::JobEvent;
use crate::store::{Imported, RunId, Store, TemplateRecord};

pub struct Engine {
    pub holder: Holder,
    pub db: PathBuf,
}

impl Engine {
    pub fn new(store: Store, db: &Path) -> Result<Engine> {
        Ok(Engine {
            holder: Holder::new(store, db)?,
            db: db.to_path_buf(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.holder.store
    }

    /// The store, to hand to a worker thread.
    pub fn shared_store(&self) -> std::sync::Arc<Store> {
        std::sync::Arc::clone(&self.holder.store)
    }

    /// Job events that arrived since the last call.
    pub fn events(&self) -> Vec<JobEvent> {
        self.holder.events.try_iter().collect()
    }

    pub fn pending(&self) -> usize {
        self.holder.manager.pending()
    }

    /// `<db>/models/tiny-default`, created (a tiny model with a tokenizer trained on `data`)
    /// the first time it is asked for.
    pub fn default_model(&self, data: &Path) -> Result<PathBuf> {
        let dir = self.db.join("models").join("tiny-default");
        if !dir.join("model.safetensors").is_file() {
            crate::cli::model::init_tiny(&dir, data)
                .with_context(|| format!("creating the default model in {}", dir.display()))?;
        }
        Ok(dir)
    }

    pub fn launch(&self, words: Vec<String>) -> Result<RunId> {
        self.holder.submit(words)
    }

    pub fn cancel(&self, id: RunId) -> Result<()> {
        self.holder.cancel(id)
    }

    pub fn resume(&self, id: RunId) -> Result<()> {
        self.holder.resume(id)
    }

    /// Saves an instruction bank's text as its next version, and as a file runs can name with
    /// `--instructions`. Returns the version and the file.
    pub fn save_bank(&self, text: &str) -> Result<(u32, PathBuf)> {
        let record = TemplateRecord::instruction_bank(text);
        let version = match self.store().import_template(record)? {
            Imported::Unchanged(v) | Imported::NewVersion(v) => v,
        };
        let path = self.bank_file(version);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok((version, path))
    }

    /// Where version `v` of the instruction bank is kept as a file.
    pub fn bank_file(&self, v: u32) -> PathBuf {
        self.db
            .join("templates")
            .join(format!("instruction_config.v{v}.json"))
    }

    /// Stored versions of the instruction bank, oldest first.
    pub fn bank_versions(&self) -> Result<Vec<TemplateRecord>> {
        Ok(self
            .store()
            .templates()?
            .into_iter()
            .filter(|t| t.kind == "instructions" && t.name == "instruction_config.json")
            .collect())
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
