//! The embedded database: one sled directory holding datasets, templates, runs, their metrics,
//! predictions and scores, and the gold-edit log.
//!
//! Every write method flushes (fsync) before it returns, so whatever a caller has been told is
//! stored survives a kill -9. One process holds the database at a time; it records who it is in
//! `ie-bench.lock`, so a second process is told which one holds it.

mod error;
pub mod gold;
pub mod imports;
pub mod key;
pub mod records;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use error::{Result, StoreError};
pub use imports::{Imported, TemplateRecord};
pub use key::{Key, KeyReader};
pub use records::{
    legacy_words, DatasetRef, MetricPoint, RunId, RunKind, RunManifest, RunStatus,
    StoredPrediction, StoredScore,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The layout version this build reads and writes: 2 stores a run's settings as a typed
/// spec where 1 kept its command words.
pub const SCHEMA_VERSION: u32 = 2;

/// Upgrades a database from version `i + 1` to `i + 2`, for `MIGRATIONS[i]`.
pub type Migration = fn(&sled::Db) -> Result<()>;

const MIGRATIONS: &[Migration] = &[argv_to_spec];

/// 1 → 2: each run's command words (`settings.argv`) become its typed spec. Words that no
/// longer parse stay where they are, and `runs resume` says why it cannot read them. A run
/// already converted is left alone, so a migration cut short runs again safely.
fn argv_to_spec(db: &sled::Db) -> Result<()> {
    let runs = db.open_tree("runs")?;
    for kv in runs.iter() {
        let (key, bytes) = kv?;
        let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if m.get("spec").is_some_and(|s| !s.is_null()) {
            continue;
        }
        let Some(words) = records::argv_words(&m["settings"]) else {
            continue;
        };
        let Ok(spec) = crate::spec::RunSpec::from_words(&words) else {
            continue;
        };
        m["spec"] = serde_json::to_value(&spec).expect("specs serialise");
        m["settings"] = serde_json::Value::Null;
        runs.insert(key, Store::encode(&m))?;
    }
    Ok(())
}

const SCHEMA_KEY: &[u8] = b"schema_version";

pub struct Store {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    pub(crate) datasets: sled::Tree,
    pub(crate) examples: sled::Tree,
    pub(crate) templates: sled::Tree,
    runs: sled::Tree,
    metrics: sled::Tree,
    predictions: sled::Tree,
    scores: sled::Tree,
    pub(crate) gold_edits: sled::Tree,
    /// Serialises allocating run ids and gold-log sequence numbers within this process.
    sequence: Mutex<()>,
    /// Records decoded so far: what a front end's refresh costs, counted.
    records_read: std::sync::atomic::AtomicU64,
    /// Held for the store's lifetime: the lock other processes see.
    _lock: File,
}

/// `$IE_BENCH_DB`, else `$XDG_DATA_HOME/ie-bench/db`, else `~/.local/share/ie-bench/db`.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("IE_BENCH_DB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("ie-bench/db")
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens sled's files once this process holds `ie-bench.lock`. No other process can then hold
/// sled's own lock, but a store this process just dropped can, for a moment: sled's flusher
/// thread keeps the files open until it finishes its last flush. So a lock refusal here is
/// waited out (up to five seconds) rather than reported.
fn open_sled(dir: &Path) -> std::result::Result<sled::Db, sled::Error> {
    let start = std::time::Instant::now();
    loop {
        match sled::Config::new().path(dir).open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && start.elapsed() < std::time::Duration::from_secs(5) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn take_lock(path: &Path) -> Result<File> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(io)?;
    let lock_path = path.join("ie-bench.lock");
    let mut file = open_lock_file(&lock_path)?;
    if fs2::FileExt::try_lock_exclusive(&file).is_err() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(StoreError::Locked {
            path: path.to_path_buf(),
            holder: if holder.is_empty() {
                "another process".to_string()
            } else {
                holder.to_string()
            },
        });
    }
    let args: Vec<String> = std::env::args().collect();
    let me = format!(
        "process {} (`{}`, since {})",
        std::process::id(),
        args.join(" "),
        format_time(now())
    );
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(me.as_bytes()))
        .and_then(|_| file.sync_all())
        .map_err(io)?;
    Ok(file)
}

