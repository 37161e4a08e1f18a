"""transformers + PyTorch beside ie-bench on the real Gemma 3 270M GGUF (same weights, f32).

  parity  PROMPTS.jsonl OUT.json [N] [MAX_NEW]
      Greedy continuations (bos + source, stop at eos) of the first N prompts, and whether the
      tokenizer ie-bench built from the GGUF (NAME.tokenizer.json beside the file) tokenizes
      every source of the file as transformers' GGUF tokenizer does. OUT.json is the fixture
      tests/decoder_real.rs compares against.
  train   PROMPTS.jsonl SECONDS [BATCH] [SAVE_DIR]
      The PyTorch fine-tuning recipe (embedding and tied head frozen, loss on target + eos,
      head only at target positions, AdamW 1e-4, 10 warm-up steps then cosine over the time
      budget, batch 4, right padding): prints tokens/s and examples/s. With SAVE_DIR, the
      fine-tuned model is saved there as a Hugging Face folder (with ie-bench's tokenizer.json
      for the GGUF), so that `ie-bench predict --model SAVE_DIR` scores it: an equal-time
      quality comparison with the same decoding (ie-bench's greedy equals transformers').
      LORA=R (with ALPHA, default 2R, and LR, default 1e-3) trains PEFT LoRA adapters of rank
      R on the seven projections instead (`train --lora-rank R`); AUTOCAST=bf16 runs the
      passes under torch.autocast("cpu", bfloat16), as `--frozen-weights bf16` runs the
      frozen base's products in bf16 (oneDNN uses AMX where the CPU has it).
  generate PROMPTS.jsonl N BATCH MAX_NEW
      transformers `generate` speed (greedy, left padding): new tokens/s.
  peft    ADAPTER_DIR PROMPTS.jsonl PREDICTIONS.jsonl
      Loads a LoRA adapter ie-bench saved (`train --lora-rank`) with PEFT onto the same base,
      greedy-decodes every prompt (bos + source, stop at eos, at most 50 tokens) and counts the
      answers equal to ie-bench's (`predict --model ADAPTER_DIR` on the same prompts, in order).
      Exits 1 when any differs. Needs: pip install peft.

The model file comes from $IE_BENCH_GEMMA (default ~/.cache/ie-bench/models/gemma-3-270m/...).
needs: pip install torch transformers accelerate gguf sentencepiece protobuf
"""
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

GGUF = Path(os.environ.get("IE_BENCH_GEMMA", Path.home() / ".cache/ie-bench/models/gemma-3-270m/gemma-3-270m-q4_k_m.gguf"))
torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))


def load():
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(GGUF.parent, gguf_file=GGUF.name)
    model = AutoModelForCausalLM.from_pretrained(GGUF.parent, gguf_file=GGUF.name, dtype=torch.float32)
    model.eval()
    print(f"loaded in {time.time() - t0:.0f} s", file=sys.stderr)
    return tok, model


def prompts(path):
    return [json.loads(l) for l in open(path)]


def parity(path, out, n=50, max_new=50):
    from tokenizers import Tokenizer

    tok, model = load()
    rows = prompts(path)
    ours = Tokenizer.from_file(str(GGUF.with_suffix(".tokenizer.json")))
    same = 0
    for r in rows:
        a = tok(r["source"], add_special_tokens=False)["input_ids"]
        b = ours.encode(r["source"], add_special_tokens=False).ids
        same += a == b
    print(f"tokenizer: {same}/{len(rows)} sources tokenized alike", file=sys.stderr)
    cases = []
    t0 = time.time()
    new = 0
    for r in rows[:n]:
        ids = [tok.bos_token_id] + tok(r["source"], add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            g = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               max_new_tokens=max_new, do_sample=False, eos_token_id=tok.eos_token_id,
                               pad_token_id=tok.pad_token_id)
        cont = g[0, len(ids):].tolist()
        if tok.eos_token_id in cont:
            cont = cont[: cont.index(tok.eos_token_id)]
        new += len(cont)
        cases.append({"source": r["source"], "ids": cont})
    dt = time.time() - t0
    print(f"generate batch 1: {new} tokens in {dt:.1f} s = {new / dt:.1f} tok/s", file=sys.stderr)
    Path(out).write_text(json.dumps({"max_new": max_new, "tokenizer_alike": [same, len(rows)], "cases": cases}))


