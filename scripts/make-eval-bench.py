#!/usr/bin/env python3
"""Builds the scoring benchmark file: every test split of an IE INSTRUCTIONS tree as official
predict_eval_predictions.jsonl lines, predictions perturbed like tests/fixtures/messy_predictions
(case, spacing, dropped, swapped and invented items, None, cut-off output), deterministically.

    scripts/make-eval-bench.py DATA OUT.jsonl [IE_BENCH] [PER_DATASET]

DATA is the release tree (../shared/data/IE_INSTRUCTIONS); IE_BENCH the binary (default
target/release/ie-bench); PER_DATASET keeps the first N instances of each dataset (default 0,
all). It writes a task config naming every dataset with a test split, runs
`ie-bench prompts` on it, and turns each instance into an official line.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

data, out = sys.argv[1], sys.argv[2]
binary = sys.argv[3] if len(sys.argv) > 3 else "target/release/ie-bench"
per_dataset = int(sys.argv[4]) if len(sys.argv) > 4 else 0

tasks = {}
for task in ("NER", "RE", "EE"):
    root = os.path.join(data, task)
    if not os.path.isdir(root):
        continue
    for name in sorted(os.listdir(root)):
        if os.path.isfile(os.path.join(root, name, "test.json")):
            # EET/EEA need the event-type -> roles maps the release ships for some EE sets.
            aux = os.path.isfile(os.path.join(root, name, "labels_eet.json"))
            names = [task] + (["EET", "EEA"] if task == "EE" and aux else [])
            for t in names:
                tasks.setdefault(t, []).append({"sampling strategy": "full", "dataset name": name})

with tempfile.TemporaryDirectory() as cfg:
    for split in ("train", "dev", "test"):
        with open(os.path.join(cfg, f"{split}_tasks.json"), "w") as f:
            json.dump(tasks if split == "test" else {}, f)
    prompts = os.path.join(cfg, "prompts.jsonl")
    subprocess.run(
        [binary, "prompts", "--data", data, "--config", cfg, "--split", "test",
         "--max-eval", "0", "--skip-missing", "--out", prompts],
        check=True,
    )
    rng = random.Random(13)

    def perturb(gold: str) -> str:
        items = [x for x in gold.split(";") if x.strip()]
        r = rng.random()
        if r < 0.45 or not items:
            return gold.strip()
        if r < 0.55:
            return gold.upper()
        if r < 0.65:
            return " ;  ".join(x.strip() for x in items) + " "
        if r < 0.75:
            return "; ".join(x.strip() for x in items[1:]) or "None"
        if r < 0.82 and ":" in items[0]:
            label, span = items[0].split(":", 1)
            return "; ".join([f"other: {span.strip()}"] + [x.strip() for x in items[1:]])
        if r < 0.88:
            return gold.strip() + "; person: somebody else"
        if r < 0.94:
            return "None"
        return gold.strip()[: max(1, len(gold) // 2)]

    with open(prompts) as src, open(out, "w") as dst:
        n = 0
        seen = {}
        for line in src:
            p = json.loads(line)
            key = (p["Task"], p["Dataset"])
            seen[key] = seen.get(key, 0) + 1
            if per_dataset and seen[key] > per_dataset:
                continue
            text = p["source"]
            start = text.find("\nText: ")
            end = text.find(" \nAnswer:", start)
            sentence = text[start + 7 : end] if start >= 0 and end >= 0 else ""
            # As the official collator stores it: the instruction with `{0}` for the sentence.
            template = text[: start + 7] + "{0}" + text[end:] if sentence else text
            dst.write(json.dumps({
                "Task": p["Task"],
                "Dataset": p["Dataset"],
                "Instance": {
                    "id": p["id"],
                    "sentence": sentence,
                    "label": p["ground_truth"],
                    "instruction": template,
                    "ground_truth": p["ground_truth"],
                },
                "Prediction": perturb(p["ground_truth"]),
            }, ensure_ascii=False) + "\n")
            n += 1
print(f"{n} lines, {len(set((t, d['dataset name']) for t, ds in tasks.items() for d in ds))} task-dataset pairs -> {out}", file=sys.stderr)
