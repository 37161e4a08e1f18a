//! The parameter map: the tensor names and shapes a config implies (Hugging Face's T5 names),
//! loading them from `model.safetensors` or a sharded index with dtype conversion and checks,
//! and saving in a layout every transformers version loads.

use candle_core::{DType, Device, Tensor, Var};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::config::T5Config;
use super::error::{ModelError, Result};

/// Every parameter of a T5 model with its shape, in a stable order.
pub fn expected_params(cfg: &T5Config) -> Vec<(String, Vec<usize>)> {
    let (d, inner, ff, v) = (cfg.d_model, cfg.inner_dim(), cfg.d_ff, cfg.vocab_size);
    let mut out = vec![("shared.weight".to_string(), vec![v, d])];
    let attn = |out: &mut Vec<(String, Vec<usize>)>, p: &str, bias: bool| {
        for w in ["q", "k", "v"] {
            out.push((format!("{p}.{w}.weight"), vec![inner, d]));
        }
        out.push((format!("{p}.o.weight"), vec![d, inner]));
        if bias {
            out.push((
                format!("{p}.relative_attention_bias.weight"),
                vec![cfg.relative_attention_num_buckets, cfg.num_heads],
            ));
        }
    };
    let ffn = |out: &mut Vec<(String, Vec<usize>)>, p: &str| {
        if cfg.gated() {
            out.push((format!("{p}.DenseReluDense.wi_0.weight"), vec![ff, d]));
            out.push((format!("{p}.DenseReluDense.wi_1.weight"), vec![ff, d]));
        } else {
            out.push((format!("{p}.DenseReluDense.wi.weight"), vec![ff, d]));
        }
        out.push((format!("{p}.DenseReluDense.wo.weight"), vec![d, ff]));
        out.push((format!("{p}.layer_norm.weight"), vec![d]));
    };
    for i in 0..cfg.num_layers {
        let b = format!("encoder.block.{i}.layer");
        attn(&mut out, &format!("{b}.0.SelfAttention"), i == 0);
        out.push((format!("{b}.0.layer_norm.weight"), vec![d]));
        ffn(&mut out, &format!("{b}.1"));
    }
    out.push(("encoder.final_layer_norm.weight".into(), vec![d]));
    for i in 0..cfg.decoder_layers() {
        let b = format!("decoder.block.{i}.layer");
        attn(&mut out, &format!("{b}.0.SelfAttention"), i == 0);
        out.push((format!("{b}.0.layer_norm.weight"), vec![d]));
        attn(&mut out, &format!("{b}.1.EncDecAttention"), false);
        out.push((format!("{b}.1.layer_norm.weight"), vec![d]));
        ffn(&mut out, &format!("{b}.2"));
    }
    out.push(("decoder.final_layer_norm.weight".into(), vec![d]));
    if !cfg.tie_word_embeddings {
        out.push(("lm_head.weight".into(), vec![v, d]));
    }
    out
}

/// How `Params::random_with_head` initialises an untied LM head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeadInit {
    /// Normal with this standard deviation. transformers uses 1.0, which makes the first
    /// logits large (std ~ sqrt(d_model)) for a model trained from scratch.
    Normal(f64),
    /// A copy of the shared embedding times d_model^-0.5: the effective weights of a tied
    /// v1.0 head. The head still trains on its own, but starts with a path that maps a token
    /// carried through the residual stream back to itself, which copying spans from the
    /// source needs and which a random head must learn token by token.
    SharedScaled,
}

/// Named trainable parameters.
#[derive(Clone)]
pub struct Params {
    pub vars: BTreeMap<String, Var>,
}

impl Params {
    pub fn get(&self, name: &str) -> Result<Tensor> {
        self.vars
            .get(name)
            .map(|v| v.as_tensor().clone())
            .ok_or_else(|| ModelError::NotFound(format!("parameter `{name}` not in the model")))
    }

    /// Random initialisation following transformers' `T5PreTrainedModel._init_weights`, from a
    /// seeded generator so the same seed gives the same model.
    pub fn random(cfg: &T5Config, seed: u64, device: &Device) -> Result<Params> {
        Params::random_with_head(cfg, seed, HeadInit::Normal(1.0), device)
    }

