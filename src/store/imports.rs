//! Imported data: versions of datasets (with their examples) and of templates and task
//! configs. A version is identified by the hash of its files: importing unchanged files again
//! adds nothing, a change adds the next version, and older versions stay for the runs that
//! used them.

use serde::{Deserialize, Serialize};

use super::{Key, Result, Store};
use crate::ie::Record;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Relative to the dataset (or config) directory.
    pub path: String,
    pub bytes: u64,
    /// Hex SHA-256 of the contents.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// `TASK/Name`.
    pub name: String,
    pub version: u32,
    /// Where it was imported from.
    pub source: String,
    pub files: Vec<FileDigest>,
    /// Hash over `files`: what decides whether an import is a new version.
    pub content_hash: String,
    /// Examples per split, in `train`, `dev`, `test` order where present.
    pub splits: Vec<(String, u64)>,
    pub labels: serde_json::Value,
    pub imported: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRecord {
    /// `instructions` (an instruction bank) or `config` (a task config).
    pub kind: String,
    pub name: String,
    pub version: u32,
    pub content_hash: String,
    /// The file contents: JSON text, kept byte for byte.
    pub files: Vec<(String, String)>,
    pub imported: u64,
}

impl TemplateRecord {
    /// An instruction bank, under the name `ie-bench import` gives the release's file.
    pub fn instruction_bank(text: &str) -> TemplateRecord {
        let name = "instruction_config.json";
        TemplateRecord {
            kind: "instructions".to_string(),
            name: name.to_string(),
            version: 0,
            content_hash: combined_hash(&[digest(name.to_string(), text.as_bytes())]),
            files: vec![(name.to_string(), text.to_string())],
            imported: super::now(),
        }
    }
}

/// What an import did with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Unchanged(u32),
    NewVersion(u32),
}

/// SHA-256 over the digests in order: one hash for a set of files.
pub fn combined_hash(files: &[FileDigest]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in files {
        h.update(f.path.as_bytes());
        h.update([0]);
        h.update(f.sha256.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize())
}

pub fn digest(path: String, bytes: &[u8]) -> FileDigest {
    use sha2::{Digest, Sha256};
    FileDigest {
        path,
        bytes: bytes.len() as u64,
        sha256: hex(&Sha256::digest(bytes)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// The newest version of a dataset, if it was ever imported.
    pub fn dataset(&self, name: &str) -> Result<Option<DatasetManifest>> {
        self.last_under(&self.datasets, Key::new().str(name))
    }

    /// Every version of every dataset, by name then version.
    pub fn datasets(&self) -> Result<Vec<DatasetManifest>> {
        self.scan(&self.datasets, [])
    }

    /// Stores a dataset's examples and manifest as its next version, unless its newest
    /// version has the same content hash. `manifest.version` is set here.
    pub fn import_dataset(
        &self,
        mut manifest: DatasetManifest,
        splits: &[(String, Vec<Record>)],
    ) -> Result<Imported> {
        let latest = self.dataset(&manifest.name)?;
        if let Some(old) = &latest {
            if old.content_hash == manifest.content_hash {
                return Ok(Imported::Unchanged(old.version));
            }
        }
        let version = latest.map_or(1, |m| m.version + 1);
        manifest.version = version;
        // Examples first, the manifest last: a version without a manifest is invisible, so a
        // crash half-way leaves no half-imported version behind.
        for (split, records) in splits {
            for (c, chunk) in records.chunks(10_000).enumerate() {
                let mut batch = sled::Batch::default();
                for (i, r) in chunk.iter().enumerate() {
                    let index = (c * 10_000 + i) as u64;
                    let key = Key::new()
                        .str(&manifest.name)
                        .u32(version)
                        .str(split)
                        .u64(index);
                    batch.insert(key.as_bytes(), Store::encode(r));
                }
                self.examples.apply_batch(batch)?;
            }
        }
        self.datasets.insert(
            Key::new().str(&manifest.name).u32(version),
            Store::encode(&manifest),
        )?;
        self.flush()?;
        Ok(Imported::NewVersion(version))
    }

    /// The examples of one split of one dataset version.
    pub fn examples(&self, name: &str, version: u32, split: &str) -> Result<Vec<Record>> {
        self.scan(&self.examples, Key::new().str(name).u32(version).str(split))
    }

    /// Stores a template or task config as its next version, unless its text is a stored
    /// version already (then that version).
    pub fn import_template(&self, mut record: TemplateRecord) -> Result<Imported> {
        // Content names a version: a template that returns to an earlier text (an A/B's
        // saved side after its edited side, a reverted edit) is that version again, so runs
        // with the same text name the same version.
        let versions: Vec<TemplateRecord> = self.scan(
            &self.templates,
            Key::new().str(&record.kind).str(&record.name),
        )?;
        if let Some(old) = versions
            .iter()
            .find(|old| old.content_hash == record.content_hash)
        {
            return Ok(Imported::Unchanged(old.version));
        }
        record.version = versions.last().map_or(1, |t| t.version + 1);
        let key = Key::new()
            .str(&record.kind)
            .str(&record.name)
            .u32(record.version);
        self.templates.insert(key, Store::encode(&record))?;
        self.flush()?;
        Ok(Imported::NewVersion(record.version))
    }

    pub fn templates(&self) -> Result<Vec<TemplateRecord>> {
        self.scan(&self.templates, [])
    }
}
