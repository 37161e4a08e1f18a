//! Our own T5 (v1.0 and v1.1/Flan) on candle, with Hugging Face tensor names and semantics:
//! RMS layer norm without bias, unscaled attention logits, a learned relative position bias in
//! the first layer of each stack (bidirectional buckets in the encoder, causal in the decoder),
//! padding masks everywhere, and the tied head's d_model^-0.5 scaling. Written instead of
//! candle-transformers' T5, which lacks masks, a backward pass through attention and correct
//! decoder buckets (see the README).
//!
//! This graph runs wherever candle runs (CUDA, bf16) and is the reference the tests hold the
//! hand-written CPU passes of `cpu` to. Which of the two a run takes is chosen outside it:
//! `predict::Decoding` for greedy decoding, `train` for training.

use candle_core::{DType, Device, Tensor, D};

use super::config::T5Config;
use super::error::Result;
use super::params::Params;
use super::t5_bias::{relative_position_bucket, MASKED};

fn linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let (rows, inner) = (
        dims[..dims.len() - 1].iter().product::<usize>(),
        dims[dims.len() - 1],
    );
    let out = w.dim(0)?;
    let mut shape = dims[..dims.len() - 1].to_vec();
    shape.push(out);
    x.reshape((rows, inner))?.matmul(&w.t()?)?.reshape(shape)
}

fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let dtype = x.dtype();
    let xf = x.to_dtype(DType::F32)?;
    let var = xf.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = xf.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.to_dtype(dtype)?.broadcast_mul(w)
}

fn softmax(x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
    // candle's fused kernel has no backward pass; training uses the composed one.
    let xf = x.to_dtype(DType::F32)?;
    let s = if train {
        candle_nn::ops::softmax(&xf, D::Minus1)?
    } else {
        candle_nn::ops::softmax_last_dim(&xf)?
    };
    s.to_dtype(x.dtype())
}

struct Attention {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    heads: usize,
    d_kv: usize,
}

impl Attention {
    fn new(p: &Params, prefix: &str, cfg: &T5Config) -> Result<Self> {
        Ok(Attention {
            q: p.get(&format!("{prefix}.q.weight"))?,
            k: p.get(&format!("{prefix}.k.weight"))?,
            v: p.get(&format!("{prefix}.v.weight"))?,
            o: p.get(&format!("{prefix}.o.weight"))?,
            heads: cfg.num_heads,
            d_kv: cfg.d_kv,
        })
    }

    /// [b, t, inner] -> [b, heads, t, d_kv]
    fn split(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        x.reshape((b, t, self.heads, self.d_kv))?
            .transpose(1, 2)?
            .contiguous()
    }

    fn project_kv(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            self.split(&linear(x, &self.k)?)?,
            self.split(&linear(x, &self.v)?)?,
        ))
    }

    /// Attention of `x` over keys/values `kv`; `bias` is [1|b, heads, tq, tk] and already holds
    /// the masks.
    fn attend(
        &self,
        x: &Tensor,
        kv: &(Tensor, Tensor),
        bias: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let q = self.split(&linear(x, &self.q)?)?;
        let scores = q.matmul(&kv.0.t()?)?.broadcast_add(bias)?;
        let probs = softmax(&scores, train)?;
        let out = probs
            .matmul(&kv.1)?
            .transpose(1, 2)?
            .reshape((b, t, self.heads * self.d_kv))?;
        linear(&out, &self.o)
    }
}

enum FeedForward {
    Relu {
        wi: Tensor,
        wo: Tensor,
    },
    Gated {
        wi0: Tensor,
        wi1: Tensor,
        wo: Tensor,
    },
}