    /// `random` with another initialisation for an untied LM head (see [`HeadInit`]).
    pub fn random_with_head(
        cfg: &T5Config,
        seed: u64,
        head: HeadInit,
        device: &Device,
    ) -> Result<Params> {
        let mut rng = SplitMix(seed);
        let f = 1.0f64; // initializer_factor
        let (d, dkv, h, ff) = (
            cfg.d_model as f64,
            cfg.d_kv as f64,
            cfg.num_heads as f64,
            cfg.d_ff as f64,
        );
        let mut vars = BTreeMap::new();
        for (name, shape) in expected_params(cfg) {
            let std = if name.ends_with("layer_norm.weight") {
                None
            } else if name == "lm_head.weight" {
                match head {
                    HeadInit::Normal(s) => Some(f * s),
                    // Copied from `shared.weight` once that exists, after the loop.
                    HeadInit::SharedScaled => continue,
                }
            } else if name == "shared.weight" {
                Some(f)
            } else if name.ends_with(".q.weight") {
                Some(f * (d * dkv).powf(-0.5))
            } else if name.ends_with(".o.weight") {
                Some(f * (h * dkv).powf(-0.5))
            } else if name.ends_with(".wo.weight") {
                Some(f * ff.powf(-0.5))
            } else {
                // k, v, the relative attention bias and wi*: d_model^-0.5.
                Some(f * d.powf(-0.5))
            };
            let n: usize = shape.iter().product();
            let data: Vec<f32> = match std {
                None => vec![1.0; n],
                Some(s) => (0..n).map(|_| (rng.normal() * s) as f32).collect(),
            };
            let t = Tensor::from_vec(data, shape.as_slice(), device)?;
            vars.insert(name, Var::from_tensor(&t)?);
        }
        if head == HeadInit::SharedScaled && !cfg.tie_word_embeddings {
            let head = (vars["shared.weight"].as_tensor() * d.powf(-0.5))?;
            vars.insert("lm_head.weight".to_string(), Var::from_tensor(&head)?);
        }
        Ok(Params { vars })
    }

    /// Starts every decoder cross-attention as a copy: `v` keeps the first heads·d_kv
    /// coordinates of the encoder output and `o` puts them back where they were, so attending
    /// to a source position adds (most of) that position's vector to the decoder's residual
    /// stream. With the head reading embeddings back (`HeadInit::SharedScaled`), a model
    /// trained from scratch then starts with a path that copies source tokens, and learns
    /// where to attend instead of having to discover both where and what at once.
    pub fn copy_cross_attention(&mut self, cfg: &T5Config) -> Result<()> {
        let (d, inner) = (cfg.d_model, cfg.inner_dim());
        let keep = inner.min(d);
        let mut v = vec![0f32; inner * d];
        let mut o = vec![0f32; d * inner];
        for i in 0..keep {
            v[i * d + i] = 1.0;
            o[i * inner + i] = 1.0;
        }
        for layer in 0..cfg.decoder_layers() {
            let p = format!("decoder.block.{layer}.layer.1.EncDecAttention");
            for (name, data, shape) in [("v", &v, (inner, d)), ("o", &o, (d, inner))] {
                let name = format!("{p}.{name}.weight");
                let var = self.vars.get(&name).ok_or_else(|| {
                    ModelError::NotFound(format!("parameter `{name}` not in the model"))
                })?;
                let t = Tensor::from_vec(data.clone(), shape, var.as_tensor().device())?
                    .to_dtype(var.as_tensor().dtype())?;
                var.set(&t)?;
            }
        }
        Ok(())
    }

    /// Loads every expected parameter from a checkpoint directory (`model.safetensors` or
    /// `model.safetensors.index.json`), converting to `dtype` on `device`.
    pub fn load(dir: &Path, cfg: &T5Config, dtype: DType, device: &Device) -> Result<Params> {
        let weights = WeightFiles::read(dir)?;
        // Checked before any tensor is built: a config that describes more parameters than
        // the files have bytes is wrong whatever the tensors say (the tensor checks below name
        // the first that differs, for smaller mismatches).
        let on_disk = weights.on_disk();
        let described = cfg.param_count();
        if described.is_none_or(|n| n > on_disk) {
            return Err(ModelError::Config {
                path: dir.join("config.json"),
                message: format!(
                    "describes {} parameters, more than the weights files' {on_disk} bytes can hold",
                    described.map_or("over 2^64".to_string(), |n| n.to_string())
                ),
            });
        }
        let tables = weights.tables()?;
        let (files, file_of, tables) = (&weights.files, &tables.file_of, &tables.tables);
        let display = weights.display(dir);
        let mut vars = BTreeMap::new();
        for (name, shape) in expected_params(cfg) {
            // Tied checkpoints may carry the embedding under its encoder alias only.
            let key = [name.as_str(), alias(&name)]
                .into_iter()
                .find(|k| file_of.contains_key(*k))
                .ok_or_else(|| ModelError::MissingTensor {
                    name: name.clone(),
                    path: display.clone(),
                })?;
            let fi = file_of[key];
            let bad = |e: &dyn std::fmt::Display| ModelError::Weights {
                path: files[fi].clone(),
                message: format!("tensor `{key}`: {e}"),
            };
            let view = tables[fi].tensor(key).map_err(|e| bad(&e))?;
            if view.shape() != shape.as_slice() {
                return Err(ModelError::ShapeMismatch {
                    name,
                    path: files[fi].clone(),
                    expected: shape,
                    found: view.shape().to_vec(),
                });
            }
            let t = tensor_from_view(&view, device).map_err(|e| bad(&e))?;
            vars.insert(name, Var::from_tensor(&t.to_dtype(dtype)?)?);
        }
        Ok(Params { vars })
    }