/// Opens (or creates) the lock file without following a symbolic link: the holder truncates
/// and rewrites it, so a link planted in its place would make every command overwrite the
/// file it points to.
fn open_lock_file(lock_path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let refuse = |message: &str| StoreError::Unsafe {
        path: lock_path.to_path_buf(),
        message: message.to_string(),
    };
    let io = |source| StoreError::Io {
        path: lock_path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(lock_path)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => refuse(
                "is a symbolic link; ie-bench does not follow it (remove it, and check who made it)",
            ),
            _ => io(source),
        })?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(refuse(
            "is not a regular file; ie-bench will not write its lock into it (remove it)",
        ));
    }
    Ok(file)
}

/// sled writes a snapshot to `snap.<lsn>.generating` and renames it when done. A write that
/// failed half-way (a full disk) leaves the file behind, and sled 0.34.7 then reads it as the
/// newest snapshot at every open: "Read corrupted data at file offset None", for good. This
/// process holds the lock, so no snapshot is being written now: any such file is stale, and
/// the data it would have summarised is still in the log.
fn remove_stale_snapshots(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let file = entry.path();
            std::fs::remove_file(&file).map_err(|source| StoreError::Io {
                path: file.clone(),
                source,
            })?;
            eprintln!(
                "note: removed {}, a snapshot sled left half-written (a full disk, or a crash while it was written); the data is still in its log",
                file.display()
            );
        }
    }
    Ok(())
}

/// Whether an error is the disk (or a quota) being full. It looks at this one error only;
/// walk the causes with anyhow's `chain` (a `StoreError` names its I/O or sled error there).
pub fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let io = match e.downcast_ref::<sled::Error>() {
        Some(sled::Error::Io(io)) => Some(io),
        _ => e.downcast_ref::<std::io::Error>(),
    };
    io.is_some_and(|io| {
        io.kind() == std::io::ErrorKind::StorageFull
            || matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    })
}

