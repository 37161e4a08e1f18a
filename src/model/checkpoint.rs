//! Finding and opening a checkpoint: a local folder, or a Hugging Face repo id resolved through
//! the local HF cache and downloaded into it when online (offline, an uncached id fails at once,
//! saying what to download).

use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

use super::config::T5Config;
use super::error::{ModelError, Result};
use super::hub::Hub;
use super::params::Params;
use super::t5::T5;
use super::tokenize::TextTokenizer;

/// The HF hub cache roots, in the order transformers consults them.
fn cache_roots() -> Vec<PathBuf> {
    let var = |k: &str| std::env::var_os(k).map(PathBuf::from);
    let mut roots = Vec::new();
    if let Some(p) = var("HF_HUB_CACHE") {
        roots.push(p);
    }
    if let Some(p) = var("HF_HOME") {
        roots.push(p.join("hub"));
    }
    if let Some(p) = var("XDG_CACHE_HOME") {
        roots.push(p.join("huggingface/hub"));
    }
    if let Some(p) = var("HOME") {
        roots.push(p.join(".cache/huggingface/hub"));
    }
    roots
}

/// A local directory as given, or `org/name` looked up as
/// `<cache>/models--org--name/refs/main` → `snapshots/<sha>/`, and downloaded into the first
/// cache root when it is in none of them (unless `HF_HUB_OFFLINE` is set).
pub fn resolve(spec: &str) -> Result<PathBuf> {
    resolve_with(spec, &cache_roots(), &Hub::from_env())
}

fn resolve_with(spec: &str, roots: &[PathBuf], hub: &Hub) -> Result<PathBuf> {
    let local = Path::new(spec);
    if local.is_dir() {
        return Ok(local.to_path_buf());
    }
    let looks_like_repo =
        spec.split('/').count() == 2 && !spec.starts_with('.') && !spec.starts_with('/');
    if !looks_like_repo {
        return Err(ModelError::NotFound(format!(
            "{spec}: no such model directory"
        )));
    }
    // `runs/chekpoint-40` is a typo, not a repo id: sending it to the Hub (with the user's
    // HF_TOKEN) would only confuse. A first part that exists here marks a local path.
    if let Some(first) = spec.split('/').next().filter(|f| Path::new(f).is_dir()) {
        return Err(ModelError::NotFound(format!(
            "{spec}: no such model directory ({first}/ exists here, so this is taken as a local \
             path and not sent to the Hugging Face Hub; to use the Hub repo of that name, run \
             from a directory without {first}/)"
        )));
    }
    let folder = format!("models--{}", spec.replace('/', "--"));
    let mut searched = Vec::new();
    for root in roots {
        let repo = root.join(&folder);
        let main = repo.join("refs/main");
        searched.push(main.display().to_string());
        if let Ok(sha) = std::fs::read_to_string(&main) {
            let snap = repo.join("snapshots").join(sha.trim());
            if snap.is_dir() {
                return Ok(snap);
            }
        }
    }
    let why = match roots.first() {
        _ if hub.offline => "HF_HUB_OFFLINE is set, so nothing was downloaded".to_string(),
        None => "no cache directory is known (set HF_HOME)".to_string(),
        Some(root) => {
            eprintln!(
                "note: {spec} is not a local directory; treating it as a Hugging Face repo id and downloading it"
            );
            match hub.download(spec, root) {
                Ok(snapshot) => return Ok(snapshot),
                Err(e) => format!("downloading it from the Hugging Face Hub failed: {e}"),
            }
        }
    };
    Err(ModelError::NotFound(format!(
        "model {spec} is neither a local directory nor in the Hugging Face cache (searched: {}), and {why}. \
         Download it on a machine with network access (`huggingface-cli download {spec} --local-dir DIR`, \
         files: config.json, tokenizer.json, model.safetensors or its shards) and pass --model DIR.",
        searched.join(", ")
    )))
}