def generate(path, n, batch, max_new):
    tok, model = load()
    tok.padding_side = "left"
    rows = prompts(path)[:n]
    new, t0 = 0, time.time()
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        enc = [[tok.bos_token_id] + tok(r["source"], add_special_tokens=False)["input_ids"] for r in chunk]
        L = max(map(len, enc))
        ids = torch.tensor([[tok.pad_token_id] * (L - len(e)) + e for e in enc])
        mask = torch.tensor([[0] * (L - len(e)) + [1] * len(e) for e in enc])
        with torch.no_grad():
            g = model.generate(ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                               eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        for row in g[:, L:].tolist():
            new += len(row[: row.index(tok.eos_token_id)] if tok.eos_token_id in row else row)
    dt = time.time() - t0
    print(f"transformers generate batch {batch}: {new} new tokens in {dt:.1f} s = {new / dt:.1f} tok/s")


def train(path, seconds, batch=4, save=None):
    tok, model = load()
    model.train()
    model.model.embed_tokens.weight.requires_grad_(False)
    rank = int(os.environ.get("LORA", "0"))
    peak = float(os.environ.get("LR", "1e-3" if rank else "1e-4"))
    if rank:
        from peft import LoraConfig, get_peft_model

        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        alpha = float(os.environ.get("ALPHA", 2 * rank))
        model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0))
        base = model.base_model.model
    else:
        base = model
    autocast = os.environ.get("AUTOCAST", "")
    if autocast not in ("", "bf16"):
        sys.exit("AUTOCAST is bf16 or unset")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=peak, weight_decay=0.0)
    print(f"training {sum(p.numel() for p in params)} parameters, lr {peak}, autocast {autocast or 'off'}", file=sys.stderr)
    rows = prompts(path)
    examples = []
    for r in rows:
        src = [tok.bos_token_id] + tok(r["source"], add_special_tokens=False)["input_ids"]
        tgt = tok(r["target"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        examples.append((src + tgt, len(tgt)))
    g = torch.Generator().manual_seed(42)
    order = torch.randperm(len(examples), generator=g).tolist()
    t0, step, toks, seen = time.time(), 0, 0, 0
    while time.time() - t0 < seconds:
        chunk = [examples[order[(step * batch + i) % len(order)]] for i in range(batch)]
        L = max(len(e) for e, _ in chunk)
        ids = torch.tensor([e + [tok.pad_token_id] * (L - len(e)) for e, _ in chunk])
        mask = torch.tensor([[1] * len(e) + [0] * (L - len(e)) for e, _ in chunk])
        lr = peak * min(1.0, (step + 1) / 10) * 0.5 * (1 + math.cos(math.pi * min(1.0, (time.time() - t0) / seconds)))
        for group in opt.param_groups:
            group["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast == "bf16"):
            hidden = base.model(input_ids=ids, attention_mask=mask).last_hidden_state
            rows_, cols, labels = [], [], []
            for b, (e, n) in enumerate(chunk):
                for k in range(n):
                    rows_.append(b)
                    cols.append(len(e) - n - 1 + k)
                    labels.append(e[len(e) - n + k])
            h = hidden[rows_, cols]
            logits = base.lm_head(h)
        loss = torch.nn.functional.cross_entropy(logits.float(), torch.tensor(labels))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        toks += sum(len(e) for e, _ in chunk)
        seen += batch
        if step % 10 == 0:
            dt = time.time() - t0
            print(f"step {step} loss {loss.item():.4f} {toks / dt:.1f} tok/s {seen / dt:.2f} ex/s", file=sys.stderr)
    dt = time.time() - t0
    print(f"pytorch train: {step} steps, {seen} examples, {toks} tokens in {dt:.0f} s = {toks / dt:.1f} tok/s, {seen / dt:.2f} ex/s")
    if save and rank:
        sys.exit("SAVE_DIR is for full fine-tuning")
    if save:
        # save_pretrained refuses a model loaded from a GGUF (it counts as quantized), so the
        # f32 weights and the config are written directly; the tied head is the embedding.
        import shutil
        from safetensors.torch import save_file

        out = Path(save)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
        save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (out / "config.json").write_text(json.dumps(config, indent=2))
        shutil.copy(GGUF.with_suffix(".tokenizer.json"), out / "tokenizer.json")
        print(f"saved to {save}")


def peft_check(adapter, prompts_path, predictions_path):
    from peft import PeftModel

    tok, base = load()
    model = PeftModel.from_pretrained(base, adapter)
    model.eval()
    rows = prompts(prompts_path)
    ours = [json.loads(l)["Prediction"] for l in open(predictions_path)]
    assert len(ours) == len(rows), f"{len(rows)} prompts but {len(ours)} predictions"
    same = 0
    for r, want in zip(rows, ours):
        ids = [tok.bos_token_id] + tok(r["source"], add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            g = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               max_new_tokens=50, do_sample=False, eos_token_id=tok.eos_token_id,
                               pad_token_id=tok.pad_token_id)
        cont = g[0, len(ids):].tolist()
        if tok.eos_token_id in cont:
            cont = cont[: cont.index(tok.eos_token_id)]
        got = tok.decode(cont, skip_special_tokens=True).strip()
        if got == want:
            same += 1
        else:
            print(f"differs: PEFT {got!r} vs ie-bench {want!r}", file=sys.stderr)
    print(f"PEFT {type(model).__name__} with the ie-bench adapter: {same}/{len(rows)} greedy answers equal to ie-bench's")
    sys.exit(0 if same == len(rows) else 1)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "parity":
        parity(args[0], args[1], *(int(a) for a in args[2:]))
    elif cmd == "train":
        train(args[0], float(args[1]), *(int(a) for a in args[2:3]), *args[3:4])
    elif cmd == "generate":
        generate(args[0], *(int(a) for a in args[1:]))
    elif cmd == "peft":
        peft_check(*args)
