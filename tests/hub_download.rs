//! A repo id that is not cached is downloaded into the HF cache layout, from a real HTTP server
//! (a Python stand-in for the hub's endpoints, `tests/fixtures/hub_server.py`), single-file and
//! sharded; afterwards it resolves offline, and an absent repo fails with a clear message.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod common;
use common::{ie_bench as bin, ok};

/// Kills the server even when an assertion fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(root: &Path) -> Option<(Server, u16)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hub_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(root)
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server prints its port");
    Some((Server(child), port))
}

/// Splits a checkpoint's weights into two shards with a `model.safetensors.index.json`.
fn shard(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    let half = names.len() / 2;
    let mut weight_map = serde_json::Map::new();
    for (i, part) in [&names[..half], &names[half..]].into_iter().enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", i + 1);
        let views: Vec<(String, safetensors::tensor::TensorView)> = part
            .iter()
            .map(|n| (n.clone(), st.tensor(n).unwrap()))
            .collect();
        safetensors::serialize_to_file(views, None, &dst.join(&file)).unwrap();
        for n in part {
            weight_map.insert(n.clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(dst.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

#[test]
fn downloads_into_the_hf_cache_then_resolves_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served/acme");
    ok(bin()
        .args(["model", "init", "--shape", "tiny", "--out"])
        .arg(served.join("tiny-t5"))
        .output()
        .unwrap());
    shard(&served.join("tiny-t5"), &served.join("tiny-t5-sharded"));
    let Some((server, port)) = start_server(&tmp.path().join("served")) else {
        eprintln!("SKIPPED downloads_into_the_hf_cache_then_resolves_offline: python3 not found");
        return;
    };
    let cache = tmp.path().join("cache");
    let hub = |args: &[&str]| {
        bin()
            .args(args)
            .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
            .env("HF_HUB_CACHE", &cache)
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("TRANSFORMERS_OFFLINE")
            .output()
            .unwrap()
    };

    // Single file: the same bytes, in the cache layout transformers reads.
    let out = ok(hub(&["model", "download", "acme/tiny-t5"]));
    let snapshot = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let repo = cache.join("models--acme--tiny-t5");
    let commit = std::fs::read_to_string(repo.join("refs/main")).unwrap();
    assert_eq!(snapshot, repo.join("snapshots").join(&commit));
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert_eq!(
            std::fs::read(snapshot.join(f)).unwrap(),
            std::fs::read(served.join("tiny-t5").join(f)).unwrap(),
            "{f}"
        );
    }

    // Sharded, fetched by `predict` itself: the same predictions as the original folder.
    let predict = |model: &str, out: &Path| {
        ok(hub(&[
            "predict",
            "--model",
            model,
            "--split",
            "train",
            "--max-eval",
            "4",
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    predict(
        served.join("tiny-t5").to_str().unwrap(),
        &tmp.path().join("local.jsonl"),
    );
    predict("acme/tiny-t5-sharded", &tmp.path().join("sharded.jsonl"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("local.jsonl")).unwrap(),
        std::fs::read_to_string(tmp.path().join("sharded.jsonl")).unwrap()
    );

    // An absent repo names the URL and the likely cause.
    let out = hub(&["model", "download", "acme/absent"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/api/models/acme/absent/revision/main: HTTP 404")
            && err.contains("check the repo id"),
        "{err}"
    );

    // With the server gone and offline mode on, the cache alone answers.
    drop(server);
    let out = ok(bin()
        .args(["model", "download", "acme/tiny-t5"])
        .env("HF_HUB_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap());
    assert_eq!(
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()),
        snapshot
    );
    let out = bin()
        .args(["model", "download", "acme/never-fetched"])
        .env("HF_HUB_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("HF_HUB_OFFLINE is set"), "{err}");
}
