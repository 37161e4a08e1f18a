//! Batched greedy decoding for decoder-only models: the prompts are prefilled packed (their
//! common beginning once), then every unfinished sequence advances one token per step over
//! its own preallocated key/value cache, so no padding is computed and a sequence's output is
//! what it would be alone.

use rayon::prelude::*;

use super::decoder::{common_prefix, pack, Keys, KvCache, Prepared, Span};
use super::kernels::argmax;
use crate::model::decoder::constrain::TokenBytes;
use crate::prompt::{AnswerGrammar, Cursor};

/// When a continuation ends (besides the token limit).
#[derive(Clone, Debug, Default)]
pub struct Stop {
    /// End-of-sequence ids: generation stops there, the id is not part of the output.
    pub eos: Vec<u32>,
    /// Ids whose text holds a newline (with the option to stop at a newline); they are not
    /// part of the output either.
    pub newline: Vec<u32>,
}

impl Stop {
    fn ends(&self, id: u32) -> bool {
        self.eos.contains(&id) || self.newline.contains(&id)
    }
}

/// Keeps each prompt's continuation inside its answer grammar: at each step only the tokens
/// the grammar takes are scored (the head over a few hundred rows instead of the whole
/// vocabulary), and the first eos id only where the answer may end.
pub struct Constraint<'c> {
    pub tokens: &'c TokenBytes,
    /// One per prompt.
    pub grammars: Vec<&'c AnswerGrammar>,
}

/// The keys and values of the first prompt of the last `generate` call, kept for the next
/// call: its prompts take the rows they share with it (the instruction and options of one
/// task, some forty tokens of a CoNLL prompt) instead of computing them again. Batches of one
/// prompt have no common beginning within the batch, so this is what spares them the
/// instruction. `Default` keeps nothing; keep one per model and weights.
#[derive(Default)]
pub struct KeptPrompt {
    ids: Vec<u32>,
    kv: Vec<KvCache>,
}

impl KeptPrompt {
    /// How many positions are kept (the last call's first prompt).
    pub fn rows(&self) -> usize {
        self.ids.len()
    }

    /// How many first rows every one of `seqs` shares with the kept prompt, at most `cap`.
    fn rows_shared(&self, seqs: &[&[u32]], cap: usize) -> usize {
        seqs.iter()
            .map(|s| common_prefix(&[&self.ids, s], cap))
            .min()
            .unwrap_or(0)
    }
}

/// Appends the first `len` values of each layer's keys and values in `from` to `to`'s.
fn copy_rows(to: &mut [KvCache], from: &[KvCache], len: usize) {
    if len == 0 {
        return;
    }
    for (mine, theirs) in to.iter_mut().zip(from) {
        mine.k.extend_from_slice(&theirs.k[..len]);
        mine.v.extend_from_slice(&theirs.v[..len]);
    }
}