/// RFC 3339 (`YYYY-MM-DDTHH:MM:SSZ`) from Unix seconds (Howard Hinnant's civil-from-days).
pub fn format_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with(path, SCHEMA_VERSION, MIGRATIONS)
    }

    fn open_with(path: &Path, current: u32, migrations: &[Migration]) -> Result<Store> {
        let lock = take_lock(path)?;
        remove_stale_snapshots(&path.join("sled"))?;
        let db = open_sled(&path.join("sled")).map_err(|e| match e {
            sled::Error::Io(source) => StoreError::Io {
                path: path.to_path_buf(),
                source,
            },
            sled::Error::Corruption { .. } => StoreError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
            other => StoreError::Sled(other),
        })?;
        let meta = db.open_tree("meta")?;
        let found = match meta.get(SCHEMA_KEY)? {
            Some(v) => {
                u32::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!("meta.schema_version holds {} bytes, not 4", v.len()),
                })?)
            }
            None => {
                let empty = db
                    .tree_names()
                    .iter()
                    .all(|name| db.open_tree(name).map(|t| t.is_empty()).unwrap_or(false));
                if !empty {
                    return Err(StoreError::Corrupt {
                        path: path.to_path_buf(),
                        message: "holds data but no schema version: not an ie-bench database"
                            .to_string(),
                    });
                }
                meta.insert(SCHEMA_KEY, &current.to_be_bytes())?;
                meta.insert("created_by", env!("CARGO_PKG_VERSION").as_bytes())?;
                db.flush()?;
                current
            }
        };
        if found > current {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found,
                supported: current,
            });
        }
        for version in found..current {
            let step = migrations
                .get(version as usize - 1)
                .ok_or_else(|| StoreError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!("no migration from schema version {version}"),
                })?;
            step(&db)?;
            meta.insert(SCHEMA_KEY, &(version + 1).to_be_bytes())?;
            db.flush()?;
        }
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            path: path.to_path_buf(),
            datasets: tree("datasets")?,
            examples: tree("examples")?,
            templates: tree("templates")?,
            runs: tree("runs")?,
            metrics: tree("metrics")?,
            predictions: tree("predictions")?,
            scores: tree("scores")?,
            gold_edits: tree("gold_edits")?,
            meta,
            db,
            sequence: Mutex::new(()),
            records_read: Default::default(),
            _lock: lock,
        };
        store.mark_interrupted()?;
        Ok(store)
    }

    /// Runs recorded as running belong to a process that died: every runner holds the lock
    /// this process has just taken.
    fn mark_interrupted(&self) -> Result<()> {
        for (id, m) in self.runs()? {
            if m.status == RunStatus::Running {
                self.update_run(id, |m| {
                    m.status = RunStatus::Interrupted;
                    m.pid = None;
                })?;
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<u32> {
        let v = self.meta.get(SCHEMA_KEY)?.expect("set when opened");
        Ok(u32::from_be_bytes(
            v.as_ref().try_into().expect("checked when opened"),
        ))
    }

    /// Makes every write so far durable. Write methods call it before returning.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// How many records this store has decoded since it opened.
    pub fn records_read(&self) -> u64 {
        self.records_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("store records serialise")
    }

    /// Every record of `tree` under `prefix` (all of them for an empty one), in key order.
    pub(crate) fn scan<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Vec<T>> {
        let name = String::from_utf8_lossy(&tree.name()).into_owned();
        tree.scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                self.decode(&name, &k, &v)
            })
            .collect()
    }

    /// The record with the largest key under `prefix`.
    pub(crate) fn last_under<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Option<T>> {
        match tree.scan_prefix(prefix).next_back() {
            Some(kv) => {
                let (k, v) = kv?;
                Ok(Some(self.decode(
                    &String::from_utf8_lossy(&tree.name()),
                    &k,
                    &v,
                )?))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        tree: &str,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<T> {
        self.records_read
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            message: format!("{tree} record {key:02x?}: {e}"),
        })
    }

    // ---- runs ----

    /// Stores a new run and returns its id (1, 2, ...: one more than the largest so far).
    pub fn create_run(&self, manifest: &RunManifest) -> Result<RunId> {
        let _guard = self.sequence.lock().expect("sequence lock");
        let id = match self.runs.last()? {
            Some((k, _)) => KeyReader::new(&k).u64().unwrap_or(0) + 1,
            None => 1,
        };
        self.runs
            .insert(Key::new().u64(id), Store::encode(manifest))?;
        self.flush()?;
        Ok(id)
    }

    pub fn run(&self, id: RunId) -> Result<RunManifest> {
        let key = Key::new().u64(id);
        match self.runs.get(&key)? {
            Some(v) => self.decode("runs", key.as_bytes(), &v),
            None => Err(StoreError::UnknownRun(id)),
        }
    }

    /// Changes a run's manifest in place and returns the new one.
    pub fn update_run(&self, id: RunId, change: impl Fn(&mut RunManifest)) -> Result<RunManifest> {
        let key = Key::new().u64(id);
        let mut failure = None;
        let updated = self.runs.update_and_fetch(&key, |old| {
            let old = old?;
            match serde_json::from_slice::<RunManifest>(old) {
                Ok(mut m) => {
                    change(&mut m);
                    Some(Store::encode(&m))
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    Some(old.to_vec())
                }
            }
        })?;
        if let Some(message) = failure {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                message: format!("runs record {id}: {message}"),
            });
        }
        self.flush()?;
        match updated {
            Some(v) => self.decode("runs", key.as_bytes(), &v),
            None => Err(StoreError::UnknownRun(id)),
        }
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<(RunId, RunManifest)>> {
        self.runs
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let id = KeyReader::new(&k).u64().unwrap_or(0);
                Ok((id, self.decode("runs", &k, &v)?))
            })
            .collect()
    }

    // ---- metrics ----

    /// Records training points. A point for a step already stored replaces it, so a resumed
    /// run that repeats a step still holds each step once.
    pub fn put_metrics(&self, run: RunId, points: &[MetricPoint]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for p in points {
            batch.insert(Key::new().u64(run).u64(p.step).as_bytes(), Store::encode(p));
        }
        self.metrics.apply_batch(batch)?;
        self.flush()
    }

    /// Drops a run's points after `step`: a resumed run restarts from its checkpoint and
    /// records those steps again.
    pub fn truncate_metrics(&self, run: RunId, after_step: u64) -> Result<()> {
        let start = Key::new().u64(run).u64(after_step.saturating_add(1));
        let end = Key::new().u64(run + 1);
        let mut batch = sled::Batch::default();
        for kv in self.metrics.range(start.as_bytes()..end.as_bytes()) {
            batch.remove(kv?.0);
        }
        self.metrics.apply_batch(batch)?;
        self.flush()
    }

    pub fn metrics(&self, run: RunId) -> Result<Vec<MetricPoint>> {
        self.scan(&self.metrics, Key::new().u64(run))
    }

    // ---- predictions ----

    /// Stores generated outputs of one dataset, `(index, prediction)` each; one fsync per call.
    pub fn put_predictions(
        &self,
        run: RunId,
        dataset: &str,
        items: &[(u64, StoredPrediction)],
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (index, p) in items {
            let key = Key::new().u64(run).str(dataset).u64(*index);
            batch.insert(key.as_bytes(), Store::encode(p));
        }
        self.predictions.apply_batch(batch)?;
        self.flush()
    }

    /// A run's predictions, ordered by dataset then index; `dataset` narrows to one.
    pub fn predictions(
        &self,
        run: RunId,
        dataset: Option<&str>,
    ) -> Result<Vec<(String, u64, StoredPrediction)>> {
        let prefix = match dataset {
            Some(d) => Key::new().u64(run).str(d),
            None => Key::new().u64(run),
        };
        self.predictions
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let mut r = KeyReader::new(&k);
                let (_, ds, index) = (r.u64(), r.str(), r.u64());
                let (Some(ds), Some(index)) = (ds, index) else {
                    return Err(StoreError::Corrupt {
                        path: self.path.clone(),
                        message: format!("predictions key {:02x?} is malformed", &k[..]),
                    });
                };
                Ok((ds, index, self.decode("predictions", &k, &v)?))
            })
            .collect()
    }

    // ---- scores ----

    /// Stores score rows. The key holds (run, gold version, split, mode, step, task, dataset),
    /// so a re-score against corrected gold is kept beside the original.
    pub fn put_scores(&self, run: RunId, rows: &[StoredScore]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for s in rows {
            batch.insert(score_key(run, s).as_bytes(), Store::encode(s));
        }
        self.scores.apply_batch(batch)?;
        self.flush()
    }

    /// All score rows of a run, in key order.
    pub fn scores(&self, run: RunId) -> Result<Vec<StoredScore>> {
        self.scan(&self.scores, Key::new().u64(run))
    }

    /// Size of the database files on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

