#!/usr/bin/env python3
"""The work of `ie-bench bench`, in PyTorch + transformers on the CPU: a full training step
(forward, backward, clip to 1.0, AdamW) at batch 8 x 128 source x 32 target tokens, and greedy
generation of exactly 32 new tokens at batch 1 and 8, on random weights. Dropout is off on both
sides (ie-bench's trainer has none), so both do the same arithmetic.

    /tmp/pt/bin/python scripts/bench_reference.py --shape t5-small   # prints JSON
"""
import argparse
import json
import statistics
import time

import torch
from transformers import T5Config, T5ForConditionalGeneration

SHAPES = {
    "t5-small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8,
                     feed_forward_proj="relu", tie_word_embeddings=True),
    "flan-t5-small": dict(d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_decoder_layers=8, num_heads=6,
                          feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="t5-small", choices=SHAPES)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--gen-runs", type=int, default=3)
    a = ap.parse_args()
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=32128, relative_attention_num_buckets=32, dropout_rate=0.0,
                   decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, **SHAPES[a.shape])
    model = T5ForConditionalGeneration(cfg)
    g = torch.Generator().manual_seed(7)
    src = torch.randint(3, 32100, (8, 128), generator=g)
    src[:, -1] = 1
    tgt = torch.randint(3, 32100, (8, 32), generator=g)
    tgt[:, -1] = 1
    mask = torch.ones_like(src)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for i in range(a.train_steps + 1):
        t = time.perf_counter()
        loss = model(input_ids=src, attention_mask=mask, labels=tgt).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i > 0:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    model.eval()

    def gen(b):
        ids, m = src[:b], mask[:b]
        kw = dict(max_new_tokens=32, min_new_tokens=32, do_sample=False, num_beams=1)
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=m, **kw)
            ts = []
            for _ in range(a.gen_runs):
                t = time.perf_counter()
                model.generate(input_ids=ids, attention_mask=m, **kw)
                ts.append(time.perf_counter() - t)
        return b * 32 / statistics.median(ts)

    print(json.dumps({"train_tok_s": 8 * 160 / step, "gen_tok_s_b1": gen(1), "gen_tok_s_b8": gen(8),
                      "train_step_s": step, "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