impl FeedForward {
    fn new(p: &Params, prefix: &str, cfg: &T5Config) -> Result<Self> {
        let g = |n: &str| p.get(&format!("{prefix}.DenseReluDense.{n}.weight"));
        Ok(if cfg.gated() {
            FeedForward::Gated {
                wi0: g("wi_0")?,
                wi1: g("wi_1")?,
                wo: g("wo")?,
            }
        } else {
            FeedForward::Relu {
                wi: g("wi")?,
                wo: g("wo")?,
            }
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            FeedForward::Relu { wi, wo } => linear(&linear(x, wi)?.relu()?, wo),
            // gelu_new: the tanh approximation, which candle's `gelu` is.
            FeedForward::Gated { wi0, wi1, wo } => {
                let (a, b) = (linear(x, wi0)?, linear(x, wi1)?);
                linear(&(a.gelu()? * b)?, wo)
            }
        }
    }
}

struct Block {
    self_attn: Attention,
    self_ln: Tensor,
    cross: Option<(Attention, Tensor)>,
    ff: FeedForward,
    ff_ln: Tensor,
}

struct Stack {
    blocks: Vec<Block>,
    final_ln: Tensor,
    rel_bias: Tensor,
    decoder: bool,
}

impl Stack {
    fn new(p: &Params, cfg: &T5Config, decoder: bool) -> Result<Self> {
        let (name, layers) = if decoder {
            ("decoder", cfg.decoder_layers())
        } else {
            ("encoder", cfg.num_layers)
        };
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let b = format!("{name}.block.{i}.layer");
            let ff_idx = if decoder { 2 } else { 1 };
            blocks.push(Block {
                self_attn: Attention::new(p, &format!("{b}.0.SelfAttention"), cfg)?,
                self_ln: p.get(&format!("{b}.0.layer_norm.weight"))?,
                cross: if decoder {
                    Some((
                        Attention::new(p, &format!("{b}.1.EncDecAttention"), cfg)?,
                        p.get(&format!("{b}.1.layer_norm.weight"))?,
                    ))
                } else {
                    None
                },
                ff: FeedForward::new(p, &format!("{b}.{ff_idx}"), cfg)?,
                ff_ln: p.get(&format!("{b}.{ff_idx}.layer_norm.weight"))?,
            });
        }
        Ok(Stack {
            blocks,
            final_ln: p.get(&format!("{name}.final_layer_norm.weight"))?,
            rel_bias: p.get(&format!(
                "{name}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
            ))?,
            decoder,
        })
    }

    /// Position bias [1, heads, q_len, k_len] for queries at `q_start..q_start+q_len`.
    fn position_bias(
        &self,
        cfg: &T5Config,
        q_start: usize,
        q_len: usize,
        k_len: usize,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut ids = Vec::with_capacity(q_len * k_len);
        for q in q_start..q_start + q_len {
            for k in 0..k_len {
                ids.push(relative_position_bucket(
                    k as i64 - q as i64,
                    !self.decoder,
                    cfg.relative_attention_num_buckets,
                    cfg.relative_attention_max_distance,
                ) as u32);
            }
        }
        let ids = Tensor::from_vec(ids, q_len * k_len, device)?;
        let heads = self.rel_bias.dim(1)?;
        self.rel_bias
            .index_select(&ids, 0)?
            .reshape((q_len, k_len, heads))?
            .permute((2, 0, 1))?
            .unsqueeze(0)
    }
}

/// Additive key mask [b, 1, 1, k] from a 0/1 attention mask [b, k].
fn key_mask(mask: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let (b, k) = mask.dims2()?;
    ((mask.to_dtype(DType::F32)?.affine(-1.0, 1.0)? * f64::from(MASKED))?)
        .to_dtype(dtype)?
        .reshape((b, 1, 1, k))
}

/// Encoder output with its mask, ready for cross-attention.
pub struct Encoded {
    pub hidden: Tensor,
    /// Additive mask [b, 1, 1, src_len].
    pub mask: Tensor,
}

/// Per-layer decoder state for incremental decoding.
pub struct DecoderCache {
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    cross_kv: Vec<(Tensor, Tensor)>,
    pub len: usize,
}