    /// Writes `model.safetensors` in f32 with `{"format": "pt"}` metadata, which every
    /// transformers version accepts.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (name, var) in &self.vars {
            let t = var
                .as_tensor()
                .to_dtype(DType::F32)?
                .to_device(&Device::Cpu)?
                .contiguous()?;
            tensors.push((name.clone(), t));
        }
        let views: Vec<(String, OwnedView)> = tensors
            .iter()
            .map(|(n, t)| Ok((n.clone(), OwnedView::new(t)?)))
            .collect::<Result<_>>()?;
        write_f32_safetensors(path, views)
    }
}

fn alias(name: &str) -> &'static str {
    if name == "shared.weight" {
        "encoder.embed_tokens.weight"
    } else {
        ""
    }
}

/// A checkpoint's weight files, read into memory and checked to be complete.
pub(crate) struct WeightFiles {
    pub files: Vec<PathBuf>,
    bytes: Vec<Vec<u8>>,
}

/// The parsed headers of `WeightFiles`, and which file holds each tensor.
pub(crate) struct Tables<'a> {
    pub tables: Vec<safetensors::SafeTensors<'a>>,
    pub file_of: HashMap<String, usize>,
}

impl WeightFiles {
    pub fn read(dir: &Path) -> Result<WeightFiles> {
        Self::read_files(weight_files(dir)?)
    }

    /// One named safetensors file in `dir` (an adapter's, say).
    pub fn read_named(dir: &Path, name: &str) -> Result<WeightFiles> {
        Self::read_files(vec![dir.join(name)])
    }

    /// Tensor `name` as f32 values, checked to have `shape` (`t`: these files' `tables()`).
    pub fn f32_tensor(&self, t: &Tables, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let Tables { tables, file_of } = t;
        let at = *file_of.get(name).ok_or_else(|| ModelError::MissingTensor {
            name: name.to_string(),
            path: self.files[0].clone(),
        })?;
        let view = tables[at].tensor(name).map_err(|e| ModelError::Weights {
            path: self.files[at].clone(),
            message: format!("tensor `{name}`: {e}"),
        })?;
        if view.shape() != shape {
            return Err(ModelError::ShapeMismatch {
                name: name.to_string(),
                path: self.files[at].clone(),
                found: view.shape().to_vec(),
                expected: shape.to_vec(),
            });
        }
        Ok(tensor_from_view(&view, &Device::Cpu)?
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1()?)
    }

    fn read_files(files: Vec<PathBuf>) -> Result<WeightFiles> {
        let mut bytes = Vec::with_capacity(files.len());
        for path in &files {
            let b = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
            check_complete(path, &b)?;
            bytes.push(b);
        }
        Ok(WeightFiles { files, bytes })
    }

    pub fn on_disk(&self) -> u64 {
        self.bytes.iter().map(|b| b.len() as u64).sum()
    }

    /// Each file's header, parsed once.
    pub fn tables(&self) -> Result<Tables<'_>> {
        let mut tables = Vec::with_capacity(self.files.len());
        let mut file_of: HashMap<String, usize> = HashMap::new();
        for (i, (path, b)) in self.files.iter().zip(&self.bytes).enumerate() {
            let st = safetensors::SafeTensors::deserialize(b).map_err(|e| ModelError::Weights {
                path: path.clone(),
                message: format!("not a readable safetensors file: {e}"),
            })?;
            file_of.extend(st.names().into_iter().map(|n| (n.to_string(), i)));
            tables.push(st);
        }
        Ok(Tables { tables, file_of })
    }

    /// The file to name in an error about a missing tensor.
    pub fn display(&self, dir: &Path) -> PathBuf {
        if self.files.len() == 1 {
            self.files[0].clone()
        } else {
            dir.join("model.safetensors.index.json")
        }
    }
}

/// The checkpoint's weight files: one `model.safetensors`, or the shards of an index.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if !index.is_file() {
        return Err(ModelError::NotFound(format!(
            "{}: no model.safetensors or model.safetensors.index.json",
            dir.display()
        )));
    }
    let text = std::fs::read_to_string(&index).map_err(|e| ModelError::io(&index, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Weights {
        path: index.clone(),
        message: format!("invalid JSON: {e}"),
    })?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| ModelError::Weights {
            path: index.clone(),
            message: "no \"weight_map\" object".into(),
        })?;
    let mut files: Vec<String> = map
        .values()
        .filter_map(|f| f.as_str().map(String::from))
        .collect();
    files.sort();
    files.dedup();
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

