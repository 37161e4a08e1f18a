//! Training state beside a checkpoint (optimizer moments and where training stands), so a
//! run resumes exactly.

use super::*;

/// The checkpoint directories under `out`, by step.
pub fn checkpoints(out: &Path) -> Vec<(usize, PathBuf)> {
    let mut v: Vec<(usize, PathBuf)> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("checkpoint-")?.parse().ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// A checkpoint's training state (its settings and position) and the optimizer's step count,
/// without the optimizer's moments.
pub fn saved_position(dir: &Path) -> Result<(TrainState, u64)> {
    let path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let bad = |e: serde_json::Error| ModelError::Weights {
        path: path.clone(),
        message: e.to_string(),
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
    let state: TrainState = serde_json::from_value(v["state"].clone()).map_err(bad)?;
    Ok((state, v["adam_t"].as_u64().unwrap_or(0)))
}

/// Writes optimizer moments and the trainer state beside a saved model.
pub fn save_training_state(dir: &Path, opt: &AdamW, state: &TrainState) -> Result<()> {
    let mut tensors = Vec::new();
    for (kind, map) in [("m", &opt.m), ("v", &opt.v)] {
        for (name, data) in map {
            tensors.push((
                format!("{kind}.{name}"),
                Tensor::from_vec(data.clone(), data.len(), &candle_core::Device::Cpu)?,
            ));
        }
    }
    let map: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
    candle_core::safetensors::save(&map, dir.join("optimizer.safetensors"))?;
    let st = serde_json::json!({"state": state, "adam_t": opt.t});
    std::fs::write(
        dir.join("trainer_state.json"),
        serde_json::to_string_pretty(&st).expect("state serialises"),
    )
    .map_err(|e| ModelError::io(dir.join("trainer_state.json"), e))
}

pub fn load_training_state(dir: &Path) -> Result<(AdamW, TrainState)> {
    let (state, t) = saved_position(dir)?;
    let mut opt = AdamW::new();
    opt.t = t;
    let tensors = candle_core::safetensors::load(
        dir.join("optimizer.safetensors"),
        &candle_core::Device::Cpu,
    )?;
    for (k, t) in tensors {
        let data: Vec<f32> = t.to_vec1()?;
        match k.split_once('.') {
            Some(("m", name)) => {
                opt.m.insert(name.to_string(), data);
            }
            Some(("v", name)) => {
                opt.v.insert(name.to_string(), data);
            }
            _ => {}
        }
    }
    Ok((opt, state))
}