pub struct T5 {
    pub cfg: T5Config,
    shared: Tensor,
    encoder: Stack,
    decoder: Stack,
    lm_head: Option<Tensor>,
    pub device: Device,
    pub dtype: DType,
}

impl T5 {
    pub fn new(cfg: &T5Config, p: &Params) -> Result<T5> {
        let shared = p.get("shared.weight")?;
        Ok(T5 {
            cfg: cfg.clone(),
            device: shared.device().clone(),
            dtype: shared.dtype(),
            encoder: Stack::new(p, cfg, false)?,
            decoder: Stack::new(p, cfg, true)?,
            lm_head: if cfg.tie_word_embeddings {
                None
            } else {
                Some(p.get("lm_head.weight")?)
            },
            shared,
        })
    }

    fn embed(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        self.shared
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, self.cfg.d_model))
    }

    /// Encodes `ids` [b, s] (u32) with `mask` [b, s] (1 = token, 0 = padding).
    pub fn encode(&self, ids: &Tensor, mask: &Tensor, train: bool) -> Result<Encoded> {
        let eps = self.cfg.layer_norm_epsilon;
        let s = ids.dim(1)?;
        let key = key_mask(mask, self.dtype)?;
        let bias = self
            .encoder
            .position_bias(&self.cfg, 0, s, s, &self.device)?
            .to_dtype(self.dtype)?
            .broadcast_add(&key)?;
        let mut x = self.embed(ids)?;
        for b in &self.encoder.blocks {
            let h = rms_norm(&x, &b.self_ln, eps)?;
            let kv = b.self_attn.project_kv(&h)?;
            x = (x + b.self_attn.attend(&h, &kv, &bias, train)?)?;
            let h = rms_norm(&x, &b.ff_ln, eps)?;
            x = (x + b.ff.forward(&h)?)?;
        }
        Ok(Encoded {
            hidden: rms_norm(&x, &self.encoder.final_ln, eps)?,
            mask: key,
        })
    }

    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match &self.lm_head {
            Some(w) => linear(x, w),
            None => linear(&(x * (self.cfg.d_model as f64).powf(-0.5))?, &self.shared),
        }
    }

    /// Teacher-forced decoder over `dec_ids` [b, t] (starting with the start token), with an
    /// optional decoder padding mask; returns logits [b, t, vocab].
    pub fn decode(
        &self,
        enc: &Encoded,
        dec_ids: &Tensor,
        dec_mask: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let mut cache = self.new_cache(enc)?;
        self.run_decoder(enc, &mut cache, dec_ids, dec_mask, train)
    }

    pub fn new_cache(&self, enc: &Encoded) -> Result<DecoderCache> {
        let cross_kv = self
            .decoder
            .blocks
            .iter()
            .map(|b| b.cross.as_ref().expect("decoder").0.project_kv(&enc.hidden))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(DecoderCache {
            self_kv: vec![None; self.decoder.blocks.len()],
            cross_kv,
            len: 0,
        })
    }

    /// One decoding step for the next token of every row: `ids` [b, 1]; returns logits [b, vocab].
    pub fn step(&self, enc: &Encoded, cache: &mut DecoderCache, ids: &Tensor) -> Result<Tensor> {
        Ok(self.run_decoder(enc, cache, ids, None, false)?.squeeze(1)?)
    }

    /// The decoder over `ids` [b, t] at positions `cache.len..cache.len + t`, attending to the
    /// cached keys and values before them, which it extends; returns logits [b, t, vocab].
    fn run_decoder(
        &self,
        enc: &Encoded,
        cache: &mut DecoderCache,
        ids: &Tensor,
        dec_mask: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let eps = self.cfg.layer_norm_epsilon;
        let (pos, t) = (cache.len, ids.dim(1)?);
        let mut bias = self
            .decoder
            .position_bias(&self.cfg, pos, t, pos + t, &self.device)?
            .to_dtype(self.dtype)?;
        if t > 1 {
            let causal: Vec<f32> = (pos..pos + t)
                .flat_map(|q| (0..pos + t).map(move |k| if k > q { MASKED } else { 0.0 }))
                .collect();
            let causal =
                Tensor::from_vec(causal, (1, 1, t, pos + t), &self.device)?.to_dtype(self.dtype)?;
            bias = bias.broadcast_add(&causal)?;
        }
        if let Some(m) = dec_mask {
            bias = bias.broadcast_add(&key_mask(m, self.dtype)?)?;
        }
        let mut x = self.embed(ids)?;
        for (i, b) in self.decoder.blocks.iter().enumerate() {
            let h = rms_norm(&x, &b.self_ln, eps)?;
            let (k, v) = b.self_attn.project_kv(&h)?;
            let kv = match cache.self_kv[i].take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            x = (x + b.self_attn.attend(&h, &kv, &bias, train)?)?;
            cache.self_kv[i] = Some(kv);
            let (cross, ln) = b
                .cross
                .as_ref()
                .expect("decoder blocks have cross-attention");
            let h = rms_norm(&x, ln, eps)?;
            x = (x + cross.attend(&h, &cache.cross_kv[i], &enc.mask, train)?)?;
            let h = rms_norm(&x, &b.ff_ln, eps)?;
            x = (x + b.ff.forward(&h)?)?;
        }
        cache.len += t;
        let x = rms_norm(&x, &self.decoder.final_ln, eps)?;
        Ok(self.logits(&x)?)
    }

    /// Batched greedy decoding with a KV cache: stops a row at EOS, and all rows at
    /// `max_new_tokens`. Returns each row's new ids, EOS included when reached.
    pub fn generate(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        max_new_tokens: usize,
    ) -> Result<Vec<Vec<u32>>> {
        self.generate_with(ids, mask, max_new_tokens, true)
    }

    /// `generate`, optionally ignoring EOS so that exactly `max_new_tokens` are produced
    /// (benchmarks on random weights).
    pub fn generate_with(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        max_new_tokens: usize,
        stop_at_eos: bool,
    ) -> Result<Vec<Vec<u32>>> {
        let b = ids.dim(0)?;
        let enc = self.encode(ids, mask, false)?;
        let mut cache = self.new_cache(&enc)?;
        let (start, eos, pad) = (
            self.cfg.decoder_start_token_id as u32,
            self.cfg.eos_token_id as u32,
            self.cfg.pad_token_id as u32,
        );
        let mut cur = vec![start; b];
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut done = vec![false; b];
        for _ in 0..max_new_tokens {
            let input = Tensor::from_vec(cur.clone(), (b, 1), &self.device)?;
            let logits = self.step(&enc, &mut cache, &input)?;
            let next: Vec<u32> = logits.to_dtype(DType::F32)?.argmax(D::Minus1)?.to_vec1()?;
            for r in 0..b {
                if done[r] {
                    cur[r] = pad;
                    continue;
                }
                out[r].push(next[r]);
                cur[r] = next[r];
                done[r] = stop_at_eos && next[r] == eos;
            }
            if done.iter().all(|d| *d) {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_huggingface_values() {
        // python: T5Attention._relative_position_bucket(torch.tensor([...]), bidirectional, 32, 128)
        let bi: Vec<usize> = [-130, -20, -8, -1, 0, 1, 7, 8, 20, 127, 300]
            .iter()
            .map(|&r| relative_position_bucket(r, true, 32, 128))
            .collect();
        assert_eq!(bi, PY_BI);
        let uni: Vec<usize> = [-300, -20, -16, -15, -1, 0, 5]
            .iter()
            .map(|&r| relative_position_bucket(r, false, 32, 128))
            .collect();
        assert_eq!(uni, PY_UNI);
    }
    const PY_BI: [usize; 11] = [15, 10, 8, 1, 0, 17, 23, 24, 26, 31, 31];
    const PY_UNI: [usize; 7] = [31, 17, 16, 15, 1, 0, 0];
}