/// Checks the header against the file length so a cut-off file names its first incomplete
/// tensor rather than failing with a bare offset error.
fn check_complete(path: &Path, bytes: &[u8]) -> Result<()> {
    let bad = |message: String| ModelError::Weights {
        path: path.to_path_buf(),
        message,
    };
    let Some(len) = bytes.first_chunk::<8>() else {
        return Err(bad(format!(
            "file is {} bytes, too short for a safetensors header",
            bytes.len()
        )));
    };
    let n = u64::from_le_bytes(*len);
    // A hostile or damaged length must not overflow: anything past the end of the file is an
    // error, whatever its size.
    let Some(n) = usize::try_from(n).ok().filter(|&n| n <= bytes.len() - 8) else {
        return Err(bad(format!(
            "header claims {n} bytes but the file has {} after the length (truncated or not a safetensors file?)",
            bytes.len() - 8
        )));
    };
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n])
        .map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let data_len = bytes.len() - 8 - n;
    let mut entries: Vec<(String, usize)> = header
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(k, v)| Some((k.clone(), v.get("data_offsets")?.get(1)?.as_u64()? as usize)))
        .collect();
    entries.sort_by_key(|(_, end)| *end);
    if let Some((name, end)) = entries.into_iter().find(|(_, end)| *end > data_len) {
        return Err(ModelError::TruncatedTensor {
            name,
            path: path.to_path_buf(),
            end,
            len: data_len,
        });
    }
    Ok(())
}

pub(crate) fn tensor_from_view(
    view: &safetensors::tensor::TensorView<'_>,
    device: &Device,
) -> candle_core::Result<Tensor> {
    use safetensors::Dtype;
    let shape = view.shape().to_vec();
    let data = view.data();
    let t = match view.dtype() {
        Dtype::F32 => Tensor::from_raw_buffer(data, DType::F32, &shape, device)?,
        Dtype::F16 => Tensor::from_raw_buffer(data, DType::F16, &shape, device)?,
        Dtype::BF16 => Tensor::from_raw_buffer(data, DType::BF16, &shape, device)?,
        Dtype::F64 => Tensor::from_raw_buffer(data, DType::F64, &shape, device)?,
        other => candle_core::bail!("unsupported dtype {other:?}"),
    };
    Ok(t)
}

/// A CPU f32 tensor's bytes, as safetensors wants them.
pub(crate) struct OwnedView {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl OwnedView {
    fn new(t: &Tensor) -> Result<Self> {
        let data: Vec<f32> = t.flatten_all()?.to_vec1()?;
        Ok(OwnedView::from_f32(t.dims(), &data))
    }

    pub(crate) fn from_f32(shape: &[usize], data: &[f32]) -> Self {
        OwnedView {
            shape: shape.to_vec(),
            bytes: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// Writes f32 tensors to `path` atomically (a temporary file renamed into place), with
/// `{"format": "pt"}` metadata, which every transformers version accepts.
pub(crate) fn write_f32_safetensors(path: &Path, tensors: Vec<(String, OwnedView)>) -> Result<()> {
    let metadata: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(tensors, Some(metadata), &tmp).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ModelError::Weights {
            path: path.to_path_buf(),
            message: format!("writing: {e}"),
        }
    })?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}

impl safetensors::View for OwnedView {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// SplitMix64 with Box-Muller normals: small, seedable, identical everywhere.
pub(crate) struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_cross_attention_carries_the_first_inner_coordinates_through() {
        let cfg = T5Config::shape("tiny", 200).unwrap();
        let mut p = Params::random(&cfg, 1, &Device::Cpu).unwrap();
        let before = p
            .get("decoder.block.0.layer.0.SelfAttention.v.weight")
            .unwrap();
        p.copy_cross_attention(&cfg).unwrap();
        let (d, inner) = (cfg.d_model, cfg.inner_dim());
        for layer in 0..cfg.decoder_layers() {
            let w = |n: &str| {
                p.get(&format!(
                    "decoder.block.{layer}.layer.1.EncDecAttention.{n}.weight"
                ))
                .unwrap()
            };
            let ov: Vec<Vec<f32>> = w("o").matmul(&w("v")).unwrap().to_vec2().unwrap();
            for (i, row) in ov.iter().enumerate() {
                for (j, &x) in row.iter().enumerate() {
                    let want = if i == j && i < inner.min(d) { 1.0 } else { 0.0 };
                    assert_eq!(x, want, "layer {layer}: o·v[{i}][{j}]");
                }
            }
        }
        // Other parameters keep their random values.
        let after = p
            .get("decoder.block.0.layer.0.SelfAttention.v.weight")
            .unwrap();
        let diff = (before - after).unwrap().abs().unwrap().sum_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }
}
