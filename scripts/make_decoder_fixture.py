"""Tiny random decoder fixtures for the Rust parity tests (tests/decoder_parity.rs).

ARCH gemma3 (the default): a 3-layer Gemma 3 text model (two sliding-window layers with a
window of 4, one full-attention layer, grouped-query attention, q/k norms). ARCH llama: a
3-layer Llama with Llama 3.1's RoPE scaling (a base and original context chosen so that the
kept, the ramped and the divided frequencies all occur) and its own LM head. ARCH qwen2: a
3-layer Qwen2 (q/k/v biases, tied head). Every weight gets a random value (norm offsets
included, so that "1 + w" is tested), and beside the model go what transformers computes: the
logits at every position of three sequences, the greedy continuation of each prompt, and the
loss and per-tensor gradient norms of a training batch in the decoder-only InstructUIE format
(loss on target and eos tokens only, embedding and head frozen).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch transformers tokenizers
    /tmp/venv/bin/python scripts/make_decoder_fixture.py tests/fixtures/gemma3-tiny
    /tmp/venv/bin/python scripts/make_decoder_fixture.py tests/fixtures/llama-tiny llama
    /tmp/venv/bin/python scripts/make_decoder_fixture.py tests/fixtures/qwen2-tiny qwen2
"""
import json
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gemma3-tiny")
arch = sys.argv[2] if len(sys.argv) > 2 else "gemma3"
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(7)

V = 97
common = dict(
    vocab_size=V,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
    bos_token_id=2,
    eos_token_id=1,
    pad_token_id=0,
    attn_implementation="eager",
    torch_dtype="float32",
)
if arch == "llama":
    cfg = LlamaConfig(
        **common,
        rope_theta=500.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32,
        },
        tie_word_embeddings=False,
    )
    Model = LlamaForCausalLM
elif arch == "qwen2":
    cfg = Qwen2Config(**common, rope_theta=10_000.0, tie_word_embeddings=True)
    Model = Qwen2ForCausalLM
else:
    cfg = Gemma3TextConfig(
        **common,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        sliding_window=4,
        rope_theta=1_000_000.0,
        rope_local_base_freq=10_000.0,
        query_pre_attn_scalar=16,
    )
    Model = Gemma3ForCausalLM
model = Model(cfg).float().eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            # Gemma stores the offset from one; the others the weight itself.
            offset = 0.0 if arch == "gemma3" else 1.0
            p.copy_(offset + torch.randn_like(p) * 0.1)
        elif "embed_tokens" in name:
            p.copy_(torch.randn_like(p) * 0.5)
        else:
            p.copy_(torch.randn_like(p) * 0.2)
model.save_pretrained(out, safe_serialization=True)

vocab = {f"t{i}": i for i in range(V)}
tok = Tokenizer(models.WordLevel(vocab, unk_token="t3"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.save(str(out / "tokenizer.json"))

seqs = [
    [2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
    [2, 40, 41, 42, 43, 44, 45],
    [2, 70, 5, 71, 6, 72, 7, 73, 8, 74, 9, 75, 30, 31],
]
fixture = {"sequences": seqs, "logits": [], "greedy": [], "max_new": 10}
with torch.no_grad():
    for s in seqs:
        logits = model(torch.tensor([s])).logits[0]
        fixture["logits"].append(logits.tolist())
        prompt = s[: len(s) // 2]
        gen = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=fixture["max_new"],
            do_sample=False,
            eos_token_id=1,
            pad_token_id=0,
        )
        fixture["greedy"].append({"prompt": prompt, "ids": gen[0, len(prompt):].tolist()})

# Training batch: (ids, target_len); the loss is the mean cross-entropy over every target
# token of the batch (the positions before them predict them).
batch = [(seqs[0], 4), (seqs[2], 6), (seqs[1], 3)]
model.model.embed_tokens.weight.requires_grad_(False)
model.lm_head.weight.requires_grad_(False)
model.zero_grad()
total, count = 0.0, 0
losses = []
for ids, n in batch:
    logits = model(torch.tensor([ids])).logits[0]
    pred = logits[len(ids) - n - 1 : len(ids) - 1]
    tgt = torch.tensor(ids[len(ids) - n :])
    losses.append(torch.nn.functional.cross_entropy(pred, tgt, reduction="sum"))
    count += n
loss = sum(losses) / count
loss.backward()
fixture["train"] = {
    "batch": [{"ids": ids, "target_len": n} for ids, n in batch],
    "loss": loss.item(),
    "grad_norms": {
        name: p.grad.norm().item()
        for name, p in model.named_parameters()
        if p.grad is not None
    },
}
(out / "fixture.json").write_text(json.dumps(fixture))
print("wrote", out, "loss", loss.item())
