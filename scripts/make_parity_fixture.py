#!/usr/bin/env python3
"""Writes tests/fixtures/parity/{t5v1,flan}/: a tiny seeded T5 checkpoint saved by transformers,
and reference outputs (encoder states, teacher-forced logits on a padded batch, greedy decode).
The Rust test `tests/model_parity.rs` loads the checkpoint and compares.

    python3 -m venv /tmp/pt && /tmp/pt/bin/pip install torch transformers safetensors
    /tmp/pt/bin/python scripts/make_parity_fixture.py

Made with torch 2.15.0 and transformers 5.24.0 (CPU).

initializer_factor 2 makes greedy decodes varied (at 1 a random model repeats one token) while
the computation stays well conditioned: at 8, near-tied attention softmaxes amplify f32
rounding to 4e-4 relative on a few logits; at 1 every logit agrees to 3e-7; at 2, within 1e-4.
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import T5Config, T5ForConditionalGeneration

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "parity")

VARIANTS = {
    "t5v1": dict(feed_forward_proj="relu", tie_word_embeddings=True),
    "flan": dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}


def main():
    for name, extra in VARIANTS.items():
        torch.manual_seed(0)
        config = T5Config(
            vocab_size=96, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=2, num_heads=4,
            relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.0,
            layer_norm_epsilon=1e-6, initializer_factor=2.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **extra,
        )
        model = T5ForConditionalGeneration(config).eval()
        if not extra["tie_word_embeddings"]:
            # transformers 5 ties the head whatever the config says (it keeps only the scaling
            # choice), so give the Flan-style model a head of its own, as real Flan-T5 has.
            model.lm_head = torch.nn.Linear(config.d_model, config.vocab_size, bias=False)
            torch.nn.init.normal_(model.lm_head.weight, std=config.initializer_factor)
        out_dir = os.path.join(ROOT, name)
        os.makedirs(out_dir, exist_ok=True)
        # Saved by hand: one tensor per parameter, HF names, `{"format": "pt"}` as transformers does.
        state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
                 if not k.endswith("embed_tokens.weight") and (k != "lm_head.weight" or not extra["tie_word_embeddings"])}
        save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        cfg = config.to_dict()
        cfg["tie_word_embeddings"] = extra["tie_word_embeddings"]
        cfg.pop("scale_decoder_outputs", None)
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
        # Sources of different lengths, long enough to reach the logarithmic position buckets.
        g = torch.Generator().manual_seed(1)
        lengths = [27, 9, 18]
        src = torch.zeros(3, max(lengths), dtype=torch.long)
        mask = torch.zeros_like(src)
        for i, n in enumerate(lengths):
            src[i, :n - 1] = torch.randint(2, 96, (n - 1,), generator=g)
            src[i, n - 1] = 1
            mask[i, :n] = 1
        dec = torch.randint(2, 96, (3, 14), generator=g)
        dec[:, 0] = 0
        with torch.no_grad():
            enc = model.encoder(input_ids=src, attention_mask=mask).last_hidden_state
            logits = model(input_ids=src, attention_mask=mask, decoder_input_ids=dec).logits
            gen = model.generate(input_ids=src, attention_mask=mask, max_new_tokens=20, do_sample=False,
                                 num_beams=1, min_new_tokens=0)
        save_file({
            "input_ids": src.to(torch.int64).contiguous(),
            "attention_mask": mask.to(torch.int64).contiguous(),
            "decoder_input_ids": dec.to(torch.int64).contiguous(),
            "encoder_hidden": enc.contiguous(),
            "logits": logits.contiguous(),
        }, os.path.join(out_dir, "reference.safetensors"))
        # generate() starts with the decoder start token and pads finished rows.
        with open(os.path.join(out_dir, "greedy.json"), "w") as f:
            json.dump({"max_new_tokens": 20, "ids": gen[:, 1:].tolist()}, f)
            f.write("\n")
        # Gradients of the training loss (labels padded with -100, as the HF trainer does): the
        # loss and each parameter's gradient norm, which the Rust test compares with its own.
        labels = torch.full((3, 11), -100, dtype=torch.long)
        label_lengths = [11, 4, 7]
        for i, n in enumerate(label_lengths):
            labels[i, :n - 1] = torch.randint(2, 96, (n - 1,), generator=g)
            labels[i, n - 1] = 1
        model.zero_grad()
        loss = model(input_ids=src, attention_mask=mask, labels=labels).loss
        loss.backward()
        with open(os.path.join(out_dir, "grads.json"), "w") as f:
            json.dump({
                "labels": [labels[i, :n].tolist() for i, n in enumerate(label_lengths)],
                "loss": loss.item(),
                "grad_norms": {k: p.grad.norm().item() for k, p in model.named_parameters()},
            }, f, indent=1, sort_keys=True)
            f.write("\n")
        print(name, "written:", sorted(os.listdir(out_dir)))


if __name__ == "__main__":
    main()
