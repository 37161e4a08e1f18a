#!/usr/bin/env python3
"""How much a checkpoint reads its input: its loss on (source, target) pairs against the loss on
the same targets with shuffled sources, and the share of cross-attention weight on the sentence
part of each prompt (between "Text: " and "Answer:") against that part's share of the tokens.
A model still at the language-model stage loses little when its sources are shuffled.

    /tmp/pt/bin/python scripts/input_dependence.py CHECKPOINT PROMPTS.jsonl [N]

PROMPTS.jsonl is `ie-bench prompts` output; N (64) is how many of its lines to use.
"""
import json
import random
import sys

import torch
from tokenizers import Tokenizer
from transformers import T5ForConditionalGeneration


def pad(tok, texts, limit):
    ids = [tok.encode(t).ids[:limit] for t in texts]
    x = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    mask = torch.zeros_like(x)
    for i, row in enumerate(ids):
        x[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return x, mask


def main():
    ckpt, path = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    torch.set_num_threads(2)
    tok = Tokenizer.from_file(ckpt + "/tokenizer.json")
    rows = [json.loads(line) for line in open(path)][:n]
    model = T5ForConditionalGeneration.from_pretrained(ckpt, attn_implementation="eager").eval()
    sources = [r["source"] for r in rows]
    targets = [r["target"] for r in rows]
    shuffled = sources[:]
    random.Random(0).shuffle(shuffled)

    def loss(srcs, tgts):
        x, mask = pad(tok, srcs, 512)
        y, ymask = pad(tok, tgts, 50)
        y[ymask == 0] = -100
        with torch.no_grad():
            return model(input_ids=x, attention_mask=mask, labels=y).loss.item()

    batches = range(0, n, 16)
    true = sum(loss(sources[i : i + 16], targets[i : i + 16]) for i in batches) / len(batches)
    mixed = sum(loss(shuffled[i : i + 16], targets[i : i + 16]) for i in batches) / len(batches)
    print(f"{ckpt}: loss {true:.3f} with its sources, {mixed:.3f} with shuffled ones")

    mass, share = [], []
    for s, t in zip(sources[:16], targets[:16]):
        x, mask = pad(tok, [s], 512)
        y, _ = pad(tok, [t], 50)
        start = len(tok.encode(s[: s.index("Text: ") + 6]).ids) - 1
        end = len(tok.encode(s[: s.rindex("\nAnswer:")]).ids) - 1
        with torch.no_grad():
            out = model(input_ids=x, attention_mask=mask, labels=y, output_attentions=True)
        mass.append([a[0, :, :, start:end].sum(-1).mean().item() for a in out.cross_attentions])
        share.append((end - start) / x.shape[1])
    per_layer = [sum(m[layer] for m in mass) / len(mass) for layer in range(len(mass[0]))]
    print("cross-attention weight on the sentence, per decoder layer:",
          " ".join(f"{m:.2f}" for m in per_layer), f"(its share of the tokens: {sum(share) / len(share):.2f})")


if __name__ == "__main__":
    main()