/// The greedy continuation of each prompt, at most `max_new` tokens, without the stop token.
/// `kept` holds the last call's first prompt and is replaced by this call's (see
/// `KeptPrompt`). `progress` is told how many sequences have finished, as they finish.
pub fn generate(
    p: &Prepared,
    prompts: &[Vec<u32>],
    max_new: usize,
    stop: &Stop,
    constraint: Option<&Constraint>,
    kept: &mut KeptPrompt,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Vec<Vec<u32>> {
    // Run on one of rayon's threads: the prefill's products then hand work to the other
    // threads directly, instead of this thread queueing all of it and sleeping until done
    // (the decoding steps' products run on `Team`, see `matmul::few_rows_times`).
    rayon::scope(|_| {
        let n = prompts.len();
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
        if n == 0 || max_new == 0 {
            progress(n);
            return out;
        }
        let cfg = p.cfg;
        let mut caches: Vec<Vec<KvCache>> = prompts
            .iter()
            .map(|pr| KvCache::for_sequence(cfg, pr.len() + max_new))
            .collect();
        // Prefill, packed. The rows the prompts share with the last call's prompt come from
        // `kept`; the rest of their common beginning (an instruction and its options) is run once,
        // alone, and its keys and values copied into every cache; each prompt's rest then
        // continues from there. Every prompt keeps at least its last token, whose row gives the
        // first new token.
        let seqs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
        let shortest = seqs.iter().map(|s| s.len()).min().unwrap_or(0);
        let reused = kept.rows_shared(&seqs, shortest.saturating_sub(1));
        let shared = common_prefix(&seqs, shortest.saturating_sub(1)).max(reused);
        let mut prefix = vec![KvCache::for_sequence(cfg, shared)];
        copy_rows(&mut prefix[0], &kept.kv, reused * cfg.kv_dim());
        if shared > reused {
            let rest = [Span {
                row: 0,
                rows: shared - reused,
                pos: reused,
            }];
            advance(p, &seqs[0][reused..shared], &rest, &mut prefix, false);
        }
        for cache in &mut caches {
            copy_rows(cache, &prefix[0], shared * cfg.kv_dim());
        }
        let lens: Vec<usize> = seqs.iter().map(|s| s.len() - shared).collect();
        let mut spans = pack(&lens);
        spans.iter_mut().for_each(|s| s.pos = shared);
        let ids: Vec<u32> = seqs
            .iter()
            .flat_map(|s| s[shared..].iter().copied())
            .collect();
        let x = advance(p, &ids, &spans, &mut caches, false);
        kept.ids = seqs[0].to_vec();
        kept.kv = caches[0].clone();
        let last: Vec<usize> = spans.iter().map(|s| s.row + s.rows - 1).collect();
        let mut active: Vec<usize> = (0..n).collect();
        let mut cursors: Vec<Option<Cursor>> = match constraint {
            Some(c) => c.grammars.iter().map(|g| Some(g.start())).collect(),
            None => vec![None; n],
        };
        let mut next = choose(p, &x, &last, &active, stop, constraint, &mut cursors);
        let mut done = 0;
        loop {
            // Record this step's tokens; drop the sequences that ended.
            let mut keep = Vec::with_capacity(active.len());
            let mut kept_caches = Vec::with_capacity(active.len());
            for ((i, tok), cache) in active.iter().zip(&next).zip(caches.drain(..)) {
                if stop.ends(*tok) {
                    done += 1;
                    continue;
                }
                out[*i].push(*tok);
                if out[*i].len() >= max_new {
                    done += 1;
                    continue;
                }
                keep.push(*i);
                kept_caches.push(cache);
            }
            progress(done);
            if keep.is_empty() {
                break;
            }
            active = keep;
            caches = kept_caches;
            let last_ids: Vec<u32> = active
                .iter()
                .map(|&i| *out[i].last().expect("a token"))
                .collect();
            let spans: Vec<Span> = active
                .iter()
                .enumerate()
                .map(|(row, &i)| Span {
                    row,
                    rows: 1,
                    pos: prompts[i].len() + out[i].len() - 1,
                })
                .collect();
            let x = advance(p, &last_ids, &spans, &mut caches, true);
            let rows: Vec<usize> = (0..active.len()).collect();
            next = choose(p, &x, &rows, &active, stop, constraint, &mut cursors);
        }
        out
    })
}

/// `ids` (the rows of `spans`) through every layer, attention reading and extending
/// `caches`; `step` when they are decoding steps (one new row per sequence). The residual
/// stream after the last layer.
fn advance(
    p: &Prepared,
    ids: &[u32],
    spans: &[Span],
    caches: &mut [Vec<KvCache>],
    step: bool,
) -> Vec<f32> {
    let mut x = p.embed(ids);
    for li in 0..p.cfg.layers.len() {
        let keys = if step {
            Keys::Steps(caches)
        } else {
            Keys::Cached(caches)
        };
        p.layer(li, &mut x, spans, keys, false);
    }
    x
}

/// The next token after each of `rows` of `x` (row `k` continues prompt `active[k]`): the
/// most likely one, or under a constraint the most likely one its grammar allows, whose bytes
/// then move the prompt's cursor.
fn choose(
    p: &Prepared,
    x: &[f32],
    rows: &[usize],
    active: &[usize],
    stop: &Stop,
    constraint: Option<&Constraint>,
    cursors: &mut [Option<Cursor>],
) -> Vec<u32> {
    let Some(c) = constraint else {
        return argmax_rows(p, x, rows);
    };
    let fin = p.final_rows(x, rows);
    let d = p.cfg.hidden;
    let eos = stop.eos.first().copied().unwrap_or(0);
    // Each sequence's search of its allowed tokens is independent: spread over the batch.
    let picks: Vec<(u32, Option<Cursor>)> = active
        .par_iter()
        .enumerate()
        .map(|(k, &i)| {
            let g = c.grammars[i];
            let Some(at) = cursors[i].as_ref() else {
                return (eos, None);
            };
            let mut ids = c.tokens.allowed(g, at);
            if g.accepts(at) || ids.is_empty() {
                ids.push(eos);
            }
            let tok = ids[argmax(&p.logits_of(&fin.out[k * d..(k + 1) * d], &ids))];
            (tok, g.walk(at, c.tokens.text(tok)))
        })
        .collect();
    picks
        .into_iter()
        .zip(active)
        .map(|((tok, cursor), &i)| {
            cursors[i] = cursor;
            tok
        })
        .collect()
}

/// The most likely next token after each of `rows` of the residual stream `x`.
fn argmax_rows(p: &Prepared, x: &[f32], rows: &[usize]) -> Vec<u32> {
    let fin = p.final_rows(x, rows);
    if let Some(screen) = p.head_screen() {
        return screen.argmax(p.w.head(), &fin.out);
    }
    let logits = p.logits(&fin.out);
    logits
        .chunks_exact(p.cfg.vocab_size)
        .map(|row| argmax(row) as u32)
        .collect()
}

/// Logits of the last position of each prompt (for parity tests), [prompts, vocab].
pub fn last_logits(p: &Prepared, prompts: &[&[u32]]) -> Vec<f32> {
    let fwd = p.forward(prompts, false);
    let last: Vec<usize> = fwd.spans.iter().map(|s| s.row + s.rows - 1).collect();
    let fin = p.final_rows(&fwd.x, &last);
    p.logits(&fin.out)
}

/// Logits of every position of one sequence, [len, vocab].
pub fn all_logits(p: &Prepared, ids: &[u32]) -> Vec<f32> {
    let fwd = p.forward(&[ids], false);
    let rows: Vec<usize> = (0..ids.len()).collect();
    let fin = p.final_rows(&fwd.x, &rows);
    p.logits(&fin.out)
}

/// Logits of every position of one sequence fed one token at a time, each a decoding step
/// over the key/value cache as generation runs them, [len, vocab].
pub fn stepwise_logits(p: &Prepared, ids: &[u32]) -> Vec<f32> {
    let mut caches = vec![KvCache::for_sequence(p.cfg, ids.len())];
    let mut out = Vec::with_capacity(ids.len() * p.cfg.vocab_size);
    for (pos, id) in ids.iter().enumerate() {
        let span = [Span {
            row: 0,
            rows: 1,
            pos,
        }];
        let x = advance(p, std::slice::from_ref(id), &span, &mut caches, true);
        let fin = p.final_rows(&x, &[0]);
        out.extend(p.logits(&fin.out));
    }
    out
}