/// `cpu`, `cuda` or `cuda:N`.
pub fn device(spec: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let n: usize = s
                .strip_prefix("cuda:")
                .map_or(Ok(0), str::parse)
                .map_err(|_| {
                    ModelError::NotFound(format!("--device {s}: expected cuda or cuda:N"))
                })?;
            if cfg!(feature = "cuda") {
                Ok(Device::new_cuda(n)?)
            } else {
                Err(ModelError::NotFound(format!(
                    "--device {s}: this binary was built without CUDA (build with `--features cuda`, see scripts/build-cuda.sh)"
                )))
            }
        }
        other => Err(ModelError::NotFound(format!(
            "--device {other}: expected cpu, cuda or cuda:N"
        ))),
    }
}

/// f32 on the CPU (bf16 is slower there), bf16 on CUDA.
pub fn default_dtype(device: &Device) -> DType {
    if device.is_cuda() {
        DType::BF16
    } else {
        DType::F32
    }
}

/// A loaded model with its tokenizer and where it came from.
pub struct Loaded {
    pub dir: PathBuf,
    pub config: T5Config,
    pub params: Params,
    pub model: T5,
    pub tokenizer: TextTokenizer,
}

/// Loads a model for inference: f32 on the CPU, bf16 on CUDA.
pub fn load(spec: &str, device: &Device) -> Result<Loaded> {
    load_as(spec, device, default_dtype(device))
}

/// Loads a model with its weights in `dtype`. Training keeps f32 weights on every device:
/// a bf16 weight cannot hold an Adam step much smaller than 1/256 of itself, so small
/// learning rates would leave it unchanged.
pub fn load_as(spec: &str, device: &Device, dtype: DType) -> Result<Loaded> {
    let dir = resolve(spec)?;
    let config = T5Config::read(&dir.join("config.json"))?;
    let params = Params::load(&dir, &config, dtype, device)?;
    let tokenizer = TextTokenizer::load(&dir.join("tokenizer.json"))?;
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(ModelError::Config {
            path: dir.join("config.json"),
            message: format!(
                "vocab_size {} is smaller than the tokenizer's {} entries",
                config.vocab_size,
                tokenizer.vocab_size()
            ),
        });
    }
    let model = T5::new(&config, &params)?;
    Ok(Loaded {
        dir,
        config,
        params,
        model,
        tokenizer,
    })
}

/// Writes config.json, tokenizer.json and model.safetensors.
pub fn save(
    dir: &Path,
    config: &T5Config,
    params: &Params,
    tokenizer: &TextTokenizer,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let cfg = serde_json::to_string_pretty(&config.to_json()).expect("config serialises");
    std::fs::write(dir.join("config.json"), cfg + "\n")
        .map_err(|e| ModelError::io(dir.join("config.json"), e))?;
    tokenizer.save(&dir.join("tokenizer.json"))?;
    params.save(&dir.join("model.safetensors"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_repo_ids_through_the_cache_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("models--google--flan-t5-small");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/abc123")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        let roots = [tmp.path().join("empty"), tmp.path().to_path_buf()];
        let offline = Hub {
            endpoint: "http://127.0.0.1:9".to_string(),
            token: None,
            offline: true,
        };
        assert_eq!(
            resolve_with("google/flan-t5-small", &roots, &offline).unwrap(),
            repo.join("snapshots/abc123")
        );
        let err = resolve_with("google/flan-t5-xxl", &roots, &offline)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("models--google--flan-t5-xxl/refs/main")
                && err.contains("HF_HUB_OFFLINE is set")
                && err.contains("huggingface-cli download"),
            "{err}"
        );
        // Online but unreachable (the discard port): the network error is part of the message.
        let unreachable = Hub {
            offline: false,
            ..offline
        };
        let err = resolve_with("google/flan-t5-xxl", &roots, &unreachable)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("downloading it from the Hugging Face Hub failed")
                && err.contains("127.0.0.1:9"),
            "{err}"
        );
        // A mistyped local path (its first part exists here: tests run in the checkout) is
        // not sent to the Hub, and says why.
        let err = resolve_with("src/no-such-model", &roots, &unreachable)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("src/ exists here") && !err.contains("127.0.0.1"),
            "{err}"
        );
    }

    #[test]
    fn cuda_needs_the_feature() {
        assert!(matches!(device("cpu"), Ok(Device::Cpu)));
        if !cfg!(feature = "cuda") {
            assert!(device("cuda:0")
                .unwrap_err()
                .to_string()
                .contains("without CUDA"));
        }
        assert!(device("tpu").is_err());
    }
}
