#!/usr/bin/env python3
"""Writes the fixture `eval --by-label` and `eval --scheme` are checked against: NER
predictions with seqeval's own per-label report and nervaluate's own scheme results on the
same predictions.

Sentences of distinct tokens get gold BIO tags (well-formed: every entity starts with B-);
predictions copy them with deterministic errors (a wrong type, a boundary moved, an entity
missed, one invented). The same entities are written as InstructUIE lines ("type: span; ...")
for ie-bench, and seqeval's `classification_report(..., output_dict=True)` is run on the tag
sequences. Distinct tokens keep every span string unique in its sentence, so matching spans
as strings (ie-bench) and as positions (seqeval) agree.

usage: scripts/by-label-fixture.py OUT_DIR
  (needs pip install seqeval==1.2.2 nervaluate==1.2.1)
writes OUT_DIR/predictions.jsonl, OUT_DIR/seqeval.json and OUT_DIR/nervaluate.json
"""
import json
import os
import random
import sys

from nervaluate import Evaluator
from seqeval.metrics import classification_report

TYPES = ["person", "location", "organization", "misc"]


def entities(tags, tokens):
    """(type, span text) of each B-/I- chunk of well-formed BIO tags."""
    out, cur = [], None
    for tag, tok in zip(tags + ["O"], tokens + [""]):
        if cur and not tag.startswith("I-"):
            out.append(cur)
            cur = None
        if tag.startswith("B-"):
            cur = (tag[2:], [tok])
        elif tag.startswith("I-") and cur:
            cur[1].append(tok)
    return [(t, " ".join(ws)) for t, ws in out]


def main(out):
    rng = random.Random(17)
    gold_all, pred_all, lines = [], [], []
    for s in range(300):
        n = rng.randint(6, 14)
        tokens = [f"w{s}x{i}" for i in range(n)]
        gold = ["O"] * n
        i = 0
        while i < n:
            if rng.random() < 0.3:
                t, length = rng.choice(TYPES), rng.randint(1, 3)
                length = min(length, n - i)
                gold[i] = "B-" + t
                for j in range(i + 1, i + length):
                    gold[j] = "I-" + t
                i += length + 1
            else:
                i += 1
        pred = list(gold)
        # Errors, by chunk: retype, shrink, drop; and now and then an invented entity.
        for start in [k for k, tag in enumerate(gold) if tag.startswith("B-")]:
            end = start + 1
            while end < n and gold[end].startswith("I-"):
                end += 1
            r = rng.random()
            if r < 0.12:
                t = rng.choice([x for x in TYPES if x != gold[start][2:]])
                pred[start] = "B-" + t
                for j in range(start + 1, end):
                    pred[j] = "I-" + t
            elif r < 0.22 and end - start > 1:
                pred[end - 1] = "O"
            elif r < 0.32:
                for j in range(start, end):
                    pred[j] = "O"
        free = [k for k in range(n) if gold[k] == "O" and pred[k] == "O"
                and (k + 1 == n or not pred[k + 1].startswith("I-"))]
        if free and rng.random() < 0.25:
            pred[rng.choice(free)] = "B-" + rng.choice(TYPES)
        gold_all.append(gold)
        pred_all.append(pred)
        as_text = lambda es: "; ".join(f"{t}: {span}" for t, span in es)
        sentence = " ".join(tokens)
        lines.append({
            "Task": "NER",
            "Dataset": "fixture",
            "Instance": {
                "id": str(s),
                "sentence": sentence,
                "label": "",
                "instruction": "Please list all entity words in the text that fit the category."
                " Output format is \"type1: word1; type2: word2\". \nOption: "
                + ", ".join(TYPES) + " \nText: " + sentence + " \nAnswer:",
                "ground_truth": " " + as_text(entities(gold, tokens)),
            },
            "Prediction": " " + as_text(entities(pred, tokens)),
        })
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "predictions.jsonl"), "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    report = classification_report(gold_all, pred_all, output_dict=True, zero_division=0)
    clean = {k: {m: (int(v) if m == "support" else float(v)) for m, v in row.items()}
             for k, row in report.items()}
    with open(os.path.join(out, "seqeval.json"), "w") as f:
        json.dump(clean, f, indent=1, sort_keys=True)
        f.write("\n")
    # nervaluate: overall and per type, under its four schemes (ent_type is ie-bench's `type`).
    results = Evaluator(gold_all, pred_all, tags=TYPES, loader="list").evaluate()
    fields = ["correct", "incorrect", "partial", "missed", "spurious", "possible", "actual",
              "precision", "recall", "f1"]
    as_dict = lambda r: {k: getattr(r, k) for k in fields}
    names = {"strict": "strict", "exact": "exact", "partial": "partial", "ent_type": "type"}
    nerv = {
        ours: {
            "overall": as_dict(results["overall"][theirs]),
            "labels": {t: as_dict(results["entities"][t][theirs]) for t in results["entities"]},
        }
        for theirs, ours in names.items()
    }
    with open(os.path.join(out, "nervaluate.json"), "w") as f:
        json.dump(nerv, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
