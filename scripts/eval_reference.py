#!/usr/bin/env python3
"""An independent Python implementation of the official scorer as SPEC §4.2-4.3 describes it
(compat mode: NER, RE with the NA rule, EET, EEA). Used by scripts/bench-eval.sh as a speed
reference and as a cross-check of ie-bench's scores; written from the spec, not from the
official code.

    python3 scripts/eval_reference.py PREDICTIONS.jsonl   # prints JSON {task: {dataset: score}}
"""
import json
import re
import sys
import time
from collections import defaultdict

GLUE = re.compile(r"\s*([,:().\_;'-])\s*")


def fmt(s):
    s = " ".join(s.split())
    s = GLUE.sub(r"\1", s)
    s = s.lower().replace("{", "").replace("}", "")
    s = re.sub(r",+", ",", s)
    s = re.sub(r"\.+", ".", s)
    s = re.sub(r";+", ";", s)
    return s.replace("\u2019", "'").replace("location", "located")


def items(s):
    return [fmt(x) for x in fmt(s).split(";")]


def f1_na(gold, pred):
    tp = fn = fp = 0
    for t in gold:
        if ",na," in t:
            pat = re.compile(re.escape(t).replace(",na,", ",(.+),"))
            if not any((m := pat.match(p)) and m.group(1) != "na" for p in pred):
                tp += 1
        elif t in pred:
            tp += 1
        else:
            fn += 1
    for p in pred:
        if ",na," in p:
            pat = re.compile(re.escape(p).replace(",na,", ",(.+),"))
            if any((m := pat.match(t)) and m.group(1) != "na" for t in gold):
                fp += 1
        elif p not in gold:
            fp += 1
    return tp, fn, fp


def main(path):
    f1 = defaultdict(lambda: [0, 0, 0])
    acc = defaultdict(lambda: [0, 0])
    for line in open(path, encoding="utf-8"):
        d = json.loads(line)
        task, ds, gold, pred = d["Task"], d["Dataset"], d["Instance"]["ground_truth"], d["Prediction"]
        if task == "EET":
            acc[(task, ds)][0] += fmt(gold) == fmt(pred)
            acc[(task, ds)][1] += 1
            continue
        g, p = set(items(gold)), set(items(pred))
        if task == "RE":
            g, p = {x for x in g if ":" in x}, {x for x in p if ":" in x}
        if task == "EEA":  # raw gold split on ';' before normalising
            g = {fmt(x) for x in gold.split(";") if ":" in x}
            p = {x for x in p if ":" in x}
        if task == "RE":
            c = f1_na(g, p)
        else:
            c = (len(g & p), len(g - p), len(p - g))
        for i in range(3):
            f1[(task, ds)][i] += c[i]
    out = defaultdict(dict)
    for (task, ds), (tp, fn, fp) in f1.items():
        prec = tp / (tp + fp) if tp + fp else 0
        rec = tp / (tp + fn) if tp + fn else 0
        out[task][ds] = 2 * prec * rec / (prec + rec) if prec + rec else 0
    for (task, ds), (ok, n) in acc.items():
        out[task][ds] = ok / n if n else 0
    return out


if __name__ == "__main__":
    t0 = time.perf_counter()
    scores = main(sys.argv[1])
    print(json.dumps(scores))
    print(f"python reference: {(time.perf_counter() - t0) * 1e3:.1f} ms", file=sys.stderr)
