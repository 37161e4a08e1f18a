//! The database as a front end's screens may see it: reads only. The workbench hands its
//! screens this and not the store, so a screen cannot write; what it wants changed goes back
//! to the workbench as a message, which carries it out through the holder. Cheap to clone
//! (one shared store), so a worker thread takes its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::store::gold::{GoldEntry, GoldState};
use crate::store::{
    MetricPoint, Result, RunId, RunManifest, Store, StoredPrediction, StoredScore, TemplateRecord,
};

#[derive(Clone)]
pub struct Reads {
    store: Arc<Store>,
    db: PathBuf,
}

impl Reads {
    /// Reads of `store`, the database kept in directory `db`.
    pub fn new(store: Arc<Store>, db: &Path) -> Reads {
        Reads {
            store,
            db: db.to_path_buf(),
        }
    }

    pub fn runs(&self) -> Result<Vec<(RunId, RunManifest)>> {
        self.store.runs()
    }

    pub fn run(&self, run: RunId) -> Result<RunManifest> {
        self.store.run(run)
    }

    pub fn scores(&self, run: RunId) -> Result<Vec<StoredScore>> {
        self.store.scores(run)
    }

    pub fn metrics(&self, run: RunId) -> Result<Vec<MetricPoint>> {
        self.store.metrics(run)
    }

    /// A run's predictions, ordered by dataset then index.
    pub fn predictions(&self, run: RunId) -> Result<Vec<(String, u64, StoredPrediction)>> {
        self.store.predictions(run, None)
    }

    pub fn gold_state(&self) -> Result<GoldState> {
        self.store.gold_state()
    }

    /// A run's predictions judged against the gold in force: a corrected example carries its
    /// correction as its gold.
    pub fn predictions_in_force(&self, run: RunId) -> Result<Vec<(String, u64, StoredPrediction)>> {
        Ok(super::results::with_gold_in_force(
            self.predictions(run)?,
            &self.gold_state()?.corrections(),
        ))
    }

    pub fn gold_log(&self) -> Result<Vec<GoldEntry>> {
        self.store.gold_log()
    }

    /// Stored versions of the instruction bank, oldest first.
    pub fn bank_versions(&self) -> Result<Vec<TemplateRecord>> {
        Ok(self
            .store
            .templates()?
            .into_iter()
            .filter(|t| t.kind == "instructions" && t.name == "instruction_config.json")
            .collect())
    }

    /// Where version `v` of the instruction bank is kept as a file (runs name it with
    /// `--instructions`).
    pub fn bank_file(&self, v: u32) -> PathBuf {
        self.db
            .join("templates")
            .join(format!("instruction_config.v{v}.json"))
    }
}
