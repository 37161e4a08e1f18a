//! Downloading a Hugging Face repo into the local HF cache, for a repo id that is not cached.
//!
//! The files land where transformers looks for them (`models--org--name/refs/main` and
//! `snapshots/<commit>/`), so a model fetched by ie-bench is also found by Python tools and by
//! the next offline run. Only what ie-bench reads is fetched: `config.json`, `tokenizer.json`
//! and the safetensors weights (one file or the index and its shards).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{ModelError, Result};

/// Where and how to reach the hub, from the environment variables huggingface_hub reads.
pub struct Hub {
    /// `HF_ENDPOINT`, by default `https://huggingface.co`.
    pub endpoint: String,
    /// `HF_TOKEN`, for gated or private repos.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set to a true value: never touch the network.
    pub offline: bool,
}

fn truthy(key: &str) -> bool {
    std::env::var(key).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

impl Hub {
    pub fn from_env() -> Hub {
        Hub {
            endpoint: std::env::var("HF_ENDPOINT")
                .unwrap_or_else(|_| "https://huggingface.co".to_string())
                .trim_end_matches('/')
                .to_string(),
            token: std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()),
            offline: truthy("HF_HUB_OFFLINE") || truthy("TRANSFORMERS_OFFLINE"),
        }
    }

    /// Downloads `repo` (`org/name`) at its `main` revision into `cache_root` and returns the
    /// snapshot directory. Files are written under a temporary name and renamed when complete,
    /// so an interrupted download never looks like a finished one.
    pub fn download(&self, repo: &str, cache_root: &Path) -> Result<PathBuf> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_body(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        let info_url = format!("{}/api/models/{repo}/revision/main", self.endpoint);
        let info: serde_json::Value = serde_json::from_reader(self.get(&agent, &info_url)?)
            .map_err(|e| ModelError::NotFound(format!("{info_url}: unreadable answer: {e}")))?;
        let commit = info["sha"]
            .as_str()
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
            .ok_or_else(|| {
                ModelError::NotFound(format!("{info_url}: no commit `sha` in the answer"))
            })?
            .to_string();
        let listed: Vec<&str> = info["siblings"]
            .as_array()
            .map(|s| s.iter().filter_map(|f| f["rfilename"].as_str()).collect())
            .unwrap_or_default();

        let repo_dir = cache_root.join(format!("models--{}", repo.replace('/', "--")));
        let snapshot = repo_dir.join("snapshots").join(&commit);
        std::fs::create_dir_all(&snapshot).map_err(|e| ModelError::io(&snapshot, e))?;
        let mut files = vec!["config.json".to_string(), "tokenizer.json".to_string()];
        if listed.contains(&"model.safetensors") {
            files.push("model.safetensors".to_string());
        } else if listed.contains(&"model.safetensors.index.json") {
            let index = "model.safetensors.index.json";
            self.fetch(&agent, repo, &commit, index, &snapshot)?;
            files.extend(shard_names(&snapshot.join(index))?);
        } else {
            return Err(ModelError::NotFound(format!(
                "{repo} (commit {commit}) has no model.safetensors or model.safetensors.index.json \
                 (only safetensors weights are read; convert a pytorch_model.bin with transformers' \
                 `save_pretrained(..., safe_serialization=True)`)"
            )));
        }
        for file in &files {
            self.fetch(&agent, repo, &commit, file, &snapshot)?;
        }
        // refs/main last: until it exists, the cache lookup does not consider the snapshot.
        let refs = repo_dir.join("refs");
        std::fs::create_dir_all(&refs).map_err(|e| ModelError::io(&refs, e))?;
        write_atomically(&refs.join("main"), commit.as_bytes())?;
        Ok(snapshot)
    }

    fn get(&self, agent: &ureq::Agent, url: &str) -> Result<ureq::BodyReader<'static>> {
        let mut request = agent.get(url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request
            .call()
            .map_err(|e| ModelError::NotFound(format!("{url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 => " (a gated or private repo: set HF_TOKEN)",
                404 => " (check the repo id)",
                _ => "",
            };
            return Err(ModelError::NotFound(format!("{url}: HTTP {status}{hint}")));
        }
        Ok(response.into_body().into_reader())
    }

    fn fetch(
        &self,
        agent: &ureq::Agent,
        repo: &str,
        commit: &str,
        file: &str,
        snapshot: &Path,
    ) -> Result<()> {
        let dest = snapshot.join(file);
        if dest.is_file() {
            return Ok(());
        }
        let url = format!("{}/{repo}/resolve/{commit}/{file}", self.endpoint);
        let mut body = self.get(agent, &url)?;
        let part = dest.with_file_name(format!("{file}.incomplete"));
        let mut out = std::fs::File::create(&part).map_err(|e| ModelError::io(&part, e))?;
        let bytes = std::io::copy(&mut body, &mut out)
            .map_err(|e| ModelError::NotFound(format!("{url}: download cut off: {e}")))?;
        out.sync_all().map_err(|e| ModelError::io(&part, e))?;
        std::fs::rename(&part, &dest).map_err(|e| ModelError::io(&dest, e))?;
        eprintln!("downloaded {file} ({bytes} bytes) from {url}");
        Ok(())
    }
}

/// The distinct shard files an index's `weight_map` names, in first-seen order.
fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| ModelError::io(index, e))?;
    let bad = |message: String| ModelError::Weights {
        path: index.to_path_buf(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let map = value["weight_map"]
        .as_object()
        .ok_or_else(|| bad("no `weight_map` object".to_string()))?;
    let mut shards: Vec<String> = Vec::new();
    for (tensor, file) in map {
        let file = file
            .as_str()
            .filter(|f| !f.contains('/') && !f.contains(".."))
            .ok_or_else(|| bad(format!("weight_map.{tensor}: expected a file name")))?;
        if !shards.iter().any(|s| s == file) {
            shards.push(file.to_string());
        }
    }
    Ok(shards)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ModelError::io(&tmp, e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}
