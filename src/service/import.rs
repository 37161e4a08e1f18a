//! `ie-bench import DIR`: an IE INSTRUCTIONS tree, its task configs and instruction bank into
//! the database, as new versions only where files changed.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use super::through::Said;
use crate::data::list_datasets;
use crate::ie::dataset_key;
use crate::ie::Split;
use crate::store::imports::{combined_hash, digest, DatasetManifest, Imported, TemplateRecord};
use crate::store::Store;

#[derive(clap::Args)]
pub struct Args {
    /// The IE_INSTRUCTIONS directory (holding NER/, RE/, EE/ ...).
    dir: PathBuf,
    /// Task configs and instruction_config.json; default: DIR/../configs when it exists.
    #[arg(long)]
    configs: Option<PathBuf>,
}

/// The regular files of a directory, sorted, with contents.
fn files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            out.push((name, bytes));
        }
    }
    out.sort();
    Ok(out)
}

impl Args {
    /// The words after `import`, with absolute paths (the holder may run elsewhere).
    pub fn words(&self) -> Vec<String> {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut w = vec![abs(&self.dir).display().to_string()];
        if let Some(c) = &self.configs {
            w.push("--configs".into());
            w.push(abs(c).display().to_string());
        }
        w
    }

    pub fn from_words(words: &[String]) -> Result<Args> {
        use clap::Parser;
        #[derive(Parser)]
        struct Words {
            #[command(flatten)]
            args: Args,
        }
        Ok(Words::try_parse_from(
            std::iter::once("import".to_string()).chain(words.iter().cloned()),
        )?
        .args)
    }
}

/// Imports into `store`, returning what it says.
pub fn apply(store: &Store, a: Args) -> Result<Said> {
    let mut said = Said::default();
    // Everything is read and checked before the database is touched.
    let mut datasets = Vec::new();
    for loc in list_datasets(&a.dir)? {
        let name = dataset_key(loc.task, &loc.name);
        let contents = files(&loc.data_dir)?;
        let digests: Vec<_> = contents.iter().map(|(n, b)| digest(n.clone(), b)).collect();
        let mut splits = Vec::new();
        for split in Split::ALL {
            if loc.has_split(split) {
                splits.push((split.as_str().to_string(), loc.read_split(split)?));
            }
        }
        let labels = serde_json::to_value(loc.read_labels()?).context("labels")?;
        datasets.push((
            DatasetManifest {
                name,
                version: 0,
                source: loc.data_dir.display().to_string(),
                content_hash: combined_hash(&digests),
                files: digests,
                splits: splits
                    .iter()
                    .map(|(s, r)| (s.clone(), r.len() as u64))
                    .collect(),
                labels,
                imported: crate::store::now(),
            },
            splits,
        ));
    }
    let configs = a
        .configs
        .clone()
        .or_else(|| a.dir.parent().map(|p| p.join("configs")))
        .filter(|p| p.is_dir());
    let mut templates = Vec::new();
    if let Some(dir) = &configs {
        for (name, bytes) in files(dir)? {
            if name.ends_with(".json") {
                templates.push(template(
                    "instructions",
                    &name,
                    vec![(name.clone(), bytes)],
                )?);
            }
        }
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                templates.push(template("config", &name, files(&path)?)?);
            }
        }
    }

    let (mut new, mut same) = (0, 0);
    for (manifest, splits) in datasets {
        let name = manifest.name.clone();
        match store.import_dataset(manifest, &splits)? {
            Imported::Unchanged(_) => same += 1,
            Imported::NewVersion(v) => {
                new += 1;
                said.note(format!("{name}: version {v}"));
            }
        }
    }
    for t in templates {
        let label = format!("{} {}", t.kind, t.name);
        match store.import_template(t)? {
            Imported::Unchanged(_) => same += 1,
            Imported::NewVersion(v) => {
                new += 1;
                said.note(format!("{label}: version {v}"));
            }
        }
    }
    said.note(format!(
        "imported {}: {new} new version{}, {same} unchanged{}",
        a.dir.display(),
        if new == 1 { "" } else { "s" },
        configs
            .map(|c| format!(" (configs from {})", c.display()))
            .unwrap_or_default()
    ));
    Ok(said)
}

fn template(kind: &str, name: &str, files: Vec<(String, Vec<u8>)>) -> Result<TemplateRecord> {
    let digests: Vec<_> = files.iter().map(|(n, b)| digest(n.clone(), b)).collect();
    let files = files
        .into_iter()
        .map(|(n, b)| {
            String::from_utf8(b)
                .map(|text| (n.clone(), text))
                .with_context(|| format!("{kind} {name}: {n} is not UTF-8"))
        })
        .collect::<Result<_>>()?;
    Ok(TemplateRecord {
        kind: kind.to_string(),
        name: name.to_string(),
        version: 0,
        content_hash: combined_hash(&digests),
        files,
        imported: crate::store::now(),
    })
}