fn score_key(run: RunId, s: &StoredScore) -> Key {
    Key::new()
        .u64(run)
        .u64(s.gold_version)
        .str(s.split.as_str())
        .str(s.mode.as_str())
        .u64(s.step)
        .str(s.task.as_str())
        .str(&s.dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> RunManifest {
        RunManifest {
            status: RunStatus::Running,
            model: Some("m".into()),
            settings: serde_json::json!({}),
            ..RunManifest::new(RunKind::Train, 1_764_028_800)
        }
    }

    /// A store dropped and opened again at once, as the workbench and its tests do: sled's
    /// flusher can still hold its files for a moment, which must not fail the second open.
    #[test]
    fn a_store_reopens_at_once_after_it_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        for i in 0..40u64 {
            let store = Store::open(&path).unwrap_or_else(|e| panic!("open {i}: {e}"));
            let id = store.create_run(&manifest()).unwrap();
            // Enough writes that sled still has segments to write out when the store drops.
            let lines: Vec<(u64, StoredPrediction)> = (0..300u64)
                .map(|k| {
                    (
                        k,
                        StoredPrediction {
                            task: crate::ie::TaskKind::Ner,
                            id: k.to_string(),
                            ground_truth: "person: Ann".repeat(20),
                            prediction: format!("person: {k}"),
                            truncated: false,
                            sentence: Some("Ann ".repeat(200)),
                            instruction: None,
                        },
                    )
                })
                .collect();
            store.put_predictions(id, "d", &lines).unwrap();
            drop(store);
        }
        assert_eq!(Store::open(&path).unwrap().runs().unwrap().len(), 40);
    }

    #[test]
    fn runs_metrics_and_predictions_round_trip_and_survive_reopening() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.create_run(&manifest()).unwrap(), 1);
            assert_eq!(store.create_run(&manifest()).unwrap(), 2);
            let point = |step, loss| MetricPoint {
                step,
                loss,
                lr: None,
                tokens_per_s: None,
                epoch: None,
            };
            store
                .put_metrics(1, &[point(1, 3.0), point(2, 2.0), point(3, 1.0)])
                .unwrap();
            // Resume from step 2: step 3 is dropped and recorded again, once.
            store.truncate_metrics(1, 2).unwrap();
            store.put_metrics(1, &[point(3, 0.5)]).unwrap();
            store.put_metrics(2, &[point(1, 9.0)]).unwrap();
            let pred = |p: &str| StoredPrediction {
                task: crate::ie::TaskKind::Ner,
                id: "0".into(),
                ground_truth: "g".into(),
                prediction: p.into(),
                truncated: false,
                sentence: None,
                instruction: None,
            };
            store
                .put_predictions(1, "b", &[(1, pred("b1")), (0, pred("b0"))])
                .unwrap();
            store.put_predictions(1, "a", &[(0, pred("a0"))]).unwrap();
            store
                .update_run(1, |m| m.status = RunStatus::Finished)
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.run(1).unwrap().status, RunStatus::Finished);
        assert_eq!(store.runs().unwrap().len(), 2);
        let steps: Vec<(u64, f64)> = store
            .metrics(1)
            .unwrap()
            .iter()
            .map(|p| (p.step, p.loss))
            .collect();
        assert_eq!(steps, vec![(1, 3.0), (2, 2.0), (3, 0.5)]);
        let preds: Vec<String> = store
            .predictions(1, None)
            .unwrap()
            .into_iter()
            .map(|(d, i, p)| format!("{d}{i}={}", p.prediction))
            .collect();
        assert_eq!(preds, ["a0=a0", "b0=b0", "b1=b1"]);
        assert_eq!(store.predictions(1, Some("b")).unwrap().len(), 2);
        assert!(matches!(store.run(7), Err(StoreError::UnknownRun(7))));
    }

    #[test]
    fn a_second_opener_is_told_who_holds_the_database() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        let _first = Store::open(&path).unwrap();
        let err = Store::open(&path).err().expect("locked").to_string();
        assert!(
            err.contains("is in use by process") && err.contains(&std::process::id().to_string()),
            "{err}"
        );
    }

    #[test]
    fn schema_versions_migrate_forward_and_refuse_newer() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        drop(Store::open(&path).unwrap());
        // A build with one more layout and migration upgrades it, and runs the step once.
        fn add_marker(db: &sled::Db) -> Result<()> {
            db.open_tree("meta")?
                .insert("migrated", b"yes".as_slice())?;
            Ok(())
        }
        let mut migrations = MIGRATIONS.to_vec();
        migrations.push(add_marker);
        let next = SCHEMA_VERSION + 1;
        {
            let store = Store::open_with(&path, next, &migrations).unwrap();
            assert_eq!(store.schema_version().unwrap(), next);
            assert!(store.meta.get("migrated").unwrap().is_some());
        }
        // This build refuses the upgraded database instead of misreading it.
        let err = Store::open(&path).err().expect("newer").to_string();
        assert!(
            err.contains(&format!("schema version {next}, newer")),
            "{err}"
        );
    }

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_764_028_800), "2025-11-25T00:00:00Z");
        assert_eq!(format_time(951_827_696), "2000-02-29T12:34:56Z");
    }
}
